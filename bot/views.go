package bot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// ApprovalCard is what approvers see about a request: who asks for what, for
// how long and why, the approvals so far, where it stands, and Approve and
// Deny buttons while the request waits for the viewer's decision (for a
// shared audience, while it waits for anyone's). Once decided, expired or
// cancelled it has no buttons.
func ApprovalCard(r *flows.Request, v Viewer) Card {
	c := Card{
		Title:    "Access request " + string(r.ID),
		Subtitle: fmt.Sprintf("%s asks for %s for %s", r.Requester, flows.DescribeAccess(r), flows.FormatDuration(r.Duration)),
		Fields:   requestFields(r, v),
		Status:   approvalStatus(r, v),
		Tone:     requestTone(r),
	}
	if waitsFor(r, v, r.Approvals) {
		c.Actions = []Button{
			{Label: "Approve", ActionID: Action{Kind: ActionApprove, RequestID: r.ID}.ID(), Style: StylePrimary},
			{Label: "Deny", ActionID: Action{Kind: ActionDeny, RequestID: r.ID}.ID(), Style: StyleDanger, ReasonRequired: r.DenyReasonRequired},
		}
	}
	return c
}

// waitsFor reports whether the request (or its extension, whose decisions
// are given) still waits for the viewer's approval.
func waitsFor(r *flows.Request, v Viewer, decided []flows.Decision) bool {
	awaiting := r.AwaitingApprovalFrom()
	if v.Email == "" {
		return len(awaiting) > 0 && len(decided) < r.Quorum
	}
	return slices.Contains(awaiting, v.Email)
}

func requestFields(r *flows.Request, v Viewer) []Field {
	reason := r.Reason
	if reason == "" {
		reason = "(none given)"
	}
	fs := []Field{
		{Label: "Requester", Value: r.Requester},
		{Label: "Resource", Value: targetText(r)},
		{Label: "Role", Value: flows.FormatRoles(r.Roles)},
		{Label: "Duration", Value: flows.FormatDuration(r.Duration)},
		{Label: "Reason", Value: reason},
		{Label: "Flow", Value: r.Flow},
		{Label: "Approvals", Value: fmt.Sprintf("%d of %d", len(r.Approvals), max(r.Quorum, 1))},
		{Label: "Requested", Value: v.FormatTime(r.CreatedAt)},
	}
	fs = append(fs[:3], append(kindFields(r), fs[3:]...)...)
	fs = append(fs, guestFields(r)...)
	if f, ok := escalationField(r); ok {
		fs = append(fs, f)
	}
	if why := r.DescribeRequirements(); why != "" {
		fs = append(fs, Field{Label: "Needs", Value: why})
	}
	return append(fs, scheduleFields(r, v)...)
}

// scheduleFields say when a scheduled grant is open, the ticket it names,
// why the request was routed as it was (working hours, who is on call, or
// that PagerDuty or Jira could not be asked), and a break-glass use's
// review: what the approvers judge by.
func scheduleFields(r *flows.Request, v Viewer) []Field {
	var fs []Field
	if w := r.Window(v.Location); w != "" {
		fs = append(fs, Field{Label: "Window", Value: w})
	}
	if r.Ticket != "" {
		fs = append(fs, Field{Label: "Ticket", Value: r.Ticket})
	}
	if r.RoutingNote != "" {
		fs = append(fs, Field{Label: "Why", Value: r.RoutingNote})
	}
	if f, ok := breakGlassField(r, v); ok {
		fs = append(fs, f)
	}
	return fs
}

func requestTone(r *flows.Request) Tone {
	switch r.State {
	case flows.StatePending:
		return ToneInfo
	case flows.StateApproved, flows.StateProvisioning, flows.StateActive:
		return ToneGood
	case flows.StateDenied, flows.StateFailed, flows.StateRevokeFailed:
		return ToneAlert
	case flows.StateRevoking:
		return ToneWarning
	}
	return ToneMuted
}

