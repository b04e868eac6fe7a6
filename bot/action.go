package bot

import (
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// ActionKind is what a button does.
type ActionKind string

// The button actions.
const (
	ActionApprove          ActionKind = "approve"
	ActionDeny             ActionKind = "deny"
	ActionApproveExtension ActionKind = "approve-ext"
	ActionDenyExtension    ActionKind = "deny-ext"
	ActionExtend           ActionKind = "extend"
	ActionRevoke           ActionKind = "revoke"
	ActionCancel           ActionKind = "cancel"
	ActionRotate           ActionKind = "rotate"
	ActionAgain            ActionKind = "again"     // open the request form filled in as the request was
	ActionReview           ActionKind = "review"    // acknowledge a break-glass use, with a note
	ActionGuestLink        ActionKind = "guestlink" // a sponsor has a one-time link made for their guest (guest.go)
)

// Action is what a button carries: an opaque id naming an operation on a
// request, never a command. The server authorizes every click again, so an
// action id only says what the person asked for, not that they may.
type Action struct {
	Kind      ActionKind
	RequestID flows.RequestID
	Extension int           // approve-ext, deny-ext: the extension's number
	Duration  time.Duration // extend: how much longer
}

// maxExtensionNumber bounds the extension numbers ParseAction accepts; no
// grant is extended that often within the week Atlas allows.
const maxExtensionNumber = 100000

// ID encodes the action as the opaque id a button carries:
// approve:<id>, deny:<id>, approve-ext:<id>:<n>, deny-ext:<id>:<n>,
// extend:<id>:<duration>, revoke:<id>, cancel:<id>, rotate:<id>, again:<id> or review:<id>.
func (a Action) ID() string {
	switch a.Kind {
	case ActionApproveExtension, ActionDenyExtension:
		return string(a.Kind) + ":" + string(a.RequestID) + ":" + strconv.Itoa(a.Extension)
	case ActionExtend:
		return string(a.Kind) + ":" + string(a.RequestID) + ":" + flows.FormatDuration(a.Duration)
	}
	return string(a.Kind) + ":" + string(a.RequestID)
}

// String is the action id.
func (a Action) String() string { return a.ID() }

// ParseAction reads an action id. It is strict: it accepts exactly what ID
// produces and refuses anything else, so ParseAction(s) succeeding means
// ParseAction(s).ID() == s.
func ParseAction(s string) (Action, error) {
	bad := func(why string) (Action, error) {
		return Action{}, flows.Errorf(flows.EINVALID, "action %s: %s", quote(s), why)
	}
	if len(s) > 128 {
		return bad("too long")
	}
	parts := strings.Split(s, ":")
	kind := ActionKind(parts[0])
	want := 2
	switch kind {
	case ActionApprove, ActionDeny, ActionRevoke, ActionCancel, ActionRotate, ActionAgain, ActionReview, ActionGuestLink:
	case ActionApproveExtension, ActionDenyExtension, ActionExtend:
		want = 3
	default:
		return bad("unknown action")
	}
	if len(parts) != want {
		return bad("want " + strconv.Itoa(want) + " parts separated by ':'")
	}
	if !ValidRequestID(parts[1]) {
		return bad("bad request id")
	}
	a := Action{Kind: kind, RequestID: flows.RequestID(parts[1])}
	switch kind {
	case ActionApproveExtension, ActionDenyExtension:
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > maxExtensionNumber || strconv.Itoa(n) != parts[2] {
			return bad("bad extension number")
		}
		a.Extension = n
	case ActionExtend:
		d, err := flows.ParseDuration(parts[2])
		if err != nil || d >= flows.Week || flows.FormatDuration(d) != parts[2] {
			return bad("bad duration")
		}
		a.Duration = d
	}
	return a, nil
}
