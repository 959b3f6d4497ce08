package keyring

import (
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("version: 1\nenvironments:\n  prod: {current: a}\nkeys:\n  - id: a\n    backend: a.key\n    publicKey: a.pub\n    state: active\n    notBefore: 2026-01-01T00:00:00Z\n    notAfter: 2027-01-01T00:00:00Z\n    rotation: {maxAge: 90d}\n"))
	f.Add([]byte("version: 1\nenvironments:\n  prod: {current: a}\n  prod: {current: b}\n"))
	f.Add([]byte("version: 1\nkeys: [{id: a, backend: 'pkcs11:token=t;object=o?module-path=/m.so', rotation: {maxAge: 1d}}]\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := Parse("keys.yaml", b)
		if err != nil {
			if c := result.ClassOf(err); c != result.ClassConfig {
				t.Fatalf("class %q for %q: %v", c, b, err)
			}
			return
		}
		for _, k := range kf.Keys {
			if k == nil || k.ID == "" || !k.NotAfter.After(k.NotBefore) {
				t.Fatalf("accepted an invalid key %+v", k)
			}
		}
	})
}
