// Command slackapi is the demo's Slack Web API: the strict fake of helpers/internal/testing/slackfake (Block Kit
// limits, auth, channels, message_not_found, rate limits) for the bot token in $SLACK_BOT_TOKEN, logging each
// accepted call as a JSON line {"method", "params", "status", "ts"} (refusals go to stderr) for slackclick and the demo's summary.
package main

import (
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
	flag.Parse()
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
