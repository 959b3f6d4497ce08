// Command relaybench loads real `slack-approval relay` processes with paced, signed clicks against the Jenkins
// fake, and prints bench table rows: ack p99, click→delivered p99, duplicate submissions, lost approvals.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/pgtest"
	"github.com/release-gates/release-gates/helpers/internal/testing/slackfake"
)

const (
	secret  = "bench-signing-secret"
	ctlTok  = "bench-controller-credential"
	jToken  = "bench-jenkins-token"
	botTok  = "xoxb-bench"
	relayAc = "slack-relay"
)

type req struct {
	id, input, build string
	acked            [2]time.Time // when each click was sent (acked ones only)
	ackedBy          [2]bool
}

func main() {
	bin := flag.String("bin", "bin/slack-approval", "the slack-approval binary")
	db := flag.String("db", "sqlite", "sqlite, sqlite-normal (synchronous=normal) or postgres (a throwaway cluster from Debian's package)")
	replicas := flag.Int("replicas", 1, "relay processes sharing the database")
	n := flag.Int("requests", 1000, "approval requests; each gets two clicks")
	rate := flag.Int("rate", 2000, "clicks per second")
	kill := flag.Bool("kill", false, "SIGKILL replica 0 half-way through the clicks")
	rbac := flag.String("rbac", "resources/rbac.example.yaml", "rbac.yaml")
	label := flag.String("case", "", "row label")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write replica 0's CPU profile (whole run) here")
	flag.StringVar(&profileDir, "profile", "", "write replica 0's CPU, block and mutex profiles of the paced phase to this directory")
	flag.Parse()
	if err := run(*bin, *db, *replicas, *n, *rate, *kill, *rbac, *label); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

var cpuProfile, profileDir string

func freePort() int {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func run(bin, db string, replicas, n, rate int, kill bool, rbacPath, label string) error {
	dir, err := os.MkdirTemp("", "relaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dsnLine := "database: sqlite:" + filepath.Join(dir, "relay.db")
	if db == "sqlite-normal" {
		dsnLine += "?synchronous=normal" // no fsync at commit: durable against a killed process, not a power loss
	}
	env := append(os.Environ(), "SLACK_BOT_TOKEN="+botTok, "SLACK_SIGNING_SECRET="+secret, "RG_JENKINS_TOKEN="+jToken, "RELEASE_GATES_STATE_DIR="+dir)
	if db == "postgres" {
		pgtest.Fsync = true // durable commits, as in production
		pg, err := pgtest.Start()
		if err != nil {
			return err
		}
		defer pg.Stop()
		pgDir = pg.Dir
		dsnLine = "databaseURL: {env: RG_RELAY_DATABASE_URL}"
		env = append(env, "RG_RELAY_DATABASE_URL="+pg.URL("postgres"))
	}
	fake := jenkinsfake.New(relayAc, jToken)
	js := httptest.NewServer(fake)
	defer js.Close()
	sf := slackfake.New(botTok, "C0DEPLOY")
	slack := sf.Start()
	defer slack.Close()
	key := filepath.Join(dir, "decision.pem")
	if out, err := exec.Command(bin, "keygen", "--out", key, "--public-out", key+".pub", "--result-file", filepath.Join(dir, "k.json")).CombinedOutput(); err != nil {
		return fmt.Errorf("keygen: %v %s", err, out)
	}
	sum := sha256.Sum256([]byte(ctlTok))
	addrs := make([]string, replicas)
	procs := make([]*exec.Cmd, replicas)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", freePort())
		cfg := fmt.Sprintf("listen: %s\nmode: http\n%s\nrbac: %s\naudit: %s\ndecisionKey: %s\nreplica: r%d\nslack:\n  apiURL: %s\n  botToken: {env: SLACK_BOT_TOKEN}\n  signingSecret: {env: SLACK_SIGNING_SECRET}\ncontrollers:\n  - {name: ci, url: '%s/', user: %s, apiToken: {env: RG_JENKINS_TOKEN}, credentialSHA256: %s}\n",
			addrs[i], dsnLine, rbacPath, filepath.Join(dir, fmt.Sprintf("audit%d.jsonl", i)), key, i, sf.APIURL(), js.URL, relayAc, hex.EncodeToString(sum[:]))
		p := filepath.Join(dir, fmt.Sprintf("relay%d.yaml", i))
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			return err
		}
		cmd := exec.Command(bin, "relay", "--config", p, "--result-file", filepath.Join(dir, fmt.Sprintf("r%d.json", i)))
		cmd.Env = env
		if i == 0 && cpuProfile != "" {
			cmd.Env = append(append([]string(nil), env...), "RG_RELAY_CPUPROFILE="+cpuProfile)
		}
		if i == 0 && profileDir != "" {
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
			cmd.Env = append(append([]string(nil), cmd.Env...), "RG_RELAY_PPROF="+pprofAddr)
		}
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("relay%d.log", i)))
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			return err
		}
		procs[i] = cmd
		defer func(c *exec.Cmd) { _ = c.Process.Signal(syscall.SIGTERM); _ = c.Wait() }(cmd)
		if err := waitReady(addrs[i]); err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("relay%d.log", i)))
			return fmt.Errorf("%v: %s", err, b)
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}
	reqs := make([]*req, n)
	for i := range reqs {
		build := fmt.Sprintf("/job/payments/%d", i+1)
		fake.StartBuild(build, "alice")
		body, _ := json.Marshal(map[string]any{"buildUrl": js.URL + build + "/", "service": "payments", "environment": "prod", "version": "1.0.0",
			"commit": "0123456789abcdef0123", "branch": "main", "channel": "C0DEPLOY"})
		hr, _ := http.NewRequest(http.MethodPost, "http://"+addrs[i%replicas]+"/v1/approvals", bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+ctlTok)
		resp, err := hc.Do(hr)
		if err != nil {
			return err
		}
		var out struct {
			RequestID, InputID string
			InputParams        []string
			Error              string
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("request %d: HTTP %d: %s", i, resp.StatusCode, out.Error)
		}
		fake.Arm(build, jenkinsfake.Input{ID: out.InputID, Submitter: relayAc, Params: out.InputParams})
		reqs[i] = &req{id: out.RequestID, input: out.InputID, build: build}
	}
	total := 2 * n
	// Every click body is built and signed before the paced phase, so the generator's own cost while pacing is
	// the HTTP exchange only (it shares the CPUs with the relays and the fakes).
	bodies := make([]signed, total)
	for k := range bodies {
		r := reqs[k%n]
		bodies[k] = signClick([]string{"U02BOB", "U03CAROL"}[k/n], r.id, fmt.Sprintf("%d.%06d", 1700000000+k, k))
	}
	var profWG sync.WaitGroup
	if pprofAddr != "" {
		secs := total/rate + 2
		for _, kind := range []string{"profile", "block", "mutex"} {
			profWG.Add(1)
			go func() {
				defer profWG.Done()
				fetchProfile(pprofAddr, kind, secs, filepath.Join(profileDir, kind+".pprof"))
			}()
		}
	}
	cpu0 := make([]time.Duration, len(procs)) // each relay's CPU before the clicks: setup is not counted
	for i, p := range procs {
		cpu0[i] = procCPU(p.Process.Pid)
	}
	self0, pg0 := selfCPU(), pgCPU()
	if profileDir != "" { // the generator's own profile, fakes included
		if f, err := os.Create(filepath.Join(profileDir, "relaybench.pprof")); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	var mu sync.Mutex
	var acks []time.Duration
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	dead := make([]bool, replicas)
	for k := 0; k < total; k++ {
		if kill && k == total/2 {
			_ = procs[0].Process.Signal(syscall.SIGKILL)
			mu.Lock()
			dead[0] = true
			mu.Unlock()
		}
		time.Sleep(time.Until(start.Add(time.Duration(k) * interval)))
		r, which := reqs[k%n], k/n // first all first clicks, then all second clicks
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			sent := time.Now()
			for attempt := 0; attempt < replicas+2; attempt++ {
				target := (k + attempt) % replicas
				mu.Lock()
				skip := dead[target] && replicas > 1
				mu.Unlock()
				if skip {
					continue
				}
				if clickOnce(hc, addrs[target], bodies[k]) {
					mu.Lock()
					acks = append(acks, time.Since(sent))
					r.acked[which], r.ackedBy[which] = sent, true
					mu.Unlock()
					return
				}
			}
		}(k)
	}
	wg.Wait()
	sendDur := time.Since(start)
	// Wait for the decisions to reach Jenkins (bounded).
	deadline := time.Now().Add(60 * time.Second)
	want := 0
	for _, r := range reqs {
		if r.ackedBy[0] && r.ackedBy[1] {
			want++
		}
	}
	for time.Now().Before(deadline) && len(fake.Submissions()) < want {
		time.Sleep(50 * time.Millisecond)
	}
	subs := fake.Submissions()
	byInput := map[string][]jenkinsfake.Submission{}
	for _, s := range subs {
		byInput[s.InputID] = append(byInput[s.InputID], s)
	}
	var delivered []time.Duration
	lost, dup := 0, fake.NotPendingPosts()
	for _, r := range reqs {
		s := byInput[jenkinsfake.Capitalize(r.input)]
		if len(s) > 1 {
			dup += len(s) - 1
		}
		if !(r.ackedBy[0] && r.ackedBy[1]) {
			continue
		}
		if len(s) == 0 || !strings.Contains(s[0].Params["approvers"], "U02BOB") || !strings.Contains(s[0].Params["approvers"], "U03CAROL") {
			lost++
			continue
		}
		last := r.acked[0]
		if r.acked[1].After(last) {
			last = r.acked[1]
		}
		delivered = append(delivered, max(s[0].At.Sub(last), 0))
	}
	self, pgUsed := selfCPU()-self0, pgCPU()-pg0
	ackedN := len(acks)
	var live []string
	for i, a := range addrs {
		if !dead[i] {
			live = append(live, a)
		}
	}
	srvAck := serverP99(hc, live, "rg_relay_ack_seconds")
	var cpu time.Duration // the live relays' CPU during the clicks (a killed replica's share is not known)
	for i, p := range procs {
		if !dead[i] {
			cpu += procCPU(p.Process.Pid) - cpu0[i]
		}
	}
	updates := len(sf.Calls("chat.update"))
	profWG.Wait()
	fmt.Printf("| %s ack p99 (%d clicks at %d/s, sent in %s; inside the relay p99 ≤ %s) | %s | - | - | ≤ 20 ms: %s |\n", label, ackedN, rate,
		sendDur.Round(time.Millisecond), srvAck, ms(pct(acks, 99)), verdict(pct(acks, 99), 20*time.Millisecond))
	fmt.Printf("| %s Slack chat.update calls for %d requests (coalesced redraws) | %d | - | - | - |\n", label, n, updates)
	fmt.Printf("| %s relay CPU (user+system) per click, clicks to deliveries (live relays) | %s | - | - | - |\n", label, ms2(cpu/time.Duration(max(total, 1))))
	fmt.Printf("| %s load generator + Jenkins and Slack fakes CPU per click (same CPUs) | %s | - | - | - |\n", label, ms2(self/time.Duration(max(total, 1))))
	if pgDir != "" {
		fmt.Printf("| %s PostgreSQL server CPU per click (same CPUs) | %s | - | - | - |\n", label, ms2(pgUsed/time.Duration(max(total, 1))))
	}
	fmt.Printf("| %s click→delivered p99 (%d decisions) | %s | - | - | ≤ 100 ms: %s |\n", label, len(delivered), ms(pct(delivered, 99)),
		verdict(pct(delivered, 99), 100*time.Millisecond))
	fmt.Printf("| %s duplicate submissions / lost acknowledged approvals | %d / %d | - | - | 0 / 0: %s |\n", label, dup, lost,
		map[bool]string{true: "met", false: "MISSED"}[dup == 0 && lost == 0])
	return nil
}

