package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// DefaultHealthURL is where the smoke test looks unless told otherwise.
const DefaultHealthURL = "http://127.0.0.1:8080/healthz"

// tailKeep is how many lines of service output a failure carries.
const tailKeep = 50

// SmokeOptions configures the health smoke test.
type SmokeOptions struct {
	Command    string        // service binary; a relative path is taken from the helper's directory, a bare name from PATH
	Args       []string      // its arguments
	Env        []string      // KEY=VALUE added to the helper's environment
	Workdir    string        // its working directory; default the helper's
	URL        string        // health URL on this machine; default DefaultHealthURL
	TryTimeout time.Duration // per request; default 3s
	Deadline   time.Duration // overall; default 60s
	Grace      time.Duration // between SIGTERM and SIGKILL when stopping; default 5s
	ExpectBody any           // when non-nil, the JSON body must contain it (objects: a superset)
	Log        *log.Logger

	// Spell names the options in errors as the caller's user writes them; nil: helper flags.
	Spell vocab.Spelling
}

// Smoke starts the service in its own process group, polls its health URL until a 2xx answer (and the expected
// body) or the deadline, and always stops the whole group (SIGTERM, then SIGKILL after the grace period),
// also when ctx is cancelled. As a child subreaper it then kills and reaps whatever the service daemonized
// out of its group (a warning item names them). A service that exits, or never answers before the deadline, is a rejection:
// the gate started it itself, so the fault is the service's.
func Smoke(ctx context.Context, opts SmokeOptions) *Outcome {
	start := time.Now()
	o := &Outcome{Check: CheckSmoke}
	o.Err = smoke(ctx, opts, o)
	o.Duration = time.Since(start)
	return o
}

func (opts *SmokeOptions) defaults() {
	if opts.URL == "" {
		opts.URL = DefaultHealthURL
	}
	if opts.TryTimeout <= 0 {
		opts.TryTimeout = 3 * time.Second
	}
	if opts.Deadline <= 0 {
		opts.Deadline = 60 * time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
}

// ValidateSmoke checks the options that need no process: command, env entries, URL and port.
func ValidateSmoke(opts SmokeOptions) (host, port string, err error) {
	opts.defaults()
	if strings.TrimSpace(opts.Command) == "" {
		return "", "", result.Errorf(result.ClassInput, "smoke: no service command: set %s to the binary the build produced", vocab.Say(opts.Spell, OptCmd, nil))
	}
	for _, kv := range opts.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return "", "", result.Errorf(result.ClassInput, "smoke: env entry %q: want KEY=VALUE (%s)", redactEnv(kv), vocab.Say(opts.Spell, OptEnv, nil))
		}
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", result.Errorf(result.ClassInput, "smoke: %s: want http(s)://127.0.0.1:PORT/path", vocab.Say(opts.Spell, OptURL, opts.URL))
	}
	host, port = u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return host, port, nil
}

