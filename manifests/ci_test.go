package manifests

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// .ci/run names no registry host: the Go it installs comes from the first
// proxy GOPROXY names, proxy.golang.org when it names none.
func TestCIRunTakesTheProxyFromGOPROXY(t *testing.T) {
	const script = "../.ci/run"
	raw, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "https://proxy.golang.org/golang.org/toolchain") {
		t.Error(".ci/run downloads Go from a host it names instead of GOPROXY's")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run .ci/run with")
	}
	for in, want := range map[string]string{
		"":                                  "https://proxy.golang.org",
		"direct":                            "https://proxy.golang.org",
		"off":                               "https://proxy.golang.org",
		"https://proxy.golang.org,direct":   "https://proxy.golang.org",
		"https://goproxy.example.com/|off":  "https://goproxy.example.com",
		"direct,https://mirror.example/go/": "https://mirror.example/go",
		" https://a.example , direct":       "https://a.example",
		"file:///srv/goproxy":               "file:///srv/goproxy",
	} {
		out, err := exec.Command("bash", script, "--toolchain-proxy", in).Output()
		if err != nil {
			t.Fatalf("GOPROXY=%q: %v", in, err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("GOPROXY=%q: Go from %q, want %q", in, got, want)
		}
	}
}
