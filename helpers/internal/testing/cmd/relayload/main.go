// Command relayload (benchmark mode, run by test/bench/relay.bench.sh) measures the approval relay on loopback: verified clicks per second, ack latency and
// click-to-Jenkins latency against the in-process Jenkins stand-in. Request count and duration are bounded.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/token"
)

const (
	signingSecret = "bench-signing-secret"
	jUser, jToken = "ci-bot", "bench-token"
)

var buttonKey = []byte("bench-button-secret-0123456789abcdef")

func main() {
	n := flag.Int("n", 10000, "requests per case (bounded)")
	rate := flag.Int("rate", 2000, "open-loop request rate per second for the paced case")
	conc := flag.Int("c", 32, "concurrency of the closed-loop case")
	maxDur := flag.Duration("max-duration", 30*time.Second, "stop a case after this long")
	rbacPath := flag.String("rbac", "resources/rbac.example.yaml", "rbac.yaml")
	workers := flag.Int("workers", 8, "relay workers")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *n > 200000 || *maxDur > 5*time.Minute {
		log.Fatal("relayload: keep -n ≤ 200000 and -max-duration ≤ 5m")
	}
	cfg, err := rbac.Load(*rbacPath)
	if err != nil {
		log.Fatal(err)
	}
	rows := [][]string{}
	paced := runCase(cfg, *workers, *n, *rate, 64, *maxDur)
	rows = append(rows,
		[]string{fmt.Sprintf("verified clicks/s, paced at %d/s", *rate), fmt.Sprintf("%.0f", paced.rps), "-", "-", fmt.Sprintf("≥%d", min(*rate, 2000))},
		[]string{fmt.Sprintf("ack p99 at %d/s", *rate), ms(paced.ackP99), "-", "-", "≤20 ms"},
		[]string{fmt.Sprintf("ack p50 at %d/s", *rate), ms(paced.ackP50), "-", "-", "-"},
		[]string{fmt.Sprintf("click → Jenkins p99 at %d/s", *rate), ms(paced.jenP99), "-", "-", "≤100 ms"},
		[]string{"accepted / Jenkins answered / errors", fmt.Sprintf("%d / %d / %d", paced.accepted, paced.jenkins, paced.errors), "-", "-", fmt.Sprintf("%d / %d / 0", *n, *n)},
		[]string{"CPU per click, whole loop (generator + relay + stand-in + sink)", fmt.Sprintf("%.0f µs", paced.cpuPerClick.Seconds()*1e6), "-", "-", "-"},
	)
	open := runCase(cfg, *workers, *n, 0, *conc, *maxDur)
	rows = append(rows,
		[]string{fmt.Sprintf("max verified clicks/s, closed loop c=%d", *conc), fmt.Sprintf("%.0f", open.rps), "-", "-", "-"},
		[]string{fmt.Sprintf("ack p99, closed loop c=%d", *conc), ms(open.ackP99), "-", "-", "-"},
		[]string{fmt.Sprintf("click → Jenkins p99, closed loop c=%d", *conc), ms(open.jenP99), "-", "-", "-"},
	)
	fmt.Println("| case | ours | peer | ratio | target |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s |\n", strings.Join(r, " | "))
	}
	if paced.errors > 0 || paced.accepted != int64(*n) {
		fmt.Fprintf(os.Stderr, "relayload: outcomes %v\n", paced.outcomes)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type stats struct {
	rps                       float64
	ackP50, ackP99, jenP99    time.Duration
	accepted, jenkins, errors int64
	outcomes                  map[string]uint64
	cpuPerClick               time.Duration
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func listen(h http.Handler) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}

func transport(conns int) *http.Transport {
	return &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns, IdleConnTimeout: 30 * time.Second}
}

