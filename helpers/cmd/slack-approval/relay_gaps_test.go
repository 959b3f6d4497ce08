package main

// Black-box relay tests for the failure and bad-input cases of issue 12 that relay_test.go (in-process, SQLite)
// does not reach: a real PostgreSQL that stops and comes back, a Jenkins that stops answering, two controllers
// on one Jenkins host, and SIGKILL after the ack on PostgreSQL.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/app"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/pgtest"
	"github.com/release-gates/release-gates/helpers/internal/testing/syncbuf"
)

// startPostgres starts a cluster of its own for one test (the test stops and restarts it) and stops it at the end.
// Under -short (make check: not root) a cluster that cannot start skips the test, as pgtest.Main does.
func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	s, err := pgtest.Start()
	if err != nil {
		if testing.Short() {
			t.Skipf("-short: PostgreSQL unavailable: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// pgCtl runs pg_ctl on s's data directory as the postgres user.
func pgCtl(s *pgtest.Server, args ...string) ([]byte, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgtest.Bin, "pg_ctl"), "-D", filepath.Join(s.Dir, "data")}, args...)...)
	cmd.Dir = s.Dir
	return cmd.CombinedOutput()
}

// stopPostgres stops the cluster (fast shutdown: open sessions are cut) and keeps its data.
func stopPostgres(t *testing.T, s *pgtest.Server) {
	t.Helper()
	if out, err := pgCtl(s, "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
}

// restartPostgres starts the stopped cluster again with its data, on a new free port (the old one may have been
// taken meanwhile; a port taken between choosing and binding makes the postmaster exit, and the next try takes another).
func restartPostgres(t *testing.T, s *pgtest.Server) {
	t.Helper()
	var last string
	for try := 0; try < 5; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		logFile := filepath.Join(s.Dir, fmt.Sprintf("restart.%d.log", try))
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200 -c fsync=off", port, s.Dir)
		out, err := pgCtl(s, "-o", opts, "-l", logFile, "-t", "120", "-w", "start")
		if err == nil {
			s.Port = port
			return
		}
		log, _ := os.ReadFile(logFile)
		last = fmt.Sprintf("%v: %s %s", err, out, log)
		_, _ = pgCtl(s, "-m", "immediate", "-w", "stop")
	}
	t.Fatalf("pg_ctl start: %s", last)
}

// forwarder is a loopback TCP forwarder that stays bound for the whole test, so the relay keeps one address for a
// dependency that stops, comes back (on another port) or is cut off. Down resets every connection, open or new:
// to the relay the dependency is unreachable.
type forwarder struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	down   bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.SetDown(true)
		f.wg.Wait()
	})
	return f
}

// Addr is the forwarder's host:port.
func (f *forwarder) Addr() string { return f.ln.Addr().String() }

// Retarget sends new connections to target.
func (f *forwarder) Retarget(target string) { f.mu.Lock(); f.target = target; f.mu.Unlock() }

// SetDown cuts every open connection and resets new ones (true), or forwards again (false).
func (f *forwarder) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	if down {
		for c := range f.conns {
			reset(c)
		}
	}
}

func (f *forwarder) handle(c net.Conn) {
	f.mu.Lock()
	target, down := f.target, f.down
	f.mu.Unlock()
	if down {
		reset(c)
		return
	}
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		reset(c)
		return
	}
	f.mu.Lock()
	if f.down { // cut off while dialling
		f.mu.Unlock()
		reset(c)
		up.Close()
		return
	}
	f.conns[c], f.conns[up] = true, true
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, up)
	f.mu.Unlock()
	c.Close()
	up.Close()
	<-done
}

// reset closes c with SO_LINGER 0, so the peer sees a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// usePostgres points the world's relay config at a PostgreSQL URL given through an environment variable.
func (w *world) usePostgres(dbURL string) {
	b, err := os.ReadFile(w.config)
	if err != nil {
		w.t.Fatal(err)
	}
	old := "database: sqlite:" + w.dir + "/relay.db\n"
	if !strings.Contains(string(b), old) {
		w.t.Fatalf("relay config has no %q", old)
	}
	cfg := strings.Replace(string(b), old, "databaseURL: {env: RG_TEST_DATABASE_URL}\n", 1)
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.t.Setenv("RG_TEST_DATABASE_URL", dbURL)
}

