package atlastest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
)

func TestFaultLatency(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	srv.Inject(Fault{OperationID: "getGroup", Kind: FaultLatency, Latency: 30 * time.Millisecond, Times: 1})

	start := time.Now()
	if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: a loaded machine makes calls slower, never faster.
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("call took %v, want >= 30ms", d)
	}
	if len(srv.PendingFaults()) != 0 {
		t.Fatal("a Times:1 fault is still armed")
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; last.OperationID != "getGroup" || last.Challenge || last.Fault != "latency" || last.Status != 200 {
		t.Fatalf("last call %+v", last)
	}
	// The challenge leg was not delayed: the latency is per API call, not per round trip.
	if first := calls[len(calls)-2]; !first.Challenge || first.Fault != "" {
		t.Fatalf("challenge %+v", first)
	}
	// Times:1 is spent: the next call is not delayed.
	if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err != nil {
		t.Fatal(err)
	}
	calls = srv.Calls()
	if last := calls[len(calls)-1]; last.OperationID != "getGroup" || last.Fault != "" {
		t.Fatalf("call after the fault was spent %+v", last)
	}
}

func TestFaultLatencyRespectsClientDeadline(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	srv.Inject(Fault{Path: "/api/atlas/v2/groups/{groupId}", Kind: FaultLatency, Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	// The delayed handler gives up with its client rather than sleep out the
	// hour: the call is recorded while the server still runs. (The deadline
	// only keeps a broken simulator from hanging the test.)
	deadline := time.Now().Add(30 * time.Second)
	for {
		calls := srv.Calls()
		if last := calls[len(calls)-1]; last.OperationID == "getGroup" && !last.Challenge {
			if last.Fault != "latency" || last.Status != 0 {
				t.Fatalf("the abandoned call %+v, want latency and nothing sent", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delayed handler did not give up when its client did")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseEndsInjectedLatency(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	srv.Inject(Fault{OperationID: "getGroup", Kind: FaultLatency, Latency: time.Hour, Times: 1})
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ProjectsApi.GetGroup(context.Background(), projectID).Execute()
		errc <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.PendingFaults()) != 0 { // consumed when the call reaches it
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the fault")
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for the injected hour")
	}
	if err := <-errc; err == nil {
		t.Fatal("the delayed call succeeded after Close")
	}
}

func TestFaultRateLimited(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	srv.Inject(Fault{Method: http.MethodPost, Path: "/api/atlas/v2/groups/*/databaseUsers", Kind: FaultRateLimited, RetryAfter: 7, Times: 1})

	// Other operations are untouched.
	if _, _, err := c.DatabaseUsersApi.ListDatabaseUsers(ctx, projectID).Execute(); err != nil {
		t.Fatal(err)
	}
	_, resp, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-429")).Execute()
	wantCode(t, err, http.StatusTooManyRequests, "RATE_LIMITED")
	if resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if _, ok := srv.User(projectID, "jit-429"); ok {
		t.Fatal("a rate-limited create took effect")
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-429")).Execute(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := srv.CountCalls("createDatabaseUser"); n != 2 {
		t.Fatalf("CountCalls = %d, want 2 (the rejected call counts)", n)
	}
}

func TestFaultServerErrors(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()

	srv.Inject(Fault{OperationID: "deleteDatabaseUser", Kind: FaultServerError, Times: 1})
	_, err := c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "nobody").Execute()
	wantCode(t, err, http.StatusInternalServerError, "UNEXPECTED_ERROR")

	srv.Inject(Fault{OperationID: "deleteDatabaseUser", Kind: FaultUnavailable, RetryAfter: 3, Times: 1})
	resp, err := c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "nobody").Execute()
	wantCode(t, err, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}

	// Faults spent, the call reaches the handler.
	_, err = c.DatabaseUsersApi.DeleteDatabaseUser(ctx, projectID, "admin", "nobody").Execute()
	wantCode(t, err, http.StatusNotFound, "USERNAME_NOT_FOUND")
}

func TestFaultUntilCleared(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()
	srv.Inject(Fault{OperationID: "getClusterStatus", Kind: FaultUnavailable})
	for range 3 {
		_, _, err := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute()
		wantCode(t, err, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	srv.ClearFaults()
	if _, _, err := c.ClustersApi.GetClusterStatus(ctx, projectID, cluster0).Execute(); err != nil {
		t.Fatal(err)
	}
}

func TestFaultDropConnection(t *testing.T) {
	srv := newServer(t, Options{})
	c := defaultClient(t, srv)
	ctx := context.Background()

	srv.Inject(Fault{OperationID: "createDatabaseUser", Kind: FaultDrop, Times: 1})
	_, resp, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-drop")).Execute()
	if err == nil {
		t.Fatal("dropped POST succeeded")
	}
	if _, isAPI := admin.AsError(err); isAPI || resp != nil {
		t.Fatalf("want a transport error, got %v (response %v)", err, resp)
	}
	if _, ok := srv.User(projectID, "jit-drop"); ok {
		t.Fatal("dropped create took effect")
	}
	calls := srv.Calls()
	if last := calls[len(calls)-1]; last.Fault != "drop" || last.Status != 0 {
		t.Fatalf("last call %+v", last)
	}
	if _, _, err := c.DatabaseUsersApi.CreateDatabaseUser(ctx, projectID, newUser("jit-drop")).Execute(); err != nil {
		t.Fatalf("after the drop: %v", err)
	}

	// A GET is replayable: Go's transport retries it once on a reused connection, so a single
	// drop is invisible and two are needed to make it fail.
	srv.Inject(Fault{OperationID: "getGroup", Kind: FaultDrop, Times: 2})
	if _, _, err := c.ProjectsApi.GetGroup(ctx, projectID).Execute(); err == nil {
		t.Fatal("GET survived two drops")
	}
}

func TestRateLimiterTokenBucket(t *testing.T) {
	clock := newFakeClock()
	srv := newServer(t, Options{Clock: clock})
	srv.AddProject(otherID, "other")
	srv.SetRateLimit(3, 1, 10*time.Second)
	c := defaultClient(t, srv)
	ctx := context.Background()
	list := func(group string) (*http.Response, error) {
		_, resp, err := c.DatabaseUsersApi.ListDatabaseUsers(ctx, group).Execute()
		return resp, err
	}

	for want := 2; want >= 0; want-- {
		resp, err := list(projectID)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(want) {
			t.Fatalf("headers %v", resp.Header)
		}
	}
	resp, err := list(projectID)
	e := wantCode(t, err, http.StatusTooManyRequests, "RATE_LIMITED_TOKEN_BUCKET")
	if resp.Header.Get("Retry-After") != "10" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("headers %v", resp.Header)
	}
	want := "Rate limit exceeded for api/atlas/v2/groups/" + projectID + "/databaseUsers. Please retry after 10 seconds. Request capacity: 3. Refill rate: 1 per 10 seconds."
	if e.GetDetail() != want {
		t.Fatalf("detail %q", e.GetDetail())
	}

	// Buckets are per project, and clusters are another endpoint set.
	if _, err := list(otherID); err != nil {
		t.Fatalf("other project limited: %v", err)
	}
	if _, _, err := c.ClustersApi.ListClusters(ctx, projectID).Execute(); err != nil {
		t.Fatalf("clusters limited: %v", err)
	}

	clock.Advance(4 * time.Second)
	resp, err = list(projectID)
	wantCode(t, err, http.StatusTooManyRequests, "RATE_LIMITED_TOKEN_BUCKET")
	if resp.Header.Get("Retry-After") != "6" {
		t.Fatalf("Retry-After %q, want 6", resp.Header.Get("Retry-After"))
	}
	clock.Advance(6 * time.Second)
	if resp, err = list(projectID); err != nil || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("after refill: %v %v", err, resp.Header)
	}
	// A long pause refills to capacity, not beyond.
	clock.Advance(time.Hour)
	if resp, err = list(projectID); err != nil || resp.Header.Get("RateLimit-Remaining") != "2" {
		t.Fatalf("after an hour: %v %v", err, resp.Header)
	}

	srv.SetRateLimit(0, 0, 0)
	for range 5 {
		if _, err := list(projectID); err != nil {
			t.Fatalf("limiter off: %v", err)
		}
	}
}

func TestFaultOnTokenEndpointOnlyWhenNamed(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := context.Background()

	// A catch-all fault fails the API call, not the token fetch before it.
	srv.Inject(Fault{Kind: FaultServerError, Times: 1})
	_, _, err := oauthClient(t, srv, DefaultClientID, DefaultClientSecret).ProjectsApi.GetGroup(ctx, projectID).Execute()
	wantCode(t, err, http.StatusInternalServerError, "UNEXPECTED_ERROR")
	if srv.TokensIssued() != 1 {
		t.Fatalf("TokensIssued = %d", srv.TokensIssued())
	}

	srv.Inject(Fault{OperationID: "oauthToken", Kind: FaultUnavailable, Times: 1})
	_, _, err = oauthClient(t, srv, DefaultClientID, DefaultClientSecret).ProjectsApi.GetGroup(ctx, projectID).Execute()
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("token fetch through a 503: %v", err)
	}
	if srv.TokensIssued() != 1 {
		t.Fatalf("TokensIssued = %d, the faulted fetch issued one", srv.TokensIssued())
	}
}
