package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// TestProfilesBehindTheAdminToken: the Go runtime's profiles are served to
// the admin token only, under /admin/debug/pprof/.
func TestProfilesBehindTheAdminToken(t *testing.T) {
	h := rigtest.New(t, nil)
	h.Start()
	if code, _ := get(t, h.URL("/admin/debug/pprof/heap"), ""); code != http.StatusUnauthorized {
		t.Fatalf("a profile without the token: %d", code)
	}
	if code, _ := get(t, h.URL("/admin/debug/pprof/heap"), "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a profile with a wrong token: %d", code)
	}
	code, body := get(t, h.URL("/admin/debug/pprof/goroutine?debug=1"), rig.AdminToken)
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %d %.200s", code, body)
	}
	code, body = get(t, h.URL("/admin/debug/pprof/"), rig.AdminToken)
	if code != http.StatusOK || !strings.Contains(body, "heap") {
		t.Fatalf("profile index: %d %.200s", code, body)
	}
}
