package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
)

func objectionDB(tb testing.TB, now *time.Time) *store.DB {
	tb.Helper()
	opts := []store.Option{store.WithCacheKey(bytes.Repeat([]byte("k"), 32))}
	if now != nil {
		opts = append(opts, store.WithClock(func() time.Time { return *now }))
	}
	return MustOpenDB(tb, opts...)
}

func sampleForm() store.ObjectionForm {
	return store.ObjectionForm{
		Kind: store.KindObject, FullName: "Oliver James Brackenbury", BirthDate: connectors.NewDate(1978, time.August, 23),
		NHSNumber: "9990000026", Address: "7 Example Street\nLondon", Postcode: "SW9 4ZZ", Contact: "oliver@example.com",
		Reason: "I would rather my records stayed with my GP.",
	}
}

var refPattern = regexp.MustCompile(`^CR-[34679ACDEFGHJKMNPQRTUVWXY]{4}-[34679ACDEFGHJKMNPQRTUVWXY]{4}$`)

func TestObjectionJourney(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := objectionDB(t, &now)

	ref, err := db.SubmitObjection(ctx, sampleForm())
	if err != nil {
		t.Fatal(err)
	}
	if !refPattern.MatchString(ref) {
		t.Fatalf("reference %q is not CR-XXXX-XXXX from the unambiguous alphabet", ref)
	}
	oc, err := db.CaseByRef(ctx, strings.ToLower(strings.ReplaceAll(ref, "-", " ")))
	if err != nil {
		t.Fatalf("case by reference as typed: %v", err)
	}
	if oc.Status != store.StatusReceived || oc.Form != sampleForm() || !oc.Submitted.Equal(now) || oc.MatchedNHS != "" {
		t.Fatalf("case %+v", oc)
	}
	if len(oc.Steps) != 1 || oc.Steps[0].To != store.StatusReceived || oc.Steps[0].From != "" {
		t.Fatalf("steps %+v", oc.Steps)
	}

	now = now.Add(time.Hour)
	if err := db.CheckIdentity(ctx, oc.ID, "9990000026", "u1", "Ida Officer", "matches GP record"); err != nil {
		t.Fatal(err)
	}
	if up, _ := db.HasUpheldObjection(ctx, "9990000026"); up {
		t.Fatal("an objection is in force before it was upheld")
	}
	now = now.Add(time.Hour)
	if err := db.DecideCase(ctx, oc.ID, true, "u1", "Ida Officer", "valid objection"); err != nil {
		t.Fatal(err)
	}
	if up, err := db.HasUpheldObjection(ctx, "9990000026"); !up || err != nil {
		t.Fatalf("upheld objection not in force: %v %v", up, err)
	}
	if up, _ := db.HasUpheldObjection(ctx, "9990000018"); up {
		t.Fatal("another patient's sharing stopped")
	}
	oc, _ = db.Case(ctx, oc.ID)
	if oc.Status != store.StatusUpheld || oc.MatchedNHS != "9990000026" || len(oc.Steps) != 3 {
		t.Fatalf("after decision: %+v", oc)
	}
	last := oc.Steps[2]
	if last.By != "u1" || last.ByName != "Ida Officer" || last.From != store.StatusIdentityChecked || last.To != store.StatusUpheld ||
		last.Note != "valid objection" || !last.At.Equal(now) {
		t.Fatalf("decision step %+v", last)
	}

	now = now.Add(24 * time.Hour)
	if err := db.WithdrawObjection(ctx, oc.ID, "u2", "Ola Officer", "patient phoned to withdraw"); err != nil {
		t.Fatal(err)
	}
	if up, _ := db.HasUpheldObjection(ctx, "9990000026"); up {
		t.Fatal("withdrawn objection still in force")
	}
	oc, _ = db.Case(ctx, oc.ID)
	if oc.Status != store.StatusWithdrawn || len(oc.Steps) != 4 || oc.Steps[3].ByName != "Ola Officer" {
		t.Fatalf("after withdrawal: %+v", oc)
	}
}

