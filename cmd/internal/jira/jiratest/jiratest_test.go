package jiratest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/jira/jiratest"
)

func get(t *testing.T, s *jiratest.Server, path string, auth func(*http.Request)) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func basic(req *http.Request) { req.SetBasicAuth("bot@example.com", "tok") }

func TestFakeAuth(t *testing.T) {
	s := jiratest.New("bot@example.com", "tok")
	defer s.Close()
	s.Put(jiratest.Issue{Key: "OPS-1"})
	for name, auth := range map[string]func(*http.Request){
		"none":         func(*http.Request) {},
		"wrong token":  func(r *http.Request) { r.SetBasicAuth("bot@example.com", "nope") },
		"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
	} {
		if resp, _ := get(t, s, "/rest/api/3/issue/OPS-1", auth); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	if resp, _ := get(t, s, "/rest/api/3/issue/OPS-1", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }); resp.StatusCode != 200 {
		t.Errorf("bearer: %d", resp.StatusCode)
	}
}

func TestFakeIssueShapes(t *testing.T) {
	s := jiratest.New("bot@example.com", "tok")
	defer s.Close()
	s.Put(jiratest.Issue{Key: "OPS-2", Status: "Done", Category: "done", Resolved: true})
	resp, body := get(t, s, "/rest/api/3/issue/OPS-2?fields=status,project,resolution", basic)
	fields := body["fields"].(map[string]any)
	if resp.StatusCode != 200 || fields["status"].(map[string]any)["statusCategory"].(map[string]any)["key"] != "done" ||
		fields["project"].(map[string]any)["key"] != "OPS" || fields["resolution"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if _, has := fields["summary"]; has {
		t.Fatal("fields not asked for were returned")
	}
	resp, body = get(t, s, "/rest/api/3/issue/OPS-404", basic)
	if resp.StatusCode != http.StatusNotFound || len(body["errorMessages"].([]any)) != 1 {
		t.Fatalf("missing: %d %v", resp.StatusCode, body)
	}
}

func TestFakeThrottles(t *testing.T) {
	s := jiratest.New("bot@example.com", "tok")
	defer s.Close()
	s.Put(jiratest.Issue{Key: "OPS-1"})
	s.Throttle(1)
	if resp, _ := get(t, s, "/rest/api/3/issue/OPS-1", basic); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("%d", resp.StatusCode)
	}
	if resp, _ := get(t, s, "/rest/api/3/issue/OPS-1", basic); resp.StatusCode != 200 {
		t.Fatalf("after: %d", resp.StatusCode)
	}
}
