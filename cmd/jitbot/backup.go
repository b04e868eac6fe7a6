package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/store"
)

// backup takes a consistent snapshot of the store: through the running
// server's admin API (GET /admin/backup, while it serves), else from the
// store itself. To a file, it writes a temporary file beside it, syncs it,
// verifies it (schema version, pages, audit chain) and only then renames
// it into place, so the file named is always a whole backup.
func (e *env) backup(ctx context.Context, args []string) error {
	fs, path := e.flags("backup")
	out := fs.String("o", "", "the file to write (replaced if it exists), or - for stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return cmdUsageErr("backup", "backup: -o is required: the file to write, or - for stdout")
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	c, err := e.server(ctx, cfg)
	if err != nil {
		return err
	}
	from := "from the running server"
	take := func(w io.Writer) (int64, error) {
		if c != nil {
			return c.Backup(ctx, w)
		}
		from = "from the store (no server runs)"
		db, err := e.openStore(cfg, true)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		return db.Backup(w)
	}

	if *out == "-" {
		// A pipe cannot be verified or taken back: it gets what the server
		// sent, checked for size and SHA-256 on the way.
		n, err := take(e.stdout)
		if err != nil {
			return fmt.Errorf("%v (what was written to stdout is not a whole backup)", err)
		}
		fmt.Fprintf(e.stderr, "jitbot: backup of %s written to stdout %s: %d bytes\n", cfg.StorePath, from, n)
		return nil
	}

	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // nothing is there once renamed
	_, err = take(tmp)
	if err == nil {
		err = tmp.Chmod(0o600) // it holds everything the store does
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup of %s: %w", cfg.StorePath, err)
	}
	info, err := app.VerifyBackup(ctx, tmp.Name())
	if err != nil {
		return fmt.Errorf("the backup does not verify, so %s was not written: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup of %s written to %s %s: %d bytes, schema version %d, audit log verified (%d records, head %s)\n",
		cfg.StorePath, *out, from, info.Size, info.SchemaVersion, info.Records, orNone(info.Head))
	return nil
}

// restore puts a backup in place of the store, with jitbot stopped.
func (e *env) restore(ctx context.Context, args []string) error {
	fs, path := e.flags("restore")
	in := fs.String("i", "", "the backup to restore (a file jitbot backup wrote)")
	force := fs.Bool("force", false, "replace the store already there (it is kept as <store>.before-restore)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return cmdUsageErr("restore", "restore: -i is required: the backup to restore")
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	info, err := app.RestoreBackend(ctx, cfg, *in, *force)
	switch {
	case errors.Is(err, app.ErrBackendLocked):
		return fmt.Errorf("the store at %s is in use: stop jitbot (scale its Deployment to 0) before a restore", cfg.StorePath)
	case errors.Is(err, app.ErrBackendExists):
		return fmt.Errorf("a store is already at %s: pass -force to replace it (it is kept as %s)", cfg.StorePath, app.KeptBeforeRestore(cfg))
	case err != nil:
		return fmt.Errorf("nothing was restored: %w", err)
	}
	fmt.Fprintf(e.stdout, "restored %s to %s: %d bytes, schema version %d, audit log verified (%d records, head %s)\n",
		*in, cfg.StorePath, info.Size, info.SchemaVersion, info.Records, orNone(info.Head))
	if info.Previous != "" {
		fmt.Fprintf(e.stdout, "the store it replaced is kept at %s\n", info.Previous)
	}
	if info.SchemaVersion < store.SchemaVersion {
		fmt.Fprintf(e.stdout, "jitbot serve migrates it to schema version %d when it starts\n", store.SchemaVersion)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
