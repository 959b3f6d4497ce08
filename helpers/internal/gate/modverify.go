package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// ModOptions configures the module-graph check.
type ModOptions struct {
	Dir string      // module root; must hold go.mod
	Go  string      // go command; default "go" from PATH
	Env []string    // extra KEY=VALUE entries on top of the process environment
	Log *log.Logger // progress lines; discarded when nil

	// Spell names the options in errors as the caller's user writes them; nil: helper flags.
	Spell vocab.Spelling
}

// goEnvKeys are the settings recorded in the result and judged by the policy.
var goEnvKeys = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS", "GOVERSION"}

// ModVerify checks the module graph: go.mod and go.sum present, go mod verify, go mod tidy -e -diff clean,
// -mod=readonly in force, checksum database on, a module proxy set. It runs every check and reports all findings;
// errors tidy could work around (e.g. a broken test-only import upstream) are a warning item, only a diff fails.
func ModVerify(ctx context.Context, opts ModOptions) *Outcome {
	start := time.Now()
	o := &Outcome{Check: CheckModVerify}
	o.Err = modVerify(ctx, opts, o)
	o.Duration = time.Since(start)
	return o
}

func modVerify(ctx context.Context, opts ModOptions, o *Outcome) error {
	lg := logger(opts.Log)
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	goBin := opts.Go
	if goBin == "" {
		goBin = "go"
	}
	o.set("dir", dir)
	if st, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil || st.IsDir() {
		err := result.Errorf(result.ClassInput, "no go.mod in %s: run the gate in the module root or fix %s", dir, vocab.Say(opts.Spell, OptDir, dir))
		o.add(result.Item{Name: "go.mod", Kind: "file", FailureClass: result.ClassInput, Message: err.Error()})
		return err
	}
	o.add(result.Item{Name: "go.mod", Kind: "file", Status: result.StatusPassed})
	baseEnv := append(os.Environ(), opts.Env...)

	// The settings in force, as the go command sees them.
	envOut, err := runGo(ctx, goBin, dir, baseEnv, append([]string{"env", "-json"}, goEnvKeys...)...)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return result.Errorf(result.ClassConfig, "go command %q not found: put Go on PATH on the agent", goBin)
		}
		return result.Errorf(result.ClassInput, "go env in %s failed: %s", dir, oneLine(envOut, err))
	}
	goEnv := map[string]string{}
	if err := json.Unmarshal([]byte(envOut), &goEnv); err != nil {
		return result.Errorf(result.ClassInternal, "reading go env -json output: %v", err)
	}
	o.set("go_env", goEnv)

	var failures []string
	fail := func(it result.Item) {
		o.add(it)
		failures = append(failures, it.Name+": "+it.Message)
	}
	classes := []result.Class{}
	check := func(it result.Item) {
		if it.FailureClass != "" {
			classes = append(classes, it.FailureClass)
			fail(it)
			return
		}
		o.add(it)
	}

	check(goflagsItem(goEnv["GOFLAGS"]))
	check(gosumdbItem(goEnv["GOSUMDB"], goEnv["GONOSUMDB"], goEnv["GOPRIVATE"]))
	proxy := goproxyItem(goEnv["GOPROXY"])
	if w, ok := proxy.Details["warning"]; ok {
		lg.Printf("modverify: warning: %s", w)
	}
	check(proxy)

	if st, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil || st.IsDir() {
		check(result.Item{Name: "go.sum", Kind: "file", FailureClass: result.ClassRejected, Message: "go.sum is missing: run go mod tidy and commit go.sum (an empty go.sum is fine for a module without dependencies)"})
	} else {
		check(result.Item{Name: "go.sum", Kind: "file", Status: result.StatusPassed})
	}

	// The go commands run with -mod=readonly whatever GOFLAGS says.
	runEnv := append(baseEnv, "GOFLAGS="+readonlyGoflags(goEnv["GOFLAGS"]))

	lg.Printf("modverify: go mod verify in %s", dir)
	t0 := time.Now()
	out, err := runGo(ctx, goBin, dir, runEnv, "mod", "verify")
	it := result.Item{Name: "go mod verify", Kind: "command", DurationMS: time.Since(t0).Milliseconds(), Details: map[string]any{"output": tailLines(out, 50)}}
	if err != nil {
		if ctx.Err() != nil {
			return result.Errorf(result.ClassUnavailable, "interrupted during go mod verify: %v", ctx.Err())
		}
		it.FailureClass = commandClass(out)
		it.Message = "go mod verify failed: " + lastMeaningful(out, err)
	}
	check(it)

	lg.Printf("modverify: go mod tidy -e -diff in %s", dir)
	t0 = time.Now()
	diff, errOut, err := runGoSplit(ctx, goBin, dir, runEnv, "mod", "tidy", "-e", "-diff")
	if err != nil && ctx.Err() != nil {
		return result.Errorf(result.ClassUnavailable, "interrupted during go mod tidy -e -diff: %v", ctx.Err())
	}
	tidy, warn := tidyItems(diff, errOut, err)
	tidy.DurationMS = time.Since(t0).Milliseconds()
	if warn != nil {
		lg.Printf("modverify: %s", warn.Message)
		o.set("warnings", []string{warn.Message})
		o.add(*warn)
	}
	check(tidy)

	for _, it := range o.Items {
		lg.Printf("modverify: %-18s %s %s", it.Name, it.Status, it.Message)
	}
	if len(failures) > 0 {
		return result.Errorf(worst(classes...), "%s", strings.Join(failures, "; "))
	}
	return nil
}

