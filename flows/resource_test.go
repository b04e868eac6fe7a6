package flows_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/flows"
)

func TestParseResource(t *testing.T) {
	tests := []struct {
		in      string
		want    flows.Resource
		wantErr string
	}{
		{in: "prod/Cluster0/sales/orders", want: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"}},
		{in: " prod/Cluster0/sales ", want: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}},
		{in: "prod/Cluster0", wantErr: "want integration/cluster/database"},
		{in: "prod/Cluster0/sales/orders/x/y", wantErr: "want integration/cluster/database"},
		// Five parts name a project's collection (an organization-wide
		// integration); four parts whose second cannot be a cluster, a
		// project's database.
		{in: "acme/payments-prod/Cluster0/sales/orders", want: flows.Resource{Integration: "acme", Project: "payments-prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"}},
		{in: "acme/payments_prod/Cluster0/sales", want: flows.Resource{Integration: "acme", Project: "payments_prod", Cluster: "Cluster0", Database: "sales"}},
		{in: "acme/payments-prod/Cluster_0/sales/x", wantErr: `cluster "Cluster_0"`},
		{in: "acme/pay*/Cluster0/sales/x", wantErr: `project "pay*"`},
		{in: "acme/payments-prod/Cluster0/sales/", wantErr: "collection after the last / is empty"},
		{in: "prod/Cluster0/sales/", wantErr: "collection after the last / is empty"},
		{in: "Prod/Cluster0/sales", wantErr: `integration "Prod"`},
		{in: "prod/-bad/sales", wantErr: `cluster "-bad"`},
		{in: "prod/Cluster_0/sales", wantErr: `cluster "Cluster_0"`},
		{in: "prod/Cluster0/sa.les", wantErr: "cannot contain"},
		{in: "prod/Cluster0/admin", wantErr: "system database"},
		{in: "prod/Cluster0/local/x", wantErr: "system database"},
		{in: "prod/Cluster0/sales/system.users", wantErr: "system collection"},
		{in: "prod/Cluster0/sales/a$b", wantErr: "cannot contain $"},
		{in: "prod/Cluster0/" + strings.Repeat("d", 64), wantErr: "63 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := flows.ParseResource(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || flows.ErrorCode(err) != flows.EINVALID {
					t.Fatalf("want invalid error containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if got.String() != strings.TrimSpace(tt.in) {
				t.Fatalf("String() = %q, want %q", got.String(), strings.TrimSpace(tt.in))
			}
		})
	}
}

func TestValidateRole(t *testing.T) {
	for _, ok := range []string{"read", "readWrite", "dbAdmin"} {
		if err := flows.ValidateRole(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"atlasAdmin": "applies to every database", "readWriteAnyDatabase": "applies to every database",
		"": "role names", "read write": "role names", "r/w": "role names",
		"my-custom_role": "not one jitbot grants", "dbOwner": "not one jitbot grants", "userAdmin": "not one jitbot grants",
	} {
		if err := flows.ValidateRole(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want error containing %q, got %v", in, want, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30m": 30 * time.Minute, "2h": 2 * time.Hour, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour,
		"1d12h": 36 * time.Hour, " 2H ": 2 * time.Hour,
	}
	for in, want := range good {
		got, err := flows.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
		if back, _ := flows.ParseDuration(flows.FormatDuration(want)); back != want {
			t.Errorf("FormatDuration(%v) = %q does not parse back", want, flows.FormatDuration(want))
		}
	}
	bad := map[string]string{
		"": "empty", "abc": "a number and a unit", "2": "a number and a unit", "5s": "unknown unit",
		"0h": "longer than zero", "-1h": "a number and a unit", "1.5h": "unknown unit", "99999999h": "too large", strings.Repeat("10000d", 11): "too large",
	}
	for in, want := range bad {
		if _, err := flows.ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want error containing %q, got %v", in, want, err)
		}
	}
	if got := flows.FormatDuration(26*time.Hour + 5*time.Minute); got != "1d2h5m" {
		t.Errorf("FormatDuration = %q", got)
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got, err := flows.NormalizeEmail(" Alice@Example.COM "); err != nil || got != "alice@example.com" {
		t.Fatalf("got %q %v", got, err)
	}
	for _, bad := range []string{"", "alice", "Alice <alice@example.com>", "a@b@c", "@example.com"} {
		if _, err := flows.NormalizeEmail(bad); flows.ErrorCode(err) != flows.EINVALID {
			t.Errorf("%q: want invalid, got %v", bad, err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := flows.NewSecret("hunter2-very-secret")
	creds := flows.DatabaseUserCredentials("u", s, "mongodb+srv://c")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "password", s, "creds", creds)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "password", s, "creds", creds)
	js, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), fmt.Sprintf("%+v %#v", creds, creds),
		logs.String(), string(js), s.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Fatalf("expected a redaction marker in %s", out)
		}
	}
	if s.Reveal() != "hunter2-very-secret" {
		t.Fatal("Reveal must return the value")
	}
}

