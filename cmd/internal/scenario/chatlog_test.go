package scenario

import (
	"testing"
	"time"
)

// TestRepeatsAreExplainedOnlyByAKillInTheirWindow: a message posted twice
// into a conversation is explained only by a kill after the first copy,
// before the second, with nothing else written there in between and no
// reference to the first copy stored, or by a first copy stamped after its
// process was gone and before the next one started (written as it died);
// the same content in another conversation is no repeat.
func TestRepeatsAreExplainedOnlyByAKillInTheirWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	post := func(conv, id string, ms int, content string) chatPost {
		return chatPost{Platform: "slack", Conv: conv, ID: id, At: at(ms), Content: content, Text: content}
	}
	log := func(posts ...chatPost) chatLog {
		l := chatLog{posts: map[string][]chatPost{}, calls: map[string][]time.Time{}}
		for _, p := range posts {
			l.posts["slack:"+p.Conv] = append(l.posts["slack:"+p.Conv], p)
			l.calls["slack:"+p.Conv] = append(l.calls["slack:"+p.Conv], p.At)
		}
		return l
	}
	kills := deaths([]time.Time{at(150), at(400)})
	kills[0].Next = at(180) // the next process started
	tests := []struct {
		name      string
		log       chatLog
		refs      map[string]bool
		repeats   int
		explained bool
	}{
		{"no repeat", log(post("D1", "1", 100, "a"), post("D1", "2", 200, "b"), post("D2", "3", 300, "a")), nil, 0, false},
		{"killed after the first copy", log(post("D1", "1", 100, "a"), post("D1", "2", 200, "a")), nil, 1, true},
		{"no kill in between", log(post("D1", "1", 200, "a"), post("D1", "2", 300, "a")), nil, 1, false},
		{"another call before the kill", log(post("D1", "1", 100, "a"), post("D1", "2", 120, "b"), post("D1", "3", 200, "a")), nil, 1, false},
		{"another call after the kill", log(post("D1", "1", 100, "a"), post("D1", "2", 170, "b"), post("D1", "3", 200, "a")), nil, 1, true},
		{"the first copy was recorded", log(post("D1", "1", 100, "a"), post("D1", "2", 200, "a")), map[string]bool{refID("slack", "D1", "1"): true}, 1, false},
		{"the kill before the first copy", log(post("D1", "1", 420, "a"), post("D1", "2", 500, "a")), nil, 1, false},
		{"stamped after its process was gone", log(post("D1", "1", 160, "a"), post("D1", "2", 300, "a")), nil, 1, true},
		{"stamped after its process was gone, recorded", log(post("D1", "1", 160, "a"), post("D1", "2", 300, "a")), map[string]bool{refID("slack", "D1", "1"): true}, 1, false},
		{"stamped after the next start", log(post("D1", "1", 180, "a"), post("D1", "2", 300, "a")), nil, 1, false},
	}
	for _, tt := range tests {
		rs := tt.log.repeats(kills, tt.refs)
		if len(rs) != tt.repeats {
			t.Errorf("%s: %d repeats, want %d: %v", tt.name, len(rs), tt.repeats, rs)
			continue
		}
		for _, r := range rs {
			if r.Explained != tt.explained {
				t.Errorf("%s: explained %v, want %v: %s", tt.name, r.Explained, tt.explained, r)
			}
		}
	}
	// An update in the conversation counts as jitbot's next call there.
	l := log(post("D1", "1", 100, "a"), post("D1", "2", 200, "a"))
	l.calls["slack:D1"] = []time.Time{at(100), at(130), at(200)}
	if rs := l.repeats(kills, nil); len(rs) != 1 || rs[0].Explained {
		t.Errorf("an update between the first copy and the kill: %v", rs)
	}
}

// The requests whose credentials were posted are read from the posts'
// titles, as first sent or sent again; other messages naming a request do
// not count.
func TestCredentialedRequests(t *testing.T) {
	l := chatLog{posts: map[string][]chatPost{
		"slack:D1": {{Text: "*Access granted: request abc123*\nUsername jit-x"}, {Text: "Request zzz999 timed out"}},
		"slack:D2": {{Text: "New credentials: request def456\nYour password was changed"}},
		"slack:D3": {{Text: "Access granted: request "}},
	}}
	got := l.credentialed()
	if len(got) != 2 || !got["abc123"] || !got["def456"] {
		t.Fatalf("credentialed: %v, want abc123 and def456", got)
	}
}

// TestTheOnlyCopyDiedUnrecorded: a post with no second copy died with its
// process only if a kill followed it before anything else of jitbot's in
// its conversation, and the store does not remember it.
func TestTheOnlyCopyDiedUnrecorded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	card := chatPost{Platform: "slack", Conv: "D1", ID: "1", At: at(100), Content: "card"}
	kills := deaths([]time.Time{at(150)})
	for _, tt := range []struct {
		name  string
		calls []time.Time
		kills []death
		refs  map[string]bool
		want  bool
	}{
		{"killed right after it", []time.Time{at(100)}, kills, nil, true},
		{"jitbot wrote there before the kill", []time.Time{at(100), at(120)}, kills, nil, false},
		{"the store remembers it", []time.Time{at(100)}, kills, map[string]bool{card.key(): true}, false},
		{"no kill after it", []time.Time{at(100)}, deaths([]time.Time{at(50)}), nil, false},
		{"stamped after its process was gone", []time.Time{at(100)}, []death{{Gone: at(90), Next: at(120)}}, nil, true},
		{"stamped after the next start", []time.Time{at(100)}, []death{{Gone: at(80), Next: at(95)}}, nil, false},
	} {
		l := chatLog{posts: map[string][]chatPost{"slack:D1": {card}}, calls: map[string][]time.Time{"slack:D1": tt.calls}}
		p, ok := l.post("slack:D1", card.key())
		if !ok {
			t.Fatal("post not found by its key")
		}
		if got, why := l.diedUnrecorded("slack:D1", p, time.Time{}, tt.kills, tt.refs); got != tt.want {
			t.Errorf("%s: %v (%s), want %v", tt.name, got, why, tt.want)
		}
	}
}