// startRelayLogged is startRelay that also returns the relay's log, for failure messages.
func (w *world) startRelayLogged() (string, func() string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	errb := &syncbuf.Buffer{}
	go func() {
		var out syncbuf.Buffer
		done <- app.Run(ctx, newApp(), []string{"slack-approval", "relay", "--config", w.config, "--result-file", filepath.Join(w.dir, "relay-result.json")}, &out, errb)
	}()
	w.t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			w.t.Errorf("relay exit %d:\n%s", code, errb.String())
		}
	})
	return w.waitAddr(errb.String, 1), errb.String
}

// request asks the relay for an approval of buildURL (empty: the world's build 7) with credential token.
func (w *world) request(t *testing.T, relayAddr, buildURL, token string) (int, map[string]any, string) {
	t.Helper()
	p := w.paramsDoc("http://" + relayAddr)
	if buildURL != "" {
		var doc map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		doc["context"].(map[string]any)["buildUrl"] = buildURL
		b, _ = json.Marshal(doc)
		p = filepath.Join(t.TempDir(), "params.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("RG_RELAY_TOKEN", token)
	code, r, _, stderr := run(t, context.Background(), "request", "--params", p)
	if strings.Contains(stderr, token) || strings.Contains(r.Message, token) {
		t.Fatalf("the controller credential leaked into the output")
	}
	return code, r.Data, r.Message + " " + stderr
}

// clickBody is one Slack block_actions interaction (form-encoded), Approve by user on request id: the exact bytes
// Slack sends, and sends again when it retries the same event.
func clickBody(user, requestID, actionTS string) string {
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user}, "team": map[string]any{"id": "T1"},
		"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1700000000.000001"}, "response_url": "http://127.0.0.1:1/r",
		"actions": []map[string]any{{"type": "button", "block_id": rgslack.BlockActions, "action_id": rgslack.ActionApprove, "value": requestID, "action_ts": actionTS}}})
	return url.Values{"payload": {string(payload)}}.Encode()
}

