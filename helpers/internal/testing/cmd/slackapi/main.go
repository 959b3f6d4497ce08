// Command slackapi is the demo's Slack Web API: the strict fake of helpers/internal/testing/slackfake (Block Kit
// limits, auth, channels, message_not_found, rate limits) for the bot token in $SLACK_BOT_TOKEN, logging each
// accepted call as a JSON line {"method", "params", "status", "ts"} (refusals go to stderr) for slackclick and the demo's summary (--summary LOG prints each chat.update of a log).
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

	"github.com/release-gates/release-gates/helpers/internal/testing/slackfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	logPath := flag.String("log", "", "append one JSON line per call here")
	channels := flag.String("channels", "C0RELEASES", "comma-separated channel ids the bot is a member of")
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
	fake := slackfake.New(token, strings.Split(*channels, ",")...)
	var mu sync.Mutex
	fake.OnCall = func(c slackfake.Call) {
		if c.Method == "chat.update" && c.TS == "" {
			c.TS = c.Params["ts"]
		}
		mu.Lock()
		defer mu.Unlock()
		if c.Error != "" || c.Status != http.StatusOK {
			fmt.Fprintf(os.Stderr, "slackapi: %s refused: %d %s\n", c.Method, c.Status, c.Error)
			return // only what Slack accepted is in the log slackclick reads
		}
		line, _ := json.Marshal(c)
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slackapi:", err)
		os.Exit(2)
	}
	fake.SetBaseURL("http://" + ln.Addr().String())
	fmt.Fprintf(os.Stderr, "slackapi: listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
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
