package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// numberingStore stands for a store several replicas share: answers that
// "another replica" finished wait unnumbered until NumberAnswers.
type numberingStore struct {
	*flowstest.Store
	unnumbered []flows.Delivery
	fail       error
}

func (s *numberingStore) NumberAnswers(ctx context.Context) ([]flows.Delivery, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	ds := s.unnumbered
	s.unnumbered = nil
	if len(ds) == 0 {
		return nil, nil
	}
	return s.Enqueue(ctx, 0, ds...)
}

// The leader's dispatcher hears of answers another replica's inbox left in
// the outbox, unnumbered, each time it looks for work: it numbers them and
// sends them, without reading the whole schedule again. Unnumbered answers
// handed to Schedule wake it rather than join the schedule without an id.
func TestDispatcherNumbersAnswersOfOtherReplicas(t *testing.T) {
	ctx := context.Background()
	st := &numberingStore{Store: flowstest.NewStore()}
	clock := flowstest.NewClock(flowstest.T0)
	d, err := NewDispatcher(DispatcherConfig{Workers: 4}, DispatcherDeps{
		Store: st, Platforms: func() []Platform { return nil },
		Audience: func(flows.Event, *flows.Request) []string { return nil },
		Secrets:  NewSecrets(clock, time.Hour, 10), Clock: clock, Wall: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.load(ctx); err != nil {
		t.Fatal(err)
	}
	answer := func(text string) flows.Delivery {
		return flows.Delivery{Conversation: "slack:reply:U1", Platform: "slack", Priority: flows.PriorityActor, What: "reply",
			Recipient: "U1", Payload: []byte(`{"text":"` + text + `"}`), CreatedAt: flowstest.T0}
	}

	// Handed over unnumbered (this replica's own finish): a kick, nothing
	// scheduled.
	d.Schedule([]flows.Delivery{answer("mine")})
	select {
	case <-d.kick:
	default:
		t.Fatal("an unnumbered answer did not wake the dispatcher")
	}
	if picks, _, _, err := d.take(ctx, 1); err != nil || len(picks) != 0 {
		t.Fatalf("an unnumbered answer was scheduled: %+v %v", picks, err)
	}

	st.unnumbered = []flows.Delivery{answer("mine"), answer("theirs")}
	if _, err := d.Expand(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for range 2 {
		picks, _, _, err := d.take(ctx, 1)
		if err != nil || len(picks) != 1 || picks[0].ID == 0 {
			t.Fatalf("take after numbering: %+v %v", picks, err)
		}
		sent = append(sent, string(picks[0].Payload))
		if err := st.Delivered(ctx, picks[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		d.settled(picks[0])
		d.release(picks[0].Conversation)
	}
	if sent[0] != `{"text":"mine"}` || sent[1] != `{"text":"theirs"}` {
		t.Fatalf("sent %q, want both answers in the order committed", sent)
	}

	// A failure to number leaves the schedule to be read again (what it
	// may have numbered is not lost), and the expansion goes on.
	st.fail = errors.New("etcd is away")
	if _, err := d.Expand(ctx); err != nil {
		t.Fatalf("expansion stopped on the answers' failure: %v", err)
	}
	d.mu.Lock()
	loaded := d.loaded
	d.mu.Unlock()
	if loaded {
		t.Fatal("the schedule is still trusted after numbering failed")
	}
}
