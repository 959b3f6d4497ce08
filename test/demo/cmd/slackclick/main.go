// Command slackclick plays a Slack user clicking Approve or Reject on the demo's approval message: it takes the
// button token from the message the Slack stand-in received, posts a block_actions payload to the relay signed
// exactly as Slack signs it (secret from $SLACK_SIGNING_SECRET), and prints the relay's ephemeral answer.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "slackclick:", err)
		os.Exit(1)
	}
}

// apiCall is one Web API call as the demo's Slack stand-in logs it (JSON lines).
type apiCall struct {
	Method string            `json:"method"`
	Params map[string]string `json:"params"`
	TS     string            `json:"ts"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("slackclick", flag.ContinueOnError)
	relay := fs.String("relay", "", "the relay's interactions URL, e.g. http://127.0.0.1:8090/slack/interactions")
	messages := fs.String("messages", "", "the Slack stand-in's log of Web API calls (JSON lines)")
	user := fs.String("user", "", "Slack user id of the clicker, e.g. U02BOB")
	userName := fs.String("name", "", "the clicker's Slack user name (shown only)")
	action := fs.String("action", "approve", "approve or reject")
	team := fs.String("team", "T0DEMO", "Slack team id")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the relay's answer to the clicker")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := os.Getenv("SLACK_SIGNING_SECRET")
	switch {
	case *relay == "" || *messages == "" || *user == "":
		return errors.New("--relay, --messages and --user are required")
	case secret == "":
		return errors.New("SLACK_SIGNING_SECRET is not set")
	case *action != "approve" && *action != "reject":
		return fmt.Errorf("--action %q: use approve or reject", *action)
	}
	msg, err := lastPost(*messages)
	if err != nil {
		return err
	}
	actionID := "rg_" + *action
	value, blockID, err := button(msg.Params["blocks"], actionID)
	if err != nil {
		return err
	}

	// response_url: Slack would show the relay's answer to the clicker only; here a one-shot loopback listener takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	answers := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body)
		w.WriteHeader(http.StatusOK)
		select {
		case answers <- body.Text:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // lets the relay's answer request finish
	}()

	now := time.Now()
	actionTS := fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
	payload := map[string]any{
		"type":         "block_actions",
		"team":         map[string]string{"id": *team, "domain": "demo"},
		"user":         map[string]string{"id": *user, "username": *userName, "name": *userName, "team_id": *team},
		"api_app_id":   "A0DEMO",
		"channel":      map[string]string{"id": msg.Params["channel"], "name": "releases"},
		"container":    map[string]any{"type": "message", "message_ts": msg.TS, "channel_id": msg.Params["channel"], "is_ephemeral": false},
		"message":      map[string]any{"type": "message", "ts": msg.TS, "text": msg.Params["text"]},
		"trigger_id":   actionTS + ".demo",
		"response_url": "http://" + ln.Addr().String() + "/actions/T0DEMO/" + actionTS,
		"actions": []map[string]string{{
			"action_id": actionID, "block_id": blockID, "type": "button", "value": value, "action_ts": actionTS,
		}},
	}
	pj, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	body := "payload=" + url.QueryEscape(string(pj))
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, err := http.NewRequest(http.MethodPost, *relay, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("posting the click to the relay: %w", err)
	}
	resp.Body.Close()
	who := *userName
	if who == "" {
		who = *user
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s (%s) clicked %s: relay answered HTTP %d", who, *user, *action, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	select {
	case text := <-answers:
		_, err = fmt.Fprintf(stdout, "%s (%s) clicked %s -> relay HTTP 200; Slack shows %s: %q\n", who, *user, *action, who, text)
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s (%s) clicked %s: the relay acknowledged but sent no answer within %s", who, *user, *action, *wait)
	}
}

// lastPost returns the newest chat.postMessage call in the stand-in's log.
func lastPost(path string) (apiCall, error) {
	f, err := os.Open(path)
	if err != nil {
		return apiCall{}, fmt.Errorf("--messages: %w", err)
	}
	defer f.Close()
	var last apiCall
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var c apiCall
		if json.Unmarshal(sc.Bytes(), &c) == nil && c.Method == "chat.postMessage" {
			last, found = c, true
		}
	}
	if err := sc.Err(); err != nil {
		return apiCall{}, fmt.Errorf("--messages: %w", err)
	}
	if !found {
		return apiCall{}, fmt.Errorf("--messages %s: no chat.postMessage yet", path)
	}
	return last, nil
}

// button returns the value and block id of the button actionID in a Block Kit blocks JSON array.
func button(blocksJSON, actionID string) (string, string, error) {
	var blocks []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		return "", "", fmt.Errorf("the posted message has no readable blocks: %w", err)
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if b.Type == "actions" && e.ActionID == actionID && e.Value != "" {
				return e.Value, b.BlockID, nil
			}
		}
	}
	return "", "", fmt.Errorf("the posted message has no %s button", actionID)
}
