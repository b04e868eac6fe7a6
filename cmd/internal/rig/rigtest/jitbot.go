package rigtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// RunWithJitbot is a TestMain's body for tests that run the real jitbot
// binary: it builds it (with the race detector when the tests run under
// it, so a child process is checked as the test binary is), sets *exe to
// its path, runs the tests and removes the build. Under -short nothing is
// built and *exe stays empty: the tests that need it skip (NeedJitbot).
func RunWithJitbot(m *testing.M, exe *string) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "jitbot-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *exe, err = rig.BuildJitbot(context.Background(), dir, Race); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// NeedJitbot skips t under -short, where RunWithJitbot built no binary.
func NeedJitbot(t testing.TB, exe string) {
	t.Helper()
	if exe == "" {
		t.Skip("runs the jitbot binary, which -short does not build")
	}
}
