package web

import (
	"net/url"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/views"
)

// reportLinks joins a report and the document that presents it (a
// DiagnosticReport's presentedForm, a PDF: Document.Report names the
// report), so that each links to the other.
type reportLinks struct {
	// docs: report key (source ODS "/" report entry ID) -> the document.
	docs map[string]connectors.Entry
	// imaging: report key -> the report's own entry, shown as imaging.
	imaging map[string]connectors.Entry
	// groups: report key -> the name of the results it holds.
	groups map[string]string
}

// linkReports finds the reports and documents that present them among
// every item of the record (not only the page shown).
func linkReports(items []views.Item) reportLinks {
	var r reportLinks
	for i := range items {
		e := &items[i].Entry
		if e.Document != nil && e.Document.Report != "" {
			if r.docs == nil {
				r.docs = map[string]connectors.Entry{}
			}
			r.docs[e.Source.ODS+"/"+e.Document.Report] = *e
		}
	}
	if len(r.docs) == 0 {
		return r
	}
	r.imaging, r.groups = map[string]connectors.Entry{}, map[string]string{}
	for i := range items {
		e := &items[i].Entry
		switch {
		case e.Imaging != nil:
			if _, ok := r.docs[e.Key()]; ok {
				r.imaging[e.Key()] = *e
			}
		case e.Result != nil && e.Result.Group != "":
			k := e.Source.ODS + "/" + e.Result.Group
			if _, ok := r.docs[k]; ok && r.groups[k] == "" {
				r.groups[k] = e.Result.GroupTitle
				if r.groups[k] == "" {
					r.groups[k] = "the report's results"
				}
			}
		}
	}
	return r
}

// decorate links an item to the other end of its report: a report's
// results or imaging entry to the document presenting it, and the
// document to the report (its imaging entry, or its results on the
// timeline).
func (r reportLinks) decorate(nhs string, it *views.Item) {
	if len(r.docs) == 0 {
		return
	}
	e := &it.Entry
	switch {
	case e.Document != nil && e.Document.Report != "":
		k := e.Source.ODS + "/" + e.Document.Report
		if im, ok := r.imaging[k]; ok {
			it.ReportURL, it.ReportTitle = documentURL(nhs, im.Key()), im.Title
		} else if title, ok := r.groups[k]; ok {
			it.ReportURL = "/patients/" + nhs + "?" + url.Values{"report": {k}}.Encode()
			it.ReportTitle = title
		}
	case e.Imaging != nil:
		if d, ok := r.docs[e.Key()]; ok {
			it.ReportURL, it.ReportTitle = documentURL(nhs, d.Key()), d.Title
		}
	case e.Result != nil && e.Result.Group != "":
		if d, ok := r.docs[e.Source.ODS+"/"+e.Result.Group]; ok {
			it.ReportURL, it.ReportTitle = documentURL(nhs, d.Key()), d.Title
		}
	}
}

// documentURL is the page of one document or imaging report.
func documentURL(nhs, key string) string {
	return "/patients/" + nhs + "/document?" + url.Values{"entry": {key}}.Encode()
}
