package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client is a pipeline's side of the request API.
type Client struct {
	URL, Token string
	HTTP       *http.Client
}

// APIError is a refusal from the relay: HTTP status, failure class and message.
type APIError struct {
	Status int
	Class  string
	Msg    string
}

func (e *APIError) Error() string { return fmt.Sprintf("relay answered %d: %s", e.Status, e.Msg) }

// Create asks the relay for an approval.
func (c *Client) Create(ctx context.Context, ar ApprovalRequest) (*ApprovalResponse, error) {
	b, _ := json.Marshal(ar)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+"/v1/approvals", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("relay url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &APIError{Status: 0, Class: "unavailable", Msg: "relay unreachable: " + strings.ReplaceAll(err.Error(), c.Token, "***")}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e apiError
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e = apiError{Error: strings.TrimSpace(string(raw)), Class: "unavailable"}
		}
		return nil, &APIError{Status: resp.StatusCode, Class: e.Class, Msg: e.Error}
	}
	var out ApprovalResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("relay answer: %w", err)
	}
	return &out, nil
}
