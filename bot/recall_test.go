package bot_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// recallingPlatform tags the messages it takes with their delivery and
// finds them again (bot.SentFinder), as Slack does with message metadata;
// it can lose its answer to a send it took (the process died, the call
// timed out).
type recallingPlatform struct {
	*flakyPlatform
	mu    sync.Mutex
	sent  map[uint64][]taggedMessage // by delivery
	lose  map[string]int             // answers to lose, by recipient email
	looks int
}

type taggedMessage struct {
	where string
	ref   flows.MessageRef
}

func newRecalling(p *flakyPlatform) *recallingPlatform {
	return &recallingPlatform{flakyPlatform: p, sent: map[uint64][]taggedMessage{}, lose: map[string]int{}}
}

var _ bot.SentFinder = (*recallingPlatform)(nil)

func (p *recallingPlatform) Send(ctx context.Context, to bot.Person, c bot.Card) (flows.MessageRef, error) {
	ref, err := p.flakyPlatform.Send(ctx, to, c)
	if err != nil {
		return ref, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id := bot.DeliveryOf(ctx); id != 0 {
		p.sent[id] = append(p.sent[id], taggedMessage{where: to.Address, ref: ref})
	}
	if p.lose[to.Email] > 0 {
		p.lose[to.Email]--
		return flows.MessageRef{}, errors.New("connection reset: the answer was lost")
	}
	return ref, nil
}

func (p *recallingPlatform) FindSent(_ context.Context, where string, id uint64, _ time.Time) (flows.MessageRef, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.looks++
	for _, m := range p.sent[id] {
		if m.where == where {
			return m.ref, true, nil
		}
	}
	return flows.MessageRef{}, false, nil
}

func (p *recallingPlatform) looked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.looks
}

// recallWorld is a dispatcher world whose slack finds its messages again;
// approval cards go to the approvers' DMs only.
func recallWorld(t *testing.T) (*dworld, *recallingPlatform) {
	w := newDWorld(t, bot.DispatcherConfig{Workers: 1})
	w.everyone()
	w.slack.SetChannel("")
	rp := newRecalling(w.slack)
	w.platforms = func() []bot.Platform { return []bot.Platform{rp, w.teams} }
	w.d = w.dispatcher(w.secrets)
	return w, rp
}

// restart replaces the dispatcher, as a process killed and started again
// would: what it kept in memory is gone, and it marks as another holder.
func (w *dworld) restart() { w.d = w.dispatcher(w.secrets) }

func slackCards(w *dworld, to string) []bottest.Message {
	var out []bottest.Message
	for _, m := range w.slack.To(to) {
		if strings.HasPrefix(m.Card.Title, "Access request") {
			out = append(out, m)
		}
	}
	return out
}

// TestDispatchRecallsWhatASendCutShortMade: a card the platform took
// while its sender died (or lost the answer) is found by the next send,
// recorded instead of posted again, and updated by later events; a card
// that never reached the platform is sent. Nothing is looked for without
// a mark another sender or an unknown outcome left.
func TestDispatchRecallsWhatASendCutShortMade(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cut     func(w *dworld, rp *recallingPlatform)
		restart bool
		looks   int
	}{
		{"taken, then the process died", func(_ *dworld, rp *recallingPlatform) { rp.lose[bob] = 1 }, true, 1},
		{"taken, the answer lost", func(_ *dworld, rp *recallingPlatform) { rp.lose[bob] = 1 }, false, 1},
		{"never taken, then the process died", func(w *dworld, _ *recallingPlatform) {
			w.slack.failNext(bob, errors.New("connection refused"))
		}, true, 1},
		{"refused for now, by the same process", func(w *dworld, _ *recallingPlatform) {
			w.slack.failNext(bob, rateLimited(time.Second))
		}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, rp := recallWorld(t)
			tc.cut(w, rp)
			r := w.ask("slack")
			w.expand()
			w.deliver()
			if tc.restart {
				w.restart()
			}
			w.clock.Advance(time.Hour) // past any backoff
			w.wall.Advance(time.Hour)
			w.deliver()
			if got := slackCards(w, bob); len(got) != 1 {
				t.Fatalf("bob has %d approval cards on slack, want 1", len(got))
			}
			if got := rp.looked(); got != tc.looks {
				t.Errorf("looked %d times, want %d", got, tc.looks)
			}
			if left := w.pending(); len(left) != 0 {
				t.Fatalf("left %v", conversations(left))
			}
			// The card is remembered: the decision updates it.
			w.approve(r.ID, bob)
			w.expand()
			w.deliver()
			updated := false
			for _, op := range w.slack.Ops() {
				updated = updated || op.Kind == bottest.OpUpdate && op.To == bob
			}
			if !updated {
				t.Errorf("bob's card was not updated after the decision: %+v", w.slack.Ops())
			}
		})
	}
}

