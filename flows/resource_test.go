package flows_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

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
		{in: "prod/Cluster0/sales/orders/x", wantErr: "want integration/cluster/database"},
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
	creds := flows.Credentials{Username: "u", Password: s}
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
