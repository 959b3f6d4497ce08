package hsm

import (
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Config selects a token in a PKCS#11 module; PIN is the user PIN and is never printed.
type Config struct {
	ModulePath string
	Token      string // token label
	Serial     string // token serial, used when Token is empty
	PIN        string
	PINFrom    string // where PIN came from, as the user supplies it (e.g. "$PKCS11_PIN", "pinCredentialsId: 'hsm-pin'"); "" means $PKCS11_PIN
}

// Token is an open, logged-in PKCS#11 token.
type Token struct {
	ctx   *crypto11.Context
	label string
}

// Open loads the module, finds the token and logs in.
func Open(cfg Config) (*Token, error) {
	if cfg.ModulePath == "" {
		return nil, result.Errorf(result.ClassConfig, "no PKCS#11 module: add module-path=/path/to/module.so to the key URI")
	}
	if st, err := os.Stat(cfg.ModulePath); err != nil || st.IsDir() {
		return nil, result.Errorf(result.ClassConfig, "PKCS#11 module %s not found: install it or fix module-path in the key URI", cfg.ModulePath)
	}
	if cfg.Token == "" && cfg.Serial == "" {
		return nil, result.Errorf(result.ClassConfig, "no PKCS#11 token selected: add token=<label> to the key URI")
	}
	name := cfg.Token
	if name == "" {
		name = "serial " + cfg.Serial
	}
	c11 := &crypto11.Config{Path: cfg.ModulePath, TokenLabel: cfg.Token, Pin: cfg.PIN}
	if cfg.Token == "" {
		c11.TokenSerial = cfg.Serial
	}
	ctx, err := crypto11.Configure(c11)
	if err != nil {
		return nil, classify(err, cfg.ModulePath, name, cfg.PINFrom)
	}
	return &Token{ctx: ctx, label: name}, nil
}

// classify maps crypto11/PKCS#11 errors to failure classes without echoing the PIN.
func classify(err error, module, token, pinFrom string) error {
	if pinFrom == "" {
		pinFrom = "$PKCS11_PIN"
	}
	var rv pkcs11.Error
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not find PKCS#11 token"):
		return result.Errorf(result.ClassKey, "PKCS#11 token %q not found in %s: check token= in the key URI", token, module)
	case strings.Contains(msg, "could not open PKCS#11"):
		return result.Errorf(result.ClassConfig, "PKCS#11 module %s could not be loaded: check module-path", module)
	case errors.As(err, &rv) && (rv == pkcs11.CKR_PIN_INCORRECT || rv == pkcs11.CKR_PIN_LEN_RANGE || rv == pkcs11.CKR_PIN_INVALID),
		strings.Contains(msg, "CKR_PIN_INCORRECT"), strings.Contains(msg, "CKR_PIN_LEN_RANGE"):
		return result.Errorf(result.ClassAuth, "PKCS#11 login to token %q refused: wrong PIN (CKR_PIN_INCORRECT) from %s: fix that PIN, do not retry: repeated wrong PINs lock the token", token, pinFrom)
	case errors.As(err, &rv) && rv == pkcs11.CKR_PIN_LOCKED, strings.Contains(msg, "CKR_PIN_LOCKED"):
		return result.Errorf(result.ClassAuth, "PKCS#11 token %q: PIN locked (CKR_PIN_LOCKED); ask the HSM officer to unlock it", token)
	case strings.Contains(msg, "failed to initialize PKCS#11 library"), strings.Contains(msg, "failed to list PKCS#11 slots"):
		return result.Errorf(result.ClassConfig, "PKCS#11 module %s failed to initialise: %v", module, err)
	}
	return result.Errorf(result.ClassKey, "opening PKCS#11 token %q: %v", token, err)
}

// FindSigner returns the key pair with the given CKA_ID and/or CKA_LABEL; a missing key is a ClassKey error.
func (t *Token) FindSigner(id, label []byte) (crypto.Signer, error) {
	if id == nil && label == nil {
		return nil, result.Errorf(result.ClassInput, "no PKCS#11 key selected: add object=<label> or id=<%%xx> to the key URI")
	}
	s, err := t.ctx.FindKeyPair(id, label)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "looking up %s in token %q: %v", describe(id, label), t.label, err)
	}
	if s == nil { // crypto11 returns (nil, nil) when nothing matches
		return nil, result.Errorf(result.ClassKey, "no key pair %s in token %q: generate it with 'sign-artifacts keys generate --type pkcs11' or fix the key URI", describe(id, label), t.label)
	}
	return s, nil
}

// GenerateECDSA creates a P-256 key pair with both id and label, refusing when either is already in use.
func (t *Token) GenerateECDSA(id, label []byte) (crypto.Signer, error) {
	if len(id) == 0 || len(label) == 0 {
		return nil, result.Errorf(result.ClassInput, "generating a PKCS#11 key needs both object=<label> and id=<%%xx> in the key URI")
	}
	for _, q := range []struct{ id, label []byte }{{id, nil}, {nil, label}} {
		found, err := t.ctx.FindKeyPairs(q.id, q.label)
		if err != nil {
			return nil, result.Errorf(result.ClassKey, "checking token %q for existing keys: %v", t.label, err)
		}
		if len(found) > 0 {
			return nil, result.Errorf(result.ClassInput, "token %q already holds a key %s: choose another object= and id=", t.label, describe(q.id, q.label))
		}
	}
	s, err := t.ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "generating ECDSA P-256 key in token %q: %v", t.label, err)
	}
	return s, nil
}

// Close logs out and unloads the module once no other token uses it.
func (t *Token) Close() error {
	if t == nil || t.ctx == nil {
		return nil
	}
	return t.ctx.Close()
}

func describe(id, label []byte) string {
	var parts []string
	if label != nil {
		parts = append(parts, fmt.Sprintf("object=%s", label))
	}
	if id != nil {
		parts = append(parts, fmt.Sprintf("id=%x", id))
	}
	return strings.Join(parts, " ")
}
