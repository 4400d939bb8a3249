package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// FuzzAuditExport writes one audit event with arbitrary text in every
// field and exports it: the CSV parses back with encoding/csv to the
// header and one row of the same width, no cell starts with a character a
// spreadsheet takes for a formula unless quoted with an apostrophe, each
// cell gives back what was stored, and the FHIR export is valid JSON with
// one entry.
func FuzzAuditExport(f *testing.F) {
	var (
		mu sync.Mutex
		at = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	)
	// Each event gets its own second, so a time window selects it alone.
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(time.Second)
		return at
	}
	db := MustOpenDB(f, store.WithClock(clock))

	f.Add("555000000001", "Dr Amara Okafor", "R8000", "RJZ", "abc123", "127.0.0.1", "record-open", "9990000018",
		"direct-care", "", "allowed", "", "RJZ;RJ1")
	f.Add("=HYPERLINK(\"http://x.example\",\"click\")", "+SUM(A1)", "-1", "@x", "\tx", "\rx", "=cmd|' /C calc'!A0", "999 000 0018",
		"break-glass", "line one\r\nline two, \"quoted\"", "refused", "=1+1", "a;b;=c")
	f.Add("", "", "", "", "", "", "x", "", "", "\x00\xff\xfe", "allowed", "\u202e", "")
	f.Fuzz(func(t *testing.T, userID, userName, role, ods, session, addr, action, nhs, reason, detail, outcome, why, sources string) {
		if action == "" {
			action = "x"
		}
		oc := store.OutcomeAllowed
		if strings.Contains(outcome, "r") {
			oc = store.OutcomeRefused
		}
		var srcs []string
		if sources != "" {
			srcs = strings.Split(sources, ";")
		}
		ev, err := db.Audit(context.Background(), store.AuditEvent{UserID: userID, UserName: userName, RoleCode: role, ODS: ods,
			SessionHash: session, ClientAddr: addr, Action: store.Action(action), NHSNumber: nhs, Reason: reason, Detail: detail,
			Outcome: oc, OutcomeWhy: why, Sources: srcs})
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		only := store.AuditFilter{From: ev.Time, To: ev.Time.Add(time.Millisecond)}

		var out bytes.Buffer
		if n, err := db.ExportAuditCSV(context.Background(), only, &out); err != nil || n != 1 {
			t.Fatalf("CSV export: %d events, %v; want 1", n, err)
		}
		recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("the CSV does not parse: %v\n%q", err, out.String())
		}
		if len(recs) != 2 || len(recs[1]) != len(recs[0]) {
			t.Fatalf("%d records (want the header and one row); widths %v", len(recs), widths(recs))
		}
		stored := []string{ev.UserID, ev.UserName, ev.RoleCode, ev.ODS, ev.SessionHash, ev.ClientAddr, string(ev.Action),
			ev.NHSNumber, ev.Reason, ev.Detail, string(ev.Outcome), ev.OutcomeWhy, strings.Join(ev.Sources, ";")}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		names := []string{"user_id", "user_name", "role_code", "ods", "session_hash", "client_addr", "action",
			"nhs_number", "reason", "detail", "outcome", "outcome_why", "sources"}
		for i, name := range names {
			cell := recs[1][col[name]]
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("%s cell %q starts with a formula character", name, cell)
			}
			// encoding/csv reads a quoted \r\n as \n.
			want := strings.ReplaceAll(stored[i], "\r\n", "\n")
			if cell != want && cell != "'"+want {
				t.Fatalf("%s cell %q, stored %q", name, cell, stored[i])
			}
		}

		out.Reset()
		if n, err := db.ExportAuditFHIR(context.Background(), only, &out); err != nil || n != 1 {
			t.Fatalf("FHIR export: %d events, %v; want 1", n, err)
		}
		var bundle struct {
			ResourceType string            `json:"resourceType"`
			Entry        []json.RawMessage `json:"entry"`
		}
		if !json.Valid(out.Bytes()) {
			t.Fatalf("the FHIR export is not valid JSON: %q", out.String())
		}
		if err := json.Unmarshal(out.Bytes(), &bundle); err != nil || bundle.ResourceType != "Bundle" || len(bundle.Entry) != 1 {
			t.Fatalf("FHIR export: %v, resourceType %q, %d entries", err, bundle.ResourceType, len(bundle.Entry))
		}
	})
}

func widths(recs [][]string) []int {
	var w []int
	for _, r := range recs {
		w = append(w, len(r))
	}
	return w
}
