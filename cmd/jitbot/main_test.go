package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// execEnv makes this test binary behave as the jitbot binary (see
// TestMain), so the CLI's tests can run `jitbot serve` as a real subprocess
// without a build step. (The scenarios run the real binary instead.)
const execEnv = "JITBOT_TEST_EXEC"

// jitbotExe is the jitbot binary as `go build ./cmd/jitbot` makes it, for
// the tests about the binary itself (what it links, how it runs outside the
// source tree); built by TestMain unless -short.
var jitbotExe string

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
		stop()
		os.Exit(code)
	}
	os.Exit(rigtest.RunWithJitbot(m, &jitbotExe))
}
