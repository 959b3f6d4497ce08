// Package tsatest runs RFC 3161 timestamp authorities on 127.0.0.1 for tests: sigstore's timestamp-server, or one built on github.com/digitorus/timestamp.
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
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/release-gates/release-gates/helpers/internal/testing/syncbuf"
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

// Sigstore runs sigstore's timestamp-server (installed by test/scripts/tools.sh timestamp-server) with its
// in-memory signer on 127.0.0.1, NTP monitoring off (nothing leaves the machine), and stops it when the test ends.
// bin is the executable; the root of its certificate chain is written to RootFile.
func Sigstore(t testing.TB, bin string) *TSA {
	t.Helper()
	holdMetricsPort(t)
	var base, logs string
	var chain []byte
	for try := 0; try < 5 && chain == nil; try++ {
		base, chain, logs = startSigstore(t, bin)
	}
	if chain == nil {
		t.Fatalf("timestamp-server did not come up on %s:\n%s", base, logs)
	}
	var certs []*x509.Certificate
	for rest := chain; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		t.Fatalf("timestamp-server certificate chain has %d certificates", len(certs))
	}
	ts := &TSA{URL: base + "/api/v1/timestamp", Leaf: certs[0], Root: certs[len(certs)-1], RootFile: filepath.Join(t.TempDir(), "tsa-root.pem")}
	if err := os.WriteFile(ts.RootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Root.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return ts
}

// startSigstore starts timestamp-server on a port that was free a moment ago and returns its URL and certificate
// chain, or a nil chain and its output when it exited (another test binary took the port meanwhile) or never answered.
func startSigstore(t testing.TB, bin string) (string, []byte, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--timestamp-signer", "memory",
		"--disable-ntp-monitoring", "--include-chain-in-response")
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			return base, nil, logs.String()
		default:
		}
		resp, err := probe.Get(base + "/api/v1/timestamp/certchain")
		if err != nil {
			continue
		}
		chain, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return base, chain, ""
		}
	}
	_ = cmd.Process.Kill()
	return base, nil, logs.String()
}

// probe polls a server that is starting; its timeout keeps a stranger that took the port and never answers from
// hanging the start.
var probe = &http.Client{Timeout: 5 * time.Second}

// holdMetricsPort serialises timestamp-server instances across test processes until t ends: every instance binds
// its Prometheus metrics on the fixed :2112 (pkg/server/prometheus.go) and exits if another instance holds it.
func holdMetricsPort(t testing.TB) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "rg-timestamp-server-2112.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", f.Name(), err)
	}
	t.Cleanup(func() { f.Close() }) // registered first, so it runs after the server's own cleanup killed it
}
