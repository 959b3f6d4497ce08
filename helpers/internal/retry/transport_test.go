package retry

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

func upstream(t *testing.T, body string, seen *atomic.Int32) *faultproxy.Proxy {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		got, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodGet && string(got) != body {
			http.Error(w, "body mangled: "+string(got), http.StatusBadRequest)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	p, err := faultproxy.New(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: &Transport{Next: tr, Policy: Policy{Tries: 4, Initial: time.Millisecond, Max: 20 * time.Millisecond}}}
}

func TestTransportRetriesAGetThrough503ResetAndTruncatedBody(t *testing.T) {
	var seen atomic.Int32
	body := strings.Repeat("manifest ", 500)
	p := upstream(t, body, &seen)
	p.Script(faultproxy.Unavailable, faultproxy.Reset, faultproxy.Truncated)
	resp, err := client().Get(p.URL() + "/v2/x/manifests/latest")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || string(got) != body {
		t.Fatalf("body of %d bytes, err %v", len(got), err)
	}
	if req, inj := p.Counts(); req != 4 || inj != 3 {
		t.Fatalf("proxy saw %d requests with %d faults, want 4 and 3", req, inj)
	}
}

func TestTransportReplaysAReplayableWriteOnlyWhenTheServerRefusedIt(t *testing.T) {
	cases := []struct {
		name       string
		fault      faultproxy.Fault
		replayable bool
		wantErr    bool
		wantCalls  int64
	}{
		{"a 503 on a PUT with a replayable body is retried", faultproxy.Unavailable, true, false, 2},
		{"a 429 on a PUT with a replayable body is retried", faultproxy.TooMany, true, false, 2},
		{"a reset on a PUT is handed up unretried", faultproxy.Reset, true, true, 1},
		{"a 503 on a small streamed PATCH is retried from a buffered copy", faultproxy.Unavailable, false, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			p := upstream(t, "layer-bytes", &seen)
			p.Script(tc.fault)
			var body io.Reader = bytes.NewReader([]byte("layer-bytes"))
			method := http.MethodPut
			if !tc.replayable {
				body, method = io.MultiReader(strings.NewReader("layer-bytes")), http.MethodPatch
			}
			req, _ := http.NewRequest(method, p.URL()+"/v2/x/blobs/uploads/1", body)
			resp, err := client().Do(req)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil && Classify(err) != result.ClassTransient {
				t.Fatalf("an unretried reset must stay transient for the operation-level retry: %q", Classify(err))
			}
			if resp != nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if req, _ := p.Counts(); req != tc.wantCalls {
				t.Fatalf("proxy saw %d requests, want %d", req, tc.wantCalls)
			}
		})
	}
}

func TestTransportHandsUpTheLastTransientFailureAfterItsTries(t *testing.T) {
	var seen atomic.Int32
	p := upstream(t, "x", &seen)
	p.Script(faultproxy.Unavailable, faultproxy.Unavailable, faultproxy.Unavailable, faultproxy.Unavailable)
	resp, err := client().Get(p.URL() + "/v2/")
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("after 4 refusals the caller must get the last 503 answer itself: %v %v", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "injected 503") {
		t.Fatalf("the answer's body is lost: %q", b)
	}
	p.SetDown(true)
	_, err = client().Get(p.URL() + "/v2/")
	if Classify(err) != result.ClassTransient || !strings.Contains(err.Error(), "4 tries") {
		t.Fatalf("a dead host must stay transient for the operation-level retry: %q: %v", Classify(err), err)
	}
	if seen.Load() != 0 {
		t.Fatal("upstream reached although down")
	}
}

func TestRegistryIdempotentNamesTheRequestsSafeToRepeatAfterAReset(t *testing.T) {
	cases := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v2/app/manifests/v1", true},
		{"HEAD", "/v2/app/blobs/sha256:ab", true},
		{"PUT", "/v2/app/manifests/sha256-ab.sig", true},
		{"POST", "/v2/app/blobs/uploads/", true},
		{"PUT", "/v2/app/blobs/uploads/uuid", false},
		{"PATCH", "/v2/app/blobs/uploads/uuid", false},
		{"DELETE", "/v2/app/manifests/v1", false},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://r"+tc.path, nil)
			if got := RegistryIdempotent(req); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
	var seen atomic.Int32
	p := upstream(t, "{}", &seen)
	p.Script(faultproxy.LostReply)
	c := &http.Client{Transport: &Transport{Next: http.DefaultTransport.(*http.Transport).Clone(), Idempotent: RegistryIdempotent,
		Policy: Policy{Tries: 3, Initial: time.Millisecond, Max: 10 * time.Millisecond}}}
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/v2/app/manifests/sha256-ab.sig", bytes.NewReader([]byte("{}")))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 || seen.Load() != 2 {
		t.Fatalf("a manifest PUT whose reply was lost must be sent again: %v %v, upstream saw %d", resp, err, seen.Load())
	}
}
