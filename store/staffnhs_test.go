package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/carerecord/carerecord/store"
)

// The privacy officers' list of staff NHS numbers: entries are checked,
// replaced, removed, kept sealed at rest, read back after a restart, and
// used by the "own record" alert when the identity provider asserted no
// NHS number for the user.
func TestStaffNHSList(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	for _, bad := range []struct{ user, nhs, by string }{
		{"", "9990000018", "ig1"},
		{"555000111", "9990000019", "ig1"}, // check digit
		{"555000111", "99900", "ig1"},
		{"555\n000", "9990000018", "ig1"},
		{"555000111", "9990000018", ""},
	} {
		if err := db.SetStaffNHS(ctx, bad.user, bad.nhs, bad.by); !errors.Is(err, store.ErrInvalidStaffNHS) {
			t.Errorf("SetStaffNHS(%q, %q, %q) = %v, want ErrInvalidStaffNHS", bad.user, bad.nhs, bad.by, err)
		}
	}
	must(t, db.SetStaffNHS(ctx, "555000111", "999 000 0026", "ig1"))
	must(t, db.SetStaffNHS(ctx, "555000111", "9990000018", "ig2")) // replaces
	must(t, db.SetStaffNHS(ctx, "555000222", "9990000034", "ig1"))
	must(t, db.SetStaffNHS(ctx, "555000444", "9990000050", "ig1")) // never opened: in no audit event
	list, err := db.StaffNHSList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].UserID != "555000111" || list[0].NHSNumber != "9990000018" || list[0].AddedBy != "ig2" ||
		list[1].NHSNumber != "9990000034" {
		t.Fatalf("list = %+v", list)
	}

	open := func(user, nhs string) []store.Alert {
		t.Helper()
		mustAudit(t, db, store.AuditEvent{UserID: user, UserName: "Dr TEST", Action: store.ActRecordOpen, NHSNumber: nhs,
			Reason: "direct-care", Outcome: store.OutcomeAllowed})
		as, err := db.Alerts(ctx, store.AlertOpen, 100)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	countOwn := func(as []store.Alert) (n int) {
		for _, a := range as {
			if a.Kind == store.AlertOwnRecord {
				n++
			}
		}
		return n
	}
	if n := countOwn(open("555000111", "9990000026")); n != 0 {
		t.Fatalf("%d own-record alerts for another patient's record", n)
	}
	if n := countOwn(open("555000111", "9990000018")); n != 1 {
		t.Fatalf("%d own-record alerts for the listed user's own record, want 1", n)
	}
	// An NHS number asserted at sign-in wins over the list.
	mustAudit(t, db, store.AuditEvent{UserID: "555000222", Action: store.ActRecordOpen, NHSNumber: "9990000034",
		UserNHSNumber: "9990000042", Reason: "direct-care", Outcome: store.OutcomeAllowed})
	if n := countOwn(open("555000333", "9990000034")); n != 1 {
		t.Fatalf("own-record alerts %d: an unlisted user or an asserted number raised one", n)
	}

	must(t, db.RemoveStaffNHS(ctx, "555000111"))
	if err := db.RemoveStaffNHS(ctx, "555000111"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
	// Removed: opening the same record again raises nothing new.
	if n := countOwn(open("555000111", "9990000018")); n != 1 {
		t.Fatalf("own-record alerts %d after the user was taken off the list, want still 1", n)
	}

	path := db.Path()
	must(t, db.Close())
	var raw []byte
	for _, p := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(p)
		raw = append(raw, b...)
	}
	if bytes.Contains(raw, []byte("9990000050")) {
		t.Error("a staff NHS number is in the database file in the clear")
	}
	db2, err := store.Open(path, store.WithCacheKey(bytes.Repeat([]byte("k"), 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	mustAudit(t, db2, store.AuditEvent{UserID: "555000222", Action: store.ActRecordOpen, NHSNumber: "9990000034",
		Reason: "direct-care", Outcome: store.OutcomeAllowed})
	as, _ := db2.Alerts(ctx, store.AlertOpen, 100)
	if n := countOwn(as); n != 2 {
		t.Fatalf("after a restart the list raised %d own-record alerts in all, want 2", n)
	}
}
