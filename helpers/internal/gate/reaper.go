package gate

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// own holds the pids of the children the gate started itself (go, git, the service), from just before their
// start to just after their wait: the orphan sweep leaves those to their exec.Cmd and takes only the rest.
var own = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// startOwn starts cmd as a child the orphan sweep must leave alone; call doneOwn once cmd.Wait returned.
func startOwn(cmd *exec.Cmd) error {
	own.Lock()
	defer own.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	own.pids[cmd.Process.Pid] = true
	return nil
}

func doneOwn(cmd *exec.Cmd) {
	own.Lock()
	defer own.Unlock()
	delete(own.pids, cmd.Process.Pid)
}

// runOwn runs cmd to completion as a tracked child.
func runOwn(cmd *exec.Cmd) error {
	if err := startOwn(cmd); err != nil {
		return err
	}
	defer doneOwn(cmd)
	return cmd.Wait()
}

// Orphan is a process that reparented to the gate (a daemonized descendant of the service) and was stopped.
type Orphan struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Killed  bool   `json:"killed"` // it needed SIGKILL
}

// reapOrphans stops every process that reparented to the gate, whose parent is the gate but which the gate did not
// start: SIGTERM, SIGKILL for what still runs after grace, and wait4 for each, also for ones that already exited.
// It repeats until none is left, because killing one lets its own children reparent to the gate in turn.
func reapOrphans(grace time.Duration, lg *log.Logger) []Orphan {
	me := os.Getpid()
	start := time.Now()
	killAt, giveUp := start.Add(grace), start.Add(grace+10*time.Second)
	seen := map[int]*Orphan{}
	var order []int
	for {
		own.Lock()
		kids := childrenOf(me)
		pending, zombies := 0, 0
		for _, k := range kids {
			if own.pids[k.pid] {
				continue
			}
			o, ok := seen[k.pid]
			if !ok {
				o = &Orphan{PID: k.pid, Command: k.comm}
				seen[k.pid], order = o, append(order, k.pid)
				if !k.zombie {
					lg.Printf("smoke: process %d (%s) escaped the service's process group and reparented to the gate: SIGTERM", k.pid, k.comm)
					_ = syscall.Kill(k.pid, syscall.SIGTERM)
				}
			}
			if k.zombie {
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(k.pid, &ws, syscall.WNOHANG, nil)
				zombies++
				continue
			}
			pending++
			if time.Now().After(killAt) && !o.Killed {
				lg.Printf("smoke: process %d (%s) still running after %s: SIGKILL", k.pid, k.comm, grace)
				o.Killed = true
				_ = syscall.Kill(k.pid, syscall.SIGKILL)
			}
		}
		own.Unlock()
		if pending == 0 && zombies == 0 {
			break
		}
		if time.Now().After(giveUp) {
			lg.Printf("smoke: giving up on %d process(es) that reparented to the gate and would not die", pending)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Ints(order)
	out := make([]Orphan, 0, len(order))
	for _, pid := range order {
		out = append(out, *seen[pid])
	}
	return out
}

type child struct {
	pid    int
	comm   string
	zombie bool
}

// childrenOf lists the processes whose parent is ppid, from /proc.
func childrenOf(ppid int) []child {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []child
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != ppid {
			continue
		}
		out = append(out, child{pid: pid, comm: st.comm, zombie: st.state == "Z" || st.state == "X"})
	}
	return out
}

type procStat struct {
	comm       string
	state      string
	ppid, pgrp int
}

// readStat parses /proc/<pid>/stat: pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return procStat{}, errors.New("malformed stat")
	}
	st := procStat{comm: strings.TrimSpace(string(b[i+1 : j]))}
	if _, err := fmt.Sscanf(string(b[j+1:]), " %s %d %d", &st.state, &st.ppid, &st.pgrp); err != nil {
		return procStat{}, err
	}
	return st, nil
}
