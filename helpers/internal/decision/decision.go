package decision

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// PayloadType is the DSSE payload type of a decision record.
const PayloadType = "application/vnd.release-gates.approval-decision+json"

// ErrSignature means the envelope is not signed by the given key or was altered.
var ErrSignature = errors.New("decision record signature does not verify")

// Approver is one counted click.
type Approver struct {
	SlackID  string    `json:"slackId"`
	Name     string    `json:"name"`
	Decision string    `json:"decision"`
	EventID  string    `json:"eventId"`
	At       time.Time `json:"at"`
}

// Rule is the rule the relay applied, as it stood when the request was made.
type Rule struct {
	Service           string   `json:"service"`
	Environment       string   `json:"environment"`
	Approvers         []string `json:"approvers"`
	Required          int      `json:"required"`
	AllowSelfApproval bool     `json:"allowSelfApproval"`
	Branches          []string `json:"branches,omitempty"`
	EscalationGroup   string   `json:"escalationGroup,omitempty"`
	EscalateAfter     string   `json:"escalateAfter,omitempty"`
	MaxTimeout        string   `json:"maxTimeout"`
	Channel           string   `json:"channel,omitempty"`
}

// Record is what the relay decided and why.
type Record struct {
	RequestID   string     `json:"requestId"`
	TraceID     string     `json:"traceId"`
	BuildURL    string     `json:"buildUrl"`
	InputID     string     `json:"inputId"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Version     string     `json:"version"`
	Commit      string     `json:"commit"`
	Branch      string     `json:"branch"`
	Digests     []string   `json:"digests"`
	Rule        Rule       `json:"rule"`
	Requesters  []string   `json:"requesters"`
	Decision    string     `json:"decision"` // approved, rejected or expired
	Approvers   []Approver `json:"approvers"`
	DecidedAt   time.Time  `json:"decidedAt"`
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding.
func PAE(payloadType string, body []byte) []byte {
	return []byte("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(body)) + " " + string(body))
}

// Signer signs records with the relay's key.
type Signer struct {
	key   *ecdsa.PrivateKey
	KeyID string
}

// NewSigner wraps an ECDSA P-256 key; its key id is the sha256 of the public key's DER.
func NewSigner(key *ecdsa.PrivateKey) (*Signer, error) {
	if key.Curve != elliptic.P256() {
		return nil, errors.New("the decision key must be ECDSA P-256")
	}
	id, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, KeyID: id}, nil
}

// KeyID returns "sha256:<hex of the PKIX DER>" of pub.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Sign returns the envelope of r as JSON.
func (s *Signer) Sign(r Record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(PAE(PayloadType, body))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("signing the decision record: %w", err)
	}
	return json.Marshal(Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(body),
		Signatures: []Signature{{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(sig)}}})
}

// PublicPEM returns the signer's public key as PEM.
func (s *Signer) PublicPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Verify checks env against pub and returns the record.
func Verify(env []byte, pub *ecdsa.PublicKey) (Record, error) {
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return Record{}, fmt.Errorf("decision record is not a DSSE envelope: %w", err)
	}
	if e.PayloadType != PayloadType {
		return Record{}, fmt.Errorf("decision record has payload type %q, want %q", e.PayloadType, PayloadType)
	}
	body, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return Record{}, fmt.Errorf("decision record payload is not base64: %w", err)
	}
	digest := sha256.Sum256(PAE(e.PayloadType, body))
	ok := false
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err == nil && ecdsa.VerifyASN1(pub, digest[:], sig) {
			ok = true
			break
		}
	}
	if !ok {
		return Record{}, ErrSignature
	}
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("decision record payload: %w", err)
	}
	return r, nil
}

// LoadPrivateKey reads a PEM PKCS#8 or SEC 1 ECDSA P-256 private key.
func LoadPrivateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the decision key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("decision key %s is not PEM", path)
	}
	var k any
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("decision key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("decision key %s is not ECDSA P-256", path)
	}
	return ek, nil
}

// LoadPublicKey reads a PEM PKIX ECDSA public key.
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the relay public key: %w", err)
	}
	return ParsePublicKey(b)
}

// ParsePublicKey parses a PEM PKIX ECDSA public key.
func ParsePublicKey(b []byte) (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("relay public key is not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("relay public key: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("relay public key is not ECDSA")
	}
	return ek, nil
}

// GenerateKey writes a new P-256 key (PKCS#8 PEM, mode 0600) to path and returns its signer.
func GenerateKey(path string) (*Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return NewSigner(k)
}

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() *ecdsa.PublicKey { return &s.key.PublicKey }
