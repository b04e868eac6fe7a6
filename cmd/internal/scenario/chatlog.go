package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// What jitbot wrote into chat, as the fakes recorded it, and the repeats
// in it. A repeat is the same message (the same content, as posted) posted
// twice into one conversation: a Slack channel or direct message, a Teams
// conversation. The outbox sends a message again only when the process died
// between the platform accepting it and the commit that records it
// (flows.Outbox.Delivered), and the inbox answers again only when it died
// between the answer and the item's finish; so a repeat is explained when
//
//   - a kill came after the first copy reached the fake and before the
//     second (the second copy is the next process's),
//   - no other call of jitbot's into that conversation (a post, an update)
//     reached the fake between the first copy and that kill: the outbox
//     sends one message at a time per conversation, in order, so a later
//     call there means the first copy's delivery had been committed, and
//   - the store remembers no reference to the first copy: had its delivery
//     been committed, its reference would be there (for messages the store
//     remembers at all: cards, credentials, reminders).
//
// Anything else is an unexplained repeat: a bug. The test is conservative:
// a call into the conversation that is not the outbox's (an answer to a
// command) also rules the explanation out.

// chatPost is one message jitbot posted into a conversation.
type chatPost struct {
	Platform, Conv, ID string
	At                 time.Time
	// Content is the message as posted (for a Teams reply, with the
	// activity it answers): two posts of the same content are the same
	// message.
	Content string
	// Text is its readable text as posted; Now its text now, after updates.
	Text, Now string
	// ReplyTo is the Teams activity a reply answers (empty for messages
	// jitbot starts).
	ReplyTo string
}

// key names the message as a message reference does.
func (p chatPost) key() string { return refID(p.Platform, p.Conv, p.ID) }

func refID(platform, conv, id string) string { return platform + "\x00" + conv + "\x00" + id }

// chatLog is everything jitbot posted and updated, by conversation.
type chatLog struct {
	posts map[string][]chatPost  // by conversation ("slack:"+channel, "teams:"+conversation), in arrival order
	calls map[string][]time.Time // when each post and update reached the fake, by conversation, in order
}

// readChat reads the fakes (either may be nil). Ephemeral messages and
// response_url posts are not in conversations.
func readChat(slack *slacktest.Server, bf *teamstest.BotFramework) chatLog {
	l := chatLog{posts: map[string][]chatPost{}, calls: map[string][]time.Time{}}
	if slack != nil {
		for _, m := range slack.Messages() {
			if m.Ephemeral {
				continue
			}
			conv := "slack:" + m.Channel
			l.posts[conv] = append(l.posts[conv], chatPost{Platform: "slack", Conv: m.Channel, ID: m.TS, At: m.PostedAt,
				Content: m.Original.Text + "\x00" + string(m.Original.BlocksJSON), Text: m.Original.AllText(), Now: m.AllText()})
			l.calls[conv] = append(l.calls[conv], m.PostedAt)
			for _, u := range m.Updates {
				if u.Via == "chat.update" {
					l.calls[conv] = append(l.calls[conv], u.At)
				}
			}
		}
	}
	if bf != nil {
		for _, a := range bf.Activities() {
			conv := "teams:" + a.ConversationID
			l.calls[conv] = append(l.calls[conv], a.At)
			if a.Op != teamstest.OpSend && a.Op != teamstest.OpReply {
				continue
			}
			attachments, _ := json.Marshal(a.Activity.Attachments)
			now := ""
			if cur, ok := bf.Current(a.ConversationID, a.ActivityID); ok {
				now = teamsText(cur)
			}
			l.posts[conv] = append(l.posts[conv], chatPost{Platform: "teams", Conv: a.ConversationID, ID: a.ActivityID, At: a.At,
				Content: a.Activity.ReplyToID + "\x00" + a.Activity.Text + "\x00" + string(attachments), Text: teamsText(a.Activity), Now: now, ReplyTo: a.Activity.ReplyToID})
		}
	}
	for conv := range l.calls {
		slices.SortFunc(l.calls[conv], func(a, b time.Time) int { return a.Compare(b) })
	}
	return l
}

// teamsText is an activity's text and the text of its cards.
func teamsText(a schema.Activity) string {
	parts := []string{a.Text}
	for _, c := range teamstest.AdaptiveCards(a) {
		parts = append(parts, teamstest.CardText(c))
	}
	return strings.Join(parts, "\n")
}

// count is the number of messages posted.
func (l chatLog) count() int {
	n := 0
	for _, ps := range l.posts {
		n += len(ps)
	}
	return n
}

// in is the posts of one conversation ("slack:D..." or "teams:...").
func (l chatLog) in(conv string) []chatPost { return l.posts[conv] }

