package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// searchDocuments searches the text of the record's letters, documents
// and reports. The words searched for are not written to the audit log:
// they may be clinical.
func (s *Server) searchDocuments(c echo.Context) error {
	nhs, v, banner, err := s.openView(c, store.ActRecordOpen, "documents search")
	if err != nil {
		return ignoreHandled(err)
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	page := views.DocSearchPage{NHS: nhs, Banner: banner, Query: q, Back: "/patients/" + nhs}
	page.Hits, page.Searched, page.Unsearchable = views.SearchDocuments(s.timelines.items(v), q, func(e *connectors.Entry) string {
		return documentURL(nhs, e.Key())
	})
	return render(c, http.StatusOK, views.DocumentSearch(s.page(c, "Search letters and documents - "+banner.Name), page))
}
