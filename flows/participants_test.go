package flows_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// action is a command or click about one request, by one person.
type action struct {
	name string
	do   func(f *fixture, id, actor string) error
}

func actions() []action {
	ignore := func(_ *flows.Request, err error) error { return err }
	decide := func(approve bool, extension int) func(f *fixture, id, actor string) error {
		return func(f *fixture, id, actor string) error {
			return ignore(f.svc.Decide(f.ctx, flows.DecideInput{RequestID: flows.RequestID(id), Actor: actor, Approve: approve, Reason: "no", Extension: extension}))
		}
	}
	return []action{
		{"get", func(f *fixture, id, actor string) error { return ignore(f.svc.Get(f.ctx, flows.RequestID(id), actor)) }},
		{"cancel", func(f *fixture, id, actor string) error {
			return ignore(f.svc.Cancel(f.ctx, flows.RequestID(id), actor))
		}},
		{"revoke", func(f *fixture, id, actor string) error {
			return ignore(f.svc.Revoke(f.ctx, flows.RequestID(id), actor, "because"))
		}},
		{"extend", func(f *fixture, id, actor string) error {
			return ignore(f.svc.Extend(f.ctx, flows.RequestID(id), actor, time.Hour))
		}},
		{"rotate", func(f *fixture, id, actor string) error {
			return ignore(f.svc.Rotate(f.ctx, flows.RequestID(id), actor))
		}},
		{"approve", decide(true, 0)},
		{"deny", decide(false, 0)},
		{"approve extension", decide(true, 1)},
		{"deny extension", decide(false, 1)},
	}
}

// situations are requests in the states a stranger could probe, each made
// for carol and routed to owner@example.com.
func situations() map[string]func(f *fixture) *flows.Request {
	return map[string]func(f *fixture) *flows.Request{
		"pending": func(f *fixture) *flows.Request {
			return f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour)
		},
		"active": func(f *fixture) *flows.Request {
			return f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
		},
		"extension pending": func(f *fixture) *flows.Request {
			r := f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
			r, err := f.svc.Extend(f.ctx, r.ID, "carol@example.com", time.Hour)
			if err != nil || r.Extension == nil {
				f.t.Fatalf("extension: %+v %v", r, err)
			}
			return r
		},
		"denied": func(f *fixture) *flows.Request {
			r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour)
			r, err := f.decide(r.ID, "owner@example.com", false, "no")
			if err != nil {
				f.t.Fatal(err)
			}
			return r
		},
		"revoked": func(f *fixture) *flows.Request {
			r := f.active("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
			r, err := f.svc.Revoke(f.ctx, r.ID, "owner@example.com", "done")
			if err != nil {
				f.t.Fatal(err)
			}
			return r
		},
	}
}

// snapshot is everything a refused command must leave as it was.
type snapshot struct {
	request          *flows.Request
	events, notices  int
	provisionerCalls int
}

func (f *fixture) snapshot(id flows.RequestID) snapshot {
	return snapshot{f.get(id), len(f.store.Events()), len(f.notes.Notices()), len(f.prov.Calls())}
}

// TestStrangersAreAnsweredAsForAnUnknownID: someone who takes no part in a
// request (neither its requester, nor routed to approve it, nor an admin)
// learns nothing from any command or click about it, not even that it
// exists: the answer is, code and words, the one an id that names no request
// gets, and nothing is written, told or done. dba1 approves other requests
// (it is an integration owner), just not this one.
func TestStrangersAreAnsweredAsForAnUnknownID(t *testing.T) {
	const madeUp = "zzzzzzzzzz"
	for name, setUp := range situations() {
		for _, a := range actions() {
			for _, stranger := range []string{"mallory@example.com", "dba1@example.com"} {
				t.Run(name+"/"+a.name+"/"+stranger, func(t *testing.T) {
					f := newFixture(t)
					r := setUp(f)
					before := f.snapshot(r.ID)

					err := a.do(f, string(r.ID), stranger)

					// The same id where no request has it, asked by a participant.
					empty := newFixture(t)
					unknown := a.do(empty, string(r.ID), "carol@example.com")
					if flows.ErrorCode(unknown) != flows.ENOTFOUND {
						t.Fatalf("unknown id: %v", unknown)
					}
					if flows.ErrorCode(err) != flows.ErrorCode(unknown) || flows.ErrorMessage(err) != flows.ErrorMessage(unknown) || err.Error() != unknown.Error() {
						t.Fatalf("the stranger was answered\n%s %q\nan unknown id is answered\n%s %q", flows.ErrorCode(err), err, flows.ErrorCode(unknown), unknown)
					}
					// A made-up id in the same store: the same answer but for the id.
					madeUpErr := a.do(f, madeUp, stranger)
					if flows.ErrorCode(madeUpErr) != flows.ErrorCode(err) || strings.ReplaceAll(flows.ErrorMessage(madeUpErr), madeUp, string(r.ID)) != flows.ErrorMessage(err) {
						t.Fatalf("made-up id answered %q, the real one %q", madeUpErr, err)
					}
					if after := f.snapshot(r.ID); !reflect.DeepEqual(after, before) {
						t.Fatalf("a stranger's %s changed something:\nbefore %+v\nafter  %+v", a.name, before, after)
					}
				})
			}
		}
	}
}

