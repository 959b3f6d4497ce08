package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/token"
)

// Input-step parameter names the relay submits; the pipeline's input step must declare them.
const (
	ParamApprover     = "approver"     // Slack user id of the clicker
	ParamApproverName = "approverName" // Jenkins user id mapped in rbac.yaml
	ParamEventID      = "eventId"      // <action_ts>-<user>: unique per click
	ParamComment      = "comment"      // human-readable sentence for the build log
	ParamDecision     = "decision"     // approve or reject
	ParamTraceID      = "traceId"      // the release trace id from the button token
)

// Submitter answers a Jenkins input step; *jenkins.Client implements it.
type Submitter interface {
	Submit(ctx context.Context, buildURL, inputID, okLabel string, params []jenkins.Param) error
}

// Responder answers the clicker through a response_url; *slack.Responder implements it.
type Responder interface {
	Respond(ctx context.Context, responseURL, text string) error
}

// Config configures a Relay; SigningSecret, ButtonKey, RBAC, Jenkins, Responder and Audit are required.
type Config struct {
	SigningSecret string
	ButtonKey     []byte
	RBAC          *rbac.Config
	Jenkins       Submitter
	Responder     Responder
	Audit         *audit.Writer
	// Log receives one line per click; nil discards.
	Log *log.Logger
	// Workers and Queue size the pool that calls Jenkins (defaults 8 and 1024).
	Workers, Queue int
	// MaxBody caps an interaction request body (default 64 KiB).
	MaxBody int64
	// JenkinsURL, if set, is the only prefix a token's build URL may have, so credentials never leave it.
	JenkinsURL string
	// CallTimeout bounds one click's Jenkins call including retries (default 30 s).
	CallTimeout time.Duration
	// ReplayWindow is how many recent request keys each replica remembers (default 100000).
	ReplayWindow int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Relay verifies clicks and answers Jenkins; it is stateless apart from its replay window.
type Relay struct {
	cfg     Config
	jobs    chan job
	answers chan answer
	awg     sync.WaitGroup
	seen    *seen
	metrics *Metrics
	wg      sync.WaitGroup
	once    sync.Once
}

type job struct {
	started     time.Time
	claims      token.Claims
	rec         audit.Record
	responseURL string
	params      []jenkins.Param
}

// New validates cfg and starts the worker pool; call Close to drain it.
func New(cfg Config) (*Relay, error) {
	switch {
	case len(cfg.ButtonKey) < token.MinKeyLen:
		return nil, token.ErrShortKey
	case cfg.RBAC == nil || cfg.Jenkins == nil || cfg.Responder == nil || cfg.Audit == nil:
		return nil, errors.New("relay needs rbac, jenkins, responder and audit")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	r := &Relay{cfg: cfg, jobs: make(chan job, cfg.Queue), answers: make(chan answer, cfg.Queue), seen: newSeen(cfg.ReplayWindow), metrics: newMetrics()}
	for i := 0; i < cfg.Workers; i++ {
		r.wg.Add(1)
		go r.worker()
		// Answers go through their own pool so a slow response_url never holds up Jenkins calls.
		r.awg.Add(1)
		go r.answerer()
	}
	return r, nil
}

// Metrics returns the relay's metrics.
func (r *Relay) Metrics() *Metrics { return r.metrics }

// Close stops accepting work and waits for queued Jenkins calls to finish.
func (r *Relay) Close() {
	r.once.Do(func() {
		close(r.jobs)
		r.wg.Wait()
		close(r.answers)
	})
	r.awg.Wait()
}

// Handler serves POST /slack/interactions, GET /healthz and GET /metrics.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/interactions", r.serveInteraction)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = r.metrics.WriteTo(w)
	})
	return mux
}

func (r *Relay) serveInteraction(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	outcome, code := r.interaction(req)
	r.metrics.count(outcome, time.Since(start))
	w.WriteHeader(code)
}

// interaction runs the checks that must pass before the 200 ack.
func (r *Relay) interaction(req *http.Request) (string, int) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, r.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return OutcomeTooLarge, http.StatusRequestEntityTooLarge
		}
		return OutcomeBadPayload, http.StatusBadRequest
	}
	sv, err := slack.NewSecretsVerifier(req.Header, r.cfg.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		outcome, reason := OutcomeForged, "request signature invalid or missing"
		if errors.Is(err, slack.ErrExpiredTimestamp) {
			outcome, reason = OutcomeStale, "request timestamp more than 5 minutes off"
		}
		r.audit(audit.Record{Event: audit.EventForged, Reason: reason, Source: "http"})
		r.cfg.Log.Printf("refused unsigned or stale request from %s: %s", req.RemoteAddr, reason)
		return outcome, http.StatusUnauthorized
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return OutcomeBadPayload, http.StatusBadRequest
	}
	cb, err := ParsePayload([]byte(form.Get("payload")))
	if err != nil {
		return OutcomeBadPayload, http.StatusBadRequest
	}
	outcome := r.Handle(cb, "sig:"+req.Header.Get("X-Slack-Signature"))
	if outcome == OutcomeOverloaded {
		return outcome, http.StatusServiceUnavailable
	}
	return outcome, http.StatusOK
}

