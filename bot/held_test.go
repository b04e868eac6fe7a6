package bot_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// heldWorld is two replicas on one store: "replica-h" approves alice's
// request, so its memory (kept) keeps her password, while "replica-l"
// leads, with a memory of its own that never saw it (the world's keeper
// from then on, where a reissue keeps the new one). The world's dispatcher
// (w.d) is the leader's; holder is replica-h's.
func heldWorld(t *testing.T, holderAlive *atomic.Bool) (w *dworld, holder *bot.Dispatcher, kept *bot.Secrets, r *flows.Request) {
	t.Helper()
	w = newDWorldOn(t, bot.DispatcherConfig{}, "replica-h")
	w.everyone()
	w.d = w.replicaDispatcher(keeperOf(w), "replica-l", func(id string) bool {
		return id == "replica-h" && holderAlive.Load()
	})
	kept = w.secrets
	holder = w.replicaDispatcher(kept, "replica-h", func(id string) bool { return id == "replica-l" })
	r = w.ask("slack")
	w.expand()
	w.deliver()
	w.approve(r.ID, bob)
	w.mu.Lock()
	w.secrets = bot.NewSecrets(w.clock, time.Hour, 100)
	w.mu.Unlock()
	w.expand()
	if got := w.events(flows.EventActivated); len(got) != 1 || got[0].Keeper != "replica-h" {
		t.Fatalf("the activation names its keeper %+v, want replica-h", got)
	}
	held, err := w.store.Held(w.ctx, "replica-h", 10)
	if err != nil || len(held) != 1 || held[0].What != "credentials" || held[0].RequestID != r.ID {
		t.Fatalf("held by replica-h: %+v, %v; want alice's credentials", held, err)
	}
	return w, holder, kept, r
}

// The credentials made on a replica that does not lead are sent by that
// replica, with the password it keeps: the leader leaves them to it, past
// the grace after which it would have reissued a secret it does not hold,
// and finds them gone once sent. Before, the leader reissued every such
// secret (one more rotation in Atlas, 10 s later at best).
func TestHeldCredentialsGoFromTheirKeeper(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	w, holder, kept, r := heldWorld(t, &alive)
	w.clock.Advance(15 * time.Second) // past the grace
	w.deliver()
	if got := w.slack.To(alice); len(got) != 0 || len(w.reissued) != 0 {
		t.Fatalf("the leader sent alice %v and reissued %v; want both left to the keeper", titles(got), w.reissued)
	}
	if ds := w.pending(); len(ds) != 1 || ds[0].Attempts != 0 {
		t.Fatalf("pending %+v: want alice's credentials, never attempted (the leader writes nothing)", ds)
	}
	holder.SendHeld(w.ctx)
	got := w.slack.To(alice)
	if len(got) != 1 || !got[0].Card.HasSecret() || !strings.Contains(got[0].Card.Title, "granted") {
		t.Fatalf("alice got %v, want her credentials from the keeper", titles(got))
	}
	w.clock.Advance(3 * time.Second) // the leader looks again
	w.deliver()
	w.expand()
	w.deliver()
	if got := w.slack.To(alice); len(got) != 1 || len(w.reissued) != 0 || len(w.pending()) != 0 {
		t.Fatalf("alice got %v, reissued %v, left %v; want one message, no reissue, nothing left", titles(got), w.reissued, conversations(w.pending()))
	}
	if _, ok := kept.Lookup(r.ID, r.CredentialsIssuedAt); ok {
		t.Error("the keeper still holds the password it sent")
	}
	holder.SendHeld(w.ctx)
	if got := w.slack.To(alice); len(got) != 1 {
		t.Fatalf("alice got %v after another round of the keeper", titles(got))
	}
}

// A keeper that died took the password with it: the leader reissues it,
// as after a restart, once the keeper's heartbeat is gone.
func TestCredentialsOfADeadKeeperAreReissued(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	w, _, _, r := heldWorld(t, &alive)
	w.clock.Advance(15 * time.Second)
	w.deliver()
	if len(w.reissued) != 0 {
		t.Fatalf("reissued %v while the keeper lived", w.reissued)
	}
	alive.Store(false)
	w.clock.Advance(3 * time.Second)
	w.deliver()
	w.d.WaitReissues()
	if len(w.reissued) != 1 || w.reissued[0] != r.ID {
		t.Fatalf("reissued %v, want alice's request", w.reissued)
	}
	w.reissuedCredentialsGo()
}

// What another replica holds is not this replica's to send: its round of
// held deliveries sends nothing of the other's.
func TestHeldDeliveriesAreTheirHoldersOnly(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	w, _, kept, _ := heldWorld(t, &alive)
	other := w.replicaDispatcher(kept, "replica-x", func(string) bool { return true })
	other.SendHeld(w.ctx)
	if got := w.slack.To(alice); len(got) != 0 {
		t.Fatalf("replica-x sent alice %v, held by replica-h", titles(got))
	}
}
