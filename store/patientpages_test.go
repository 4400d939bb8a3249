package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
)

// TestPatientAccesses: a patient sees the accesses to their own record
// only, newest first, paged, without the events that are not accesses and
// without those an IG officer hid; a concern names only an access they
// may see, and raises an alert of its own kind.
func TestPatientAccesses(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	const mine, other = "9990000018", "9990000026"
	clin := store.AuditEvent{UserID: "555000000001", UserName: "Dr Amara Okafor", RoleCode: "R8000", ODS: "RJZ"}
	at := func(a store.Action, nhs string) store.AuditEvent {
		ev := clin
		ev.Action, ev.NHSNumber, ev.Reason = a, nhs, "direct-care"
		return mustAudit(t, db, ev)
	}
	var want []int64
	for i := range 5 {
		want = append(want, at(store.ActRecordOpen, mine).Seq)
		at(store.ActRecordOpen, other)
		at(store.ActReasonGiven, mine) // not an access to the record's content
		if i == 2 {
			want = append(want, at(store.ActBreakGlass, mine).Seq)
		}
	}
	refused := clin
	refused.Action, refused.NHSNumber, refused.Outcome = store.ActRecordOpen, mine, store.OutcomeRefused
	mustAudit(t, db, refused)
	slices.Reverse(want)

	var got []int64
	for before, pages := int64(0), 0; ; pages++ {
		evs, next, err := db.PatientAccesses(ctx, mine, before, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.NHSNumber != mine {
				t.Fatalf("another patient's event %d in the list", ev.Seq)
			}
			got = append(got, ev.Seq)
		}
		if next == 0 {
			break
		}
		before = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("accesses %v, want %v (the record opens and break glass, newest first)", got, want)
	}

	t.Run("HiddenAccessLeftOut", func(t *testing.T) {
		hide := want[1]
		if err := db.HideAccess(ctx, mine, hide, "555000000004", "Helen Marsh", "Safeguarding investigation under way"); err != nil {
			t.Fatal(err)
		}
		evs, _, err := db.PatientAccesses(ctx, mine, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(evs, func(ev store.AuditEvent) bool { return ev.Seq == hide }) || len(evs) != len(want)-1 {
			t.Fatalf("the hidden access %d is still in the patient's list (%d events)", hide, len(evs))
		}
		if _, err := db.PatientAccessEvent(ctx, mine, hide); !errors.Is(err, store.ErrNotAnAccess) {
			t.Fatalf("a hidden access can still be named: %v", err)
		}
		hs, err := db.HiddenAccesses(ctx, "")
		if err != nil || len(hs) != 1 || hs[0].Seq != hide || hs[0].Reason != "Safeguarding investigation under way" || hs[0].By != "555000000004" {
			t.Fatalf("hidden report %+v %v", hs, err)
		}
		if err := db.HideAccess(ctx, mine, hide, "555000000004", "Helen Marsh", "again"); !errors.Is(err, store.ErrAlreadyHidden) {
			t.Fatalf("hidden twice: %v", err)
		}
		if err := db.HideAccess(ctx, other, want[0], "555000000004", "Helen Marsh", "wrong patient"); !errors.Is(err, store.ErrNotAnAccess) {
			t.Fatalf("hid an access under another patient's number: %v", err)
		}
		if err := db.HideAccess(ctx, mine, want[0], "555000000004", "Helen Marsh", " "); err == nil {
			t.Fatal("hid an access without a reason")
		}
	})
	t.Run("ConcernRaisesAnAlert", func(t *testing.T) {
		ev := store.AuditEvent{UserID: "nhslogin:nhslogin-0018", UserName: "Jane Smith", NHSNumber: mine}
		c, err := db.RaiseConcern(ctx, ev, want[0])
		if err != nil {
			t.Fatal(err)
		}
		cs, err := db.PatientConcerns(ctx, mine)
		if err != nil || len(cs) != 1 || cs[0].AccessSeq != want[0] || cs[0].Seq != c.Seq ||
			cs[0].Alert.Kind != store.AlertPatientConcern || cs[0].Alert.Status != store.AlertOpen {
			t.Fatalf("concerns %+v %v", cs, err)
		}
		if other, _ := db.PatientConcerns(ctx, other); len(other) != 0 {
			t.Fatalf("another patient sees the concern: %+v", other)
		}
		if !cs[0].ReviewStarted.IsZero() {
			t.Fatalf("a concern nobody opened reads as being reviewed: %+v", cs[0])
		}
		id := cs[0].Alert.ID
		if err := db.StartConcernReview(ctx, id, "555000000004"); err != nil {
			t.Fatal(err)
		}
		if err := db.StartConcernReview(ctx, id, "555000000005"); err != nil {
			t.Fatal(err)
		}
		cs, _ = db.PatientConcerns(ctx, mine)
		if cs[0].ReviewStarted.IsZero() || cs[0].Alert.Status != store.AlertOpen {
			t.Fatalf("after an officer opened it the concern is %+v, want open and being reviewed", cs[0])
		}
		if err := db.CloseAlert(ctx, id, "555000000004", "Checked the rota.", false); !errors.Is(err, store.ErrPatientMessage) {
			t.Fatalf("closing a concern without a message to the patient: %v, want ErrPatientMessage", err)
		}
		if err := db.CloseConcernAlert(ctx, id, "555000000004", "Checked the rota.", "  ", false); !errors.Is(err, store.ErrPatientMessage) {
			t.Fatalf("closing a concern with a blank message: %v, want ErrPatientMessage", err)
		}
		if err := db.CloseConcernAlert(ctx, id, "555000000004", "Checked the rota: Okafor on clinic duty.",
			"We checked: Dr Okafor was treating you in clinic.", false); err != nil {
			t.Fatal(err)
		}
		cs, _ = db.PatientConcerns(ctx, mine)
		if cs[0].Alert.Status != store.AlertReviewed || cs[0].Message != "We checked: Dr Okafor was treating you in clinic." ||
			cs[0].Alert.ReviewNote != "Checked the rota: Okafor on clinic duty." || cs[0].ReviewStarted.IsZero() {
			t.Fatalf("closed concern %+v, want reviewed with the message and the note apart", cs[0])
		}
		if err := db.CloseConcernAlert(ctx, id, "555000000005", "again", "again", true); !errors.Is(err, store.ErrAlertReviewed) {
			t.Fatalf("closing a closed concern again: %v", err)
		}
	})
	t.Run("ErrConcernAboutAnotherPatientsAccess", func(t *testing.T) {
		theirs, _, _ := db.PatientAccesses(ctx, other, 0, 1)
		ev := store.AuditEvent{UserID: "nhslogin:nhslogin-0018", UserName: "Jane Smith", NHSNumber: mine}
		if _, err := db.RaiseConcern(ctx, ev, theirs[0].Seq); !errors.Is(err, store.ErrNotAnAccess) {
			t.Fatalf("a concern about another patient's access: %v", err)
		}
	})
}

// TestSubmitVerifiedObjection: an objection made with NHS login arrives
// identity-checked, with the step recorded, ready for the IG decision.
func TestSubmitVerifiedObjection(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := objectionDB(t, &now)
	f := store.ObjectionForm{Kind: store.KindObject, FullName: "Oliver Brackenbury", BirthDate: connectors.NewDate(1978, time.August, 23)}
	oc, err := db.SubmitVerifiedObjection(ctx, f, "9990000026", "nhslogin:nhslogin-0026", "Oliver Brackenbury (NHS login)", "identity checked: NHS login P9")
	if err != nil {
		t.Fatal(err)
	}
	if oc.Status != store.StatusIdentityChecked || oc.MatchedNHS != "9990000026" || len(oc.Steps) != 2 ||
		oc.Steps[1].Note != "identity checked: NHS login P9" || oc.Steps[1].By != "nhslogin:nhslogin-0026" {
		t.Fatalf("case %+v", oc)
	}
	if err := db.DecideCase(ctx, oc.ID, true, "555000000004", "Helen Marsh", "Upheld: identity verified by NHS login"); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.HasUpheldObjection(ctx, "9990000026"); err != nil || !ok {
		t.Fatalf("objection not in force: %v %v", ok, err)
	}
	cs, err := db.PatientCases(ctx, "9990000026")
	if err != nil || len(cs) != 1 || cs[0].Status != store.StatusUpheld || len(cs[0].Steps) != 3 {
		t.Fatalf("patient cases %+v %v", cs, err)
	}
	if _, err := db.SubmitVerifiedObjection(ctx, store.ObjectionForm{Kind: store.KindObject, BirthDate: f.BirthDate}, "9990000026", "x", "y", "z"); !errors.Is(err, store.ErrInvalidObjection) {
		t.Fatalf("a verified objection without a name: %v", err)
	}
}

// TestPatientCases: a patient's cases are those with their NHS number on
// the form or matched to it by an officer, newest first, each with its own
// steps (oldest first, notes opened), and never another patient's.
func TestPatientCases(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := objectionDB(t, &now)
	submit := func(nhs string) store.ObjectionCase {
		t.Helper()
		f := sampleForm()
		f.NHSNumber = nhs
		ref, err := db.SubmitObjection(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		oc, err := db.CaseByRef(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
		return oc
	}
	decided := submit("9990000026") // on the form, then decided
	if err := db.CheckIdentity(ctx, decided.ID, "9990000026", "555000000004", "Helen Marsh", "matched on the spine"); err != nil {
		t.Fatal(err)
	}
	if err := db.DecideCase(ctx, decided.ID, false, "555000000004", "Helen Marsh", "not upheld: asked to withdraw"); err != nil {
		t.Fatal(err)
	}
	other := submit("9990000034")    // another patient's
	received := submit("9990000026") // on the form, not yet looked at
	matched := submit("")            // no NHS number given: matched by the officer
	if err := db.CheckIdentity(ctx, matched.ID, "9990000026", "555000000004", "Helen Marsh", "matched by address"); err != nil {
		t.Fatal(err)
	}

	cs, err := db.PatientCases(ctx, "9990000026")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id    int64
		notes []string
	}
	wants := []want{
		{matched.ID, []string{"", "matched by address"}},
		{received.ID, []string{""}},
		{decided.ID, []string{"", "matched on the spine", "not upheld: asked to withdraw"}},
	}
	if len(cs) != len(wants) {
		t.Fatalf("%d cases, want %d (not case %d, another patient's)", len(cs), len(wants), other.ID)
	}
	for i, w := range wants {
		var notes []string
		for _, st := range cs[i].Steps {
			notes = append(notes, st.Note)
		}
		if cs[i].ID != w.id || !slices.Equal(notes, w.notes) {
			t.Errorf("case %d: id %d with step notes %q, want id %d with %q", i, cs[i].ID, notes, w.id, w.notes)
		}
		if full, err := db.Case(ctx, w.id); err != nil || !reflect.DeepEqual(full, cs[i]) {
			t.Errorf("case %d: %+v, want it as Case reads it: %+v (%v)", i, cs[i], full, err)
		}
	}
	t.Run("NoCases", func(t *testing.T) {
		if cs, err := db.PatientCases(ctx, "9990000042"); err != nil || cs == nil || len(cs) != 0 {
			t.Fatalf("a patient with no cases: %v %v, want an empty list", cs, err)
		}
	})
}
