package release

import (
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
)

// RevokedKey is a key that keys.yaml no longer trusts for verification.
type RevokedKey struct {
	ID     string // keys.KeyID of its public key, as results report key ids
	Name   string // its id in keys.yaml
	State  string // archived or revoked
	Reason string // why, as keys.yaml records it; may be empty
	// Fingerprints are the "sha256:<hex>" fingerprints of its certificates: its notation signatures are refused too.
	Fingerprints []string
}

// KeyringRevocations reads keys.yaml and returns its archived and revoked keys; active and deprecated keys still
// verify and are left out. A malformed keyring, or a distrusted key whose public key cannot be read, is a
// ClassConfig or ClassInput error: revocation is never silently skipped.
func KeyringRevocations(path string) ([]RevokedKey, error) {
	f, err := keyring.Load(path)
	if err != nil {
		return nil, err
	}
	var out []RevokedKey
	for _, k := range f.Keys {
		if k.State.Verifies() {
			continue
		}
		pub, err := f.PublicKey(k)
		if err != nil {
			return nil, err
		}
		id, err := keys.KeyID(pub)
		if err != nil {
			return nil, err
		}
		out = append(out, RevokedKey{ID: id, Name: k.ID, State: string(k.State), Reason: k.Reason, Fingerprints: f.Fingerprints(k)})
	}
	return out, nil
}
