// Package tsatest runs an RFC 3161 timestamp authority on 127.0.0.1 for tests, built on github.com/digitorus/timestamp.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// TSA is a running timestamp authority.
type TSA struct {
	URL      string // POST application/timestamp-query here
	Root     *x509.Certificate
	RootFile string // PEM of Root, for notation's TSA trust store and TSARootCAs
	Leaf     *x509.Certificate
	key      crypto.Signer
}

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidTestTSAPolicy  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2, 1}
	maxRequestSize    = int64(64 << 10)
	timestampResponse = "application/timestamp-reply"
)

// Start runs a TSA whose root and leaf are valid for a day; RFC 3161 2.3 requires the leaf's only extended key
// usage to be timeStamping, marked critical, which notation checks.
func Start(t testing.TB) *TSA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "release-gates test TSA root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "release-gates test TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour), BasicConstraintsValid: true,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, leafKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	ts := &TSA{Root: root, Leaf: leaf, key: leafKey, RootFile: filepath.Join(t.TempDir(), "tsa-root.pem")}
	if err := os.WriteFile(ts.RootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

// serve answers one RFC 3161 request (RFC 3161 3.4: POST application/timestamp-query, reply application/timestamp-reply).
func (ts *TSA) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "POST application/timestamp-query", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tsr := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now().UTC(),
		Nonce: req.Nonce, Policy: oidTestTSAPolicy, AddTSACertificate: req.Certificates, Accuracy: time.Second}
	resp, err := tsr.CreateResponseWithOpts(ts.Leaf, ts.key, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", timestampResponse)
	_, _ = w.Write(resp)
}
