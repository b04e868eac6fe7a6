package slacktest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's documented view limits.
const (
	maxViewBlocks      = 100
	maxViewTitle       = 24
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
)

// View is one accepted views.open, views.push, views.publish or views.update.
type View struct {
	ID        string
	Method    string
	UserID    string // the Home tab's owner, or the user a trigger id was issued for
	TriggerID string
	Type      string // "modal" or "home"
	Title     string
	// CallbackID, PrivateMetadata and ExternalID are as the bot sent them.
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string // the hash Slack answered with, needed for a later update
	// JSON is the view object as the bot sent it; Blocks is its blocks decoded.
	JSON   json.RawMessage
	Blocks slack.Blocks
	At     time.Time
}

// Buttons lists the view's buttons in order.
func (v View) Buttons() []*slack.ButtonBlockElement { return buttonsIn(v.Blocks) }

// AllText is the view's title and the text of its blocks, one per line.
func (v View) AllText() string { return joinText(v.Title, textIn(v.Blocks)) }

type trigger struct {
	userID string
	issued time.Time
	used   bool
}

type liveView struct {
	id, typ, userID, externalID, hash, rootID string
	raw                                       json.RawMessage
}

// viewFields is what the fake reads from a view to validate and record it.
type viewFields struct {
	Type            string                 `json:"type"`
	Title           *slack.TextBlockObject `json:"title"`
	Submit          *slack.TextBlockObject `json:"submit"`
	Close           *slack.TextBlockObject `json:"close"`
	Blocks          []json.RawMessage      `json:"blocks"`
	PrivateMetadata string                 `json:"private_metadata"`
	CallbackID      string                 `json:"callback_id"`
	ExternalID      string                 `json:"external_id"`
}

// NewTriggerID issues a trigger id as Slack puts in slash commands and
// interactions: usable once by views.open or views.push.
func (s *Server) NewTriggerID() string { return s.NewTriggerIDFor("") }

// NewTriggerIDFor issues a trigger id on behalf of a user, so the view it
// opens is recorded with that UserID.
func (s *Server) NewTriggerIDFor(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.clock.Now()
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", s.seq, now.Unix(), randomToken())
	s.triggers[id] = &trigger{userID: userID, issued: now}
	return id
}

// Views returns every accepted view operation, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewsLocked(func(*View) bool { return true })
}

// ViewsPublished returns the Home tabs published for a user, oldest first;
// the last one is what the user sees.
func (s *Server) ViewsPublished(userID string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewsLocked(func(v *View) bool { return v.Method == "views.publish" && v.UserID == userID })
}

func (s *Server) viewsLocked(keep func(*View) bool) []View {
	var out []View
	for i := range s.views {
		if v := &s.views[i]; keep(v) {
			c := *v
			c.JSON = slices.Clone(v.JSON)
			c.Blocks = mustBlocks(viewBlocks(v.JSON))
			out = append(out, c)
		}
	}
	return out
}