func goflagsItem(goflags string) result.Item {
	it := result.Item{Name: "GOFLAGS", Kind: "setting", Details: map[string]any{"value": goflags, "enforced": readonlyGoflags(goflags)}}
	for _, f := range strings.Fields(goflags) {
		f = strings.TrimPrefix(f, "-")
		if strings.HasPrefix(f, "mod=") && f != "mod=readonly" {
			it.FailureClass = result.ClassPolicy
			it.Message = fmt.Sprintf("GOFLAGS sets -%s: remove it so the build cannot rewrite go.mod/go.sum (the gate requires -mod=readonly)", f)
			return it
		}
	}
	it.Status = result.StatusPassed
	return it
}

func gosumdbItem(sumdb, nosumdb, private string) result.Item {
	it := result.Item{Name: "GOSUMDB", Kind: "setting", Details: map[string]any{"value": sumdb, "GONOSUMDB": nosumdb, "GOPRIVATE": private}}
	switch {
	case strings.TrimSpace(sumdb) == "off":
		it.FailureClass = result.ClassPolicy
		it.Message = "GOSUMDB=off disables checksum verification for every module: unset it and scope private modules with GONOSUMDB or GOPRIVATE"
	case catchAll(nosumdb) || catchAll(private):
		it.FailureClass = result.ClassPolicy
		it.Message = "GONOSUMDB/GOPRIVATE match every module, which turns the checksum database off: list only your private module prefixes"
	default:
		it.Status = result.StatusPassed
	}
	return it
}

// catchAll reports whether a GONOSUMDB/GOPRIVATE pattern list matches every module path.
func catchAll(patterns string) bool {
	for _, p := range strings.Split(patterns, ",") {
		switch strings.TrimSpace(p) {
		case "*", "*/*", "*.*":
			return true
		}
	}
	return false
}

func goproxyItem(proxy string) result.Item {
	it := result.Item{Name: "GOPROXY", Kind: "setting", Details: map[string]any{"value": proxy}}
	switch strings.TrimSpace(proxy) {
	case "", "off":
		it.FailureClass = result.ClassPolicy
		it.Message = fmt.Sprintf("GOPROXY is %q: set a module proxy (e.g. https://proxy.golang.org,direct or your mirror)", proxy)
	case "direct":
		it.Status = result.StatusPassed
		it.Message = "warning: GOPROXY=direct fetches straight from VCS hosts; prefer a module proxy"
		it.Details["warning"] = it.Message
	default:
		it.Status = result.StatusPassed
	}
	return it
}

// readonlyGoflags returns goflags with any -mod setting replaced by -mod=readonly.
func readonlyGoflags(goflags string) string {
	out := []string{}
	for _, f := range strings.Fields(goflags) {
		if strings.HasPrefix(strings.TrimLeft(f, "-"), "mod=") {
			continue
		}
		out = append(out, f)
	}
	return strings.Join(append(out, "-mod=readonly"), " ")
}

