package image

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/notaryproject/tspclient-go"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Format is a signature format.
type Format string

// Signature formats.
const (
	Cosign   Format = "cosign"
	Notation Format = "notation"
)

// Notation envelope media types.
const (
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"
)

// ParseFormats parses a comma-separated format list ("cosign,notation"); empty means both.
func ParseFormats(s string) ([]Format, error) {
	if strings.TrimSpace(s) == "" {
		return []Format{Cosign, Notation}, nil
	}
	var out []Format
	seen := map[Format]bool{}
	for _, p := range strings.Split(s, ",") {
		f := Format(strings.TrimSpace(strings.ToLower(p)))
		if f != Cosign && f != Notation {
			return nil, result.Errorf(result.ClassInput, "unknown --format %q: use cosign, notation or cosign,notation", p)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, nil
}

// NotationMediaType maps --notation-format (jws or cose) to its envelope media type.
func NotationMediaType(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "jws":
		return MediaTypeJWS, nil
	case "cose":
		return MediaTypeCOSE, nil
	}
	return "", result.Errorf(result.ClassInput, "unknown --notation-format %q: use jws or cose", s)
}

// Key is the signing key: a crypto.Signer (file or PKCS#11) and, for notation, its certificate chain, leaf first.
type Key struct {
	Signer    crypto.Signer
	CertChain []*x509.Certificate
	ID        string // names the key in notation's plugin protocol and in results
	// Timestamper, with TSARootCAs, gives notation signatures an RFC 3161 timestamp, so they verify after the
	// leaf certificate expires; nil signs without one.
	Timestamper tspclient.Timestamper
	TSARootCAs  *x509.CertPool
}

func (k Key) check(formats []Format) error {
	if k.Signer == nil {
		return result.Errorf(result.ClassKey, "no signing key")
	}
	for _, f := range formats {
		if f == Notation && len(k.CertChain) == 0 {
			return result.Errorf(result.ClassInput, "notation signing needs the key's certificate chain: pass --cert-chain chain.pem (leaf first)")
		}
	}
	return nil
}

func has(formats []Format, f Format) bool {
	for _, x := range formats {
		if x == f {
			return true
		}
	}
	return false
}

func errf(class result.Class, format string, args ...any) error {
	return result.Errorf(class, "%s", fmt.Sprintf(format, args...))
}
