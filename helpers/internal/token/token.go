package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version prefixes every token; a new format gets a new prefix.
const Version = "v1"

// MinKeyLen is the shortest accepted HMAC key in bytes.
const MinKeyLen = 32

// MaxLen bounds a token: Slack button values hold at most 2000 characters.
const MaxLen = 2000

// Decisions a button can carry.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Errors callers branch on.
var (
	ErrMalformed = errors.New("token is malformed")
	ErrSignature = errors.New("token signature does not match (tampered or signed with another key)")
	ErrExpired   = errors.New("token has expired")
	ErrShortKey  = fmt.Errorf("button secret must be at least %d bytes", MinKeyLen)
)

// Claims is what a token binds: the waiting Jenkins input, the release and the button's decision.
type Claims struct {
	BuildURL    string `json:"b"`
	InputID     string `json:"i"`
	TraceID     string `json:"t"`
	Service     string `json:"s"`
	Environment string `json:"e"`
	Branch      string `json:"br,omitempty"`
	Requester   string `json:"r"`
	Decision    string `json:"d"`
	Expires     int64  `json:"x"`
}

// Validate reports a missing or inconsistent field.
func (c Claims) Validate() error {
	switch {
	case c.BuildURL == "":
		return fmt.Errorf("%w: build URL missing", ErrMalformed)
	case c.InputID == "":
		return fmt.Errorf("%w: input id missing", ErrMalformed)
	case c.Service == "" || c.Environment == "":
		return fmt.Errorf("%w: service or environment missing", ErrMalformed)
	case c.Decision != DecisionApprove && c.Decision != DecisionReject:
		return fmt.Errorf("%w: decision %q is neither approve nor reject", ErrMalformed, c.Decision)
	case c.Expires <= 0:
		return fmt.Errorf("%w: expiry missing", ErrMalformed)
	}
	return nil
}

var b64 = base64.RawURLEncoding

// Sign returns "v1.<payload>.<mac>" for c under key.
func Sign(key []byte, c Claims) (string, error) {
	if len(key) < MinKeyLen {
		return "", ErrShortKey
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	signed := Version + "." + b64.EncodeToString(body)
	tok := signed + "." + b64.EncodeToString(mac(key, signed))
	if len(tok) > MaxLen {
		return "", fmt.Errorf("%w: token is %d characters, Slack allows %d (shorten the build URL or ids)", ErrMalformed, len(tok), MaxLen)
	}
	return tok, nil
}

// Verify checks tok's MAC under key and its expiry at now, and returns its claims.
func Verify(key []byte, tok string, now time.Time) (Claims, error) {
	if len(key) < MinKeyLen {
		return Claims{}, ErrShortKey
	}
	signed, sig, err := split(tok)
	if err != nil {
		return Claims{}, err
	}
	if !hmac.Equal(sig, mac(key, signed)) {
		return Claims{}, ErrSignature
	}
	c, err := decode(signed)
	if err != nil {
		return Claims{}, err
	}
	if now.Unix() >= c.Expires {
		return c, ErrExpired
	}
	return c, nil
}

// Parse decodes tok's claims without checking the MAC; use it only to describe a rejected token.
func Parse(tok string) (Claims, error) {
	signed, _, err := split(tok)
	if err != nil {
		return Claims{}, err
	}
	return decode(signed)
}

func split(tok string) (signed string, sig []byte, err error) {
	if len(tok) > MaxLen {
		return "", nil, fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxLen)
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || !strings.HasPrefix(tok, Version+".") || i <= len(Version) {
		return "", nil, ErrMalformed
	}
	sig, err = b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) != sha256.Size {
		return "", nil, fmt.Errorf("%w: bad signature encoding", ErrMalformed)
	}
	return tok[:i], sig, nil
}

func decode(signed string) (Claims, error) {
	body, err := b64.DecodeString(strings.TrimPrefix(signed, Version+"."))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: bad payload encoding", ErrMalformed)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: bad payload", ErrMalformed)
	}
	if err := c.Validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func mac(key []byte, signed string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(signed))
	return h.Sum(nil)
}
