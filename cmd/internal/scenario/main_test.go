package scenario

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// jitbotExe is the jitbot binary the tests run as `jitbot serve` (kill -9,
// SIGTERM, a process's own heap): the real command, built by TestMain
// unless -short skips every test that needs it. Set before any test runs,
// read only afterwards.
var jitbotExe string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(withJitbot(m))
}

// withJitbot builds jitbot (with the race detector when the tests run
// under it, as the test binary did when it played jitbot), runs the tests
// and removes the build.
func withJitbot(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jitbot-scenario-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if jitbotExe, err = rig.BuildJitbot(context.Background(), dir, raceEnabled); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
