package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxBody bounds what one delivery may send. Slack's payloads (a modal's
// state included) stay well below it.
const maxBody = 1 << 20

// Handler serves Slack's HTTP deliveries: POST /slack/commands (slash
// commands), /slack/interactions (buttons, modals) and /slack/events (Events
// API). Every request's signature is verified first; anything forged, stale
// or unsigned gets 401 and does nothing.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /slack/commands", b.verified(b.serveCommand))
	mux.Handle("POST /slack/interactions", b.verified(b.serveInteraction))
	mux.Handle("POST /slack/events", b.verified(b.serveEvent))
	return mux
}

// verified checks Slack's signature over the raw body before next sees the
// request. The body is read once, verified, and put back for the parsers.
func (b *Bot) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(reason string, err error) {
			b.log.WarnContext(r.Context(), "refused a slack request", "reason", reason, "path", r.URL.Path,
				"remote_addr", r.RemoteAddr, "err", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, reason+"\n")
		}
		if b.cfg.SigningSecret == "" {
			refuse("this app takes Slack requests over Socket Mode only", nil)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			b.log.WarnContext(r.Context(), "could not read a slack request", "path", r.URL.Path, "err", err)
			http.Error(w, "request too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		v, err := slackgo.NewSecretsVerifier(r.Header, b.cfg.SigningSecret)
		switch {
		case errors.Is(err, slackgo.ErrMissingHeaders):
			refuse("missing signature", err)
			return
		case errors.Is(err, slackgo.ErrExpiredTimestamp):
			refuse("stale signature", err)
			return
		case err != nil:
			refuse("invalid signature", err)
			return
		}
		if _, err := v.Write(body); err != nil {
			refuse("invalid signature", err)
			return
		}
		if err := v.Ensure(); err != nil {
			refuse("invalid signature", err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, body)
	})
}

// writeAck answers a delivery: an empty 200, or the JSON body Slack reads
// (a message for slash commands, a response_action for view submissions).
func writeAck(w http.ResponseWriter, body any) {
	if body == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	raw, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "could not encode the response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(raw)
}

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request, _ []byte) {
	cmd, err := slackgo.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	writeAck(w, b.command(r.Context(), cmd))
}

func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request, _ []byte) {
	payload := r.FormValue("payload")
	if payload == "" {
		http.Error(w, "no payload", http.StatusBadRequest)
		return
	}
	var cb slackgo.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	writeAck(w, b.interaction(r.Context(), &cb))
}

func (b *Bot) serveEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type slack-go cannot parse is not worth a retry storm:
		// acknowledge it and say so in the log.
		b.log.WarnContext(r.Context(), "unreadable slack event", "err", err)
		w.Header().Set("X-Slack-No-Retry", "1")
		w.WriteHeader(http.StatusOK)
		return
	}
	if ev.Type == slackevents.URLVerification {
		if v, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent); ok {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, v.Challenge)
			return
		}
	}
	retry := strings.TrimSpace(r.Header.Get("X-Slack-Retry-Num"))
	b.event(r.Context(), ev, retry)
	w.WriteHeader(http.StatusOK)
}
