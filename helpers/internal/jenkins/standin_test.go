package jenkins

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestStandInIsAsStrictAsJenkins(t *testing.T) {
	si := NewStandIn("u", "t")
	si.RequireCrumb = true
	si.AddInput("/job/a/1", "approve", "approver", "decision")
	srv := httptest.NewServer(si)
	defer srv.Close()
	form := func(params string) string {
		return url.Values{"json": {`{"parameter":[` + params + `]}`}, "proceed": {"Proceed"}}.Encode()
	}
	cases := []struct {
		name, method, path, body string
		auth, crumb              bool
		want                     int
	}{
		{"no credentials", "POST", "/job/a/1/input/Approve/submit", form(""), false, true, 401},
		{"no crumb when one is required", "POST", "/job/a/1/input/Approve/submit", form(""), true, false, 403},
		{"GET instead of POST", "GET", "/job/a/1/input/Approve/submit", "", true, true, 405},
		{"the id as written, not capitalised", "POST", "/job/a/1/input/approve/submit", form(""), true, true, 404},
		{"an undeclared parameter", "POST", "/job/a/1/input/Approve/submit", form(`{"name":"x","value":"1"}`), true, true, 500},
		{"no proceed field", "POST", "/job/a/1/input/Approve/submit", url.Values{"json": {`{"parameter":[]}`}}.Encode(), true, true, 400},
		{"a declared parameter proceeds", "POST", "/job/a/1/input/Approve/submit", form(`{"name":"approver","value":"U1"}`), true, true, 302},
		{"a second answer finds the input gone", "POST", "/job/a/1/input/Approve/submit", form(`{"name":"approver","value":"U2"}`), true, true, 404},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth {
				req.SetBasicAuth("u", "t")
			}
			if tc.crumb {
				req.Header.Set("Jenkins-Crumb", "crumb-0f1e2d")
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if n := len(si.Submissions()); n != 1 {
		t.Fatalf("%d submissions recorded, want 1", n)
	}
}
