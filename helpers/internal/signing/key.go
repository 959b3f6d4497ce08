package signing

import (
	"io"
	"log"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// KeyOptions name the signing key: Key (a key reference), or Keyring with Environment; the caller checks they exclude each other.
type KeyOptions struct {
	Key         string
	Keyring     string      // keys.yaml
	Environment string      // with Keyring: the environment whose current key signs
	FallbackLog string      // with Keyring: append a JSON line here for every software fallback
	PINFile     string      // PKCS#11 PIN file for the HSM health check ("" reads $PKCS11_PIN)
	TraceID     string      // recorded in a fallback event
	Log         *log.Logger // nil discards

	// Spell names where the HSM health check's PIN came from in errors (a step's pinCredentialsId); nil: helper flags.
	Spell vocab.Spelling
}

// Key is the key a signing call uses and, when keys.yaml chose it, which entry and environment.
type Key struct {
	Ref       keys.Ref
	CertChain string // the key's chain from keys.yaml, "" for a plain key reference
	Keyring   string // keys.yaml path, "" for a plain key reference
	ID        string // the key's id in keys.yaml
	Env       string
	Fallback  *keyring.FallbackEvent // set when keys.yaml allowed a software fallback
}

// ChooseKey resolves the key: a plain reference, or keys.yaml's current key for the environment after the HSM health
// check and the software-fallback policy (a fallback is logged and appended to FallbackLog).
func ChooseKey(o KeyOptions) (Key, error) {
	lg := o.Log
	if lg == nil {
		lg = log.New(io.Discard, "", 0)
	}
	if o.Keyring == "" {
		ref, err := keys.ParseRef(o.Key)
		return Key{Ref: ref}, err
	}
	f, err := keyring.Load(o.Keyring)
	if err != nil {
		return Key{}, err
	}
	sel, err := f.Select(o.Environment, time.Now(), o.TraceID, keyring.CheckHSMSpelled(o.PINFile, o.Spell, breaker.FromEnv()))
	if err != nil {
		return Key{}, err
	}
	if sel.Fallback != nil {
		lg.Print(sel.Fallback.String())
		if o.FallbackLog != "" {
			if err := keyring.AppendAudit(o.FallbackLog, sel.Fallback); err != nil {
				return Key{}, err
			}
		}
	}
	lg.Printf("keyring %s: environment %s signs with key %s", o.Keyring, o.Environment, sel.Key.ID)
	return Key{Ref: sel.Ref, CertChain: sel.CertChain, Keyring: o.Keyring, ID: sel.Key.ID, Env: o.Environment, Fallback: sel.Fallback}, nil
}

// Record sets the key choice in a result: keyring, environment, keyring_key_id and any fallback.
func (k Key) Record(rec *result.Recorder) {
	if k.Keyring == "" {
		return
	}
	if k.Fallback != nil {
		rec.Set("fallback", k.Fallback)
	}
	rec.Set("keyring", k.Keyring)
	rec.Set("environment", k.Env)
	rec.Set("keyring_key_id", k.ID)
}

// Count adds n signatures to the key's counter in keys.yaml (nothing for a plain reference), so rotation.maxSignatures
// can act. A count that cannot be written fails the call: an uncounted signature would let a key outlive its limit.
func (k Key) Count(rec *result.Recorder, n int64) error {
	if k.Keyring == "" {
		return nil
	}
	total, err := keyring.CountSignatures(k.Keyring, k.ID, n)
	if err != nil {
		return result.Errorf(result.ClassOf(err), "signed, but counting %d signature(s) for key %s failed: %w", n, k.ID, err)
	}
	rec.Set("key_signatures", total)
	return nil
}
