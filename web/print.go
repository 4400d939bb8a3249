package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// printCap bounds the entries one print holds: the newest printCap of
// those the filter keeps. A print of a very long history beyond it would
// be thousands of pages nobody reads; the print says when it is cut.
const printCap = 5000

// printPath is the print view of a record with the record page's filter.
func printPath(nhs string, f views.Filter) string {
	u := "/patients/" + nhs + "/print"
	if q := filterQuery(f, 0); len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// showPrint is the record laid out for printing or saving as PDF: the
// entries the record page's filter keeps (all of them, not one page, up
// to printCap), the patient as the banner shows them, and who printed it
// and when. It is reached as the record is (the same reason for access,
// objection rule and emergency access, through load) and audited as a
// print: the summary may leave the screen.
func (s *Server) showPrint(c echo.Context) error {
	l, err := s.load(c, store.AuditEvent{Action: store.ActRecordPrint}, false, false)
	if err != nil {
		return ignoreHandled(err)
	}
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	// A print is a page of the visit: what it shows is seen, and the
	// filter "new since you last looked" means what it means on the record.
	visit, err := s.db.VisitRecord(ctx, u.ID, l.nhs, newsKeys(l.view.Entries))
	if err != nil {
		return err
	}
	now := s.now()
	f := parseFilter(c.QueryParams())
	items := s.timelines.items(l.view)
	shown := applyFilter(items, f)
	isNew := func(it *views.Item) bool { return news(&it.Entry) && visit.New(it.Entry.Key()) }
	if f.New {
		shown = onlyNew(shown, isNew)
	}
	pp := views.PrintPage{
		NHS:        l.nhs,
		Banner:     s.banner(c, l, patientBanner(l.nhs, l.view, now)),
		PrintedBy:  printedBy(u),
		PrintedAt:  views.DateTime(now),
		Total:      len(shown),
		All:        len(items),
		Printed:    min(len(shown), printCap),
		Objected:   l.objected,
		Overridden: l.objected && l.grant.ObjectionOverride,
	}
	var account views.Account
	var options []connectors.Source
	for _, st := range l.view.Sources {
		pp.Sources = append(pp.Sources, sourceLine(st, now))
		options = append(options, st.Source)
		if st.State == records.StateLive || st.State == records.StateCached {
			account.AddSource(st.Source, st.Hidden, st.Unreadable, st.Gaps, st.PatientRecords)
		}
	}
	pp.Missing = account.For(f)
	pp.Filters = filterTags(l.nhs, f, options)
	pp.BackURL = recordPath(l.nhs, f)
	// Copied: shown may share the timeline cache's array.
	printed := append([]views.Item(nil), shown[:pp.Printed]...)
	for i := range printed {
		printed[i].New = isNew(&printed[i])
	}
	pp.Groups = groupByDay(printed)
	return render(c, http.StatusOK, views.PrintSummary(s.page(c, "Summary - "+pp.Banner.Name), pp))
}

// printedBy names the user as the print says who printed it: name, role
// and organisation.
func printedBy(u *User) string {
	parts := []string{u.Name}
	if u.Role != nil {
		parts = append(parts, u.RoleDef.Name, u.Role.OrgName)
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return views.NotKnown
	}
	return strings.Join(out, ", ")
}
