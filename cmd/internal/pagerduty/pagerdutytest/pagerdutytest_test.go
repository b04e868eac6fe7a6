package pagerdutytest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/pagerduty/pagerdutytest"
)

func get(t *testing.T, s *pagerdutytest.Server, path, auth string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
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

func TestFakeRefusesWithoutTheTokenHeader(t *testing.T) {
	s := pagerdutytest.New("k1")
	defer s.Close()
	for _, auth := range []string{"", "Bearer k1", "Token token=k2"} {
		resp, body := get(t, s, "/oncalls", auth)
		if resp.StatusCode != http.StatusUnauthorized || body["error"].(map[string]any)["message"] != "Unauthorized" {
			t.Fatalf("auth %q: %d %v", auth, resp.StatusCode, body)
		}
	}
}

func TestFakeFiltersPagesAndIncludesUsers(t *testing.T) {
	s := pagerdutytest.New("k1")
	defer s.Close()
	s.Set(pagerdutytest.Person(1, "a@example.com", "S1"), pagerdutytest.Person(2, "b@example.com", "S1"),
		pagerdutytest.Person(3, "c@example.com", "S2"), pagerdutytest.OnCall{UserID: "P4", Email: "d@example.com", Policy: "PPOLICY", Level: 2})
	resp, body := get(t, s, "/oncalls?schedule_ids[]=S1&limit=1", "Token token=k1")
	if resp.StatusCode != 200 || len(body["oncalls"].([]any)) != 1 || body["more"] != true {
		t.Fatalf("page 1: %v", body)
	}
	user := body["oncalls"].([]any)[0].(map[string]any)["user"].(map[string]any)
	if _, has := user["email"]; has || user["type"] != "user_reference" {
		t.Fatalf("without include[]=users the user is a reference: %v", user)
	}
	_, body = get(t, s, "/oncalls?schedule_ids[]=S1&limit=1&offset=1&include[]=users", "Token token=k1")
	page := body["oncalls"].([]any)
	if len(page) != 1 || body["more"] != false || page[0].(map[string]any)["user"].(map[string]any)["email"] != "b@example.com" {
		t.Fatalf("page 2: %v", body)
	}
	_, body = get(t, s, "/oncalls?escalation_policy_ids[]=PPOLICY&escalation_levels[]=2&include[]=users", "Token token=k1")
	if page := body["oncalls"].([]any); len(page) != 1 || page[0].(map[string]any)["escalation_level"] != float64(2) {
		t.Fatalf("level 2: %v", body)
	}
	if resp, _ := get(t, s, "/oncalls?limit=500", "Token token=k1"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit 500: %d", resp.StatusCode)
	}
}

func TestFakeThrottlesWithRetryAfter(t *testing.T) {
	s := pagerdutytest.New("k1")
	defer s.Close()
	s.Throttle(1)
	resp, _ := get(t, s, "/oncalls", "Token token=k1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := get(t, s, "/oncalls", "Token token=k1"); resp.StatusCode != 200 {
		t.Fatalf("after the throttle: %d", resp.StatusCode)
	}
}