func smoke(ctx context.Context, opts SmokeOptions, o *Outcome) error {
	opts.defaults()
	lg := logger(opts.Log)
	host, port, err := ValidateSmoke(opts)
	if err != nil {
		return err
	}
	o.set("url", opts.URL)
	o.set("command", opts.Command)
	if err := portFree(host, port, opts.Spell); err != nil {
		return err
	}

	// A relative command path names a file from the helper's directory, not from Workdir.
	command := opts.Command
	if strings.ContainsRune(command, filepath.Separator) && !filepath.IsAbs(command) {
		if abs, err := filepath.Abs(command); err == nil {
			command = abs
		}
	}
	tail := newTailBuffer(tailKeep)
	cmd := exec.Command(command, opts.Args...)
	cmd.Dir = opts.Workdir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return result.Errorf(result.ClassInternal, "smoke: creating output pipe: %v", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	// Before the start, so that the service's orphans (a daemon's setsid and double fork) reparent to the gate.
	if err := becomeSubreaper(); err != nil {
		lg.Printf("smoke: warning: cannot become a child subreaper (%v): processes the service daemonizes may outlive the gate", err)
		o.set("subreaper", false)
	} else {
		o.set("subreaper", true)
	}
	if err := startOwn(cmd); err != nil {
		pr.Close()
		pw.Close()
		return result.Errorf(result.ClassInput, "smoke: cannot start %s: %v (%s)", opts.Command, pathErr(err), vocab.Say(opts.Spell, OptCmd, nil))
	}
	pw.Close()
	pgid := cmd.Process.Pid
	o.set("pid", pgid)
	lg.Printf("smoke: started %s (pid %d, own process group), polling %s", opts.Command, pgid, opts.URL)
	readDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(tail, pr)
		pr.Close()
		close(readDone)
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		doneOwn(cmd)
		close(exited)
	}()
	failed := false
	defer func() {
		stopGroup(pgid, exited, opts.Grace, lg)
		if orphans := reapOrphans(opts.Grace, lg); len(orphans) > 0 {
			o.set("orphans", orphans)
			o.add(orphanWarning(orphans))
		}
		select { // a descendant may keep the pipe open a little after the group is gone
		case <-readDone:
		case <-time.After(time.Second):
		}
		if failed {
			o.set("output_tail", tail.String())
		}
	}()

	withTail := func(err error) error {
		failed = true
		return err
	}

	client := &http.Client{Timeout: opts.TryTimeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.NewTimer(opts.Deadline)
	defer deadline.Stop()
	wait := 100 * time.Millisecond
	var last string
	attempts := 0
	for {
		attempts++
		o.set("attempts", attempts)
		code, body, err := probe(ctx, client, opts.URL)
		switch {
		case err != nil:
			last = err.Error()
		case code < 200 || code > 299:
			last = fmt.Sprintf("HTTP %d: %s", code, snippet(body))
		default:
			if mismatch := bodyMismatch(opts.ExpectBody, body); mismatch != "" {
				last = fmt.Sprintf("HTTP %d but the body %s", code, mismatch)
			} else {
				o.set("status_code", code)
				o.set("body", snippet(body))
				lg.Printf("smoke: %s answered HTTP %d after %d attempt(s)", opts.URL, code, attempts)
				return nil
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return withTail(result.Errorf(result.ClassUnavailable, "smoke: interrupted while waiting for %s: %v", opts.URL, ctx.Err()))
		case <-exited:
			t.Stop()
			o.set("exit", exitText(waitErr))
			return withTail(result.Errorf(result.ClassRejected, "smoke: %s exited (%s) before %s answered: see output_tail in the result", opts.Command, exitText(waitErr), opts.URL))
		case <-deadline.C:
			t.Stop()
			o.set("last_error", last)
			return withTail(result.Errorf(result.ClassRejected, "smoke: no healthy answer from %s within %s (last: %s): see output_tail in the result, or give it longer (%s)", opts.URL, opts.Deadline, last, vocab.Say(opts.Spell, OptDeadline, nil)))
		case <-t.C:
		}
		if wait = wait * 3 / 2; wait > time.Second {
			wait = time.Second
		}
	}
}

// orphanWarning reports the processes that left the service's process group and had to be stopped one by one.
func orphanWarning(orphans []Orphan) result.Item {
	names := make([]string, 0, len(orphans))
	for _, o := range orphans {
		names = append(names, fmt.Sprintf("%d (%s)", o.PID, o.Command))
	}
	return result.Item{Name: "escaped processes", Kind: "warning", Status: result.StatusPassed,
		Message: fmt.Sprintf("warning: the service daemonized %d process(es) out of its process group; the gate killed and reaped them: %s",
			len(orphans), strings.Join(names, ", ")),
		Details: map[string]any{"warning": true, "orphans": orphans}}
}

// portFree refuses to start when something already listens on the health port: the probe would hit it instead.
func portFree(host, port string, sp vocab.Spelling) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return result.Errorf(result.ClassInput, "smoke: port %s on %s is already in use: stop what listens there or point %s at a free port", port, host, vocab.Say(sp, OptURL, nil))
		}
		return result.Errorf(result.ClassInput, "smoke: cannot use %s:%s (%v): %s must name this machine, e.g. 127.0.0.1", host, port, pathErr(err), vocab.Say(sp, OptURL, nil))
	}
	return ln.Close()
}

func probe(ctx context.Context, client *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// bodyMismatch returns "" when body is JSON containing want, else what is wrong.
func bodyMismatch(want any, body []byte) string {
	if want == nil {
		return ""
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		return "is not JSON: " + snippet(body)
	}
	if !contains(got, want) {
		b, _ := json.Marshal(want)
		return fmt.Sprintf("%s does not contain %s", snippet(body), b)
	}
	return ""
}

// contains reports whether got is a superset of want: objects by key, arrays element by element, scalars equal.
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !contains(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}

// stopGroup sends SIGTERM to the group, waits up to grace for it to go, then sends SIGKILL.
func stopGroup(pgid int, exited <-chan struct{}, grace time.Duration, lg *log.Logger) {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		lg.Printf("smoke: SIGTERM to process group %d: %v", pgid, err)
	}
	end := time.Now().Add(grace)
	select {
	case <-exited:
	case <-time.After(grace):
	}
	for time.Now().Before(end) && groupAlive(pgid) {
		time.Sleep(20 * time.Millisecond)
	}
	if groupAlive(pgid) {
		lg.Printf("smoke: process group %d still running after %s: SIGKILL", pgid, grace)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	<-exited
}

// groupAlive reports whether any process of the group is still running (zombies do not count).
func groupAlive(pgid int) bool {
	return len(GroupMembers(pgid)) > 0
}

// GroupMembers lists the live (non-zombie) processes in a process group, from /proc.
func GroupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		// No /proc: fall back to asking the kernel whether the group exists.
		if syscall.Kill(-pgid, 0) == nil {
			return []int{pgid}
		}
		return nil
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces, so parse after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		var state string
		var ppid, pgrp int
		if _, err := fmt.Sscanf(string(b[i+1:]), " %s %d %d", &state, &ppid, &pgrp); err != nil {
			continue
		}
		if pgrp == pgid && state != "Z" && state != "X" {
			pids = append(pids, pid)
		}
	}
	return pids
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// redactEnv keeps the key of an env entry and hides its value.
func redactEnv(kv string) string {
	if k, _, ok := strings.Cut(kv, "="); ok {
		return k + "=***"
	}
	if len(kv) > 20 {
		return kv[:20] + "..."
	}
	return kv
}

// tailBuffer keeps the last n lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  []byte
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := append(t.part, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(data[:i]))
		data = data[i+1:]
	}
	if len(t.lines) > t.n {
		t.lines = append([]string(nil), t.lines[len(t.lines)-t.n:]...)
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	t.part = append([]byte(nil), data...)
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.part) > 0 {
		lines = append(append([]string(nil), lines...), string(t.part))
	}
	if len(lines) > t.n {
		lines = lines[len(lines)-t.n:]
	}
	return strings.Join(lines, "\n")
}
