package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/auditsink"
)

// verifyAgainst is `jitbot audit verify -against <copy>`: the store's chain
// must verify on its own (verify), then agree with a sink's copy of what
// was streamed (walk reads the store's records in order). A store rewritten
// after streaming, chain recomputed and all, verifies on its own and fails
// here at the first record it changed.
func (e *env) verifyAgainst(copyPath string, verify func() error, walk func(fn func(flows.AuditRecord) error) error) error {
	f, err := os.Open(copyPath)
	if err != nil {
		return fmt.Errorf("audit verify -against: %w", err)
	}
	defer f.Close()
	events, err := auditsink.ReadCopy(f)
	if err != nil {
		return fmt.Errorf("audit verify -against %s: %w", copyPath, err)
	}
	if err := verify(); err != nil {
		return err
	}
	rep, err := auditsink.VerifyAgainst(events, walk)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return &exitError{code: 1, msg: rep.String()}
	}
	fmt.Fprintln(e.stdout, rep.String())
	return nil
}

// serverAuditWalk reads the running server's audit records in order
// through its export (the store is the server's while it runs).
func serverAuditWalk(ctx context.Context, c *app.AdminClient) func(fn func(flows.AuditRecord) error) error {
	return func(fn func(flows.AuditRecord) error) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(c.ExportAudit(ctx, time.Time{}, pw)) }()
		defer pr.Close()
		dec := json.NewDecoder(pr)
		for {
			var l app.AuditLine
			if err := dec.Decode(&l); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("audit verify -against: read the server's audit export: %w", err)
			}
			if err := fn(flows.AuditRecord{Seq: l.Seq, PrevHash: l.PrevHash, Hash: l.Hash}); err != nil {
				return err
			}
		}
	}
}