// ParsePayload decodes a block_actions interaction payload and checks the fields the relay relies on.
func ParsePayload(b []byte) (*slack.InteractionCallback, error) {
	var cb slack.InteractionCallback
	if err := cb.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decoding interaction payload: %w", err)
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return &cb, nil // not ours; ignored later
	}
	if cb.User.ID == "" {
		return nil, errors.New("interaction payload has no user.id")
	}
	return &cb, nil
}

// ourAction returns the first approve or reject action in cb.
func ourAction(cb *slack.InteractionCallback) *slack.BlockAction {
	for _, a := range cb.ActionCallback.BlockActions {
		if a != nil && (a.ActionID == rgslack.ActionApprove || a.ActionID == rgslack.ActionReject) {
			return a
		}
	}
	return nil
}

// Handle checks a parsed click and queues its Jenkins answer; extraKeys identify the transport request for
// replay detection. It returns the outcome; it never blocks on Slack or Jenkins.
func (r *Relay) Handle(cb *slack.InteractionCallback, extraKeys ...string) string {
	if cb == nil || cb.Type != slack.InteractionTypeBlockActions {
		return OutcomeIgnored
	}
	act := ourAction(cb)
	if act == nil {
		return OutcomeIgnored
	}
	actionTS := act.ActionTs
	if actionTS == "" {
		actionTS = cb.ActionTs
	}
	rec := audit.Record{
		Team: cb.Team.ID, Channel: channelOf(cb), MessageTS: cb.Container.MessageTs, ActionTS: actionTS,
		User: cb.User.ID, Source: "slack",
	}
	want := token.DecisionApprove
	if act.ActionID == rgslack.ActionReject {
		want = token.DecisionReject
	}
	claims, err := token.Verify(r.cfg.ButtonKey, act.Value, r.cfg.Now())
	if err == nil && claims.Decision != want {
		err = fmt.Errorf("%w: button %s carries a %s token", token.ErrSignature, act.ActionID, claims.Decision)
	}
	if err == nil && r.cfg.JenkinsURL != "" && !strings.HasPrefix(claims.BuildURL, strings.TrimRight(r.cfg.JenkinsURL, "/")+"/") {
		err = fmt.Errorf("%w: build URL is outside the configured Jenkins", token.ErrSignature)
	}
	if err != nil {
		fillClaims(&rec, claims)
		if errors.Is(err, token.ErrExpired) {
			rec.Event, rec.Reason = audit.EventExpired, "button token expired"
			r.refuse(rec, cb.ResponseURL, "This approval request has expired; ask for a new one.")
			return OutcomeExpired
		}
		rec.Event, rec.Reason = audit.EventDenied, "button token invalid: "+err.Error()
		rec.BuildURL, rec.InputID = "", "" // unverified: do not record as fact
		r.refuse(rec, cb.ResponseURL, "This button could not be verified; nothing was sent to Jenkins.")
		return OutcomeTampered
	}
	fillClaims(&rec, claims)
	keys := append([]string{"act:" + actionTS + ":" + cb.User.ID}, extraKeys...)
	if r.seen.checkAndAdd(keys...) {
		rec.Event, rec.Reason = audit.EventReplayed, "request seen before; not re-submitted"
		r.audit(rec)
		return OutcomeReplayed
	}
	d := r.cfg.RBAC.Check(rbac.Request{User: cb.User.ID, Service: claims.Service, Environment: claims.Environment, Branch: claims.Branch, Requester: claims.Requester})
	if !d.Allowed {
		rec.Event, rec.Reason = audit.EventDenied, d.Reason
		r.refuse(rec, cb.ResponseURL, "Not allowed: "+d.Reason+".")
		return OutcomeDenied
	}
	name := r.cfg.RBAC.JenkinsUser(cb.User.ID)
	verb := "approved"
	rec.Event = audit.EventApproved
	if want == token.DecisionReject {
		verb, rec.Event = "rejected", audit.EventRejected
	}
	rec.Decision = want
	j := job{started: time.Now(), claims: claims, rec: rec, responseURL: cb.ResponseURL, params: []jenkins.Param{
		{Name: ParamApprover, Value: cb.User.ID},
		{Name: ParamApproverName, Value: name},
		{Name: ParamEventID, Value: actionTS + "-" + cb.User.ID},
		{Name: ParamComment, Value: fmt.Sprintf("%s via Slack by %s (%s)", verb, name, cb.User.ID)},
		{Name: ParamDecision, Value: want},
		{Name: ParamTraceID, Value: claims.TraceID},
	}}
	if !r.enqueue(j) {
		r.seen.forget(keys...)
		return OutcomeOverloaded
	}
	return OutcomeAccepted
}

