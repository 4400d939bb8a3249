package fhir

// Resources are decoded one at a time into samply's generated R4 structs:
// they follow the specification field by field (choice types, enumerations
// checked against the R4 value sets), so a resource that does not fit R4 is
// rejected and accounted as unreadable rather than half-read. Two things the
// library lacks are read with small local structs instead: `contained`
// resources (samply has no field for them) and the Bundle envelope, which is
// decoded loosely so one bad entry cannot spoil a page.
//
// The mapping of each resource type lives in a file of its own
// (observation.go, report.go, medication.go, ...); this file holds the
// mapper, which accounts for every resource it is given: shown as (part of)
// an entry, hidden by one of the connectors.Hide* rules, or unreadable with a
// short reason that never quotes the resource.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// unreadable is the short reason a resource could not be mapped. Only these
// words reach Omission.Reason and the account: a decoder's own error may
// quote the resource, so it is never passed on.
type unreadable string

func (u unreadable) Error() string { return string(u) }

// Reasons a resource is unreadable.
const (
	errNotResource unreadable = "not a FHIR resource"
	errNoID        unreadable = "no id"
	errNotR4       unreadable = "does not fit FHIR R4"
	errBadDate     unreadable = "bad date"
)

// reasonOf gives the short reason for a mapping error.
func reasonOf(err error) string {
	var u unreadable
	if errors.As(err, &u) {
		return string(u)
	}
	return string(errNotR4)
}

// mappedTypes are the resource types the mapper turns into entries, in the
// order they are mapped: ImagingStudy before DiagnosticReport, because an
// imaging report is merged into the study it reports on.
var mappedTypes = []string{
	"Observation", "ImagingStudy", "DiagnosticReport", "MedicationRequest",
	"MedicationStatement", "Encounter", "Procedure", "Condition",
	"AllergyIntolerance", "DocumentReference", "Immunization", "Flag",
}

// resource is one resource given to the mapper, not yet mapped.
type resource struct {
	typ, key string
	raw      json.RawMessage
	bad      unreadable // set when even its type or id could not be read
}

// group is the report or panel a result belongs to.
type group struct {
	id, title string
	codes     []connectors.Code
}

// pendingGroup is a panel or report whose own fate depends on its members:
// it is "part of" the first member shown, or, when none is, shown as an
// entry of its own so that it never vanishes.
type pendingGroup struct {
	key      string
	members  []string // entry IDs
	document string   // an entry presenting the report (a PDF), if any
	when     connectors.When
	fallback connectors.Entry
}

// mapper turns the resources of one record into timeline entries and an
// account of each resource. Use: newMapper, add and include in any order,
// unresolved (for the client to read what it names and include it), then
// finish once; account, hidden and unreadable are read after finish.
type mapper struct {
	src     connectors.Source
	fetched time.Time
	// patient, when the client sets it, lets a reference range be chosen
	// by who it applies to (sex, age).
	patient *connectors.Patient

	added        []resource
	seen         map[string]bool
	included     map[string]json.RawMessage
	unidentified int

	entries []connectors.Entry
	index   map[string]int   // entry ID -> position in entries
	groupOf map[string]group // entry ID of a result -> its report or panel
	pending []pendingGroup
	acct    map[string]string
	// replaced holds the documents another document sent replaces.
	replaced map[string]bool
	// hidden and unreadable are filled by finish: every resource that is
	// not shown, and why.
	hidden, unreadable []connectors.Omission
}

func newMapper(src connectors.Source, fetched time.Time) *mapper {
	return &mapper{src: src, fetched: fetched, seen: map[string]bool{}, included: map[string]json.RawMessage{},
		index: map[string]int{}, groupOf: map[string]group{}, acct: map[string]string{}}
}

// identify reads a raw resource's type and id.
func identify(raw json.RawMessage) (typ, id string) {
	var r struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return "", ""
	}
	return r.ResourceType, r.ID
}

