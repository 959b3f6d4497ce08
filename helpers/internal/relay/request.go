package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	"github.com/release-gates/release-gates/helpers/internal/result"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

// ApprovalRequest is the body of POST /v1/approvals; json names are the slackApproval parameters they come from.
type ApprovalRequest struct {
	BuildURL    string   `json:"buildUrl"`
	TraceID     string   `json:"traceId"`
	Service     string   `json:"service"`
	Environment string   `json:"environment"`
	Version     string   `json:"version"`
	Commit      string   `json:"commit"`
	Branch      string   `json:"branch"`
	Channel     string   `json:"channel"`
	Digests     []string `json:"digests"`
	Summary     []string `json:"summary"`
	// Requesters adds Slack user ids to the requesters derived from Jenkins; it never removes one.
	Requesters []string `json:"requesters"`
	// Timeout is a Go duration, capped by the rule's maxTimeout (default: the cap).
	Timeout string `json:"timeout"`
}

// ApprovalResponse answers POST /v1/approvals and GET /v1/approvals/{id}.
type ApprovalResponse struct {
	RequestID   string          `json:"requestId"`
	InputID     string          `json:"inputId"`
	Submitter   string          `json:"submitter"`
	InputParams []string        `json:"inputParams"`
	Deadline    time.Time       `json:"deadline"`
	Rule        decision.Rule   `json:"rule"`
	Requesters  []string        `json:"requesters"`
	Channel     string          `json:"channel"`
	TS          string          `json:"ts"`
	State       string          `json:"state"`
	KeyID       string          `json:"keyId"`
	Record      json.RawMessage `json:"decisionRecord,omitempty"`
}

// apiError is the JSON error body; Class is input, config, rejected, auth or unavailable.
type apiError struct {
	Error string `json:"error"`
	Class string `json:"class"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, class, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...), Class: class})
}

var (
	digestRE = regexp.MustCompile(`^sha(256|384|512):[0-9a-f]{32,128}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)
)

func (r *Relay) serveCreate(w http.ResponseWriter, req *http.Request) {
	ctl, code := r.controller(req)
	if ctl == nil {
		r.metrics.requestResult("unauthorized")
		fail(w, code, "auth", "unknown or revoked controller credential (check the relay token bound as RG_RELAY_TOKEN)")
		return
	}
	var ar ApprovalRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, r.cfg.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ar); err != nil {
		fail(w, http.StatusBadRequest, "input", "request body: %v", err)
		return
	}
	resp, code, class, err := r.create(req.Context(), ctl, ar)
	if err != nil {
		r.metrics.requestResult(class)
		r.cfg.Log.Printf("request from %s refused: %v", ctl.Name, err)
		fail(w, code, class, "%v", err)
		return
	}
	r.metrics.requestResult("created")
	writeJSON(w, http.StatusCreated, resp)
}

