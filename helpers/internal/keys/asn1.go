package keys

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// bigInt is an unsigned big-endian integer without leading zeros.
type bigInt []byte

func unmarshalSig(der []byte, r, s *bigInt) error {
	var inner cryptobyte.String
	in := cryptobyte.String(der)
	var rb, sb []byte
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&rb) || !inner.ReadASN1Integer(&sb) || !inner.Empty() {
		return errors.New("not an ASN.1 SEQUENCE of two INTEGERs")
	}
	*r, *s = trim(rb), trim(sb)
	return nil
}

func trim(b []byte) bigInt {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
