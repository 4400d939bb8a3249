package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// Searches by user and by patient read the search tables for events up to
// the indexed mark and audit_events for the tail after it. Whatever the
// mark, including across a page boundary and after a restart, a search
// finds exactly the events a filter over the whole log finds, in the same
// order, and the access summaries count them all.
func TestAuditSearchTablesAndTail(t *testing.T) {
	ctx := context.Background()
	clock := newAuditClock()
	path := testDB(t)
	db, err := store.Open(path, store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	users := []string{"555000111", "555000222", "555000333"}
	actions := []store.Action{store.ActRecordOpen, store.ActDocumentOpen, store.ActSearch, store.ActAccessRefused}
	var all []store.AuditEvent
	add := func(n int) {
		for range n {
			i := len(all)
			ev := store.AuditEvent{UserID: users[i%len(users)], UserName: "Dr TEST", RoleCode: "R8000", ODS: "RX1",
				Action: actions[i%len(actions)], NHSNumber: auditPatients[i%4], Reason: "direct-care", Outcome: store.OutcomeAllowed}
			if ev.Action == store.ActAccessRefused {
				ev.Outcome = store.OutcomeRefused
			}
			if ev.Action == store.ActSearch {
				ev.NHSNumber = ""
			}
			all = append(all, mustAudit(t, db, ev))
		}
	}
	filters := []store.AuditFilter{
		{UserID: "555000222"},
		{NHSNumber: auditPatients[1]},
		{UserID: "555000111", NHSNumber: auditPatients[0]},
		{UserID: "555000333", Actions: []store.Action{store.ActRecordOpen, store.ActAccessRefused}},
		{NHSNumber: auditPatients[3], Outcome: store.OutcomeRefused},
		{UserID: "nobody"},
		// Combined filters, read in pages of 4 across the mark.
		{UserID: "555000222", NHSNumber: auditPatients[1], Actions: []store.Action{store.ActRecordOpen, store.ActDocumentOpen}},
		{NHSNumber: auditPatients[0], ODS: "RX1", Reason: "direct-care", Outcome: store.OutcomeAllowed},
		{UserID: "555000111", Actions: []store.Action{store.ActSearch, store.ActAccessRefused}, BeforeSeq: 40},
	}
	check := func(stage string) {
		t.Helper()
		for _, f := range filters {
			var want []int64
			for i := len(all) - 1; i >= 0; i-- {
				if auditMatches(f, all[i]) {
					want = append(want, all[i].Seq)
				}
			}
			var got []int64
			p := f
			p.Limit = 4
			for {
				evs, next, err := db.SearchAudit(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					got = append(got, ev.Seq)
				}
				if next == 0 {
					break
				}
				p.BeforeSeq = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, indexed up to %d: search %+v found %v, want %v", stage, db.AuditIndexed(), f, got, want)
			}
		}
		// A patient's own access list, paged, over the same split.
		for _, nhs := range auditPatients[:4] {
			var want, got []int64
			for i := len(all) - 1; i >= 0; i-- {
				if ev := all[i]; ev.NHSNumber == nhs && ev.Outcome == store.OutcomeAllowed &&
					slices.Contains(store.PatientAccessActions, ev.Action) {
					want = append(want, ev.Seq)
				}
			}
			for before := int64(0); ; {
				evs, next, err := db.PatientAccesses(ctx, nhs, before, 4)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					got = append(got, ev.Seq)
				}
				if next == 0 {
					break
				}
				before = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, indexed up to %d: %s's access list %v, want %v", stage, db.AuditIndexed(), nhs, got, want)
			}
		}
		for _, nhs := range auditPatients[:4] {
			sums, err := db.PatientAccess(ctx, nhs)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			for _, ev := range all {
				if ev.NHSNumber == nhs {
					want[ev.UserID]++
				}
			}
			got := map[string]int{}
			for _, s := range sums {
				got[s.UserID] = s.Count + s.Refused
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: accesses to %s by user = %v, want %v", stage, nhs, got, want)
			}
		}
		for _, u := range users {
			sums, err := db.UserAccess(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range sums {
				n += s.Count + s.Refused
			}
			want := 0
			for _, ev := range all {
				if ev.UserID == u && ev.NHSNumber != "" {
					want++
				}
			}
			if n != want {
				t.Errorf("%s: %s accessed %d times, want %d", stage, u, n, want)
			}
		}
	}

	// The clock stands still: everything stays in the tail.
	add(30)
	if got := db.AuditIndexed(); got != 0 {
		t.Fatalf("indexed up to %d with the tail younger than its age limit", got)
	}
	check("all in the tail")

	// Once the tail's oldest event has waited, the next batch indexes it all.
	clock.Add(time.Second)
	add(1)
	if got := db.AuditIndexed(); got != 31 {
		t.Fatalf("indexed up to %d, want 31", got)
	}
	check("all indexed")

	add(20)
	check("indexed and tail")

	// The mark is kept in the database: a restart finds the same events.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = store.Open(path, store.WithClock(clock.Now)); err != nil {
		t.Fatal(err)
	}
	if got := db.AuditIndexed(); got != 31 {
		t.Fatalf("after a restart indexed up to %d, want 31", got)
	}
	check("after a restart")
	clock.Add(time.Second)
	add(1)
	if got := db.AuditIndexed(); got != 52 {
		t.Fatalf("indexed up to %d, want 52", got)
	}
	check("after a restart, indexed")
}

// The search tables, like the log, only grow: the database refuses to
// change or remove an entry.
func TestAuditSearchTablesAppendOnly(t *testing.T) {
	clock := newAuditClock()
	path := filepath.Join(t.TempDir(), "carerecord.db")
	db, err := store.Open(path, store.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	mustAudit(t, db, store.AuditEvent{UserID: "555000111", Action: store.ActRecordOpen, NHSNumber: auditPatients[0], Outcome: store.OutcomeAllowed})
	clock.Add(time.Second)
	mustAudit(t, db, store.AuditEvent{UserID: "555000111", Action: store.ActSignOut, Outcome: store.OutcomeAllowed})
	if db.AuditIndexed() != 2 {
		t.Fatalf("indexed up to %d, want 2", db.AuditIndexed())
	}
	db.Close()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{
		`DELETE FROM audit_by_user`,
		`DELETE FROM audit_by_patient`,
		`UPDATE audit_by_user SET seq = 99`,
		`UPDATE audit_by_patient SET nhs_number = '9990000026'`,
	} {
		_, err := raw.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
}
