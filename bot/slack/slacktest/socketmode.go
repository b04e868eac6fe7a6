package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Envelope types Slack sends over Socket Mode.
const (
	EnvelopeSlashCommands = "slash_commands"
	EnvelopeInteractive   = "interactive"
	EnvelopeEventsAPI     = "events_api"
)

// Slack reconnects a Socket Mode connection after about five hours, or after
// six minutes with debug_reconnects=true; the hello announces which.
const (
	connectionTimeSeconds      = 18060
	debugConnectionTimeSeconds = 360
	writeWait                  = 5 * time.Second
)

var errClosed = errors.New("slacktest: server closed")

// Envelope is one Socket Mode request sent with SendSocketMode.
type Envelope struct {
	ID      string
	Type    string
	Payload json.RawMessage
	// SentAt is wall-clock time: ack latency is about the bot's real
	// responsiveness, so it is measured on the system clock, not the injected one.
	SentAt     time.Time
	Acked      bool
	Ack        json.RawMessage // the ack's payload, nil when it had none
	AckLatency time.Duration
}

type wsConn struct {
	ws              *websocket.Conn
	debugReconnects bool
	wmu             sync.Mutex // gorilla allows one concurrent writer
	done            chan struct{}
	closeOnce       sync.Once
}

func (c *wsConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return fmt.Errorf("slacktest: set write deadline: %w", err)
	}
	if err := c.ws.WriteJSON(v); err != nil {
		return fmt.Errorf("slacktest: write to socket mode client: %w", err)
	}
	return nil
}

func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		// WriteControl may run concurrently with other writes.
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server closing"), time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
}

type ackResult struct {
	payload json.RawMessage
	err     error
}

type pendingAck struct {
	conn   *wsConn
	result chan ackResult // buffered 1; only the goroutine that removes the entry sends
}

// appsConnectionsOpen hands out a single-use ws:// URL on this server, as
// Slack hands out wss://wss-primary.slack.com/link/?ticket=....
func (s *Server) appsConnectionsOpen(*apiRequest) reply {
	ticket := randomToken()
	s.tickets[ticket] = true
	return okReply(map[string]any{"url": s.wsBase + "/link/?ticket=" + ticket + "&app_id=" + s.cfg.appID})
}

func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	valid := !s.closed && s.tickets[q.Get("ticket")]
	delete(s.tickets, q.Get("ticket"))
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("slacktest socket mode upgrade failed", "error", err)
		return
	}
	c := &wsConn{ws: ws, debugReconnects: q.Get("debug_reconnects") == "true", done: make(chan struct{})}

	// A hijacked connection is no longer the HTTP server's business, so the
	// fake tracks it itself: Close closes it and waits for its goroutines.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close()
		return
	}
	s.sockets[c] = struct{}{}
	n := len(s.sockets)
	s.wg.Add(2) // this reader and its pinger
	s.mu.Unlock()
	defer s.wg.Done()

	approx := connectionTimeSeconds
	if c.debugReconnects {
		approx = debugConnectionTimeSeconds
	}
	hello := map[string]any{
		"type":            "hello",
		"num_connections": n,
		"debug_info": map[string]any{
			"host": "slacktest", "build_number": 1, "approximate_connection_time": approx,
		},
		"connection_info": map[string]any{"app_id": s.cfg.appID},
	}
	if err := c.writeJSON(hello); err != nil {
		s.log.Debug("slacktest socket mode hello failed", "error", err)
	} else {
		// Only now, after the hello, may envelopes go to this connection.
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
	}
	go s.ping(c)
	s.read(c)
}

