// Command slackapi is the demo's Slack Web API stand-in: it answers chat.postMessage and chat.update for the bot
// token in $SLACK_BOT_TOKEN (invalid_auth otherwise, as Slack does) and logs each call as a JSON line
// {"method", "params", "ts"} for slackclick and the demo's summary (--summary LOG prints each chat.update of a log).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	logPath := flag.String("log", "", "append one JSON line per call here")
	summary := flag.String("summary", "", "print the last section text of each chat.update in this log, and exit")
	flag.Parse()
	if *summary != "" {
		if err := printSummary(*summary); err != nil {
			fmt.Fprintln(os.Stderr, "slackapi:", err)
			os.Exit(2)
		}
		return
	}
	token := os.Getenv("SLACK_BOT_TOKEN")
	if token == "" || *logPath == "" {
		fmt.Fprintln(os.Stderr, "slackapi: SLACK_BOT_TOKEN and --log are required")
		os.Exit(2)
	}
	var mu sync.Mutex
	seq := 0
	http.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		_ = r.ParseForm()
		tok := r.PostForm.Get("token")
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tok = strings.TrimPrefix(h, "Bearer ")
		}
		w.Header().Set("Content-Type", "application/json")
		if tok != token {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		params := map[string]string{}
		for k, v := range r.PostForm {
			if k != "token" {
				params[k] = v[0]
			}
		}
		mu.Lock()
		seq++
		ts := params["ts"]
		if ts == "" {
			ts = fmt.Sprintf("%d.%06d", time.Now().Unix(), seq)
		}
		line, _ := json.Marshal(map[string]any{"method": method, "params": params, "ts": ts})
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": params["channel"], "ts": ts})
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slackapi:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "slackapi: listening on %s\n", ln.Addr())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(ln)
}

// printSummary prints, per chat.update in the log, the message's last section text and whether it still has buttons.
func printSummary(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var call struct {
			Method string            `json:"method"`
			Params map[string]string `json:"params"`
		}
		if err := json.Unmarshal(sc.Bytes(), &call); err != nil {
			return err
		}
		if call.Method != "chat.update" {
			continue
		}
		var blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		}
		if b := call.Params["blocks"]; b != "" {
			if err := json.Unmarshal([]byte(b), &blocks); err != nil {
				return err
			}
		}
		text, buttons := "?", "   (buttons removed)"
		for _, b := range blocks {
			if b.Type == "section" && b.Text != nil {
				text = b.Text.Text
			}
			if b.Type == "actions" {
				buttons = "   [Approve] [Reject]"
			}
		}
		fmt.Println("    " + text + buttons)
	}
	return sc.Err()
}
