package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// ErrInputGone means Jenkins no longer waits on the input: the build finished or another click decided it.
var ErrInputGone = errors.New("the input is no longer waiting (build finished or already decided)")

// ErrAuth means Jenkins refused the credentials.
var ErrAuth = errors.New("jenkins refused the credentials (check JENKINS_USER and JENKINS_API_TOKEN)")

// ErrUndeclaredParam means the waiting input step does not declare a parameter the caller submitted.
var ErrUndeclaredParam = errors.New("the input step does not declare every submitted parameter")

// TransientError is a failure worth another try: a network error (Status 0), 5xx or 429.
type TransientError struct {
	Err    error
	Status int // the HTTP status Jenkins answered, 0 for a connection-level failure
}

func (e *TransientError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *TransientError) Unwrap() error { return e.Err }

// Temporary marks the error as worth a retry for retry.Classify and the circuit breakers.
func (e *TransientError) Temporary() bool { return true }

// Param is one input-step parameter value.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Client talks to Jenkins with API-token basic auth; it is safe for concurrent use.
type Client struct {
	User, Token string
	// HTTP is the transport; nil means a client with a 10 s timeout.
	HTTP *http.Client
	// Retry bounds retries of transient failures; the zero value means DefaultRetry.
	Retry retry.Policy
	// Breakers, when set, fails calls fast while a Jenkins root is known to be down (state shared on the host).
	Breakers *breaker.Set

	mu     sync.Mutex
	crumbs map[string][2]string // jenkins root -> field, value
}

// DefaultRetry retries transient failures six times with exponential backoff from 100 ms up to 1 s.
var DefaultRetry = retry.Policy{Tries: 6, Initial: 100 * time.Millisecond, Max: time.Second}

// hooks teach retry's one failure table the client's sentinels and the status a TransientError carries.
var hooks = retry.Hooks{
	Own: func(err error) result.Class {
		switch {
		case errors.Is(err, ErrInputGone), errors.Is(err, ErrUndeclaredParam), errors.Is(err, ErrNoBuild):
			return result.ClassInput
		case errors.Is(err, ErrAuth):
			return result.ClassAuth
		}
		return ""
	},
	Status: func(err error) int {
		var te *TransientError
		if errors.As(err, &te) {
			return te.Status
		}
		return 0
	},
}

// Classify returns the failure class of a client error along retry's table.
func Classify(err error) result.Class { return hooks.Classify(err) }

// withRetry runs op under retry.Do and the breaker of root (when set); an exhausted, interrupted or refused
// (breaker open) call comes back as a TransientError, so the clicker is told Jenkins is unavailable.
func (c *Client) withRetry(ctx context.Context, root string, op func(context.Context) error) error {
	p := c.Retry
	if p.Tries == 0 {
		p = DefaultRetry
	}
	p.ClassifyFunc = Classify
	run := func(ctx context.Context) error { return retry.Do(ctx, p, "jenkins "+root, op) }
	var err error
	if c.Breakers != nil {
		err = c.Breakers.Do(ctx, "jenkins "+root, run)
	} else {
		err = run(ctx)
	}
	var te *TransientError
	if err != nil && !errors.As(err, &te) && (result.ClassOf(err) == result.ClassUnavailable || breaker.IsOpen(err) || ctx.Err() != nil) {
		err = &TransientError{Err: err}
	}
	return err
}

// InputURL returns {build}/input/{Id}/{action} with the id capitalised as Jenkins does.
func InputURL(buildURL, inputID, action string) string {
	return strings.TrimRight(buildURL, "/") + "/input/" + url.PathEscape(Capitalize(inputID)) + "/" + action
}

