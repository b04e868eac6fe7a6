package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
	"github.com/jitbot/jitbot/store"
)

func TestVersion(t *testing.T) {
	in := buildinfo.Read()
	code, out := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "jitbot "+in.Version+"\ncommit "+in.Revision) || !strings.Contains(out, "\n"+in.GoVersion+"\n") ||
		!strings.Contains(out, fmt.Sprintf("store schema version %d\n", store.SchemaVersion)) {
		t.Fatalf("version: %d\n%s", code, out)
	}
	if code, alias := runCLI("--version"); code != 0 || alias != out {
		t.Fatalf("--version: %d\n%s", code, alias)
	}
	if code, out := runCLI("version", "extra"); code != 2 || !strings.Contains(out, "version takes no arguments") {
		t.Fatalf("version with an argument: %d\n%s", code, out)
	}
	if code, out := runCLI("help"); code != 0 || !strings.Contains(out, "jitbot version") {
		t.Fatalf("help does not list version: %d\n%s", code, out)
	}
}
