package slacktest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// History's page sizes: Slack's default and its most.
const (
	historyDefaultLimit = 100
	historyMaxLimit     = 999
)

// conversationsHistory lists a conversation's messages as Slack does:
// newest first, those with a ts after oldest (at or after it with
// inclusive) and before latest, limit at a time with a cursor for the
// next page. It takes a conversation id only (a DM the bot opened, a
// channel): a user id or a #name is channel_not_found. Metadata is
// returned only with include_all_metadata. Ephemeral and deleted messages
// are no part of a history.
func (s *Server) conversationsHistory(req *apiRequest) reply {
	ch := req.params.Get("channel")
	switch {
	case ch == "":
		return errReply("channel_not_found")
	case strings.HasPrefix(ch, "D"):
		if !s.openDMs[strings.TrimPrefix(ch, "D")] {
			return errReply("channel_not_found")
		}
	default:
		// A channel the workspace has, or one the bot posted to.
		known := slices.Contains(slices.Collect(maps.Values(s.channels)), ch) ||
			slices.ContainsFunc(s.messages, func(m *Message) bool { return m.Channel == ch })
		if !known {
			return errReply("channel_not_found")
		}
	}
	limit := historyDefaultLimit
	if v := req.params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errReply("invalid_limit")
		}
		limit = min(n, historyMaxLimit)
	}
	oldest, latest := req.params.Get("oldest"), req.params.Get("latest")
	inclusive := req.params.Get("inclusive") == "1" || req.params.Get("inclusive") == "true"
	withMeta := req.params.Get("include_all_metadata") == "1" || req.params.Get("include_all_metadata") == "true"
	var in []*Message
	for i := len(s.messages) - 1; i >= 0; i-- {
		m := s.messages[i]
		if m.Channel != ch || m.Ephemeral || m.Deleted || m.Original.Via != "chat.postMessage" {
			continue
		}
		if oldest != "" && (tsBefore(m.TS, oldest) || !inclusive && m.TS == oldest) {
			continue
		}
		if latest != "" && (tsBefore(latest, m.TS) || !inclusive && m.TS == latest) {
			continue
		}
		in = append(in, m)
	}
	start, end, next, code := page(req, len(in), limit)
	if code != "" {
		return errReply(code)
	}
	msgs := make([]any, 0, end-start)
	for _, m := range in[start:end] {
		j := s.messageJSON(m)
		if withMeta && m.Metadata != nil {
			j["metadata"] = map[string]any{"event_type": m.Metadata.EventType, "event_payload": m.Metadata.EventPayload}
		}
		msgs = append(msgs, j)
	}
	return okReply(map[string]any{"messages": msgs, "has_more": next != "", "pin_count": 0,
		"response_metadata": map[string]any{"next_cursor": next}})
}

// page is the part of n items a request's cursor ("page:<index>", as the
// fake hands them out) and limit select, and the cursor of the next page
// ("" at the end); code is invalid_cursor for a cursor the fake did not
// hand out.
func page(req *apiRequest, n, limit int) (start, end int, next, code string) {
	if c := req.params.Get("cursor"); c != "" {
		i, err := strconv.Atoi(strings.TrimPrefix(c, "page:"))
		if !strings.HasPrefix(c, "page:") || err != nil || i < 0 || i > n {
			return 0, 0, "", "invalid_cursor"
		}
		start = i
	}
	end = min(start+limit, n)
	if end < n {
		next = "page:" + strconv.Itoa(end)
	}
	return start, end, next, ""
}

// tsBefore compares two Slack timestamps ("seconds.micros", the fraction
// possibly shorter or absent) exactly: a float64 holds no 16 digits.
func tsBefore(a, b string) bool {
	ma, okA := tsMicros(a)
	mb, okB := tsMicros(b)
	if !okA || !okB {
		return a < b
	}
	return ma < mb
}

func tsMicros(ts string) (int64, bool) {
	sec, frac, _ := strings.Cut(ts, ".")
	if len(frac) > 6 {
		return 0, false
	}
	frac += strings.Repeat("0", 6-len(frac))
	s, err := strconv.ParseInt(sec, 10, 64)
	f, ferr := strconv.ParseInt(frac, 10, 64)
	return s*1_000_000 + f, err == nil && ferr == nil
}