// procCPU is the user+system CPU time a live process has used so far (from /proc/PID/stat).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// childrenCPU is the CPU time of a process's exited and waited-for children (cutime+cstime).
func childrenCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 15 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[13], 10, 64)
	st, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

// serverP99 reads a histogram from the relays' /metrics and returns the bucket bound holding the 99th percentile:
// the relay's own time, without the client's and the host's queueing.
func serverP99(hc *http.Client, addrs []string, name string) string {
	counts := map[string]float64{}
	var bounds []string
	for _, a := range addrs {
		resp, err := hc.Get("http://" + a + "/metrics")
		if err != nil {
			return "?"
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, name+`_bucket{le="`)
			if !ok {
				continue
			}
			le, v, _ := strings.Cut(rest, `"} `)
			f, _ := strconv.ParseFloat(v, 64)
			if _, seen := counts[le]; !seen {
				bounds = append(bounds, le)
			}
			counts[le] += f
		}
	}
	total := counts["+Inf"]
	for _, le := range bounds {
		if total > 0 && counts[le] >= 0.99*total {
			if f, err := strconv.ParseFloat(le, 64); err == nil {
				return ms(time.Duration(f * float64(time.Second)))
			}
			return le
		}
	}
	return "?"
}

// signed is one click's form body and its Slack signature headers.
type signed struct{ body, ts, sig string }

