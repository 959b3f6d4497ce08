// Package registrytest starts registries for tests (Debian's docker-registry 2.8.2 with no referrers API, or an in-process one behind a slowing proxy) and the agent processes that share them.
package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/release-gates/release-gates/helpers/internal/testing/syncbuf"
)

// Binary is the Debian docker-registry executable.
const Binary = "/usr/bin/docker-registry"

// Options tune the registry; a zero value gives an anonymous registry.
type Options struct {
	Username, Password string // when set, htpasswd auth is required
}

// Registry is a running docker-registry.
type Registry struct {
	Host    string // 127.0.0.1:port
	Dir     string // storage root
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error
	logs    *syncbuf.Buffer
}

// Logs returns what the registry printed so far.
func (r *Registry) Logs() string { return r.logs.String() }

// Start starts a registry with filesystem storage in a temp dir and stops it when the test ends.
// It fails the test when the binary is missing: the Debian registry is a required test component. Under -short it skips.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Debian's docker-registry; skipped under -short (make check), run by make test")
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("%s missing: install the Debian package docker-registry (test/scripts/install-deps.sh)", Binary)
	}
	dir := t.TempDir()
	var lastErr error
	for try := 0; try < 5; try++ {
		r, err := start(dir, opts)
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		lastErr = err
	}
	t.Fatalf("starting docker-registry: %v", lastErr)
	return nil
}

func start(dir string, opts Options) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	id := hex.EncodeToString(nonce)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	auth := ""
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", pw)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
%shttp:
  addr: %s
  secret: test-secret
  headers:
    %s: [%s]
`, filepath.Join(dir, "data"), auth, host, idHeader, id)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logs := &syncbuf.Buffer{}
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Registry{Host: host, Dir: dir, cmd: cmd, exited: make(chan struct{}), logs: logs}
	go func() { r.waitErr = cmd.Wait(); close(r.exited) }()
	// The port was free a moment ago, but another test binary may have bound it since: only an answer carrying this
	// process's own header counts, so a registry (or anything else) another package started there is never used.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := probe.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get(idHeader) == id && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
				return r, nil
			}
		}
		select {
		case <-r.exited:
			return nil, fmt.Errorf("docker-registry exited: %v: %s", r.waitErr, firstLines(logs.String()))
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("docker-registry did not answer on %s: %s", host, firstLines(logs.String()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// idHeader is the response header by which start recognises the registry it started.
const idHeader = "X-Rg-Test-Registry"

// Stop kills the registry and waits until it has exited, so its storage dir can be removed.
func (r *Registry) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func firstLines(s string) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewBufferString(s))
	for sc.Scan() && len(out) < 5 {
		out = append(out, sc.Text())
	}
	return fmt.Sprint(out)
}

// probe polls a server that is starting; its timeout keeps a stranger that took the port and never answers from
// hanging the start.
var probe = &http.Client{Timeout: 5 * time.Second}
