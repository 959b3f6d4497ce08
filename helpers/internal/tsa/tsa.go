package tsa

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/notaryproject/tspclient-go"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Authority is a timestamp authority for notation signing: where to ask and which roots its tokens must chain to.
type Authority struct {
	Timestamper tspclient.Timestamper
	Roots       *x509.CertPool
}

// Open checks url (http or https) and reads rootsPEM, the TSA's root certificate(s), as notation sign
// --timestamp-url and --timestamp-root-cert take them.
func Open(rawURL, rootsPEM string) (Authority, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Authority{}, result.Errorf(result.ClassInput, "timestampUrl %q: want an http(s) URL of an RFC 3161 timestamp authority", rawURL)
	}
	if rootsPEM == "" {
		return Authority{}, result.Errorf(result.ClassInput, "timestampUrl needs timestampRootCert: the PEM root certificate of the timestamp authority")
	}
	b, err := os.ReadFile(rootsPEM)
	if err != nil {
		return Authority{}, result.Errorf(result.ClassInput, "timestampRootCert %s: %v", rootsPEM, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return Authority{}, result.Errorf(result.ClassInput, "timestampRootCert %s: %v", rootsPEM, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return Authority{}, result.Errorf(result.ClassInput, "timestampRootCert %s holds no PEM certificate", rootsPEM)
	}
	ts, err := tspclient.NewHTTPTimestamper(&http.Client{Timeout: 30 * time.Second}, u.String())
	if err != nil {
		return Authority{}, result.Errorf(result.ClassInput, "timestampUrl %q: %v", rawURL, err)
	}
	return Authority{Timestamper: ts, Roots: pool}, nil
}
