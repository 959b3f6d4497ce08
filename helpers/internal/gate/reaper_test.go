package gate

import (
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReapOrphansTakesReparentedProcessesAndLeavesTheGatesOwnChildren(t *testing.T) {
	if err := becomeSubreaper(); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	// A child the gate started itself (as go mod verify would be, running concurrently with smoke).
	mine := exec.Command("sleep", "30")
	if err := startOwn(mine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mine.Process.Kill() })

	// Two orphans: one that ignores SIGTERM and one that has already exited (a zombie once reparented).
	pidFile := filepath.Join(t.TempDir(), "pids")
	sh := exec.Command("sh", "-c", `sh -c "trap '' TERM; exec sleep 300" & a=$!; true & b=$!; echo "$a $b" >"$1"`, "sh", pidFile)
	if err := sh.Run(); err != nil { // no output pipe: the orphans would hold it open
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		pids = append(pids, p)
	}
	t.Cleanup(func() { _ = syscall.Kill(pids[0], syscall.SIGKILL) })
	// $! is known at fork, before the orphan ignores SIGTERM and execs sleep: wait for both (comm "sleep" comes after
	// the trap), or a fast sweep meets an sh that SIGTERM kills.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err := readStat(pids[0]); err == nil && st.ppid == os.Getpid() && st.comm == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d did not reparent to the test process and exec sleep", pids[0])
		}
	}

	orphans := reapOrphans(200*time.Millisecond, log.New(io.Discard, "", 0))
	got := map[int]Orphan{}
	for _, o := range orphans {
		got[o.PID] = o
	}
	if o, ok := got[pids[0]]; !ok || !o.Killed || o.Command != "sleep" {
		t.Fatalf("the SIGTERM-ignoring orphan %d not SIGKILLed: %+v", pids[0], orphans)
	}
	if _, ok := got[mine.Process.Pid]; ok {
		t.Fatalf("the gate's own child %d was taken for an orphan: %+v", mine.Process.Pid, orphans)
	}
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err == nil {
			t.Fatalf("orphan %d still in /proc (running or unreaped)", p)
		}
	}
	if st, err := readStat(mine.Process.Pid); err != nil || st.state == "Z" {
		t.Fatalf("the gate's own child is gone or reaped by the sweep: %v %+v", err, st)
	}
	_ = mine.Process.Kill()
	if err := mine.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("own child's Wait: %v, want its kill status (the sweep must not steal it)", err)
	}
	doneOwn(mine)
}
