package fhir

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// showable ranks the content types a page can show, best first: the
// document as issued (PDF), then HTML (sanitised by the pages), then plain
// text, then images.
var showable = map[string]int{"application/pdf": 1, "text/html": 2, "text/plain": 3, "image/png": 4, "image/jpeg": 4}

// document maps a DocumentReference. "There may be multiple content
// element repetitions, each with a different format": the best one a page
// can show is taken, held in the resource (data) before one held at a URL
// (which the client fetches); when none can be shown the entry says why
// (Unavailable) rather than vanish. One entered in error is hidden; one
// superseded is hidden only when the source also sent the document that
// replaces it.
func (m *mapper) document(key string, raw json.RawMessage) error {
	d, err := fhir.UnmarshalDocumentReference(raw)
	if err != nil {
		return errNotR4
	}
	switch {
	case d.Status == fhir.DocumentReferenceStatusEnteredInError:
		m.hide(connectors.KindDocument, key, connectors.HideEnteredInError)
		return nil
	case d.Status == fhir.DocumentReferenceStatusSuperseded && m.replacedDocuments()[key]:
		m.hide(connectors.KindDocument, key, connectors.HideSuperseded)
		return nil
	}
	var tp timeParser
	date := tp.at(d.Date)
	if date.IsZero() && d.Context != nil {
		date = tp.period(d.Context.Period)
	}
	if tp.err != nil {
		return tp.err
	}
	doc := &connectors.Document{Type: conceptText(d.Type)}
	if len(d.Author) > 0 {
		doc.Author = str(d.Author[0].Display)
	}
	title := firstNonEmpty(str(d.Description), doc.Type)
	var best *fhir.Attachment
	var bestData []byte
	bestRank := 0
	for i := range d.Content {
		a := &d.Content[i].Attachment
		title = firstNonEmpty(title, str(a.Title))
		rank := showable[contentTypeOf(str(a.ContentType))]
		var data []byte
		switch {
		case rank == 0:
			continue
		case a.Data != nil:
			if data, err = base64.StdEncoding.DecodeString(*a.Data); err != nil {
				continue
			}
		case a.Url != nil:
			rank += 10 // held elsewhere: worse than any content held here
		default:
			continue
		}
		if best == nil || rank < bestRank {
			best, bestData, bestRank = a, data, rank
		}
	}
	if best == nil {
		// Nothing a page can show, but a URL may still be fetched and
		// type-checked by the client.
		for i := range d.Content {
			if a := &d.Content[i].Attachment; a.Url != nil {
				best = a
				break
			}
		}
	}
	switch {
	case best == nil && len(d.Content) == 0:
		doc.Unavailable = "the source sent no content"
	case best == nil:
		a := d.Content[0].Attachment
		doc.ContentType = str(a.ContentType)
		doc.Unavailable = "content of a type that cannot be shown"
		if a.Data != nil {
			if _, err := base64.StdEncoding.DecodeString(*a.Data); err != nil {
				doc.Unavailable = "content could not be decoded"
			}
		}
	case bestData != nil:
		doc.ContentType = str(best.ContentType)
		if strings.HasPrefix(contentTypeOf(doc.ContentType), "text/") {
			doc.Text = string(bestData)
		} else {
			doc.Data = bestData
		}
	default:
		doc.ContentType = str(best.ContentType)
		doc.URL = str(best.Url)
	}
	m.show(key, date, connectors.Entry{Kind: connectors.KindDocument, ID: key, Codes: conceptCodes(d.Type),
		Title: firstNonEmpty(title, "Document"), Document: doc})
	return nil
}

// replacedDocuments lists the documents another DocumentReference the
// source sent replaces (relatesTo.code "replaces"), read once.
func (m *mapper) replacedDocuments() map[string]bool {
	if m.replaced != nil {
		return m.replaced
	}
	m.replaced = map[string]bool{}
	for _, r := range m.added {
		if r.typ != "DocumentReference" || r.bad != "" {
			continue
		}
		var v struct {
			RelatesTo []struct {
				Code   string `json:"code"`
				Target struct {
					Reference string `json:"reference"`
				} `json:"target"`
			} `json:"relatesTo"`
		}
		if json.Unmarshal(r.raw, &v) != nil {
			continue
		}
		for _, rel := range v.RelatesTo {
			if rel.Code == "replaces" && rel.Target.Reference != "" {
				m.replaced[refKey(&rel.Target.Reference)] = true
			}
		}
	}
	return m.replaced
}
