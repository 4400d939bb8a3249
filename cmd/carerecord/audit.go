package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/witness"
)

// errAuditBroken makes `audit verify` exit non-zero when the log is not
// intact; the message names the first bad event.
var errAuditBroken = errors.New("the audit log is not intact")

const auditUsage = "usage: carerecord audit verify [--data DIR | --db FILE] [--key-file FILE] [--key-env NAME] [--witness FILE] [--reanchor]"

// runAudit is `carerecord audit verify`: it walks the audit chain in a
// database opened read-only, compares it with its witness file and checks
// the schema, and reports.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError{errors.New(auditUsage)}
	}
	fs := newFlags("audit verify", stderr)
	data := fs.String("data", "", "the demo's data directory (uses carerecord.db, audit.key and carerecord.db.witness in it)")
	dbPath := fs.String("db", "", "the database file, or a postgres:// URL (the password from PGPASSWORD or ~/.pgpass)")
	keyFile := fs.String("key-file", "", "file holding the audit key (default: the demo's audit.key with --data, else $CARERECORD_AUDIT_KEY)")
	keyEnv := fs.String("key-env", defaultAuditKeyEnv, "environment variable holding the audit key")
	witnessPath := fs.String("witness", "", "the witness file (default for a SQLite file: the database's path with .witness added; on PostgreSQL, a node's witness_file)")
	reanchor := fs.Bool("reanchor", false, "after an investigation has accepted the database as it is: check the chain and schema (not the witness) and, if they hold, append a checkpoint of its head to the witness; the node whose witness it is must be stopped")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	switch {
	case *data != "" && *dbPath != "":
		return usageError{errors.New("audit verify: give --data or --db, not both")}
	case *data != "":
		*dbPath = filepath.Join(*data, "carerecord.db")
		if *keyFile == "" && getenv(*keyEnv) == "" {
			*keyFile = filepath.Join(*data, "audit.key")
		}
	case *dbPath == "":
		return usageError{errors.New("audit verify: --data DIR or --db FILE is required")}
	}
	pg := store.IsPostgresURL(*dbPath)
	if *witnessPath == "" && !pg {
		*witnessPath = defaultWitnessPath(*dbPath)
	}
	var opts []store.Option
	switch {
	case *keyFile != "":
		k, err := store.LoadAuditKeyFile(*keyFile)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		opts = append(opts, store.WithAuditKey(k))
	case getenv(*keyEnv) != "":
		k, err := store.ParseAuditKey(getenv(*keyEnv))
		if err != nil {
			return fmt.Errorf("audit verify: environment variable %s: %w", *keyEnv, err)
		}
		opts = append(opts, store.WithAuditKey(k))
	}
	if *reanchor && *witnessPath == "" {
		return usageError{errors.New("audit verify --reanchor: on PostgreSQL give --witness FILE, the witness file of the node to re-anchor (each node has its own)")}
	}
	if *reanchor {
		return reanchorAudit(ctx, *dbPath, *witnessPath, opts, stdout)
	}
	keyGiven := len(opts) > 0
	if keyGiven && *witnessPath != "" {
		opts = append(opts, store.WithWitnesses(witness.ReadFile(*witnessPath)))
	}
	dbArg := *dbPath
	res, err := store.VerifyAuditFile(ctx, dbArg, opts...)
	// A PostgreSQL URL is shown without its password.
	*dbPath = store.DatabaseName(*dbPath)
	if err != nil {
		return fmt.Errorf("audit verify %s: %w", *dbPath, err)
	}
	keyed := "not keyed: written before the audit key, verified by the plain SHA-256 rule"
	if res.KeyedFrom > 0 {
		keyed = fmt.Sprintf("keyed from event %d", res.KeyedFrom)
	}
	if !res.OK {
		at := ""
		if res.FirstBadSeq > 0 {
			at = fmt.Sprintf("event %d: ", res.FirstBadSeq)
		}
		fmt.Fprintf(stdout, "audit log %s: NOT intact: %s%s (%d events checked, %s)\n", *dbPath, at, res.Problem, res.Events, keyed)
		if res.Anchored {
			fmt.Fprintf(stdout, "witness %s: last checkpoint event %d, hash %s…, written %s\n", *witnessPath, res.Anchor.Seq, res.Anchor.HashPrefix(), res.Anchor.Time.Format(time.RFC3339))
		}
		if res.FirstBadSeq == 0 {
			return fmt.Errorf("%w: %s", errAuditBroken, res.Problem)
		}
		return fmt.Errorf("%w: first bad event %d: %s", errAuditBroken, res.FirstBadSeq, res.Problem)
	}
	fmt.Fprintf(stdout, "audit log %s: intact, %d events, %s\n", *dbPath, res.Events, keyed)
	if pg {
		fmt.Fprintln(stdout, "schema: the append-only guards on the audit tables are in place and enabled")
		g, err := store.CheckAuditGuard(ctx, dbArg)
		if err != nil {
			return fmt.Errorf("audit verify %s: %w", *dbPath, err)
		}
		fmt.Fprintln(stdout, "append-only guard: "+guardSentence(g))
	} else {
		fmt.Fprintln(stdout, "schema: the tables, indexes and append-only triggers are as the migrations make them")
	}
	switch {
	case res.Anchored:
		fmt.Fprintf(stdout, "witness %s: matches its last checkpoint, event %d, hash %s…, written %s\n", *witnessPath, res.Anchor.Seq, res.Anchor.HashPrefix(), res.Anchor.Time.Format(time.RFC3339))
	case !keyGiven:
		fmt.Fprintln(stdout, "witness: not compared (no audit key given)")
	case *witnessPath == "":
		fmt.Fprintln(stdout, "witness: not compared (give --witness FILE, a node's witness file)")
	default:
		if _, err := os.Stat(*witnessPath); err != nil {
			fmt.Fprintf(stdout, "witness %s: none yet\n", *witnessPath)
		} else {
			fmt.Fprintf(stdout, "witness %s: holds no checkpoint yet\n", *witnessPath)
		}
	}
	return nil
}

