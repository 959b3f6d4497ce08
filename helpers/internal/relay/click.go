package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

func (r *Relay) serveInteraction(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	outcome, code := r.interaction(req)
	r.metrics.count(outcome, time.Since(start))
	w.WriteHeader(code)
}

// interaction runs every check and stores the click before the ack: body cap (413), Slack signature (401),
// payload (400), then Handle; a database failure answers 503 so Slack retries and nothing unstored is acked.
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
	if r.cfg.SigningSecret == "" || err != nil {
		outcome, reason := OutcomeForged, "request signature invalid or missing"
		if errors.Is(err, slack.ErrExpiredTimestamp) {
			outcome, reason = OutcomeStale, "request timestamp more than 5 minutes off"
		}
		r.audit(audit.Record{Event: audit.EventForged, Reason: reason, Source: "http"})
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
	outcome := r.Handle(req.Context(), cb)
	if outcome == OutcomeUnavailable {
		return outcome, http.StatusServiceUnavailable
	}
	return outcome, http.StatusOK
}

// clickPayload is the part of an interaction payload the relay reads; decoding only it is several times cheaper than
// slack.InteractionCallback's full decoder on the per-click path.
type clickPayload struct {
	Type        slack.InteractionType `json:"type"`
	ActionTS    string                `json:"action_ts"`
	ResponseURL string                `json:"response_url"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Actions []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
}

// ParsePayload decodes a block_actions interaction payload and checks the fields the relay relies on.
func ParsePayload(b []byte) (*slack.InteractionCallback, error) {
	var p clickPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decoding interaction payload: %w", err)
	}
	cb := &slack.InteractionCallback{Type: p.Type, ActionTs: p.ActionTS, ResponseURL: p.ResponseURL}
	cb.User.ID, cb.Team.ID, cb.Channel.ID = p.User.ID, p.Team.ID, p.Channel.ID
	cb.Container.MessageTs, cb.Container.ChannelID = p.Container.MessageTS, p.Container.ChannelID
	for _, a := range p.Actions {
		cb.ActionCallback.BlockActions = append(cb.ActionCallback.BlockActions, &slack.BlockAction{ActionID: a.ActionID, BlockID: a.BlockID, Value: a.Value, ActionTs: a.ActionTS})
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return cb, nil // not ours; ignored later
	}
	if cb.User.ID == "" {
		return nil, errors.New("interaction payload has no user.id")
	}
	return cb, nil
}

func ourAction(cb *slack.InteractionCallback) *slack.BlockAction {
	for _, a := range cb.ActionCallback.BlockActions {
		if a != nil && (a.ActionID == rgslack.ActionApprove || a.ActionID == rgslack.ActionReject) {
			return a
		}
	}
	return nil
}

// Handle checks a verified click against the request's rule, stores it and queues the answers; it returns
// after the click is committed (or refused), never waiting on Slack or Jenkins.
func (r *Relay) Handle(ctx context.Context, cb *slack.InteractionCallback) string {
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
	user := cb.User.ID
	rec := audit.Record{Team: cb.Team.ID, Channel: cb.Channel.ID, MessageTS: cb.Container.MessageTs, ActionTS: actionTS, User: user, Source: "slack"}
	if rec.Channel == "" {
		rec.Channel = cb.Container.ChannelID
	}
	ce, err := r.requests.get(ctx, r.cfg.Store, act.Value)
	if errors.Is(err, store.ErrNotFound) {
		rec.Event, rec.Reason = audit.EventDenied, "button names no known request"
		r.refuse(rec, cb.ResponseURL, "This button belongs to no approval request the relay knows; nothing was recorded.")
		return OutcomeUnknown
	}
	if err != nil {
		r.cfg.Log.Printf("database unavailable for a click by %s: %v", user, err)
		return OutcomeUnavailable
	}
	sr, rule := &ce.req, ce.rule
	rec.TraceID, rec.BuildURL, rec.InputID, rec.Service, rec.Environment = sr.TraceID, sr.BuildURL, sr.InputID, sr.Service, sr.Environment
	want := "approve"
	if act.ActionID == rgslack.ActionReject {
		want = "reject"
	}
	replayKey := actionTS + ":" + user
	if sr.State != store.StatePending || !r.cfg.Now().Before(sr.Deadline) {
		seen, err := r.recorded(ctx, sr.ID, replayKey)
		if err != nil {
			r.cfg.Log.Printf("database unavailable for a click by %s: %v", user, err)
			return OutcomeUnavailable
		}
		if seen {
			rec.Event, rec.Reason = audit.EventReplayed, "Slack event recorded before; not counted again"
			r.audit(rec)
			return OutcomeReplayed // Slack retried a click that was counted (perhaps the deciding one) before the request closed
		}
	}
	switch {
	case sr.State != store.StatePending:
		rec.Event, rec.Reason = audit.EventDenied, "request already "+sr.State
		r.refuse(rec, cb.ResponseURL, fmt.Sprintf("This approval is already %s; your click changed nothing.", sr.State))
		return OutcomeClosed
	case !r.cfg.Now().Before(sr.Deadline):
		rec.Event, rec.Reason = audit.EventExpired, "request past its deadline"
		r.refuse(rec, cb.ResponseURL, "This approval request has expired; ask for a new one.")
		r.nudge()
		return OutcomeClosed
	case !slices.Contains(rule.Approvers, user):
		rec.Event, rec.Reason = audit.EventDenied, fmt.Sprintf("%s is not an approver for %s in %s", user, sr.Service, sr.Environment)
		r.refuse(rec, cb.ResponseURL, fmt.Sprintf("Not allowed: you are not an approver for %s in %s.", sr.Service, sr.Environment))
		return OutcomeDenied
	case want == "approve" && slices.Contains(sr.Requesters, user) && !rule.AllowSelfApproval:
		rec.Event, rec.Reason = audit.EventDenied, fmt.Sprintf("%s requested this release and may not approve it (four-eyes rule)", user)
		r.refuse(rec, cb.ResponseURL, "Not allowed: you requested this release, so someone else must approve it (four-eyes rule).")
		return OutcomeDenied
	}
	name := r.cfg.RBAC.JenkinsUser(user)
	if name == "" {
		name = user
	}
	c := store.Click{RequestID: sr.ID, Approver: user, Name: name, Decision: want, EventID: actionTS + "-" + user, ReplayKey: replayKey, At: r.cfg.Now().UTC()}
	res, err := r.cfg.Store.VoteLeased(ctx, c, r.decider(c.At), r.cfg.Replica, r.cfg.Lease)
	if err != nil {
		r.cfg.Log.Printf("storing a click by %s on %s failed: %v", user, sr.ID[:8], err)
		return OutcomeUnavailable
	}
	switch res.Outcome {
	case store.VoteReplayed:
		rec.Event, rec.Reason = audit.EventReplayed, "Slack event recorded before; not counted again"
		r.audit(rec)
		return OutcomeReplayed
	case store.VoteDuplicate:
		rec.Event, rec.Reason = audit.EventDenied, "already voted on this request"
		r.refuse(rec, cb.ResponseURL, "You already answered this approval; each approver counts once.")
		return OutcomeDuplicate
	case store.VoteClosed:
		r.requests.closed(sr.ID, res.Request.State)
		rec.Event, rec.Reason = audit.EventDenied, "request already "+res.Request.State
		r.refuse(rec, cb.ResponseURL, fmt.Sprintf("This approval is already %s; your click changed nothing.", res.Request.State))
		return OutcomeClosed
	}
	rec.Event, rec.Decision = audit.EventApproved, want
	if want == "reject" {
		rec.Event = audit.EventRejected
	}
	approvals := 0
	for _, cl := range res.Clicks {
		if cl.Decision == "approve" {
			approvals++
		}
	}
	rec.Reason = fmt.Sprintf("%d of %d approvals", approvals, rule.Required)
	r.audit(rec)
	text := fmt.Sprintf("Recorded: you approved %s for %s (%d of %d).", sr.Service, sr.Environment, approvals, rule.Required)
	switch {
	case res.Decided != nil && res.Decided.State == store.StateApproved:
		text += " That completes the approval; Jenkins is answered as soon as the pipeline waits for it."
	case res.Decided != nil:
		text = fmt.Sprintf("Recorded: you rejected %s for %s; Jenkins is answered as soon as the pipeline waits for it.", sr.Service, sr.Environment)
	}
	r.answer(cb.ResponseURL, text)
	drawn := res.Request
	r.queueRedraw(redrawJob{id: sr.ID, req: &drawn, clicks: res.Clicks})
	if res.Decided != nil {
		r.requests.closed(sr.ID, res.Decided.State)
		r.metrics.decided(res.Decided.State)
		r.metrics.markDecided(sr.ID, time.Now())
		r.cfg.Log.Printf("request %s %s", sr.ID[:8], res.Decided.State)
		if res.Delivery != nil {
			r.dispatch(*res.Delivery) // leased to this replica in the deciding transaction: no claim round
		} else {
			r.nudge()
		}
	}
	return OutcomeCounted
}

// decider closes a request at the quorum of approvals or the first reject, signing the record.
func (r *Relay) decider(now time.Time) store.Decider {
	return func(sr store.Request, clicks []store.Click) (*store.Decision, error) {
		var rule decision.Rule
		if err := json.Unmarshal(sr.Rule, &rule); err != nil {
			return nil, fmt.Errorf("rule snapshot of %s: %w", sr.ID, err)
		}
		approvals, state := 0, ""
		for _, c := range clicks {
			if c.Decision == "reject" {
				state = store.StateRejected
				break
			}
			approvals++
		}
		if state == "" && approvals >= rule.Required {
			state = store.StateApproved
		}
		if state == "" {
			return nil, nil
		}
		return r.close(sr, rule, clicks, state, now)
	}
}

func (r *Relay) expirer(now time.Time) store.Decider {
	return func(sr store.Request, clicks []store.Click) (*store.Decision, error) {
		var rule decision.Rule
		_ = json.Unmarshal(sr.Rule, &rule)
		return r.close(sr, rule, clicks, store.StateExpired, now)
	}
}

// close builds and signs the decision record and the input parameters that carry it.
func (r *Relay) close(sr store.Request, rule decision.Rule, clicks []store.Click, state string, now time.Time) (*store.Decision, error) {
	rec := decision.Record{RequestID: sr.ID, TraceID: sr.TraceID, BuildURL: sr.BuildURL, InputID: sr.InputID, Service: sr.Service,
		Environment: sr.Environment, Version: sr.Version, Commit: sr.Commit, Branch: sr.Branch, Digests: sr.Digests, Rule: rule,
		Requesters: sr.Requesters, Decision: state, DecidedAt: now.UTC()}
	var ids, names []string
	for _, c := range clicks {
		rec.Approvers = append(rec.Approvers, decision.Approver{SlackID: c.Approver, Name: c.Name, Decision: c.Decision, EventID: c.EventID, At: c.At})
		if c.Decision == "approve" || state == store.StateRejected {
			ids, names = append(ids, c.Approver), append(names, c.Name)
		}
	}
	env, err := r.cfg.Signer.Sign(rec)
	if err != nil {
		return nil, err
	}
	params, _ := json.Marshal([]jenkins.Param{
		{Name: ParamDecision, Value: state}, {Name: ParamApprovers, Value: strings.Join(ids, ",")},
		{Name: ParamApproverNames, Value: strings.Join(names, ",")}, {Name: ParamRequestID, Value: sr.ID}, {Name: ParamRecord, Value: string(env)},
	})
	return &store.Decision{State: state, Params: params, Record: env}, nil
}

// refuse audits a refused click and queues the answer to the clicker.
func (r *Relay) refuse(rec audit.Record, responseURL, text string) {
	r.audit(rec)
	r.cfg.Log.Printf("%s: user %s trace %s: %s", rec.Event, rec.User, rec.TraceID, rec.Reason)
	r.answer(responseURL, text)
}

// recorded reports whether the Slack event with replayKey was already stored on request id.
func (r *Relay) recorded(ctx context.Context, id, replayKey string) (bool, error) {
	clicks, err := r.cfg.Store.Clicks(ctx, id)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(clicks, func(c store.Click) bool { return c.ReplayKey == replayKey }), nil
}