// Capitalize upper-cases the first letter, as the input step does with its id.
func Capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// Root returns the Jenkins root URL of a build URL (everything before the first /job/).
func Root(buildURL string) (string, error) {
	u, err := url.Parse(buildURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("build URL %q is not an absolute http(s) URL", buildURL)
	}
	i := strings.Index(u.Path, "/job/")
	if i < 0 {
		return "", fmt.Errorf("build URL %q has no /job/ segment", buildURL)
	}
	u.Path, u.RawQuery, u.Fragment = u.Path[:i], "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// Submit answers the input with parameters (POST .../submit with a json form and proceed=okLabel).
func (c *Client) Submit(ctx context.Context, buildURL, inputID, okLabel string, params []Param) error {
	body, err := json.Marshal(map[string][]Param{"parameter": params})
	if err != nil {
		return err
	}
	if okLabel == "" {
		okLabel = "Proceed"
	}
	form := url.Values{"json": {string(body)}, "proceed": {okLabel}}
	return c.post(ctx, buildURL, InputURL(buildURL, inputID, "submit"), form)
}

// ProceedEmpty proceeds past an input that has no parameters.
func (c *Client) ProceedEmpty(ctx context.Context, buildURL, inputID string) error {
	return c.post(ctx, buildURL, InputURL(buildURL, inputID, "proceedEmpty"), url.Values{})
}

// Abort aborts the build at the input.
func (c *Client) Abort(ctx context.Context, buildURL, inputID string) error {
	return c.post(ctx, buildURL, InputURL(buildURL, inputID, "abort"), url.Values{})
}

func (c *Client) post(ctx context.Context, buildURL, target string, form url.Values) error {
	root, err := Root(buildURL)
	if err != nil {
		return err
	}
	return c.withRetry(ctx, root, func(ctx context.Context) error { return c.once(ctx, root, target, form) })
}

// httpClient never follows redirects: Jenkins answers an input POST with 302 to the build page.
func (c *Client) httpClient() *http.Client {
	hc := http.Client{Timeout: 10 * time.Second}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// once sends one POST, fetching a crumb and retrying once if Jenkins demands one.
func (c *Client) once(ctx context.Context, root, target string, form url.Values) error {
	for attempt := 0; ; attempt++ {
		status, msg, err := c.do(ctx, root, target, form)
		if err != nil {
			return &TransientError{Err: fmt.Errorf("posting to jenkins: %w", err)}
		}
		switch {
		case status >= 200 && status < 400:
			return nil
		case status == http.StatusNotFound:
			return ErrInputGone
		case status == http.StatusForbidden && strings.Contains(msg, "No valid crumb") && attempt == 0:
			if err := c.fetchCrumb(ctx, root); err != nil {
				return err
			}
			continue
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return fmt.Errorf("%w: HTTP %d", ErrAuth, status)
		case status >= 500 && strings.Contains(msg, "No such parameter definition"):
			// A pipeline bug, not an outage: the input step does not declare a parameter we send.
			return fmt.Errorf("%w: %s", ErrUndeclaredParam, firstLine(msg[strings.Index(msg, "No such parameter definition"):]))
		case status == http.StatusTooManyRequests || status >= 500:
			return &TransientError{Err: fmt.Errorf("jenkins answered HTTP %d", status), Status: status}
		default:
			return fmt.Errorf("jenkins answered HTTP %d: %s", status, firstLine(msg))
		}
	}
}

func (c *Client) do(ctx context.Context, root, target string, form url.Values) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.User, c.Token)
	c.mu.Lock()
	if cr, ok := c.crumbs[root]; ok {
		req.Header.Set(cr[0], cr[1])
	}
	c.mu.Unlock()
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}

func (c *Client) fetchCrumb(ctx context.Context, root string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/crumbIssuer/api/json", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.User, c.Token)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return &TransientError{Err: fmt.Errorf("fetching jenkins crumb: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return &TransientError{Err: fmt.Errorf("fetching jenkins crumb: HTTP %d", resp.StatusCode), Status: resp.StatusCode}
		}
		return fmt.Errorf("fetching jenkins crumb: HTTP %d", resp.StatusCode)
	}
	var cr struct {
		Field string `json:"crumbRequestField"`
		Crumb string `json:"crumb"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&cr); err != nil || cr.Field == "" || cr.Crumb == "" {
		return fmt.Errorf("fetching jenkins crumb: unexpected answer")
	}
	c.mu.Lock()
	if c.crumbs == nil {
		c.crumbs = map[string][2]string{}
	}
	c.crumbs[root] = [2]string{cr.Field, cr.Crumb}
	c.mu.Unlock()
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
