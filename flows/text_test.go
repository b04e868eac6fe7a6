package flows_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestReasonsRefuseBidiAndControlCharacters: reasons are free text that one
// person writes and others read, so what would make them read differently
// from what they say is refused (bidirectional embeddings, overrides and
// isolates, and control characters but tab and line breaks); line breaks,
// emoji sequences, right-to-left text and its marks stay.
func TestReasonsRefuseBidiAndControlCharacters(t *testing.T) {
	refused := map[string]string{
		"INC-1 \u202egnidaer":        "the reason contains U+202E (an invisible or control character); write it again without it",
		"INC-1 \u202aembedded\u202c": "the reason contains U+202A (an invisible or control character); write it again without it",
		"INC-1 \u2067isolated\u2069": "the reason contains U+2067 (an invisible or control character); write it again without it",
		"INC-1 \x1b[2Jcleared":       "the reason contains U+001B (an invisible or control character); write it again without it",
		"INC-1 \x00":                 "the reason contains U+0000 (an invisible or control character); write it again without it",
		"INC-1 \u0085 x":             "the reason contains U+0085 (an invisible or control character); write it again without it",
		"INC-1 \xff":                 "the reason is not valid UTF-8 text",
	}
	accepted := []string{
		"INC-1\nsecond line\r\nthird line", "INC-1\tdebugging", "INC-1 👩‍💻 on call", "INC-1 שלום עולם", "INC-1 \u200fשלום\u200e", "INC-1 soft\u00adhyphen",
	}

	t.Run("submit", func(t *testing.T) {
		f := newFixture(t)
		for reason, want := range refused {
			before := len(f.store.Events())
			_, err := f.submit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, reason)
			if flows.ErrorCode(err) != flows.EINVALID || flows.ErrorMessage(err) != want {
				t.Errorf("%+q: got %v, want %q", reason, err, want)
			}
			if strings.ContainsFunc(flows.ErrorMessage(err), invisible) || len(f.store.Events()) != before {
				t.Errorf("%+q: the refusal repeats the character or wrote something", reason)
			}
		}
		for i, reason := range accepted {
			r, err := f.submit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, reason)
			if err != nil || r.Reason != strings.TrimSpace(reason) {
				t.Fatalf("%+q: %+v %v", reason, r, err)
			}
			if i < len(accepted)-1 {
				if _, err := f.svc.Cancel(f.ctx, r.ID, "carol@example.com"); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	t.Run("deny and revoke", func(t *testing.T) {
		f := newFixture(t)
		pending := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
		active := f.active("dave@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "owner@example.com")
		extending := f.active("erin@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "owner@example.com")
		if _, err := f.svc.Extend(f.ctx, extending.ID, "erin@example.com", time.Hour); err != nil {
			t.Fatal(err)
		}
		for reason, want := range refused {
			for what, do := range map[string]func() (*flows.Request, error){
				"deny": func() (*flows.Request, error) { return f.decide(pending.ID, "owner@example.com", false, reason) },
				"deny an extension": func() (*flows.Request, error) {
					return f.svc.Decide(f.ctx, flows.DecideInput{RequestID: extending.ID, Actor: "owner@example.com", Reason: reason, Extension: 1})
				},
				"revoke": func() (*flows.Request, error) { return f.svc.Revoke(f.ctx, active.ID, "dave@example.com", reason) },
			} {
				before := []any{f.get(pending.ID), f.get(active.ID), f.get(extending.ID), len(f.store.Events())}
				_, err := do()
				if flows.ErrorCode(err) != flows.EINVALID || flows.ErrorMessage(err) != want {
					t.Errorf("%s %+q: got %v, want %q", what, reason, err, want)
				}
				if after := []any{f.get(pending.ID), f.get(active.ID), f.get(extending.ID), len(f.store.Events())}; !reflect.DeepEqual(after, before) {
					t.Errorf("%s %+q: a refused reason changed something", what, reason)
				}
			}
		}
		// An approval carries no reason, so none is checked.
		if _, err := f.svc.Decide(f.ctx, flows.DecideInput{RequestID: extending.ID, Actor: "owner@example.com", Approve: true, Reason: "\u202e", Extension: 1}); err != nil {
			t.Fatalf("approve: %v", err)
		}
		if r, err := f.decide(pending.ID, "owner@example.com", false, accepted[0]); err != nil || r.Denial.Reason != strings.TrimSpace(accepted[0]) {
			t.Fatalf("deny with line breaks: %+v %v", r, err)
		}
		if r, err := f.svc.Revoke(f.ctx, active.ID, "dave@example.com", accepted[2]); err != nil || r.EndReason != accepted[2] {
			t.Fatalf("revoke with an emoji sequence: %+v %v", r, err)
		}
	})
}
