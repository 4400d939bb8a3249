package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/carerecord/carerecord/store"
)

const migrateUsage = "usage: carerecord migrate --from sqlite:FILE --to postgres://USER@HOST/DB [--key-file FILE] [--key-env NAME]"

// runMigrate is `carerecord migrate`: it moves a stopped installation's
// SQLite file into an empty PostgreSQL database, the audit chain with it,
// and verifies the copy (store.MigrateToPostgres).
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	from := fs.String("from", "", "sqlite:FILE, the database file of the installation (its servers stopped)")
	to := fs.String("to", "", "postgres:// URL of an empty database (the password from PGPASSWORD or ~/.pgpass)")
	keyFile := fs.String("key-file", "", "file holding the audit key (default: $CARERECORD_AUDIT_KEY)")
	keyEnv := fs.String("key-env", defaultAuditKeyEnv, "environment variable holding the audit key")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	file, ok := strings.CutPrefix(*from, "sqlite:")
	switch {
	case !ok || file == "":
		return usageError{errors.New("migrate: --from sqlite:FILE is required\n" + migrateUsage)}
	case !store.IsPostgresURL(*to):
		return usageError{errors.New("migrate: --to postgres://... is required\n" + migrateUsage)}
	}
	opts, err := auditKeyOptions(*keyFile, *keyEnv, getenv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	target := store.DatabaseName(*to)
	res, err := store.MigrateToPostgres(ctx, file, *to, opts...)
	if err != nil {
		return fmt.Errorf("migrate %s to %s: %w", file, target, err)
	}
	tables := make([]string, 0, len(res.Rows))
	for t := range res.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(stdout, "%-20s %d rows\n", t, res.Rows[t])
	}
	fmt.Fprintf(stdout, "audit log %s: intact, %d events, ends at event %d, hash %s…\n", file, res.Source.Events, res.Source.HeadSeq, short(res.Source.HeadHash))
	fmt.Fprintf(stdout, "audit log %s: intact after the copy, %d events, ends at event %d, hash %s…\n", target, res.Target.Events, res.Target.HeadSeq, short(res.Target.HeadHash))
	fmt.Fprintln(stdout, "moved: point every node's database at the PostgreSQL URL; the witness files' checkpoints stay valid")
	return nil
}

func short(h string) string { return h[:min(len(h), 12)] }

// auditKeyOptions loads the audit key from a file or an environment
// variable, as audit verify does; none is given when neither holds one.
func auditKeyOptions(keyFile, keyEnv string, getenv func(string) string) ([]store.Option, error) {
	switch {
	case keyFile != "":
		k, err := store.LoadAuditKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		return []store.Option{store.WithAuditKey(k)}, nil
	case getenv(keyEnv) != "":
		k, err := store.ParseAuditKey(getenv(keyEnv))
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", keyEnv, err)
		}
		return []store.Option{store.WithAuditKey(k)}, nil
	}
	return nil, nil
}