// add takes one resource from the search for typ. A resource of another
// type is an _include'd one (resolving references) or, for an
// OperationOutcome, the server's search warnings, which are not patient data.
func (m *mapper) add(typ string, raw json.RawMessage) {
	rt, id := identify(raw)
	switch {
	case rt == "":
		m.unidentified++
		m.added = append(m.added, resource{typ: typ, key: fmt.Sprintf("%s (unidentified %d)", typ, m.unidentified), bad: errNotResource})
	case rt == "OperationOutcome":
	case rt != typ || !slices.Contains(mappedTypes, rt):
		m.include(raw)
	case id == "":
		m.unidentified++
		m.added = append(m.added, resource{typ: typ, key: fmt.Sprintf("%s (unidentified %d)", typ, m.unidentified), bad: errNoID})
	case !m.seen[rt+"/"+id]:
		// The same resource twice (paging that shifted under a change,
		// or a search and an _include) is one resource.
		m.seen[rt+"/"+id] = true
		m.added = append(m.added, resource{typ: typ, key: rt + "/" + id, raw: raw})
	}
}

// include registers a resource that came with a search or was read by id
// so that references to it can be resolved. A resource of a mapped type
// that no search returned is mapped too: it is the patient's data the
// source sent.
func (m *mapper) include(raw json.RawMessage) {
	rt, id := identify(raw)
	if rt == "" || id == "" {
		return
	}
	if u, err := unescape(raw); err == nil {
		m.included[rt+"/"+id] = u
	}
}

