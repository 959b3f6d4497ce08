package keys_test

import (
	"fmt"

	"github.com/release-gates/release-gates/helpers/internal/keys"
)

func ExampleParseRef() {
	ref, err := keys.ParseRef("pkcs11:token=release;object=signer;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Scheme, ref.Token, ref.Label, ref.ID)
	_, err = keys.ParseRef("pkcs11:token=release;object=signer?module-path=/m.so&pin-value=1234")
	fmt.Println(err)
	// Output:
	// pkcs11 release signer [1]
	// pin-value in a key URI is refused: bind the PIN with withCredentials as PKCS11_PIN or --pin-file
}

func ExampleRawECDSA() {
	// An ASN.1 DER signature with r=1 and s=2, as crypto11 and crypto/ecdsa return them.
	der := []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}
	raw, _ := keys.RawECDSA(der, 256)
	fmt.Println(len(raw), raw[31], raw[63])
	// Output: 64 1 2
}
