package bot

import (
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Kinds of the messages the adapters remember about a request
// (flows.MessageRef.Kind) to update them later. They are stored: renaming
// one orphans the references already kept.
const (
	KindApproval    = "approval"
	KindCredentials = "credentials"
	KindReminder    = "reminder"
	// KindClosed marks the message at the same Conversation and ID as final:
	// its card no longer changes, so later notices leave it alone.
	KindClosed    = "closed"
	kindExtension = "extension:" // followed by the extension's number
)

// ExtensionKind is the kind of the approval messages of extension n.
func ExtensionKind(n int) string { return kindExtension + strconv.Itoa(n) }

func extensionNumber(kind string) (int, bool) {
	s, ok := strings.CutPrefix(kind, kindExtension)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Tell reports whether the adapter of platform sends email the direct
// message about n (NoticeCard); each adapter keeps its own delivery. A
// requester hears about their request only on the platform they asked
// from, so they are not told twice; credentials go to their owner and
// nobody else; a new request or extension is announced by the approval
// cards, not by a message.
func Tell(n flows.Notice, email, platform string) bool {
	r, ev := n.Request, n.Event
	if r != nil && (ev.Type == flows.EventSubmitted || ev.Type == flows.EventExtensionRequested) {
		return false
	}
	if r != nil && (ev.Type == flows.EventApproversReminded || ev.Type == flows.EventEscalated) && email != r.Requester {
		return false // the approvers get a coalesced reminder, or their approval cards
	}
	requester := r != nil && email == r.Requester
	if requester && r.Origin != platform {
		return false
	}
	return n.Credentials == nil || requester
}

// ApproverCard is the card an approval message of kind (KindApproval or an
// ExtensionKind) shows when n announces the request or the extension.
func ApproverCard(kind string, n flows.Notice, v Viewer) Card {
	if num, ok := extensionNumber(kind); ok {
		return ExtensionCard(n.Request, num, n.Event, v)
	}
	return ApprovalCard(n.Request, v)
}

// CardsMayChange reports whether ev can change a message Refresh updates;
// most events (provisioning, retries, backstop moves) change none, and the
// adapters then skip reading their message references.
func CardsMayChange(ev flows.Event) bool {
	return ApprovalCardChanges(ev) || ExtensionCardChanges(ev, ev.Extension) ||
		CredentialsCardChanges(ev) || reminderChanges(ev)
}

// Refresh is what a message of kind, sent about n.Request, shows for v after
// n.Event. ok is false when the event leaves the message as it is; final
// when the message will not change again, and should be marked KindClosed.
func Refresh(kind string, n flows.Notice, v Viewer) (c Card, final, ok bool) {
	r, ev := n.Request, n.Event
	switch num, isExt := extensionNumber(kind); {
	case kind == KindApproval && ApprovalCardChanges(ev):
		return ApprovalCard(r, v), r.State.Terminal(), true
	case isExt && ExtensionCardChanges(ev, num):
		return ExtensionCard(r, num, ev, v), ExtensionDecided(ev, num) || ev.Type == flows.EventRevoking, true
	case kind == KindCredentials && CredentialsCardChanges(ev):
		return CredentialsGoneCard(r, ev, v), true, true
	case kind == KindReminder && reminderChanges(ev):
		return reminderDone(r, v), r.State.Terminal() || ev.Type == flows.EventExtended, true
	}
	return Card{}, false, false
}

// Open returns the references of platform's messages that are not closed.
func Open(refs []flows.MessageRef, platform string) []flows.MessageRef {
	closed := map[flows.MessageRef]bool{}
	for _, ref := range refs {
		if ref.Platform == platform && ref.Kind == KindClosed {
			closed[flows.MessageRef{Conversation: ref.Conversation, ID: ref.ID}] = true
		}
	}
	var out []flows.MessageRef
	for _, ref := range refs {
		if ref.Platform == platform && ref.Kind != KindClosed && !closed[flows.MessageRef{Conversation: ref.Conversation, ID: ref.ID}] {
			out = append(out, ref)
		}
	}
	return out
}

// reminderChanges reports whether an event makes a reminder's Extend
// buttons obsolete: the grant was extended (a new reminder follows) or is
// ending.
func reminderChanges(ev flows.Event) bool {
	switch ev.Type {
	case flows.EventExtended, flows.EventRevoking, flows.EventExpired, flows.EventRevoked:
		return true
	}
	return false
}

// reminderDone replaces a reminder whose buttons no longer apply with
// where the grant stands.
func reminderDone(r *flows.Request, v Viewer) Card {
	return Card{
		Title:    "Reminder about request " + string(r.ID),
		Subtitle: flows.FormatRoles(r.Roles) + " on " + r.Resource.String(),
		Status:   SummaryCard(r, v).Status,
		Tone:     ToneMuted,
	}
}