func TestErrors(t *testing.T) {
	err := flows.WrapError(flows.EUNAVAILABLE, fmt.Errorf("dial tcp 10.0.0.1: refused"), "Atlas is unavailable")
	if flows.ErrorCode(err) != flows.EUNAVAILABLE || flows.ErrorMessage(err) != "Atlas is unavailable" {
		t.Fatalf("code %s message %q", flows.ErrorCode(err), flows.ErrorMessage(err))
	}
	wrapped := fmt.Errorf("atlas: create: %w", err)
	if flows.ErrorCode(wrapped) != flows.EUNAVAILABLE || strings.Contains(flows.ErrorMessage(wrapped), "10.0.0.1") {
		t.Fatalf("wrapping must keep the code and the safe message: %q", flows.ErrorMessage(wrapped))
	}
	plain := fmt.Errorf("bolt: page 7 corrupt")
	if flows.ErrorCode(plain) != flows.EINTERNAL || strings.Contains(flows.ErrorMessage(plain), "bolt") {
		t.Fatalf("internal errors must not show their text: %q", flows.ErrorMessage(plain))
	}
	if flows.ErrorCode(nil) != "" || flows.ErrorMessage(nil) != "" {
		t.Fatal("nil error")
	}
}

// TestNamesWithInvisibleCharactersAreRefused: a control or format character
// (Unicode Cc or Cf) in any part of a resource makes it read as another
// name, so it is refused, by its code point, without the character itself
// in the answer. Names MongoDB accepts stay accepted otherwise: escaping
// them for chat is the chat layer's job.
func TestNamesWithInvisibleCharactersAreRefused(t *testing.T) {
	for in, want := range map[string]string{
		"prod/Cluster0/sales/ord\u202eers":       "the collection name contains U+202E (an invisible or control character)",
		"prod/Cluster0/sales/\u2066orders\u2069": "the collection name contains U+2066 (an invisible or control character)",
		"prod/Cluster0/sales/or\nders":           "the collection name contains U+000A (an invisible or control character)",
		"prod/Cluster0/sales/or\tders":           "the collection name contains U+0009 (an invisible or control character)",
		"prod/Cluster0/sales/or\x00ders":         "the collection name contains U+0000 (an invisible or control character)",
		"prod/Cluster0/sales/or\u0085ders":       "the collection name contains U+0085 (an invisible or control character)",
		"prod/Cluster0/sales/or\u200dders":       "the collection name contains U+200D (an invisible or control character)",
		"prod/Cluster0/sales/or\xffders":         "the collection name is not valid UTF-8 text",
		"prod/Cluster0/sa\u200bles/orders":       "the database name contains U+200B (an invisible or control character)",
		"prod/Cluster0/sales\x00":                "the database name contains U+0000 (an invisible or control character)",
		"prod/Cluster0/sa\u00adles":              "the database name contains U+00AD (an invisible or control character)",
		"prod/Clus\u200bter0/sales":              "the cluster name contains U+200B (an invisible or control character)",
		"prod/Cluster0\u202e/sales":              "the cluster name contains U+202E (an invisible or control character)",
		"\ufeffprod/Cluster0/sales":              "the integration name contains U+FEFF (an invisible or control character)",
		"pr\x7fod/Cluster0/sales":                "the integration name contains U+007F (an invisible or control character)",
	} {
		_, err := flows.ParseResource(in)
		if flows.ErrorCode(err) != flows.EINVALID || flows.ErrorMessage(err) != want {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
		if hidden := strings.IndexFunc(flows.ErrorMessage(err), invisible); hidden >= 0 {
			t.Errorf("%q: the answer repeats an invisible character: %q", in, flows.ErrorMessage(err))
		}
	}
	// Validate refuses the same in a resource built field by field (a form).
	r := flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "ord\u202eers"}
	if err := r.Validate(); flows.ErrorMessage(err) != "the collection name contains U+202E (an invisible or control character)" {
		t.Errorf("Validate: %v", err)
	}
	for _, ok := range []string{
		"prod/Cluster0/sales/<!channel>", "prod/Cluster0/ventes/commandes-été", "prod/Cluster0/sales/注文",
		"prod/Cluster0/sales/a b", "prod/Cluster0/sales/*bold*", "prod/Cluster0/sales/orders\n", // surrounding space is trimmed
	} {
		if _, err := flows.ParseResource(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// invisible reports a control or format character, or a byte that is not UTF-8.
func invisible(c rune) bool {
	return c == utf8.RuneError || unicode.Is(unicode.Cc, c) || unicode.Is(unicode.Cf, c)
}
