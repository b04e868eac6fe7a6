package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/cmd/internal/app"
)

// store runs the store's subcommands: copy.
func (e *env) store(ctx context.Context, args []string) error {
	return e.group("store", args, func(_ string, args []string) error { return e.storeCopy(ctx, args) })
}

// storeCopy moves all of jitbot's state between two stores, with jitbot
// stopped: from bbolt to etcd when going to several replicas, and back.
func (e *env) storeCopy(ctx context.Context, args []string) error {
	fs := e.flagSet("store copy")
	from := fs.String("from", "", "the store to copy: a jitbot.yaml (its store section) or a bbolt file")
	to := fs.String("to", "", "where to copy it: a jitbot.yaml (its store section) or a bbolt file")
	force := fs.Bool("force", false, "replace what the destination holds (a bbolt file is kept as <file>.before-copy; an etcd prefix is emptied)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return cmdUsageErr("store copy", "store copy: -from and -to are required: each a jitbot.yaml or a bbolt file")
	}
	src, err := e.storeEnd(*from)
	if err != nil {
		return err
	}
	dst, err := e.storeEnd(*to)
	if err != nil {
		return err
	}
	rep, err := app.CopyStore(ctx, src, dst, *force)
	switch {
	case errors.Is(err, app.ErrCopyNotEmpty):
		return fmt.Errorf("%v: pass -force to replace what it holds, or name an empty store", err)
	case err != nil:
		return fmt.Errorf("nothing was copied: %w", err)
	}
	counts := make([]string, len(rep.Counts))
	for i, c := range rep.Counts {
		counts[i] = fmt.Sprintf("%d %s", c.N, c.Kind)
	}
	fmt.Fprintf(e.stdout, "copied %s to %s: audit log verified on both sides (%d records, head %s)\n", src, dst, rep.Records, orNone(rep.Head))
	if len(counts) > 0 {
		fmt.Fprintf(e.stdout, "records: %s\n", strings.Join(counts, ", "))
	}
	if rep.Previous != "" {
		fmt.Fprintf(e.stdout, "what the destination held is kept at %s\n", rep.Previous)
	}
	return nil
}

// storeEnd reads one end of a copy: a jitbot.yaml (.yaml, .yml) names the
// store it configures; any other path is a bbolt file.
func (e *env) storeEnd(path string) (app.StoreEnd, error) {
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		return app.StoreEnd{Path: path}, nil
	}
	cfg, err := e.load(path)
	if err != nil {
		return app.StoreEnd{}, err
	}
	return app.StoreEnd{Config: cfg}, nil
}
