package bot

import (
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// Outcomes of a send, as the dispatcher counts them (DeliveryCount.Outcome).
const (
	OutcomeSent        = "sent"         // the platform took it, and it is recorded
	OutcomeRepeated    = "repeated"     // sent again after a send whose record failed (also counted as sent)
	OutcomeNotRecorded = "not_recorded" // sent, but the store failed to record it: it will repeat
	OutcomeSkipped     = "skipped"      // nothing left to send (the card is gone, the person not on the platform)
	OutcomeWait        = "waited"       // the platform asked to wait (Retry-After), or a secret was not kept yet
	OutcomeHeld        = "held"         // left to the replica that keeps its secret, which sends it
	OutcomeFailed      = "failed"       // a transient failure: retried with backoff
	OutcomePermanent   = "permanent"    // refused for good: dropped, with an audit event
	OutcomeFound       = "found"        // a send cut short had made the message: recorded, not sent again
	OutcomeUnmarked    = "unmarked"     // the store could not mark it as being sent: it waits
)

// DeliveryCount is how many sends of one kind of delivery on one platform
// ended one way.
type DeliveryCount struct {
	Platform, What, Outcome string
	N                       int64
}

// deliveryStats counts what became of the sends, for metrics.
type deliveryStats struct {
	mu     sync.Mutex
	counts map[[3]string]int64
	// unrecorded are the deliveries sent whose record failed: sending one
	// again is a repeat, the only kind this process can see (one across a
	// restart shows as the platform getting a message twice).
	unrecorded map[uint64]bool
}

func (s *deliveryStats) add(dl flows.Delivery, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts, s.unrecorded = map[[3]string]int64{}, map[uint64]bool{}
	}
	switch outcome {
	case OutcomeNotRecorded:
		s.unrecorded[dl.ID] = true
	case OutcomeFound:
		delete(s.unrecorded, dl.ID)
	case OutcomeSent:
		if s.unrecorded[dl.ID] {
			delete(s.unrecorded, dl.ID)
			s.counts[[3]string{dl.Platform, dl.What, OutcomeRepeated}]++
		}
	}
	s.counts[[3]string{dl.Platform, dl.What, outcome}]++
}

// Stats returns what became of the sends so far, by platform, kind of
// delivery and outcome.
func (d *Dispatcher) Stats() []DeliveryCount {
	d.stats.mu.Lock()
	defer d.stats.mu.Unlock()
	out := make([]DeliveryCount, 0, len(d.stats.counts))
	for k, n := range d.stats.counts {
		out = append(out, DeliveryCount{Platform: k[0], What: k[1], Outcome: k[2], N: n})
	}
	return out
}