// deliverInteraction posts body signed as Slack does; retry > 0 adds Slack's retry headers (X-Slack-Retry-Num,
// X-Slack-Retry-Reason), as on Slack's redelivery of an event that was not acknowledged.
func deliverInteraction(t *testing.T, relayAddr, body string, retry int) int {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+relayAddr+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_error")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("posting an interaction: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// slackRetries redelivers body as Slack's retries (numbered from first) until the relay acknowledges it, and returns
// the retry number acknowledged. A 503 on the first use of a pooled connection that PostgreSQL's restart cut is
// possible and harmless: nothing was acknowledged, and Slack retries.
func slackRetries(t *testing.T, relayAddr, body string, first int, log func() string) int {
	t.Helper()
	n, last := first, 0
	eventually(t, 60*time.Second, "an acknowledged retry", func() bool {
		if last = deliverInteraction(t, relayAddr, body, n); last == 200 {
			return true
		}
		if last != http.StatusServiceUnavailable {
			t.Fatalf("retry %d answered %d, want 200 (or 503 while the database reconnects)\n%s", n, last, log())
		}
		n++
		return false
	})
	return n
}

// getStatus returns the status and body of GET http://addr/path (0 when the relay does not answer).
func getStatus(addr, path string) (int, string) {
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 50 ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// metric reads one sample (name with its labels, as /metrics writes it) from the relay; -1 when it is missing.
func metric(t *testing.T, addr, sample string) float64 {
	t.Helper()
	code, body := getStatus(addr, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics answered %d: %s", code, body)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` ([0-9.e+]+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// waitDelivered waits for the one answer to input, then until the relay's outbox holds nothing undelivered (so no
// later answer can come), and checks Jenkins got exactly that one answer and no POST to an input that was not pending.
func (w *world) waitDelivered(t *testing.T, addr, input string, log func() string) jenkinsfake.Submission {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sub, err := w.jenkins.WaitSubmission(ctx, "/job/payments/7", input)
	if err != nil {
		t.Fatalf("%v; relay log:\n%s", err, log())
	}
	eventually(t, 60*time.Second, "the outbox empties", func() bool { return metric(t, addr, "rg_relay_outbox_undelivered") == 0 })
	if n, np := len(w.jenkins.Submissions()), w.jenkins.NotPendingPosts(); n != 1 || np != 0 {
		t.Fatalf("Jenkins got %d answers and %d POSTs to an input that was not pending; want 1 and 0", n, np)
	}
	return sub
}

// TestAClickWhilePostgresIsDownIs503AndSlacksRetryCountsOnce stops the relay's PostgreSQL between two clicks: the
// second click is answered 503 (not acknowledged, so Slack retries it), readiness fails, and once PostgreSQL is back
// Slack's retry of the same event is counted once, Bob's redelivered event is a replay, a late retry is acked and not
// counted, and Jenkins is answered once.
func TestAClickWhilePostgresIsDownIs503AndSlacksRetryCountsOnce(t *testing.T) {
	pg := startPostgres(t)
	fwd := newForwarder(t, fmt.Sprintf("127.0.0.1:%d", pg.Port))
	w := newWorld(t)
	w.usePostgres("postgres://rg@" + fwd.Addr() + "/postgres?sslmode=disable")
	addr, log := w.startRelayLogged()
	if !strings.Contains(log(), "postgres database") {
		t.Fatalf("the relay does not run on PostgreSQL:\n%s", log())
	}
	code, r, msg := w.request(t, addr, "", ctlToken)
	if code != 0 {
		t.Fatalf("request exit %d: %s", code, msg)
	}
	id, input := r["requestId"].(string), r["inputId"].(string)
	w.jenkins.Arm("/job/payments/7", jenkinsfake.Input{ID: input, Submitter: relayUser, Params: []string{"decision", "approvers", "approverNames", "requestId", "decisionRecord"}})

	bob := clickBody("U02BOB", id, "5.1")
	if c := deliverInteraction(t, addr, bob, 0); c != 200 {
		t.Fatalf("Bob's click before the outage: ack %d\n%s", c, log())
	}
	stopPostgres(t, pg)
	// Its port is free now and another process may bind it: new connections go to an address that refuses them.
	fwd.Retarget(downaddr.New(t))
	carol := clickBody("U03CAROL", id, "5.2")
	if c := deliverInteraction(t, addr, carol, 0); c != http.StatusServiceUnavailable {
		t.Fatalf("Carol's click with PostgreSQL stopped: ack %d, want 503\n%s", c, log())
	}
	if c := deliverInteraction(t, addr, carol, 1); c != http.StatusServiceUnavailable {
		t.Fatalf("Slack's first retry with PostgreSQL still stopped: ack %d, want 503", c)
	}
	if c, body := getStatus(addr, "/readyz"); c != http.StatusServiceUnavailable || !strings.Contains(body, "database") {
		t.Fatalf("readyz with PostgreSQL stopped: %d %q, want 503 naming the database", c, body)
	}
	if c, _ := getStatus(addr, "/healthz"); c != 200 {
		t.Fatalf("healthz with PostgreSQL stopped: %d, want 200 (the process lives)", c)
	}
	if n := len(w.jenkins.Submissions()); n != 0 {
		t.Fatalf("Jenkins answered with one approval of two: %d submissions", n)
	}

	restartPostgres(t, pg)
	fwd.Retarget(fmt.Sprintf("127.0.0.1:%d", pg.Port))
	eventually(t, 60*time.Second, "readyz once PostgreSQL is back", func() bool { c, _ := getStatus(addr, "/readyz"); return c == 200 })
	// Bob's event again while the request is still open: his acked click survived the outage, so it is a replay.
	slackRetries(t, addr, bob, 1, log)
	if got := metric(t, addr, `rg_relay_clicks_total{outcome="replayed"}`); got != 1 {
		t.Fatalf("Bob's redelivered event: replayed = %v, want 1 (his stored click is the one that counts)", got)
	}
	n := slackRetries(t, addr, carol, 2, log)
	// Once more, as Slack does when an ack is late: acknowledged, not counted again (the request is decided by now).
	if c := deliverInteraction(t, addr, carol, n+1); c != 200 {
		t.Fatalf("Slack's next retry of the acknowledged event: ack %d, want 200", c)
	}
	sub := w.waitDelivered(t, addr, input, log)
	if sub.Params["decision"] != "approved" || sub.Params["approvers"] != "U02BOB,U03CAROL" {
		t.Fatalf("submission %+v", sub.Params)
	}
	// Four events were acknowledged; two were counted: Bob's first delivery and Carol's first retry after the outage.
	count := func(outcome string) float64 { return metric(t, addr, `rg_relay_clicks_total{outcome="`+outcome+`"}`) }
	if c, u, d, rest := count("counted"), count("unavailable"), count("duplicate"), count("replayed")+count("closed"); c != 2 || u < 2 || d != 0 || rest != 2 {
		t.Fatalf("clicks counted %v, unavailable %v, duplicate %v, replayed or closed %v; want 2, at least 2, 0, 2", c, u, d, rest)
	}
	// The signed record counts Carol once, with the event Slack retried.
	recFile := filepath.Join(w.dir, "decision.json")
	_ = os.WriteFile(recFile, []byte(sub.Params["decisionRecord"]), 0o600)
	code, v, _, _ := run(t, context.Background(), "verify", "--record", recFile, "--public-key", w.pub, "--request-id", id)
	if code != 0 || len(v.Items) != 2 {
		t.Fatalf("verify exit %d (%s), %d approvers, want 2", code, v.Message, len(v.Items))
	}
	for _, it := range v.Items {
		if it.Details["slackId"] == "U03CAROL" && it.Details["eventId"] != "5.2-U03CAROL" {
			t.Fatalf("Carol's approval carries event %v", it.Details["eventId"])
		}
	}
}

// TestReadyzFailsWhileJenkinsIsUnreachable cuts the relay off from its only Jenkins (SQLite database): /readyz
// answers 503 naming the controller while /healthz stays 200, and /readyz is 200 again once Jenkins answers.
func TestReadyzFailsWhileJenkinsIsUnreachable(t *testing.T) {
	w := newWorld(t)
	fwd := newForwarder(t, strings.TrimPrefix(w.jurl, "http://"))
	b, _ := os.ReadFile(w.config)
	cfg := strings.Replace(string(b), "url: "+w.jurl+"\n", "url: http://"+fwd.Addr()+"\n", 1)
	if cfg == string(b) {
		t.Fatalf("relay config names no controller url %s", w.jurl)
	}
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, log := w.startRelayLogged()
	if c, body := getStatus(addr, "/readyz"); c != 200 {
		t.Fatalf("readyz with Jenkins up: %d %q\n%s", c, body, log())
	}
	fwd.SetDown(true)
	if c, body := getStatus(addr, "/readyz"); c != http.StatusServiceUnavailable || !strings.Contains(body, "jenkins ci unreachable") {
		t.Fatalf("readyz with Jenkins unreachable: %d %q, want 503 naming controller ci", c, body)
	}
	if c, _ := getStatus(addr, "/healthz"); c != 200 {
		t.Fatalf("healthz with Jenkins unreachable: %d, want 200", c)
	}
	fwd.SetDown(false)
	// A breaker opened by the outage keeps Jenkins "unavailable" for up to breaker.DefaultOpenFor (60 s).
	eventually(t, 120*time.Second, "readyz once Jenkins is back", func() bool { c, _ := getStatus(addr, "/readyz"); return c == 200 })
}

// authLog records which Authorization headers reached which Jenkins (by path prefix).
type authLog struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (a *authLog) wrap(prefix string, h http.Handler) http.Handler {
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen[prefix] = append(a.seen[prefix], r.Header.Get("Authorization"))
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
}

func (a *authLog) sent(prefix, user, token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.seen[prefix] {
		if h == "Basic "+base64Basic(user, token) {
			return true
		}
	}
	return false
}

func (a *authLog) requests(prefix string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen[prefix])
}

func base64Basic(user, token string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, token)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestEachControllersCredentialIsRefusedForTheOtherControllersBuilds configures two controllers on one Jenkins host
// and port, told apart only by their path prefix (/jenkins and /jenkins-b, which share a string prefix but not a
// segment): each credential is accepted for its own controller's build and refused (exit 2, no Jenkins call, no
// token sent) for the other's, and neither controller can read the other's request.
func TestEachControllersCredentialIsRefusedForTheOtherControllersBuilds(t *testing.T) {
	const (
		credA, credB   = "controller-A-credential-9d41c7", "controller-B-credential-5be2a0"
		tokenA, tokenB = "jenkins-A-api-token-31f6e8", "jenkins-B-api-token-c07d92"
		userA, userB   = "relay-on-a", "relay-on-b"
	)
	w := newWorld(t)
	ja, jb := jenkinsfake.New(userA, tokenA), jenkinsfake.New(userB, tokenB)
	ja.StartBuild("/job/payments/7", "alice")
	jb.StartBuild("/job/payments/7", "alice")
	seen := &authLog{seen: map[string][]string{}}
	mux := http.NewServeMux()
	mux.Handle("/jenkins/", seen.wrap("/jenkins", ja))
	mux.Handle("/jenkins-b/", seen.wrap("/jenkins-b", jb))
	js := httptest.NewServer(mux)
	t.Cleanup(js.Close)
	urlA, urlB := js.URL+"/jenkins", js.URL+"/jenkins-b"
	buildA, buildB := urlA+"/job/payments/7/", urlB+"/job/payments/7/"

	b, _ := os.ReadFile(w.config)
	head, _, ok := strings.Cut(string(b), "controllers:\n")
	if !ok {
		t.Fatal("relay config has no controllers")
	}
	sumA, sumB := sha256.Sum256([]byte(credA)), sha256.Sum256([]byte(credB))
	cfg := head + fmt.Sprintf(`controllers:
  - name: ctl-a
    url: %s
    user: %s
    apiToken: {env: RG_JENKINS_TOKEN_A}
    credentialSHA256: %s
  - name: ctl-b
    url: %s
    user: %s
    apiToken: {env: RG_JENKINS_TOKEN_B}
    credentialSHA256: %s
`, urlA, userA, hex.EncodeToString(sumA[:]), urlB, userB, hex.EncodeToString(sumB[:]))
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RG_JENKINS_TOKEN_A", tokenA)
	t.Setenv("RG_JENKINS_TOKEN_B", tokenB)
	addr, log := w.startRelayLogged()

	for _, tc := range []struct{ name, cred, build, other string }{
		{"A's credential for B's build", credA, buildB, "/jenkins-b"},
		{"B's credential for A's build", credB, buildA, "/jenkins"},
		{"A's credential for a build under /jenkins-b written as /jenkins/../jenkins-b", credA, urlA + "/../jenkins-b/job/payments/7/", "/jenkins-b"},
		{"B's credential for A's build written as /jenkins-b/../jenkins", credB, urlB + "/../jenkins/job/payments/7/", "/jenkins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := seen.requests(tc.other)
			code, _, msg := w.request(t, addr, tc.build, tc.cred)
			if code != 2 || !strings.Contains(msg, "buildUrl") {
				t.Fatalf("exit %d (%s), want 2 refusing the buildUrl", code, msg)
			}
			if n := seen.requests(tc.other); n != before {
				t.Fatalf("the relay called the other controller's Jenkins %d times for a refused request", n-before)
			}
		})
	}
	ids := map[string]string{}
	for _, tc := range []struct{ name, cred, build, prefix, user, token, otherPrefix, otherToken string }{
		{"ctl-a", credA, buildA, "/jenkins", userA, tokenA, "/jenkins-b", tokenB},
		{"ctl-b", credB, buildB, "/jenkins-b", userB, tokenB, "/jenkins", tokenA},
	} {
		code, r, msg := w.request(t, addr, tc.build, tc.cred)
		if code != 0 {
			t.Fatalf("%s's credential for its own build: exit %d (%s)\n%s", tc.name, code, msg, log())
		}
		if r["submitter"] != tc.user {
			t.Fatalf("%s: submitter %v, want the relay's account on that Jenkins %s", tc.name, r["submitter"], tc.user)
		}
		if !seen.sent(tc.prefix, tc.user, tc.token) {
			t.Fatalf("%s: the relay did not ask its Jenkins about the build with its own credentials", tc.name)
		}
		ids[tc.name] = r["requestId"].(string)
	}
	if seen.sent("/jenkins", userB, tokenB) || seen.sent("/jenkins-b", userA, tokenA) {
		t.Fatal("a controller's Jenkins API token reached the other controller's Jenkins")
	}
	for _, tc := range []struct{ cred, id string }{{credA, ids["ctl-b"]}, {credB, ids["ctl-a"]}, {credA, ids["ctl-a"]}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/approvals/"+tc.id, nil)
		req.Header.Set("Authorization", "Bearer "+tc.cred)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if tc.id == ids["ctl-a"] && tc.cred == credA {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Fatalf("GET request %s with the %s credential: %d, want %d", tc.id[:8], map[string]string{credA: "A", credB: "B"}[tc.cred], resp.StatusCode, want)
		}
	}
}

// TestNothingAcknowledgedIsLostWhenThePostgresRelayIsKilledRightAfterTheAck is the SIGKILL-after-ack test on
// PostgreSQL: a real relay process is killed right after each acknowledged click and restarted; every acked click is
// counted and Jenkins is answered once.
func TestNothingAcknowledgedIsLostWhenThePostgresRelayIsKilledRightAfterTheAck(t *testing.T) {
	pg := startPostgres(t)
	w := newWorld(t)
	w.usePostgres(pg.URL("postgres"))
	exe, _ := os.Executable()
	logPath, starts := filepath.Join(w.dir, "relay.log"), 0
	relayLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(exe, "relay", "--config", w.config, "--result-file", filepath.Join(w.dir, "proc.json"))
		cmd.Env = append(os.Environ(), "RG_TEST_MAIN=1")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		starts++
		return cmd, w.waitAddr(relayLog, starts)
	}
	cmd, addr := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	if !strings.Contains(relayLog(), "postgres database") {
		t.Fatalf("the relay does not run on PostgreSQL:\n%s", relayLog())
	}
	code, r, msg := w.request(t, addr, "", ctlToken)
	if code != 0 {
		t.Fatalf("request exit %d: %s", code, msg)
	}
	id, input := r["requestId"].(string), r["inputId"].(string)
	for i, u := range []string{"U02BOB", "U03CAROL"} {
		if c := deliverInteraction(t, addr, clickBody(u, id, fmt.Sprintf("9.%d", i)), 0); c != 200 {
			t.Fatalf("ack %d\n%s", c, relayLog())
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		cmd, addr = start()
	}
	w.jenkins.Arm("/job/payments/7", jenkinsfake.Input{ID: input, Submitter: relayUser, Params: []string{"decision", "approvers", "approverNames", "requestId", "decisionRecord"}})
	// A replica killed while it held the outbox lease delays the delivery by up to the 10 s lease.
	sub := w.waitDelivered(t, addr, input, relayLog)
	if sub.Params["decision"] != "approved" || sub.Params["approvers"] != "U02BOB,U03CAROL" {
		t.Fatalf("submission %+v", sub.Params)
	}
}
