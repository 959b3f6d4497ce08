package keys

import (
	"context"
	"crypto"
	"os"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// LoadPublic reads a verification key: a PEM public key file (a path or file://), or the public half of a pkcs11: key;
// it returns the key and its id. It is the one public-key reader of every helper.
func LoadPublic(ctx context.Context, s string, opts LoadOptions) (crypto.PublicKey, string, error) {
	ref, err := ParseRef(s)
	if err != nil {
		return nil, "", err
	}
	if ref.Scheme == SchemePKCS11 {
		k, err := Load(ctx, ref, opts)
		if err != nil {
			return nil, "", err
		}
		defer k.Close()
		return k.Public(), k.ID, nil
	}
	b, err := os.ReadFile(ref.Path)
	if err != nil {
		return nil, "", result.Errorf(result.ClassInput, "reading public key %s: %v", ref.Path, unwrapPath(err))
	}
	pub, err := ParsePublicPEM(b, ref.Path)
	if err != nil {
		return nil, "", err
	}
	id, err := KeyID(pub)
	return pub, id, err
}

// LoadPublics reads every key of LoadPublic; what names the parameter or flag in errors (e.g. "cosignKeys").
func LoadPublics(ctx context.Context, list []string, what string, opts LoadOptions) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for _, s := range list {
		pub, _, err := LoadPublic(ctx, s, opts)
		if err != nil {
			return nil, result.Errorf(result.ClassOf(err), "%s: %w", what, err)
		}
		out = append(out, pub)
	}
	return out, nil
}
