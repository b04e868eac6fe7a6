// Package buildinfo says what this jitbot binary is: its release and the
// VCS revision it was built from, as `jitbot version`, /healthz and the
// jitbot_build_info metric report them.
//
// A release build sets both at link time:
//
//	go build -ldflags "-X github.com/jitbot/jitbot/cmd/internal/buildinfo.version=v1.2.0 \
//	  -X github.com/jitbot/jitbot/cmd/internal/buildinfo.revision=$(git rev-parse HEAD)" ./cmd/jitbot
//
// (the Dockerfile does, from its VERSION and REVISION build arguments). A
// build without them reports what the Go toolchain stamped into the binary:
// the module version (a pseudo-version from the VCS, or "dev") and
// vcs.revision and vcs.modified, which -buildvcs=false leaves out.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Path is this package's import path, which -ldflags -X names.
const Path = "github.com/jitbot/jitbot/cmd/internal/buildinfo"

// Set with -ldflags "-X <Path>.version=... -X <Path>.revision=...".
var (
	version  string
	revision string
)

// Info is what a binary is.
type Info struct {
	// Version is the release ("v1.2.0"), else the module version Go
	// stamped, else "dev".
	Version string `json:"version"`
	// Revision is the VCS revision (a commit hash), else "unknown".
	Revision string `json:"revision"`
	// Modified says the working tree had uncommitted changes when it was
	// built (from Go's vcs.modified; false when unknown).
	Modified bool `json:"modified"`
	// GoVersion is the Go release that built it.
	GoVersion string `json:"go"`
}

// Read is this binary's Info.
var Read = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return read(version, revision, bi)
})

// read is the Info of a binary linked with version and revision (empty
// when not set) whose Go build information is bi (nil when none).
func read(version, revision string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Revision: revision, GoVersion: "unknown"}
	if bi != nil {
		in.GoVersion = bi.GoVersion
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		vcsRevision, vcsModified := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.modified":
				vcsModified = s.Value == "true"
			}
		}
		if in.Revision == "" {
			in.Revision = vcsRevision
		}
		// What Go says of the tree holds for the revision it read.
		in.Modified = vcsModified && in.Revision == vcsRevision
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	if in.Revision == "" {
		in.Revision = "unknown"
	}
	return in
}
