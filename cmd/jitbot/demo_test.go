package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs the main job as `jitbot demo` would and checks every step happened.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	code := cli(context.Background(), []string{"demo"}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 0 || !strings.Contains(out.String(), "RESULT: all 10 steps happened.") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "(hidden in this transcript)") {
		t.Fatal("the transcript must not print the password")
	}
}
