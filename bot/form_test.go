package bot

import (
	"slices"
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
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read", "readWrite"}, DefaultDuration: 30 * time.Minute, MaxDuration: 2 * time.Hour,
	}
	anyDB := flows.Choice{
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster1"},
		Roles:    []string{"read"}, DefaultDuration: time.Hour, MaxDuration: 3 * time.Hour, RequireReason: true,
	}
	f := NewForm([]flows.Choice{orders})
	if !slices.Equal(f.Roles, []string{"read", "readWrite"}) || f.Default != 30*time.Minute || f.ReasonRequired || f.AskDatabase || f.AskCollection {
		t.Errorf("one collection: %+v", f)
	}
	f = NewForm([]flows.Choice{orders, anyDB})
	if !slices.Equal(f.Roles, []string{"read", "readWrite"}) || f.Default != 30*time.Minute || !f.ReasonRequired || !f.AskDatabase || !f.AskCollection ||
		f.Durations[len(f.Durations)-1] != 3*time.Hour {
		t.Errorf("with any database: %+v", f)
	}
	if v, l := ChoiceValue(anyDB), ChoiceLabel(anyDB); v != "prod/Cluster1/"+AnyDatabase || l != "any database (type its name below)" {
		t.Errorf("any database: %q %q", v, l)
	}
	if v, l := ChoiceValue(orders), ChoiceLabel(orders); v != "prod/Cluster0/sales/orders" || l != "sales.orders" {
		t.Errorf("orders: %q %q", v, l)
	}
}
