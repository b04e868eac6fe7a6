package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// With admin_listen, the admin API and /metrics leave the port that faces
// Slack and Teams: there they are not found, on the admin port they work.
// The probes answer on both, and name only the part that is down.
func TestAdminListenSeparatesTheAdminAPI(t *testing.T) {
	h := rigtest.New(t, nil)
	h.EditConfig("listen: \"127.0.0.1:0\"\n", "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n")
	h.Start()
	if h.Main.AdminAddr() == h.Addr() {
		t.Fatalf("admin API on the public address %s", h.Addr())
	}
	public, admin := "http://"+h.Addr(), "http://"+h.Main.AdminAddr()
	const token = rig.AdminToken
	for _, path := range []string{"/admin/grants", "/admin/audit/verify", "/metrics"} {
		if code, body := get(t, public+path, token); code != http.StatusNotFound {
			t.Errorf("public %s: %d %s", path, code, body)
		}
	}
	if code, body := get(t, admin+"/admin/grants?state=all", token); code != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(body), "[") {
		t.Errorf("admin grants: %d %s", code, body)
	}
	if code, _ := get(t, admin+"/admin/grants", "wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("admin grants with a wrong token: %d", code)
	}
	if code, body := get(t, admin+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "jitbot_requests") {
		t.Errorf("admin metrics: %d", code)
	}
	for _, base := range []string{public, admin} {
		if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
			t.Errorf("%s/healthz: %d", base, code)
		}
	}
}
