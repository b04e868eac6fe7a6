package main

import (
	"fmt"

	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
	"github.com/jitbot/jitbot/store"
)

// version prints what this binary is: its release, the VCS revision and Go
// it was built from (cmd/internal/buildinfo: set at link time by a release
// build, else what Go stamped), and the store layout it reads and writes,
// so an operator can tell which migrations a start-up will run.
func (e *env) version(args []string) error {
	if err := parseFlags(e.flagSet("version"), args); err != nil {
		return err
	}
	in := buildinfo.Read()
	revision := in.Revision
	if in.Modified {
		revision += " (modified)"
	}
	fmt.Fprintf(e.stdout, "jitbot %s\ncommit %s\n%s\nstore schema version %d\n", in.Version, revision, in.GoVersion, store.SchemaVersion)
	return nil
}
