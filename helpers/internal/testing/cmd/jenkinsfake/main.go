// Command jenkinsfake serves the demo's Jenkins: jenkinsfake.Server plus a loopback control API for the harness.
//
//	POST /_fake/arm?build=/job/orders/1&id=Approval1&submitter=slack-relay&params=a,b   the pipeline reaches input id
//	GET  /_fake/wait?build=/job/orders/1&id=Approval1                                  blocks until it is answered
//	POST /_fake/finish?build=/job/orders/1                                              the build ends
//
// The API token comes from JENKINS_API_TOKEN; --build starts one running build, started by --started-by.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	user := flag.String("user", "slack-relay", "the relay's Jenkins account")
	build := flag.String("build", "", "path of a running build, e.g. /job/orders/1")
	startedBy := flag.String("started-by", "", "Jenkins user id in the build's UserIdCause")
	rearm := flag.Duration("rearm-delay", 500*time.Millisecond, "time the pipeline needs to reach an input")
	flag.Parse()
	tok := os.Getenv("JENKINS_API_TOKEN")
	if tok == "" {
		fmt.Fprintln(os.Stderr, "jenkinsfake: JENKINS_API_TOKEN is not set")
		os.Exit(2)
	}
	f := jenkinsfake.New(*user, tok)
	f.ReArmDelay = *rearm
	if *build != "" {
		f.StartBuild(*build, *startedBy)
	}
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("POST /_fake/arm", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var params []string
		if p := q.Get("params"); p != "" {
			params = strings.Split(p, ",")
		}
		f.Arm(q.Get("build"), jenkinsfake.Input{ID: q.Get("id"), Message: q.Get("message"), Submitter: q.Get("submitter"), Params: params})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_fake/wait", func(w http.ResponseWriter, r *http.Request) {
		sub, err := f.WaitSubmission(r.Context(), r.URL.Query().Get("build"), r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		_ = json.NewEncoder(w).Encode(sub)
	})
	mux.HandleFunc("POST /_fake/finish", func(w http.ResponseWriter, r *http.Request) {
		f.FinishBuild(r.URL.Query().Get("build"))
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jenkinsfake:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "jenkinsfake: listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	_ = srv.Serve(ln)
}
