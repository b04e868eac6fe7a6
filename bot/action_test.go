package bot

import (
	"testing"
	"time"
)

func TestActionRoundTrip(t *testing.T) {
	tests := []struct {
		id   string
		want Action
	}{
		{"approve:abc23def45", Action{Kind: ActionApprove, RequestID: "abc23def45"}},
		{"deny:abc23def45", Action{Kind: ActionDeny, RequestID: "abc23def45"}},
		{"approve-ext:abc23def45:2", Action{Kind: ActionApproveExtension, RequestID: "abc23def45", Extension: 2}},
		{"deny-ext:abc23def45:1", Action{Kind: ActionDenyExtension, RequestID: "abc23def45", Extension: 1}},
		{"extend:abc23def45:1h30m", Action{Kind: ActionExtend, RequestID: "abc23def45", Duration: 90 * time.Minute}},
		{"revoke:abc23def45", Action{Kind: ActionRevoke, RequestID: "abc23def45"}},
		{"cancel:abc23def45", Action{Kind: ActionCancel, RequestID: "abc23def45"}},
		{"rotate:abc23def45", Action{Kind: ActionRotate, RequestID: "abc23def45"}},
	}
	for _, tt := range tests {
		got, err := ParseAction(tt.id)
		if err != nil || got != tt.want {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", tt.id, got, err, tt.want)
		}
		if id := tt.want.ID(); id != tt.id {
			t.Errorf("%+v.ID() = %q, want %q", tt.want, id, tt.id)
		}
	}
}

func TestParseActionIsStrict(t *testing.T) {
	for _, s := range []string{
		"", "approve", "approve:", "approve:abc:1", "APPROVE:abc", "approve:a b", "approve:a:b",
		"approve-ext:abc", "approve-ext:abc:0", "approve-ext:abc:01", "approve-ext:abc:-1", "approve-ext:abc:x",
		"extend:abc", "extend:abc:90m", "extend:abc:1H", "extend:abc:0m", "extend:abc:7d", "extend:abc:1h:2",
		"revoke:abc:now", "open:abc", "approve:abc\n", " approve:abc", "approve:-abc",
	} {
		if a, err := ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) = %+v, want an error", s, a)
		}
	}
}

// FuzzParseAction proves ParseAction never panics and accepts only ids that
// ID produces again, byte for byte.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		"approve:abc", "deny-ext:abc:3", "extend:abc:1d2h", "extend:abc:60m", "rotate:x", "cancel:abc:",
		"approve-ext:abc:99999999999999999999", "extend:abc:10000d10000d", "::", "revoke:é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			return
		}
		if a.ID() != s {
			t.Fatalf("ParseAction(%q) = %+v whose ID is %q", s, a, a.ID())
		}
		if b, err := ParseAction(a.ID()); err != nil || b != a {
			t.Fatalf("round trip of %q: %+v, %v", s, b, err)
		}
	})
}