// create validates and stores one request and posts its Slack message.
func (r *Relay) create(ctx context.Context, ctl *Controller, ar ApprovalRequest) (*ApprovalResponse, int, string, error) {
	bad := func(format string, args ...any) (*ApprovalResponse, int, string, error) {
		return nil, http.StatusBadRequest, "input", fmt.Errorf(format, args...)
	}
	switch {
	case !nameRE.MatchString(ar.Service):
		return bad("service %q: letters, digits, '.', '_', '/' or '-'", ar.Service)
	case !nameRE.MatchString(ar.Environment):
		return bad("environment %q: letters, digits, '.', '_', '/' or '-'", ar.Environment)
	case ar.Version == "" || len(ar.Version) > 128:
		return bad("version is required (at most 128 characters)")
	case !regexp.MustCompile(`^[0-9a-f]{7,64}$`).MatchString(ar.Commit):
		return bad("commit %q: a hex commit sha", ar.Commit)
	case ar.Branch == "" || len(ar.Branch) > 255:
		return bad("branch is required")
	case len(ar.TraceID) > 128:
		return bad("traceId is too long")
	case len(ar.Summary) > 50:
		return bad("summary: at most 50 lines")
	}
	for _, d := range ar.Digests {
		if !digestRE.MatchString(d) {
			return bad("digests: %q is not a digest like sha256:<hex>", d)
		}
	}
	for _, u := range ar.Requesters {
		if !rbac.IsUserID(u) {
			return bad("requester %q is not a Slack user id (U or W, upper case)", u)
		}
	}
	build, err := NormalizeBuildURL(ar.BuildURL, ctl.URL)
	if err != nil {
		return nil, http.StatusForbidden, "input", fmt.Errorf("buildUrl: %w (controller %s)", err, ctl.Name)
	}
	rule, err := r.cfg.RBAC.Rule(ar.Service, ar.Environment)
	if err != nil {
		return nil, http.StatusUnprocessableEntity, "config", fmt.Errorf("%w (in the relay's rbac.yaml)", err)
	}
	if !rule.BranchAllowed(ar.Branch) {
		return nil, http.StatusUnprocessableEntity, "rejected", fmt.Errorf("branch %q may not be released to %s (allowed: %s)", ar.Branch, ar.Environment, strings.Join(rule.Branches, ", "))
	}
	channel := rule.Channel
	if channel == "" {
		channel = ar.Channel
	}
	if !rbac.IsChannelID(channel) {
		return bad("channel %q: a Slack channel id like C0123ABCD (or set channel on the rule in rbac.yaml)", channel)
	}
	timeout := rule.MaxTimeoutOf()
	if ar.Timeout != "" {
		d, err := time.ParseDuration(ar.Timeout)
		if err != nil || d <= 0 {
			return bad("timeout %q: a duration like 24h", ar.Timeout)
		}
		timeout = min(d, timeout)
	}
	b, err := ctl.Jenkins.BuildInfo(ctx, build)
	var te *jenkins.TransientError
	switch {
	case errors.Is(err, jenkins.ErrNoBuild):
		return nil, http.StatusUnprocessableEntity, "input", fmt.Errorf("buildUrl: Jenkins %s has no build %s", ctl.Name, build)
	case errors.As(err, &te):
		return nil, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("jenkins %s unavailable: %v", ctl.Name, err)
	case err != nil:
		return nil, http.StatusBadGateway, "unavailable", fmt.Errorf("asking jenkins %s about the build: %v", ctl.Name, err)
	case !b.Building:
		return nil, http.StatusConflict, "input", fmt.Errorf("buildUrl: build %s is not running", build)
	}
	requesters := r.requesters(b)
	if len(requesters) == 0 && !rule.AllowSelfApproval {
		who := b.UserID
		if b.SCM {
			who = "commit authors " + strings.Join(b.Authors, ", ")
		}
		return nil, http.StatusUnprocessableEntity, "config", fmt.Errorf("cannot tell who requested build %s (%s): map them in the relay's rbac.yaml (users or identities)", build, who)
	}
	for _, u := range ar.Requesters {
		if !slices.Contains(requesters, u) {
			requesters = append(requesters, u)
		}
	}
	now := r.cfg.Now()
	snap := decision.Rule{Service: rule.Service, Environment: rule.Environment, Approvers: r.cfg.RBAC.ApproverIDs(rule), Required: rule.Required,
		AllowSelfApproval: rule.AllowSelfApproval, Branches: rule.Branches, EscalationGroup: rule.EscalationGroup, EscalateAfter: rule.EscalateAfter,
		MaxTimeout: rule.MaxTimeoutOf().String(), Channel: rule.Channel}
	ruleJSON, _ := json.Marshal(snap)
	sr := store.Request{ID: randomHex(16), InputID: "Rg" + randomHex(8), Controller: ctl.Name, BuildURL: build, TraceID: ar.TraceID,
		Service: ar.Service, Environment: ar.Environment, Version: ar.Version, Commit: ar.Commit, Branch: ar.Branch, Digests: ar.Digests,
		Summary: ar.Summary, Rule: ruleJSON, Requesters: requesters, Channel: channel, State: store.StatePending, Created: now, Deadline: now.Add(timeout)}
	if d := rule.EscalateAfterOf(); d > 0 && d < timeout {
		sr.EscalateAt = now.Add(d)
	}
	if err := r.cfg.Store.CreateRequest(ctx, sr); err != nil {
		return nil, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("storing the request: %v", err)
	}
	blocks, text := rgslack.ViewBlocks(r.view(sr, nil))
	ch, ts, err := r.cfg.Slack.Post(ctx, channel, text, blocks)
	switch class := result.ClassOf(err); {
	case err == nil:
	case class == result.ClassInput:
		// Retrying cannot help: Slack refused the message itself (a Block Kit limit); say which request field grew it.
		return nil, http.StatusUnprocessableEntity, "input", fmt.Errorf("posting the Slack message: %v (check the request's requesters, summary and version)", err)
	case class == result.ClassAuth || class == result.ClassConfig:
		return nil, http.StatusBadGateway, string(class), fmt.Errorf("posting the Slack message: %v", err)
	default:
		return nil, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("posting the Slack message: %v", err)
	}
	if err := r.cfg.Store.SetMessage(ctx, sr.ID, ch, ts); err != nil {
		return nil, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("storing the message: %v", err)
	}
	sr.Channel, sr.MessageTS = ch, ts
	r.requests.put(sr) // what was just stored: the first click on this replica needs no read
	r.audit(audit.Record{Event: audit.EventRequest, TraceID: sr.TraceID, Channel: ch, MessageTS: ts, BuildURL: build, InputID: sr.InputID,
		Service: sr.Service, Environment: sr.Environment, User: strings.Join(requesters, ","), Source: "api:" + ctl.Name})
	r.cfg.Log.Printf("request %s: %s %s to %s for build %s (requesters %s, %d of %v)", sr.ID[:8], sr.Service, sr.Version, sr.Environment, build,
		strings.Join(requesters, ","), rule.Required, snap.Approvers)
	return &ApprovalResponse{RequestID: sr.ID, InputID: sr.InputID, Submitter: ctl.User, InputParams: InputParams, Deadline: sr.Deadline,
		Rule: snap, Requesters: requesters, Channel: ch, TS: ts, State: store.StatePending, KeyID: r.cfg.Signer.KeyID}, 0, "", nil
}

