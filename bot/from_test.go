package bot_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// TestFromIsJudgedByTheFlow: an address typed with from reaches flows,
// which judges it by the flow's network rules: a flow without them refuses
// any address, one with them refuses an address outside its ranges and
// takes one inside, shown with the request.
func TestFromIsJudgedByTheFlow(t *testing.T) {
	run := func(w *world, text string) bot.Reply {
		t.Helper()
		cmd, err := bot.Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		return w.engine.Run(w.ctx, w.actor("slack", alice), cmd, "")
	}
	refused := func(reply bot.Reply, want string) {
		t.Helper()
		if reply.Err == nil || reply.Card == nil || !strings.Contains(reply.Card.Text, want) {
			t.Errorf("want the refusal %q, got %+v", want, reply.Card)
		}
	}

	w := newWorld(t)
	refused(run(w, "request prod/Cluster0/sales read 1h from 203.0.113.7 INC-1"),
		"access flow prod-read binds no grant to an address: ask without from 203.0.113.7/32")

	w = newWorld(t, func(s *flows.PolicySpec) { s.Flows[0].AllowedCIDRs = []string{"203.0.113.0/24"} })
	refused(run(w, "request prod/Cluster0/sales read 1h from 198.51.100.7 INC-1"),
		"198.51.100.7/32 is not an address access flow prod-read allows: it allows addresses inside 203.0.113.0/24")
	refused(run(w, "request prod/Cluster0/sales read 1h from 203.0.113.0/28 INC-1"),
		"203.0.113.0/28 is a range, and access flow prod-read opens single IPv4 addresses only")
	reply := run(w, "request prod/Cluster0/sales read 1h from 203.0.113.7 INC-1")
	if reply.Err != nil || reply.Card == nil || !strings.Contains(reply.Card.Subtitle+reply.Card.Text, "read on prod/Cluster0/sales, from 203.0.113.7/32") {
		t.Fatalf("an address inside the flow's range: %+v", reply.Card)
	}
	rs, err := w.svc.Mine(w.ctx, alice)
	if err != nil || len(rs) != 1 || rs[0].Resource.Address != "203.0.113.7/32" {
		t.Fatalf("the request: %+v, %v", rs, err)
	}
}