func TestWithdrawalCaseWithdrawsTheObjection(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	if err := db.SeedUpheldObjection(ctx, "9990000026", "seeded"); err != nil {
		t.Fatal(err)
	}
	f := sampleForm()
	f.Kind = store.KindWithdraw
	f.NHSNumber = "" // they do not know it
	ref, err := db.SubmitObjection(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := db.CaseByRef(ctx, ref)
	must(t, db.CheckIdentity(ctx, wc.ID, "9990000026", "u1", "Ida Officer", ""))
	// A withdrawal that is not upheld changes nothing.
	if err := db.WithdrawObjection(ctx, wc.ID, "u1", "Ida Officer", "x"); !errors.Is(err, store.ErrCaseState) {
		t.Fatalf("a request to withdraw was itself withdrawn: %v", err)
	}
	must(t, db.DecideCase(ctx, wc.ID, true, "u1", "Ida Officer", "identity confirmed by phone"))
	if up, _ := db.HasUpheldObjection(ctx, "9990000026"); up {
		t.Fatal("upholding the withdrawal left the objection in force")
	}
	upheld, _ := db.UpheldCases(ctx)
	if len(upheld) != 0 {
		t.Fatalf("%d upheld objections remain", len(upheld))
	}
	found, _ := db.SearchCases(ctx, "999 000 0026")
	if len(found) != 2 {
		t.Fatalf("search by NHS number found %d cases, want both", len(found))
	}
	for _, c := range found {
		if c.Form.Kind == store.KindObject {
			full, _ := db.Case(ctx, c.ID)
			last := full.Steps[len(full.Steps)-1]
			if full.Status != store.StatusWithdrawn || !strings.Contains(last.Note, ref) {
				t.Fatalf("seeded objection: %s, last step %+v", full.Status, last)
			}
		}
	}
}

func TestIllegalTransitions(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	ref, _ := db.SubmitObjection(ctx, sampleForm())
	oc, _ := db.CaseByRef(ctx, ref)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"ErrDecideBeforeIdentity", func() error { return db.DecideCase(ctx, oc.ID, true, "u", "U", "why") }, store.ErrCaseState},
		{"ErrWithdrawBeforeUpheld", func() error { return db.WithdrawObjection(ctx, oc.ID, "u", "U", "why") }, store.ErrCaseState},
		{"ErrInvalidMatchedNHS", func() error { return db.CheckIdentity(ctx, oc.ID, "9990000019", "u", "U", "") }, store.ErrInvalidObjection},
		{"ErrNoOfficer", func() error { return db.CheckIdentity(ctx, oc.ID, "9990000026", "", "", "") }, store.ErrInvalidObjection},
		{"ErrNotFound", func() error { return db.CheckIdentity(ctx, 9999, "9990000026", "u", "U", "") }, store.ErrNotFound},
		{"ErrCloseWithoutNote", func() error { return db.CloseUnconfirmed(ctx, oc.ID, "u", "U", "") }, store.ErrInvalidObjection},
		{"OKCheck", func() error { return db.CheckIdentity(ctx, oc.ID, "9990000026", "u", "U", "") }, nil},
		{"ErrCloseAfterIdentity", func() error { return db.CloseUnconfirmed(ctx, oc.ID, "u", "U", "no match") }, store.ErrCaseState},
		{"ErrCheckTwice", func() error { return db.CheckIdentity(ctx, oc.ID, "9990000018", "u", "U", "") }, store.ErrCaseState},
		{"ErrDecideWithoutReason", func() error { return db.DecideCase(ctx, oc.ID, false, "u", "U", "  ") }, store.ErrInvalidObjection},
		{"OKNotUpheld", func() error { return db.DecideCase(ctx, oc.ID, false, "u", "U", "not the patient") }, nil},
		{"ErrDecideTwice", func() error { return db.DecideCase(ctx, oc.ID, true, "u", "U", "changed my mind") }, store.ErrCaseState},
		{"ErrWithdrawNotUpheld", func() error { return db.WithdrawObjection(ctx, oc.ID, "u", "U", "why") }, store.ErrCaseState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	oc, _ = db.Case(ctx, oc.ID)
	if len(oc.Steps) != 3 || oc.Status != store.StatusNotUpheld || oc.MatchedNHS != "9990000026" {
		t.Fatalf("refused steps left a trace: %s, %d steps", oc.Status, len(oc.Steps))
	}
}

// A case whose sender cannot be matched to a patient is closed as not
// upheld from received, with the officer's note; nothing is in force and
// the case cannot be decided afterwards.
func TestCloseUnconfirmed(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	f := sampleForm()
	ref, _ := db.SubmitObjection(ctx, f)
	oc, _ := db.CaseByRef(ctx, ref)
	if err := db.CloseUnconfirmed(ctx, oc.ID, "u1", "Ida Officer", "no patient matched; letter returned"); err != nil {
		t.Fatal(err)
	}
	oc, _ = db.Case(ctx, oc.ID)
	last := oc.Steps[len(oc.Steps)-1]
	if oc.Status != store.StatusNotUpheld || oc.MatchedNHS != "" || last.From != store.StatusReceived ||
		last.To != store.StatusNotUpheld || last.Note != "no patient matched; letter returned" || last.ByName != "Ida Officer" {
		t.Fatalf("closed case: %s matched %q, last step %+v", oc.Status, oc.MatchedNHS, last)
	}
	if in, err := db.HasUpheldObjection(ctx, f.NHSNumber); err != nil || in {
		t.Fatalf("objection in force after closing unconfirmed: %v %v", in, err)
	}
	if err := db.CheckIdentity(ctx, oc.ID, "9990000026", "u", "U", ""); !errors.Is(err, store.ErrCaseState) {
		t.Fatalf("identity check on a closed case: %v", err)
	}
	if err := db.CloseUnconfirmed(ctx, oc.ID, "u", "U", "again"); !errors.Is(err, store.ErrCaseState) {
		t.Fatalf("closed twice: %v", err)
	}
}

func TestConcurrentDecisionOneWins(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	ref, _ := db.SubmitObjection(ctx, sampleForm())
	oc, _ := db.CaseByRef(ctx, ref)
	must(t, db.CheckIdentity(ctx, oc.ID, "9990000026", "u", "U", ""))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = db.DecideCase(ctx, oc.ID, i%2 == 0, "u", "U", "decision")
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrCaseState):
			t.Fatalf("loser's error %v, want ErrCaseState", err)
		}
	}
	oc, _ = db.Case(ctx, oc.ID)
	if won != 1 || len(oc.Steps) != 3 {
		t.Fatalf("%d decisions won, %d steps; want exactly one", won, len(oc.Steps))
	}
}

