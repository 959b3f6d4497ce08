package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goslack "github.com/slack-go/slack"
)

// messagesFile writes a stand-in log holding an approval message shaped like slack-approval's (a section, then the
// rg_decision actions block with the rg_approve and rg_reject buttons) with the given button tokens.
func messagesFile(t *testing.T, approve, reject string) string {
	t.Helper()
	text := goslack.NewTextBlockObject(goslack.MarkdownType, "orders 1.0.0 -> prod", false, false)
	blocks, err := json.Marshal([]goslack.Block{goslack.NewSectionBlock(text, nil, nil), goslack.NewActionBlock("rg_decision",
		goslack.NewButtonBlockElement("rg_approve", approve, goslack.NewTextBlockObject(goslack.PlainTextType, "Approve", false, false)),
		goslack.NewButtonBlockElement("rg_reject", reject, goslack.NewTextBlockObject(goslack.PlainTextType, "Reject", false, false)))})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(apiCall{Method: "chat.postMessage", TS: "1700000000.000101",
		Params: map[string]string{"channel": "C0RELEASES", "blocks": string(blocks)}})
	p := filepath.Join(t.TempDir(), "slack-api.jsonl")
	if err := os.WriteFile(p, append(line, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeRelay verifies requests with secret as the relay does (slack.NewSecretsVerifier before parsing), records the
// parsed click and answers its response_url.
func fakeRelay(t *testing.T, secret string, got *[]*goslack.InteractionCallback) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sv, err := goslack.NewSecretsVerifier(r.Header, secret)
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		form, _ := url.ParseQuery(string(body))
		cb := &goslack.InteractionCallback{}
		if err := cb.UnmarshalJSON([]byte(form.Get("payload"))); err != nil || cb.Type != goslack.InteractionTypeBlockActions {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		*got = append(*got, cb)
		w.WriteHeader(http.StatusOK)
		go func() {
			resp, err := http.Post(cb.ResponseURL, "application/json", strings.NewReader(`{"text":"Recorded: you approved orders for prod"}`))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}))
}

func TestAClickIsSignedAsSlackSignsIt(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name        string
		relaySecret string
		action      string
		wantErr     string
		wantValue   string
	}{
		{name: "an approve click verifies and carries the Approve token", relaySecret: secret, action: "approve", wantValue: "approve-token"},
		{name: "a reject click carries the Reject token", relaySecret: secret, action: "reject", wantValue: "reject-token"},
		{name: "a relay with another signing secret refuses it with 401", relaySecret: "another-secret-another-secret-xx", action: "approve", wantErr: "HTTP 401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []*goslack.InteractionCallback
			srv := fakeRelay(t, c.relaySecret, &got)
			defer srv.Close()
			t.Setenv("SLACK_SIGNING_SECRET", secret)
			var out bytes.Buffer
			err := run([]string{"--relay", srv.URL, "--messages", messagesFile(t, "approve-token", "reject-token"), "--user", "U02BOB",
				"--name", "bob", "--action", c.action, "--wait", "10s"}, &out)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("relay got %d clicks", len(got))
			}
			acts := got[0].ActionCallback.BlockActions
			if got[0].User.ID != "U02BOB" || len(acts) != 1 || acts[0].ActionID != "rg_"+c.action || acts[0].Value != c.wantValue ||
				got[0].Container.MessageTs != "1700000000.000101" || got[0].Channel.ID != "C0RELEASES" {
				t.Fatalf("unexpected click: user %q actions %+v container %+v", got[0].User.ID, acts, got[0].Container)
			}
			if !strings.Contains(out.String(), `Slack shows bob: "Recorded: you approved orders for prod"`) {
				t.Fatalf("output lacks the relay's answer: %q", out.String())
			}
		})
	}
}

func TestItRefusesAMessageWithoutButtons(t *testing.T) {
	if _, _, err := button(`[{"type":"section","block_id":"x"}]`, "rg_approve"); err == nil || !strings.Contains(err.Error(), "no rg_approve button") {
		t.Fatalf("err = %v", err)
	}
}
