package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's documented message limits, enforced so the bot's tests catch what
// production would reject.
const (
	maxMessageText   = 40000
	maxMessageBlocks = 50
)

// Message is a message the bot posted, in its current state.
type Message struct {
	Channel  string // resolved channel id (a DM is D + user id)
	TS       string // for ephemerals, the message_ts Slack returned
	ThreadTS string
	Text     string
	// BlocksJSON is the blocks as sent (nil when none); Blocks is it decoded.
	BlocksJSON json.RawMessage
	Blocks     slack.Blocks
	Ephemeral  bool
	User       string // the recipient of an ephemeral message
	// Metadata is the message metadata it was posted with (nil: none),
	// which conversations.history returns when asked to.
	Metadata *slack.SlackMetadata
	Deleted  bool
	PostedAt time.Time
	// Original is the message as posted (Via chat.postMessage or
	// chat.postEphemeral), whatever updates made of it since.
	Original Revision
	// Updates are the changes made since the post, oldest first, by
	// chat.update or by a response_url with replace_original.
	Updates []Revision
}

// Revision is one change to a message.
type Revision struct {
	Text       string
	BlocksJSON json.RawMessage
	Blocks     slack.Blocks
	At         time.Time
	Via        string // "chat.update" or "response_url"
}

// AllText is the revision's text plus the text of its blocks, one per line.
func (r Revision) AllText() string { return joinText(r.Text, textIn(r.Blocks)) }

// Buttons lists the revision's buttons in order.
func (r Revision) Buttons() []*slack.ButtonBlockElement { return buttonsIn(r.Blocks) }

// Buttons lists the message's buttons in order (actions blocks and section
// accessories), so tests can find the Approve button and its value.
func (m Message) Buttons() []*slack.ButtonBlockElement { return buttonsIn(m.Blocks) }

// AllText is the message text plus the text of its blocks, one per line, for
// "does the DM mention the username" assertions.
func (m Message) AllText() string { return joinText(m.Text, textIn(m.Blocks)) }

// Messages returns every message posted (ephemerals included), in post order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(func(*Message) bool { return true })
}

// CountMessages counts the messages posted (ephemerals included) without
// copying them (load scenarios poll it).
func (s *Server) CountMessages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// DMs returns the messages posted to the bot's DM channel with userID.
func (s *Server) DMs(userID string) []Message {
	ch := DMChannel(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(func(m *Message) bool { return m.Channel == ch })
}

// ChannelMessages returns the messages posted to one channel id.
func (s *Server) ChannelMessages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(func(m *Message) bool { return m.Channel == channel })
}

// Message returns the message with that channel id and ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findMessageLocked(channel, ts); m != nil {
		return m.export(), true
	}
	return Message{}, false
}

func (s *Server) messagesLocked(keep func(*Message) bool) []Message {
	var out []Message
	for _, m := range s.messages {
		if keep(m) {
			out = append(out, m.export())
		}
	}
	return out
}

func (s *Server) findMessageLocked(channel, ts string) *Message {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

// export copies a stored message and decodes its blocks afresh, so callers
// never share mutable state with the server or with each other.
func (m *Message) export() Message {
	out := *m
	out.BlocksJSON = slices.Clone(m.BlocksJSON)
	out.Blocks = mustBlocks(m.BlocksJSON)
	out.Original.BlocksJSON = slices.Clone(m.Original.BlocksJSON)
	out.Original.Blocks = mustBlocks(m.Original.BlocksJSON)
	out.Updates = make([]Revision, len(m.Updates))
	for i, r := range m.Updates {
		r.BlocksJSON = slices.Clone(r.BlocksJSON)
		r.Blocks = mustBlocks(r.BlocksJSON)
		out.Updates[i] = r
	}
	if len(m.Updates) == 0 {
		out.Updates = nil
	}
	return out
}

// revise applies a change; absent text or blocks keep the previous ones, as
// chat.update documents.
func (m *Message) revise(text *string, blocks json.RawMessage, at time.Time, via string) {
	if text != nil {
		m.Text = *text
	}
	if blocks != nil {
		m.BlocksJSON = blocks
	}
	m.Updates = append(m.Updates, Revision{Text: m.Text, BlocksJSON: m.BlocksJSON, At: at, Via: via})
}

// parseBlocks validates a "blocks" parameter and counts its blocks. nil
// means absent; an empty array is kept because it clears blocks on update.
func parseBlocks(raw string, limit int) (json.RawMessage, int, string) {
	if raw == "" || raw == "null" {
		return nil, 0, ""
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		return nil, 0, "invalid_blocks_format"
	}
	if len(items) > limit {
		return nil, 0, "invalid_blocks"
	}
	for _, it := range items {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(it, &head) != nil || head.Type == "" {
			return nil, 0, "invalid_blocks"
		}
	}
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return nil, 0, "invalid_blocks"
	}
	return json.RawMessage(raw), len(items), ""
}

func mustBlocks(raw json.RawMessage) slack.Blocks {
	var b slack.Blocks
	if len(raw) > 0 {
		// Validated when recorded; a failure here cannot happen.
		_ = json.Unmarshal(raw, &b)
	}
	return b
}

// messageContent reads and validates text, blocks and attachments.
func messageContent(p map[string][]string) (text *string, blocks json.RawMessage, code string) {
	if v, ok := p["text"]; ok && len(v) > 0 {
		text = &v[0]
		if utf8.RuneCountInString(v[0]) > maxMessageText {
			return nil, nil, "msg_too_long"
		}
	}
	blocks, n, code := parseBlocks(first(p, "blocks"), maxMessageBlocks)
	if code != "" {
		return nil, nil, code
	}
	hasText := text != nil && *text != ""
	hasAttachments := first(p, "attachments") != "" && first(p, "attachments") != "null"
	if !hasText && n == 0 && !hasAttachments {
		return nil, nil, "no_text"
	}
	return text, blocks, ""
}

