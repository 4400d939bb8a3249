package store

import (
	"strings"
	"testing"
	"time"
)

// Hooks for the external tests and benchmarks of the audit log.

// AuditBatches returns how many transactions the audit writer committed.
func (db *DB) AuditBatches() int64 { return db.audit.batches.Load() }

// AuditHash recomputes an event's hash as the writer does.
func AuditHash(ev AuditEvent) string { return auditHash(&ev) }

// fakeHistory answers the windowed rules from fixed numbers.
type fakeHistory struct {
	opened, refused int
	alertedKinds    map[string]bool // kind -> already raised in the window
}

func (f fakeHistory) patientsOpened(time.Time) int { return f.opened }
func (f fakeHistory) refusals(time.Time) int       { return f.refused }
func (f fakeHistory) alerted(kind, _ string, _ time.Time) bool {
	return f.alertedKinds[kind]
}

func TestAlertRules(t *testing.T) {
	rules := AlertRules{ManyPatients: 30, ManyPatientsWindow: time.Hour, Refusals: 5,
		RefusalWindow: 10 * time.Minute, RepeatWindow: 24 * time.Hour, DayStart: 8 * time.Hour, DayEnd: 18*time.Hour + 30*time.Minute}
	// Tuesday 4 March 2025, 09:00 in London: within working hours.
	base := AuditEvent{Seq: 7, Time: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC), UserID: "555000111",
		UserName: "Dr Jane SMITH", Action: ActRecordOpen, NHSNumber: "9990000018", Outcome: OutcomeAllowed, Reason: "direct-care"}
	with := func(f func(*AuditEvent)) AuditEvent { ev := base; f(&ev); return ev }
	tests := []struct {
		name string
		ev   AuditEvent
		hist fakeHistory
		want []string
	}{
		{"PlainOpen", base, fakeHistory{opened: 1}, nil},
		{"BreakGlass", with(func(e *AuditEvent) { e.Action, e.Reason, e.Detail = ActBreakGlass, "break-glass", "unconscious in ED" }), fakeHistory{}, []string{AlertBreakGlass}},
		{"ObjectionOverride", with(func(e *AuditEvent) { e.Action = ActObjectionOverride }), fakeHistory{}, []string{AlertObjectionOverride}},
		{"SameFamilyName", with(func(e *AuditEvent) { e.PatientFamilyName = "Smith" }), fakeHistory{opened: 1}, []string{AlertSameFamilyName}},
		{"SameFamilyNameCommaForm", with(func(e *AuditEvent) { e.UserName, e.PatientFamilyName = "SMITH, Jane (Dr)", "SMITH" }), fakeHistory{opened: 1}, []string{AlertSameFamilyName}},
		{"SameFamilyNameAlreadyRaised", with(func(e *AuditEvent) { e.PatientFamilyName = "SMITH" }), fakeHistory{opened: 1, alertedKinds: map[string]bool{AlertSameFamilyName: true}}, nil},
		{"SameFamilyNameRefusedOpen", with(func(e *AuditEvent) { e.PatientFamilyName, e.Outcome = "SMITH", OutcomeRefused }), fakeHistory{refused: 1}, nil},
		{"OtherFamilyName", with(func(e *AuditEvent) { e.PatientFamilyName = "SMYTHE" }), fakeHistory{opened: 1}, nil},
		{"ManyPatientsAtThreshold", base, fakeHistory{opened: 30}, nil},
		{"ManyPatientsOverThreshold", base, fakeHistory{opened: 31}, []string{AlertManyPatients}},
		{"ManyPatientsAlreadyRaised", base, fakeHistory{opened: 40, alertedKinds: map[string]bool{AlertManyPatients: true}}, nil},
		{"ManyPatientsIgnoresSearch", with(func(e *AuditEvent) { e.Action = ActSearch }), fakeHistory{opened: 31}, nil},
		{"RefusalsBelow", with(func(e *AuditEvent) { e.Action, e.Outcome = ActAccessRefused, OutcomeRefused }), fakeHistory{refused: 4}, nil},
		{"RefusalsReached", with(func(e *AuditEvent) { e.Action, e.Outcome = ActAccessRefused, OutcomeRefused }), fakeHistory{refused: 5}, []string{AlertRepeatedRefusals}},
		{"RefusalsAlreadyRaised", with(func(e *AuditEvent) { e.Action, e.Outcome = ActAccessRefused, OutcomeRefused }), fakeHistory{refused: 9, alertedKinds: map[string]bool{AlertRepeatedRefusals: true}}, nil},
		{"RefusalsWithoutUser", with(func(e *AuditEvent) { e.Action, e.Outcome, e.UserID = ActSignInRefused, OutcomeRefused, "" }), fakeHistory{refused: 9}, nil},
		{"OwnRecord", with(func(e *AuditEvent) { e.UserNHSNumber = "9990000018" }), fakeHistory{opened: 1}, []string{AlertOwnRecord}},
		{"NotOwnRecord", with(func(e *AuditEvent) { e.UserNHSNumber = "9990000026" }), fakeHistory{opened: 1}, nil},
		{"RestrictedRecord", with(func(e *AuditEvent) { e.PatientRestricted = true }), fakeHistory{opened: 1}, []string{AlertRestricted}},
		{"RestrictedAlreadyRaised", with(func(e *AuditEvent) { e.PatientRestricted = true }), fakeHistory{opened: 1, alertedKinds: map[string]bool{AlertRestricted: true}}, nil},
		{"EarlyMorning", with(func(e *AuditEvent) { e.Time = time.Date(2025, 3, 4, 7, 59, 0, 0, time.UTC) }), fakeHistory{opened: 1}, []string{AlertOutOfHours}},
		{"Evening", with(func(e *AuditEvent) { e.Time = time.Date(2025, 3, 4, 18, 30, 0, 0, time.UTC) }), fakeHistory{opened: 1}, []string{AlertOutOfHours}},
		{"SummerTimeWorkingHours", with(func(e *AuditEvent) { e.Time = time.Date(2025, 7, 8, 7, 30, 0, 0, time.UTC) }), fakeHistory{opened: 1}, nil}, // 08:30 BST
		{"Saturday", with(func(e *AuditEvent) { e.Time = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }), fakeHistory{opened: 1}, []string{AlertOutOfHours}},
		{"OutOfHoursAlreadyRaised", with(func(e *AuditEvent) { e.Time = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }), fakeHistory{opened: 1, alertedKinds: map[string]bool{AlertOutOfHours: true}}, nil},
		{"BreakGlassAndSameName", with(func(e *AuditEvent) { e.Action, e.PatientFamilyName = ActBreakGlass, "smith" }), fakeHistory{opened: 1}, []string{AlertBreakGlass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules.evaluate(&tt.ev, tt.hist)
			var kinds []string
			for _, a := range got {
				kinds = append(kinds, a.Kind)
				if a.Seq != tt.ev.Seq || a.UserID != tt.ev.UserID || a.Status != AlertOpen || a.Why == "" || !a.Raised.Equal(tt.ev.Time) {
					t.Errorf("alert %+v does not describe event %d", a, tt.ev.Seq)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("alerts = %v, want %v", kinds, tt.want)
			}
		})
	}
}

