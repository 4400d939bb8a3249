package fhir

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"strconv"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func (m *mapper) imagingStudy(key string, raw json.RawMessage) error {
	s, err := fhir.UnmarshalImagingStudy(raw)
	if err != nil {
		return errNotR4
	}
	switch s.Status {
	case fhir.ImagingStudyStatusEnteredInError:
		m.hide(connectors.KindImaging, key, connectors.HideEnteredInError)
		return nil
	case fhir.ImagingStudyStatusCancelled:
		m.hide(connectors.KindImaging, key, connectors.HideCancelled)
		return nil
	}
	var tp timeParser
	date := tp.at(s.Started)
	img := &connectors.Imaging{Status: s.Status.Code()}
	if len(s.Modality) > 0 {
		img.Modality = str(s.Modality[0].Code)
	}
	for _, se := range s.Series {
		if img.Modality == "" {
			img.Modality = str(se.Modality.Code)
		}
		if img.BodySite == "" && se.BodySite != nil {
			img.BodySite = firstNonEmpty(str(se.BodySite.Display), str(se.BodySite.Code))
		}
		if date.IsZero() {
			date = tp.at(se.Started)
		}
	}
	if tp.err != nil {
		return tp.err
	}
	var codes []connectors.Code
	title := str(s.Description)
	if len(s.ProcedureCode) > 0 {
		codes = conceptCodes(&s.ProcedureCode[0])
		title = firstNonEmpty(title, conceptText(&s.ProcedureCode[0]))
	}
	m.show(key, date, connectors.Entry{Kind: connectors.KindImaging, ID: key,
		Codes: codes, Title: firstNonEmpty(title, "Imaging study"), Imaging: img})
	return nil
}

// diagnosticReport maps a DiagnosticReport. An imaging report joins the
// study it reports on, or stands as the imaging entry. A lab report groups
// its results, by reference or contained ("#id"); its conclusion, coded
// conclusion and plain-text form make it an entry of its own; every other
// presented form (HTML, PDF, a URL) is a document entry linked to it.
func (m *mapper) diagnosticReport(key string, raw json.RawMessage) error {
	r, err := fhir.UnmarshalDiagnosticReport(raw)
	if err != nil {
		return errNotR4
	}
	imaging := isImagingReport(r.Category)
	kind := connectors.KindResult
	if imaging {
		kind = connectors.KindImaging
	}
	switch r.Status {
	case fhir.DiagnosticReportStatusEnteredInError:
		m.hide(kind, key, connectors.HideEnteredInError)
		return nil
	case fhir.DiagnosticReportStatusCancelled:
		m.hide(kind, key, connectors.HideCancelled)
		return nil
	}
	var tp timeParser
	date := firstTime(tp.at(r.EffectiveDateTime), tp.period(r.EffectivePeriod), tp.at(r.Issued))
	if tp.err != nil {
		return tp.err
	}
	title := firstNonEmpty(conceptText(&r.Code), "Report")
	conclusion := str(r.Conclusion)
	var coded []string
	for _, cc := range r.ConclusionCode {
		if t := conceptText(&cc); t != "" {
			coded = append(coded, t)
		}
	}
	codedText := strings.Join(coded, "; ")
	text, document := m.presentedForms(key, title, date, r.PresentedForm)

	if imaging {
		img := &connectors.Imaging{Status: r.Status.Code(), Report: text, Modality: modalityOf(r.Category),
			Conclusion: joinNonEmpty("\n", conclusion, codedText)}
		// The report belongs with the study it reports on when the source
		// sent both; otherwise it stands on its own as the imaging entry.
		merged := ""
		for _, ref := range r.ImagingStudy {
			id := refKey(ref.Reference)
			if i, ok := m.index[id]; ok && m.entries[i].Imaging != nil {
				m.entries[i].Imaging.Report = img.Report
				m.entries[i].Imaging.Conclusion = img.Conclusion
				merged = firstNonEmpty(merged, id)
			}
		}
		if merged != "" {
			m.acct[key] = "part of " + merged
			return nil
		}
		m.show(key, date, connectors.Entry{Kind: connectors.KindImaging, ID: key, Codes: conceptCodes(&r.Code),
			Title: title, Imaging: img})
		return nil
	}

	g := group{key, title, conceptCodes(&r.Code)}
	var members []string
	cont := contained(raw)
	for _, ref := range r.Result {
		id := refKey(ref.Reference)
		if strings.HasPrefix(id, "#") {
			id = m.containedResult(key, id, cont[id])
			if id == "" {
				continue
			}
		}
		members = append(members, id)
		m.member(id, g)
	}
	if conclusion != "" || codedText != "" || text != "" {
		res := &connectors.Result{Value: firstNonEmpty(conclusion, codedText), Status: r.Status.Code(),
			Comment: text, Group: key, GroupTitle: title, GroupCodes: conceptCodes(&r.Code)}
		if conclusion != "" && codedText != "" && !strings.EqualFold(conclusion, codedText) {
			res.Comment = joinNonEmpty("\n\n", "Coded conclusion: "+codedText, text)
		}
		if res.Value == "" {
			res.Value = "See report"
		}
		m.show(key, date, connectors.Entry{Kind: connectors.KindResult, ID: key, Codes: conceptCodes(&r.Code),
			Title: title, Result: res})
		return nil
	}
	m.pending = append(m.pending, pendingGroup{key: key, members: members, document: document, when: date,
		fallback: connectors.Entry{Kind: connectors.KindResult, ID: key, Codes: conceptCodes(&r.Code), Title: title,
			Result: &connectors.Result{Status: r.Status.Code(), Absent: "results not sent by the source",
				Group: key, GroupTitle: title, GroupCodes: conceptCodes(&r.Code)}}})
	return nil
}

