package fhir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

var (
	testSource  = connectors.Source{Name: "Test Trust", ODS: "RXX"}
	testFetched = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkAccount checks the mapper's account after finish: every line says
// one of the things the contract allows; every omission has its line and
// every hidden or unreadable line its omission; every entry comes from a
// resource the account names. It returns how many resources sent on their
// own (not contained in another) the account names.
func checkAccount(t testing.TB, m *mapper, entries []connectors.Entry) int {
	t.Helper()
	acct := m.account()
	hidden, unread, top := 0, 0, 0
	for key, line := range acct {
		if !strings.Contains(key, "#") {
			top++
		}
		switch {
		case strings.HasPrefix(line, "hidden: "):
			hidden++
			switch strings.TrimPrefix(line, "hidden: ") {
			case connectors.HideEnteredInError, connectors.HideRefuted, connectors.HideCancelled, connectors.HideSuperseded:
			default:
				t.Fatalf("%s: %q is not one of the hide rules", key, line)
			}
		case strings.HasPrefix(line, "unreadable: "):
			unread++
		case strings.HasPrefix(line, "shown as "), strings.HasPrefix(line, "part of "),
			strings.HasPrefix(line, "used by "), line == "not used":
		default:
			t.Fatalf("%s: account line %q is none of the forms allowed", key, line)
		}
		if kind, ok := strings.CutPrefix(line, "shown as "); ok && !containsKind(connectors.Kinds, connectors.Kind(kind)) {
			t.Fatalf("%s: shown as unknown kind %q", key, kind)
		}
		if id, ok := strings.CutPrefix(line, "part of "); ok && !hasEntry(entries, id) {
			t.Fatalf("%s: part of %s, which is not an entry", key, id)
		}
	}
	if hidden != len(m.hidden) || unread != len(m.unreadable) {
		t.Fatalf("account has %d hidden and %d unreadable lines; the record %d and %d", hidden, unread, len(m.hidden), len(m.unreadable))
	}
	for _, o := range m.hidden {
		if acct[o.Resource] != "hidden: "+o.Reason || o.Kind == "" {
			t.Fatalf("hidden %+v: account says %q", o, acct[o.Resource])
		}
	}
	for _, o := range m.unreadable {
		if o.Resource != "" && acct[o.Resource] != "unreadable: "+o.Reason {
			t.Fatalf("unreadable %+v: account says %q", o, acct[o.Resource])
		}
	}
	for _, e := range entries {
		base, _, _ := strings.Cut(e.ID, "#")
		if _, ok := acct[e.ID]; !ok && acct[base] == "" {
			t.Fatalf("entry %s comes from no resource in the account", e.ID)
		}
	}
	return top
}

func containsKind(ks []connectors.Kind, k connectors.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func hasEntry(entries []connectors.Entry, id string) bool {
	for _, e := range entries {
		if e.ID == id {
			return true
		}
	}
	return false
}

// hl7 reads one of HL7's official R4 examples (CC0) kept in testdata/hl7.
func hl7(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hl7", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mapped is what the mapper made of some resources.
type mapped struct {
	m       *mapper
	entries []connectors.Entry
	byID    map[string]connectors.Entry
}

func (r mapped) entry(t testing.TB, id string) connectors.Entry {
	t.Helper()
	e, ok := r.byID[id]
	if !ok {
		t.Fatalf("no entry %s; account %v", id, r.m.account())
	}
	return e
}

// mapResources gives each resource to a mapper as the client would: from
// the search for its own type (a Medication as an included resource), for
// the patient p (nil: not known), and checks the account.
func mapResources(t testing.TB, p *connectors.Patient, resources ...string) mapped {
	t.Helper()
	m := newMapper(testSource, testFetched)
	m.patient = p
	for _, r := range resources {
		typ, _ := identify(json.RawMessage(r))
		if typ == "Medication" {
			m.include(json.RawMessage(r))
			continue
		}
		m.add(typ, json.RawMessage(r))
	}
	out := mapped{m: m, entries: m.finish(), byID: map[string]connectors.Entry{}}
	checkAccount(t, m, out.entries)
	for _, e := range out.entries {
		if _, dup := out.byID[e.ID]; dup {
			t.Fatalf("two entries %s", e.ID)
		}
		out.byID[e.ID] = e
	}
	return out
}

func TestAccount(t *testing.T) {
	r := mapResources(t, nil,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Sodium"},"valueQuantity":{"value":140,"unit":"mmol/L"}}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Sodium"},"valueQuantity":{"value":140,"unit":"mmol/L"}}`,
		`{"resourceType":"Observation","id":"panel","status":"final","code":{"text":"U&E"},"hasMember":[{"reference":"Observation/o1"}]}`,
		`{"resourceType":"Observation","id":"eie","status":"entered-in-error","code":{"text":"Sodium"}}`,
		`{"resourceType":"Observation","id":"cancel","status":"cancelled","code":{"text":"Sodium"}}`,
		`{"resourceType":"Observation","id":"bad","status":"bogus","code":{"text":"Sodium"}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"Sodium"}}`,
		`{"resourceType":"Condition","id":"refuted","verificationStatus":{"coding":[{"code":"refuted"}]},"code":{"text":"Asthma"}}`,
		`{"resourceType":"MedicationRequest","id":"rx","status":"active","intent":"order","medicationReference":{"reference":"Medication/m1"}}`,
		`{"resourceType":"Medication","id":"m1","code":{"text":"Aspirin 75mg tablets"}}`,
		`{"resourceType":"Medication","id":"m2","code":{"text":"Unused"}}`,
	)
	want := map[string]string{
		"Observation/o1":               "shown as result",
		"Observation/panel":            "part of Observation/o1",
		"Observation/eie":              "hidden: entered-in-error",
		"Observation/cancel":           "hidden: cancelled",
		"Observation/bad":              "unreadable: does not fit FHIR R4",
		"Observation (unidentified 1)": "unreadable: no id",
		"Condition/refuted":            "hidden: refuted",
		"MedicationRequest/rx":         "shown as medication",
		"Medication/m1":                "used by MedicationRequest/rx",
		"Medication/m2":                "not used",
	}
	got := r.m.account()
	for key, line := range want {
		if got[key] != line {
			t.Errorf("account[%s] = %q, want %q", key, got[key], line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("account has %d lines, want %d: %v", len(got), len(want), got)
	}
	if len(r.entries) != 2 {
		t.Errorf("%d entries, want 2 (the sodium once, the prescription)", len(r.entries))
	}
}

func mustUnmarshal(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
}

// mustMarshalInner is v's JSON object without its braces.
func mustMarshalInner(t testing.TB, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(b), "{"), "}")
}

// dumpEntry shows an entry with its detail, for a failure message.
func dumpEntry(e connectors.Entry) string {
	s := fmt.Sprintf("%+v", e)
	for _, d := range []any{e.Result, e.Imaging, e.Medication, e.Encounter, e.Procedure, e.Problem, e.Allergy, e.Document,
		e.Immunization, e.Alert} {
		if !reflect.ValueOf(d).IsNil() {
			s += fmt.Sprintf(" detail=%+v", d)
		}
	}
	return s
}