// requesters derives who asked for the build: the user cause, or the commit authors of an SCM-triggered build.
func (r *Relay) requesters(b jenkins.Build) []string {
	var out []string
	if b.UserID != "" {
		if s := r.cfg.RBAC.SlackUser(b.UserID); s != "" {
			out = append(out, s)
		}
	}
	for _, a := range b.Authors {
		if s := r.cfg.RBAC.Identity(a); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (r *Relay) serveGet(w http.ResponseWriter, req *http.Request) {
	ctl, code := r.controller(req)
	if ctl == nil {
		fail(w, code, "auth", "unknown or revoked controller credential")
		return
	}
	sr, err := r.cfg.Store.Request(req.Context(), req.PathValue("id"))
	if err != nil || sr.Controller != ctl.Name {
		fail(w, http.StatusNotFound, "input", "no such approval request")
		return
	}
	var snap decision.Rule
	_ = json.Unmarshal(sr.Rule, &snap)
	resp := ApprovalResponse{RequestID: sr.ID, InputID: sr.InputID, Submitter: ctl.User, InputParams: InputParams, Deadline: sr.Deadline, Rule: snap,
		Requesters: sr.Requesters, Channel: sr.Channel, TS: sr.MessageTS, State: sr.State, KeyID: r.cfg.Signer.KeyID}
	if rec, _, err := r.cfg.Store.Record(req.Context(), sr.ID); err == nil {
		resp.Record = rec
	}
	writeJSON(w, http.StatusOK, resp)
}

// view renders a stored request and its clicks for Slack.
func (r *Relay) view(sr store.Request, clicks []store.Click) rgslack.View {
	var snap decision.Rule
	_ = json.Unmarshal(sr.Rule, &snap)
	v := rgslack.View{Request: rgslack.Request{Service: sr.Service, Environment: sr.Environment, Version: sr.Version, Commit: sr.Commit,
		Branch: sr.Branch, Requester: strings.Join(sr.Requesters, ","), BuildURL: sr.BuildURL, TraceID: sr.TraceID, Expires: sr.Deadline},
		RequestID: sr.ID, Required: snap.Required, Summary: slices.Clone(sr.Summary), State: sr.State}
	for _, d := range sr.Digests {
		v.Summary = append(v.Summary, "`"+d+"`")
	}
	for _, c := range clicks {
		if c.Decision == "approve" {
			v.Approvals = append(v.Approvals, c.Name)
		} else {
			v.Reason = fmt.Sprintf("%s rejected", c.Name)
		}
	}
	return v
}
