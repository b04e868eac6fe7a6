package atlastest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

func networkServer(t *testing.T, clock Clock) (*Server, *admin.APIClient) {
	t.Helper()
	srv := newServer(t, Options{Clock: clock, Roles: []string{RoleNetworkAccessManager, RoleReadOnly}})
	return srv, defaultClient(t, srv)
}

func TestAccessListLifecycle(t *testing.T) {
	clock := newFakeClock()
	srv, c := networkServer(t, clock)
	ctx := context.Background()
	api := c.ProjectIPAccessListApi

	after := clock.Now().Add(2 * time.Hour)
	entries := []admin.NetworkPermissionEntry{
		{CidrBlock: admin.PtrString("203.0.113.7/32"), Comment: admin.PtrString("jitbot r1"), DeleteAfterDate: &after},
		{CidrBlock: admin.PtrString("2001:db8:0:0:0:0:0:0/64"), Comment: admin.PtrString("jitbot r2")},
	}
	page, _, err := api.CreateAccessListEntry(ctx, projectID, &entries).Execute()
	if err != nil {
		t.Fatal(err)
	}
	if len(page.GetResults()) != 2 || page.GetResults()[0].GetCidrBlock() != "203.0.113.7/32" || page.GetResults()[0].GetIpAddress() != "203.0.113.7" {
		t.Fatalf("created: %+v", page.GetResults())
	}
	// One entry, however the range is written.
	for _, value := range []string{"203.0.113.7", "203.0.113.7/32"} {
		got, _, err := api.GetAccessListEntry(ctx, projectID, value).Execute()
		if err != nil || !got.GetDeleteAfterDate().Equal(after) || got.GetComment() != "jitbot r1" {
			t.Fatalf("get %s: %+v %v", value, got, err)
		}
	}
	if e, ok := srv.AccessListEntry(projectID, "2001:db8::/64"); !ok || !e.DeleteAfterDate.IsZero() || e.CIDR != "2001:db8::/64" {
		t.Fatalf("IPv6 entry: %+v %v", e, ok)
	}
	st, _, err := api.GetAccessListStatus(ctx, projectID, "203.0.113.7/32").Execute()
	if err != nil || st.GetSTATUS() != "ACTIVE" {
		t.Fatalf("status: %+v %v", st, err)
	}

	// A POST of an entry that exists replaces its comment and date.
	later := clock.Now().Add(5 * time.Hour)
	again := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString("203.0.113.7/32"), Comment: admin.PtrString("jitbot r3"), DeleteAfterDate: &later}}
	if _, _, err := api.CreateAccessListEntry(ctx, projectID, &again).Execute(); err != nil {
		t.Fatal(err)
	}
	if e, _ := srv.AccessListEntry(projectID, "203.0.113.7"); !e.DeleteAfterDate.Equal(later) || e.Comment != "jitbot r3" || e.Writes != 2 || len(srv.AccessList(projectID)) != 2 {
		t.Fatalf("upsert: %+v", e)
	}

	// More than a week ahead is refused; so is a date in the past.
	tooFar := clock.Now().Add(8 * 24 * time.Hour)
	far := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString("198.51.100.0/24"), DeleteAfterDate: &tooFar}}
	_, _, err = api.CreateAccessListEntry(ctx, projectID, &far).Execute()
	wantCode(t, err, http.StatusBadRequest, "INVALID_ATTRIBUTE")
	// Host bits set, or not an address at all.
	for _, bad := range []string{"198.51.100.7/24", "198.51.100.300/32"} {
		e := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString(bad)}}
		_, _, err = api.CreateAccessListEntry(ctx, projectID, &e).Execute()
		wantCode(t, err, http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION")
	}

	// The entry vanishes at its deleteAfterDate, on the simulator's clock.
	clock.Advance(5*time.Hour + time.Second)
	_, _, err = api.GetAccessListEntry(ctx, projectID, "203.0.113.7").Execute()
	wantCode(t, err, http.StatusNotFound, "ATLAS_NETWORK_PERMISSION_ENTRY_NOT_FOUND")

	// Delete, then delete again.
	if _, err := api.DeleteAccessListEntry(ctx, projectID, "2001:db8:0:0:0:0:0:0/64").Execute(); err != nil {
		t.Fatal(err)
	}
	_, err = api.DeleteAccessListEntry(ctx, projectID, "2001:db8::/64").Execute()
	wantCode(t, err, http.StatusNotFound, "ATLAS_NETWORK_PERMISSION_ENTRY_NOT_FOUND")
	if l := srv.AccessList(projectID); len(l) != 0 {
		t.Fatalf("left: %+v", l)
	}
	if v := srv.SpecViolations(); len(v) != 0 {
		t.Fatalf("violations: %q", v)
	}
}

func TestAccessListNeedsTheNetworkRole(t *testing.T) {
	srv := newServer(t, Options{})
	entries := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString("203.0.113.7/32")}}
	_, _, err := defaultClient(t, srv).ProjectIPAccessListApi.CreateAccessListEntry(context.Background(), projectID, &entries).Execute()
	wantCode(t, err, http.StatusForbidden, "USER_UNAUTHORIZED")
}

func TestAccessListRefusesConcurrentPosts(t *testing.T) {
	srv, c := networkServer(t, newFakeClock())
	srv.SetAccessListLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, cidr := range []string{"203.0.113.7/32", "203.0.113.8/32"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString(cidr)}}
			_, _, errs[i] = c.ProjectIPAccessListApi.CreateAccessListEntry(context.Background(), projectID, &e).Execute()
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			wantCode(t, err, http.StatusInternalServerError, "UNEXPECTED_ERROR")
			failed++
		}
	}
	if failed != 1 || len(srv.AccessList(projectID)) != 1 {
		t.Fatalf("two overlapping POSTs: %d failed, %d entries", failed, len(srv.AccessList(projectID)))
	}
}

func TestAccessListEntryPendingUntilApplied(t *testing.T) {
	srv := newServer(t, Options{Roles: []string{RoleNetworkAccessManager, RoleReadOnly}, ApplyAfterPolls: 2})
	api := defaultClient(t, srv).ProjectIPAccessListApi
	ctx := context.Background()
	e := []admin.NetworkPermissionEntry{{IpAddress: admin.PtrString("203.0.113.9")}}
	if _, _, err := api.CreateAccessListEntry(ctx, projectID, &e).Execute(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		st, _, err := api.GetAccessListStatus(ctx, projectID, "203.0.113.9").Execute()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st.GetSTATUS())
	}
	if got[0] != "PENDING" || got[1] != "PENDING" || got[2] != "ACTIVE" {
		t.Fatalf("statuses %v", got)
	}
	// An entry put in place by hand is active already.
	if err := srv.AddAccessListEntry(projectID, AccessListEntry{CIDR: "198.51.100.0/24", Comment: "office"}); err != nil {
		t.Fatal(err)
	}
	if st, _, err := api.GetAccessListStatus(ctx, projectID, "198.51.100.0/24").Execute(); err != nil || st.GetSTATUS() != "ACTIVE" {
		t.Fatalf("seeded: %+v %v", st, err)
	}
}