// credentialed returns the requests whose credentials message was posted
// (as first sent, or sent again with new ones), by id.
func (l chatLog) credentialed() map[string]bool {
	out := map[string]bool{}
	for _, posts := range l.posts {
		for _, p := range posts {
			for _, title := range []string{"Access granted: request ", "New credentials: request "} {
				if _, rest, ok := strings.Cut(p.Text, title); ok {
					if f := strings.Fields(rest); len(f) > 0 {
						out[strings.TrimRightFunc(f[0], func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') })] = true
					}
				}
			}
		}
	}
	return out
}

// find is the first post in conv whose text as posted contains every needle.
func (l chatLog) find(conv string, needles ...string) (chatPost, bool) {
	for _, p := range l.posts[conv] {
		if containsAll(p.Text, needles) {
			return p, true
		}
	}
	return chatPost{}, false
}

func containsAll(s string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(s, n) {
			return false
		}
	}
	return true
}

// repeat is a message posted again into a conversation.
type repeat struct {
	First, Again chatPost
	Explained    bool
	Why          string // what explains it, or why nothing does
}

func (r repeat) String() string {
	text := ""
	for line := range strings.Lines(r.Again.Text) {
		if text = strings.TrimSpace(line); text != "" {
			break
		}
	}
	return fmt.Sprintf("%s %s: %q at %s and again at %s: %s", r.Again.Platform, r.Again.Conv, text,
		r.First.At.Format("15:04:05.000000"), r.Again.At.Format("15:04:05.000000"), r.Why)
}

// death is a process killed: when it was gone, and when the next process
// started (zero: none did, or others kept running, as replicas do). A
// post stamped between the two was written by the dead process before it
// died: the fake read it from the socket only after.
type death struct{ Gone, Next time.Time }

// deaths are kills of processes that others kept running beside.
func deaths(gone []time.Time) []death {
	out := make([]death, len(gone))
	for i, g := range gone {
		out[i] = death{Gone: g}
	}
	return out
}

// repeats finds every message posted again into a conversation and
// explains it by kills (in order) and refs (the message references the
// store remembers, refID).
func (l chatLog) repeats(kills []death, refs map[string]bool) []repeat {
	var out []repeat
	convs := make([]string, 0, len(l.posts))
	for conv := range l.posts {
		convs = append(convs, conv)
	}
	slices.Sort(convs)
	for _, conv := range convs {
		last := map[string]chatPost{} // content -> latest post of it
		for _, p := range l.posts[conv] {
			first, seen := last[p.Content]
			last[p.Content] = p
			if !seen {
				continue
			}
			r := repeat{First: first, Again: p}
			r.Explained, r.Why = l.explain(conv, first, p, kills, refs)
			out = append(out, r)
		}
	}
	return out
}

func (l chatLog) explain(conv string, first, again chatPost, kills []death, refs map[string]bool) (bool, string) {
	return l.diedUnrecorded(conv, first, again.At, kills, refs)
}

// diedUnrecorded says whether the process that posted p was killed before
// it could record p (so nothing can update it): a kill came after p, and
// before until (zero: any time), with nothing else of jitbot's in p's
// conversation between p and the kill, or p was stamped after its process
// was gone and before the next one started; and the store does not
// remember p's reference. The same card sent again after the kill is a
// repeat (explain); one its request no longer needed (decided meanwhile)
// is never sent again, and p is then the only copy.
func (l chatLog) diedUnrecorded(conv string, p chatPost, until time.Time, kills []death, refs map[string]bool) (bool, string) {
	i, _ := slices.BinarySearchFunc(kills, p.At, func(k death, t time.Time) int { return k.Gone.Compare(t) })
	if refs[p.key()] {
		return false, "the store remembers the first copy: its delivery was committed"
	}
	if i > 0 && p.At.Before(kills[i-1].Next) {
		return true, fmt.Sprintf("stamped %s after its process was gone, before the next start: written as it was killed; not recorded",
			p.At.Sub(kills[i-1].Gone).Round(time.Microsecond))
	}
	if i == len(kills) || !until.IsZero() && !kills[i].Gone.Before(until) {
		return false, "no kill between the two copies"
	}
	kill := kills[i].Gone
	for _, at := range l.calls[conv] {
		if at.After(p.At) && !at.After(kill) {
			return false, fmt.Sprintf("jitbot wrote into the conversation at %s, after the first copy and before the kill at %s",
				at.Format("15:04:05.000000"), kill.Format("15:04:05.000000"))
		}
	}
	return true, fmt.Sprintf("killed %s after the first copy, before anything else went there; not recorded", kill.Sub(p.At).Round(time.Microsecond))
}

// post is the post of conv whose reference is key.
func (l chatLog) post(conv, key string) (chatPost, bool) {
	for _, p := range l.posts[conv] {
		if p.key() == key {
			return p, true
		}
	}
	return chatPost{}, false
}

// storedRefs are the message references the store remembers, as refIDs.
func storedRefs(ctx context.Context, refs interface {
	MessageRefs(ctx context.Context, id flows.RequestID) ([]flows.MessageRef, error)
}, ids []flows.RequestID) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		rs, err := refs.MessageRefs(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[refID(r.Platform, r.Conversation, r.ID)] = true
		}
	}
	return out, nil
}
