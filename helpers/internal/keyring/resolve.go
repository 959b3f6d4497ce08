package keyring

import (
	"crypto"
	"fmt"
	"os"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Signing is the key an environment signs with right now.
type Signing struct {
	Env       string
	Key       *Key
	Ref       keys.Ref // backend, with file paths made absolute
	CertChain string   // absolute path of the PEM chain, "" when none
}

// SigningKey returns the current active key of env, refusing a key outside its validity.
func (f *File) SigningKey(env string, now time.Time) (Signing, error) {
	e, ok := f.Environments[env]
	if !ok {
		return Signing{}, result.Errorf(result.ClassConfig, "%s: unknown environment %q: known environments are %v", f.path, env, f.EnvironmentNames())
	}
	if e.Current == "" {
		return Signing{}, result.Errorf(result.ClassKey, "%s: environment %s has no current key (revoked?): run 'sign-artifacts keys rotate --environment %s'", f.path, env, env)
	}
	k, err := f.Key(e.Current)
	if err != nil {
		return Signing{}, err
	}
	if err := k.usable(now); err != nil {
		return Signing{}, result.Errorf(result.ClassKey, "%s: environment %s: %v", f.path, env, err)
	}
	return f.signing(env, k)
}

func (f *File) signing(env string, k *Key) (Signing, error) {
	ref, err := keys.ParseRef(k.Backend)
	if err != nil {
		return Signing{}, result.Errorf(result.ClassConfig, "%s: key %s backend: %v", f.path, k.ID, err)
	}
	if ref.Scheme == keys.SchemeFile {
		ref.Path = f.Abs(ref.Path)
	}
	return Signing{Env: env, Key: k, Ref: ref, CertChain: f.Abs(k.CertChain)}, nil
}

// usable says why k may not sign at now: its state or its validity window.
func (k *Key) usable(now time.Time) error {
	switch {
	case k.State != Active:
		return fmt.Errorf("key %s is %s and cannot sign: run keys rotate", k.ID, k.State)
	case now.Before(k.NotBefore):
		return fmt.Errorf("key %s is not valid before %s", k.ID, k.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(k.NotAfter):
		return fmt.Errorf("current key %s expired at %s: run 'sign-artifacts keys rotate'", k.ID, k.NotAfter.UTC().Format(time.RFC3339))
	case k.Rotation.MaxSignatures > 0 && k.Signed >= k.Rotation.MaxSignatures:
		return fmt.Errorf("key %s reached its rotation limit of %d signatures: run keys rotate", k.ID, k.Rotation.MaxSignatures)
	}
	return nil
}

// ResolveSigningKey loads keys.yaml at path and returns env's current key reference and cert chain path.
func ResolveSigningKey(path, env string, now time.Time) (ref string, certChain string, err error) {
	f, err := Load(path)
	if err != nil {
		return "", "", err
	}
	s, err := f.SigningKey(env, now)
	if err != nil {
		return "", "", err
	}
	return s.Ref.String(), s.CertChain, nil
}

// Fallback returns env's software fallback key, only when keys.yaml allows it; cause is why the HSM key is unusable.
// A refused fallback names the HSM cause and keeps its infrastructure class: ClassUnavailable (exit 3) when the HSM
// is unreachable (a transient or unavailable cause), ClassConfig (exit 2) otherwise; it is never a verdict on evidence.
func (f *File) Fallback(env string, now time.Time, cause error) (Signing, error) {
	e, ok := f.Environments[env]
	if !ok {
		return Signing{}, result.Errorf(result.ClassConfig, "%s: unknown environment %q", f.path, env)
	}
	if !e.AllowSoftwareFallback {
		class := result.ClassConfig
		if c := result.ClassOf(cause); c == result.ClassTransient || c == result.ClassUnavailable {
			class = result.ClassUnavailable
		}
		return Signing{}, result.Errorf(class, "software fallback refused: environment %s does not allow it (allowSoftwareFallback: false in %s); fix the HSM: %v", env, f.path, cause)
	}
	if e.Fallback == "" {
		return Signing{}, result.Errorf(result.ClassConfig, "%s: environment %s allows a software fallback but names no fallback key: add fallback: <key id>", f.path, env)
	}
	k, err := f.Key(e.Fallback)
	if err != nil {
		return Signing{}, err
	}
	if err := k.usable(now); err != nil {
		return Signing{}, result.Errorf(result.ClassKey, "%s: environment %s fallback: %v", f.path, env, err)
	}
	return f.signing(env, k)
}

// Verifier is a public key that signatures may be checked against.
type Verifier struct {
	ID     string
	State  State
	Public crypto.PublicKey
}

// VerificationKeys returns the public keys of every active and deprecated key; archived and revoked keys are left out.
func (f *File) VerificationKeys() ([]Verifier, error) {
	var out []Verifier
	for _, k := range f.Keys {
		if !k.State.Verifies() {
			continue
		}
		pub, err := f.PublicKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, Verifier{ID: k.ID, State: k.State, Public: pub})
	}
	if len(out) == 0 {
		return nil, result.Errorf(result.ClassConfig, "%s: no active or deprecated key to verify with", f.path)
	}
	return out, nil
}

// PublicKey reads k's PEM public key.
func (f *File) PublicKey(k *Key) (crypto.PublicKey, error) {
	p := f.Abs(k.PublicKey)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, result.Errorf(result.ClassConfig, "%s: key %s: reading public key %s: %v", f.path, k.ID, p, err)
	}
	return keys.ParsePublicPEM(b, p)
}

// Accepts says whether a signature made by key id is acceptable: active and deprecated keys are, archived and
// revoked ones are rejected (ClassPolicy), and an unknown id is a ClassConfig error.
func (f *File) Accepts(id string) error {
	k, err := f.Key(id)
	if err != nil {
		return err
	}
	if !k.State.Verifies() {
		why := ""
		if k.Reason != "" {
			why = " (" + k.Reason + ")"
		}
		return result.Errorf(result.ClassPolicy, "key %s is %s%s: signatures made with it are rejected", k.ID, k.State, why)
	}
	return nil
}

// IdentifyPublic returns the keyring key whose public key equals pub, or nil.
func (f *File) IdentifyPublic(pub crypto.PublicKey) *Key {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := pub.(equaler)
	if !ok {
		return nil
	}
	for _, k := range f.Keys {
		if p, err := f.PublicKey(k); err == nil && e.Equal(p) {
			return k
		}
	}
	return nil
}
