package main

import (
	"fmt"
	"runtime/debug"

	"github.com/jitbot/jitbot/store"
)

// release is the version the image was built as: the Dockerfile sets it
// with -ldflags "-X main.release=$VERSION". It is never written at run
// time; a source build says "dev" and its VCS revision instead.
var release = "dev"

// version prints what this binary is: its release, the commit and Go it was
// built from, and the store layout it reads and writes, so an operator can
// tell which migrations a start-up will run.
func (e *env) version(args []string) error {
	if err := parseFlags(e.flagSet("version"), args); err != nil {
		return err
	}
	revision, modified, goVersion := "unknown", false, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		revision += " (modified)"
	}
	fmt.Fprintf(e.stdout, "jitbot %s\ncommit %s\n%s\nstore schema version %d\n", release, revision, goVersion, store.SchemaVersion)
	return nil
}
