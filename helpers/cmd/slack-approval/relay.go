package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/token"
)

func relayCommand() *cli.Command {
	return &cli.Command{
		Name:  "relay",
		Usage: "serve Slack button clicks (HTTP or Socket Mode) and answer the waiting Jenkins input steps",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8090", Usage: "address for /slack/interactions, /healthz and /metrics"},
			&cli.StringFlag{Name: "mode", Value: "http", Usage: "http (Slack posts to /slack/interactions) or socket (Socket Mode)"},
			req("rbac", "rbac.yaml"),
			&cli.StringFlag{Name: "audit-file", Value: "-", Usage: "append audit records here (- for stdout)"},
			&cli.IntFlag{Name: "workers", Value: 8, Usage: "concurrent Jenkins calls"},
			&cli.IntFlag{Name: "queue", Value: 1024, Usage: "clicks waiting for a worker before answering 503"},
			&cli.StringFlag{Name: "jenkins-url", EnvVars: []string{"JENKINS_URL"}, Usage: "only build URLs under this prefix are answered"},
			&cli.DurationFlag{Name: "liveness", Value: 30 * time.Second, Usage: "socket mode: reconnect after this long without a ping from Slack"},
			secretFlag("signing-secret", envSigningSecret), secretFlag("button-secret", envButtonSecret),
			secretFlag("jenkins-api-token", envJenkinsToken), secretFlag("slack-app-token", envAppToken),
		},
		Action: runRelay,
	}
}

func runRelay(c *cli.Context) error {
	call := app.From(c)
	call.AllowCleanStop()
	mode := c.String("mode")
	if mode != "http" && mode != "socket" {
		return result.Errorf(result.ClassInput, "--mode %q: use http or socket", mode)
	}
	if c.Int("workers") < 1 || c.Int("queue") < 1 {
		return result.Errorf(result.ClassInput, "--workers and --queue must be at least 1")
	}
	cfg, err := loadRBAC(c)
	if err != nil {
		return err
	}
	var signing string
	if mode == "http" {
		if signing, err = secret(c, "signing-secret", envSigningSecret); err != nil {
			return err
		}
	}
	key, err := secret(c, "button-secret", envButtonSecret)
	if err != nil {
		return err
	}
	if len(key) < token.MinKeyLen {
		return result.Errorf(result.ClassConfig, "%s: %v", envButtonSecret, token.ErrShortKey)
	}
	jtok, err := secret(c, "jenkins-api-token", envJenkinsToken)
	if err != nil {
		return err
	}
	juser := lookupEnv(envJenkinsUser)
	if juser == "" {
		return result.Errorf(result.ClassConfig, "%s is not set: export the Jenkins user that owns the API token", envJenkinsUser)
	}
	aw, err := audit.Open(c.String("audit-file"))
	if err != nil {
		return result.Errorf(result.ClassInput, "--audit-file: %v", err)
	}
	defer aw.Close()
	// Keep-alive connections for every worker: the default transport keeps only 2 idle per host.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConns: 4 * c.Int("workers"), MaxIdleConnsPerHost: c.Int("workers"),
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true,
	}}
	r, err := relay.New(relay.Config{
		SigningSecret: signing, ButtonKey: []byte(key), RBAC: cfg,
		Jenkins: &jenkins.Client{User: juser, Token: jtok, HTTP: hc, Breakers: breaker.FromEnv()}, Responder: &slack.Responder{HTTP: hc}, Audit: aw, Log: call.Log,
		Workers: c.Int("workers"), Queue: c.Int("queue"), JenkinsURL: c.String("jenkins-url"),
	})
	if err != nil {
		return result.Errorf(result.ClassConfig, "%v", err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return result.Errorf(result.ClassInput, "--listen %s: %v", c.String("listen"), err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	call.Log.Printf("relay (%s mode) listening on %s", mode, ln.Addr())
	call.Result.Set("listen", ln.Addr().String())
	call.Result.Set("mode", mode)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sockDone := make(chan struct{})
	if mode == "socket" {
		appTok, err := secret(c, "slack-app-token", envAppToken)
		if err != nil {
			return err
		}
		api := goslack.New(lookupEnv(envBotToken), goslack.OptionAppLevelToken(appTok), goslack.OptionAPIURL(apiURL()))
		go func() {
			defer close(sockDone)
			_ = r.RunSocket(ctx, api, relay.SocketOptions{Liveness: c.Duration("liveness")})
		}()
	} else {
		close(sockDone)
	}
	select {
	case <-c.Context.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return result.Errorf(result.ClassUnavailable, "serving: %v", err)
		}
	}
	cancel()
	<-sockDone
	shutCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = srv.Shutdown(shutCtx)
	m := r.Metrics()
	call.Result.Set("accepted", m.Requests(relay.OutcomeAccepted))
	call.Result.Set("jenkins_ok", m.JenkinsCalls(relay.JenkinsOK))
	call.Log.Printf("relay stopped")
	return nil
}

func apiURL() string {
	if u := lookupEnv(envSlackAPIURL); u != "" {
		if u[len(u)-1] != '/' {
			u += "/"
		}
		return u
	}
	return slack.DefaultAPIURL
}
