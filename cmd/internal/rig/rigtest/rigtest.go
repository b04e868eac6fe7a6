// Package rigtest is the rig for tests: a world per test in t.TempDir,
// closed by t.Cleanup, whose helpers end the test when something that should
// happen does not. Only _test.go files import it.
package rigtest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// Harness is a rig owned by one test.
type Harness struct {
	*rig.Rig
	T   testing.TB
	Ctx context.Context
}

// New is the usual world of a test: jitbot configured for Slack (with the
// approvals channel) and Teams, Atlas applying changes at the first status
// poll, on clock (nil: real time). Spec violations fail the test.
func New(t testing.TB, clock rig.Clock) *Harness {
	t.Helper()
	return With(t, rig.Options{Clock: clock, Slack: true, Teams: true, ApprovalsChannel: true, ApplyPolls: 1, LogLevel: slog.LevelDebug})
}

// With is the world o describes, in t.TempDir, reporting to t unless o
// says otherwise.
func With(t testing.TB, o rig.Options) *Harness {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Reporter == nil {
		o.Reporter = t
	}
	r, err := rig.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return &Harness{Rig: r, T: t, Ctx: context.Background()}
}

// Start runs jitbot in this process until the test ends (or Stop).
func (h *Harness) Start() { h.T.Helper(); h.StartWith(app.Options{}) }

// StartAt runs jitbot in this process on addr, so that the CLI, reading
// the configuration UseAddr wrote, finds its admin API.
func (h *Harness) StartAt(addr string) {
	h.T.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.T.Fatal(err)
	}
	h.StartWith(app.Options{Listener: ln})
}

// StartWith runs jitbot in this process with opts.
func (h *Harness) StartWith(opts app.Options) {
	h.T.Helper()
	if err := h.Rig.Start(h.Ctx, opts); err != nil {
		h.T.Fatal(err)
	}
	h.T.Cleanup(h.Stop)
}

// Stop stops jitbot; a failure to stop cleanly fails the test.
func (h *Harness) Stop() {
	if err := h.Rig.Stop(); err != nil {
		h.T.Errorf("stop jitbot: %v", err)
	}
}

// URL is path on the running jitbot.
func (h *Harness) URL(path string) string { return "http://" + h.Addr() + path }

// UseAddr makes the configuration listen on a fixed address, so that a
// jitbot can be found again after a restart and the CLI finds it.
func (h *Harness) UseAddr(addr string) {
	h.T.Helper()
	h.EditConfig(`listen: "127.0.0.1:0"`, `listen: "`+addr+`"`)
}

// EditConfig replaces the first old in jitbot.yaml by new; the test fails
// when old is not there.
func (h *Harness) EditConfig(old, new string) {
	h.T.Helper()
	raw, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		h.T.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		h.T.Fatalf("jitbot.yaml has no %q:\n%s", old, raw)
	}
	if err := os.WriteFile(h.ConfigPath, []byte(strings.Replace(string(raw), old, new, 1)), 0o600); err != nil {
		h.T.Fatal(err)
	}
}

// Slash sends a signed slash command from user to the jitbot at addr and
// returns its ack.
func (h *Harness) Slash(addr string, user slacktest.User, text string) string {
	h.T.Helper()
	return h.send(addr, "/slack/commands", h.SlashForm(user, text, h.Slack.NewTriggerIDFor(user.ID)))
}

// Click presses, as user, the button of msg whose value starts with prefix.
func (h *Harness) Click(addr string, user slacktest.User, msg slacktest.Message, prefix string) {
	h.T.Helper()
	b, ok := rig.Button(msg, prefix)
	if !ok {
		h.T.Fatalf("no button %q in:\n%s", prefix, msg.AllText())
	}
	form, err := h.ClickForm(user, b.ActionID, b.Value, msg)
	if err != nil {
		h.T.Fatal(err)
	}
	h.send(addr, "/slack/interactions", form)
}

func (h *Harness) send(addr, path string, form map[string][]string) string {
	h.T.Helper()
	p := rig.NewPoster(addr)
	defer p.Close()
	body, err := p.Send(h.Ctx, path, form)
	if err != nil {
		h.T.Fatal(err)
	}
	return body
}

