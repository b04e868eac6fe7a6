package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runBenchCLI(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

// TestBench runs jitbot-bench on one quick scenario (one that needs no
// jitbot binary, so nothing is built) and checks the table and the exit
// status, and refuses bad flags.
func TestBench(t *testing.T) {
	code, out := runBenchCLI("-only", "downtime")
	if code != 0 || !strings.Contains(out, "downtime: 50 grants expire") || !strings.Contains(out, "WHAT") || strings.Contains(out, "BROKEN") ||
		strings.Contains(out, "building jitbot") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{{"-only", "nope"}, {"-runs", "-1"}, {"-bogus"}, {"stray"}} {
		if code, out := runBenchCLI(args...); code != 2 {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	if code, out := runBenchCLI("-help"); code != 0 || !strings.Contains(out, "-jitbot path") {
		t.Errorf("-help: exit %d:\n%s", code, out)
	}
	var buf strings.Builder
	printBench(&buf, benchOptions{}, []benchRow{{"a figure", "1", "< 2", pass}, {"another", "3", "< 2", fail}, {"a note", "x", "", info}})
	if !strings.Contains(buf.String(), "ok") || !strings.Contains(buf.String(), "BROKEN") {
		t.Fatalf("table:\n%s", buf.String())
	}
}
