package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

func alertKinds(t *testing.T, db *store.DB, status string) []string {
	t.Helper()
	as, err := db.Alerts(context.Background(), status, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

// nhsFor returns a distinct, well-formed 999-range NHS number for i.
func nhsFor(i int) string {
	base := fmt.Sprintf("999%06d", i)
	sum := 0
	for j := 0; j < 9; j++ {
		sum += int(base[j]-'0') * (10 - j)
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 {
		return nhsFor(i + 500000) // no valid check digit: use another number
	}
	return base + fmt.Sprint(check)
}

// inHours keeps the out-of-hours rule out of tests about other rules,
// which run at whatever time the machine says.
var inHours = store.WithAlertRules(store.AlertRules{Off: map[string]bool{store.AlertOutOfHours: true}})

func TestAlerts(t *testing.T) {
	user := store.AuditEvent{UserID: "555000111", UserName: "Dr Jane SMITH", RoleCode: "R8000", ODS: "RX1", Outcome: store.OutcomeAllowed}
	ev := func(f func(*store.AuditEvent)) store.AuditEvent { e := user; f(&e); return e }

	t.Run("BreakGlassAndOverride", func(t *testing.T) {
		db := MustOpenDB(t, inHours)
		bg := mustAudit(t, db, ev(func(e *store.AuditEvent) {
			e.Action, e.NHSNumber, e.Reason, e.Detail = store.ActBreakGlass, auditPatients[0], "break-glass", "unconscious in ED"
		}))
		mustAudit(t, db, ev(func(e *store.AuditEvent) { e.Action, e.NHSNumber = store.ActObjectionOverride, auditPatients[1] }))
		mustAudit(t, db, ev(func(e *store.AuditEvent) { e.Action, e.NHSNumber = store.ActRecordOpen, auditPatients[0] }))
		as, err := db.Alerts(context.Background(), store.AlertOpen, 0)
		if err != nil || len(as) != 2 {
			t.Fatalf("alerts = %+v, %v", as, err)
		}
		if a := as[1]; a.Kind != store.AlertBreakGlass || a.Seq != bg.Seq || a.NHSNumber != auditPatients[0] || a.UserID != user.UserID ||
			a.Status != store.AlertOpen || !a.Raised.Equal(bg.Time) {
			t.Fatalf("break-glass alert = %+v", a)
		}
	})
	t.Run("SameFamilyName", func(t *testing.T) {
		db := MustOpenDB(t, inHours)
		open := func(nhs, family string) {
			mustAudit(t, db, ev(func(e *store.AuditEvent) {
				e.Action, e.NHSNumber, e.PatientFamilyName = store.ActRecordOpen, nhs, family
			}))
		}
		open(auditPatients[0], "Smith")
		open(auditPatients[0], "SMITH") // the same visit: not raised twice
		open(auditPatients[1], "JONES")
		open(auditPatients[2], "smith")
		if got := fmt.Sprint(alertKinds(t, db, "")); got != "[same-family-name same-family-name]" {
			t.Fatalf("alerts = %s", got)
		}
		evs, _, _ := db.SearchAudit(context.Background(), store.AuditFilter{})
		for _, e := range evs {
			if e.PatientFamilyName != "" {
				t.Fatal("the patient's family name was stored in the log")
			}
		}
	})
	t.Run("ManyPatients", func(t *testing.T) {
		clock := newAuditClock()
		db := MustOpenDB(t, store.WithClock(clock.Now), store.WithAlertRules(store.AlertRules{ManyPatients: 3, ManyPatientsWindow: time.Hour,
			Off: map[string]bool{store.AlertOutOfHours: true}}))
		open := func(i int) {
			mustAudit(t, db, ev(func(e *store.AuditEvent) { e.Action, e.NHSNumber = store.ActRecordOpen, nhsFor(i) }))
			clock.Add(time.Minute)
		}
		for i := range 3 {
			open(i)
			open(i) // reopening is not another patient
		}
		if n := len(alertKinds(t, db, store.AlertOpen)); n != 0 {
			t.Fatalf("%d alerts at the threshold", n)
		}
		open(3)
		open(4) // still the same burst: not raised again
		if got := fmt.Sprint(alertKinds(t, db, "")); got != "[many-patients]" {
			t.Fatalf("alerts = %s", got)
		}
		clock.Add(2 * time.Hour)
		for i := 10; i < 13; i++ {
			open(i)
		}
		if n := len(alertKinds(t, db, store.AlertOpen)); n != 1 {
			t.Fatalf("%d alerts; the window moved on, three patients are not many", n)
		}
	})
	t.Run("PrintsCountAsOpenings", func(t *testing.T) {
		// A printed summary shows the record without the record page (its
		// link may be followed directly): the rules count it as an
		// opening, both as it is written and when a user's activity is
		// read back from the log by a node that did not see it (a restart).
		clock := newAuditClock()
		rules := store.WithAlertRules(store.AlertRules{ManyPatients: 3, ManyPatientsWindow: time.Hour,
			Off: map[string]bool{store.AlertOutOfHours: true}})
		path := testDB(t)
		db := MustOpenDBAt(t, path, store.WithClock(clock.Now), rules)
		act := func(db *store.DB, a store.Action, i int, family string) {
			mustAudit(t, db, ev(func(e *store.AuditEvent) { e.Action, e.NHSNumber, e.PatientFamilyName = a, nhsFor(i), family }))
			clock.Add(time.Minute)
		}
		act(db, store.ActRecordPrint, 0, "Smith")
		if got := fmt.Sprint(alertKinds(t, db, "")); got != "[same-family-name]" {
			t.Fatalf("alerts after printing a same-name patient's summary = %s", got)
		}
		act(db, store.ActRecordPrint, 1, "Jones")
		act(db, store.ActRecordPrint, 2, "Jones")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = MustOpenDBAt(t, path, store.WithClock(clock.Now), rules)
		act(db, store.ActRecordOpen, 3, "Jones")
		if got := fmt.Sprint(alertKinds(t, db, "")); got != "[many-patients same-family-name]" {
			t.Fatalf("alerts = %s; three prints and one opening are four patients", got)
		}
	})
	t.Run("RepeatedRefusals", func(t *testing.T) {
		clock := newAuditClock()
		db := MustOpenDB(t, store.WithClock(clock.Now), inHours)
		refuse := func() {
			mustAudit(t, db, ev(func(e *store.AuditEvent) {
				e.Action, e.Outcome, e.OutcomeWhy = store.ActAccessRefused, store.OutcomeRefused, "role may not open records"
			}))
			clock.Add(time.Minute)
		}
		for range 4 {
			refuse()
		}
		clock.Add(15 * time.Minute) // the first four fall out of the window
		for range 4 {
			refuse()
		}
		if n := len(alertKinds(t, db, store.AlertOpen)); n != 0 {
			t.Fatalf("%d alerts for 4 refusals in 10 minutes", n)
		}
		refuse()
		if got := fmt.Sprint(alertKinds(t, db, "")); got != "[repeated-refusals]" {
			t.Fatalf("alerts = %s", got)
		}
	})
	t.Run("Review", func(t *testing.T) {
		clock := newAuditClock()
		db := MustOpenDB(t, store.WithClock(clock.Now))
		for i := range 3 {
			mustAudit(t, db, ev(func(e *store.AuditEvent) { e.Action, e.NHSNumber = store.ActBreakGlass, auditPatients[i] }))
		}
		as, _ := db.Alerts(context.Background(), store.AlertOpen, 0)
		if len(as) != 3 {
			t.Fatalf("%d open alerts, want 3", len(as))
		}
		clock.Add(time.Hour)
		id := as[0].ID
		if err := db.CloseAlert(context.Background(), id, "555000999", "Clinician confirmed emergency; no action.", false); err != nil {
			t.Fatal(err)
		}
		a, err := db.Alert(context.Background(), id)
		if err != nil || a.Status != store.AlertReviewed || a.ReviewedBy != "555000999" || a.ReviewNote == "" || !a.ReviewedAt.Equal(clock.Now()) {
			t.Fatalf("reviewed alert = %+v, %v", a, err)
		}
		if n := len(alertKinds(t, db, store.AlertOpen)); n != 2 {
			t.Fatalf("open alerts = %d, want 2", n)
		}
		if got := alertKinds(t, db, store.AlertReviewed); len(got) != 1 {
			t.Fatalf("reviewed alerts = %v", got)
		}
		if err := db.CloseAlert(context.Background(), id, "555000888", "again", false); !errors.Is(err, store.ErrAlertReviewed) {
			t.Fatalf("second review: %v, want ErrAlertReviewed", err)
		}
		if err := db.CloseAlert(context.Background(), 999, "555000999", "", false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown alert: %v, want ErrNotFound", err)
		}
		if err := db.CloseAlert(context.Background(), as[1].ID, " ", "", false); err == nil {
			t.Fatal("want an error for a review without a reviewer")
		}
		if _, err := db.Alert(context.Background(), 999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Alert(999): %v, want ErrNotFound", err)
		}
	})
}

func TestCloseAlertEscalate(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, inHours)
	mustAudit(t, db, store.AuditEvent{UserID: "u1", UserName: "A B", Action: store.ActBreakGlass, NHSNumber: auditPatients[0], Outcome: store.OutcomeAllowed})
	as, err := db.Alerts(ctx, store.AlertOpen, 10)
	if err != nil || len(as) != 1 {
		t.Fatalf("%v %v", as, err)
	}
	if err := db.CloseAlert(ctx, as[0].ID, "ig1", "no clinical reason found", true); err != nil {
		t.Fatal(err)
	}
	esc, _ := db.Alerts(ctx, store.AlertEscalated, 10)
	if len(esc) != 1 || esc[0].ReviewedBy != "ig1" || esc[0].Status != store.AlertEscalated {
		t.Fatalf("escalated: %+v", esc)
	}
	if err := db.CloseAlert(ctx, as[0].ID, "ig2", "fine", false); !errors.Is(err, store.ErrAlertReviewed) {
		t.Fatalf("closing twice: %v", err)
	}
	if n := len(alertKinds(t, db, store.AlertOpen)); n != 0 {
		t.Fatal("an escalated alert still counts as open")
	}
}
