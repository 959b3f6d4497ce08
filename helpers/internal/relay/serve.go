package relay

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

// ServeOptions are what the command line adds to a loaded config.
type ServeOptions struct {
	// Listen overrides the config's listen address.
	Listen string
	Log    *log.Logger
	// OnListen is called with the bound address once the relay serves.
	OnListen func(addr string)
}

// ErrServe wraps failures to bind or serve (infrastructure, not configuration).
var ErrServe = errors.New("relay cannot serve")

// CPUProfileEnv names a file the relay writes a CPU profile to until it stops (for test/bench/relay.bench.sh).
const CPUProfileEnv = "RG_RELAY_CPUPROFILE"

// PprofEnv names an address the relay serves net/http/pprof on, with block and mutex profiling on (for the bench).
const PprofEnv = "RG_RELAY_PPROF"

// Serve runs the relay from setup until ctx ends: it opens the database (migrating it), serves HTTP, runs Socket
// Mode when configured, and on the way out stops accepting, drains and keeps undelivered decisions in the outbox.
func Serve(ctx context.Context, setup *Setup, opt ServeOptions) (*Metrics, error) {
	if p := os.Getenv(CPUProfileEnv); p != "" { // the bench profiles the hot path this way
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
	}
	if os.Getenv("GOGC") == "" {
		// The relay's live heap is a few MiB, so the default GOGC=100 collects after every few hundred clicks; a
		// larger growth allowance spends the CPU on clicks instead (GOGC in the environment still decides).
		debug.SetGCPercent(400)
	}
	if a := os.Getenv(PprofEnv); a != "" {
		stopPprof := servePprof(a, opt.Log)
		defer stopPprof()
	}
	st, err := store.Open(ctx, setup.DatabaseDSN)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrServe, err)
	}
	defer st.Close()
	aw, err := audit.Open(setup.File.Audit)
	if err != nil {
		return nil, fmt.Errorf("audit: %v", err)
	}
	defer aw.Close()
	// Kept-alive connections for the redraw lanes and the answerers (the default transport keeps only 2 per host).
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 64,
		MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}}
	sc := rgslack.New(setup.BotToken, setup.File.Slack.APIURL, hc)
	sc.Breakers = processBreakers()
	sc.Log = opt.Log
	r, err := New(Config{Store: st, RBAC: setup.RBAC, Controllers: setup.Controllers, Slack: sc, Responder: &rgslack.Responder{HTTP: hc},
		Signer: setup.Signer, Audit: aw, SigningSecret: setup.SigningToken, Log: opt.Log, Replica: setup.File.Replica})
	if err != nil {
		return nil, err
	}
	listen := setup.File.Listen
	if opt.Listen != "" {
		listen = opt.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen %s: %v", ErrServe, listen, err)
	}
	r.Start()
	defer r.Close()
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if opt.Log != nil {
		opt.Log.Printf("relay (%s mode, %s database, replica %s) listening on %s", setup.File.Mode, st.Backend, r.cfg.Replica, ln.Addr())
	}
	if opt.OnListen != nil {
		opt.OnListen(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sockDone := make(chan struct{})
	if setup.File.Mode == "socket" {
		apiURL := setup.File.Slack.APIURL
		if apiURL == "" {
			apiURL = rgslack.DefaultAPIURL
		}
		api := goslack.New(setup.BotToken, goslack.OptionAppLevelToken(setup.AppToken), goslack.OptionAPIURL(apiURL))
		go func() {
			defer close(sockDone)
			_ = r.RunSocket(sctx, api, SocketOptions{})
		}()
	} else {
		close(sockDone)
	}
	var serr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			serr = fmt.Errorf("%w: %v", ErrServe, err)
		}
	}
	cancel()
	<-sockDone
	shut, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = srv.Shutdown(shut)
	return r.metrics, serr
}

// servePprof serves the runtime profiles on addr until the returned func is called.
func servePprof(addr string, lg *log.Logger) func() {
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	runtime.SetMutexProfileFraction(5)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) && lg != nil {
			lg.Printf("pprof on %s: %v", addr, err)
		}
	}()
	return func() { _ = srv.Close() }
}