// unresolved lists the references the mapping needs that were neither
// added nor included, for the client to read and include: today, the
// Medication a prescription or statement names by reference rather than by
// a code or a contained resource. Each is "Medication/123" when the source
// wrote it relative (its own) anywhere, else the absolute URL as written,
// so that the client can tell one on the source from one on another server
// and never reads the latter from the source.
func (m *mapper) unresolved() []string {
	var keys []string
	chosen := map[string]string{}
	for _, r := range m.added {
		if r.typ != "MedicationRequest" && r.typ != "MedicationStatement" {
			continue
		}
		var v struct {
			MedicationReference *struct {
				Reference string `json:"reference"`
			} `json:"medicationReference"`
		}
		if json.Unmarshal(r.raw, &v) != nil || v.MedicationReference == nil {
			continue
		}
		ref := v.MedicationReference.Reference
		if ref == "" || strings.HasPrefix(ref, "#") {
			continue
		}
		key := refKey(&ref)
		if !strings.HasPrefix(key, "Medication/") || m.included[key] != nil {
			continue
		}
		prev, seen := chosen[key]
		switch {
		case !seen:
			keys = append(keys, key)
			chosen[key] = ref
		case strings.Contains(prev, "://") && !strings.Contains(ref, "://"):
			chosen[key] = ref
		}
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if ref := chosen[k]; strings.Contains(ref, "://") {
			out = append(out, ref)
		} else {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// account says, for every resource the mapper was given (and every
// contained resource mapped on its own), what became of it: "shown as
// <kind>", "part of <entry ID>", "hidden: <rule>", "unreadable: <reason>",
// "used by <entry ID>" (a Medication naming a prescription) or "not used"
// (an included resource nothing referred to). Valid after finish.
func (m *mapper) account() map[string]string { return m.acct }

// finish maps everything given and returns the entries newest first, with
// m.hidden and m.unreadable filled.
func (m *mapper) finish() []connectors.Entry {
	byType := map[string][]resource{}
	for _, r := range m.added {
		if r.bad != "" {
			m.unread(kindOf[r.typ], r.key, r.bad)
			continue
		}
		byType[r.typ] = append(byType[r.typ], r)
	}
	// Included resources of a mapped type that no search returned.
	for _, key := range sortedKeys(m.included) {
		typ, _, _ := strings.Cut(key, "/")
		if slices.Contains(mappedTypes, typ) && !m.seen[key] {
			m.seen[key] = true
			byType[typ] = append(byType[typ], resource{typ: typ, key: key, raw: m.included[key]})
		}
	}
	for _, typ := range mappedTypes {
		for _, r := range byType[typ] {
			m.mapResource(r)
		}
	}
	m.settleGroups()
	for _, key := range sortedKeys(m.included) {
		if _, ok := m.acct[key]; !ok {
			m.acct[key] = "not used"
		}
	}
	connectors.SortNewestFirst(m.entries)
	return m.entries
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mapResource maps one resource by its type; an error makes it unreadable.
func (m *mapper) mapResource(r resource) {
	raw, err := unescape(r.raw)
	if err != nil {
		m.unread(kindOf[r.typ], r.key, errNotResource)
		return
	}
	switch r.typ {
	case "Observation":
		err = m.observation(r.key, raw)
	case "ImagingStudy":
		err = m.imagingStudy(r.key, raw)
	case "DiagnosticReport":
		err = m.diagnosticReport(r.key, raw)
	case "MedicationRequest":
		err = m.medicationRequest(r.key, raw)
	case "MedicationStatement":
		err = m.medicationStatement(r.key, raw)
	case "Encounter":
		err = m.encounter(r.key, raw)
	case "Procedure":
		err = m.procedure(r.key, raw)
	case "Condition":
		err = m.condition(r.key, raw)
	case "AllergyIntolerance":
		err = m.allergy(r.key, raw)
	case "DocumentReference":
		err = m.document(r.key, raw)
	case "Immunization":
		err = m.immunization(r.key, raw)
	case "Flag":
		err = m.flag(r.key, raw)
	}
	if err != nil {
		m.unread(kindOf[r.typ], r.key, err)
	}
}

// show adds an entry for the resource key, dated w with w's precision, and
// accounts for the resource as shown.
func (m *mapper) show(key string, w connectors.When, e connectors.Entry) {
	m.push(w, e)
	m.acct[key] = "shown as " + string(e.Kind)
}

// push adds an entry dated w, with w's precision.
func (m *mapper) push(w connectors.When, e connectors.Entry) {
	e.Date, e.Precision = w.Time, w.Precision
	if w.Time.IsZero() {
		e.Precision = 0
	}
	e.Source = m.src
	e.Fetched = m.fetched
	m.index[e.ID] = len(m.entries)
	m.entries = append(m.entries, e)
}

// hide leaves a resource out by one of the connectors.Hide* rules.
func (m *mapper) hide(kind connectors.Kind, key, rule string) {
	m.hidden = append(m.hidden, connectors.Omission{Kind: kind, Resource: key, Reason: rule})
	m.acct[key] = "hidden: " + rule
}

// unread records a resource that could not be read, with a short reason.
func (m *mapper) unread(kind connectors.Kind, key string, err error) {
	reason := reasonOf(err)
	res := key
	if strings.Contains(key, " (unidentified ") {
		res = ""
	}
	m.unreadable = append(m.unreadable, connectors.Omission{Kind: kind, Resource: res, Reason: reason})
	m.acct[key] = "unreadable: " + reason
}

// use records that an included resource named an entry.
func (m *mapper) use(key, entryID string) {
	if _, ok := m.acct[key]; !ok {
		m.acct[key] = "used by " + entryID
	}
}

// member puts the result with entry ID id into a report or panel; the
// first group that claims a result keeps it.
func (m *mapper) member(id string, g group) {
	if _, ok := m.groupOf[id]; !ok {
		m.groupOf[id] = g
	}
}

// settleGroups sets each result's report or panel, and decides what became
// of each panel and report that is not an entry of its own.
func (m *mapper) settleGroups() {
	for id, g := range m.groupOf {
		if i, ok := m.index[id]; ok && m.entries[i].Result != nil && m.entries[i].Result.Group == "" {
			m.entries[i].Result.Group = g.id
			m.entries[i].Result.GroupTitle = g.title
			m.entries[i].Result.GroupCodes = g.codes
		}
	}
	for _, p := range m.pending {
		shown := ""
		for _, id := range p.members {
			if _, ok := m.index[id]; ok {
				shown = id
				break
			}
		}
		switch {
		case shown != "":
			m.acct[p.key] = "part of " + shown
		case p.document != "":
			m.acct[p.key] = "shown as " + string(connectors.KindDocument)
		default:
			// No member reached the record (not sent, hidden or
			// unreadable): the group itself is shown, saying so.
			m.show(p.key, p.when, p.fallback)
		}
	}
}

// contained returns a resource's contained resources by "#id".
func contained(raw json.RawMessage) map[string]json.RawMessage {
	var env struct {
		Contained []json.RawMessage `json:"contained"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return nil
	}
	out := map[string]json.RawMessage{}
	for _, c := range env.Contained {
		if _, id := identify(c); id != "" {
			out["#"+id] = c
		}
	}
	return out
}
