package relay

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

// Delivery outcomes, used as the metrics label.
const (
	DeliverySubmitted = "submitted"          // Jenkins accepted the answer
	DeliveryPresumed  = "presumed-submitted" // a replica posted before it died, and the input is gone since
	DeliveryGone      = "build-gone"         // the build finished or disappeared before the input was reached
	DeliveryWaiting   = "waiting"            // the input is not pending yet; tried again shortly
	DeliveryFailed    = "failed"             // Jenkins refused or was unreachable; tried again later
)

var deliveryResults = []string{DeliverySubmitted, DeliveryPresumed, DeliveryGone, DeliveryWaiting, DeliveryFailed}

func (r *Relay) deliverLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	defer r.inflight.Wait() // the store stays open until the deliveries under way are settled
	for {
		r.deliverDue()
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

// maxInFlight bounds the deliveries one replica runs at once (each holds at most one Jenkins connection).
const maxInFlight = 128

// deliverDue claims due outbox rows while there is room and delivers each one concurrently; it does not wait for
// a claimed batch to finish (a slow Jenkins holds only its own deliveries), and each finished delivery nudges the
// loop to claim again.
func (r *Relay) deliverDue() {
	for {
		room := cap(r.sem) - len(r.sem)
		if room == 0 {
			r.poolFull.Store(true) // the next delivery to finish nudges the loop
			return
		}
		limit := min(32, room)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Lease*9/10)
		rows, err := r.cfg.Store.Claim(ctx, r.cfg.Replica, r.cfg.Now(), r.cfg.Lease, limit)
		cancel()
		if err != nil {
			r.cfg.Log.Printf("outbox: claiming failed: %v", err)
			return
		}
		for _, d := range rows {
			r.dispatch(d)
		}
		if len(rows) < limit {
			return
		}
	}
}

// dispatch delivers one outbox row this replica holds the lease of, waiting for room among the deliveries in flight.
func (r *Relay) dispatch(d store.Delivery) {
	r.inflight.Add(1)
	go func() {
		defer r.inflight.Done()
		r.sem <- struct{}{}
		var once sync.Once
		release := func() {
			once.Do(func() {
				<-r.sem
				if r.poolFull.CompareAndSwap(true, false) {
					r.nudge()
				}
			})
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Lease*9/10)
		defer cancel()
		r.deliver(ctx, d, release)
	}()
}

// deliver answers one input: only when Jenkins lists it as pending, and at most once. It calls release once it
// is done with Jenkins, so the bookkeeping after an answer holds no delivery slot.
func (r *Relay) deliver(ctx context.Context, d store.Delivery, release func()) {
	// The outbox row carries what the delivery and its audit record need: no read of the request.
	sr := store.Request{ID: d.RequestID, Controller: d.Controller, BuildURL: d.BuildURL, InputID: d.InputID, TraceID: d.TraceID,
		Service: d.Service, Environment: d.Environment}
	ctl := r.controllerNamed(sr.Controller)
	if ctl == nil {
		r.retry(ctx, d, "controller "+sr.Controller+" is no longer configured")
		return
	}
	pending, err := ctl.Jenkins.PendingInputs(ctx, d.BuildURL)
	if errors.Is(err, jenkins.ErrNoBuild) {
		r.finish(ctx, d, sr, DeliveryGone)
		return
	}
	if err != nil {
		r.retry(ctx, d, "reading pending inputs: "+err.Error())
		return
	}
	id := jenkins.Capitalize(d.InputID)
	if !slices.ContainsFunc(pending, func(p jenkins.PendingInput) bool { return p.ID == id }) {
		if d.SubmitStarted {
			// Only a pending input is ever posted to, and it stays pending until answered: it was answered.
			r.finish(ctx, d, sr, DeliveryPresumed)
			return
		}
		b, err := ctl.Jenkins.BuildInfo(ctx, d.BuildURL)
		switch {
		case errors.Is(err, jenkins.ErrNoBuild) || (err == nil && !b.Building):
			r.finish(ctx, d, sr, DeliveryGone)
		default:
			r.metrics.delivery(DeliveryWaiting)
			_ = r.cfg.Store.Retry(ctx, d.RequestID, r.cfg.Now().Add(waitBackoff(d.Attempts)), "waiting for the pipeline to reach the input")
		}
		return
	}
	if err := r.cfg.Store.StartSubmit(ctx, d.RequestID, r.cfg.Replica, r.cfg.Now()); err != nil {
		return // another replica owns it now
	}
	var params []jenkins.Param
	_ = json.Unmarshal(d.Params, &params)
	err = ctl.Jenkins.Submit(ctx, d.BuildURL, d.InputID, "Proceed", params)
	release()
	switch {
	case err == nil:
		r.finish(ctx, d, sr, DeliverySubmitted)
	case errors.Is(err, jenkins.ErrInputGone):
		// Answered or aborted between the listing and the POST; the next round decides which.
		r.retry(ctx, d, "the input went away before the answer")
	default:
		r.retry(ctx, d, "submitting: "+err.Error())
	}
}

