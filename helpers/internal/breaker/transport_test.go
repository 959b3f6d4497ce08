package breaker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

func TestTransportFailsFastOnceTheHostKeepsFailing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	p, err := faultproxy.New(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	set := New(t.TempDir(), 3, time.Minute)
	c := &http.Client{Transport: &Transport{Set: set, Next: http.DefaultTransport.(*http.Transport).Clone()}}
	p.Script(faultproxy.Unavailable)
	resp, err := c.Get(p.URL())
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("a 503 must reach the caller as an answer: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := c.Get(p.URL()); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a success after one failure: %v %v", resp, err)
	}
	p.SetDown(true)
	for i := 0; i < 3; i++ {
		if _, err := c.Get(p.URL()); err == nil {
			t.Fatal("down proxy answered")
		}
	}
	before, _ := p.Counts()
	_, err = c.Get(p.URL())
	if result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "breaker open until") {
		t.Fatalf("want a fail-fast refusal, got %q: %v", result.ClassOf(err), err)
	}
	if after, _ := p.Counts(); after != before {
		t.Fatal("the open breaker still let a request through")
	}
	if st := set.Status("registry " + p.Host()); !st.Open || st.Failures < 3 {
		t.Fatalf("state file %+v", st)
	}
}