// WaitDM waits for a Slack DM to user containing needle.
func (h *Harness) WaitDM(user slacktest.User, needle string) slacktest.Message {
	h.T.Helper()
	m, err := h.Rig.WaitDM(h.Ctx, user, needle, 20*time.Second)
	if err != nil {
		h.T.Fatalf("%v; DMs to %s:\n%s\nlogs:\n%s", err, user.Name, Dump(h.Slack.DMs(user.ID)), h.LogTail(3000))
	}
	return m
}

// Dump prints messages for a failure report.
func Dump(msgs []slacktest.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("--- " + m.TS + "\n" + m.AllText() + "\n")
	}
	return b.String()
}

// WaitTeams waits for an activity the Bot Framework fake saw matching match.
func (h *Harness) WaitTeams(match func(teamstest.Activity) bool) teamstest.Activity {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(h.Ctx, 20*time.Second)
	defer cancel()
	a, err := h.BF.Wait(ctx, match)
	if err != nil {
		h.T.Fatalf("no matching Teams activity: %v\nlogs:\n%s", err, h.LogTail(3000))
	}
	return a
}

// TeamsSay delivers a signed message from m in conv to the jitbot at addr.
func (h *Harness) TeamsSay(addr string, m teamstest.Member, conv, text string) {
	h.T.Helper()
	resp, err := h.BF.Deliver(h.Ctx, "http://"+addr+"/teams/messages", h.BF.Message(conv, m, text))
	if err != nil {
		h.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		h.T.Fatalf("teams delivery: %s", resp.Status)
	}
}

// Sent waits until jitbot's outbox is empty: every message it decided on
// was sent and recorded (nothing in flight either).
func (h *Harness) Sent() {
	h.T.Helper()
	h.Eventually("the outbox to empty", func() bool {
		n, _, err := h.Main.Store().OutboxDepth(h.Ctx)
		return err == nil && n == 0
	})
}

// Eventually waits for cond, at most 20 seconds.
func (h *Harness) Eventually(what string, cond func() bool) {
	h.T.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.T.Fatalf("waited for %s; logs:\n%s", what, h.LogTail(3000))
		}
	}
}

// WaitCalls waits until Atlas has seen n calls to operation op.
func (h *Harness) WaitCalls(op string, n int) {
	h.T.Helper()
	h.Eventually("Atlas calls to "+op, func() bool { return h.Atlas.CountCalls(op) >= n })
}

// Server is `jitbot serve` as a child process of the test.
type Server struct {
	*rig.Proc
	t    testing.TB
	logs *SyncBuffer
}

// Serve starts exe (with env) as `jitbot serve` on this harness's
// configuration, which listens at addr (see UseAddr), and waits until it
// answers.
func (h *Harness) Serve(exe, addr string, env ...string) *Server {
	h.T.Helper()
	s := &Server{t: h.T, logs: &SyncBuffer{}}
	p, err := rig.Serve(h.Ctx, exe, h.ConfigPath, addr, s.logs, env...)
	if err != nil {
		h.T.Fatalf("%v\n%s", err, s.logs.String())
	}
	s.Proc = p
	h.T.Cleanup(s.Kill)
	return s
}

// ServeFresh points the configuration at a free port and starts exe (with
// env) there as `jitbot serve`; it answers the server and its address (Serve
// there again to restart it).
func (h *Harness) ServeFresh(exe string, env ...string) (*Server, string) {
	h.T.Helper()
	addr := FreePort(h.T)
	h.UseAddr(addr)
	return h.Serve(exe, addr, env...), addr
}

// Stop sends SIGTERM; the test fails unless the server exits cleanly.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.Proc.Stop(); err != nil {
		s.t.Fatalf("jitbot serve did not stop cleanly on SIGTERM: %v\n%s", err, s.logs.String())
	}
}

// Logs is what the server wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// FreePort is a loopback address nothing listens on (yet).
func FreePort(t testing.TB) string {
	t.Helper()
	addr, err := rig.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// SyncBuffer is a buffer written by one goroutine (a child's output) and
// read by another.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