func (r *Relay) finish(ctx context.Context, d store.Delivery, sr store.Request, outcome string) {
	if err := r.cfg.Store.Delivered(ctx, d.RequestID, outcome, r.cfg.Now()); err != nil {
		r.cfg.Log.Printf("outbox: marking %s delivered failed (it is re-checked): %v", d.RequestID[:8], err)
		return
	}
	r.metrics.delivery(outcome)
	if outcome == DeliverySubmitted {
		r.metrics.deliveredAfter(d.RequestID)
	}
	ev := audit.EventApproved
	switch d.Decision {
	case store.StateRejected:
		ev = audit.EventRejected
	case store.StateExpired:
		ev = audit.EventExpired
	}
	if outcome == DeliveryGone {
		ev = audit.EventFailed
	}
	r.audit(audit.Record{Event: ev, TraceID: sr.TraceID, BuildURL: sr.BuildURL, InputID: sr.InputID, Service: sr.Service,
		Environment: sr.Environment, Decision: d.Decision, Reason: "jenkins answer: " + outcome, Source: "outbox:" + r.cfg.Replica})
	r.cfg.Log.Printf("request %s: %s delivered to %s (%s)", d.RequestID[:8], d.Decision, d.BuildURL, outcome)
}

func (r *Relay) retry(ctx context.Context, d store.Delivery, why string) {
	r.metrics.delivery(DeliveryFailed)
	r.cfg.Log.Printf("outbox: request %s: %s; retrying", d.RequestID[:8], why)
	_ = r.cfg.Store.Retry(ctx, d.RequestID, r.cfg.Now().Add(failBackoff(d.Attempts)), why)
}

// waitBackoff polls a not-yet-pending input quickly first: the pipeline usually re-arms within seconds.
func waitBackoff(attempts int) time.Duration {
	d := time.Duration(attempts) * 50 * time.Millisecond
	return min(max(d, 20*time.Millisecond), 2*time.Second)
}

// failBackoff waits longer after failures, up to a minute.
func failBackoff(attempts int) time.Duration {
	d := 250 * time.Millisecond << min(attempts, 8)
	return min(d, time.Minute)
}

func (r *Relay) clockLoop() {
	defer r.wg.Done()
	t := time.NewTicker(max(r.cfg.Poll, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.Tick(context.Background())
		}
	}
}

// Tick expires requests past their deadline and escalates those due, on the relay's clock.
func (r *Relay) Tick(ctx context.Context) {
	now := r.cfg.Now()
	expire, escalate, err := r.cfg.Store.Due(ctx, now)
	if err != nil {
		r.cfg.Log.Printf("clock: %v", err)
		return
	}
	for _, id := range expire {
		ok, sr, err := r.cfg.Store.Decide(ctx, id, now, r.expirer(now))
		if err != nil || !ok {
			continue
		}
		r.requests.closed(id, store.StateExpired)
		r.metrics.decided(store.StateExpired)
		r.audit(audit.Record{Event: audit.EventExpired, TraceID: sr.TraceID, BuildURL: sr.BuildURL, InputID: sr.InputID, Service: sr.Service,
			Environment: sr.Environment, Reason: "deadline passed", Source: "clock"})
		r.queueRedraw(redrawJob{id: id})
		r.nudge()
	}
	for _, id := range escalate {
		won, err := r.cfg.Store.MarkEscalated(ctx, id)
		if err != nil || !won {
			continue
		}
		sr, err := r.cfg.Store.Request(ctx, id)
		if err != nil {
			continue
		}
		var snap struct {
			EscalationGroup string `json:"escalationGroup"`
		}
		_ = json.Unmarshal(sr.Rule, &snap)
		if snap.EscalationGroup == "" || sr.MessageTS == "" {
			continue
		}
		text := "<!subteam^" + snap.EscalationGroup + "> this release of " + sr.Service + " to " + sr.Environment + " is still waiting for approval."
		if _, err := r.cfg.Slack.Reply(ctx, sr.Channel, sr.MessageTS, text); err != nil {
			r.cfg.Log.Printf("escalating %s: %v", id[:8], err)
		}
	}
}

// redrawJob redraws one request's message: from the click's committed snapshot (so a quick second click still
// shows "1 of 2" first, and a deciding click's final state needs no read), or, with req nil, from the database.
type redrawJob struct {
	id     string
	req    *store.Request
	clicks []store.Click
}

// queueRedraw hands a redraw to the updater.
func (r *Relay) queueRedraw(j redrawJob) {
	select {
	case r.updates <- j:
	default:
		r.cfg.Log.Printf("slack update queue full; request %s is redrawn at its next change", j.id[:8])
	}
}

func (r *Relay) updateLoop() {
	defer r.wg.Done()
	const workers = 4
	lanes := make([]chan redrawJob, workers)
	done := make(chan struct{})
	for i := range lanes {
		lanes[i] = make(chan redrawJob, 256)
		go func(ch chan redrawJob) {
			defer func() { done <- struct{}{} }()
			r.redrawLane(ch)
		}(lanes[i])
	}
	defer func() {
		for _, ch := range lanes {
			close(ch)
		}
		for range lanes {
			<-done
		}
	}()
	for {
		select {
		case <-r.stop:
			return
		case j := <-r.updates:
			h := fnv.New32a()
			_, _ = h.Write([]byte(j.id))
			lanes[h.Sum32()%workers] <- j // one lane per request keeps its redraws in order
		}
	}
}

