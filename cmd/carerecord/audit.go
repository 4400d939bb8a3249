package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/carerecord/carerecord/store"
)

// errAuditBroken makes `audit verify` exit non-zero when the chain is not
// whole; the message names the first bad event.
var errAuditBroken = errors.New("the audit log is not intact")

// runAudit is `carerecord audit verify [--data DIR | --db FILE]`: it walks
// the audit chain in a database opened read-only and reports.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError{errors.New("usage: carerecord audit verify [--data DIR | --db FILE]")}
	}
	fs := newFlags("audit verify", stderr)
	data := fs.String("data", "", "the demo's data directory (uses carerecord.db in it)")
	dbPath := fs.String("db", "", "the database file")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	switch {
	case *data != "" && *dbPath != "":
		return usageError{errors.New("audit verify: give --data or --db, not both")}
	case *data != "":
		*dbPath = filepath.Join(*data, "carerecord.db")
	case *dbPath == "":
		return usageError{errors.New("audit verify: --data DIR or --db FILE is required")}
	}
	res, err := store.VerifyAuditFile(ctx, *dbPath)
	if err != nil {
		return fmt.Errorf("audit verify %s: %w", *dbPath, err)
	}
	if !res.OK {
		fmt.Fprintf(stdout, "audit log %s: NOT intact: event %d: %s (%d events checked)\n", *dbPath, res.FirstBadSeq, res.Problem, res.Events)
		return fmt.Errorf("%w: first bad event %d: %s", errAuditBroken, res.FirstBadSeq, res.Problem)
	}
	fmt.Fprintf(stdout, "audit log %s: intact, %d events\n", *dbPath, res.Events)
	return nil
}
