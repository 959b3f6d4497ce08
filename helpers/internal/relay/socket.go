package relay

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// SocketOptions configures Socket Mode.
type SocketOptions struct {
	// Liveness is the longest silence (no WebSocket ping from Slack) before the connection is dropped and
	// reopened; default 30 s.
	Liveness time.Duration
	// MaxBackoff bounds the wait between reconnect attempts after a failure; default 30 s.
	MaxBackoff time.Duration
	// OnConnect, if set, is called after each successful connection (attempt counts from 0).
	OnConnect func(attempt int)
}

// RunSocket feeds clicks from Slack Socket Mode into the relay until ctx ends, reconnecting on failure.
// api must carry the app-level token (slack.OptionAppLevelToken).
func (r *Relay) RunSocket(ctx context.Context, api *slack.Client, opt SocketOptions) error {
	if opt.Liveness <= 0 {
		opt.Liveness = 30 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 200*time.Millisecond, opt.MaxBackoff, 0
	connects := 0
	for ctx.Err() == nil {
		err := r.socketSession(ctx, api, opt, &connects, bo.Reset)
		if ctx.Err() != nil {
			break
		}
		wait := bo.NextBackOff()
		r.cfg.Log.Printf("socket mode: %v; reconnecting in %s", err, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// socketSession runs one socketmode client until it fails; the client itself reconnects after drops and
// ping timeouts, this loop covers failures it gives up on (e.g. apps.connections.open refused).
func (r *Relay) socketSession(ctx context.Context, api *slack.Client, opt SocketOptions, connects *int, connected func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := socketmode.New(api, socketmode.OptionPingInterval(opt.Liveness))
	done := make(chan error, 1)
	go func() { done <- client.RunContext(ctx) }()
	for {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("socket mode client stopped")
			}
			return err
		case evt := <-client.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected:
				connected()
				if opt.OnConnect != nil {
					opt.OnConnect(*connects)
				}
				*connects++
				r.cfg.Log.Printf("socket mode: connected")
			case socketmode.EventTypeConnectionError:
				r.cfg.Log.Printf("socket mode: connection error, the client retries")
			case socketmode.EventTypeInteractive:
				start := time.Now()
				cb, ok := evt.Data.(slack.InteractionCallback)
				if !ok || evt.Request == nil {
					continue
				}
				// Store first, ack after: an unstored click is not acked, so Slack delivers it again.
				outcome := r.Handle(ctx, &cb)
				if outcome != OutcomeUnavailable {
					if err := client.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
						r.cfg.Log.Printf("socket mode: ack failed: %v", err)
					}
				}
				r.metrics.count(outcome, time.Since(start))
			}
		}
	}
}