// containedResult maps a result the report holds inside itself
// (result.reference "#id") as an entry of its own, "DiagnosticReport/x#id",
// and returns that ID ("" when it is not shown).
func (m *mapper) containedResult(report, ref string, raw json.RawMessage) string {
	id := report + ref
	if raw == nil {
		m.unread(connectors.KindResult, id, unreadable("contained result not found"))
		return ""
	}
	if typ, _ := identify(raw); typ != "Observation" {
		m.unread(connectors.KindResult, id, errNotR4)
		return ""
	}
	o, err := fhir.UnmarshalObservation(raw)
	if err != nil {
		m.unread(connectors.KindResult, id, errNotR4)
		return ""
	}
	if rule := observationHidden(o.Status); rule != "" {
		m.hide(connectors.KindResult, id, rule)
		return ""
	}
	e, when, err := m.observationEntry(id, o)
	if err != nil {
		m.unread(connectors.KindResult, id, err)
		return ""
	}
	sayValueless(e.Result)
	m.show(id, when, e)
	return id
}

// presentedForms reads DiagnosticReport.presentedForm, "Rich text
// representation of the entire result as issued by the diagnostic
// service": the first plain-text form is returned as the report's text;
// every other form becomes a document entry "DiagnosticReport/x#formN"
// (HTML kept for the pages to sanitise, a PDF as data, a form held at a
// URL left for the client to fetch), so that a report sent only as a PDF
// is never dropped. It returns the first document entry's ID too.
func (m *mapper) presentedForms(key, title string, date connectors.When, forms []fhir.Attachment) (text, document string) {
	for i, a := range forms {
		ct := contentTypeOf(str(a.ContentType))
		doc := &connectors.Document{Type: "Report", ContentType: str(a.ContentType), Report: key}
		switch {
		case a.Data != nil:
			b, err := base64.StdEncoding.DecodeString(*a.Data)
			switch {
			case err != nil:
				doc.Unavailable = "content could not be decoded"
			case ct == "text/plain" && text == "":
				text = string(b)
				continue
			case strings.HasPrefix(ct, "text/"):
				doc.Text = string(b)
			default:
				doc.Data = b
			}
		case a.Url != nil:
			doc.URL = *a.Url
		default:
			continue
		}
		id := key + "#form" + strconv.Itoa(i+1)
		m.push(date, connectors.Entry{Kind: connectors.KindDocument, ID: id, Title: firstNonEmpty(str(a.Title), title),
			Document: doc})
		document = firstNonEmpty(document, id)
	}
	return text, document
}

// contentTypeOf is a MIME type without its parameters, in lower case.
func contentTypeOf(ct string) string {
	if t, _, err := mime.ParseMediaType(ct); err == nil {
		return t
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// radiologyCategories are the codes that mark a DiagnosticReport as imaging:
// v2 table 0074 diagnostic service sections, the LOINC radiology part and
// SNOMED CT imaging report concepts.
var radiologyCategories = map[string]bool{
	"RAD": true, "RX": true, "CT": true, "CUS": true, "NMR": true, "NMS": true, "OUS": true,
	"RUS": true, "VUS": true, "XRC": true, "IMG": true, "LP29684-5": true,
	"394914008": true, "4201000179104": true, "371527006": true,
}

func isImagingReport(categories []fhir.CodeableConcept) bool {
	for _, cc := range categories {
		for _, c := range cc.Coding {
			if radiologyCategories[str(c.Code)] {
				return true
			}
		}
		t := strings.ToLower(conceptText(&cc))
		if strings.Contains(t, "radiolog") || strings.Contains(t, "imaging") {
			return true
		}
	}
	return false
}

// categoryModality maps v2 table 0074 sections to DICOM modalities.
var categoryModality = map[string]string{"CT": "CT", "NMR": "MR", "RUS": "US", "CUS": "US", "VUS": "US",
	"OUS": "US", "RX": "DX", "XRC": "DX"}

func modalityOf(categories []fhir.CodeableConcept) string {
	for _, cc := range categories {
		for _, c := range cc.Coding {
			if m, ok := categoryModality[str(c.Code)]; ok {
				return m
			}
		}
	}
	return ""
}