func first(p map[string][]string, k string) string {
	if v := p[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// messageJSON is the "message" object chat.postMessage and chat.update return.
func (s *Server) messageJSON(m *Message) map[string]any {
	out := map[string]any{
		"type":   "message",
		"user":   s.cfg.botUserID,
		"bot_id": s.cfg.botID,
		"team":   s.cfg.teamID,
		"text":   m.Text,
		"ts":     m.TS,
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.BlocksJSON) > 0 {
		out["blocks"] = m.BlocksJSON
	}
	return out
}

// messageMetadata decodes chat.postMessage's metadata argument as Slack
// does: a JSON object with an event_type of letters, digits and
// underscores and an event_payload object ("": none).
func messageMetadata(raw string) (*slack.SlackMetadata, string) {
	if raw == "" {
		return nil, ""
	}
	var m struct {
		EventType    string          `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, "invalid_metadata_format"
	}
	var payload map[string]any
	if m.EventType == "" || strings.Trim(strings.ToLower(m.EventType), "abcdefghijklmnopqrstuvwxyz0123456789_") != "" ||
		json.Unmarshal(m.EventPayload, &payload) != nil || payload == nil {
		return nil, "invalid_metadata_format"
	}
	return &slack.SlackMetadata{EventType: m.EventType, EventPayload: payload}, ""
}

func (s *Server) chatPostMessage(req *apiRequest) reply {
	ch, code := s.resolveChannelLocked(req.params.Get("channel"))
	if code != "" {
		return errReply(code)
	}
	text, blocks, code := messageContent(req.params)
	if code != "" {
		return errReply(code)
	}
	meta, code := messageMetadata(req.params.Get("metadata"))
	if code != "" {
		return errReply(code)
	}
	if wait := s.checkPacingLocked(ch, req.now); wait > 0 && s.cfg.enforcePace {
		rep := errReply("ratelimited")
		rep.status, rep.retryAfter = http.StatusTooManyRequests, wait
		return rep
	}
	s.lastPost[ch] = req.now
	m := &Message{
		Channel:    ch,
		TS:         s.nextTSLocked(req.now),
		ThreadTS:   req.params.Get("thread_ts"),
		BlocksJSON: blocks,
		PostedAt:   req.now,
		Metadata:   meta,
	}
	if text != nil {
		m.Text = *text
	}
	m.Original = Revision{Text: m.Text, BlocksJSON: blocks, At: req.now, Via: "chat.postMessage"}
	s.messages = append(s.messages, m)
	return okReply(map[string]any{"channel": ch, "ts": m.TS, "message": s.messageJSON(m)})
}

// checkPacingLocked records a RulePacing violation for a post to ch at now
// that comes too soon after the previous one, and answers how much sooner
// (0 when it is in time).
func (s *Server) checkPacingLocked(ch string, now time.Time) time.Duration {
	if s.cfg.pacing <= 0 {
		return 0
	}
	last, ok := s.lastPost[ch]
	if !ok || now.Sub(last) >= s.cfg.pacing {
		return 0
	}
	s.violateLocked(Violation{
		Rule:    RulePacing,
		Method:  "chat.postMessage",
		Channel: ch,
		At:      now,
		Detail:  fmt.Sprintf("%s after the previous message, want at least %s", now.Sub(last), s.cfg.pacing),
	})
	return s.cfg.pacing - now.Sub(last)
}

func (s *Server) chatPostEphemeral(req *apiRequest) reply {
	ch, code := s.resolveChannelLocked(req.params.Get("channel"))
	if code != "" {
		return errReply(code)
	}
	user := req.params.Get("user")
	u, ok := s.users[user]
	if !ok {
		return errReply("user_not_found")
	}
	if u.Deleted {
		return errReply("user_disabled")
	}
	text, blocks, code := messageContent(req.params)
	if code != "" {
		return errReply(code)
	}
	m := &Message{
		Channel:    ch,
		TS:         s.nextTSLocked(req.now),
		ThreadTS:   req.params.Get("thread_ts"),
		BlocksJSON: blocks,
		Ephemeral:  true,
		User:       user,
		PostedAt:   req.now,
	}
	if text != nil {
		m.Text = *text
	}
	m.Original = Revision{Text: m.Text, BlocksJSON: blocks, At: req.now, Via: "chat.postEphemeral"}
	s.messages = append(s.messages, m)
	return okReply(map[string]any{"message_ts": m.TS})
}

func (s *Server) chatUpdate(req *apiRequest) reply {
	ch, code := s.resolveChannelLocked(req.params.Get("channel"))
	if code != "" {
		return errReply(code)
	}
	m := s.findMessageLocked(ch, req.params.Get("ts"))
	switch {
	case m == nil || m.Deleted:
		return errReply("message_not_found")
	case m.Ephemeral:
		// Slack cannot update ephemerals by ts; only their response_url can.
		return errReply("cant_update_message")
	}
	text, blocks, code := messageContent(req.params)
	if code != "" {
		return errReply(code)
	}
	m.revise(text, blocks, req.now, "chat.update")
	return okReply(map[string]any{"channel": ch, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)})
}

func (s *Server) chatDelete(req *apiRequest) reply {
	ch, code := s.resolveChannelLocked(req.params.Get("channel"))
	if code != "" {
		return errReply(code)
	}
	m := s.findMessageLocked(ch, req.params.Get("ts"))
	if m == nil || m.Deleted || m.Ephemeral {
		return errReply("message_not_found")
	}
	m.Deleted = true
	return okReply(map[string]any{"channel": ch, "ts": m.TS})
}
