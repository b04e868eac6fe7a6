package playground

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// state is everything the page shows, read afresh from the fakes, the
// simulator and jitbot's store at each poll.
type state struct {
	Now        time.Time   `json:"now"`
	CanAdvance bool        `json:"can_advance"`
	Panes      []paneState `json:"panes"`
	Atlas      []atlasUser `json:"atlas"`
	Grants     []grant     `json:"grants"`
	Project    string      `json:"project"`
}

// paneState is what one person sees on one platform.
type paneState struct {
	*pane
	Items []item `json:"items"`
	// Home is the person's App Home as jitbot last published it; Form is
	// the form jitbot opened for them, while open (Slack views).
	Home *view `json:"home,omitempty"`
	Form *view `json:"form,omitempty"`
}

// item is one message in a conversation.
type item struct {
	// From is "you" (the pane's person) or "jitbot".
	From string    `json:"from"`
	At   time.Time `json:"at"`
	// Only: an answer only this person sees (Slack's ephemeral messages).
	Only   bool            `json:"only,omitempty"`
	Text   string          `json:"text,omitempty"`
	Blocks json.RawMessage `json:"blocks,omitempty"` // Slack's Block Kit
	Cards  []any           `json:"cards,omitempty"`  // Teams' Adaptive Cards
	// Channel and TS name a Slack message (its buttons are clicked on it);
	// Activity a Teams one.
	Channel  string `json:"channel,omitempty"`
	TS       string `json:"ts,omitempty"`
	Activity string `json:"activity,omitempty"`
	Edited   bool   `json:"edited,omitempty"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// view is a Slack view as jitbot sent it, with what Slack adds.
type view struct {
	ID     string            `json:"id"`
	View   json.RawMessage   `json:"view"`
	Errors map[string]string `json:"errors,omitempty"`
}

type atlasUser struct {
	Username    string    `json:"username"`
	Roles       []string  `json:"roles"`
	Scopes      []string  `json:"scopes"`
	DeleteAfter time.Time `json:"delete_after,omitzero"`
	Created     time.Time `json:"created"`
	ManagedBy   string    `json:"managed_by,omitempty"`
}

type grant struct {
	app.GrantView
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	// Empty lists are [], not null, for the page.
	st := state{Now: s.rig.Now().UTC(), CanAdvance: s.opts.Advance != nil, Project: rig.Project, Panes: []paneState{}, Atlas: []atlasUser{}, Grants: []grant{}}
	for _, p := range s.panes {
		ps := paneState{pane: p, Items: []item{}}
		switch p.Platform {
		case "slack":
			ps.Items, ps.Home, ps.Form = s.slackPane(p)
		case "teams":
			ps.Items = s.teamsPane(p)
		case "channel":
			for _, m := range s.rig.Slack.ChannelMessages(p.channel) {
				if !m.Ephemeral {
					ps.Items = append(ps.Items, slackItem(m))
				}
			}
		}
		st.Panes = append(st.Panes, ps)
	}
	for _, u := range s.rig.Atlas.Users(rig.Project) {
		au := atlasUser{Username: u.Username, DeleteAfter: u.DeleteAfterDate, Created: u.Created}
		for _, role := range u.Roles {
			on := role.DatabaseName
			if role.CollectionName != "" {
				on += "." + role.CollectionName
			}
			au.Roles = append(au.Roles, role.RoleName+" on "+on)
		}
		for _, sc := range u.Scopes {
			au.Scopes = append(au.Scopes, sc.Name)
		}
		au.ManagedBy, _ = u.Label("managed-by")
		st.Atlas = append(st.Atlas, au)
	}
	if main := s.rig.Main; main != nil {
		reqs, err := main.Store().Find(r.Context(), flows.Query{})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": fmt.Sprintf("read jitbot's store: %v", err)})
			return
		}
		for _, req := range reqs {
			st.Grants = append(st.Grants, grant{app.ViewOf(req)})
		}
		slices.SortStableFunc(st.Grants, func(a, b grant) int { return b.CreatedAt.Compare(a.CreatedAt) })
	}
	writeJSON(w, http.StatusOK, st)
}

// slackPane is a person's Slack: their direct messages with jitbot, what
// they typed and what jitbot answered them alone, their Home tab and the
// form open in front of them.
func (s *Server) slackPane(p *pane) (items []item, home, form *view) {
	for _, m := range s.rig.Slack.DMs(p.slack.ID) {
		items = append(items, slackItem(m))
	}
	for _, m := range s.rig.Slack.Messages() {
		if m.Ephemeral && m.User == p.slack.ID {
			it := slackItem(m)
			it.Only, it.Channel, it.TS = true, "", ""
			items = append(items, it)
		}
	}
	s.mu.Lock()
	said := slices.Clone(s.said[p.ID])
	s.mu.Unlock()
	for _, u := range said {
		items = append(items, s.answers(u)...)
	}
	sortItems(items)

	var forms []string
	latest := map[string]slacktest.View{}
	for _, v := range s.rig.Slack.Views() {
		switch {
		case v.Method == "views.publish" && v.UserID == p.slack.ID:
			home = &view{ID: v.ID, View: v.JSON}
		case v.Type == "modal" && v.UserID == p.slack.ID:
			if _, seen := latest[v.ID]; !seen {
				forms = append(forms, v.ID)
			}
			latest[v.ID] = v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(forms) - 1; i >= 0; i-- {
		if id := forms[i]; !s.closed[id] {
			form = &view{ID: id, View: latest[id].JSON, Errors: s.formErrors[id]}
			break
		}
	}
	return items, home, form
}

// answers are what a person typed and what jitbot answered them alone: the
// acknowledgement, then each post to the response_url (replacing the
// previous one when it says so). A click's response_url replacing the
// message clicked shows in that message.
func (s *Server) answers(u *utterance) []item {
	var out, answers []item
	s.mu.Lock()
	text, at, ack := u.text, u.at, u.ack
	s.mu.Unlock()
	if text != "" {
		out = append(out, item{From: "you", At: at, Text: text})
	}
	if len(ack) > 0 {
		var msg struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal(ack, &msg) == nil {
			answers = append(answers, item{From: "jitbot", At: at, Only: true, Text: msg.Text, Blocks: msg.Blocks})
		} else {
			answers = append(answers, item{From: "jitbot", At: at, Only: true, Text: string(ack)})
		}
	}
	for _, post := range s.rig.Slack.ResponsePosts(u.responseURL) {
		if post.Error != "" || u.message && (post.ReplaceOriginal || post.DeleteOriginal) {
			continue
		}
		it := item{From: "jitbot", At: post.At, Only: true, Text: post.Text, Blocks: post.BlocksJSON}
		switch {
		case post.DeleteOriginal && len(answers) > 0:
			answers = answers[:len(answers)-1]
		case post.ReplaceOriginal && len(answers) > 0:
			it.At = answers[len(answers)-1].At // in place of what it replaces
			answers[len(answers)-1] = it
		default:
			answers = append(answers, it)
		}
	}
	return append(out, answers...)
}

func slackItem(m slacktest.Message) item {
	return item{From: "jitbot", At: m.PostedAt, Text: m.Text, Blocks: m.BlocksJSON, Channel: m.Channel, TS: m.TS,
		Edited: len(m.Updates) > 0, Deleted: m.Deleted}
}

// teamsPane is a person's chat with jitbot in Teams: what they wrote, and
// jitbot's messages as they stand after its updates.
func (s *Server) teamsPane(p *pane) []item {
	var items []item
	index := map[string]int{}
	for _, a := range s.rig.BF.ActivitiesIn(p.conv) {
		it := item{From: "jitbot", At: a.At, Text: a.Activity.Text, Activity: a.ActivityID}
		for _, c := range teamstest.AdaptiveCards(a.Activity) {
			it.Cards = append(it.Cards, c)
		}
		switch a.Op {
		case teamstest.OpSend, teamstest.OpReply:
			index[a.ActivityID] = len(items)
			items = append(items, it)
		case teamstest.OpUpdate:
			if i, ok := index[a.ActivityID]; ok {
				it.At, it.Edited = items[i].At, true
				items[i] = it
			}
		case teamstest.OpDelete:
			if i, ok := index[a.ActivityID]; ok {
				items[i].Deleted, items[i].Cards, items[i].Text = true, nil, ""
			}
		}
	}
	s.mu.Lock()
	for _, u := range s.said[p.ID] {
		items = append(items, item{From: "you", At: u.at, Text: u.text})
	}
	s.mu.Unlock()
	sortItems(items)
	return items
}

// sortItems orders a conversation by time; at the same instant, what the
// person said comes before what answered it.
func sortItems(items []item) {
	slices.SortStableFunc(items, func(a, b item) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(rank(a), rank(b)))
	})
}

func rank(it item) string {
	if it.From == "you" {
		return "0"
	}
	return "1"
}