func viewBlocks(raw json.RawMessage) json.RawMessage {
	var v struct {
		Blocks json.RawMessage `json:"blocks"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Blocks
}

// parseView validates a view against the type the method expects and
// Slack's documented limits, answering invalid_arguments with messages in
// Slack's style.
func parseView(raw, wantType string) (viewFields, []string) {
	var v viewFields
	if raw == "" {
		return v, []string{"[ERROR] missing required field: view"}
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, []string{"[ERROR] invalid view: " + err.Error()}
	}
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf("[ERROR] "+format, args...)) }
	if v.Type != wantType {
		bad("must be %q [json-pointer:/view/type]", wantType)
	}
	if wantType == string(slack.VTModal) {
		if v.Title == nil || v.Title.Text == "" {
			bad("missing required field: title [json-pointer:/view/title]")
		}
		for name, t := range map[string]*slack.TextBlockObject{"title": v.Title, "submit": v.Submit, "close": v.Close} {
			if t != nil && utf8.RuneCountInString(t.Text) > maxViewTitle {
				bad("must be less than %d characters [json-pointer:/view/%s/text]", maxViewTitle+1, name)
			}
		}
	}
	if len(v.Blocks) > maxViewBlocks {
		bad("no more than %d items allowed [json-pointer:/view/blocks]", maxViewBlocks)
	}
	hasInput := false
	for i, b := range v.Blocks {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &head) != nil || head.Type == "" {
			bad("missing required field: type [json-pointer:/view/blocks/%d]", i)
		}
		hasInput = hasInput || head.Type == "input"
	}
	if hasInput && wantType == string(slack.VTModal) && v.Submit == nil {
		bad("must provide submit when the view has input blocks [json-pointer:/view/submit]")
	}
	if len(v.PrivateMetadata) > maxPrivateMetadata {
		bad("must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1)
	}
	if len(v.CallbackID) > maxCallbackID {
		bad("must be less than %d characters [json-pointer:/view/callback_id]", maxCallbackID+1)
	}
	if len(msgs) == 0 {
		var blocks slack.Blocks
		if err := json.Unmarshal(viewBlocks(json.RawMessage(raw)), &blocks); err != nil {
			bad("invalid blocks: %v [json-pointer:/view/blocks]", err)
		}
	}
	return v, msgs
}

// takeTriggerLocked checks a trigger id as Slack does, without consuming it:
// the caller consumes it only once the view is accepted.
func (s *Server) takeTriggerLocked(method, id string, now time.Time) (*trigger, string) {
	t, ok := s.triggers[id]
	code := ""
	switch {
	case !ok:
		code = "invalid_trigger_id"
	case t.used:
		code = "exchanged_trigger_id"
	case s.cfg.triggerTTL > 0 && now.Sub(t.issued) > s.cfg.triggerTTL:
		code = "expired_trigger_id"
	}
	if code != "" {
		s.violateLocked(Violation{Rule: RuleTriggerID, Method: method, At: now, Detail: code + ": " + id})
		return nil, code
	}
	return t, ""
}

func (s *Server) externalIDTakenLocked(ext, exceptID string) bool {
	if ext == "" {
		return false
	}
	for id, lv := range s.liveViews {
		if lv.externalID == ext && id != exceptID {
			return true
		}
	}
	return false
}

func (s *Server) openOrPush(req *apiRequest, method string) reply {
	tid := req.params.Get("trigger_id")
	t, code := s.takeTriggerLocked(method, tid, req.now)
	if code != "" {
		return errReply(code)
	}
	raw := req.params.Get("view")
	v, msgs := parseView(raw, string(slack.VTModal))
	if len(msgs) > 0 {
		return errReply("invalid_arguments", msgs...)
	}
	if s.externalIDTakenLocked(v.ExternalID, "") {
		return errReply("duplicate_external_id")
	}
	t.used = true
	lv := &liveView{
		id: s.nextIDLocked("V"), typ: v.Type, userID: t.userID, externalID: v.ExternalID,
		hash: s.newHashLocked(req.now), raw: json.RawMessage(raw),
	}
	lv.rootID = lv.id
	s.liveViews[lv.id] = lv
	s.recordViewLocked(lv, v, method, tid, req.now)
	return okReply(map[string]any{"view": s.viewJSON(lv)})
}

func (s *Server) viewsOpen(req *apiRequest) reply { return s.openOrPush(req, "views.open") }

func (s *Server) viewsPush(req *apiRequest) reply { return s.openOrPush(req, "views.push") }

func (s *Server) viewsPublish(req *apiRequest) reply {
	uid := req.params.Get("user_id")
	if _, ok := s.users[uid]; !ok {
		return errReply("user_not_found")
	}
	raw := req.params.Get("view")
	v, msgs := parseView(raw, string(slack.VTHomeTab))
	if len(msgs) > 0 {
		return errReply("invalid_arguments", msgs...)
	}
	lv := s.liveViews[s.homeViews[uid]]
	if lv != nil {
		if h := req.params.Get("hash"); h != "" && h != lv.hash {
			return errReply("hash_conflict")
		}
	} else {
		lv = &liveView{id: s.nextIDLocked("V"), typ: v.Type, userID: uid}
		lv.rootID = lv.id
		s.liveViews[lv.id] = lv
		s.homeViews[uid] = lv.id
	}
	lv.raw, lv.externalID, lv.hash = json.RawMessage(raw), v.ExternalID, s.newHashLocked(req.now)
	s.recordViewLocked(lv, v, "views.publish", "", req.now)
	return okReply(map[string]any{"view": s.viewJSON(lv)})
}

func (s *Server) viewsUpdate(req *apiRequest) reply {
	var lv *liveView
	if id := req.params.Get("view_id"); id != "" {
		lv = s.liveViews[id]
	} else if ext := req.params.Get("external_id"); ext != "" {
		for _, cand := range s.liveViews {
			if cand.externalID == ext {
				lv = cand
			}
		}
	}
	if lv == nil {
		return errReply("not_found")
	}
	if h := req.params.Get("hash"); h != "" && h != lv.hash {
		return errReply("hash_conflict")
	}
	raw := req.params.Get("view")
	v, msgs := parseView(raw, lv.typ)
	if len(msgs) > 0 {
		return errReply("invalid_arguments", msgs...)
	}
	if s.externalIDTakenLocked(v.ExternalID, lv.id) {
		return errReply("duplicate_external_id")
	}
	lv.raw, lv.hash = json.RawMessage(raw), s.newHashLocked(req.now)
	if v.ExternalID != "" {
		lv.externalID = v.ExternalID
	}
	s.recordViewLocked(lv, v, "views.update", "", req.now)
	return okReply(map[string]any{"view": s.viewJSON(lv)})
}

func (s *Server) newHashLocked(now time.Time) string {
	s.seq++
	return fmt.Sprintf("%d.%d", now.Unix(), s.seq)
}

func (s *Server) recordViewLocked(lv *liveView, v viewFields, method, triggerID string, now time.Time) {
	rec := View{
		ID: lv.id, Method: method, UserID: lv.userID, TriggerID: triggerID, Type: v.Type,
		CallbackID: v.CallbackID, PrivateMetadata: v.PrivateMetadata, ExternalID: v.ExternalID,
		Hash: lv.hash, JSON: slices.Clone(lv.raw), At: now,
	}
	if v.Title != nil {
		rec.Title = v.Title.Text
	}
	s.views = append(s.views, rec)
}

// viewJSON is the view object Slack answers with: what the bot sent plus the
// fields Slack adds (id, hash, state, ...).
func (s *Server) viewJSON(lv *liveView) map[string]any {
	out := map[string]any{}
	var sent map[string]json.RawMessage
	_ = json.Unmarshal(lv.raw, &sent) // validated by parseView
	for k, v := range sent {
		out[k] = v
	}
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	out["id"] = lv.id
	out["team_id"] = s.cfg.teamID
	out["app_id"] = s.cfg.appID
	out["bot_id"] = s.cfg.botID
	out["app_installed_team_id"] = s.cfg.teamID
	out["hash"] = lv.hash
	out["root_view_id"] = lv.rootID
	out["previous_view_id"] = nil
	out["state"] = map[string]any{"values": map[string]any{}}
	return out
}
