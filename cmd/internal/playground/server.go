package playground

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig"
)

//go:embed page
var page embed.FS

// Options describe a playground.
type Options struct {
	// Rig is the world the page shows; jitbot must be running in it.
	Rig *rig.Rig
	Log *slog.Logger
	// Advance moves the world's time on and lets jitbot see it (nil: the
	// page offers no fast-forward, as on real time).
	Advance func(ctx context.Context, by time.Duration)
}

// Server is the playground: the page, the state it polls and the actions
// it posts.
type Server struct {
	opts   Options
	rig    *rig.Rig
	log    *slog.Logger
	poster *rig.Poster
	panes  []*pane

	mu sync.Mutex
	// said is what each pane's person typed or clicked, and what answered
	// them only (acknowledgements, response_url posts), by pane id.
	said map[string][]*utterance
	// closed are the Slack forms submitted or dismissed; formErrors what
	// jitbot said was wrong in a form it kept open.
	closed     map[string]bool
	formErrors map[string]map[string]string
}

// New is a playground for the world o.Rig, whose jitbot must be running.
func New(o Options) (*Server, error) {
	if o.Rig == nil || o.Rig.Main == nil {
		return nil, errors.New("playground: the world's jitbot is not running")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts: o, rig: o.Rig, log: o.Log.With("component", "playground"), poster: rig.NewPoster(o.Rig.Addr()),
		panes: cast(o.Rig), said: map[string][]*utterance{}, closed: map[string]bool{}, formErrors: map[string]map[string]string{},
	}, nil
}

// Loopback says why addr is not an address the playground may listen on:
// the page acts as anyone in the world, with its secrets, and is for this
// machine only.
func Loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("playground address %q: %w", addr, err)
	}
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("playground address %q: the playground listens on the loopback interface only (127.0.0.1, ::1, localhost)", addr)
		}
	}
	return nil
}

// Listen listens on addr, which must be on the loopback interface.
func Listen(addr string) (net.Listener, error) {
	if err := Loopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("playground: %w", err)
	}
	return ln, nil
}

// Serve serves the page on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("playground: %w", err)
	}
	// Serve returns as Shutdown begins; the handlers still running read the
	// rig, which the caller closes once Serve has returned.
	<-shutdown
	return nil
}

// Close lets go of the connections to jitbot.
func (s *Server) Close() { s.poster.Close() }

// Handler serves the page, GET /api/state and the POST /api/ actions.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(page, "page") // the directory is embedded above
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/state", s.serveState)
	mux.HandleFunc("POST /api/slack/command", s.action(s.slackCommand))
	mux.HandleFunc("POST /api/slack/click", s.action(s.slackClick))
	mux.HandleFunc("POST /api/slack/home", s.action(s.slackHome))
	mux.HandleFunc("POST /api/slack/submit", s.action(s.slackSubmit))
	mux.HandleFunc("POST /api/slack/dismiss", s.action(s.slackDismiss))
	mux.HandleFunc("POST /api/teams/say", s.action(s.teamsSay))
	mux.HandleFunc("POST /api/teams/submit", s.action(s.teamsSubmit))
	mux.HandleFunc("POST /api/advance", s.action(s.advance))
	return local(mux)
}

// local refuses requests not addressed to this machine by name (a page
// elsewhere rebinding its DNS name to 127.0.0.1) and, for actions, posts
// from other origins (a form on another site cannot send JSON without
// asking first, and this server answers no preflight).
func local(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the playground answers to 127.0.0.1 or localhost only", http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodPost {
			if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
				http.Error(w, "send JSON", http.StatusUnsupportedMediaType)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// actionRequest is what the page posts: the pane acting, and what it does.
type actionRequest struct {
	Pane string `json:"pane"`
	// As is who clicks a button in a channel's pane (a Slack pane's id).
	As   string `json:"as"`
	Text string `json:"text"`
	// A Slack button: the message holding it (channel, ts; none for an
	// ephemeral answer) or the Home tab view; a form: its view id.
	Channel  string `json:"channel"`
	TS       string `json:"ts"`
	ViewID   string `json:"view_id"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	// Inputs are a Slack form's fields or a Teams card's inputs.
	Inputs []input `json:"inputs"`
	// A Teams button: the activity holding it and the data it submits.
	ActivityID string         `json:"activity_id"`
	Data       map[string]any `json:"data"`
	Minutes    int            `json:"minutes"`
}

// input is one field of a form or a card.
type input struct {
	BlockID  string `json:"block_id"`
	ActionID string `json:"action_id"`
	Type     string `json:"type"` // plain_text_input, static_select; Input.Text
	Value    string `json:"value"`
}

// action decodes an action, runs it and answers {"ok": true} or the error,
// which the page shows where the person acted.
func (s *Server) action(run func(ctx context.Context, req actionRequest) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req actionRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unreadable request: " + err.Error()})
			return
		}
		if err := run(r.Context(), req); err != nil {
			s.log.InfoContext(r.Context(), "an action failed", "path", r.URL.Path, "pane", req.Pane, "err", err)
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// paneOf is the pane with that id, on the platform wanted.
func (s *Server) paneOf(id, platform string) (*pane, error) {
	for _, p := range s.panes {
		if p.ID == id && p.Platform == platform {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no %s pane %q", platform, id)
}

// advance moves the world's time on.
func (s *Server) advance(ctx context.Context, req actionRequest) error {
	if s.opts.Advance == nil {
		return errors.New("this world runs on real time")
	}
	if req.Minutes < 1 || req.Minutes > 24*60 {
		return errors.New("advance by 1 minute to 24 hours")
	}
	s.opts.Advance(ctx, time.Duration(req.Minutes)*time.Minute)
	return nil
}
