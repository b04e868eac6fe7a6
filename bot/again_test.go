package bot

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestPrefillFor: the form is filled in on the choice that covers the old
// target most closely, with what was typed beside it.
func TestPrefillFor(t *testing.T) {
	res := func(s string) flows.Resource {
		r, err := flows.ParseResource(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cluster := flows.Choice{Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0"}, Roles: []string{"read"}, MaxDuration: 4 * time.Hour}
	db := flows.Choice{Resource: res("prod/Cluster0/sales"), Roles: []string{"read", "readWrite"}, MaxDuration: 8 * time.Hour}
	coll := flows.Choice{Resource: res("prod/Cluster0/sales/orders"), Roles: []string{"read"}, MaxDuration: 8 * time.Hour}
	network := flows.Choice{Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod"}, Roles: []string{"connect"}, AskAddress: true, MaxDuration: time.Hour}
	in := func(kind flows.Kind, target string, role string, d time.Duration) flows.SubmitInput {
		r := res("prod/Cluster0/x")
		if target != "" {
			r = res(target)
		}
		return flows.SubmitInput{Kind: kind, Resource: r, Roles: []string{role}, Duration: d, Reason: "INC-1"}
	}
	tests := []struct {
		name    string
		choices []flows.Choice
		in      flows.SubmitInput
		choice  string
		values  map[string]string
	}{
		{"the collection itself", []flows.Choice{cluster, db, coll}, in("", "prod/Cluster0/sales/orders", "read", 2*time.Hour),
			"database_user:prod/Cluster0/sales/orders", map[string]string{FieldRole: "read", FieldDuration: "2h", FieldReason: "INC-1"}},
		{"its database, narrowed", []flows.Choice{cluster, db}, in("", "prod/Cluster0/sales/orders", "read", 2*time.Hour),
			"database_user:prod/Cluster0/sales", map[string]string{FieldCollection: "orders", FieldRole: "read", FieldDuration: "2h", FieldReason: "INC-1"}},
		{"any database of the cluster, named; a duration now too long is left to the default", []flows.Choice{cluster}, in("", "prod/Cluster0/sales/orders", "read", 8*time.Hour),
			"database_user:prod/Cluster0/*", map[string]string{FieldDatabase: "sales", FieldCollection: "orders", FieldRole: "read", FieldReason: "INC-1"}},
		{"a role the choice does not offer", []flows.Choice{cluster, db}, in("", "prod/Cluster0/sales/orders", "readWrite", time.Hour),
			"database_user:prod/Cluster0/sales", map[string]string{FieldCollection: "orders", FieldRole: "readWrite", FieldDuration: "1h", FieldReason: "INC-1"}},
		{"network access: the address", []flows.Choice{db, network},
			flows.SubmitInput{Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod", Address: "203.0.113.7/32"}, Roles: []string{"connect"}, Duration: time.Hour},
			"access_list_entry:prod", map[string]string{FieldAddress: "203.0.113.7/32", FieldRole: "connect", FieldDuration: "1h"}},
		{"nothing covers it", []flows.Choice{coll}, in("", "prod/Cluster0/hr", "read", time.Hour), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PrefillFor(tt.choices, tt.in)
			if ok != (tt.choice != "") || p.Selection.Choice != tt.choice || len(p.Values) != len(tt.values) {
				t.Fatalf("prefill %+v %v, want %s %v", p, ok, tt.choice, tt.values)
			}
			for k, v := range tt.values {
				if p.Values[k] != v {
					t.Fatalf("%s = %q, want %q (%v)", k, p.Values[k], v, p.Values)
				}
			}
		})
	}
}
