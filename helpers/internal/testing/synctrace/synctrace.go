// Package synctrace (test support, never linked into a helper) runs a test body under strace and returns the open, write, fsync and rename calls it made, in order, so a test can check that data reaches the disk before it counts as written.
package synctrace

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Strace is Debian's strace (package strace, in test/scripts/install-deps.sh).
const Strace = "/usr/bin/strace"

const (
	childEnv = "SYNCTRACE_CHILD"
	dirEnv   = "SYNCTRACE_DIR"
)

// Call is one traced syscall on a file under the test's directory.
type Call struct {
	Syscall string // "open", "write", "fsync" (fdatasync too) or "rename"
	Path    string // the file opened or synced, or the rename's source
	To      string // the rename's target
}

func (c Call) String() string {
	if c.To != "" {
		return c.Syscall + " " + c.Path + " -> " + c.To
	}
	return c.Syscall + " " + c.Path
}

// Run runs body(dir) in a copy of the current test binary under strace and returns the calls on files under dir
// (a fresh directory), in the order they were made; in that copy it runs body and skips the test. Use it only in a
// top-level test.
func Run(t *testing.T, body func(dir string)) []Call {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(os.Getenv(dirEnv))
		t.SkipNow()
	}
	if _, err := os.Stat(Strace); err != nil {
		t.Fatalf("%s is missing: run test/scripts/install-deps.sh (package strace)", Strace)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "strace.txt")
	cmd := exec.Command(Strace, "-f", "-qq", "-o", out, "-e", "trace=open,openat,write,fsync,fdatasync,rename,renameat,renameat2",
		exe, "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), dirEnv+"="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("traced run of %s: %v\n%s", t.Name(), err, b)
	}
	return parse(t, out, dir)
}

var (
	lineRe    = regexp.MustCompile(`^(\d+)\s+(.*)$`)
	resumedRe = regexp.MustCompile(`^<\.\.\. (\w+) resumed>(.*)$`)
	callRe    = regexp.MustCompile(`^(\w+)\((.*)$`)
	quotedRe  = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	retRe     = regexp.MustCompile(`\)\s+=\s+(-?\d+)`)
)

// parse reads strace -f output, joining "<unfinished ...>" halves, and keeps the calls on paths under dir.
func parse(t *testing.T, file, dir string) []Call {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type pending struct{ name, args string }
	open := map[string]pending{} // pid -> call whose result is still to come
	fds := map[int]string{}
	var calls []Call
	under := func(p string) bool { return strings.HasPrefix(p, dir+"/") || p == dir }
	handle := func(name, args, ret string) {
		paths := quotedRe.FindAllStringSubmatch(args, -1)
		switch name {
		case "open", "openat":
			fd, err := strconv.Atoi(ret)
			if err != nil || fd < 0 || len(paths) == 0 {
				return
			}
			fds[fd] = paths[0][1]
			if under(paths[0][1]) {
				calls = append(calls, Call{Syscall: "open", Path: paths[0][1]})
			}
		case "fsync", "fdatasync":
			fd, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(args, ")", 2)[0]))
			if err == nil && ret == "0" && under(fds[fd]) {
				calls = append(calls, Call{Syscall: "fsync", Path: fds[fd]})
			}
		case "write":
			fd, err := strconv.Atoi(strings.SplitN(args, ",", 2)[0])
			if err == nil && under(fds[fd]) {
				calls = append(calls, Call{Syscall: "write", Path: fds[fd]})
			}
		case "rename", "renameat", "renameat2":
			if ret == "0" && len(paths) == 2 && under(paths[1][1]) {
				calls = append(calls, Call{Syscall: "rename", Path: paths[0][1], To: paths[1][1]})
			}
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, rest := m[1], m[2]
		if r := resumedRe.FindStringSubmatch(rest); r != nil {
			p := open[pid]
			delete(open, pid)
			whole := p.args + r[2]
			if rm := retRe.FindStringSubmatch(whole); rm != nil {
				handle(p.name, whole, rm[1])
			}
			continue
		}
		c := callRe.FindStringSubmatch(rest)
		if c == nil {
			continue
		}
		if strings.HasSuffix(rest, "<unfinished ...>") {
			open[pid] = pending{c[1], strings.TrimSuffix(c[2], "<unfinished ...>")}
			continue
		}
		if rm := retRe.FindStringSubmatch(c[2]); rm != nil {
			handle(c[1], c[2], rm[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}
