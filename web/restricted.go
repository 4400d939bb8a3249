package web

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
)

// A restricted patient's registered GP practice says where they live, so
// it is never named: not in the banner (connectors blank it), and not as
// the source of an entry, a status line, a filter option, a trend series,
// a document, a search result, or an audit event's list of sources (and so
// never in the IG pages or exports). Every GP practice is withheld on such
// a record, not only the registered one: naming the others would name the
// registered one by elimination.

// isGPPractice reports whether a source is a GP practice: configured as
// one, or with a practice's ODS code.
func (s *Server) isGPPractice(src connectors.Source) bool {
	return s.cfg.GPPractices[src.ODS] || connectors.IsGPPracticeCode(src.ODS)
}

// practiceStandIns gives each GP practice (in configuration order) the
// stand-in it takes on a restricted patient's pages. The registered
// practice is the one the sources name as the patient's GP (a source that
// does not mark the record restricted may still send it), or else the
// only practice that holds the patient; when several do and none is named,
// none is called registered.
func practiceStandIns(practices []connectors.Source, named, holds map[string]bool) map[string]connectors.Source {
	registered := ""
	for _, p := range practices {
		if named[p.ODS] {
			registered = p.ODS
			break
		}
	}
	if registered == "" {
		for _, p := range practices {
			if !holds[p.ODS] {
				continue
			}
			if registered != "" {
				registered = ""
				break
			}
			registered = p.ODS
		}
	}
	out := make(map[string]connectors.Source, len(practices))
	n := 0
	for _, p := range practices {
		if p.ODS == registered {
			out[p.ODS] = connectors.RegisteredPractice()
			continue
		}
		n++
		out[p.ODS] = connectors.OtherPractice(n)
	}
	return out
}

// withholding replaces GP practices on a restricted patient's record:
// the sources, and their names and codes wherever entries' text holds
// them.
type withholding struct {
	sub  map[string]connectors.Source
	text *regexp.Regexp
	with map[string]string // lower-cased name or code: what replaces it
}

// newWithholding builds the replacement for practices; extra are further
// organisations (names the sources give as the patient's GP) whose names
// and codes go from text as the registered practice's do.
func newWithholding(sub map[string]connectors.Source, practices []connectors.Source, extra []connectors.Organisation) *withholding {
	w := &withholding{sub: sub, with: map[string]string{}}
	var alts []string
	add := func(s, by string, word bool) {
		s = strings.TrimSpace(s)
		if len(s) < 3 {
			return
		}
		if _, ok := w.with[strings.ToLower(s)]; ok {
			return
		}
		w.with[strings.ToLower(s)] = by
		q := regexp.QuoteMeta(s)
		if word {
			q = `\b` + q + `\b`
		}
		alts = append(alts, q)
	}
	registeredText := strings.ToLower(connectors.RegisteredPractice().Name[:1]) + connectors.RegisteredPractice().Name[1:]
	for _, p := range practices {
		by := "another GP practice"
		if sub[p.ODS] == connectors.RegisteredPractice() {
			by = registeredText
		}
		add(p.Name, by, false)
		add(p.ODS, by, true)
	}
	for _, o := range extra {
		add(o.Name, registeredText, false)
		add(o.ODS, registeredText, true)
	}
	if len(alts) > 0 {
		w.text = regexp.MustCompile(`(?i)` + strings.Join(alts, "|"))
	}
	return w
}

func (w *withholding) source(s connectors.Source) connectors.Source {
	if r, ok := w.sub[s.ODS]; ok {
		return r
	}
	return s
}

// entry returns a copy of e credited to its stand-in, with the practices'
// names and codes gone from its text. e is shared with other views and
// is not changed.
func (w *withholding) entry(e connectors.Entry) connectors.Entry {
	e.Source = w.source(e.Source)
	if w.text == nil {
		return e
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil || !w.text.Match(buf.Bytes()) {
		return e
	}
	// Every string in the entry, however deep, through its JSON form: the
	// model's details are many and grow. A replacement holds no quote or
	// backslash, so the JSON stays well formed.
	out := w.text.ReplaceAllFunc(buf.Bytes(), func(m []byte) []byte {
		return []byte(w.with[strings.ToLower(string(m))])
	})
	var scrubbed connectors.Entry
	if err := json.Unmarshal(out, &scrubbed); err != nil {
		// Never show what could not be cleaned.
		return connectors.Entry{Kind: e.Kind, ID: e.ID, Source: e.Source, Date: e.Date, Precision: e.Precision,
			Fetched: e.Fetched, Title: "Not Known"}
	}
	return scrubbed
}

// restrictedPatient reports whether any source marks the patient
// restricted.
func restrictedPatient(ps []connectors.Patient) bool {
	for _, p := range ps {
		if p.Restricted {
			return true
		}
	}
	return false
}

// withholdPractices returns the view to show: v itself for a patient who
// is not restricted; for a restricted one, a copy in which every GP
// practice is a stand-in and no practice is named. v is not changed.
func (s *Server) withholdPractices(v *records.RecordView) *records.RecordView {
	if !restrictedPatient(v.Patients) && (v.PDS == nil || v.PDS.Patient == nil || !v.PDS.Patient.Restricted) {
		return v
	}
	var practices []connectors.Source
	for _, st := range v.Sources {
		if s.isGPPractice(st.Source) {
			practices = append(practices, st.Source)
		}
	}
	named, holds := map[string]bool{}, map[string]bool{}
	var extra []connectors.Organisation
	for _, p := range v.Patients {
		holds[p.Source.ODS] = true
		if gp := p.RegisteredGP; gp.ODS != "" || gp.Name != "" {
			named[gp.ODS] = gp.ODS != ""
			extra = append(extra, gp)
		}
	}
	for _, st := range v.Sources {
		if (st.State == records.StateLive || st.State == records.StateCached) && st.PatientRecords > 0 {
			holds[st.Source.ODS] = true
		}
	}
	for i := range v.Entries {
		holds[v.Entries[i].Source.ODS] = true
	}
	w := newWithholding(practiceStandIns(practices, named, holds), practices, extra)
	out := &records.RecordView{NHSNumber: v.NHSNumber, PDS: v.PDS} // PDS's copy is redacted already
	for _, p := range v.Patients {
		p.Source = w.source(p.Source)
		p.AddressLines, p.Postcode, p.Phone, p.RegisteredGP = nil, "", "", connectors.Organisation{}
		out.Patients = append(out.Patients, p)
	}
	out.Sources = make([]records.SourceStatus, len(v.Sources))
	for i, st := range v.Sources {
		st.Source = w.source(st.Source)
		out.Sources[i] = st
	}
	out.Entries = make([]connectors.Entry, len(v.Entries))
	for i := range v.Entries {
		out.Entries[i] = w.entry(v.Entries[i])
	}
	return out
}

// withholdHitSources replaces GP practices in a restricted search hit's
// list of sources that hold the patient.
func (s *Server) withholdHitSources(srcs []connectors.Source) []connectors.Source {
	var practices []connectors.Source
	holds := map[string]bool{}
	for _, src := range srcs {
		if s.isGPPractice(src) {
			practices = append(practices, src)
			holds[src.ODS] = true
		}
	}
	if len(practices) == 0 {
		return srcs
	}
	sub := practiceStandIns(practices, nil, holds)
	out := make([]connectors.Source, len(srcs))
	for i, src := range srcs {
		if r, ok := sub[src.ODS]; ok {
			src = r
		}
		out[i] = src
	}
	return out
}
