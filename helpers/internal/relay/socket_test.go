package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// socketServer speaks apps.connections.open and the Socket Mode envelope protocol.
type socketServer struct {
	t     *testing.T
	srv   *httptest.Server
	opens atomic.Int32
	conns chan *websocket.Conn
	// silent stops the pings: a half-dead connection.
	silent atomic.Bool
}

func newSocketServer(t *testing.T) *socketServer {
	s := &socketServer{t: t, conns: make(chan *websocket.Conn, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		s.opens.Add(1)
		if r.Header.Get("Authorization") != "Bearer xapp-1-test" {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link"})
	})
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://api.slack.com" }}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		_ = c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"}})
		go func() { // Slack pings regularly; the client's liveness watchdog relies on it
			for !s.silent.Load() {
				if c.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)) != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		s.conns <- c
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *socketServer) next() *websocket.Conn {
	select {
	case c := <-s.conns:
		return c
	case <-time.After(15 * time.Second):
		s.t.Fatal("relay did not connect")
		return nil
	}
}

// click sends an interactive envelope and waits for its ack.
func (s *socketServer) click(c *websocket.Conn, envelope, payload string) {
	s.t.Helper()
	var raw json.RawMessage = []byte(payload)
	if err := c.WriteJSON(map[string]any{"type": "interactive", "envelope_id": envelope, "payload": raw, "accepts_response_payload": false}); err != nil {
		s.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack struct {
		EnvelopeID string `json:"envelope_id"`
	}
	if err := c.ReadJSON(&ack); err != nil || ack.EnvelopeID != envelope {
		s.t.Fatalf("ack = %+v, %v", ack, err)
	}
}

func TestSocketModeAcksStoredClicksAndReconnectsAfterADrop(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/r.db")
	resp := e.mustRequest(nil)
	e.arm(resp)
	s := newSocketServer(t)
	api := slack.New("xoxb-test", slack.OptionAppLevelToken("xapp-1-test"), slack.OptionAPIURL(s.srv.URL+"/"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.relay.RunSocket(ctx, api, SocketOptions{Liveness: 2 * time.Second, MaxBackoff: 200 * time.Millisecond})
	}()
	defer func() {
		cancel()
		<-done
	}()
	pl := func(user, actionTS string) string {
		v, _ := url.ParseQuery(payload(user, "approve", resp.RequestID, actionTS))
		return v.Get("payload")
	}
	c1 := s.next()
	s.click(c1, "env-1", pl("U02BOB", "1700000200.1"))
	if cl, _ := e.relay.cfg.Store.Clicks(ctx, resp.RequestID); len(cl) != 1 {
		t.Fatalf("acked before the click was stored: %+v", cl)
	}
	_ = c1.Close() // Slack drops the connection without a goodbye

	c2 := s.next()
	s.click(c2, "env-2", pl("U03CAROL", "1700000201.1"))
	if n := s.opens.Load(); n < 2 {
		t.Fatalf("apps.connections.open called %d times, want a reconnect", n)
	}
	if sub := e.waitSubmission(resp); sub.Params[ParamDecision] != "approved" {
		t.Fatalf("submission %+v", sub)
	}
	_ = c2.Close()
}

func TestSocketModeReconnectsWhenSlackGoesSilent(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/r.db")
	s := newSocketServer(t)
	s.silent.Store(true)
	api := slack.New("xoxb-test", slack.OptionAppLevelToken("xapp-1-test"), slack.OptionAPIURL(s.srv.URL+"/"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.relay.RunSocket(ctx, api, SocketOptions{Liveness: 300 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	}()
	defer func() {
		cancel()
		<-done
	}()
	c1 := s.next()
	defer c1.Close()
	c2 := s.next() // no ping within the liveness window: the relay must drop and reopen
	defer c2.Close()
	if n := s.opens.Load(); n < 2 {
		t.Fatalf("apps.connections.open called %d times, want a reconnect", n)
	}
}

func TestSocketModeRetriesWhenTheAppTokenIsRefused(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/r.db")
	s := newSocketServer(t)
	api := slack.New("xoxb-test", slack.OptionAppLevelToken("xapp-wrong"), slack.OptionAPIURL(s.srv.URL+"/"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.relay.RunSocket(ctx, api, SocketOptions{MaxBackoff: 100 * time.Millisecond})
	}()
	// Until the second try, not for a fixed 2 s that a loaded machine may spend on the first.
	eventually(t, "a second apps.connections.open", func() bool { return s.opens.Load() >= 2 })
	cancel()
	<-done
	if n := s.opens.Load(); n < 2 {
		t.Fatalf("apps.connections.open tried %d times, want retries with backoff", n)
	}
}
