package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
)

// TestAuditSealedDetail checks that search terms and break-glass reasons
// are stored sealed (the raw row holds no surname), read clear by the IG
// search and both exports, and that the chain verifies over the sealed
// form; a detail written clear before sealing stays readable.
func TestAuditSealedDetail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	cacheKey := bytes.Repeat([]byte("k"), 32)

	// A row from before sealing (no cache key): clear, and stays so.
	old, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Audit(ctx, store.AuditEvent{Action: store.ActSearch, UserID: "555000111", Detail: "family=OLDROW dob=1970-01-01",
		Outcome: store.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := store.Open(path, store.WithCacheKey(cacheKey), store.WithAuditKey(testAuditKey))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events := []store.AuditEvent{
		{Action: store.ActSearch, UserID: "555000111", Detail: "family=SMITH given=Jane dob=1965-03-12 postcode=SE5 9RS", Outcome: store.OutcomeAllowed},
		{Action: store.ActBreakGlass, UserID: "555000111", NHSNumber: "9990000018", Reason: "break-glass", Detail: "Collapsed in clinic, no history", Outcome: store.OutcomeAllowed},
		{Action: store.ActRecordOpen, UserID: "555000111", NHSNumber: "9990000018", Reason: "break-glass", Detail: "Collapsed in clinic, no history", Outcome: store.OutcomeAllowed},
		{Action: store.ActSignIn, UserID: "555000111", Detail: "assurance level 3, 1 role profile(s)", Outcome: store.OutcomeAllowed},
	}
	for _, ev := range events {
		got, err := db.Audit(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got.Detail != ev.Detail {
			t.Fatalf("Audit returned detail %q, want the clear %q", got.Detail, ev.Detail)
		}
	}

	t.Run("RawRowHoldsNoClearText", func(t *testing.T) {
		raw := rawAuditDB(t, path)
		rows, err := raw.Query(`SELECT seq, action, detail FROM audit_events ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				seq            int64
				action, detail string
			)
			rows.Scan(&seq, &action, &detail)
			switch {
			case seq == 1:
				if detail != "family=OLDROW dob=1970-01-01" {
					t.Errorf("the row written before sealing changed: %q", detail)
				}
			case action == string(store.ActSignIn):
				if !strings.HasPrefix(detail, "assurance level") {
					t.Errorf("a sign-in's detail is not personal data and stays clear, got %q", detail)
				}
			default:
				for _, clear := range []string{"SMITH", "Jane", "1965", "SE5", "Collapsed"} {
					if strings.Contains(detail, clear) {
						t.Errorf("event %d (%s) holds %q in clear: %q", seq, action, clear, detail)
					}
				}
				if !strings.HasPrefix(detail, "sealed:v1:") {
					t.Errorf("event %d (%s) is not sealed: %q", seq, action, detail)
				}
			}
		}
	})
	t.Run("SearchAndExportsShowClearText", func(t *testing.T) {
		evs, _, err := db.SearchAudit(ctx, store.AuditFilter{})
		if err != nil || len(evs) != 5 {
			t.Fatalf("search: %d events, %v", len(evs), err)
		}
		if evs[3].Detail != events[0].Detail || evs[2].Detail != events[1].Detail || evs[4].Detail != "family=OLDROW dob=1970-01-01" {
			t.Fatalf("search details %q, %q, %q", evs[3].Detail, evs[2].Detail, evs[4].Detail)
		}
		var csv, fhir bytes.Buffer
		if _, err := db.ExportAuditCSV(ctx, store.AuditFilter{}, &csv); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExportAuditFHIR(ctx, store.AuditFilter{}, &fhir); err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]string{"CSV": csv.String(), "FHIR": fhir.String()} {
			for _, want := range []string{"family=SMITH given=Jane dob=1965-03-12 postcode=SE5 9RS", "Collapsed in clinic, no history", "family=OLDROW"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s export lacks %q", name, want)
				}
			}
		}
	})
	t.Run("AlertReasonSealed", func(t *testing.T) {
		raw := rawAuditDB(t, path)
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM audit_alerts WHERE why LIKE '%Collapsed%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d alerts hold the break-glass reason in clear (%v)", n, err)
		}
		alerts, err := db.Alerts(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range alerts {
			if a.Kind == store.AlertBreakGlass {
				found = true
				if !strings.Contains(a.Why, "Reason given: Collapsed in clinic, no history") {
					t.Fatalf("the break-glass alert reads %q", a.Why)
				}
				one, err := db.Alert(ctx, a.ID)
				if err != nil || one.Why != a.Why {
					t.Fatalf("Alert(%d).Why = %q, %v", a.ID, one.Why, err)
				}
			}
		}
		if !found {
			t.Fatal("no break-glass alert")
		}
	})
	t.Run("ChainCoversSealedForm", func(t *testing.T) {
		if res, err := db.VerifyAudit(ctx); err != nil || !res.OK || res.Events != 5 {
			t.Fatalf("verify = %+v, %v", res, err)
		}
		res, err := store.VerifyAuditFile(ctx, path, store.WithAuditKey(testAuditKey))
		if err != nil || !res.OK {
			t.Fatalf("verify without the cache key = %+v, %v", res, err)
		}
	})
}
