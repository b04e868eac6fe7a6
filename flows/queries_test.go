package flows_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestOptionsOfferOnlyWhatTheFlowsAllow(t *testing.T) {
	f := newFixture(t)
	describe := func(who string) []string {
		chs, err := f.svc.Options(f.ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range chs {
			out = append(out, c.Resource.String()+" "+strings.Join(c.Roles, ",")+" max "+flows.FormatDuration(c.MaxDuration))
		}
		return out
	}
	carol := describe("carol@example.com")
	want := []string{"prod/Cluster0/sales/customers read max 8h", "prod/Cluster0/sales/orders read max 4h", "prod/Untagged read max 8h"}
	if !slices.Equal(carol, want) {
		t.Fatalf("carol:\n got %q\nwant %q", carol, want)
	}
	alice := describe("alice@example.com")
	want = []string{
		"prod/Cluster0/sales/customers read,readWrite max 8h", "prod/Cluster0/sales/orders read,readWrite max 4h",
		"prod/Untagged read max 8h", "prod/Staging dbAdmin,read,readWrite max 4h",
	}
	if !slices.Equal(alice, want) {
		t.Fatalf("alice:\n got %q\nwant %q", alice, want)
	}
}