// approvedBy says who approved, and when the last of them did.
func approvedBy(r *flows.Request, v Viewer) string {
	if r.BreakGlass != nil {
		return breakGlassMark
	}
	if len(r.Approvals) == 0 {
		return "Approved automatically"
	}
	names := make([]string, len(r.Approvals))
	mfa := 0
	for i, a := range r.Approvals {
		names[i] = a.By
		if a.MFA {
			mfa++
		}
	}
	how := "Approved by "
	switch {
	case mfa == len(names):
		how = "Approved with MFA by "
	case mfa > 0:
		for i, a := range r.Approvals {
			if a.MFA {
				names[i] += " (with MFA)"
			}
		}
	}
	return how + joinNames(names) + " at " + v.FormatTime(r.Approvals[len(r.Approvals)-1].At)
}

// approvalStatus is the status line of a request: who decided and when, or
// who it waits for.
func approvalStatus(r *flows.Request, v Viewer) string {
	switch r.State {
	case flows.StatePending:
		awaiting := r.AwaitingApprovalFrom()
		need := r.Quorum - len(r.Approvals)
		deadline := "decide by " + v.FormatTime(r.PendingUntil)
		if slices.ContainsFunc(r.Approvals, func(d flows.Decision) bool { return d.By == v.Email }) {
			return fmt.Sprintf("You approved; waiting for %s from %s · %s", approvals(need), joinNames(awaiting), deadline)
		}
		if len(r.Approvals) > 0 {
			return fmt.Sprintf("Approved by %s; waiting for %s from %s · %s", joinNames(deciders(r.Approvals)), approvals(need), joinNames(awaiting), deadline)
		}
		return fmt.Sprintf("Waiting for %s from %s · %s", approvals(need), joinNames(awaiting), deadline)
	case flows.StateApproved, flows.StateProvisioning:
		if r.Scheduled() && r.State == flows.StateApproved && r.Attempts == 0 {
			return approvedBy(r, v) + " · starts at " + v.FormatTime(r.StartsAt)
		}
		return approvedBy(r, v) + " · setting up access"
	case flows.StateActive:
		return approvedBy(r, v) + " · access active until " + v.FormatTime(r.ExpiresAt)
	case flows.StateRevoking, flows.StateRevokeFailed:
		s := "Access is being removed"
		if r.EndState == flows.StateRevoked && r.EndedBy != "" {
			s = "Revoked by " + r.EndedBy + "; access is being removed"
		}
		if r.State == flows.StateRevokeFailed {
			s += " · Atlas has not confirmed the removal yet; admins are alerted and jitbot keeps trying"
		}
		return s
	case flows.StateExpired:
		return approvedBy(r, v) + " · access expired at " + v.FormatTime(r.EndedAt)
	case flows.StateRevoked:
		return "Revoked by " + orSystem(r.EndedBy) + " at " + v.FormatTime(r.EndedAt) + endReason(r)
	case flows.StateDenied:
		if d := r.Denial; d != nil {
			return "Denied by " + d.By + " at " + v.FormatTime(d.At) + withReason(d.Reason)
		}
		return "Denied"
	case flows.StateCancelled:
		return "Cancelled by " + orSystem(r.EndedBy) + " at " + v.FormatTime(r.EndedAt)
	case flows.StateTimedOut:
		return "Timed out at " + v.FormatTime(r.EndedAt) + ": nobody decided in time"
	case flows.StateFailed:
		return approvedBy(r, v) + " · access could not be set up" + withReason(r.LastError)
	}
	return strings.ReplaceAll(string(r.State), "_", " ")
}

func deciders(ds []flows.Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.By
	}
	return out
}

func approvals(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return strconv.Itoa(n) + " approvals"
}

// endReason is the reason a grant was revoked, unless it only repeats who
// revoked it (flows' default reason).
func endReason(r *flows.Request) string {
	if r.EndReason == "" || r.EndReason == "revoked by "+r.EndedBy {
		return ""
	}
	return ": " + r.EndReason
}

