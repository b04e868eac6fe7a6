package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent snapshot of the store to w while it serves:
// bbolt's hot backup, the whole file as of one read transaction, so
// writers go on meanwhile and the copy is the store as of one commit (its
// audit chain whole). It returns the bytes written: the file's size as of
// that transaction when err is nil. A snapshot is a store file: Open it, or
// Restore it.
func (d *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := d.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// Snapshot is what VerifySnapshot found in a store file.
type Snapshot struct {
	// Version is its schema version (SchemaVersion or earlier: a later one
	// is refused; an earlier one is migrated by the next writable Open).
	Version int
	// Records and Head are its audit chain's length and last hash.
	Records uint64
	Head    string
	// Size is the file's size in bytes.
	Size int64
}

// VerifySnapshot opens the store file at path read-only and proves it is
// one jitbot can run on: a jitbot store of this schema version or an
// earlier one, whose pages bbolt finds consistent and whose audit chain is
// whole from its first record to the head the store recorded. It changes
// nothing.
func VerifySnapshot(ctx context.Context, path string) (snap Snapshot, err error) {
	// A damaged file can make bbolt panic, or fault on a page it maps:
	// either is this file's error, not the process's end.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: %s is damaged: %v", path, r)
		}
	}()
	fi, err := os.Stat(path)
	if err != nil {
		return snap, fmt.Errorf("store: %w", err)
	}
	snap.Size = fi.Size()
	if err := wholeFile(path); err != nil {
		return snap, err
	}
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return snap, err
	}
	defer db.Close()
	snap.Version = db.Version()
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		// A read-only open: no writer runs, so the check can use the
		// read-only transaction's cheap path.
		// Drained to the end: the check runs in the transaction.
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		return snap, fmt.Errorf("store: %s is damaged: %w", path, err)
	}
	sum, err := db.VerifyAudit(ctx)
	if err != nil {
		return snap, fmt.Errorf("store: %s: the audit chain does not verify: %w", path, err)
	}
	snap.Records, snap.Head = sum.Records, sum.Head
	return snap, nil
}

// wholeFile refuses a file shorter than its bbolt meta page says it is:
// bbolt maps the file and reads the pages the meta names, and reading a
// page past the end of a truncated file is a SIGBUS that kills the
// process, not an error. It reads the two meta pages as bbolt does
// (go.etcd.io/bbolt/internal/common: a 16-byte page header, then magic,
// version, page size, flags, root bucket, freelist, high-water mark, txid
// and an FNV-64a checksum, in the machine's byte order) and takes the
// valid one of the latest transaction.
func wholeFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	buf := make([]byte, 128<<10)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("store: read %s: %w", path, err)
	}
	buf = buf[:n]
	const header, magic, version = 16, 0xED0CDAED, 2
	type meta struct{ pageSize, hwm, txid uint64 }
	read := func(off int) (meta, bool) {
		if off+header+64 > len(buf) {
			return meta{}, false
		}
		m := buf[off+header : off+header+64]
		ne := binary.NativeEndian
		sum := fnv.New64a()
		_, _ = sum.Write(m[:56])
		if ne.Uint32(m[0:]) != magic || ne.Uint32(m[4:]) != version || ne.Uint64(m[56:]) != sum.Sum64() {
			return meta{}, false
		}
		return meta{pageSize: uint64(ne.Uint32(m[8:])), hwm: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
	}
	best, ok := read(0)
	sizes := []int{4096, 8192, 16384, 32768, 65536}
	if ok {
		sizes = []int{int(best.pageSize)}
	}
	for _, ps := range sizes {
		if m, valid := read(ps); valid && (!ok || m.txid > best.txid) {
			best, ok = m, true
		}
	}
	if !ok {
		return fmt.Errorf("store: %s is not a bbolt file (no valid meta page)", path)
	}
	if need := best.hwm * best.pageSize; uint64(fi.Size()) < need {
		return fmt.Errorf("store: %s is truncated: %d bytes, where its pages take %d", path, fi.Size(), need)
	}
	return nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force replaces a store already at the destination (kept as
	// <path>.before-restore). Without it, Restore refuses.
	Force bool
	// LockTimeout is how long to wait for another process to let go of
	// the store there (1s), before failing with ErrLocked.
	LockTimeout time.Duration
}

// Restored is what Restore did.
type Restored struct {
	Snapshot
	// Previous is where the store that was at the destination is kept
	// (empty when there was none).
	Previous string
}

// ErrStoreExists says Restore found a store at its destination and was
// not told to replace it.
var ErrStoreExists = errors.New("a store is already there")

// BeforeRestore is where Restore keeps the store it replaces.
func BeforeRestore(path string) string { return path + ".before-restore" }

// Restore puts the snapshot src (a file Backup wrote) in place of the
// store at path, which no process may hold: it takes the store's lock
// first (ErrLocked while a jitbot runs on it). It verifies src
// (VerifySnapshot: schema version, pages, audit chain), copies it beside
// path, syncs and verifies the copy, and only then renames it into place, so path is always
// either the old store or the whole new one. A store already at path is
// refused (ErrStoreExists) unless opts.Force, and then kept as
// BeforeRestore(path); if that file exists too, Restore refuses rather than
// overwrite it.
func Restore(ctx context.Context, src, path string, opts RestoreOptions) (Restored, error) {
	var res Restored
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	before := BeforeRestore(path)
	_, err := os.Lstat(path)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return res, fmt.Errorf("store: %w", err)
	case exists && !opts.Force:
		return res, fmt.Errorf("store: restore to %s: %w (replace it with force: it is kept as %s)", path, ErrStoreExists, before)
	case exists:
		if _, err := os.Lstat(before); err == nil {
			return res, fmt.Errorf("store: restore to %s: %s exists from an earlier restore: move it away first", path, before)
		}
	}

	if exists {
		// bbolt's lock is the store's: a running jitbot holds it.
		held, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return res, fmt.Errorf("store: restore to %s: %w", path, ErrLocked)
		case err == nil:
			defer held.Close()
		}
		// Any other error is a file bbolt cannot read (the reason to
		// restore, maybe): it locked and let go of it, so nobody holds it.
	}

	if _, err := VerifySnapshot(ctx, src); err != nil {
		return res, err
	}
	tmp, err := copyBeside(src, path)
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp) // after the rename, nothing is there
	// What goes in place is the copy: it is verified too.
	if res.Snapshot, err = VerifySnapshot(ctx, tmp); err != nil {
		return res, fmt.Errorf("store: the copy of %s does not verify: %w", src, err)
	}

	if exists {
		// The old store keeps its name until the new one takes it: a link
		// under the new name, then the rename over it.
		if err := os.Link(path, before); err != nil {
			if errors.Is(err, os.ErrExist) {
				return res, fmt.Errorf("store: restore to %s: %s exists from an earlier restore: move it away first", path, before)
			}
			// No hard links on this file system: move it aside instead.
			if err := os.Rename(path, before); err != nil {
				return res, fmt.Errorf("store: keep the old store: %w", err)
			}
		}
		res.Previous = before
		if err := os.Rename(tmp, path); err != nil {
			return res, fmt.Errorf("store: put the snapshot in place (the old store is at %s): %w", before, err)
		}
	} else if err := os.Link(tmp, path); err != nil {
		// Link, not rename: it fails if a store appeared there meanwhile.
		return res, fmt.Errorf("store: put the snapshot in place: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return res, err
	}
	return res, nil
}

// copyBeside copies src to a new file in dst's directory, synced and
// private, and returns its path.
func copyBeside(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o600)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("store: copy %s: %w", src, err)
	}
	return out.Name(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
