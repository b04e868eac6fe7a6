package scenario

import (
	"os"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// jitbotExe is the jitbot binary the tests run as `jitbot serve` (kill -9,
// SIGTERM, a process's own heap): the real command, built by TestMain
// unless -short skips every test that needs it. Set before any test runs,
// read only afterwards.
var jitbotExe string

func TestMain(m *testing.M) {
	os.Exit(rigtest.RunWithJitbot(m, &jitbotExe))
}
