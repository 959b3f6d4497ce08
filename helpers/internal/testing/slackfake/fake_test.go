package slackfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func post(t *testing.T, api, method, token string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, api+method, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

func button(id, value string) map[string]any {
	return map[string]any{"type": "button", "action_id": id, "value": value, "text": map[string]any{"type": "plain_text", "text": "Approve"}}
}

func section(text string) map[string]any {
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
}

func TestBlockKitLimitsAreEnforcedAtTheirBoundaries(t *testing.T) {
	s := New("xoxb-t", "C1")
	srv := s.Start()
	defer srv.Close()
	many := func(k int) []map[string]any {
		var bs []map[string]any
		for i := 0; i < k; i++ {
			bs = append(bs, section("x"))
		}
		return bs
	}
	header := func(k int) []map[string]any {
		return []map[string]any{{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("é", k)}}}
	}
	cases := []struct {
		name   string
		text   string
		blocks any
		want   string
	}{
		{"50 blocks pass", "t", many(50), ""},
		{"51 blocks are refused", "t", many(51), "invalid_blocks"},
		{"a header of 150 characters passes (counted as characters, not bytes)", "t", header(150), ""},
		{"a header of 151 characters is refused", "t", header(151), "invalid_blocks"},
		{"a mrkdwn header is refused", "t", []map[string]any{{"type": "header", "text": map[string]any{"type": "mrkdwn", "text": "h"}}}, "invalid_blocks"},
		{"section text of 3000 passes", "t", []map[string]any{section(strings.Repeat("a", 3000))}, ""},
		{"section text of 3001 is refused", "t", []map[string]any{section(strings.Repeat("a", 3001))}, "invalid_blocks"},
		{"a button value of 2000 passes", "t", []map[string]any{{"type": "actions", "elements": []any{button("a", strings.Repeat("v", 2000))}}}, ""},
		{"a button value of 2001 is refused", "t", []map[string]any{{"type": "actions", "elements": []any{button("a", strings.Repeat("v", 2001))}}}, "invalid_blocks"},
		{"an action_id of 256 is refused", "t", []map[string]any{{"type": "actions", "elements": []any{button(strings.Repeat("a", 256), "v")}}}, "invalid_blocks"},
		{"a repeated action_id in one block is refused", "t", []map[string]any{{"type": "actions", "elements": []any{button("a", "1"), button("a", "2")}}}, "invalid_blocks"},
		{"a repeated block_id is refused", "t", []map[string]any{{"type": "divider", "block_id": "b"}, {"type": "divider", "block_id": "b"}}, "invalid_blocks"},
		{"a block_id of 256 is refused", "t", []map[string]any{{"type": "divider", "block_id": strings.Repeat("b", 256)}}, "invalid_blocks"},
		{"an unknown block type is refused", "t", []map[string]any{{"type": "sparkle"}}, "invalid_blocks"},
		{"text of 40000 passes", strings.Repeat("a", 40000), nil, ""},
		{"text of 40001 is msg_too_long", strings.Repeat("a", 40001), nil, "msg_too_long"},
		{"no text and no blocks is no_text", "", nil, "no_text"},
		{"blocks that are not JSON are refused", "t", "not json", "invalid_blocks_format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"channel": {"C1"}, "text": {tc.text}}
			switch b := tc.blocks.(type) {
			case string:
				form.Set("blocks", b)
			case nil:
			default:
				raw, _ := json.Marshal(b)
				form.Set("blocks", string(raw))
			}
			_, out, _ := post(t, s.APIURL(), "chat.postMessage", "xoxb-t", form)
			got, _ := out["error"].(string)
			if tc.want == "" && out["ok"] != true || tc.want != "" && got != tc.want {
				t.Fatalf("answer %v, want error %q", out, tc.want)
			}
		})
	}
}

func TestAuthChannelsAndUpdatesAreCheckedAsSlackDoes(t *testing.T) {
	s := New("xoxb-t", "C1")
	srv := s.Start()
	defer srv.Close()
	msg := url.Values{"channel": {"C1"}, "text": {"hello"}}
	if _, out, _ := post(t, s.APIURL(), "chat.postMessage", "", msg); out["error"] != "not_authed" {
		t.Fatalf("no token: %v", out)
	}
	if _, out, _ := post(t, s.APIURL(), "chat.postMessage", "xoxb-other", msg); out["error"] != "invalid_auth" {
		t.Fatalf("wrong token: %v", out)
	}
	if _, out, _ := post(t, s.APIURL(), "chat.postMessage", "xoxb-t", url.Values{"channel": {"CNONE"}, "text": {"x"}}); out["error"] != "channel_not_found" {
		t.Fatalf("unknown channel: %v", out)
	}
	_, out, _ := post(t, s.APIURL(), "chat.postMessage", "xoxb-t", msg)
	ts, _ := out["ts"].(string)
	if out["ok"] != true || ts == "" {
		t.Fatalf("post: %v", out)
	}
	if _, out, _ := post(t, s.APIURL(), "chat.update", "xoxb-t", url.Values{"channel": {"C1"}, "ts": {"1.000001"}, "text": {"x"}}); out["error"] != "message_not_found" {
		t.Fatalf("update of an unknown ts: %v", out)
	}
	if _, out, _ := post(t, s.APIURL(), "chat.update", "xoxb-t", url.Values{"channel": {"C1"}, "ts": {ts}, "text": {"edited"}}); out["ok"] != true {
		t.Fatalf("update: %v", out)
	}
	if m, ok := s.Message("C1", ts); !ok || m.Text != "edited" || m.Updates != 1 {
		t.Fatalf("message after update: %+v", m)
	}
}

func TestLimitAnswers429WithRetryAfterOnTheArmedCalls(t *testing.T) {
	s := New("xoxb-t", "C1")
	srv := s.Start()
	defer srv.Close()
	s.Limit("chat.postMessage", 1, 2, 7)
	msg := url.Values{"channel": {"C1"}, "text": {"x"}}
	var codes []int
	for i := 0; i < 4; i++ {
		code, out, h := post(t, s.APIURL(), "chat.postMessage", "xoxb-t", msg)
		codes = append(codes, code)
		if code == http.StatusTooManyRequests && (h.Get("Retry-After") != "7" || out["error"] != "ratelimited") {
			t.Fatalf("429 without Retry-After 7: %v %v", h, out)
		}
	}
	if codes[0] != 200 || codes[1] != 429 || codes[2] != 429 || codes[3] != 200 {
		t.Fatalf("status codes %v", codes)
	}
}

func TestAResponseURLTakesFivePostsOfValidJSON(t *testing.T) {
	s := New("xoxb-t")
	srv := s.Start()
	defer srv.Close()
	u := s.ResponseURL()
	postJSON := func(body string) int {
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := postJSON("text=not-json"); c != http.StatusBadRequest {
		t.Fatalf("form body: %d", c)
	}
	for i := 0; i < MaxResponseUses; i++ {
		if c := postJSON(`{"text":"ok","replace_original":false}`); c != http.StatusOK {
			t.Fatalf("post %d: %d", i, c)
		}
	}
	if c := postJSON(`{"text":"ok"}`); c != http.StatusNotFound {
		t.Fatalf("sixth post: %d", c)
	}
	if got := len(s.Responses(u)); got != MaxResponseUses {
		t.Fatalf("%d responses recorded", got)
	}
}
