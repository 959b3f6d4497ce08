package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

// Input-step parameter names the relay submits; the step's input must declare exactly these.
const (
	ParamDecision      = "decision"       // approved, rejected or expired
	ParamApprovers     = "approvers"      // comma-separated Slack user ids of the counted clicks
	ParamApproverNames = "approverNames"  // comma-separated names, same order
	ParamRequestID     = "requestId"      // the relay's request id
	ParamRecord        = "decisionRecord" // the signed decision record (DSSE envelope JSON)
)

// InputParams lists the input parameters in the order the step declares them.
var InputParams = []string{ParamDecision, ParamApprovers, ParamApproverNames, ParamRequestID, ParamRecord}

// Jenkins is what the relay asks of a controller; *jenkins.Client implements it.
type Jenkins interface {
	BuildInfo(ctx context.Context, buildURL string) (jenkins.Build, error)
	PendingInputs(ctx context.Context, buildURL string) ([]jenkins.PendingInput, error)
	Submit(ctx context.Context, buildURL, inputID, okLabel string, params []jenkins.Param) error
}

// Slack posts and updates the approval message; *slack.Client implements it.
type Slack interface {
	Post(ctx context.Context, channel, text string, blocks []slack.Block) (string, string, error)
	Update(ctx context.Context, channel, ts, text string, blocks []slack.Block) error
	Reply(ctx context.Context, channel, threadTS, text string) (string, error)
}

// Responder answers the clicker through a response_url; *slack.Responder implements it.
type Responder interface {
	Respond(ctx context.Context, responseURL, text string) error
}

// Controller is one Jenkins controller allowed to ask for approvals.
type Controller struct {
	Name string
	// URL is the controller's Jenkins root; build URLs must lie under it.
	URL *url.URL
	// TokenSHA256 is the sha256 of the controller's bearer credential.
	TokenSHA256 [32]byte
	// Revoked controllers are answered 403.
	Revoked bool
	// Jenkins talks to this controller with the relay's own credentials.
	Jenkins Jenkins
	// User is the relay's Jenkins account on this controller: the input's only submitter.
	User string
}

// Config configures a Relay; Store, RBAC, Controllers, Slack, Responder, Signer and Audit are required.
type Config struct {
	Store       *store.Store
	RBAC        *rbac.Config
	Controllers []Controller
	Slack       Slack
	Responder   Responder
	Signer      *decision.Signer
	Audit       *audit.Writer
	// SigningSecret verifies Slack's HTTP requests; empty only in Socket Mode.
	SigningSecret string
	// Log receives one line per event; nil discards.
	Log *log.Logger
	// Replica names this process in outbox leases (default: random).
	Replica string
	// MaxBody caps a request body (default 64 KiB).
	MaxBody int64
	// Poll is how often the outbox and the clock are checked without a nudge (default 250 ms).
	Poll time.Duration
	// RedrawDelay is how long a progress redraw of a message waits for more clicks to fold in (default 1 s, about
	// Slack's one-update-a-second pace); a closing redraw goes at once. The clicker's own answer is not delayed.
	RedrawDelay time.Duration
	// Lease is how long a replica owns an outbox row it is delivering (default 10 s); a replica killed mid-delivery
	// delays that delivery by at most this long, and each delivery is cancelled before its lease ends.
	Lease time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Relay is the approval authority: it takes requests, counts clicks and answers Jenkins once.
type Relay struct {
	cfg     Config
	metrics *Metrics
	kick    chan struct{}
	updates chan redrawJob
	answers chan answer
	stop    chan struct{}
	wg      sync.WaitGroup
	// sem and inflight bound and track the outbox deliveries under way.
	sem      chan struct{}
	inflight sync.WaitGroup
	poolFull atomic.Bool
	once     sync.Once
	// requests caches what clicks are checked against.
	requests requestCache
}

// New validates cfg; call Start to run the background loops and Close to stop them.
func New(cfg Config) (*Relay, error) {
	switch {
	case cfg.Store == nil || cfg.RBAC == nil || cfg.Slack == nil || cfg.Responder == nil || cfg.Signer == nil || cfg.Audit == nil:
		return nil, errors.New("relay needs a store, rbac, slack, responder, signer and audit")
	case len(cfg.Controllers) == 0:
		return nil, errors.New("relay has no Jenkins controller configured: it would not know where builds may live")
	}
	for _, c := range cfg.Controllers {
		if c.URL == nil || c.Jenkins == nil || c.User == "" || c.Name == "" {
			return nil, fmt.Errorf("controller %q needs a name, a Jenkins URL, credentials and the relay's Jenkins user", c.Name)
		}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.RedrawDelay <= 0 {
		cfg.RedrawDelay = time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	if cfg.Replica == "" {
		cfg.Replica = "relay-" + randomHex(4)
	}
	return &Relay{cfg: cfg, metrics: newMetrics(), kick: make(chan struct{}, 1), sem: make(chan struct{}, maxInFlight), updates: make(chan redrawJob, 4096),
		answers: make(chan answer, 4096), stop: make(chan struct{})}, nil
}

// Start runs the outbox deliverer, the clock (expiry, escalation), the Slack updater and the answerer.
func (r *Relay) Start() {
	r.wg.Add(4)
	go r.deliverLoop()
	go r.clockLoop()
	go r.updateLoop()
	go r.answerLoop()
}

// Close stops the background loops; undelivered decisions stay in the outbox for the next start.
func (r *Relay) Close() {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// Metrics returns the relay's metrics.
func (r *Relay) Metrics() *Metrics { return r.metrics }

// Handler serves the request API, Slack interactions, health, readiness and metrics.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/approvals", r.serveCreate)
	mux.HandleFunc("GET /v1/approvals/{id}", r.serveGet)
	mux.HandleFunc("POST /slack/interactions", r.serveInteraction)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", r.serveReady)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, req *http.Request) {
		if n, err := r.cfg.Store.Undelivered(req.Context()); err == nil {
			r.metrics.undelivered.Store(int64(n))
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = r.metrics.WriteTo(w)
	})
	return mux
}

// Pinger is implemented by Jenkins clients that can check the controller answers.
type Pinger interface {
	Ping(ctx context.Context, root string) error
}

func (r *Relay) serveReady(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	if err := r.cfg.Store.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	for _, c := range r.cfg.Controllers {
		if p, ok := c.Jenkins.(Pinger); ok {
			if err := p.Ping(ctx, c.URL.String()); err != nil {
				http.Error(w, "jenkins "+c.Name+" unreachable", http.StatusServiceUnavailable)
				return
			}
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

// controller authenticates a bearer credential.
func (r *Relay) controller(req *http.Request) (*Controller, int) {
	const prefix = "Bearer "
	h := req.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return nil, http.StatusUnauthorized
	}
	sum := sha256.Sum256([]byte(h[len(prefix):]))
	for i := range r.cfg.Controllers {
		c := &r.cfg.Controllers[i]
		if subtle.ConstantTimeCompare(sum[:], c.TokenSHA256[:]) == 1 {
			if c.Revoked {
				return nil, http.StatusForbidden
			}
			return c, 0
		}
	}
	return nil, http.StatusUnauthorized
}

func (r *Relay) controllerNamed(name string) *Controller {
	for i := range r.cfg.Controllers {
		if r.cfg.Controllers[i].Name == name {
			return &r.cfg.Controllers[i]
		}
	}
	return nil
}

func (r *Relay) nudge() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Relay) audit(rec audit.Record) {
	if err := r.cfg.Audit.Write(rec); err != nil {
		r.cfg.Log.Printf("audit write failed: %v", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
