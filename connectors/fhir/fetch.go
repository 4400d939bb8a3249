package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/carerecord/carerecord/connectors"
)

// FetchRecord reads everything the source holds for the patient with the
// NHS number: the Patient resources with that number, then every supported
// resource type for each of them, in parallel. A search that fails loses
// only its kind, which the record names as a Gap; only a failed Patient
// search, or every search failing, fails the fetch. cfg.Timeout bounds each
// request; the caller's context bounds the whole fetch, so a long history
// is read in full as long as the caller waits (and the page cap allows).
func (c *Client) FetchRecord(ctx context.Context, nhsNumber string) (*connectors.Record, error) {
	rec, _, err := c.fetch(ctx, nhsNumber)
	return rec, err
}

// searchResult is one search of one record type for one Patient.
type searchResult struct {
	typ string
	// matches are the resources the search was for (and any entry that
	// could not be read at all); included is everything else it brought
	// (an _include'd Medication).
	matches, included []json.RawMessage
	// read counts the resources of typ among matches.
	read int
	info searchInfo
	err  error
}

// fetch is FetchRecord, also returning the mapper's account of every
// resource it saw ("Type/id" → what became of it).
func (c *Client) fetch(ctx context.Context, nhsNumber string) (*connectors.Record, map[string]string, error) {
	n, err := connectors.ParseNHSNumber(nhsNumber)
	if err != nil {
		return nil, nil, fmt.Errorf("fhir: %w", err)
	}
	fetched := c.now().UTC()

	patients, ids, skipped, err := c.searchPatients(ctx, url.Values{"identifier": {SystemNHSNumber + "|" + n}})
	if err != nil {
		return nil, nil, err
	}
	// Every Patient resource with the number: a source may hold the same
	// person twice, and what it holds under each is theirs.
	var mine []int
	for i := range patients {
		if patients[i].NHSNumber == n {
			mine = append(mine, i)
		}
	}
	if len(mine) == 0 {
		return nil, nil, fmt.Errorf("%s: %w", c.src.Name, connectors.ErrNoRecord)
	}

	results := c.searchAll(ctx, mine, ids)
	if err := ctx.Err(); err != nil {
		// The caller gave up: what was read is not handed back as if it
		// were the record.
		return nil, nil, c.sourceError(ctx, err)
	}
	var firstErr error
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	if failed == len(results) {
		return nil, nil, firstErr
	}

	m := newMapper(c.src, fetched)
	m.patient = &patients[mine[0]]
	for _, r := range results {
		for _, raw := range r.matches {
			m.add(r.typ, raw)
		}
		for _, raw := range r.included {
			m.include(raw)
		}
	}
	c.resolve(ctx, m)
	entries := m.finish()
	rec := &connectors.Record{
		Patient:        &patients[mine[0]],
		PatientRecords: len(mine),
		Entries:        entries,
		Hidden:         m.hidden,
		Gaps:           gaps(results),
		Fetched:        fetched,
	}
	for range skipped {
		rec.Unreadable = append(rec.Unreadable, connectors.Omission{Reason: "could not be read"})
	}
	rec.Unreadable = append(rec.Unreadable, m.unreadable...)
	c.fetchDocuments(ctx, rec.Entries)
	// Everything a source sends is cleaned of control and bidirectional
	// override characters before anyone else sees it.
	connectors.Clean(rec)
	return rec, m.account(), nil
}

// searchAll searches every record type for every one of the patient's
// Patient resources, at most maxParallel at a time, and returns the results
// in recordTypes order (then by Patient).
func (c *Client) searchAll(ctx context.Context, mine []int, ids []string) []searchResult {
	results := make([]searchResult, 0, len(recordTypes)*len(mine))
	for _, typ := range recordTypes {
		for range mine {
			results = append(results, searchResult{typ: typ})
		}
	}
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, maxParallel)
	)
	for i := range results {
		id := ids[mine[i%len(mine)]]
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = c.sourceError(ctx, ctx.Err())
				return
			}
			defer func() { <-sem }()
			results[i] = c.searchType(ctx, results[i].typ, id)
		})
	}
	wg.Wait()
	return results
}

// searchType searches one record type for one Patient, newest first and
// with its _include where it has one. A server that rejects either (an
// HTTP 400 or an OperationOutcome for the first page) is asked once more
// without them.
func (c *Client) searchType(ctx context.Context, typ, patientID string) searchResult {
	params := url.Values{"patient": {"Patient/" + patientID}}
	if p := sortBy[typ]; p != "" {
		params.Set("_sort", "-"+p)
	}
	if inc := includes[typ]; inc != "" {
		params.Set("_include", inc)
	}
	r := c.collect(ctx, typ, params)
	if r.err != nil && r.info.pages == 0 && rejected(r.err) && (params.Has("_sort") || params.Has("_include")) {
		params.Del("_sort")
		params.Del("_include")
		r = c.collect(ctx, typ, params)
	}
	return r
}

func (c *Client) collect(ctx context.Context, typ string, params url.Values) searchResult {
	r := searchResult{typ: typ}
	r.info, r.err = c.search(ctx, c.searchURL(typ, params), func(raw json.RawMessage, mode string) {
		rt := resourceType(raw)
		switch {
		case rt == "OperationOutcome" || mode == "outcome":
			// Search warnings: not part of the record.
		case rt == typ && mode != "include":
			r.matches = append(r.matches, raw)
			r.read++
		case rt == "":
			// Not even its type can be read: the mapper counts it.
			r.matches = append(r.matches, raw)
		default:
			r.included = append(r.included, raw)
		}
	})
	return r
}

// rejected reports whether a search's first page failed in a way that a
// server gives for a search parameter it does not support.
func rejected(err error) bool {
	se, ok := errors.AsType[*connectors.SourceError](err)
	if !ok {
		return false
	}
	switch se.Kind {
	case connectors.ErrRefused:
		return true
	case connectors.ErrStatus:
		return se.Status == 400 || se.Status == 422 || se.Status == 501
	}
	return false
}

// gaps names every kind the searches could not give in full: one Gap per
// kind, Failed (with the first failure's category) when a search of it
// failed, Truncated when the page cap stopped one, with how many resources
// of the kind were read and, when every search of it said, how many the
// source holds.
func gaps(results []searchResult) []connectors.Gap {
	type acc struct {
		connectors.Gap
		totalKnown bool
	}
	byKind := map[connectors.Kind]*acc{}
	for _, r := range results {
		k := kindOf[r.typ]
		a := byKind[k]
		if a == nil {
			a = &acc{Gap: connectors.Gap{Kind: k}, totalKnown: true}
			byKind[k] = a
		}
		if r.err != nil {
			if !a.Failed {
				a.Failed, a.Reason = true, category(r.err)
			}
			continue
		}
		a.Read += r.read
		switch {
		case r.info.total >= r.read:
			a.Total += r.info.total
		case !r.info.truncated:
			a.Total += r.read
		default:
			a.totalKnown = false
		}
		if r.info.truncated {
			a.Truncated = true
		}
	}
	var out []connectors.Gap
	for _, k := range connectors.Kinds {
		a := byKind[k]
		if a == nil || (!a.Failed && !a.Truncated) {
			continue
		}
		g := a.Gap
		if !g.Truncated {
			g.Read, g.Total = 0, 0
		} else if !a.totalKnown || g.Total < g.Read {
			g.Total = 0
		}
		out = append(out, g)
	}
	return out
}

// category is a failure in a few words for a Gap.
func category(err error) string {
	if se, ok := errors.AsType[*connectors.SourceError](err); ok {
		return se.Category()
	}
	return "failed"
}