// tidyItems judges one go mod tidy -e -diff run: the tidy item (rejected on a diff, naming the changes) and, when
// tidy reported errors, a warning item with their last meaningful lines. Network errors make the run unavailable,
// because tidy -e then drops what it could not download and its diff is not to be trusted.
func tidyItems(diff, errOut string, err error) (result.Item, *result.Item) {
	const name = "go mod tidy -e -diff"
	it := result.Item{Name: name, Kind: "command", Details: map[string]any{}}
	errLines := meaningfulLines(errOut)
	hasDiff := strings.HasPrefix(strings.TrimSpace(diff), "diff ") || strings.Contains(diff, "\n+++ ")
	var warn *result.Item
	if len(errLines) > 0 {
		it.Details["errors"] = tail(errLines, 40)
	}
	switch {
	case len(errLines) > 0 && commandClass(errOut) == result.ClassUnavailable:
		it.FailureClass = result.ClassUnavailable
		it.Message = "go mod tidy cannot finish, the module proxy or VCS host is unreachable (tidy is undecided): " + clip(errLines[len(errLines)-1])
		if hasDiff {
			it.Details["diff"] = tailLines(diff, 200)
		}
		return it, nil
	case hasDiff:
		it.FailureClass = result.ClassRejected
		it.Details["diff"] = tailLines(diff, 200)
		changes := diffChanges(diff)
		it.Details["changes"] = changes
		it.Message = "go.mod/go.sum are not tidy, go mod tidy would change: " + summarize(changes, 6) + " (run go mod tidy and commit the result; full diff in the result file)"
	case err != nil:
		it.FailureClass = commandClass(errOut)
		it.Message = "go mod tidy -e -diff failed, tidiness unknown: " + lastMeaningful(errOut, err)
		return it, nil
	default:
		it.Status = result.StatusPassed
	}
	if len(errLines) > 0 {
		warn = &result.Item{Name: "go mod tidy errors", Kind: "warning", Status: result.StatusPassed,
			Message: "warning: go mod tidy -e reported errors it worked around (tidiness judged regardless): " + clip(errLines[len(errLines)-1]),
			Details: map[string]any{"warning": true, "errors": tail(errLines, 40)}}
	}
	return it, warn
}

// diffChanges lists the added and removed lines of a go mod tidy -diff, prefixed by their file, go.sum hashes dropped.
func diffChanges(diff string) []string {
	var out []string
	file := ""
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "+++ "):
			file = filepath.Base(strings.TrimSpace(strings.TrimPrefix(l, "+++ ")))
		case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "diff "), strings.HasPrefix(l, "@@"):
		case strings.HasPrefix(l, "+"), strings.HasPrefix(l, "-"):
			line := strings.TrimSpace(l[1:])
			if line == "" {
				continue
			}
			if i := strings.Index(line, " h1:"); i > 0 && file == "go.sum" {
				line = line[:i]
			}
			out = append(out, file+": "+l[:1]+line)
		}
	}
	return out
}

// summarize joins up to n entries with "; " and says how many more there are.
func summarize(list []string, n int) string {
	if len(list) == 0 {
		return "(no line changes)"
	}
	if len(list) <= n {
		return strings.Join(list, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(list[:n], "; "), len(list)-n)
}

// meaningfulLines returns the non-empty lines of go command output without download and lookup progress.
func meaningfulLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "go: downloading ") || strings.HasPrefix(t, "go: finding ") ||
			strings.HasPrefix(t, "go: extracting ") || strings.HasPrefix(t, "go: found ") {
			continue
		}
		lines = append(lines, t)
	}
	return lines
}

// lastMeaningful condenses command output to its last meaningful line (where the go command puts the cause).
func lastMeaningful(out string, err error) string {
	if lines := meaningfulLines(out); len(lines) > 0 {
		return clip(lines[len(lines)-1])
	}
	if err != nil {
		return err.Error()
	}
	return "no output"
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func clip(l string) string {
	if len(l) > 300 {
		return l[:300] + "..."
	}
	return l
}

// runGoSplit runs the go command in dir and returns its stdout and stderr apart.
func runGoSplit(ctx context.Context, goBin, dir string, env []string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := runOwn(cmd)
	return stdout.String(), stderr.String(), err
}

// runGo runs the go command in dir and returns its combined output.
func runGo(ctx context.Context, goBin, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 5 * time.Second
	err := runOwn(cmd)
	return buf.String(), err
}

// commandClass tells a network failure (worth a retry later) from a real finding.
func commandClass(out string) result.Class {
	l := strings.ToLower(out)
	for _, s := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "tls handshake timeout", "connection reset", "502 bad gateway", "503 service unavailable", "504 gateway timeout"} {
		if strings.Contains(l, s) {
			return result.ClassUnavailable
		}
	}
	return result.ClassRejected
}

// oneLine condenses command output to a one-line message.
func oneLine(out string, err error) string {
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 240 {
				l = l[:240] + "..."
			}
			return l
		}
	}
	if err != nil {
		return err.Error()
	}
	return "no output"
}
