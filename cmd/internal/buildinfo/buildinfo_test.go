package buildinfo

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"testing"
)

func TestRead(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jitbot/jitbot", Version: "v0.0.0-20261205000000-4b74757abcde+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4b74757abcdef"}, {Key: "vcs.modified", Value: "true"}}}
	devel := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jitbot/jitbot", Version: "(devel)"}}
	tests := []struct {
		name              string
		version, revision string
		bi                *debug.BuildInfo
		want              Info
	}{
		{"release build (ldflags)", "v1.2.0", "0123abcd", devel, Info{Version: "v1.2.0", Revision: "0123abcd", GoVersion: "go1.26.8"}},
		{"source build with VCS stamping", "", "", stamped,
			Info{Version: "v0.0.0-20261205000000-4b74757abcde+dirty", Revision: "4b74757abcdef", Modified: true, GoVersion: "go1.26.8"}},
		{"ldflags over the stamp", "v1.2.0", "0123abcd", stamped, Info{Version: "v1.2.0", Revision: "0123abcd", GoVersion: "go1.26.8"}},
		{"ldflags naming the stamped revision", "v1.2.0", "4b74757abcdef", stamped, Info{Version: "v1.2.0", Revision: "4b74757abcdef", Modified: true, GoVersion: "go1.26.8"}},
		{"-buildvcs=false and no ldflags", "", "", devel, Info{Version: "dev", Revision: "unknown", GoVersion: "go1.26.8"}},
		{"no build information", "", "", nil, Info{Version: "dev", Revision: "unknown", GoVersion: "unknown"}},
	}
	for _, tt := range tests {
		if got := read(tt.version, tt.revision, tt.bi); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// The -X flags the Dockerfile passes land: a program linked with them
// reports them.
func TestLinkerFlagsSetTheVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	if p := reflect.TypeFor[Info]().PkgPath(); p != Path {
		t.Fatalf("Path is %q, the package is %q", Path, p)
	}
	exe := filepath.Join(t.TempDir(), "printinfo")
	build := exec.Command("go", "build", "-o", exe, "-ldflags", "-X "+Path+".version=v9.8.7 -X "+Path+".revision=feedface", "./testdata/printinfo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Version != "v9.8.7" || got.Revision != "feedface" || got.GoVersion == "" {
		t.Fatalf("%+v", got)
	}
}
