package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func backend() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := strings.Repeat("x", 1000)
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, body)
	}))
}

func TestTheProxyInjectsEachScriptedFaultThenForwards(t *testing.T) {
	b := backend()
	defer b.Close()
	p, err := New(b.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetRetryAfter(2)
	p.Script(Unavailable, TooMany, Reset, Truncated, Latency)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (*http.Response, []byte, error) {
		resp, err := client.Get(p.URL() + "/v2/")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	if resp, _, _ := get(); resp == nil || resp.StatusCode != 503 {
		t.Fatalf("want 503, got %v", resp)
	}
	if resp, _, _ := get(); resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("want 429 with Retry-After: 2, got %v", resp)
	}
	if _, _, err := get(); err == nil {
		t.Fatal("want a connection error from the reset")
	}
	if _, body, err := get(); err == nil && len(body) == 1000 {
		t.Fatal("want a truncated body")
	}
	if resp, body, err := get(); err != nil || resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("latency fault must still answer fully: %v %v %d", err, resp, len(body))
	}
	if resp, body, err := get(); err != nil || resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("after the script the proxy must forward: %v", err)
	}
	if req, inj := p.Counts(); req != 6 || inj != 5 {
		t.Fatalf("counts = %d/%d, want 6/5", req, inj)
	}
}

func TestARateInjectsRoughlyThatShareAndDownResetsEverything(t *testing.T) {
	b := backend()
	defer b.Close()
	p, _ := New(b.URL, 42)
	defer p.Close()
	p.SetRate(0.2, Unavailable)
	fails := 0
	for i := 0; i < 500; i++ {
		resp, err := http.Get(p.URL())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			fails++
		}
	}
	if fails < 60 || fails > 140 {
		t.Fatalf("%d of 500 failed at rate 0.2", fails)
	}
	p.SetDown(true)
	if _, err := http.Get(p.URL()); err == nil {
		t.Fatal("a down proxy answered")
	}
}

func TestALostReplyReachesTheTargetButTheClientSeesAReset(t *testing.T) {
	var puts atomic.Int32
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			puts.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer b.Close()
	p, err := New(b.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.When(func(r *http.Request) bool { return r.Method == http.MethodPut }, LostReply)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(p.URL() + "/v2/"); err != nil || resp.StatusCode != 201 {
		t.Fatalf("a GET must pass a rule for PUTs: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/v2/x/manifests/v1", strings.NewReader("{}"))
	if _, err := client.Do(req); err == nil {
		t.Fatal("want a reset for the matched PUT")
	}
	if puts.Load() != 1 {
		t.Fatalf("the target saw %d PUTs, want 1 (the request must be acted on)", puts.Load())
	}
	req, _ = http.NewRequest(http.MethodPut, p.URL()+"/v2/x/manifests/v1", strings.NewReader("{}"))
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("the rule is used up after one fault: %v", err)
	}
}