// redrawLane draws the messages of one lane. Coalescing: a progress redraw waits RedrawDelay and takes in every
// later state of its message meanwhile, so a burst of clicks costs one chat.update per message, not one per click;
// a closing state is drawn at once. On close the lane draws what is pending.
func (r *Relay) redrawLane(ch chan redrawJob) {
	drawn := map[string]int{} // request -> clicks shown; a snapshot older than what is shown is skipped
	pending := map[string]redrawJob{}
	type waiting struct {
		id  string
		due time.Time
	}
	var urgent []string // closing states, drawn first
	var order []waiting // progress states, due RedrawDelay after their first click: FIFO is due order
	closing := func(j redrawJob) bool { return j.req == nil || j.req.State != store.StatePending }
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	draw := func(id string) {
		if j, ok := pending[id]; ok {
			delete(pending, id)
			r.redraw(j, drawn)
		}
	}
	add := func(j redrawJob) {
		old, had := pending[j.id]
		if had {
			j = newer(old, j)
		}
		pending[j.id] = j
		switch {
		case closing(j) && (!had || !closing(old)):
			urgent = append(urgent, j.id)
		case !had:
			order = append(order, waiting{j.id, time.Now().Add(r.cfg.RedrawDelay)})
		}
	}
	for {
		// Take in everything queued before drawing, so a closing state supersedes a progress state still waiting.
	drain:
		for {
			select {
			case j, ok := <-ch:
				if !ok {
					for id := range pending {
						draw(id)
					}
					return
				}
				add(j)
			default:
				break drain
			}
		}
		if len(urgent) > 0 {
			id := urgent[0]
			urgent = urgent[1:]
			draw(id)
			continue
		}
		var tick <-chan time.Time
		if len(order) > 0 {
			w := order[0]
			if j, ok := pending[w.id]; !ok || closing(j) {
				order = order[1:] // drawn already, or queued as urgent
				continue
			}
			if !time.Now().Before(w.due) {
				order = order[1:]
				draw(w.id)
				continue
			}
			timer.Reset(time.Until(w.due))
			tick = timer.C
		}
		select {
		case j, ok := <-ch:
			if !ok {
				for id := range pending {
					draw(id)
				}
				return
			}
			add(j)
		case <-tick:
		}
	}
}

// newer keeps the later of two redraws of one message: a database redraw (closed states) beats a snapshot, and of
// two snapshots the one with more clicks wins.
func newer(a, b redrawJob) redrawJob {
	switch {
	case a.req == nil || a.req.State != store.StatePending:
		return a
	case b.req == nil || b.req.State != store.StatePending:
		return b
	case len(b.clicks) >= len(a.clicks):
		return b
	}
	return a
}

// redraw renders and sends one message state: a click's snapshot, or (expiry) the state in the database.
func (r *Relay) redraw(j redrawJob, drawn map[string]int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sr store.Request
	clicks := j.clicks
	switch {
	case j.req != nil && j.req.State == store.StatePending:
		sr = *j.req
		if len(clicks) <= drawn[j.id] {
			return // a newer state is already shown
		}
	case j.req != nil:
		sr = *j.req // the deciding click's committed snapshot: a decided request changes no more
	default:
		var err error
		if sr, err = r.cfg.Store.Request(ctx, j.id); err != nil {
			return
		}
		if clicks, err = r.cfg.Store.Clicks(ctx, j.id); err != nil {
			return
		}
	}
	if sr.MessageTS == "" {
		return
	}
	n := len(clicks)
	if sr.State != store.StatePending {
		n = 1 << 30
	}
	if n < drawn[j.id] {
		return
	}
	drawn[j.id] = n
	blocks, text := rgslack.ViewBlocks(r.view(sr, clicks))
	if err := r.cfg.Slack.Update(ctx, sr.Channel, sr.MessageTS, text, blocks); err != nil {
		r.cfg.Log.Printf("updating the Slack message of %s: %v", j.id[:8], err)
	}
}

// answer is a message for the clicker, sent through response_url.
type answer struct{ url, text string }

func (r *Relay) answer(responseURL, text string) {
	if responseURL == "" {
		return
	}
	select {
	case r.answers <- answer{responseURL, text}:
	default:
		r.cfg.Log.Printf("answer queue full; dropped a reply to the clicker")
	}
}

func (r *Relay) answerLoop() {
	defer r.wg.Done()
	sem := make(chan struct{}, 8)
	for {
		select {
		case <-r.stop:
			for i := 0; i < cap(sem); i++ {
				sem <- struct{}{}
			}
			return
		case a := <-r.answers:
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := r.cfg.Responder.Respond(ctx, a.url, a.text); err != nil {
					r.cfg.Log.Printf("answering the clicker failed: %v", err)
				}
			}()
		}
	}
}