// TestDispatchRecallsCredentialsOfADeadProcess: the credentials message a
// killed process sent (its secret died with it) is found and recorded: no
// second secret is issued.
func TestDispatchRecallsCredentialsOfADeadProcess(t *testing.T) {
	w, rp := recallWorld(t)
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob)
	w.expand()
	rp.lose[alice] = 1
	w.deliver()
	w.mu.Lock()
	w.secrets = bot.NewSecrets(w.clock, time.Hour, 100) // the secret died with the process
	w.mu.Unlock()
	w.restart()
	w.clock.Advance(time.Hour)
	w.deliver()
	var creds int
	for _, m := range w.slack.To(alice) {
		if m.Card.HasSecret() {
			creds++
		}
	}
	if creds != 1 || len(w.reissued) != 0 {
		t.Fatalf("alice got %d credentials messages, %d reissues; want 1 and none", creds, len(w.reissued))
	}
	refs, err := w.store.MessageRefs(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ref := range refs {
		found = found || ref.Kind == bot.KindCredentials && ref.Recipient == alice
	}
	if !found || len(w.pending()) != 0 {
		t.Fatalf("refs %+v, left %v: want the credentials message remembered and nothing left", refs, conversations(w.pending()))
	}
}

// TestDispatchClosesACardFoundAfterTheDecision: the approval card a dead
// process sent, whose request was decided before the next process would
// have sent it again, is found and brought up to date: it offers no
// decision any more.
func TestDispatchClosesACardFoundAfterTheDecision(t *testing.T) {
	w, rp := recallWorld(t)
	rp.lose[bob] = 1
	r := w.ask("slack")
	w.expand()
	w.deliver()
	w.restart()
	w.approve(r.ID, carol)
	w.clock.Advance(10 * time.Second) // past the backoff, within the secret's hour
	w.expand()
	w.deliver()
	if got := slackCards(w, bob); len(got) != 1 {
		t.Fatalf("bob has %d approval cards on slack, want 1", len(got))
	}
	var last *bottest.Op
	for _, op := range w.slack.Ops() {
		if op.Kind == bottest.OpUpdate && op.To == bob {
			last = &op
		}
	}
	if last == nil || len(last.Card.Actions) != 0 {
		t.Fatalf("bob's card was not brought up to date: %+v", last)
	}
	if left := w.pending(); len(left) != 0 {
		t.Fatalf("left %v", conversations(left))
	}
}

// TestDispatchSendsNothingItCannotMark: a post whose mark the store
// refuses (a deposed leader's fenced write, a store down) does not go
// now; it goes once the mark is written, and only then.
func TestDispatchSendsNothingItCannotMark(t *testing.T) {
	w, _ := recallWorld(t)
	w.store.mu.Lock()
	w.store.failSending = 1
	w.store.mu.Unlock()
	w.ask("slack")
	w.expand()
	w.deliver()
	if got := slackCards(w, bob); len(got) != 0 {
		t.Fatalf("bob got %d cards though the mark failed", len(got))
	}
	var unmarked int64
	for _, c := range w.d.Stats() {
		if c.Outcome == bot.OutcomeUnmarked {
			unmarked += c.N
		}
	}
	if unmarked != 1 {
		t.Errorf("%d sends counted unmarked, want 1", unmarked)
	}
	w.clock.Advance(10 * time.Second) // past the hold
	w.deliver()
	if got := slackCards(w, bob); len(got) != 1 {
		t.Fatalf("bob has %d cards once the mark was written, want 1", len(got))
	}
}
