package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/miekg/pkcs11"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Cause names the part of the HSM path a health check found broken.
type Cause string

// Health check causes; each maps to one failure class.
const (
	CauseModule  Cause = "module"      // the PKCS#11 library is missing or fails to initialise: config
	CauseToken   Cause = "token"       // the token is absent or was removed: key (absent at open) or unavailable (gone mid-use)
	CausePIN     Cause = "pin"         // login refused: auth
	CauseKey     Cause = "key-missing" // no such key pair, or it vanished: key
	CauseSession Cause = "session"     // the session broke while signing: transient, worth a retry
)

// HealthError is a failed HSM health check or HSM operation; its class comes from the wrapped result error.
type HealthError struct {
	Cause Cause
	Err   error
}

func (e *HealthError) Error() string { return "HSM " + string(e.Cause) + " failure: " + e.Err.Error() }

// Unwrap returns the classified error.
func (e *HealthError) Unwrap() error { return e.Err }

// CauseOf returns the HSM cause carried by err, "" when err is not an HSM failure.
func CauseOf(err error) Cause {
	var he *HealthError
	if errors.As(err, &he) {
		return he.Cause
	}
	return ""
}

// Check opens the token, finds the key pair, signs a random nonce and verifies the signature with the key's public half.
// Every failure is a *HealthError with a cause and a failure class; the PIN never appears in it.
func Check(cfg Config, id, label []byte) error {
	tok, err := Open(cfg)
	if err != nil {
		return openCause(err)
	}
	defer tok.Close()
	return tok.Check(id, label)
}

// Check runs the find, sign and verify part of the health check on an open token (e.g. between items of a batch).
func (t *Token) Check(id, label []byte) error {
	s, err := t.FindSigner(id, label)
	if err != nil {
		if strings.Contains(err.Error(), "no key pair") {
			return &HealthError{Cause: CauseKey, Err: err}
		}
		return ClassifyOpError(err, t.label)
	}
	return SelfTest(s, t.label)
}

// SelfTest signs a fresh random nonce with s and verifies it with s.Public().
func SelfTest(s crypto.Signer, token string) error {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return &HealthError{Cause: CauseSession, Err: result.Errorf(result.ClassInternal, "reading a nonce: %v", err)}
	}
	digest := sha256.Sum256(nonce)
	var sig []byte
	var err error
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		sig, err = s.Sign(rand.Reader, nonce, crypto.Hash(0))
	} else {
		sig, err = s.Sign(rand.Reader, digest[:], crypto.SHA256)
	}
	if err != nil {
		return ClassifyOpError(err, token)
	}
	ok := false
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest[:], sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, nonce, sig)
	}
	if !ok {
		return &HealthError{Cause: CauseKey, Err: result.Errorf(result.ClassKey, "token %q: a nonce signed by the key does not verify with its public key: the key pair is broken", token)}
	}
	return nil
}

// openCause attaches a cause to an error from Open.
func openCause(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "PKCS#11 module"), strings.Contains(msg, "no PKCS#11 module"):
		return &HealthError{Cause: CauseModule, Err: err}
	case strings.Contains(msg, "wrong PIN"), strings.Contains(msg, "PIN locked"):
		return &HealthError{Cause: CausePIN, Err: err}
	case strings.Contains(msg, "not found in"), strings.Contains(msg, "no PKCS#11 token"):
		return &HealthError{Cause: CauseToken, Err: err}
	}
	return &HealthError{Cause: CauseSession, Err: result.Errorf(result.ClassTransient, "%v", err)}
}

// ClassifyOpError turns an error from signing or finding a key on an open token into a *HealthError:
// a vanished key is CauseKey, a removed token CauseToken (unavailable), a broken session CauseSession (transient).
func ClassifyOpError(err error, token string) error {
	if err == nil {
		return nil
	}
	if CauseOf(err) != "" {
		return err
	}
	var rv pkcs11.Error
	code, hasCode := pkcs11.Error(0), errors.As(err, &rv)
	if hasCode {
		code = rv
	}
	msg := err.Error()
	is := func(c pkcs11.Error, name string) bool { return (hasCode && code == c) || strings.Contains(msg, name) }
	switch {
	case is(pkcs11.CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"), is(pkcs11.CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"):
		return &HealthError{Cause: CauseKey, Err: result.Errorf(result.ClassKey, "token %q: the signing key is gone (%s): it was deleted or the token re-initialised; check the key URI or rotate", token, short(msg))}
	case is(pkcs11.CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"), is(pkcs11.CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"), is(pkcs11.CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"):
		return &HealthError{Cause: CauseToken, Err: result.Errorf(result.ClassUnavailable, "token %q was removed (%s): reconnect the HSM", token, short(msg))}
	case is(pkcs11.CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"), is(pkcs11.CKR_PIN_LOCKED, "CKR_PIN_LOCKED"), is(pkcs11.CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"):
		return &HealthError{Cause: CausePIN, Err: result.Errorf(result.ClassAuth, "token %q refused the login (%s): check PKCS11_PIN", token, short(msg))}
	}
	return &HealthError{Cause: CauseSession, Err: result.Errorf(result.ClassTransient, "token %q: the PKCS#11 session failed (%s)", token, short(msg))}
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}
