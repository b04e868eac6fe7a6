package scenario

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// TestServeSurvivesSIGTERMHalfway runs `jitbot serve` as a real process
// against the simulators, stops it with SIGTERM in the middle of journeys
// (once while waiting for approval, once while Atlas is creating the user),
// restarts it, and checks each journey completes with nothing lost or doubled.
func TestServeSurvivesSIGTERMHalfway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	h := rigtest.New(t, nil)
	srv, addr := h.ServeFresh(jitbotExe)

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9")
	card := h.WaitDM(rig.Olivia, "Approve")
	srv.Stop() // waiting for approval

	srv = h.Serve(jitbotExe, addr)
	h.Click(addr, rig.Olivia, card, "approve:")
	creds := h.WaitDM(rig.Alice, "Password")

	// While the server runs, the CLI goes through its admin API.
	code, out := runJitbot(t, "grants", "list", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("grants list through the admin API: %d %s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if !strings.Contains(creds.AllText(), id) {
		t.Fatalf("grants list shows %s; credentials:\n%s", id, creds.AllText())
	}

	// Second journey: SIGTERM while Atlas is slow to create the user.
	// (Atlas takes 3 seconds to create the user, twice: the transport may retry.)
	h.Atlas.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultLatency, Latency: 3 * time.Second, Times: 2})
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/customers read 1h INC-10")
	card2 := h.WaitDM(rig.Olivia, "customers")
	h.Click(addr, rig.Olivia, card2, "approve:")
	h.WaitCalls("createDatabaseUser", 2)
	srv.Stop()
	h.Atlas.ClearFaults()
	srv = h.Serve(jitbotExe, addr)
	h.Eventually("the interrupted grant completes", func() bool { return h.CountDMs(rig.Alice, "Password") >= 2 })
	// A duplicate of the resumed provisioning would still be at work: let
	// Slack and Atlas go quiet for longer than a sweep interval, so the
	// restarted server's sweeps have had their turn too.
	quiet := func() {
		t.Helper()
		atlasCalls := func() (int64, error) { return int64(len(h.Atlas.Calls())), nil }
		if err := rig.WaitQuiet(h.Ctx, app.SweepInterval+time.Second, time.Minute, h.Slack, atlasCalls); err != nil {
			t.Fatalf("%v:\n%s", err, srv.Logs())
		}
	}
	quiet()
	if n := h.CountDMs(rig.Alice, "Password"); n != 2 {
		t.Fatalf("%d credentials DMs for 2 grants", n)
	}
	if n := len(h.Atlas.Users(rig.Project)); n != 2 {
		t.Fatalf("%d Atlas users for 2 grants", n)
	}

	// Revoke the first grant from Slack and stop for good.
	h.Slash(addr, rig.Alice, "revoke "+id+" done")
	h.WaitDM(rig.Alice, "Access revoked")
	srv.Stop()

	// With the server down the CLI opens the store itself.
	code, out = runJitbot(t, "audit", "verify", "-config", h.ConfigPath)
	if code != 0 || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	code, out = runJitbot(t, "audit", "export", "-config", h.ConfigPath)
	if code != 0 {
		t.Fatalf("audit export: %d %s", code, out)
	}
	var types []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if i := strings.Index(sc.Text(), `"type":"`); i >= 0 {
			types = append(types, strings.SplitN(sc.Text()[i+8:], `"`, 2)[0])
		}
	}
	for _, want := range []string{"submitted", "approved", "activated", "revoking", "revoked"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Fatalf("audit lacks %s: %v", want, types)
		}
	}
	// Over both servers' whole lives, each grant was activated once and
	// its credentials sent once.
	activations := 0
	for _, typ := range types {
		if typ == "activated" {
			activations++
		}
	}
	if activations != 2 {
		t.Fatalf("%d activations in the audit for 2 grants: %v", activations, types)
	}
	// (The revocation took the password out of the first DM: count the
	// posts, not the messages as they are now.)
	posts := 0
	for _, c := range h.Slack.CallsTo("chat.postMessage") {
		if strings.Contains(string(c.Body), "Password") {
			posts++
		}
	}
	if posts != 2 {
		t.Fatalf("%d credentials posted for 2 grants, after the server stopped", posts)
	}
	if n := h.Atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		t.Fatalf("deletes: %d", n)
	}
}

// runJitbot runs the jitbot binary with args and answers its exit status
// and output.
func runJitbot(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(jitbotExe, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}
