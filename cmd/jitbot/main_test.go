package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
