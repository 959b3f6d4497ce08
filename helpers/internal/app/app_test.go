package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func testApp(actionErr error) *cli.App {
	a := New("t-helper", "test")
	a.Commands = []*cli.Command{{
		Name:  "check",
		Flags: []cli.Flag{&cli.StringFlag{Name: "thing"}},
		Action: func(c *cli.Context) error {
			call := From(c)
			call.Result.Add(result.Item{Name: c.String("thing"), Status: result.StatusPassed})
			return actionErr
		},
	}}
	return a
}

func TestRunMapsOutcomesToExitCodesAndAlwaysWritesTheResult(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		args     []string
		wantCode int
		status   string
	}{
		{"passed", nil, []string{"check", "--thing", "x"}, 0, "passed"},
		{"rejected", result.Errorf(result.ClassRejected, "breaking change"), []string{"check"}, 1, "rejected"},
		{"tamper", result.Errorf(result.ClassTamper, "bad sig"), []string{"check"}, 1, "rejected"},
		{"input", result.Errorf(result.ClassInput, "no go.mod"), []string{"check"}, 2, "error"},
		{"unavailable", result.Errorf(result.ClassUnavailable, "breaker open"), []string{"check"}, 3, "unavailable"},
		{"unclassified is a helper bug", errors.New("boom"), []string{"check"}, 4, "error"},
		{"internal", result.Errorf(result.ClassInternal, "encoding x"), []string{"check"}, 4, "error"},
		{"unknown flag", nil, []string{"check", "--nope"}, 2, "error"},
		{"unknown flag with = form", nil, []string{"check", "--nope=1"}, 2, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "r.json")
			var out, errb bytes.Buffer
			args := append([]string{"t-helper"}, tc.args...)
			args = append(args, "--result-file", path)
			t.Setenv(TraceEnv, "trace-123")
			code := Run(context.Background(), testApp(tc.err), args, &out, &errb)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, errb.String())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("result file not written: %v", err)
			}
			var r result.Result
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || r.ExitCode != tc.wantCode || r.TraceID != "trace-123" || r.Verb != "check" || r.Helper != "t-helper" {
				t.Fatalf("unexpected result %+v", r)
			}
			if tc.wantCode != 0 && r.Message == "" {
				t.Fatal("failure without a message")
			}
		})
	}
}

func TestAPanicIsExit4WithAHelperBugMessageAndStillWritesTheResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	a := New("t-helper", "test")
	a.Commands = []*cli.Command{{Name: "check", Action: func(*cli.Context) error {
		var m map[string]int
		m["x"] = 1 // a nil-map write: the kind of bug a helper can ship
		return nil
	}}}
	var out, errb bytes.Buffer
	code := Run(context.Background(), a, []string{"t-helper", "check", "--result-file", path}, &out, &errb)
	if code != result.ExitInternal {
		t.Fatalf("exit code = %d, want %d (stderr %q)", code, result.ExitInternal, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("result file not written: %v", err)
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 4 || r.FailureClass != result.ClassInternal || !strings.HasPrefix(r.Message, result.BugPrefix+"panic: ") {
		t.Fatalf("unexpected result %+v", r)
	}
	if !strings.Contains(errb.String(), "t-helper: helper bug, please report: panic: assignment to entry in nil map") {
		t.Fatalf("stderr %q does not tell the user to report a helper bug", errb.String())
	}
	if !strings.Contains(errb.String(), "app_test.go") || strings.Contains(r.Message, "goroutine ") {
		t.Fatalf("the stack must go to stderr only: stderr %q, message %q", errb.String(), r.Message)
	}
}

func TestRunCreatesATraceIDWhenMissing(t *testing.T) {
	t.Setenv(TraceEnv, "")
	path := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	if code := Run(context.Background(), testApp(nil), []string{"t", "check", "--result-file=" + path}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	b, _ := os.ReadFile(path)
	var r result.Result
	_ = json.Unmarshal(b, &r)
	if len(r.TraceID) < 10 {
		t.Fatalf("no trace id created: %q", r.TraceID)
	}
}

func TestACancelledRunIsExit3UnlessTheVerbAllowsACleanStop(t *testing.T) {
	for _, clean := range []bool{false, true} {
		a := New("t", "test")
		a.Commands = []*cli.Command{{Name: "serve", Action: func(c *cli.Context) error {
			if clean {
				From(c).AllowCleanStop()
			}
			<-c.Context.Done()
			return nil
		}}}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errb bytes.Buffer
		code := Run(ctx, a, []string{"t", "serve"}, &out, &errb)
		if want := map[bool]int{false: 3, true: 0}[clean]; code != want {
			t.Fatalf("clean=%v: exit %d, want %d", clean, code, want)
		}
	}
}
