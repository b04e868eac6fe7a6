package storecopy

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/internal/record"
)

// Store is a store as a copy reads it.
type Store interface {
	Export(ctx context.Context, fn func(record.Piece) error) error
	VerifyAudit(ctx context.Context) (flows.AuditSummary, error)
}

// Destination is a store a copy writes.
type Destination interface {
	Store
	Import(ctx context.Context, pieces iter.Seq[record.Piece]) error
}

// ErrNotEmpty says the destination holds state already.
var ErrNotEmpty = errors.New("the destination is not empty")

// Count is how many pieces of a kind were copied.
type Count struct {
	Kind string
	N    int
}

// Report is what a copy moved.
type Report struct {
	// Audit is the chain on both sides: its length and head.
	Audit  flows.AuditSummary
	Counts []Count // by kind, in export order, kinds with none left out
}

// errFound stops Empty's export at the first piece.
var errFound = errors.New("found")

// Empty reports whether s holds nothing to copy.
func Empty(ctx context.Context, s Store) (bool, error) {
	err := s.Export(ctx, func(record.Piece) error { return errFound })
	if errors.Is(err, errFound) {
		return false, nil
	}
	return err == nil, err
}

// Copy copies everything src holds into dst, which must be empty
// (ErrNotEmpty) and written by nobody else meanwhile. It refuses a source
// whose audit chain does not verify (a *flows.BrokenChainError in the
// error), before writing anything; after, it proves the destination holds
// the same chain and as many pieces of each kind.
func Copy(ctx context.Context, src Store, dst Destination) (Report, error) {
	sum, err := src.VerifyAudit(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("the source's audit chain does not verify, nothing was copied: %w", err)
	}
	empty, err := Empty(ctx, dst)
	if err != nil {
		return Report{}, fmt.Errorf("read the destination: %w", err)
	}
	if !empty {
		return Report{}, ErrNotEmpty
	}
	copied, err := pipe(ctx, src, dst)
	if err != nil {
		return Report{}, err
	}
	got, err := dst.VerifyAudit(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("the copy's audit chain does not verify: %w", err)
	}
	if got != sum {
		return Report{}, fmt.Errorf("the copy's audit chain (%d records, head %s) is not the source's (%d records, head %s)", got.Records, got.Head, sum.Records, sum.Head)
	}
	there, err := count(ctx, dst)
	if err != nil {
		return Report{}, fmt.Errorf("read the copy back: %w", err)
	}
	rep := Report{Audit: sum}
	for _, k := range record.Kinds() {
		if copied[k] != there[k] {
			return Report{}, fmt.Errorf("the copy holds %d %s records, the source %d", there[k], k, copied[k])
		}
		if copied[k] > 0 {
			rep.Counts = append(rep.Counts, Count{Kind: string(k), N: copied[k]})
		}
	}
	return rep, nil
}

// pipe streams src's export into dst's import, counting by kind.
func pipe(ctx context.Context, src Store, dst Destination) (map[record.Kind]int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan record.Piece, 256)
	exported := make(chan error, 1)
	go func() {
		defer close(ch)
		exported <- src.Export(ctx, func(p record.Piece) error {
			select {
			case ch <- p:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	counts := map[record.Kind]int{}
	err := dst.Import(ctx, func(yield func(record.Piece) bool) {
		for p := range ch {
			counts[p.Kind]++
			if !yield(p) {
				return
			}
		}
	})
	cancel() // the export stops if the import did
	for range ch {
	}
	if eerr := <-exported; eerr != nil && err == nil {
		return nil, fmt.Errorf("read the source: %w", eerr)
	}
	if err != nil {
		return nil, fmt.Errorf("write the destination: %w", err)
	}
	return counts, nil
}

func count(ctx context.Context, s Store) (map[record.Kind]int, error) {
	n := map[record.Kind]int{}
	err := s.Export(ctx, func(p record.Piece) error { n[p.Kind]++; return nil })
	return n, err
}
