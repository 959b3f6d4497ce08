package peertest

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, a ...any) {
	r.fatal = fmt.Sprintf(f, a...)
	runtime.Goexit()
}
func (r *recorder) Skipf(f string, a ...any) {
	r.skip = fmt.Sprintf(f, a...)
	runtime.Goexit()
}

func call(t *testing.T, name string) (*recorder, string) {
	r := &recorder{TB: t}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = Tool(r, name)
	}()
	<-done
	return r, got
}

// short sets -test.short for the rest of t (Tool reads testing.Short()).
func short(t *testing.T, on bool) {
	was := testing.Short()
	if err := flag.Set("test.short", fmt.Sprint(on)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("test.short", fmt.Sprint(was)) })
}

func TestToolFailsOrSkipsWhenThePeerIsMissing(t *testing.T) {
	short(t, false)
	cases := []struct {
		name, require string
		wantFatal     bool
	}{
		{"it fails when tools are required", "1", true},
		{"it skips otherwise", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.require)
			r, _ := call(t, "no-such-peer-cli-xyz")
			if tc.wantFatal != (r.fatal != "") || tc.wantFatal == (r.skip != "") {
				t.Fatalf("fatal=%q skip=%q", r.fatal, r.skip)
			}
		})
	}
	t.Run("it returns the path when the tool exists", func(t *testing.T) {
		r, got := call(t, "sh")
		if got == "" || r.fatal != "" || r.skip != "" {
			t.Fatalf("got %q fatal=%q skip=%q", got, r.fatal, r.skip)
		}
	})
	t.Run("under -short it skips even a tool that exists and is required", func(t *testing.T) {
		short(t, true)
		t.Setenv(RequireEnv, "1")
		r, got := call(t, "sh")
		if got != "" || r.fatal != "" || !strings.Contains(r.skip, "-short") {
			t.Fatalf("got %q fatal=%q skip=%q", got, r.fatal, r.skip)
		}
	})
}