func withReason(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func orSystem(actor string) string {
	if actor == "" || actor == flows.SystemActor {
		return "jitbot"
	}
	return actor
}

func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return "nobody"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// ExtensionCard is what approvers see about extension n of an active grant.
// ev is the event being shown (the request for the extension, or its
// outcome); once extension n no longer waits for a decision the card says
// how it ended and has no buttons.
func ExtensionCard(r *flows.Request, n int, ev flows.Event, v Viewer) Card {
	ext := r.Extension
	open := r.State == flows.StateActive && ext != nil && ext.Number == n
	d := ev.Duration
	if open {
		d = ext.Duration
	}
	c := Card{
		Title:    fmt.Sprintf("Extension %d of request %s", n, r.ID),
		Subtitle: fmt.Sprintf("%s asks for %s more of %s", r.Requester, flows.FormatDuration(d), flows.DescribeAccess(r)),
		Fields: []Field{
			{Label: "Requester", Value: r.Requester},
			{Label: "Resource", Value: targetText(r)},
			{Label: "Role", Value: flows.FormatRoles(r.Roles)},
			{Label: "Extension", Value: "+" + flows.FormatDuration(d)},
			{Label: "Original reason", Value: orNone(r.Reason)},
		},
		Tone: ToneInfo,
	}
	if d == 0 {
		c.Subtitle = fmt.Sprintf("%s asked to keep %s longer", r.Requester, flows.DescribeAccess(r))
		c.Fields = slices.DeleteFunc(c.Fields, func(f Field) bool { return f.Label == "Extension" })
	}
	if open {
		c.Fields = append(c.Fields,
			Field{Label: "Ends now", Value: v.FormatTime(r.ExpiresAt)},
			Field{Label: "Would end", Value: v.FormatTime(r.ExpiresAt.Add(ext.Duration))},
			Field{Label: "Approvals", Value: fmt.Sprintf("%d of %d", len(ext.Approvals), max(r.Quorum, 1))})
		awaiting := r.AwaitingApprovalFrom()
		need := r.Quorum - len(ext.Approvals)
		c.Status = fmt.Sprintf("Waiting for %s from %s", approvals(need), joinNames(awaiting))
		if slices.ContainsFunc(ext.Approvals, func(x flows.Decision) bool { return x.By == v.Email }) {
			c.Status = "You approved; " + strings.ToLower(c.Status[:1]) + c.Status[1:]
		}
		if waitsFor(r, v, ext.Approvals) {
			c.Actions = []Button{
				{Label: "Approve", ActionID: Action{Kind: ActionApproveExtension, RequestID: r.ID, Extension: n}.ID(), Style: StylePrimary},
				{Label: "Deny", ActionID: Action{Kind: ActionDenyExtension, RequestID: r.ID, Extension: n}.ID(), Style: StyleDanger, ReasonRequired: r.DenyReasonRequired},
			}
		}
		return c
	}
	switch {
	case ev.Extension == n && ev.Type == flows.EventExtended:
		c.Tone = ToneGood
		c.Status = "Approved by " + ev.Actor + " at " + v.FormatTime(ev.At) + " · access now ends at " + v.FormatTime(r.ExpiresAt)
	case ev.Extension == n && ev.Type == flows.EventExtensionDenied:
		c.Tone = ToneAlert
		c.Status = "Denied by " + ev.Actor + " at " + v.FormatTime(ev.At) + withReason(ev.Message)
	default:
		c.Tone = ToneMuted
		c.Status = "No longer waiting for a decision: the request is " + strings.ReplaceAll(string(r.State), "_", " ")
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}

// ExtendSteps are the extensions offered as buttons, before capping.
func ExtendSteps() []time.Duration {
	return []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}
}

// ExtendOptions lists the extensions to offer for an active grant: the
// steps of ExtendSteps that fit within r.MaxExtension(), or the most that is
// left when not even the smallest step fits. Empty when the grant cannot be
// extended.
func ExtendOptions(r *flows.Request) []time.Duration {
	left := r.MaxExtension().Truncate(time.Minute)
	var out []time.Duration
	for _, d := range ExtendSteps() {
		if d <= left {
			out = append(out, d)
		}
	}
	if len(out) == 0 && left >= time.Minute {
		out = append(out, left)
	}
	return out
}

// ExtendButtons offers the ExtendOptions of an active grant; labels say
// whether the extension needs approval.
func ExtendButtons(r *flows.Request) []Button {
	var out []Button
	for _, d := range ExtendOptions(r) {
		label := "Extend " + flows.FormatDuration(d)
		if r.ExtendNeedsApproval {
			label = "Ask for " + flows.FormatDuration(d) + " more"
		}
		out = append(out, Button{Label: label, ActionID: Action{Kind: ActionExtend, RequestID: r.ID, Duration: d}.ID()})
	}
	return out
}

func revokeButton(r *flows.Request, label string) Button {
	return Button{
		Label: label, ActionID: Action{Kind: ActionRevoke, RequestID: r.ID}.ID(), Style: StyleDanger,
		Confirm: revokeConfirm(r),
	}
}

func cancelButton(r *flows.Request) Button {
	return Button{Label: "Cancel request", ActionID: Action{Kind: ActionCancel, RequestID: r.ID}.ID()}
}

// SubmittedCard confirms a request to its requester: where it went, what it
// waits for, and a Cancel button while it is pending.
func SubmittedCard(r *flows.Request, v Viewer) Card {
	c := Card{
		Title:    "Request " + string(r.ID) + " sent for approval",
		Subtitle: fmt.Sprintf("%s for %s", flows.DescribeAccess(r), flows.FormatDuration(r.Duration)),
		Fields: []Field{
			{Label: "Resource", Value: targetText(r)},
			{Label: "Role", Value: flows.FormatRoles(r.Roles)},
			{Label: "Duration", Value: flows.FormatDuration(r.Duration)},
			{Label: "Reason", Value: orNone(r.Reason)},
			{Label: "Approvers", Value: joinNames(r.Approvers)},
		},
		Status: requesterStatus(r, v),
		Tone:   requestTone(r),
	}
	c.Fields = append(c.Fields, scheduleFields(r, v)...)
	switch r.State {
	case flows.StatePending:
		c.Actions = []Button{cancelButton(r)}
	case flows.StateApproved, flows.StateProvisioning, flows.StateActive:
		c.Title = "Request " + string(r.ID) + " approved"
		c.Fields = append(c.Fields[:4], scheduleFields(r, v)...)
		if r.Scheduled() && r.State == flows.StateApproved && r.Attempts == 0 {
			c.Actions = []Button{cancelButton(r)}
		}
	default:
		c.Title = "Request " + string(r.ID) + " is " + strings.ReplaceAll(string(r.State), "_", " ")
	}
	return c
}

// requesterStatus is the status line a requester sees.
func requesterStatus(r *flows.Request, v Viewer) string {
	switch r.State {
	case flows.StatePending:
		return fmt.Sprintf("Waiting for %s from %s · until %s", approvals(r.Quorum-len(r.Approvals)), joinNames(r.AwaitingApprovalFrom()), v.FormatTime(r.PendingUntil))
	case flows.StateApproved, flows.StateProvisioning:
		if r.Scheduled() && r.State == flows.StateApproved && r.Attempts == 0 {
			return approvedBy(r, v) + " · starts at " + v.FormatTime(r.StartsAt) + "; your credentials follow in a direct message then"
		}
		return approvedBy(r, v) + " · setting up access; your credentials follow in a direct message"
	case flows.StateActive:
		s := "Active until " + v.FormatTime(r.ExpiresAt)
		if r.Extension != nil {
			s += fmt.Sprintf(" · %s more waiting for approval", flows.FormatDuration(r.Extension.Duration))
		}
		return s
	}
	return approvalStatus(r, v)
}

// SummaryCard is a compact view of a request for lists (list, pending, the
// Slack App Home), with the buttons the viewer may use: Cancel on their
// pending request, Extend and Revoke on their active grant, Approve and Deny
// on a request (or extension) waiting for them.
func SummaryCard(r *flows.Request, v Viewer) Card {
	c := Card{
		Title:    fmt.Sprintf("%s · %s", r.ID, flows.DescribeAccess(r)),
		Subtitle: r.Requester + " · " + flows.FormatDuration(r.Duration) + " · " + orNone(r.Reason),
		Status:   requesterStatus(r, v),
		Tone:     requestTone(r),
	}
	if r.BreakGlass != nil {
		c.Status = "BREAK-GLASS · " + c.Status
	}
	mine := v.Email != "" && v.Email == r.Requester
	switch {
	case r.State == flows.StatePending && mine:
		c.Actions = []Button{cancelButton(r)}
	case r.State == flows.StatePending && waitsFor(r, v, r.Approvals):
		c.Status = approvalStatus(r, v)
		c.Actions = ApprovalCard(r, v).Actions
	case r.State == flows.StateActive && mine:
		c.Actions = append(ExtendButtons(r), revokeButton(r, "Revoke"))
		if r.Extension != nil {
			c.Actions = []Button{revokeButton(r, "Revoke")}
		}
	case offersAgain(r, v):
		c.Actions = []Button{againButton(r)}
	case reviewsFor(r, v):
		c.Actions = []Button{reviewButton(r)}
	case r.State == flows.StateActive && r.Extension != nil && waitsFor(r, v, r.Extension.Approvals):
		ext := ExtensionCard(r, r.Extension.Number, flows.Event{}, v)
		c.Subtitle = ext.Subtitle
		c.Status = ext.Status
		c.Actions = ext.Actions
	}
	return c
}

// Outcome is a request's state after a person acted on it, led by what was
// done.
func Outcome(r *flows.Request, v Viewer, lead string) Card {
	c := SummaryCard(r, v)
	c.Text = lead
	return c
}

// RevokeOutcome answers a revoke: a pending request revoked by its
// requester is cancelled.
func RevokeOutcome(r *flows.Request, v Viewer) Card {
	if r.State == flows.StateCancelled {
		return Outcome(r, v, "Cancelled: it was still pending.")
	}
	return Outcome(r, v, "Revoked.")
}

// ExtendOutcome answers an extension by d: done, or asked of the approvers.
func ExtendOutcome(r *flows.Request, v Viewer, d time.Duration) Card {
	if r.Extension != nil {
		return Outcome(r, v, "Asked "+strings.Join(r.AwaitingApprovalFrom(), ", ")+" to approve "+flows.FormatDuration(d)+" more.")
	}
	return Outcome(r, v, "Extended: access now ends at "+v.FormatTime(r.ExpiresAt)+".")
}

// RotateOutcome answers a rotation on platform. New credentials go where the
// request was made; when that is platform itself, here says where it sends
// them ("here", "in your direct messages").
func RotateOutcome(r *flows.Request, v Viewer, platform, here string) Card {
	if r.Origin != platform {
		here = "where you asked for access (" + r.Origin + ")"
	}
	return Outcome(r, v, "New credentials were sent "+here+"; the old "+flows.SecretName(r.Kind)+" no longer works.")
}

// CredentialsCard hands a grant's credentials to its requester: the fields
// its kind hands out, in order (a database user's username, password and
// connection string), the roles on the resource, the expiry in the viewer's
// time zone and the instructions. It is the only view that carries a
// secret, revealed here, as late as possible; a card with one says it is
// shown only here and how to get a new one.
func CredentialsCard(r *flows.Request, creds flows.Credentials, rotated bool, v Viewer) Card {
	fields := make([]Field, 0, len(creds.Fields)+2)
	secret := "" // what the first secret is called: "password"
	for _, f := range creds.Fields {
		field := Field{Label: f.Label, Value: f.Value, Mono: f.Mono}
		if f.IsSecret() {
			field.Value, field.Sensitive = f.Secret.Reveal(), true
			if secret == "" {
				secret = strings.ToLower(f.Label)
			}
		}
		fields = append(fields, field)
	}
	fields = append(fields,
		Field{Label: "Access", Value: accessNamed(r)},
		Field{Label: "Expires", Value: v.FormatTime(r.ExpiresAt)})
	if f, ok := breakGlassField(r, v); ok {
		fields = append(fields, f)
	}
	c := Card{
		Title:    "Access granted: request " + string(r.ID),
		Subtitle: fmt.Sprintf("%s until %s", flows.DescribeAccess(r), v.FormatTime(r.ExpiresAt)),
		Fields:   fields,
		Status:   approvedBy(r, v) + " · access ends at " + v.FormatTime(r.ExpiresAt) + "; you will be reminded before.",
		Actions:  append(ExtendButtons(r), revokeButton(r, "I'm done: revoke")),
		Tone:     ToneGood,
	}
	if secret != "" {
		c.Text = "The " + secret + " is shown only here: jitbot does not keep it. " +
			"Lost it? Ask for a new one with rotate " + string(r.ID) + "."
	}
	if rotated {
		c.Title = "New credentials: request " + string(r.ID)
		if secret != "" {
			c.Text = "Your " + secret + " was changed; the old one no longer works. " +
				"The " + secret + " is shown only here: jitbot does not keep it."
		}
	}
	if creds.Instructions != "" {
		c.Text = strings.TrimSuffix(creds.Instructions+"\n\n"+c.Text, "\n\n")
	}
	if r.Extension != nil || r.ExtendNeedsApproval {
		c.Actions = []Button{revokeButton(r, "I'm done: revoke")}
	}
	return c
}

// CredentialsGoneCard replaces a credentials message once its secret is
// useless: access is ending or ended, or a new secret replaced it. Chat
// history keeps messages; a dead secret should not linger in it.
func CredentialsGoneCard(r *flows.Request, ev flows.Event, v Viewer) Card {
	if !flows.HandsOutSecret(r) {
		return Card{
			Title:    "Access of request " + string(r.ID) + " ended",
			Subtitle: flows.DescribeAccess(r),
			Text:     "This message said how to use access that has ended; it no longer works.",
			Status:   "Ended at " + v.FormatTime(ev.At),
			Tone:     ToneMuted,
		}
	}
	secret := flows.SecretName(r.Kind)
	why := "access to " + targetText(r) + " ended"
	if ev.Type == flows.EventCredentialsRotated {
		why = "a new " + secret + " replaced it"
	}
	if uiAccess(r) {
		return Card{
			Title:    "Access of request " + string(r.ID) + " ended",
			Subtitle: flows.DescribeAccess(r),
			Fields:   []Field{{Label: "Atlas user", Value: r.Principal, Mono: true}},
			Text:     "This message told how to use " + flows.DescribeAccess(r) + "; " + why + ".",
			Status:   "Ended at " + v.FormatTime(ev.At),
			Tone:     ToneMuted,
		}
	}
	return Card{
		Title:    "Credentials of request " + string(r.ID) + " removed",
		Subtitle: flows.DescribeAccess(r),
		Fields:   []Field{{Label: "Username", Value: r.Principal, Mono: true}},
		Text:     "This message held the " + secret + " of " + r.Principal + "; it was removed because " + why + ".",
		Status:   "Removed at " + v.FormatTime(ev.At),
		Tone:     ToneMuted,
	}
}

// CredentialsCardChanges reports whether an event makes a credentials
// message obsolete (see CredentialsGoneCard).
func CredentialsCardChanges(ev flows.Event) bool {
	switch ev.Type {
	case flows.EventRevoking, flows.EventCredentialsRotated, flows.EventExpired, flows.EventRevoked:
		return true
	}
	return false
}

// NoticeCard is the direct message a person gets about an event: the
// approval or extension card for approvers, and for requesters and admins
// what happened and what they can do next. ok is false for events that tell
// nobody directly (provisioning, retries, backstop moves, one approval of
// several). The credentials views need n.Credentials; without them the
// activation message says the credentials could not be shown.
func NoticeCard(n flows.Notice, v Viewer) (c Card, ok bool) {
	r, ev := n.Request, n.Event
	if r == nil {
		return systemCard(ev, v)
	}
	what := flows.DescribeAccess(r)
	if c, ok := BreakGlassCard(n, v); ok {
		return c, true
	}
	if c, ok := GuestCard(n, v); ok {
		return c, true
	}
	switch ev.Type {
	case flows.EventSubmitted:
		return ApprovalCard(r, v), true
	case flows.EventExtensionRequested:
		return ExtensionCard(r, ev.Extension, ev, v), true
	case flows.EventApproversReminded, flows.EventEscalated:
		return waitingNoticeCard(r, ev, v), true
	case flows.EventDenied:
		c = Card{
			Title:    "Request " + string(r.ID) + " denied",
			Subtitle: what,
			Fields:   []Field{{Label: "Denied by", Value: ev.Actor}, {Label: "Reason", Value: orNone(ev.Message)}},
			Text:     "You can ask again with more detail, or talk to " + ev.Actor + ".",
			Status:   "Denied at " + v.FormatTime(ev.At),
			Tone:     ToneAlert,
		}
	case flows.EventCancelled:
		c = Card{
			Title:    "Request " + string(r.ID) + " cancelled",
			Subtitle: what,
			Status:   "Cancelled by " + orSystem(ev.Actor) + " at " + v.FormatTime(ev.At),
			Tone:     ToneMuted,
		}
	case flows.EventTimedOut:
		c = Card{
			Title:    "Request " + string(r.ID) + " timed out",
			Subtitle: what,
			Text:     "Ask again, or ask " + joinNames(r.Approvers) + " directly.",
			Status:   "Timed out at " + v.FormatTime(ev.At) + withReason(ev.Message),
			Tone:     ToneMuted,
		}
	case flows.EventActivated, flows.EventCredentialsRotated:
		if n.Credentials == nil {
			c = Card{
				Title:    "Access granted: request " + string(r.ID),
				Subtitle: what + " until " + v.FormatTime(r.ExpiresAt),
				Text:     "The credentials could not be shown here. Ask for new ones with rotate " + string(r.ID) + ".",
				Tone:     ToneWarning,
			}
			return c, true
		}
		return CredentialsCard(r, *n.Credentials, ev.Type == flows.EventCredentialsRotated, v), true
	case flows.EventApplyDelayed:
		c = Card{
			Title:    "Atlas is still applying your access",
			Subtitle: "request " + string(r.ID) + ": " + what,
			Text:     applyDelayedText(r),
			Tone:     ToneWarning,
		}
	case flows.EventReminder:
		c = Card{
			Title:    "Access ends soon: request " + string(r.ID),
			Subtitle: what + " ends at " + v.FormatTime(r.ExpiresAt) + " (in " + flows.FormatDuration(r.ExpiresAt.Sub(ev.At)) + ")",
			Actions:  append(ExtendButtons(r), revokeButton(r, "I'm done: revoke")),
			Tone:     ToneWarning,
		}
		switch {
		case len(ExtendOptions(r)) == 0:
			c.Status = "It cannot be extended: its access flow allows at most " + flows.FormatDuration(r.MaxDuration) + "."
		case r.ExtendNeedsApproval:
			c.Status = "Extending needs approval again."
		}
	case flows.EventExtended:
		c = Card{
			Title:    "Access extended: request " + string(r.ID),
			Subtitle: what + " now ends at " + v.FormatTime(extendedTo(r, ev)),
			Status:   "+" + flows.FormatDuration(ev.Duration),
			Tone:     ToneGood,
		}
		if ev.Actor != r.Requester {
			c.Status += " · approved by " + ev.Actor
		}
	case flows.EventExtensionDenied:
		c = Card{
			Title:    "Extension denied: request " + string(r.ID),
			Subtitle: what + " still ends at " + v.FormatTime(r.ExpiresAt),
			Fields:   []Field{{Label: "Denied by", Value: ev.Actor}, {Label: "Reason", Value: orNone(ev.Message)}},
			Tone:     ToneAlert,
		}
	case flows.EventExpired:
		c = Card{
			Title:    "Access expired: request " + string(r.ID),
			Subtitle: what,
			Text:     endedText(r) + " Need more time? Ask again.",
			Status:   "Expired at " + v.FormatTime(ev.At),
			Tone:     ToneMuted,
		}
		if offersAgain(r, v) {
			c.Actions = []Button{againButton(r)}
		}
	case flows.EventRevoked:
		c = Card{
			Title:    "Access revoked: request " + string(r.ID),
			Subtitle: what,
			Text:     endedText(r),
			Status:   "Revoked by " + orSystem(r.EndedBy) + " at " + v.FormatTime(ev.At) + endReason(r),
			Tone:     ToneMuted,
		}
		if offersAgain(r, v) {
			c.Actions = []Button{againButton(r)}
		}
	case flows.EventRevokeFailed:
		subtitle, text := stuckText(r, v)
		c = Card{
			Title:    "Could not remove access: request " + string(r.ID),
			Subtitle: subtitle,
			Fields:   alertFields(r, ev),
			Text:     text,
			Tone:     ToneAlert,
		}
	case flows.EventProvisionFailed:
		c = Card{
			Title:    "Could not set up access: request " + string(r.ID),
			Subtitle: what,
			Fields:   alertFields(r, ev),
			Text:     "jitbot gave up creating the " + flows.KindName(r.Kind) + ". Try again later, or ask an admin to look at Atlas.",
			Tone:     ToneAlert,
		}
	case flows.EventCredentialsUndelivered:
		c = Card{
			Title:    "Credentials not delivered: request " + string(r.ID),
			Subtitle: what + " for " + r.Requester,
			Fields:   alertFields(r, ev),
			Text:     undeliveredText(r),
			Tone:     ToneAlert,
		}
	case flows.EventGrantMissing:
		title, subtitle, text := missingText(r)
		c = Card{
			Title:    title,
			Subtitle: subtitle,
			Fields:   alertFields(r, ev),
			Text:     text,
			Tone:     ToneAlert,
		}
	case flows.EventGrantFinding:
		c = findingCard(r, ev, v)
	case flows.EventOrphanDeleted:
		return systemCard(ev, v)
	default:
		return Card{}, false
	}
	return c, true
}

func alertFields(r *flows.Request, ev flows.Event) []Field {
	fs := []Field{
		{Label: "Requester", Value: r.Requester},
		{Label: "Resource", Value: targetText(r)},
		{Label: "Role", Value: flows.FormatRoles(r.Roles)},
	}
	if r.Principal != "" {
		fs = append(fs, Field{Label: capitalize(atlasNoun(r)), Value: r.Principal, Mono: true})
	}
	if ev.Attempt > 0 {
		fs = append(fs, Field{Label: "Attempts", Value: strconv.Itoa(ev.Attempt)})
	}
	if ev.Message != "" {
		fs = append(fs, Field{Label: "Problem", Value: ev.Message})
	}
	return fs
}

// systemCard tells admins about findings that belong to no live request.
func systemCard(ev flows.Event, v Viewer) (Card, bool) {
	if ev.Type == flows.EventGrantFinding {
		return findingCard(nil, ev, v), true
	}
	if ev.Type == flows.EventAccessReview {
		return Card{Title: "Monthly access review", Text: ev.Message, Status: "At " + v.FormatTime(ev.At), Tone: ToneInfo}, true
	}
	if ev.Type == flows.EventStoreAlarm {
		return Card{Title: "Store alarm", Text: ev.Message, Status: "At " + v.FormatTime(ev.At), Tone: ToneAlert}, true
	}
	if ev.Type == flows.EventIdentityFinding {
		return Card{Title: "Identity", Text: ev.Message, Status: "At " + v.FormatTime(ev.At), Tone: ToneWarning}, true
	}
	if ev.Type != flows.EventOrphanDeleted {
		return Card{}, false
	}
	title, label := orphanTitle(ev)
	fs := []Field{{Label: label, Value: ev.Principal, Mono: true}}
	if ev.RequestID != "" {
		fs = append(fs, Field{Label: "Request", Value: string(ev.RequestID)})
	}
	return Card{
		Title:    title,
		Subtitle: ev.Principal,
		Fields:   fs,
		Text:     ev.Message,
		Status:   "Found by reconcile at " + v.FormatTime(ev.At),
		Tone:     ToneWarning,
	}, true
}

// ErrorCard tells a person that what they asked for failed, in words safe
// to show (flows.ErrorMessage).
func ErrorCard(err error) Card {
	return Card{Title: "That did not work", Text: flows.ErrorMessage(err), Tone: ToneAlert}
}

// ApprovalCardChanges reports whether an event can change what ApprovalCard
// shows, so adapters update their sent cards only when it helps: a reminder,
// a retry or an extension's progress leaves the card as it was.
func ApprovalCardChanges(ev flows.Event) bool {
	switch ev.Type {
	case flows.EventApprovalRecorded:
		return ev.Extension == 0
	case flows.EventApproved, flows.EventAutoApproved, flows.EventDenied, flows.EventEscalated,
		flows.EventCancelled, flows.EventTimedOut, flows.EventProvisionFailed, flows.EventActivated,
		flows.EventExtended, flows.EventRevoking, flows.EventRevokeFailed, flows.EventExpired, flows.EventRevoked:
		return true
	}
	return false
}

// ExtensionCardChanges reports whether an event can change what
// ExtensionCard shows for extension n: its own progress and outcome, or the
// grant ending while it waited.
func ExtensionCardChanges(ev flows.Event, n int) bool {
	switch ev.Type {
	case flows.EventApprovalRecorded, flows.EventExtended, flows.EventExtensionDenied:
		return ev.Extension == n
	case flows.EventRevoking:
		return true
	}
	return false
}

// ExtensionDecided reports whether ev settles extension n, after which its
// card no longer changes.
func ExtensionDecided(ev flows.Event, n int) bool {
	return ev.Extension == n && (ev.Type == flows.EventExtended || ev.Type == flows.EventExtensionDenied)
}

// extendedTo is the end an extension gave the grant: the event's own, else
// (an event recorded before events carried it) the request's as it is now.
// A notice sent after a later extension must not say that one's end.
func extendedTo(r *flows.Request, ev flows.Event) time.Time {
	if !ev.Ends.IsZero() {
		return ev.Ends
	}
	return r.ExpiresAt
}