func reanchorAudit(ctx context.Context, dbPath, witnessPath string, opts []store.Option, stdout io.Writer) error {
	if len(opts) == 0 {
		return fmt.Errorf("audit verify --reanchor: %w", store.ErrAuditKeyNeeded)
	}
	w, err := witness.OpenFile(witnessPath)
	if err != nil {
		return fmt.Errorf("audit verify --reanchor: %w", err)
	}
	defer w.Close()
	cp, res, err := store.ReanchorAuditFile(ctx, dbPath, w, opts...)
	// A PostgreSQL URL is shown without its password.
	dbPath = store.DatabaseName(dbPath)
	if err != nil {
		return fmt.Errorf("audit verify --reanchor: %w", err)
	}
	if !res.OK {
		fmt.Fprintf(stdout, "audit log %s: NOT intact, not re-anchored: %s\n", dbPath, res.Problem)
		return fmt.Errorf("%w: %s", errAuditBroken, res.Problem)
	}
	fmt.Fprintf(stdout, "audit log %s: intact, %d events; re-anchored in %s at event %d, hash %s…\n", dbPath, res.Events, witnessPath, cp.Seq, cp.HashPrefix())
	return nil
}

// guardSentence says whether the append-only guard on PostgreSQL holds
// against the role the nodes connect as: a role that owns the audit
// tables (or is a superuser) can drop or disable the triggers, and then
// only the chain, its key and the witnesses show a change.
func guardSentence(g store.AuditGuard) string {
	switch {
	case !g.InForce:
		return "NOT in force: " + g.Problem
	case g.Superuser:
		return fmt.Sprintf("in force, but role %s is a superuser and could lift it; run the nodes as a role that neither owns the audit tables nor is a superuser", g.Role)
	case g.OwnsTables:
		return fmt.Sprintf("in force, but role %s owns the audit tables and could lift it; for a guard that holds against the application itself, run the nodes as a role that does not own them (SELECT and INSERT on the audit tables)", g.Role)
	default:
		return fmt.Sprintf("in force; role %s neither owns the audit tables nor is a superuser, so it cannot lift it", g.Role)
	}
}

// defaultWitnessPath is where the witness file goes when the configuration
// names none: beside the database.
func defaultWitnessPath(db string) string { return db + ".witness" }
