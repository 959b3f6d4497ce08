package slackfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits Slack enforces (see the package doc for the source of each).
const (
	MaxText          = 40000
	MaxBlocks        = 50
	MaxBlockID       = 255
	MaxHeaderText    = 150
	MaxSectionText   = 3000
	MaxSectionFields = 10
	MaxFieldText     = 2000
	MaxActions       = 25
	MaxContext       = 10
	MaxButtonText    = 75
	MaxActionID      = 255
	MaxButtonValue   = 2000
	MaxButtonURL     = 3000
	MaxResponseUses  = 5
)

// Message is a message as the fake holds it after the last post or update.
type Message struct {
	Channel, TS, ThreadTS, Text string
	Blocks                      json.RawMessage
	Updates                     int // chat.update calls applied
}

// Call is one request the fake answered.
type Call struct {
	Method string            `json:"method"`
	Params map[string]string `json:"params"`
	Status int               `json:"status"`
	Error  string            `json:"error,omitempty"`
	TS     string            `json:"ts,omitempty"`
}

// Server is the fake Slack; it is an http.Handler serving /api/{method} and minted response URLs.
type Server struct {
	token string
	// OnCall, when set, sees every call after it is answered (the demo logs them).
	OnCall func(Call)

	mu        sync.Mutex
	base      string
	channels  map[string]bool
	msgs      map[string]map[string]*Message
	calls     []Call
	limits    map[string]*limit
	seq       int
	responses map[string][]map[string]any
}

type limit struct{ after, times, retryAfter int }

// New returns a fake Slack that accepts the bot token and knows the given channel ids.
func New(token string, channels ...string) *Server {
	s := &Server{token: token, channels: map[string]bool{}, msgs: map[string]map[string]*Message{}, limits: map[string]*limit{}, responses: map[string][]map[string]any{}}
	for _, c := range channels {
		s.channels[c] = true
	}
	return s
}

// Start serves the fake on a loopback port; the caller closes the returned server.
func (s *Server) Start() *httptest.Server {
	srv := httptest.NewServer(s)
	s.SetBaseURL(srv.URL)
	return srv
}

// SetBaseURL tells the fake where it is served, for the response URLs it mints.
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	s.base = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// APIURL is the Web API base to configure a client with.
func (s *Server) APIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base + "/api/"
}

// AddChannel makes a channel id known (the bot is a member).
func (s *Server) AddChannel(id string) {
	s.mu.Lock()
	s.channels[id] = true
	s.mu.Unlock()
}

// Limit lets the next `after` calls of method through, then answers `times` calls with 429 and Retry-After.
func (s *Server) Limit(method string, after, times, retryAfterSeconds int) {
	s.mu.Lock()
	s.limits[method] = &limit{after, times, retryAfterSeconds}
	s.mu.Unlock()
}

// Message returns the current state of channel/ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[channel][ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the messages of channel (top-level and replies), in no particular order.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs[channel] {
		out = append(out, *m)
	}
	return out
}

// Calls returns the calls of method ("" for all) in arrival order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResponseURL mints a response_url as Slack puts in an interaction payload.
func (s *Server) ResponseURL() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	p := fmt.Sprintf("/actions/T0FAKE/%d/%s", s.seq, hex.EncodeToString(b))
	s.responses[p] = []map[string]any{}
	return s.base + p
}

// Responses returns the bodies posted to a minted response_url.
func (s *Server) Responses(responseURL string) []map[string]any {
	u, err := url.Parse(responseURL)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.responses[u.Path]...)
}

