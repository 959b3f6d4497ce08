package relay

import (
	"errors"
	"testing"
)

func TestBuildURLsOutsideTheConfiguredJenkinsAreRefused(t *testing.T) {
	base, err := ParseJenkinsURL("https://ci.example.com/jenkins/")
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{
		"https://ci.example.com/jenkins/job/orders/7":        "https://ci.example.com/jenkins/job/orders/7/",
		"https://CI.example.com:443/jenkins/job/a/job/b/12/": "https://ci.example.com/jenkins/job/a/job/b/12/",
		"https://ci.example.com/jenkins/job/orders%20svc/7/": "https://ci.example.com/jenkins/job/orders%20svc/7/",
	}
	for in, want := range ok {
		got, err := NormalizeBuildURL(in, base)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	bad := []string{
		"https://evil.example.com/jenkins/job/orders/7/",
		"http://ci.example.com/jenkins/job/orders/7/",
		"https://ci.example.com:8443/jenkins/job/orders/7/",
		"https://ci.example.com/jenkinsx/job/orders/7/",
		"https://ci.example.com/jenkins/../admin/job/a/1/",
		"https://ci.example.com/jenkins/%2e%2e/job/a/1/",
		"https://ci.example.com/jenkins/%2E%2E/job/a/1/",
		"https://ci.example.com/jenkins/x/../../job/a/1/",
		"https://ci.example.com/jenkins/job/a%2fb/1/",
		"https://ci.example.com/jenkins/job/a%5Cb/1/",
		"https://ci.example.com/jenkins/./job/a/1/",
		"https://ci.example.com/jenkins//job/a/1/",
		"https://user:pw@ci.example.com/jenkins/job/a/1/",
		"https://ci.example.com@evil.example.com/jenkins/job/a/1/",
		"https://ci.example.com/jenkins/job/a/1/?x=1",
		"https://ci.example.com/jenkins/job/a/1/#f",
		"https://ci.example.com/jenkins/job/a/",
		"https://ci.example.com/jenkins/view/all/job/a/1/",
		"https://ci.example.com/jenkins/job/a/1/input/X/submit",
		"//ci.example.com/jenkins/job/a/1/",
		"ci.example.com/jenkins/job/a/1/",
	}
	for _, in := range bad {
		if got, err := NormalizeBuildURL(in, base); !errors.Is(err, ErrOutsideJenkins) {
			t.Errorf("%s accepted as %q (%v)", in, got, err)
		}
	}
	for _, in := range []string{"", "ftp://x/", "https://u@x/", "https://x/a/../b", "https://x/?q"} {
		if _, err := ParseJenkinsURL(in); err == nil {
			t.Errorf("jenkins url %q accepted", in)
		}
	}
}

func FuzzNormalizeBuildURL(f *testing.F) {
	base, _ := ParseJenkinsURL("https://ci.example.com/jenkins")
	for _, s := range []string{"https://ci.example.com/jenkins/job/a/1/", "https://ci.example.com/jenkins/%2e%2e/job/a/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeBuildURL(in, base)
		if err != nil {
			return
		}
		again, err := NormalizeBuildURL(out, base)
		if err != nil || again != out {
			t.Fatalf("normal form %q not stable: %q %v", out, again, err)
		}
	})
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(`{"type":"block_actions","user":{"id":"U02BOB"},"actions":[{"action_id":"rg_approve","value":"00","action_ts":"1.2"}]}`))
	f.Add([]byte(`{"type":"view_submission"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := ParsePayload(b)
		if err == nil && cb.Type == "block_actions" && cb.User.ID == "" {
			t.Fatal("a block_actions payload without user.id was accepted")
		}
	})
}
