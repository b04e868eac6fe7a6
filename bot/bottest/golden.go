package bottest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is the -update flag of every test binary that checks golden files.
var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// Golden checks got against the golden file at path, or, when the test runs
// with -update, writes got there. Golden files hold what the platforms send
// (Block Kit, Adaptive Cards), so that a change to it is seen in review.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (run the test with -update if the change is meant):\n%s", path, got)
	}
}