// ServeHTTP answers Web API calls and response_url posts.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/actions/") {
		s.serveResponse(w, r)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if method == r.URL.Path || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	params, err := readParams(r)
	call := Call{Method: method, Params: params, Status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		if s.OnCall != nil {
			s.OnCall(call)
		}
	}()
	tok := params["token"]
	delete(params, "token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		tok = strings.TrimPrefix(h, "Bearer ")
	}
	s.mu.Lock()
	if l := s.limits[method]; l != nil {
		if l.after > 0 {
			l.after--
		} else if l.times > 0 {
			l.times--
			s.mu.Unlock()
			call.Status, call.Error = http.StatusTooManyRequests, "ratelimited"
			w.Header().Set("Retry-After", strconv.Itoa(l.retryAfter))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		}
	}
	s.mu.Unlock()
	fail := func(code string) {
		call.Error = code
		writeJSON(w, map[string]any{"ok": false, "error": code})
	}
	switch {
	case err != nil:
		fail("invalid_form_data")
		return
	case tok == "":
		fail("not_authed")
		return
	case tok != s.token:
		fail("invalid_auth")
		return
	}
	switch method {
	case "chat.postMessage", "chat.update", "chat.postEphemeral":
	default:
		fail("unknown_method")
		return
	}
	s.mu.Lock()
	known := s.channels[params["channel"]]
	s.mu.Unlock()
	if !known {
		fail("channel_not_found")
		return
	}
	_, hasBlocks := params["blocks"]
	if code := checkMessage(params["text"], params["blocks"], hasBlocks, method != "chat.update"); code != "" {
		fail(code)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := params["channel"]
	switch method {
	case "chat.postMessage":
		s.seq++
		ts := fmt.Sprintf("%d.%06d", 1700000000+s.seq, s.seq)
		if s.msgs[ch] == nil {
			s.msgs[ch] = map[string]*Message{}
		}
		s.msgs[ch][ts] = &Message{Channel: ch, TS: ts, ThreadTS: params["thread_ts"], Text: params["text"], Blocks: json.RawMessage(params["blocks"])}
		call.TS = ts
		writeJSON(w, map[string]any{"ok": true, "channel": ch, "ts": ts})
	case "chat.update":
		m, ok := s.msgs[ch][params["ts"]]
		if !ok {
			call.Error = "message_not_found"
			writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		if t, ok := params["text"]; ok {
			m.Text = t
		}
		if hasBlocks { // without blocks Slack keeps the previous ones
			m.Blocks = json.RawMessage(params["blocks"])
		}
		m.Updates++
		call.TS = m.TS
		writeJSON(w, map[string]any{"ok": true, "channel": ch, "ts": m.TS, "text": m.Text})
	case "chat.postEphemeral":
		if params["user"] == "" {
			call.Error = "user_not_in_channel"
			writeJSON(w, map[string]any{"ok": false, "error": "user_not_in_channel"})
			return
		}
		s.seq++
		ts := fmt.Sprintf("%d.%06d", 1700000000+s.seq, s.seq)
		call.TS = ts
		writeJSON(w, map[string]any{"ok": true, "message_ts": ts})
	}
}

func (s *Server) serveResponse(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	used, ok := s.responses[r.URL.Path]
	s.mu.Unlock()
	if !ok || r.Method != http.MethodPost || len(used) >= MaxResponseUses {
		http.NotFound(w, r)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	text, _ := body["text"].(string)
	var blocks string
	b, hasBlocks := body["blocks"]
	if hasBlocks {
		raw, _ := json.Marshal(b)
		blocks = string(raw)
	}
	if code := checkMessage(text, blocks, hasBlocks, true); code != "" {
		http.Error(w, code, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.responses[r.URL.Path] = append(s.responses[r.URL.Path], body)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true})
}

func readParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&m); err != nil {
			return out, err
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
				continue
			}
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
		return out, nil
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 4<<20)
	if err := r.ParseForm(); err != nil {
		return out, err
	}
	for k, v := range r.PostForm {
		out[k] = v[0]
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func n(s string) int { return utf8.RuneCountInString(s) }

// checkMessage returns the Slack error code for a message Slack would refuse, "" when it is acceptable.
func checkMessage(text, blocks string, hasBlocks, needContent bool) string {
	if n(text) > MaxText {
		return "msg_too_long"
	}
	if !hasBlocks {
		if needContent && text == "" {
			return "no_text"
		}
		return ""
	}
	var bs []map[string]any
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		return "invalid_blocks_format"
	}
	if needContent && text == "" && len(bs) == 0 {
		return "no_text"
	}
	if err := CheckBlocks(bs); err != nil {
		return "invalid_blocks"
	}
	return ""
}

