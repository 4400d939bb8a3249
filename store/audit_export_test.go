package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
)

func TestExportAuditCSV(t *testing.T) {
	clock := newAuditClock()
	db := MustOpenDB(t, store.WithClock(clock.Now))
	all := sampleAuditLog(t, db, clock, 20)
	evil := mustAudit(t, db, store.AuditEvent{UserID: "555000999", UserName: `=HYPERLINK("http://x.example","click")`,
		Action: store.ActSearch, Detail: "-2+3", OutcomeWhy: "@SUM(A1)", ClientAddr: "+44", Reason: "\tdirect-care"})
	all = append(all, evil)

	t.Run("OK", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := db.ExportAuditCSV(context.Background(), store.AuditFilter{}, &buf)
		if err != nil || n != 21 {
			t.Fatalf("exported %d, %v; want 21", n, err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("export does not parse as CSV: %v", err)
		}
		if len(recs) != 22 || recs[0][0] != "seq" || recs[0][len(recs[0])-1] != "hash" {
			t.Fatalf("%d records, header %v", len(recs), recs[0])
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for i, rec := range recs[1:] {
			want := all[len(all)-1-i] // newest first
			if rec[col["seq"]] != strconv.FormatInt(want.Seq, 10) || rec[col["nhs_number"]] != want.NHSNumber ||
				rec[col["user_id"]] != want.UserID || rec[col["hash"]] != want.Hash ||
				rec[col["sources"]] != strings.Join(want.Sources, ";") || rec[col["action"]] != string(want.Action) {
				t.Errorf("row %d = %v, want event %d", i+1, rec, want.Seq)
			}
		}
		top := recs[1]
		for name, want := range map[string]string{
			"user_name":   `'=HYPERLINK("http://x.example","click")`,
			"detail":      "'-2+3",
			"outcome_why": "'@SUM(A1)",
			"client_addr": "'+44",
			"reason":      "'\tdirect-care",
		} {
			if top[col[name]] != want {
				t.Errorf("%s = %q, want %q (neutralised)", name, top[col[name]], want)
			}
		}
	})
	t.Run("Filtered", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := db.ExportAuditCSV(context.Background(), store.AuditFilter{UserID: "555000222"}, &buf)
		recs, _ := csv.NewReader(&buf).ReadAll()
		if err != nil || n != 7 || len(recs) != 8 {
			t.Fatalf("filtered export: %d events, %d records, %v", n, len(recs), err)
		}
	})
	t.Run("ErrWriter", func(t *testing.T) {
		if _, err := db.ExportAuditCSV(context.Background(), store.AuditFilter{}, failWriter{}); err == nil {
			t.Fatal("want the writer's error")
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// fhirBundle is the part of a Bundle of AuditEvents the tests check.
type fhirBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Timestamp    string `json:"timestamp"`
	Entry        []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Type         struct{ System, Code string }
			Subtype      []struct{ System, Code string }
			Action       string `json:"action"`
			Recorded     string `json:"recorded"`
			Outcome      string `json:"outcome"`
			OutcomeDesc  string `json:"outcomeDesc"`
			Agent        []struct {
				Who struct {
					Identifier struct{ System, Value string }
					Display    string
				}
				Role      []struct{ Coding []struct{ Code string } }
				Requestor *bool
				Network   struct{ Address, Type string }
			}
			Source struct {
				Site     string
				Observer struct{ Display string }
			}
			Entity []struct {
				What struct {
					Identifier struct{ System, Value string }
				}
				Detail []struct {
					Type        string
					ValueString string
				}
			}
			PurposeOfEvent []struct {
				Coding []struct{ System, Code string }
			}
			Extension []struct {
				URL       string
				Extension []struct{ URL, ValueString string }
			}
		} `json:"resource"`
	} `json:"entry"`
}

func TestExportAuditFHIR(t *testing.T) {
	clock := newAuditClock()
	db := MustOpenDB(t, store.WithClock(clock.Now))
	all := sampleAuditLog(t, db, clock, 12)
	mustAudit(t, db, store.AuditEvent{UserID: "555000111", Action: store.ActSignIn})
	all = append(all, mustAuditRead(t, db, 13))

	var buf bytes.Buffer
	n, err := db.ExportAuditFHIR(context.Background(), store.AuditFilter{}, &buf)
	if err != nil || n != 13 {
		t.Fatalf("exported %d, %v; want 13", n, err)
	}
	var b fhirBundle
	if err := json.Unmarshal(buf.Bytes(), &b); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "collection" || b.Timestamp == "" || len(b.Entry) != 13 {
		t.Fatalf("bundle %s/%s with %d entries", b.ResourceType, b.Type, len(b.Entry))
	}
	seen := map[string]bool{}
	for i, e := range b.Entry {
		want := all[len(all)-1-i]
		r := e.Resource
		if r.ResourceType != "AuditEvent" || r.ID != strconv.FormatInt(want.Seq, 10) || r.Recorded != want.Time.Format("2006-01-02T15:04:05.000Z07:00") {
			t.Fatalf("entry %d: %s/%s recorded %s; want event %d", i, r.ResourceType, r.ID, r.Recorded, want.Seq)
		}
		if !strings.HasPrefix(e.FullURL, "urn:uuid:") || seen[e.FullURL] {
			t.Errorf("entry %d fullUrl %q is not a fresh urn:uuid", i, e.FullURL)
		}
		seen[e.FullURL] = true
		if r.Type.Code == "" || r.Action == "" || len(r.Agent) != 1 || r.Source.Observer.Display == "" {
			t.Errorf("entry %d lacks a required element: %+v", i, r)
		}
		ag := r.Agent[0]
		if ag.Who.Identifier.System != store.FHIRSystemSDSUserID || ag.Who.Identifier.Value != want.UserID || ag.Requestor == nil || !*ag.Requestor {
			t.Errorf("entry %d agent = %+v, want user %s as requestor", i, ag, want.UserID)
		}
		wantOutcome := map[store.Outcome]string{store.OutcomeAllowed: "0", store.OutcomeRefused: "4"}[want.Outcome]
		if r.Outcome != wantOutcome || (want.Outcome == store.OutcomeRefused && !strings.Contains(r.OutcomeDesc, want.OutcomeWhy)) {
			t.Errorf("entry %d outcome %q (%q), want %q", i, r.Outcome, r.OutcomeDesc, wantOutcome)
		}
		subtypeOK := false
		for _, st := range r.Subtype {
			subtypeOK = subtypeOK || (st.System == store.FHIRSystemAction && st.Code == string(want.Action))
		}
		if !subtypeOK {
			t.Errorf("entry %d subtype %+v lacks action %s", i, r.Subtype, want.Action)
		}
		if len(r.Extension) != 1 || r.Extension[0].URL != store.FHIRExtensionChain || r.Extension[0].Extension[2].ValueString != want.Hash {
			t.Errorf("entry %d chain extension = %+v", i, r.Extension)
		}
		if want.NHSNumber == "" {
			continue
		}
		if len(r.Entity) == 0 || r.Entity[0].What.Identifier.System != store.FHIRSystemNHSNumber || r.Entity[0].What.Identifier.Value != want.NHSNumber {
			t.Errorf("entry %d entity = %+v, want patient %s", i, r.Entity, want.NHSNumber)
		}
		if len(want.Sources) > 0 && (len(r.Entity[0].Detail) == 0 || r.Entity[0].Detail[0].ValueString != strings.Join(want.Sources, ",")) {
			t.Errorf("entry %d sources detail = %+v", i, r.Entity[0].Detail)
		}
		if want.Reason == "direct-care" && (len(r.PurposeOfEvent) == 0 || r.PurposeOfEvent[0].Coding[0].Code != "TREAT") {
			t.Errorf("entry %d purposeOfEvent = %+v, want TREAT", i, r.PurposeOfEvent)
		}
	}

	t.Run("FilteredAndEmpty", func(t *testing.T) {
		for _, tt := range []struct {
			f    store.AuditFilter
			want int
		}{
			{store.AuditFilter{NHSNumber: auditPatients[0]}, 2},
			{store.AuditFilter{UserID: "nobody"}, 0},
		} {
			buf.Reset()
			n, err := db.ExportAuditFHIR(context.Background(), tt.f, &buf)
			var b fhirBundle
			if jerr := json.Unmarshal(buf.Bytes(), &b); err != nil || jerr != nil || n != tt.want || len(b.Entry) != tt.want {
				t.Fatalf("filter %+v: %d entries (%d), %v / %v", tt.f, n, len(b.Entry), err, jerr)
			}
		}
	})
}

func mustAuditRead(t *testing.T, db *store.DB, seq int64) store.AuditEvent {
	t.Helper()
	evs, _, err := db.SearchAudit(context.Background(), store.AuditFilter{BeforeSeq: seq + 1, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Seq != seq {
		t.Fatalf("read event %d: %v %v", seq, evs, err)
	}
	return evs[0]
}
