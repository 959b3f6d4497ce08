package keyring_test

import (
	"fmt"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/keyring"
)

func ExampleFile_SigningKey() {
	doc := `version: 1
environments:
  prod: {current: rel-2026, allowSoftwareFallback: false}
keys:
  - id: rel-2025
    backend: keys/rel-2025.key
    publicKey: keys/rel-2025.pub
    state: deprecated
    notBefore: 2025-01-01T00:00:00Z
    notAfter: 2026-01-01T00:00:00Z
    rotation: {maxAge: 90d}
  - id: rel-2026
    backend: 'pkcs11:token=ci;object=rel-2026;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so'
    publicKey: keys/rel-2026.pub
    state: active
    notBefore: 2026-01-01T00:00:00Z
    notAfter: 2027-01-01T00:00:00Z
    rotation: {maxAge: 180d, maxSignatures: 100000}
`
	f, err := keyring.Parse("/ci/keys.yaml", []byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := f.SigningKey("prod", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(s.Key.ID, s.Ref.Scheme, err)
	_, err = f.SigningKey("prod", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(err)
	fmt.Println(f.Accepts("rel-2025"))
	// Output:
	// rel-2026 pkcs11 <nil>
	// /ci/keys.yaml: environment prod: current key rel-2026 expired at 2027-01-01T00:00:00Z: run 'sign-artifacts keys rotate'
	// <nil>
}