func TestSubmitObjectionRefusesBadForms(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	tests := []struct {
		name string
		edit func(*store.ObjectionForm)
	}{
		{"ErrKind", func(f *store.ObjectionForm) { f.Kind = "maybe" }},
		{"ErrNoName", func(f *store.ObjectionForm) { f.FullName = " " }},
		{"ErrNameTooLong", func(f *store.ObjectionForm) { f.FullName = strings.Repeat("a", store.MaxObjectionName+1) }},
		{"ErrNoBirthDate", func(f *store.ObjectionForm) { f.BirthDate = connectors.Date{} }},
		{"ErrNHSNumberCheckDigit", func(f *store.ObjectionForm) { f.NHSNumber = "9990000019" }},
		{"ErrNoContact", func(f *store.ObjectionForm) { f.Contact = "" }},
		{"ErrOnBehalfWithoutAuthority", func(f *store.ObjectionForm) { f.OnBehalf, f.SubmitterName, f.Relationship = true, "A", "Son" }},
		{"ErrReasonTooLong", func(f *store.ObjectionForm) { f.Reason = strings.Repeat("é", store.MaxObjectionReason+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := sampleForm()
			tt.edit(&f)
			if _, err := db.SubmitObjection(ctx, f); !errors.Is(err, store.ErrInvalidObjection) {
				t.Fatalf("got %v, want ErrInvalidObjection", err)
			}
		})
	}
	all, _ := db.SearchCases(ctx, "brackenbury")
	if len(all) != 0 {
		t.Fatalf("%d refused forms were stored", len(all))
	}
	t.Run("ErrNoCacheKey", func(t *testing.T) {
		plain := MustOpenDB(t)
		if _, err := plain.SubmitObjection(ctx, sampleForm()); !errors.Is(err, store.ErrNoCacheKey) {
			t.Fatalf("got %v: a form must never be stored unencrypted", err)
		}
	})
}

func TestReferences(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	seen := map[string]bool{}
	for range 200 {
		ref, err := db.SubmitObjection(ctx, sampleForm())
		if err != nil {
			t.Fatal(err)
		}
		if !refPattern.MatchString(ref) || seen[ref] {
			t.Fatalf("reference %q malformed or repeated", ref)
		}
		seen[ref] = true
	}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"CR-4K7M-X9QD", "CR-4K7M-X9QD", true},
		{" cr 4k7m x9qd ", "CR-4K7M-X9QD", true},
		{"4K7MX9QD", "CR-4K7M-X9QD", true},
		{"CR-4K7M-X9Q0", "", false}, // 0 is not in the alphabet
		{"CR-4K7M-X9Q", "", false},
		{"CR-4K7M-X9QDD", "", false},
	} {
		if got, ok := store.NormaliseRef(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("NormaliseRef(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSearchCases(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	db := objectionDB(t, &now)
	a := sampleForm()
	b := sampleForm()
	b.FullName, b.NHSNumber, b.OnBehalf, b.SubmitterName, b.Relationship, b.Authority = "Jane Smith", "", true, "Peter Smith", "Son", "Lasting power of attorney"
	refA, _ := db.SubmitObjection(ctx, a)
	now = now.Add(time.Minute)
	refB, _ := db.SubmitObjection(ctx, b)
	c := sampleForm()
	c.FullName, c.NHSNumber = "Mary Hartnett", ""
	refC, _ := db.SubmitObjection(ctx, c)

	for _, tt := range []struct {
		q    string
		want []string
	}{
		{refA, []string{refA}},
		{strings.ToLower(refB), []string{refB}},
		{"9990000026", []string{refA}},
		{"oliver   james", []string{refA}},
		{"SMITH", []string{refB}}, // patient and submitter both match: listed once
		{"peter", []string{refB}}, // the submitter's name
		{"", nil},                 // nothing asked, nothing listed
		{"CR-3333-3333", nil},     // well formed, no such case
		{"Nobody", nil},
		{"hartnett", []string{refC}}, // a name that is also a well-formed reference
	} {
		got, err := db.SearchCases(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, c := range got {
			refs = append(refs, c.Ref)
		}
		if strings.Join(refs, ",") != strings.Join(tt.want, ",") {
			t.Errorf("SearchCases(%q) = %v, want %v", tt.q, refs, tt.want)
		}
	}
	open, _ := db.OpenCases(ctx)
	if len(open) != 3 || open[0].Ref != refA || open[1].Ref != refB {
		t.Fatalf("open cases not oldest first: %+v", open)
	}
}

func TestSeedUpheldObjectionIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	for range 3 {
		must(t, db.SeedUpheldObjection(ctx, "9990000026", "demo"))
	}
	up, _ := db.UpheldCases(ctx)
	if len(up) != 1 || up[0].MatchedNHS != "9990000026" {
		t.Fatalf("upheld %+v", up)
	}
	oc, _ := db.Case(ctx, up[0].ID)
	if len(oc.Steps) != 3 || oc.Steps[2].Note != "demo" {
		t.Fatalf("seeded steps %+v", oc.Steps)
	}
	if ok, _ := db.HasUpheldObjection(ctx, "9990000026"); !ok {
		t.Fatal("seeded objection not in force")
	}
	if err := db.SeedUpheldObjection(ctx, "9990000019", ""); !errors.Is(err, store.ErrInvalidObjection) {
		t.Fatalf("bad NHS number: %v", err)
	}
}

// TestObjectionsEncryptedAtRest reads the database file's bytes: no name,
// address, contact, reason, note or NHS number may be there in the clear.
func TestObjectionsEncryptedAtRest(t *testing.T) {
	sqliteOnly(t) // reads the file
	ctx := context.Background()
	db := objectionDB(t, nil)
	f := sampleForm()
	f.OnBehalf, f.SubmitterName, f.Relationship, f.Authority = true, "Persephone Quibble", "Sister", "Lasting power of attorney"
	ref, err := db.SubmitObjection(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := db.CaseByRef(ctx, ref)
	must(t, db.CheckIdentity(ctx, oc.ID, "9990000026", "u", "U", "Spoke to Persephone"))
	must(t, db.DecideCase(ctx, oc.ID, true, "u", "U", "Zanzibar reason"))
	path := db.Path()
	must(t, db.Close())
	var raw []byte
	for _, p := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(p)
		raw = append(raw, b...)
	}
	if len(raw) == 0 {
		t.Fatal("empty database file")
	}
	for _, secret := range []string{"Brackenbury", "Example Street", "SW9 4ZZ", "oliver@example.com", "rather my records",
		"Persephone", "Quibble", "Zanzibar", "9990000026", "1978-08-23"} {
		if bytes.Contains(bytes.ToLower(raw), bytes.ToLower([]byte(secret))) {
			t.Errorf("%q is in the database file in the clear", secret)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkHasUpheldObjection(b *testing.B) {
	ctx := context.Background()
	db := objectionDB(b, nil)
	for _, n := range []string{"9990000018", "9990000026", "9990000034"} {
		if err := db.SeedUpheldObjection(ctx, n, ""); err != nil {
			b.Fatal(err)
		}
	}
	for range 500 {
		if _, err := db.SubmitObjection(ctx, sampleForm()); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		nhs := "9990000026"
		if i%2 == 1 {
			nhs = "9990000042"
		}
		if _, err := db.HasUpheldObjection(ctx, nhs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSeededObjectionNamesThePatient: the demo's seeded case carries the
// name the patient gave, so the queue does not say Not Known.
func TestSeededObjectionNamesThePatient(t *testing.T) {
	ctx := context.Background()
	db := objectionDB(t, nil)
	must(t, db.SeedUpheldObjectionNamed(ctx, "9990000026", "Oliver James Brackenbury", "demo"))
	up, _ := db.UpheldCases(ctx)
	if len(up) != 1 {
		t.Fatalf("upheld %+v", up)
	}
	oc, _ := db.Case(ctx, up[0].ID)
	if oc.Form.FullName != "Oliver James Brackenbury" {
		t.Fatalf("the seeded case's name is %q", oc.Form.FullName)
	}
}