// runCase sends n signed clicks, paced at rate/s (0: closed loop with conc senders).
func runCase(cfg *rbac.Config, workers, n, rate, conc int, maxDur time.Duration) stats {
	si := jenkins.NewStandIn(jUser, jToken)
	si.AutoInputs = true
	sent := make([]atomic.Int64, n) // unix nanos at intended send time
	jenLat := make([]time.Duration, n)
	var jenCount atomic.Int64
	si.OnDecision = func(s jenkins.Submission) {
		i, _ := strconv.Atoi(s.Build[strings.LastIndexByte(s.Build, '/')+1:])
		if i >= 0 && i < n {
			jenLat[i] = time.Duration(s.At.UnixNano() - sent[i].Load())
			jenCount.Add(1)
		}
	}
	jURL, stopJ := listen(si)
	defer stopJ()
	sinkURL, stopSink := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer stopSink()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: transport(workers)}
	dir, _ := os.MkdirTemp("", "relayload")
	defer os.RemoveAll(dir)
	af, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	defer af.Close()
	r, err := relay.New(relay.Config{SigningSecret: signingSecret, ButtonKey: buttonKey, RBAC: cfg,
		Jenkins: &jenkins.Client{User: jUser, Token: jToken, HTTP: hc}, Responder: &rgslack.Responder{HTTP: hc},
		Audit: af, Workers: workers, Queue: 4096, JenkinsURL: jURL})
	if err != nil {
		log.Fatal(err)
	}
	rURL, stopR := listen(r.Handler())
	defer stopR()

	// Pre-build signed requests so the generator measures the relay, not itself.
	bodies := make([]string, n)
	users := []string{"U02BOB", "U03CAROL"}
	exp := time.Now().Add(time.Hour).Unix()
	for i := range bodies {
		tok, err := token.Sign(buttonKey, token.Claims{BuildURL: fmt.Sprintf("%s/job/payments/%d/", jURL, i), InputID: "approve-prod", TraceID: "rg-bench", Service: "payments", Environment: "prod", Branch: "main", Requester: "U01ALICE", Decision: token.DecisionApprove, Expires: exp})
		if err != nil {
			log.Fatal(err)
		}
		p, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": users[i%2]}, "team": map[string]any{"id": "T1"},
			"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1700000000.000100"}, "response_url": sinkURL + "/r",
			"actions": []map[string]any{{"type": "button", "block_id": rgslack.BlockActions, "action_id": rgslack.ActionApprove, "value": tok, "action_ts": fmt.Sprintf("1700000000.%06d", i)}}})
		bodies[i] = url.Values{"payload": {string(p)}}.Encode()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport(max(conc, 64))}
	acks := make([]time.Duration, n)
	var errs atomic.Int64
	send := func(i int) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		m := hmac.New(sha256.New, []byte(signingSecret))
		fmt.Fprintf(m, "v0:%s:%s", ts, bodies[i])
		req, _ := http.NewRequest(http.MethodPost, rURL+"/slack/interactions", strings.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
		resp, err := client.Do(req)
		if err != nil {
			errs.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		acks[i] = time.Duration(time.Now().UnixNano() - sent[i].Load())
		if resp.StatusCode != http.StatusOK {
			errs.Add(1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	next := make(chan int, 1024)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if rate == 0 {
					sent[i].Store(time.Now().UnixNano())
				}
				send(i)
			}
		}()
	}
	cpu0 := cpuTime()
	start := time.Now()
	issued := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if rate > 0 {
			// Latency counts from the scheduled time, so a stalled relay cannot hide queueing.
			at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			sent[i].Store(at.UnixNano())
		}
		next <- i
		issued++
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	deadline := time.Now().Add(10 * time.Second)
	for jenCount.Load() < int64(issued) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.Close()
	cpu := cpuTime() - cpu0
	st := stats{cpuPerClick: cpu / time.Duration(max(issued, 1)), rps: float64(issued) / elapsed.Seconds(), accepted: int64(r.Metrics().Requests(relay.OutcomeAccepted)), jenkins: jenCount.Load(), errors: errs.Load()}
	st.outcomes = map[string]uint64{}
	for _, o := range []string{relay.OutcomeAccepted, relay.OutcomeOverloaded, relay.OutcomeReplayed, relay.OutcomeDenied, relay.OutcomeStale, relay.OutcomeForged} {
		st.outcomes[o] = r.Metrics().Requests(o)
	}
	st.outcomes["client_errors"] = uint64(errs.Load())
	st.ackP50, st.ackP99 = pct(acks[:issued], 0.50), pct(acks[:issued], 0.99)
	st.jenP99 = pct(jenLat[:issued], 0.99)
	return st
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