func TestFamilyName(t *testing.T) {
	for in, want := range map[string]string{
		"Dr Jane SMITH": "SMITH", "SMITH, Jane (Mrs)": "SMITH", "Jane O'Brien": "O'Brien",
		"  ": "", "Prince": "Prince", "Jane Smith.": "Smith",
	} {
		if got := familyName(in); got != want {
			t.Errorf("familyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuditHashUnambiguous(t *testing.T) {
	a := AuditEvent{Seq: 1, UserID: "ab", UserName: "c", Action: ActSignIn, Outcome: OutcomeAllowed}
	b := AuditEvent{Seq: 1, UserID: "a", UserName: "bc", Action: ActSignIn, Outcome: OutcomeAllowed}
	if auditHash(&a) == auditHash(&b) {
		t.Fatal("moving a byte between fields does not change the hash")
	}
	c := a
	c.Sources = []string{"RX1"}
	d := a
	d.Sources = []string{"RX", "1"}
	if auditHash(&c) == auditHash(&d) {
		t.Fatal("splitting a source does not change the hash")
	}
}

func TestAlertRulesCanBeTurnedOff(t *testing.T) {
	rules := DefaultAlertRules()
	rules.Off = map[string]bool{AlertBreakGlass: true, AlertOutOfHours: true}
	ev := AuditEvent{Seq: 1, Time: time.Date(2025, 3, 1, 23, 0, 0, 0, time.UTC), UserID: "u", Action: ActBreakGlass,
		NHSNumber: "9990000018", Outcome: OutcomeAllowed}
	if got := rules.evaluate(&ev, fakeHistory{}); len(got) != 0 {
		t.Fatalf("rules that are off raised %v", got)
	}
}