// TestParticipantsAreToldWhy: refusals to the people a request concerns
// still say what stands in the way, names and states included.
func TestParticipantsAreToldWhy(t *testing.T) {
	f := newFixture(t)
	pending := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/orders", "read", time.Hour)
	active := f.active("dave@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
	tests := []struct {
		what  string
		do    func() error
		code  flows.Code
		text  string
		about *flows.Request
	}{
		{"the approver cancels", func() error { _, err := f.svc.Cancel(f.ctx, pending.ID, "owner@example.com"); return err },
			flows.EFORBIDDEN, string("only carol@example.com can cancel request " + pending.ID), pending},
		{"the approver revokes a pending request", func() error { _, err := f.svc.Revoke(f.ctx, pending.ID, "owner@example.com", ""); return err },
			flows.ECONFLICT, string("request " + pending.ID + " is still pending: deny it instead"), pending},
		{"the requester approves", func() error { _, err := f.decide(pending.ID, "carol@example.com", true, ""); return err },
			flows.EFORBIDDEN, "you cannot approve your own request", pending},
		{"an admin who is no approver approves", func() error { _, err := f.decide(pending.ID, "admin@example.com", true, ""); return err },
			flows.EFORBIDDEN, string("you are not an approver of request " + pending.ID), pending},
		{"the approver approves again", func() error { _, err := f.decide(active.ID, "owner@example.com", true, ""); return err },
			flows.ECONFLICT, string("cannot approve request " + active.ID + ": it is already active (approved by owner@example.com)"), active},
		{"the approver extends", func() error { _, err := f.svc.Extend(f.ctx, active.ID, "owner@example.com", time.Hour); return err },
			flows.EFORBIDDEN, string("only dave@example.com can extend request " + active.ID), active},
		{"an admin rotates", func() error { _, err := f.svc.Rotate(f.ctx, active.ID, "admin@example.com"); return err },
			flows.EFORBIDDEN, string("only dave@example.com can get new credentials for request " + active.ID), active},
		{"the requester decides on an extension never asked for", func() error {
			_, err := f.svc.Decide(f.ctx, flows.DecideInput{RequestID: active.ID, Actor: "dave@example.com", Approve: true, Extension: 1})
			return err
		}, flows.ECONFLICT, string("extension 1 of request " + active.ID + " is not waiting for a decision"), active},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			before := f.snapshot(tt.about.ID)
			err := tt.do()
			if flows.ErrorCode(err) != tt.code || flows.ErrorMessage(err) != tt.text {
				t.Fatalf("got %s %q, want %s %q", flows.ErrorCode(err), flows.ErrorMessage(err), tt.code, tt.text)
			}
			if after := f.snapshot(tt.about.ID); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refusal changed something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	for _, who := range []string{"carol@example.com", "owner@example.com", "admin@example.com"} {
		if got, err := f.svc.Get(f.ctx, pending.ID, who); err != nil || got.ID != pending.ID {
			t.Errorf("%s takes part in the request and sees it: %v", who, err)
		}
	}
}

// TestUnknownIDsAreQuotedSafely: the id in the answer is what was typed, but
// bounded and with invisible characters escaped, never sent back raw.
func TestUnknownIDsAreQuotedSafely(t *testing.T) {
	f := newFixture(t)
	for id, want := range map[string]string{
		"nosuchid1":                  "there is no request nosuchid1 that you can see",
		"abc\u202edef":               `there is no request "abc\u202edef" that you can see`,
		"a b":                        `there is no request "a b" that you can see`,
		"":                           `there is no request "" that you can see`,
		strings.Repeat("x", 100_000): "there is no request " + strings.Repeat("x", 64) + "… that you can see",
	} {
		_, err := f.svc.Get(f.ctx, flows.RequestID(id), "carol@example.com")
		if flows.ErrorCode(err) != flows.ENOTFOUND || flows.ErrorMessage(err) != want {
			t.Errorf("%.80q: got %q, want %q", id, err, want)
		}
	}
}

// TestASubmissionReplayedBySomeoneElseShowsThemNothing: an idempotency key
// returns the request it made to its requester only.
func TestASubmissionReplayedBySomeoneElseShowsThemNothing(t *testing.T) {
	f := newFixture(t)
	res, _ := flows.ParseResource("prod/Cluster0/sales/customers")
	in := flows.SubmitInput{Requester: "carol@example.com", Resource: res, Roles: []string{"read"}, Reason: "x", IdempotencyKey: "teams:conv:1"}
	first, err := f.svc.Submit(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	before := f.snapshot(first.ID)
	in.Requester = "mallory@example.com"
	got, err := f.svc.Submit(f.ctx, in)
	if got != nil || flows.ErrorCode(err) != flows.ECONFLICT || strings.Contains(err.Error(), string(first.ID)) || strings.Contains(err.Error(), "carol") {
		t.Fatalf("someone else's replay: %+v %v", got, err)
	}
	if after := f.snapshot(first.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("the replay changed something:\nbefore %+v\nafter  %+v", before, after)
	}
	in.Requester = "carol@example.com"
	if again, err := f.svc.Submit(f.ctx, in); err != nil || again.ID != first.ID {
		t.Fatalf("the requester's own replay: %+v %v", again, err)
	}
}