// CheckBlocks applies the Block Kit rules of the package doc and names the first one broken.
func CheckBlocks(bs []map[string]any) error {
	if len(bs) > MaxBlocks {
		return fmt.Errorf("%d blocks, at most %d", len(bs), MaxBlocks)
	}
	ids := map[string]bool{}
	for i, b := range bs {
		if id, ok := b["block_id"].(string); ok {
			if n(id) > MaxBlockID || id == "" {
				return fmt.Errorf("block %d: block_id of %d characters", i, n(id))
			}
			if ids[id] {
				return fmt.Errorf("block %d: block_id %q repeated", i, id)
			}
			ids[id] = true
		}
		var err error
		switch b["type"] {
		case "header":
			err = checkText(b["text"], MaxHeaderText, true)
		case "section":
			t, hasText := b["text"]
			f, hasFields := b["fields"].([]any)
			if !hasText && !hasFields {
				err = fmt.Errorf("section without text or fields")
			}
			if hasText {
				err = checkText(t, MaxSectionText, false)
			}
			if hasFields && len(f) > MaxSectionFields {
				err = fmt.Errorf("%d fields, at most %d", len(f), MaxSectionFields)
			}
			for _, fl := range f {
				if err == nil {
					err = checkText(fl, MaxFieldText, false)
				}
			}
			if a, ok := b["accessory"].(map[string]any); ok && err == nil {
				err = checkElement(a, map[string]bool{})
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > MaxActions {
				err = fmt.Errorf("%d elements, 1 to %d", len(els), MaxActions)
			}
			seen := map[string]bool{}
			for _, e := range els {
				m, _ := e.(map[string]any)
				if err == nil {
					err = checkElement(m, seen)
				}
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > MaxContext {
				err = fmt.Errorf("%d elements, 1 to %d", len(els), MaxContext)
			}
			for _, e := range els {
				if m, _ := e.(map[string]any); err == nil && m["type"] != "image" {
					err = checkText(e, MaxSectionText, false)
				}
			}
		case "divider":
		default:
			err = fmt.Errorf("unknown block type %v", b["type"])
		}
		if err != nil {
			return fmt.Errorf("block %d (%v): %w", i, b["type"], err)
		}
	}
	return nil
}

func checkText(v any, max int, plainOnly bool) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("text is not a text object")
	}
	t, _ := m["text"].(string)
	switch {
	case m["type"] != "plain_text" && (plainOnly || m["type"] != "mrkdwn"):
		return fmt.Errorf("text type %v", m["type"])
	case t == "":
		return fmt.Errorf("empty text")
	case n(t) > max:
		return fmt.Errorf("text of %d characters, at most %d", n(t), max)
	}
	return nil
}

func checkElement(m map[string]any, actionIDs map[string]bool) error {
	if m == nil {
		return fmt.Errorf("element is not an object")
	}
	if m["type"] != "button" {
		return nil // the relay sends only buttons; other elements pass unchecked
	}
	if err := checkText(m["text"], MaxButtonText, true); err != nil {
		return fmt.Errorf("button: %w", err)
	}
	id, _ := m["action_id"].(string)
	val, _ := m["value"].(string)
	u, _ := m["url"].(string)
	st, hasStyle := m["style"].(string)
	switch {
	case n(id) > MaxActionID:
		return fmt.Errorf("action_id of %d characters", n(id))
	case id != "" && actionIDs[id]:
		return fmt.Errorf("action_id %q repeated in the block", id)
	case n(val) > MaxButtonValue:
		return fmt.Errorf("button value of %d characters", n(val))
	case n(u) > MaxButtonURL:
		return fmt.Errorf("button url of %d characters", n(u))
	case hasStyle && st != "primary" && st != "danger":
		return fmt.Errorf("button style %q", st)
	}
	actionIDs[id] = true
	return nil
}
