package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrNoBuild means Jenkins does not know the build (HTTP 404 on its api/json).
var ErrNoBuild = errors.New("jenkins has no such build")

// Build is what the relay needs to know about a run: whether it runs and who started it.
type Build struct {
	Building bool
	// UserID is the Jenkins user of a Cause$UserIdCause, or "".
	UserID string
	// Authors are the commit author emails of the run's change sets (for SCM-triggered builds).
	Authors []string
	// SCM reports an SCM or branch-event cause.
	SCM bool
}

// PendingInput is one entry of {build}/wfapi/pendingInputActions.
type PendingInput struct {
	ID          string `json:"id"`
	ProceedText string `json:"proceedText"`
	Message     string `json:"message"`
	Inputs      []struct {
		Name string `json:"name"`
	} `json:"inputs"`
}

// BuildInfo reads {build}/api/json.
func (c *Client) BuildInfo(ctx context.Context, buildURL string) (Build, error) {
	var raw struct {
		Building bool `json:"building"`
		Actions  []struct {
			Causes []struct {
				Class  string `json:"_class"`
				UserID string `json:"userId"`
			} `json:"causes"`
		} `json:"actions"`
		ChangeSets []struct {
			Items []struct {
				AuthorEmail string `json:"authorEmail"`
			} `json:"items"`
		} `json:"changeSets"`
	}
	if err := c.getJSON(ctx, buildURL, strings.TrimRight(buildURL, "/")+"/api/json", &raw); err != nil {
		return Build{}, err
	}
	b := Build{Building: raw.Building}
	for _, a := range raw.Actions {
		for _, cs := range a.Causes {
			switch {
			case strings.HasSuffix(cs.Class, "Cause$UserIdCause") && b.UserID == "":
				b.UserID = cs.UserID
			case strings.Contains(cs.Class, "SCM") || strings.Contains(cs.Class, "BranchEventCause") || strings.Contains(cs.Class, "GitHubPushCause"):
				b.SCM = true
			}
		}
	}
	for _, s := range raw.ChangeSets {
		for _, it := range s.Items {
			if it.AuthorEmail != "" {
				b.Authors = append(b.Authors, it.AuthorEmail)
			}
		}
	}
	return b, nil
}

// PendingInputs reads {build}/wfapi/pendingInputActions.
func (c *Client) PendingInputs(ctx context.Context, buildURL string) ([]PendingInput, error) {
	var out []PendingInput
	err := c.getJSON(ctx, buildURL, strings.TrimRight(buildURL, "/")+"/wfapi/pendingInputActions", &out)
	return out, err
}

func (c *Client) getJSON(ctx context.Context, buildURL, target string, v any) error {
	root, err := Root(buildURL)
	if err != nil {
		return err
	}
	run := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(c.User, c.Token)
		resp, err := c.httpClient().Do(req)
		if err != nil {
			return &TransientError{Err: fmt.Errorf("reading %s from jenkins: %w", lastSegments(target), err)}
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
				return fmt.Errorf("reading %s from jenkins: %w", lastSegments(target), err)
			}
			return nil
		case resp.StatusCode == http.StatusNotFound:
			return ErrNoBuild
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: HTTP %d", ErrAuth, resp.StatusCode)
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return &TransientError{Err: fmt.Errorf("jenkins answered HTTP %d", resp.StatusCode), Status: resp.StatusCode}
		default:
			return fmt.Errorf("jenkins answered HTTP %d", resp.StatusCode)
		}
	}
	return c.withRetry(ctx, root, run)
}

func lastSegments(u string) string {
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}

// Ping checks that the Jenkins at root answers its API with the relay's credentials.
func (c *Client) Ping(ctx context.Context, root string) error {
	var v map[string]any
	return c.getJSON(ctx, strings.TrimRight(root, "/")+"/job/x/1/", strings.TrimRight(root, "/")+"/api/json", &v)
}
