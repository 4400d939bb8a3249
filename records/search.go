package records

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// SearchHit is one patient found by a search, merged across sources.
type SearchHit struct {
	// NHSNumber is empty for a patient a source holds without one; such a
	// hit comes from one source only, since it cannot be matched safely.
	NHSNumber string
	// Patient is the best demographics: the first source, in
	// configuration order, that holds the patient. Restricted is set if
	// any source marks the patient restricted, and the address, postcode,
	// phone and GP are then blank.
	Patient connectors.Patient
	// Sources lists the sources that hold a record, in configuration order.
	Sources []connectors.Source
	// Disagree is true when sources hold different names or birth dates
	// for this NHS number.
	Disagree bool
	// FromPDS: the demographics are PDS's (the patient was found there).
	FromPDS bool
	// Replaces is the NHS number searched for when PDS says it was
	// superseded by NHSNumber.
	Replaces string
	// Held is each source's own copy of the patient (PDS's first, when
	// PDS found them), redacted like Patient: a page that may show only
	// some sources' data (an objection) takes the demographics from those.
	Held []connectors.Patient
}

// Search asks every source for patients matching q, in parallel and each
// under its own deadline, and merges the answers by NHS number, ordered by
// family name, given name and birth date. When PDS is configured it is
// asked first: its patients' demographics stand first, and an NHS number
// PDS says was superseded is searched for at the sources under the
// current one. It also returns one status per source (live, failed or
// timeout; PDS's first, when configured) so the page can say which did not
// answer. Results are not cached. The error wraps
// connectors.ErrInvalidQuery for a query that cannot be searched.
func (r *Records) Search(ctx context.Context, q connectors.Query) ([]SearchHit, []SourceStatus, error) {
	if err := q.Validate(); err != nil {
		return nil, nil, fmt.Errorf("records: search: %w", err)
	}
	if q.NHSNumber != "" {
		q.NHSNumber, _ = connectors.ParseNHSNumber(q.NHSNumber)
	}
	var national []connectors.Patient
	var pdsStatus []SourceStatus
	replaces := ""
	if r.o.PDS != nil {
		st := SourceStatus{Source: r.o.PDS.Source()}
		national = r.searchOne(ctx, r.o.PDS, q, time.Now().Add(r.o.Deadline), &st)
		pdsStatus = append(pdsStatus, st)
		if q.NHSNumber != "" && len(national) == 1 && national[0].NHSNumber != q.NHSNumber {
			replaces, q.NHSNumber = q.NHSNumber, national[0].NHSNumber
		}
	}
	start := time.Now()
	statuses := make([]SourceStatus, len(r.conns))
	found := make([][]connectors.Patient, len(r.conns))
	var wg sync.WaitGroup
	for i, c := range r.conns {
		st := &statuses[i]
		st.Source = r.srcs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i] = r.searchOne(ctx, c, q, start.Add(r.deadline(st.Source.ODS)), st)
		}()
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, nil, fmt.Errorf("records: search: %w", ctx.Err())
	}
	if r.o.PDS == nil {
		return mergeHits(found), statuses, nil
	}
	hits := mergeHits(append([][]connectors.Patient{national}, found...))
	pdsSrc := r.o.PDS.Source()
	for i := range hits {
		h := &hits[i]
		if !slices.Contains(h.Sources, pdsSrc) {
			continue
		}
		// PDS says who the patient is; it holds no record to open.
		h.FromPDS = true
		h.Sources = slices.DeleteFunc(h.Sources, func(s connectors.Source) bool { return s == pdsSrc })
		if h.NHSNumber == q.NHSNumber {
			h.Replaces = replaces
		}
	}
	return hits, append(pdsStatus, statuses...), nil
}

// searchOne asks one source, returning by due even if the connector does
// not.
func (r *Records) searchOne(ctx context.Context, c finder, q connectors.Query, due time.Time, st *SourceStatus) []connectors.Patient {
	ctx, cancel := context.WithDeadline(ctx, due)
	defer cancel()
	res, answered := askWithin(ctx, func(ctx context.Context) ([]connectors.Patient, error) { return c.FindPatients(ctx, q) })
	if !answered {
		st.State, st.Error = StateTimeout, timeoutMessage(st.Source)
		return nil
	}
	if res.err != nil {
		st.State, st.Error = errorMessage(st.Source, res.err)
		r.log.Warn("source search failed", "source", cmp.Or(st.Source.ODS, st.Source.Name), "state", st.State, "reason", st.Error)
		return nil
	}
	st.State = StateLive
	st.FetchedAt = r.o.Now()
	for i := range res.v {
		p := &res.v[i]
		if p.Source == (connectors.Source{}) {
			p.Source = st.Source
		}
		p.Redact()
	}
	return res.v
}

// finder is what searchOne asks: a source or PDS.
type finder interface {
	FindPatients(ctx context.Context, q connectors.Query) ([]connectors.Patient, error)
}

// mergeHits merges per-source patients (in configuration order) by NHS
// number.
func mergeHits(found [][]connectors.Patient) []SearchHit {
	var hits []SearchHit
	byNHS := map[string]int{}
	for _, ps := range found {
		for _, p := range ps {
			if p.NHSNumber == "" {
				hits = append(hits, SearchHit{Patient: p, Sources: []connectors.Source{p.Source}, Held: []connectors.Patient{p}})
				continue
			}
			i, ok := byNHS[p.NHSNumber]
			if !ok {
				byNHS[p.NHSNumber] = len(hits)
				hits = append(hits, SearchHit{NHSNumber: p.NHSNumber, Patient: p, Sources: []connectors.Source{p.Source}, Held: []connectors.Patient{p}})
				continue
			}
			h := &hits[i]
			h.Held = append(h.Held, p)
			if !slices.Contains(h.Sources, p.Source) {
				h.Sources = append(h.Sources, p.Source)
			}
			if !sameIdentity(&h.Patient, &p) {
				h.Disagree = true
			}
			if p.Restricted && !h.Patient.Restricted {
				h.Patient.Restricted = true
				h.Patient.Redact()
			}
		}
	}
	// A patient any source marks restricted is restricted in every copy.
	for i := range hits {
		if h := &hits[i]; h.Patient.Restricted {
			for j := range h.Held {
				h.Held[j].Restricted = true
				h.Held[j].Redact()
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b SearchHit) int {
		return cmp.Or(
			strings.Compare(strings.ToUpper(a.Patient.Family), strings.ToUpper(b.Patient.Family)),
			strings.Compare(strings.ToUpper(strings.Join(a.Patient.Given, " ")), strings.ToUpper(strings.Join(b.Patient.Given, " "))),
			a.Patient.BirthDate.Time().Compare(b.Patient.BirthDate.Time()),
			strings.Compare(a.NHSNumber, b.NHSNumber),
		)
	})
	return hits
}

// sameIdentity compares what a clinician checks to confirm identity: name
// and date of birth. Case and spacing differ between systems and are not a
// disagreement.
func sameIdentity(a, b *connectors.Patient) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), " ")) }
	return norm(a.Family) == norm(b.Family) &&
		norm(strings.Join(a.Given, " ")) == norm(strings.Join(b.Given, " ")) &&
		a.BirthDate == b.BirthDate
}
