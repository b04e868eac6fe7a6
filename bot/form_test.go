package bot

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestOfferedDurations(t *testing.T) {
	got := offeredDurations(90*time.Minute, 45*time.Minute)
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, 45 * time.Minute, time.Hour, 90 * time.Minute}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNewForm(t *testing.T) {
	orders := flows.Choice{
		Kind:     flows.KindDatabaseUser,
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read", "readWrite"}, DefaultDuration: 30 * time.Minute, MaxDuration: 2 * time.Hour,
	}
	anyDB := flows.Choice{
		Kind:     flows.KindDatabaseUser,
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster1"},
		Roles:    []string{"read"}, DefaultDuration: time.Hour, MaxDuration: 3 * time.Hour, RequireReason: true,
	}
	org := flows.Choice{Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme"}, Roles: []string{"ORG_READ_ONLY"}, MaxDuration: time.Hour}
	network := flows.Choice{Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod"}, Roles: []string{"connect"}, MaxDuration: time.Hour, AskAddress: true}

	// One resource: chosen at once, with its own roles and durations.
	f := NewForm([]flows.Choice{orders}, Selection{})
	if f.Chosen == nil || !slices.Equal(f.Roles, []string{"read", "readWrite"}) || f.Default != 30*time.Minute || f.ReasonRequired || f.AskDatabase || f.AskCollection {
		t.Errorf("one collection: %+v", f)
	}
	// Several: nothing chosen, so no roles or durations yet.
	all := []flows.Choice{orders, anyDB, org, network}
	f = NewForm(all, Selection{})
	if f.Chosen != nil || len(f.Roles) != 0 || len(f.Durations) != 0 || f.Kind != flows.KindDatabaseUser || len(f.Choices) != 2 || len(f.Kinds) != 3 ||
		f.Kinds[1].Name != "Atlas UI access" || f.Kinds[2].Name != "Network access" {
		t.Errorf("nothing chosen: %+v", f)
	}
	// The resource chosen decides: any database asks for its name, and
	// offers up to its 3h (not orders' 2h).
	f = NewForm(all, Selection{Choice: ChoiceValue(anyDB)})
	if f.Chosen == nil || !slices.Equal(f.Roles, []string{"read"}) || !f.ReasonRequired || !f.AskDatabase || !f.AskCollection ||
		f.Durations[len(f.Durations)-1] != 3*time.Hour || f.AskAddress {
		t.Errorf("any database: %+v", f)
	}
	f = NewForm(all, Selection{Choice: ChoiceValue(orders)})
	if f.Durations[len(f.Durations)-1] != 2*time.Hour || f.AskCollection {
		t.Errorf("orders: %+v", f)
	}
	// A kind with one resource chooses it; network access asks for the address.
	f = NewForm(all, Selection{Kind: flows.KindAccessListEntry})
	if f.Chosen == nil || !f.AskAddress || f.AskDatabase || !slices.Equal(f.Roles, []string{"connect"}) {
		t.Errorf("network access: %+v", f)
	}
	// A selection not offered (gone, or forged) chooses nothing.
	f = NewForm(all, Selection{Choice: "database_user:prod/Secret/admin"})
	if f.Chosen != nil || f.Kind != flows.KindDatabaseUser {
		t.Errorf("forged: %+v", f)
	}
	f = NewForm(all, Selection{Kind: "root_access"})
	if f.Kind != flows.KindDatabaseUser {
		t.Errorf("an unknown kind: %+v", f)
	}

	// A service account asks for the address it will be used from.
	sa := flows.Choice{Kind: flows.KindServiceAccount, Resource: flows.Resource{Integration: "acme", Project: "payments-prod"},
		Roles: []string{"GROUP_READ_ONLY"}, MaxDuration: 12 * time.Hour, AskAddress: true}
	f = NewForm(append(all, sa), Selection{Kind: flows.KindServiceAccount})
	if f.Chosen == nil || !f.AskAddress || f.AskDatabase || len(f.Kinds) != 4 || f.Kinds[3].Name != "Service account" {
		t.Errorf("a service account: %+v", f)
	}

	for _, tt := range []struct {
		ch           flows.Choice
		value, label string
	}{
		{anyDB, "database_user:prod/Cluster1/" + AnyDatabase, "any database (type its name below)"},
		{orders, "database_user:prod/Cluster0/sales/orders", "sales.orders"},
		{org, "atlas_ui:acme", "the organization"},
		{flows.Choice{Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme", Project: "payments-prod"}, Roles: []string{"GROUP_READ_ONLY"}},
			"atlas_ui:acme/payments-prod", "project payments-prod"},
		{network, "access_list_entry:prod", "an address you type below"},
		{sa, "service_account:acme/payments-prod", "project payments-prod"},
	} {
		if v, l := ChoiceValue(tt.ch), ChoiceLabel(tt.ch); v != tt.value || l != tt.label {
			t.Errorf("%+v: %q %q", tt.ch, v, l)
		}
	}
}

func TestParseForm(t *testing.T) {
	ok := func(a FormAnswer, want string) {
		t.Helper()
		cmd, errs := ParseForm(a)
		if errs != nil {
			t.Errorf("%+v: %v", a, errs)
			return
		}
		if got := string(cmd.Kind) + " " + cmd.Resource.String() + " " + flows.FormatRoles(cmd.Roles) + " " + flows.FormatDuration(cmd.Duration); got != want {
			t.Errorf("%+v: got %q, want %q", a, got, want)
		}
	}
	bad := func(a FormAnswer, field, says string) {
		t.Helper()
		_, errs := ParseForm(a)
		if !strings.Contains(errs[field], says) {
			t.Errorf("%+v: want %s to say %q, got %v", a, field, says, errs)
		}
	}
	ok(FormAnswer{Choice: "database_user:prod/Cluster0/*", Database: "sales", Collection: "orders", Role: "read", Duration: "1h"}, " prod/Cluster0/sales/orders read 1h")
	ok(FormAnswer{Choice: "atlas_ui:acme/payments-prod", Role: "GROUP_READ_ONLY", Duration: "2h"}, "atlas_ui acme/payments-prod GROUP_READ_ONLY 2h")
	ok(FormAnswer{Choice: "atlas_ui:acme", Role: "ORG_READ_ONLY", Duration: "2h"}, "atlas_ui acme ORG_READ_ONLY 2h")
	ok(FormAnswer{Choice: "access_list_entry:prod", Address: " 203.0.113.7 ", Role: "connect", Duration: "30m"}, "access_list_entry prod/203.0.113.7/32 connect 30m")

	// A programmatic credential takes the address it is used from.
	ok(FormAnswer{Choice: "service_account:acme/payments-prod", Address: "198.51.100.7", Role: "GROUP_READ_ONLY", Duration: "1h"},
		"service_account acme/payments-prod GROUP_READ_ONLY 1h")
	if cmd, _ := ParseForm(FormAnswer{Choice: "service_account:acme/payments-prod", Address: "198.51.100.7", Role: "GROUP_READ_ONLY", Duration: "1h"}); cmd.Resource.Address != "198.51.100.7/32" {
		t.Errorf("the service account's address: %+v", cmd.Resource)
	}
	ok(FormAnswer{Choice: "api_key:acme", Address: "2001:db8::1", Role: "ORG_READ_ONLY", Duration: "30m"}, "api_key acme/2001:db8::1/128 ORG_READ_ONLY 30m")
	bad(FormAnswer{Choice: "service_account:acme/payments-prod", Role: "GROUP_READ_ONLY", Duration: "1h"}, FieldAddress, "Type the address it will be used from")
	bad(FormAnswer{Choice: "service_account:acme/payments-prod", Address: "0.0.0.0/0", Role: "GROUP_READ_ONLY", Duration: "1h"}, FieldAddress, "every address")
	bad(FormAnswer{Choice: "service_account:acme/payments-prod", Address: "198.51.100.7", Role: "GROUP_OWNER", Duration: "1h"}, FieldRole, "owner role")
	bad(FormAnswer{Choice: "access_list_entry:prod", Address: "203.0.113.300", Role: "connect", Duration: "1h"}, FieldAddress, "is not an IP address")
	bad(FormAnswer{Choice: "access_list_entry:prod", Address: "0.0.0.0/0", Role: "connect", Duration: "1h"}, FieldAddress, "every address")
	bad(FormAnswer{Choice: "access_list_entry:prod", Role: "connect", Duration: "1h"}, FieldAddress, "Type the address")
	bad(FormAnswer{Choice: "atlas_ui:acme/payments-prod", Role: "GROUP_OWNER", Duration: "1h"}, FieldRole, "owner role")
	bad(FormAnswer{Choice: "atlas_ui:acme/payments-prod", Role: "ORG_READ_ONLY", Duration: "1h"}, FieldRole, "organization roles are for the whole organization")
	bad(FormAnswer{Choice: "atlas_ui:acme/payments-prod", Database: "sales", Role: "GROUP_READ_ONLY", Duration: "1h"}, FieldDatabase, "Leave this empty")
	bad(FormAnswer{Choice: "database_user:prod/Cluster0/sales", Role: "GROUP_READ_ONLY", Duration: "1h"}, FieldRole, "GROUP_READ_ONLY")
	bad(FormAnswer{Choice: "database_user:prod/Cluster0/*", Role: "read", Duration: "1h"}, FieldDatabase, "Type the name")
	bad(FormAnswer{Choice: "root_access:prod", Role: "read", Duration: "1h"}, FieldResource, "does not offer that")
	bad(FormAnswer{Choice: "prod/Cluster0/sales", Role: "read", Duration: "1h"}, FieldResource, "does not offer that")
	bad(FormAnswer{Role: "read", Duration: "1h"}, FieldResource, "Choose what")
	bad(FormAnswer{Choice: "atlas_ui:acme/a/b", Role: "GROUP_READ_ONLY", Duration: "1h"}, FieldResource, "want integration/project")
	bad(FormAnswer{Choice: "atlas_ui:acme", Role: "GROUP_READ_ONLY", Duration: "soon"}, FieldDuration, "a number and a unit")
}