func channelOf(cb *slack.InteractionCallback) string {
	if cb.Channel.ID != "" {
		return cb.Channel.ID
	}
	return cb.Container.ChannelID
}

func fillClaims(rec *audit.Record, c token.Claims) {
	rec.TraceID, rec.BuildURL, rec.InputID, rec.Service, rec.Environment = c.TraceID, c.BuildURL, c.InputID, c.Service, c.Environment
}

// refuse audits a refused click and queues the answer to the clicker.
func (r *Relay) refuse(rec audit.Record, responseURL, text string) {
	r.audit(rec)
	r.cfg.Log.Printf("%s: user %s trace %s: %s", rec.Event, rec.User, rec.TraceID, rec.Reason)
	if responseURL != "" {
		r.answer(responseURL, text)
	}
}

func (r *Relay) enqueue(j job) (ok bool) {
	defer func() {
		if recover() != nil { // closed while shutting down
			ok = false
		}
	}()
	select {
	case r.jobs <- j:
		return true
	default:
		return false
	}
}

func (r *Relay) audit(rec audit.Record) {
	if err := r.cfg.Audit.Write(rec); err != nil {
		r.cfg.Log.Printf("audit write failed: %v", err)
	}
}

func (r *Relay) worker() {
	defer r.wg.Done()
	for j := range r.jobs {
		r.run(j)
	}
}

func (r *Relay) run(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	err := r.cfg.Jenkins.Submit(ctx, j.claims.BuildURL, j.claims.InputID, "Proceed", j.params)
	var te *jenkins.TransientError
	switch {
	case err == nil:
		r.metrics.jenkins[JenkinsOK].Add(1)
		r.metrics.call.observe(time.Since(j.started))
		r.audit(j.rec)
		r.cfg.Log.Printf("%s: %s by %s (trace %s)", j.rec.Event, j.claims.Service, j.rec.User, j.rec.TraceID)
		r.answer(j.responseURL, fmt.Sprintf("Recorded: you %s %s for %s; Jenkins has resumed the build.", j.rec.Event, j.claims.Service, j.claims.Environment))
	case errors.Is(err, jenkins.ErrInputGone):
		r.metrics.jenkins[JenkinsGone].Add(1)
		rec := j.rec
		rec.Event, rec.Reason, rec.Decision = audit.EventDenied, "already decided or the build has already finished", ""
		r.audit(rec)
		r.answer(j.responseURL, "This build has already finished or its approval was already decided; your click changed nothing.")
	case errors.As(err, &te):
		r.metrics.jenkins[JenkinsUnavailable].Add(1)
		rec := j.rec
		rec.Event, rec.Reason, rec.Decision = audit.EventFailed, "jenkins unavailable after retries: "+err.Error(), ""
		r.audit(rec)
		r.cfg.Log.Printf("jenkins unavailable for trace %s: %v", j.rec.TraceID, err)
		r.answer(j.responseURL, "Jenkins could not be reached after several tries; your decision was NOT recorded. Please click again in a minute.")
	default:
		r.metrics.jenkins[JenkinsFailed].Add(1)
		rec := j.rec
		rec.Event, rec.Reason, rec.Decision = audit.EventFailed, "jenkins refused: "+err.Error(), ""
		r.audit(rec)
		r.cfg.Log.Printf("jenkins refused trace %s: %v", j.rec.TraceID, err)
		r.answer(j.responseURL, "Jenkins refused the answer; your decision was NOT recorded. The relay operators have been told (see its log).")
	}
}

// answer is a message for the clicker, sent through response_url.
type answer struct{ url, text string }

// answer queues a message for the clicker; it drops it (logged) rather than block when the queue is full.
func (r *Relay) answer(responseURL, text string) {
	if responseURL == "" {
		return
	}
	defer func() { _ = recover() }() // closed while shutting down
	select {
	case r.answers <- answer{responseURL, text}:
	default:
		r.cfg.Log.Printf("answer queue full; dropped a reply to the clicker")
	}
}

func (r *Relay) answerer() {
	defer r.awg.Done()
	for a := range r.answers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := r.cfg.Responder.Respond(ctx, a.url, a.text); err != nil {
			r.cfg.Log.Printf("answering the clicker failed: %v", err)
		}
		cancel()
	}
}