// ping keeps slack-go's dead-connection timer satisfied: it drops a
// connection that sees no ping for its OptionPingInterval.
func (s *Server) ping(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.pingInterval)
	defer t.Stop()
	for {
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("slacktest"), time.Now().Add(writeWait)); err != nil {
			return
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// read takes acks off the connection until it fails, then forgets the
// connection and fails the envelopes still waiting on it.
func (s *Server) read(c *wsConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			s.log.Debug("slacktest socket mode connection ended", "error", err)
			break
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.log.Debug("slacktest socket mode: not an ack", "message", string(data))
			continue
		}
		s.deliverAck(ack.EnvelopeID, ack.Payload)
	}
	c.close()

	s.mu.Lock()
	delete(s.sockets, c)
	s.conns = slices.DeleteFunc(s.conns, func(x *wsConn) bool { return x == c })
	var orphans []*pendingAck
	for id, p := range s.pending {
		if p.conn == c {
			orphans = append(orphans, p)
			delete(s.pending, id)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, p := range orphans {
		p.result <- ackResult{err: errors.New("slacktest: socket mode connection closed before the ack")}
	}
}

func (s *Server) deliverAck(id string, payload json.RawMessage) {
	if string(payload) == "null" {
		payload = nil
	}
	s.mu.Lock()
	p, ok := s.pending[id]
	delete(s.pending, id)
	found := false
	for i := range s.envelopes {
		if e := &s.envelopes[i]; e.ID == id && !e.Acked {
			// Recorded even when the sender gave up waiting: a late ack is
			// exactly what the deadline check is for.
			found = true
			latency := time.Since(e.SentAt)
			e.Acked, e.Ack, e.AckLatency = true, payload, latency
			if latency > AckDeadline {
				s.violateLocked(Violation{
					Rule: RuleAckDeadline, Method: "socket_mode:" + e.Type, At: s.cfg.clock.Now(),
					Detail: fmt.Sprintf("envelope %s acked after %s", id, latency),
				})
			}
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	if !found {
		s.log.Debug("slacktest socket mode: ack for an unknown or already acked envelope", "envelope_id", id)
	}
	if ok {
		p.result <- ackResult{payload: payload}
	}
}

// SendSocketMode delivers an envelope of type typ (EnvelopeSlashCommands,
// EnvelopeInteractive, EnvelopeEventsAPI) to the most recent Socket Mode
// connection, waiting for one if none is up, and returns the payload of the
// client's ack (nil when it acked without one).
//
// payload is marshalled to JSON; a json.RawMessage or []byte is sent as is,
// and a slack.InteractionCallback is marshalled through its pointer so its
// state survives. Slash commands take a slack.SlashCommand, interactions a
// *slack.InteractionCallback, events an events_api callback body.
func (s *Server) SendSocketMode(ctx context.Context, typ string, payload any) (json.RawMessage, error) {
	raw, err := marshalPayload(payload)
	if err != nil {
		return nil, fmt.Errorf("slacktest: socket mode %s payload: %w", typ, err)
	}
	id := randomToken()
	p := &pendingAck{result: make(chan ackResult, 1)}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed
		}
		if n := len(s.conns); n > 0 {
			p.conn = s.conns[n-1]
			s.pending[id] = p
			s.envelopes = append(s.envelopes, Envelope{ID: id, Type: typ, Payload: raw, SentAt: time.Now()})
			s.notifyLocked()
			s.mu.Unlock()
			break
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("slacktest: waiting for a socket mode client: %w", ctx.Err())
		}
	}

	env := map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"payload":                  raw,
		"accepts_response_payload": typ != EnvelopeEventsAPI,
		"retry_attempt":            0,
		"retry_reason":             "",
	}
	if err := p.conn.writeJSON(env); err != nil {
		s.abandon(id)
		return nil, fmt.Errorf("slacktest: send %s envelope: %w", typ, err)
	}
	select {
	case res := <-p.result:
		if res.err != nil {
			return nil, fmt.Errorf("slacktest: %s envelope %s: %w", typ, id, res.err)
		}
		return res.payload, nil
	case <-ctx.Done():
		s.abandon(id)
		return nil, fmt.Errorf("slacktest: waiting for the ack of %s envelope %s: %w", typ, id, ctx.Err())
	}
}

func (s *Server) abandon(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, id)
}

func marshalPayload(payload any) (json.RawMessage, error) {
	switch p := payload.(type) {
	case nil:
		return nil, errors.New("nil payload")
	case json.RawMessage:
		if !json.Valid(p) {
			return nil, errors.New("invalid JSON")
		}
		return slices.Clone(p), nil
	case []byte:
		if !json.Valid(p) {
			return nil, errors.New("invalid JSON")
		}
		return slices.Clone(p), nil
	case slack.InteractionCallback:
		// MarshalJSON has a pointer receiver; marshalling the value drops state.
		return json.Marshal(&p)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return b, nil
}

// SocketModeConnected reports whether a Socket Mode client is connected and
// has been sent its hello.
func (s *Server) SocketModeConnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0
}

// SocketModeEnvelopes returns the envelopes sent, oldest first.
func (s *Server) SocketModeEnvelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.envelopes)
	for i := range out {
		out[i].Payload = slices.Clone(out[i].Payload)
		out[i].Ack = slices.Clone(out[i].Ack)
	}
	return out
}

// SocketModeDisconnect sends every connected client a "disconnect" message
// with the reason ("warning", "refresh_requested", ...), as Slack does
// before it rotates a connection; slack-go then reconnects through
// apps.connections.open. Like Slack, the fake sends no further envelopes on
// a connection it asked to go, so SendSocketMode waits for the new one.
func (s *Server) SocketModeDisconnect(reason string) error {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.notifyLocked()
	s.mu.Unlock()
	if len(conns) == 0 {
		return errors.New("slacktest: no socket mode client connected")
	}
	msg := map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "slacktest"}}
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.writeJSON(msg))
	}
	return errors.Join(errs...)
}
