package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// Client posts and updates messages, honouring 429 Retry-After; it is safe for concurrent use.
type Client struct {
	api *slack.Client
	// MaxAttempts bounds tries per call (429 and transport errors are retried).
	MaxAttempts int
	// MaxWait is the longest Retry-After the client will sleep before giving up.
	MaxWait time.Duration
	// Log receives one line per retry; nil discards.
	Log *log.Logger
	// Breakers, when set, fails calls fast while Slack is known to be down (state shared on the host).
	Breakers *breaker.Set
}

// New returns a client for token against apiURL ("" means Slack itself).
func New(token, apiURL string, hc *http.Client) *Client {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{api: slack.New(token, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(hc)), MaxAttempts: 4, MaxWait: 30 * time.Second}
}

// Post sends a new message and returns its channel id and ts.
func (c *Client) Post(ctx context.Context, channel, text string, blocks []slack.Block) (string, string, error) {
	var ch, ts string
	err := c.retry(ctx, "chat.postMessage", func() error {
		var err error
		ch, ts, err = c.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
	return ch, ts, err
}

// Update replaces the message at channel/ts.
func (c *Client) Update(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	return c.retry(ctx, "chat.update", func() error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
}

// Reply posts text in the thread of channel/ts and returns the reply's ts.
func (c *Client) Reply(ctx context.Context, channel, threadTS, text string) (string, error) {
	var ts string
	err := c.retry(ctx, "chat.postMessage", func() error {
		var err error
		_, ts, err = c.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(threadTS))
		return err
	})
	return ts, err
}

func (c *Client) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log.Printf(format, args...)
	}
}

// retry runs call through the Slack breaker (when set) with retries.
func (c *Client) retry(ctx context.Context, method string, call func() error) error {
	if c.Breakers == nil {
		return c.retryLoop(ctx, method, call)
	}
	return c.Breakers.Do(ctx, "slack", func(ctx context.Context) error { return c.retryLoop(ctx, method, call) })
}

// retryLoop runs call under retry.Do: a 429 waits its Retry-After (one longer than MaxWait gives up at once), 5xx
// and connection errors back off; Slack's own error codes are final and named with what to check.
func (c *Client) retryLoop(ctx context.Context, method string, call func() error) error {
	p := retry.Default
	p.Tries = max(c.MaxAttempts, 1)
	p.Max = c.MaxWait
	p.OnRetry = func(attempt int, wait time.Duration, err error) {
		c.logf("%s: %v; retrying in %s (attempt %d/%d)", method, err, wait, attempt+1, p.Tries)
	}
	return retry.Do(ctx, p, "Slack "+method, func(context.Context) error {
		err := call()
		if err == nil {
			return nil
		}
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			if rl.RetryAfter > c.MaxWait {
				return result.Errorf(result.ClassUnavailable, "%s: rate limited, Retry-After %s exceeds the %s limit: Slack unavailable", method, rl.RetryAfter, c.MaxWait)
			}
			return &retry.HTTPError{Dependency: "Slack " + method, Status: http.StatusTooManyRequests, RetryAfter: rl.RetryAfter, Detail: "rate limited"}
		}
		var sc slack.StatusCodeError
		if errors.As(err, &sc) {
			if sc.Code == http.StatusNotFound {
				return result.Errorf(result.ClassConfig, "%s: HTTP 404: no Slack Web API there (check slack.apiURL)", method)
			}
			return &retry.HTTPError{Dependency: "Slack " + method, Status: sc.Code}
		}
		var se slack.SlackErrorResponse
		if errors.As(err, &se) || !isTransport(err) {
			return classify(method, err)
		}
		return err // connection-level: retry.Classify decides
	})
}

// isTransport reports whether err came from the connection rather than from Slack's answer.
func isTransport(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// classify maps a Slack error code to a failure class and an actionable message.
func classify(method string, err error) error {
	code := err.Error()
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && se.Err != "" {
		code = se.Err
	}
	switch code {
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired", "missing_scope":
		return result.Errorf(result.ClassAuth, "%s: %s: check SLACK_BOT_TOKEN and the app's chat:write scope", method, code)
	case "channel_not_found", "not_in_channel", "is_archived", "message_not_found", "cant_update_message", "thread_not_found":
		return result.Errorf(result.ClassConfig, "%s: %s: check the channel id and that the bot is a member", method, code)
	case "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments":
		return result.Errorf(result.ClassInput, "%s: Slack refused the message (%s): a Block Kit limit was exceeded (50 blocks, header 150, section 3000, button value 2000 characters)", method, code)
	}
	return result.Errorf(result.ClassUnavailable, "%s: %v", method, err)
}

// Responder answers a click through its response_url without replacing the original message.
type Responder struct {
	HTTP *http.Client
}

// Respond POSTs {"replace_original":false,"response_type":"ephemeral","text":text} to responseURL.
func (r *Responder) Respond(ctx context.Context, responseURL, text string) error {
	if responseURL == "" {
		return errors.New("no response_url in the payload")
	}
	body, _ := json.Marshal(map[string]any{"replace_original": false, "response_type": "ephemeral", "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("answering via response_url: the URL is invalid")
	}
	req.Header.Set("Content-Type", "application/json")
	hc := r.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// A response_url is a bearer capability: never print it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("answering via response_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("answering via response_url: HTTP %d", resp.StatusCode)
	}
	return nil
}
