package atlastest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongodb-forks/digest"
	"go.mongodb.org/atlas-sdk/v20250312020/admin"
	"go.mongodb.org/atlas-sdk/v20250312020/auth"
)

const (
	projectID = "5cf5a45a9ccf6400e60981b6"
	otherID   = "6a0000000000000000000001"
	cluster0  = "Cluster0"
)

// fakeClock is a settable Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeT collects the simulator's complaints so tests can assert on them instead of failing.
type fakeT struct {
	mu   sync.Mutex
	errs []string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeT) Errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

// newServer starts a simulator with one project holding Cluster0 (tagged) and Cluster1. With
// opts.T unset, t itself receives the simulator's complaints, so any spec violation fails the
// test.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.T == nil {
		opts.T = t
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	srv.AddProject(projectID, "jitbot-test")
	srv.AddCluster(projectID, Cluster{Name: cluster0, Tags: []Tag{{"owner", "dba@example.com"}, {"env", "prod"}}})
	srv.AddCluster(projectID, Cluster{Name: "Cluster1"})
	return srv
}

func digestClient(t *testing.T, srv *Server, pub, priv string) *admin.APIClient {
	t.Helper()
	c, err := admin.NewClient(admin.UseBaseURL(srv.URL()), admin.UseDigestAuth(pub, priv))
	if err != nil {
		t.Fatalf("admin.NewClient: %v", err)
	}
	return c
}

// oauthClient builds a service-account client the way jitbot must: UseBaseURL first, and an
// http.Client of its own in the context so http.DefaultClient is left alone.
func oauthClient(t *testing.T, srv *Server, id, secret string) *admin.APIClient {
	t.Helper()
	ctx := context.WithValue(context.Background(), auth.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	c, err := admin.NewClient(admin.UseBaseURL(srv.URL()), admin.UseOAuthAuth(ctx, id, secret))
	if err != nil {
		t.Fatalf("admin.NewClient: %v", err)
	}
	return c
}

func defaultClient(t *testing.T, srv *Server) *admin.APIClient {
	return digestClient(t, srv, DefaultPublicKey, DefaultPrivateKey)
}

func newUser(name string) *admin.CloudDatabaseUser {
	u := admin.NewCloudDatabaseUser("admin", projectID, []admin.DatabaseUserRole{{RoleName: "read", DatabaseName: "sales"}}, name)
	u.Password = admin.PtrString("correct horse battery staple")
	return u
}

// apiErr extracts the Atlas error of a failed SDK call.
func apiErr(t *testing.T, err error) *admin.ApiError {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got none")
	}
	e, ok := admin.AsError(err)
	if !ok {
		t.Fatalf("expected an Atlas API error, got %T: %v", err, err)
	}
	return e
}

func wantCode(t *testing.T, err error, status int, code string) *admin.ApiError {
	t.Helper()
	e := apiErr(t, err)
	if e.GetError() != status || e.GetErrorCode() != code {
		t.Fatalf("got %d %s (%s), want %d %s", e.GetError(), e.GetErrorCode(), e.GetDetail(), status, code)
	}
	return e
}

// rawDo sends a hand-built request through the digest transport, for requests the SDK cannot
// express.
func rawDo(t *testing.T, srv *Server, method, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	client := &http.Client{Transport: digest.NewTransport(DefaultPublicKey, DefaultPrivateKey), Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(bytes.TrimSpace(data))
}

func usernames(users []User) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}