// signClick builds and signs a click exactly as Slack does (v0:<ts>:<body>, HMAC-SHA256).
func signClick(user, id, actionTS string) signed {
	p, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user}, "team": map[string]any{"id": "T1"},
		"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1"},
		"actions": []map[string]any{{"type": "button", "block_id": "rg_decision", "action_id": "rg_approve", "value": id, "action_ts": actionTS}}})
	body := url.Values{"payload": {string(p)}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	return signed{body: body, ts: ts, sig: "v0=" + hex.EncodeToString(m.Sum(nil))}
}

func clickOnce(hc *http.Client, addr string, c signed) bool {
	hr, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/interactions", strings.NewReader(c.body))
	hr.Header.Set("X-Slack-Request-Timestamp", c.ts)
	hr.Header.Set("X-Slack-Signature", c.sig)
	resp, err := hc.Do(hr)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var pprofAddr, pgDir string

// pgCPU is the CPU time the bench's PostgreSQL (its postmaster and every backend it forked) used so far.
func pgCPU() time.Duration {
	if pgDir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(pgDir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	total := procCPU(pm) + childrenCPU(pm) // backends that exited count through the postmaster's cutime and cstime
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(st), ')')
		if f := strings.Fields(string(st)[i+1:]); len(f) > 2 && f[1] == strconv.Itoa(pm) {
			total += procCPU(pid)
		}
	}
	return total
}

// fetchProfile saves a profile of the next secs seconds from the relay's pprof endpoint.
func fetchProfile(addr, kind string, secs int, out string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, secs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "relaybench: profile:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "relaybench: profile %s: HTTP %d: %s\n", kind, resp.StatusCode, b)
		return
	}
	_ = os.WriteFile(out, b, 0o644)
}

// selfCPU is this process's user+system CPU time so far: the generator and the in-process fakes.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func waitReady(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("relay on %s not ready", addr)
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// ms2 prints a per-click cost to 10 µs.
func ms2(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func verdict(v, limit time.Duration) string {
	if v <= limit {
		return "met"
	}
	return "MISSED"
}
