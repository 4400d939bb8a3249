package web

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// showPatientSearch is the clinical and clerical home: the search form,
// its results, and the user's recent patients.
func (s *Server) showPatientSearch(c echo.Context) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	q := c.QueryParams()
	page := views.SearchPage{Form: views.SearchForm{
		NHS: q.Get("nhs"), Family: strings.TrimSpace(q.Get("family")), Given: strings.TrimSpace(q.Get("given")),
		Day: q.Get("dob-day"), Month: q.Get("dob-month"), Year: q.Get("dob-year"),
		Gender: q.Get("gender"), Postcode: strings.TrimSpace(q.Get("postcode")),
		Submitted: q.Has("nhs") || q.Has("family"),
	}}
	recent, err := s.db.RecentPatients(ctx, u.ID, 10)
	if err != nil {
		return err
	}
	for _, r := range recent {
		rp, err := s.recentPatient(ctx, r)
		if err != nil {
			return err
		}
		page.Recent = append(page.Recent, rp)
	}
	if !page.Form.Submitted {
		return render(c, http.StatusOK, views.PatientSearch(s.page(c, "Find a patient"), page, s.cfg.Records != nil))
	}
	query, errs := parseSearch(&page.Form, s.now())
	if len(errs) > 0 {
		page.Form.Errors = errs
		return render(c, http.StatusBadRequest, views.PatientSearch(s.page(c, "Error: Find a patient"), page, s.cfg.Records != nil))
	}
	if s.cfg.Records == nil {
		return render(c, http.StatusOK, views.PatientSearch(s.page(c, "Find a patient"), page, false))
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActSearch, NHSNumber: query.NHSNumber, Detail: searchTerms(query)}); err != nil {
		return err
	}
	hits, statuses, err := s.cfg.Records.Search(withRequester(ctx), query)
	if err != nil {
		return err
	}
	for _, h := range hits {
		p := h.Patient
		hit := views.SearchHit{NHS: h.NHSNumber, Name: views.PatientName(&p), Born: views.Date(p.BirthDate), Gender: views.Gender(p.Gender),
			Restricted: p.Restricted, Deceased: p.Deceased || p.DeathDate != nil, Sources: h.Sources, Disagree: h.Disagree,
			URL: "/patients/" + h.NHSNumber, FromPDS: h.FromPDS}
		if h.Replaces != "" {
			hit.Replaces = views.NHSNumber(h.Replaces)
		}
		if !p.Restricted {
			hit.Postcode = p.Postcode
		} else {
			hit.Sources = s.withholdHitSources(hit.Sources)
		}
		if h.NHSNumber == "" {
			hit.URL = "" // no NHS number: no record page to link to
		}
		// One indexed lookup per hit: a search shows a handful of patients,
		// while the set of every objection grows without bound.
		objected := false
		if h.NHSNumber != "" {
			if objected, err = s.db.HasUpheldObjection(ctx, h.NHSNumber); err != nil {
				return err
			}
		}
		if objected {
			// The patient exists, and has objected: say so, and name none
			// of the organisations holding their record. The objection
			// withholds what others hold of their care, not who they are:
			// the postcode is the one the record's banner shows.
			hit.Objected, hit.Sources = true, nil
			hit.Postcode = objectedPostcode(h, ownODS(ctx))
		}
		page.Hits = append(page.Hits, hit)
	}
	for _, st := range statuses {
		if st.State != records.StateLive {
			page.Missing = append(page.Missing, sourceLine(st, s.now()))
		}
	}
	if query.NHSNumber != "" && len(page.Hits) == 1 {
		h := page.Hits[0]
		if page.Notice = notOpenedBecause(h, query.NHSNumber); page.Notice == "" {
			return s.openFound(c, h)
		}
	}
	return render(c, http.StatusOK, views.PatientSearch(s.page(c, "Find a patient"), page, true))
}

// notOpenedBecause says why a search by NHS number that found one patient
// lists them rather than going on to the reason for access: the user
// should see something first. It returns "" when nothing stands in the
// way.
func notOpenedBecause(h views.SearchHit, searched string) string {
	switch {
	case h.URL == "" || h.NHS == "":
		// Not expected (sources keep only the patient with the number
		// asked for), and there is no record page to go to.
		return "The source that holds this patient gives no NHS number for them: check the details below."
	case h.Replaces != "" || h.NHS != searched:
		return "PDS says the NHS number you searched for has been replaced: check the patient below is the one you want, then open their record under the current number."
	case h.Objected:
		return "This patient has objected to sharing their record: only what your own organisation holds will be shown."
	case h.Restricted:
		return "This patient's record is restricted: their address and GP practice are not shown. Check this is the patient you want before opening the record."
	case h.Disagree:
		return "The sources hold different names or birth dates for this NHS number: check which is the patient before opening the record."
	case len(h.Sources) == 0:
		return "PDS knows this patient, but no Trust or GP practice connected here holds a record for them."
	}
	return ""
}

// openFound goes on from a search by NHS number that found one patient,
// as a click on the one result would: to the reason for access, where
// the user confirms who the patient is (found keeps who was found), or
// straight to the record when the user already gave a reason this
// session. The search itself has been audited.
func (s *Server) openFound(c echo.Context, h views.SearchHit) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	s.found.put(u.SessionHash, h.NHS, views.Identified{Name: h.Name, Born: h.Born, Gender: h.Gender, Deceased: h.Deceased}, s.now())
	to := h.URL
	switch _, err := s.db.AccessFor(ctx, u.SessionHash, h.NHS); {
	case errors.Is(err, store.ErrNotFound):
		to = h.URL + "/access?" + url.Values{"return": {h.URL}}.Encode()
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// ownODS is the organisation of the signed-in user's role.
func ownODS(ctx context.Context) string {
	if u := UserFrom(ctx); u != nil && u.Role != nil {
		return u.Role.ODS
	}
	return ""
}

// objectedPostcode is the postcode the record page's banner shows for a
// patient who has objected to sharing: PDS's (the national demographics,
// which the objection does not withhold) when PDS found them, else the
// user's own organisation's copy (the only source the record page then
// asks), else none.
func objectedPostcode(h records.SearchHit, own string) string {
	if h.FromPDS || h.Patient.Restricted {
		return h.Patient.Postcode
	}
	for _, p := range h.Held {
		if own != "" && p.Source.ODS == own && (len(p.AddressLines) > 0 || p.Postcode != "") {
			return p.Postcode
		}
	}
	return ""
}

// parseSearch checks the search form the NHS.UK way: one message per
// field, nothing searched while any is wrong. An NHS number with a wrong
// check digit is refused here, before any source is asked.
func parseSearch(f *views.SearchForm, now time.Time) (connectors.Query, []views.FieldError) {
	var errs []views.FieldError
	var q connectors.Query
	if strings.TrimSpace(f.NHS) != "" {
		n, err := connectors.ParseNHSNumber(f.NHS)
		switch {
		case errors.Is(err, connectors.ErrNHSNumberCheckDigit):
			errs = append(errs, views.FieldError{Field: "nhs", Message: "This is not a valid NHS number: check it and try again"})
		case err != nil:
			errs = append(errs, views.FieldError{Field: "nhs", Message: "Enter an NHS number with 10 digits, like 999 000 0018"})
		default:
			q.NHSNumber = n
		}
		return q, errs
	}
	if f.Family == "" {
		errs = append(errs, views.FieldError{Field: "family", Message: "Enter the patient's family name, or search by NHS number"})
	} else if len(f.Family) > 100 {
		errs = append(errs, views.FieldError{Field: "family", Message: "Family name must be 100 characters or fewer"})
	}
	d, ok := calendarDate(strings.TrimSpace(f.Day), strings.TrimSpace(f.Month), strings.TrimSpace(f.Year))
	switch {
	case f.Day == "" && f.Month == "" && f.Year == "":
		errs = append(errs, views.FieldError{Field: "dob-day", Message: "Enter the patient's date of birth"})
	case !ok:
		errs = append(errs, views.FieldError{Field: "dob-day", Message: "Date of birth must be a real date, like 14 7 1945"})
	default:
		if d.Time().After(now) {
			errs = append(errs, views.FieldError{Field: "dob-day", Message: "Date of birth must be in the past"})
		}
		q.BirthDate = d
	}
	switch f.Gender {
	case "", connectors.GenderMale, connectors.GenderFemale, connectors.GenderOther, connectors.GenderUnknown:
		q.Gender = f.Gender
	default:
		errs = append(errs, views.FieldError{Field: "gender", Message: "Select a gender from the list"})
	}
	if len(f.Given) > 100 {
		errs = append(errs, views.FieldError{Field: "given", Message: "Given name must be 100 characters or fewer"})
	}
	if !postcodePattern.MatchString(f.Postcode) {
		errs = append(errs, views.FieldError{Field: "postcode", Message: "Enter a postcode like SE5 9RS, or leave it blank"})
	}
	q.Family, q.Given, q.Postcode = f.Family, f.Given, strings.ToUpper(f.Postcode)
	return q, errs
}

// ignoreHandled drops errNoReason: the redirect to the reason page has
// already been written.
func ignoreHandled(err error) error {
	if errors.Is(err, errNoReason) {
		return nil
	}
	return err
}

// postcodePattern accepts what a UK postcode, or the start of one, can
// hold: letters, digits and a space, at most 8 characters.
var postcodePattern = regexp.MustCompile(`^[A-Za-z0-9 ]{0,8}$`)

// nhsParam reads and checks the NHS number in the path.
func nhsParam(c echo.Context) (string, error) {
	n := validNHS(c.Param("nhs"))
	if n == "" {
		return "", Errorf(ENOTFOUND, "This is not a valid NHS number",
			"The address must end with a 10-digit NHS number. Search for the patient instead.")
	}
	return n, nil
}

func (s *Server) requireRecords() error {
	if s.cfg.Records == nil {
		return Errorf(EUNAVAILABLE, "No sources are connected", "This carerecord has no Trust or GP practice connected, so there is no record to show.")
	}
	return nil
}

// loaded is one patient's record as this user may see it, and how it
// was recorded.
type loaded struct {
	nhs      string
	grant    store.AccessGrant
	view     *records.RecordView
	objected bool
}

// load is the one way to a record's data: the NHS number in the path,
// sources connected, the user's reason for access, the objection rule
// (only the user's own organisation when the patient objected), the view
// from the sources (Open, or Status for the fill-in), and the audit event,
// committed before anything is sent. errNoReason means the redirect to the
// reason page is already written.
func (s *Server) load(c echo.Context, ev store.AuditEvent, refresh, status bool) (*loaded, error) {
	nhs, err := nhsParam(c)
	if err != nil {
		return nil, err
	}
	if err := s.requireRecords(); err != nil {
		return nil, err
	}
	if cur := s.cfg.Records.Current(c.Request().Context(), nhs); cur != nhs {
		return nil, s.toCurrentNHSNumber(c, nhs, cur)
	}
	g, err := s.grantFor(c, nhs)
	if err != nil {
		return nil, err
	}
	ctx, objected, err := s.recordContext(c, nhs, g)
	if err != nil {
		return nil, err
	}
	ctx = withRequester(ctx)
	var v *records.RecordView
	if status {
		v, err = s.cfg.Records.Status(ctx, nhs)
	} else {
		v, err = s.cfg.Records.Open(ctx, nhs, refresh)
	}
	if err != nil {
		return nil, err
	}
	// From here on, a restricted patient's GP practice has no name: not
	// on any page, nor in the audit event's sources.
	v = s.withholdPractices(v)
	ev.NHSNumber, ev.Reason, ev.Sources = nhs, g.Reason, answered(v)
	if ev.Detail == "" {
		ev.Detail = g.Detail // a break-glass reason goes with every opening under it
	}
	if err := s.audit(c, withPatient(ev, v)); err != nil {
		return nil, err
	}
	return &loaded{nhs: nhs, grant: g, view: v, objected: objected}, nil
}

// toCurrentNHSNumber sends a request for a superseded NHS number to the
// same page under the current one, which says so (see supersededFrom);
// the reason for access is then asked for the current number. A page
// polling in the background is told to reload instead.
func (s *Server) toCurrentNHSNumber(c echo.Context, old, cur string) error {
	r := c.Request()
	if r.Method != http.MethodGet || r.Header.Get("HX-Request") != "" {
		return Errorf(ECONFLICT, "This NHS number has been replaced",
			"PDS says NHS number %s has been replaced by %s. Open the record under the current number.", views.NHSNumber(old), views.NHSNumber(cur))
	}
	to := strings.Replace(r.URL.Path, "/patients/"+old, "/patients/"+cur, 1)
	q := r.URL.Query()
	q.Set("superseded", old)
	if err := c.Redirect(http.StatusSeeOther, to+"?"+q.Encode()); err != nil {
		return err
	}
	return errNoReason
}

// supersededFrom is the NHS number the page was asked for, when PDS said
// it was replaced by nhs: only as PDS said so, never as the address says.
func (s *Server) supersededFrom(c echo.Context, nhs string) string {
	old := validNHS(c.QueryParam("superseded"))
	if old == "" || s.cfg.Records.SupersededBy(old) != nhs {
		return ""
	}
	return views.NHSNumber(old)
}

// showRecord opens a patient's record: every source asked in parallel,
// each under its own deadline; the page shows what has arrived and says
// what has not.
func (s *Server) showRecord(c echo.Context) error {
	l, err := s.load(c, store.AuditEvent{Action: store.ActRecordOpen}, false, false)
	if err != nil {
		return ignoreHandled(err)
	}
	ctx := c.Request().Context()
	if err := s.db.TouchRecentPatient(ctx, UserFrom(ctx).ID, l.nhs, recentLabel(l.view, patientBanner(l.nhs, l.view, s.now()))); err != nil {
		return err
	}
	return s.renderRecord(c, l, false)
}

// recentLabel is who the patient is on the record page being opened, for
// the user's recent patients: the banner's name and birth date (the name
// only when restricted), and whose details they are. Nil when the banner
// names nobody.
func recentLabel(v *records.RecordView, b views.Banner) *store.RecentLabel {
	if b.Name == "" || b.Name == views.NotKnown {
		return nil
	}
	l := &store.RecentLabel{Name: b.Name, Born: b.Born, Restricted: b.Restricted}
	if b.Born == views.NotKnown || b.Restricted {
		l.Born = ""
	}
	switch {
	case b.FromPDS:
		l.From = "PDS"
	case len(v.Patients) > 0:
		l.From = v.Patients[0].Source.ODS // NewBanner names the first
	}
	return l
}

// recentPatient is one of the user's recent patients as the search page
// lists them: named as their record page named them when opened, unless
// the patient has since objected to sharing and the name came from an
// organisation whose data the record page no longer shows (it then shows
// the name from PDS or the user's own organisation, or none).
func (s *Server) recentPatient(ctx context.Context, r store.RecentPatient) (views.RecentPatient, error) {
	rp := views.RecentPatient{NHS: r.NHSNumber, Opened: r.OpenedAt, URL: "/patients/" + r.NHSNumber}
	objected, err := s.db.HasUpheldObjection(ctx, r.NHSNumber)
	if err != nil {
		return rp, err
	}
	rp.Objected = objected
	if l := r.Label; l != nil && (!objected || l.From == "PDS" || (l.From != "" && l.From == ownODS(ctx))) {
		rp.Name, rp.Born, rp.Restricted = l.Name, l.Born, l.Restricted
	}
	return rp, nil
}

// renderRecord renders the record page, or only its live part.
func (s *Server) renderRecord(c echo.Context, l *loaded, live bool) error {
	var visit store.RecordVisit
	if u := UserFrom(c.Request().Context()); u.Can(PermClinical) {
		var err error
		if visit, err = s.db.VisitRecord(c.Request().Context(), u.ID, l.nhs, newsKeys(l.view.Entries)); err != nil {
			return err
		}
	}
	rp := s.recordPage(c, l.nhs, l.view, visit)
	rp.Banner = s.banner(c, l, rp.Banner)
	rp.PrintURL = printPath(l.nhs, rp.Filter)
	if lines, ok := s.refreshes.get(c.QueryParam("refreshed"), UserFrom(c.Request().Context()).SessionHash, l.nhs, s.now()); ok && !live {
		// The page a refresh redirected to: each source as the refresh found it.
		rp.Sources, rp.Refreshed = lines, true
	}
	rp.Objected = l.objected
	rp.Overridden = l.objected && l.grant.ObjectionOverride
	rp.CanOverride = l.objected && !l.grant.ObjectionOverride && s.cfg.AllowObjectionOverride && rp.Clinical
	if live {
		return render(c, http.StatusOK, views.RecordLive(rp))
	}
	return render(c, http.StatusOK, views.Record(s.page(c, rp.Banner.Name+" - record"), rp))
}

// showRecordLive re-renders the live part of the record page from the
// cache while sources are still answering; the page polls it. Each
// fill-in shows data from sources that answered late: it is recorded too.
func (s *Server) showRecordLive(c echo.Context) error {
	l, err := s.load(c, store.AuditEvent{Action: store.ActRecordOpen, Detail: "page filled in as sources answered"}, false, true)
	if err != nil {
		return ignoreHandled(err)
	}
	return s.renderRecord(c, l, true)
}

// refreshRecord asks every source again, ignoring fresh cache, then
// redirects back to the record with the filter and page it was asked
// from (post/redirect/get: a reload does not post again). What each
// source did is kept for that page (refreshOutcomes), since the record
// read again from the cache would not say which sources failed.
func (s *Server) refreshRecord(c echo.Context) error {
	l, err := s.load(c, store.AuditEvent{Action: store.ActRefresh}, true, false)
	if err != nil {
		return ignoreHandled(err)
	}
	now := s.now()
	var lines []views.SourceLine
	for _, st := range l.view.Sources {
		lines = append(lines, sourceLine(st, now))
	}
	q := c.QueryParams()
	page, _ := strconv.Atoi(q.Get("page"))
	back := filterQuery(parseFilter(q), page)
	back.Set("refreshed", s.refreshes.put(UserFrom(c.Request().Context()).SessionHash, l.nhs, lines, now))
	return c.Redirect(http.StatusSeeOther, "/patients/"+l.nhs+"?"+back.Encode())
}

// news are the kinds of entry marked when they arrive: results, letters
// and reports.
func news(e *connectors.Entry) bool {
	return e.Result != nil || e.Document != nil || e.Imaging != nil
}

// newsKeys are the keys of the record's results, letters and reports.
func newsKeys(entries []connectors.Entry) []string {
	var keys []string
	for i := range entries {
		if news(&entries[i]) {
			keys = append(keys, entries[i].Key())
		}
	}
	return keys
}

func (s *Server) recordPage(c echo.Context, nhs string, v *records.RecordView, visit store.RecordVisit) views.RecordPage {
	now := s.now()
	u := UserFrom(c.Request().Context())
	rp := views.RecordPage{NHS: nhs, Clinical: u.Can(PermClinical), Banner: patientBanner(nhs, v, now)}
	rp.Banner.Superseded = s.supersededFrom(c, nhs)
	for _, st := range v.Sources {
		rp.Sources = append(rp.Sources, sourceLine(st, now))
		rp.Options = append(rp.Options, st.Source)
		if st.State == records.StateLive || st.State == records.StateCached {
			rp.Account.AddSource(st.Source, st.Hidden, st.Unreadable, st.Gaps, st.PatientRecords)
		}
	}
	if rp.Banner.Restricted {
		// A practice does not share a sensitive patient's record and
		// answers as if it held none: never say it holds none.
		for i, st := range v.Sources {
			if st.State == records.StateNoRecord && (st.Source.Withheld() || s.isGPPractice(st.Source)) {
				rp.Sources[i].Label = "GP record not shared for this patient"
			}
		}
	} else if v.PDS != nil && v.PDS.State == records.PDSChecked && v.PDS.Patient != nil && v.PDS.Patient.RegisteredGP.ODS != "" {
		// A practice that finds no patient says the same whether the
		// patient was never registered there or should be: PDS, which
		// names the practice the patient is registered with, tells the two
		// apart.
		registered := v.PDS.Patient.RegisteredGP.ODS
		for i, st := range v.Sources {
			if st.State != records.StateNoRecord || !s.isGPPractice(st.Source) {
				continue
			}
			if st.Source.ODS != registered {
				rp.Sources[i].Label = "Not registered at this practice"
			} else {
				rp.Sources[i].Label = "No record found, although PDS names this as the patient's practice"
			}
		}
	}
	rp.Pending = v.Pending()
	rp.RefreshURL = "/patients/" + nhs + "/refresh"
	if !rp.Clinical {
		return rp
	}
	q := c.QueryParams()
	rp.Filter = parseFilter(q)
	rp.LiveURL = "/patients/" + nhs + "/live?" + filterQuery(rp.Filter, 0).Encode()
	items := s.timelines.items(v)
	rp.Summary = buildSummary(nhs, items, v.Sources)
	rp.Alerts = activeAlerts(items)
	for _, it := range carePlans(items) {
		s.decorate(nhs, &it, now)
		rp.CarePlans = append(rp.CarePlans, it)
	}
	rp.Vitals = views.NewVitals(items, func(c connectors.Code) string { return trendURL(nhs, c) })
	shown := applyFilter(items, rp.Filter)
	// What arrived since the user last looked: counted over the whole
	// record, marked on the page shown, kept alone on asking.
	all := rp.Filter
	all.New = false
	rp.Since = views.NewSince{First: visit.First, When: views.DateTime(visit.Since),
		AllURL: "/patients/" + nhs + "?" + filterQuery(all, 0).Encode()}
	isNew := func(it *views.Item) bool { return news(&it.Entry) && visit.New(it.Entry.Key()) }
	for i := range items {
		if isNew(&items[i]) {
			switch {
			case items[i].Entry.Result != nil:
				rp.Since.Results++
			case items[i].Entry.Document != nil:
				rp.Since.Documents++
			default:
				rp.Since.Imaging++
			}
		}
	}
	only := rp.Filter
	only.New = true
	rp.Since.OnlyURL = "/patients/" + nhs + "?" + filterQuery(only, 0).Encode()
	if rp.Filter.New {
		shown = onlyNew(shown, isNew)
	}
	rp.Total, rp.All = len(shown), len(items)
	rp.Filters = filterTags(nhs, rp.Filter, rp.Options)
	if len(rp.Filter.Hide) > 0 {
		unhidden := rp.Filter
		unhidden.Hide = nil
		rp.Hidden = len(applyFilter(items, unhidden)) - len(shown)
	}
	pageNo, _ := strconv.Atoi(q.Get("page"))
	pages := (len(shown) + pageSize - 1) / pageSize
	if pageNo < 1 {
		pageNo = 1
	}
	if pageNo > pages && pages > 0 {
		pageNo = pages
	}
	start := (pageNo - 1) * pageSize
	end := min(start+pageSize, len(shown))
	if start < end {
		rp.From, rp.To = start+1, end
		// Only the page shown is decorated: a long history has thousands
		// of entries and shows fifty. (shown may share items' array.)
		pageItems := append([]views.Item(nil), shown[start:end]...)
		reports := linkReports(items)
		for i := range pageItems {
			pageItems[i].New = isNew(&pageItems[i])
			s.decorate(nhs, &pageItems[i], now)
			reports.decorate(nhs, &pageItems[i])
		}
		rp.Groups = groupByDay(pageItems)
	}
	if q := filterQuery(rp.Filter, pageNo); len(q) > 0 {
		rp.RefreshURL += "?" + q.Encode()
	}
	rp.Page, rp.Pages = pageNo, max(pages, 1)
	rp.Years = yearsOf(shown, func(page int, year string) string {
		return "/patients/" + nhs + "?" + filterQuery(rp.Filter, page).Encode() + "#year-" + year
	})
	// The first day of each year that begins on this page is its anchor.
	for _, y := range rp.Years {
		if y.Page != pageNo {
			continue
		}
		for i := range rp.Groups {
			if groupYear(rp.Groups[i]) == y.Year {
				rp.Groups[i].ID = "year-" + y.Year
				break
			}
		}
	}
	base := "/patients/" + nhs + "?"
	if pageNo > 1 {
		rp.PrevURL = base + filterQuery(rp.Filter, pageNo-1).Encode()
	}
	if pageNo < pages {
		rp.NextURL = base + filterQuery(rp.Filter, pageNo+1).Encode()
	}
	return rp
}

// groupYear is the year a day group falls in.
func groupYear(g views.DateGroup) string {
	e := &g.Items[0].Entry
	if e.Date.IsZero() {
		return ""
	}
	if e.Precision != connectors.PrecisionTime {
		return strconv.Itoa(e.Date.Year())
	}
	return strconv.Itoa(e.Date.In(views.London).Year())
}

// decorate adds the freshness note and links to an item.
func (s *Server) decorate(nhs string, it *views.Item, now time.Time) {
	e := &it.Entry
	it.Freshness = "Fetched " + views.Ago(e.Fetched, now)
	if e.Kind == connectors.KindResult && len(e.Codes) > 0 {
		it.TrendURL = trendURL(nhs, e.Codes[0])
	}
	if e.Result != nil {
		it.ResultsURL = resultsURL(nhs, e)
	}
	if e.Kind == connectors.KindDocument || e.Kind == connectors.KindImaging {
		it.OpenURL = documentURL(nhs, e.Key())
	}
}

// resultsURL is a result's place in the cumulative results table: the
// page with its report's sample, or its panel.
func resultsURL(nhs string, e *connectors.Entry) string {
	if e.Result.Group != "" {
		return "/patients/" + nhs + "/results?" + url.Values{"report": {e.Source.ODS + "/" + e.Result.Group}}.Encode()
	}
	id, _ := views.PanelOf(e)
	return "/patients/" + nhs + "/results#" + id
}

// trendURL is the trend page of one coded test; showTrend reads the code
// back as system|code.
func trendURL(nhs string, c connectors.Code) string {
	return "/patients/" + nhs + "/trend?" + url.Values{"code": {c.System + "|" + c.Code}}.Encode()
}

func sourceLine(st records.SourceStatus, now time.Time) views.SourceLine {
	l := views.SourceLine{Name: st.Source.Name, ODS: st.Source.ODS, State: string(st.State), Detail: st.Error}
	l.Incomplete = st.Incomplete()
	switch st.State {
	case records.StateLive:
		l.Label = "Up to date"
		if l.Incomplete {
			l.Label = "Answered, but incomplete"
		}
	case records.StateCached:
		l.Label = "Last updated " + views.Ago(st.FetchedAt, now)
		if l.NotAnswering = st.Stale || st.Error != ""; l.NotAnswering {
			l.Label = "Not answering: showing data last updated " + views.Ago(st.FetchedAt, now)
		}
		if l.Incomplete {
			l.Label += "; incomplete"
		}
	case records.StateTimeout:
		l.Label = "Did not answer in time"
		l.Detail = "" // the error says the same again
	case records.StateFailed:
		l.Label = "Failed"
	case records.StateNoRecord:
		l.Label = "No record held"
	case records.StatePending:
		l.Label = "Still loading"
	case records.StateWithheld:
		l.Label = "Not shown: the patient has objected to sharing"
		l.Detail = ""
	}
	if st.Pending && st.State != records.StatePending {
		l.Label += " (still trying)"
	}
	for _, g := range st.Gaps {
		l.Notes = append(l.Notes, views.Sentence(views.GapText(g)))
	}
	for _, t := range views.UnreadableCounts(st.Unreadable) {
		l.Notes = append(l.Notes, views.Sentence(views.UnreadableText(t)))
	}
	if d := views.DuplicateText(st.PatientRecords); d != "" {
		l.Notes = append(l.Notes, "This source "+d+".")
	}
	if len(st.Hidden) > 0 {
		l.Notes = append(l.Notes, "Hidden by rule: "+views.HiddenText(st.Hidden)+".")
	}
	return l
}

// openView returns the record view for the sub-pages (results, trend,
// document): from fresh cache when there is one.
func (s *Server) openView(c echo.Context, what store.Action, detail string) (string, *records.RecordView, views.Banner, error) {
	l, err := s.load(c, store.AuditEvent{Action: what, Detail: detail}, false, false)
	if err != nil {
		return "", nil, views.Banner{}, err
	}
	return l.nhs, l.view, s.banner(c, l, patientBanner(l.nhs, l.view, s.now())), nil
}

// banner completes b, the banner of every page of a record (who the
// patient is): for a user who may see clinical data, the allergies and
// the alerts in force; when the access is an emergency one, when it ends.
func (s *Server) banner(c echo.Context, l *loaded, b views.Banner) views.Banner {
	if l.grant.BreakGlass && !l.grant.ExpiresAt.IsZero() {
		b.EmergencyUntil = l.grant.ExpiresAt.In(views.London).Format("15:04")
	}
	if !UserFrom(c.Request().Context()).Can(PermClinical) {
		return b
	}
	items := s.timelines.items(l.view)
	b.Clinical = true
	b.Allergies = buildSummary(l.nhs, items, l.view.Sources).Allergies
	for _, it := range activeAlerts(items) {
		b.Alerts = append(b.Alerts, views.AlertShort(it.Entry))
	}
	return b
}

// patientBanner is the banner of every record page, ages as of today in
// London.
func patientBanner(nhs string, v *records.RecordView, now time.Time) views.Banner {
	today := connectors.DateOf(now.In(views.London))
	if v.PDS == nil {
		return views.NewBanner(nhs, v.Patients, today)
	}
	n := views.National{Checked: v.PDS.State == records.PDSChecked, NoRecord: v.PDS.State == records.PDSNoRecord,
		Invalidated: v.PDS.State == records.PDSInvalidated, Failed: v.PDS.Error}
	if v.PDS.Patient != nil {
		n.Patient = *v.PDS.Patient
	}
	return views.NewBannerFromPDS(nhs, n, v.Patients, today)
}

// showResults shows the cumulative results table: every result, done
// once or many times, panel by panel and sample by sample, newest first;
// ?abnormal=1 keeps the tests with an abnormal result, ?page=N pages
// through older samples, ?report=KEY opens at that report's sample.
func (s *Server) showResults(c echo.Context) error {
	nhs, v, banner, err := s.openView(c, store.ActRecordOpen, "results")
	if err != nil {
		return ignoreHandled(err)
	}
	// A page of the visit, like the record: what arrived since the last
	// visit is marked in the table.
	visit, err := s.db.VisitRecord(c.Request().Context(), UserFrom(c.Request().Context()).ID, nhs, newsKeys(v.Entries))
	if err != nil {
		return err
	}
	q := c.QueryParams()
	pageNo, _ := strconv.Atoi(q.Get("page"))
	opts := views.CumOptions{Page: pageNo, AbnormalOnly: q.Get("abnormal") == "1",
		New: func(e *connectors.Entry) bool { return visit.New(e.Key()) }}
	if r := q.Get("report"); len(r) <= 300 {
		opts.Report = r
	}
	links := views.CumLinks{
		Trend: func(e *connectors.Entry) string {
			if len(e.Codes) == 0 {
				return ""
			}
			return trendURL(nhs, e.Codes[0])
		},
		Report: func(e *connectors.Entry) string {
			return "/patients/" + nhs + "?" + url.Values{"report": {e.Source.ODS + "/" + e.Result.Group}}.Encode()
		},
	}
	page := views.ResultsPage{NHS: nhs, Banner: banner, Report: opts.Report,
		Table: views.NewCumulative(s.timelines.items(v), opts, links),
		Since: views.NewSince{First: visit.First, When: views.DateTime(visit.Since)}}
	if opts.Report != "" && !page.Table.Found && opts.AbnormalOnly {
		page.ReportMissing = " with only abnormal results shown"
	}
	base := "/patients/" + nhs + "/results"
	page.AllURL = base
	page.AbnormalURL = base + "?abnormal=1"
	at := func(n int) string {
		u := url.Values{}
		if opts.AbnormalOnly {
			u.Set("abnormal", "1")
		}
		if n > 1 {
			u.Set("page", strconv.Itoa(n))
		}
		if len(u) == 0 {
			return base
		}
		return base + "?" + u.Encode()
	}
	if page.Table.Page > 1 {
		page.PrevURL = at(page.Table.Page - 1)
	}
	if page.Table.Page < page.Table.Pages {
		page.NextURL = at(page.Table.Page + 1)
	}
	return render(c, http.StatusOK, views.Results(s.page(c, "Results - "+banner.Name), page))
}

// showTrend shows one test over time: one chart on one time axis, a
// series per laboratory (each with its own range), values in units that
// are one unit written two ways drawn together and others apart; ?lab=
// shows one laboratory alone; and every result in a table.
func (s *Server) showTrend(c echo.Context) error {
	nhs, v, banner, err := s.openView(c, store.ActRecordOpen, "trend "+trimTo(c.QueryParam("code"), 80))
	if err != nil {
		return ignoreHandled(err)
	}
	system, code, ok := strings.Cut(c.QueryParam("code"), "|")
	if !ok || code == "" {
		return Errorf(EINVALID, "Choose a test", "Open a trend from a test result on the record page.")
	}
	lab := c.QueryParam("lab")
	base := "/patients/" + nhs + "/trend?"
	page := views.TrendPage{NHS: nhs, Banner: banner, Back: "/patients/" + nhs, Results: "/patients/" + nhs + "/results", Lab: lab,
		AllURL: base + url.Values{"code": {system + "|" + code}}.Encode()}
	labs := map[string]bool{}
	for _, e := range v.Entries { // newest first
		if e.Result == nil {
			continue
		}
		if c, ok := e.Code(system); !ok || c.Code != code {
			continue
		}
		if page.Title == "" {
			page.Title = e.Title
		}
		if lab != "" && labKey(e.Source) != lab {
			continue
		}
		page.Rows = append(page.Rows, e)
		if drawable(e.Result) && !e.Date.IsZero() {
			labs[labKey(e.Source)] = true
		}
	}
	if page.Title == "" {
		return Errorf(ENOTFOUND, "No results for this test", "This patient's record holds no results for that test.")
	}
	if len(page.Rows) == 0 {
		return Errorf(ENOTFOUND, "No results for this test from that laboratory", "Show every laboratory's results instead.")
	}
	page.Charts = views.TrendCharts(page.Rows, page.Title, labKey)
	if lab != "" || len(labs) > 1 {
		all := map[string]string{}
		var allOrder []string
		for _, e := range v.Entries {
			if e.Result == nil || !drawable(e.Result) {
				continue
			}
			if c, ok := e.Code(system); !ok || c.Code != code {
				continue
			}
			if _, ok := all[labKey(e.Source)]; !ok {
				all[labKey(e.Source)] = e.Source.Name
				allOrder = append(allOrder, labKey(e.Source))
			}
		}
		for _, lk := range allOrder {
			page.Labs = append(page.Labs, views.LabLink{Name: all[lk], Current: lk == lab,
				URL: base + url.Values{"code": {system + "|" + code}, "lab": {lk}}.Encode()})
		}
	}
	return render(c, http.StatusOK, views.Trend(s.page(c, page.Title+" - "+banner.Name), page))
}

// drawable reports whether a result has a number to plot: its own, or a
// part's.
func drawable(r *connectors.Result) bool {
	if r.Numeric != nil {
		return true
	}
	for _, c := range r.Components {
		if c.Numeric != nil {
			return true
		}
	}
	return false
}

// labKey names a laboratory in a trend's address: its ODS code, or its
// name where the code is withheld.
func labKey(src connectors.Source) string {
	if src.ODS != "" {
		return src.ODS
	}
	return src.Name
}

// showDocument opens a document or imaging report in full. A PDF is sent
// for the browser's own viewer (inline, never stored, never sniffed as
// anything else); HTML is shown only through the sanitiser (views).
func (s *Server) showDocument(c echo.Context) error {
	nhs, v, banner, err := s.openView(c, store.ActDocumentOpen, trimTo(c.QueryParam("entry"), 200))
	if err != nil {
		return ignoreHandled(err)
	}
	key := c.QueryParam("entry")
	for _, e := range v.Entries {
		if e.Key() != key || (e.Document == nil && e.Imaging == nil) {
			continue
		}
		isPDF := e.Document != nil && baseType(e.Document.ContentType) == "application/pdf" && len(e.Document.Data) > 0
		if c.QueryParam("format") == "pdf" {
			if !isPDF {
				return Errorf(ENOTFOUND, "There is no PDF for this document", "Go back to the record.")
			}
			h := c.Response().Header()
			h.Set("Content-Disposition", "inline")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			// The browser's PDF viewer is an embedded object: nothing else
			// may load or run in this response.
			h.Set("Content-Security-Policy", "default-src 'none'; object-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
			return c.Blob(http.StatusOK, "application/pdf", e.Document.Data)
		}
		page := views.DocumentPage{NHS: nhs, Banner: banner, Entry: e, Back: "/patients/" + nhs,
			HTML: e.Document != nil && baseType(e.Document.ContentType) == "text/html" && e.Document.Text != ""}
		if isPDF {
			page.PDFURL = "/patients/" + nhs + "/document?" + url.Values{"entry": {key}, "format": {"pdf"}}.Encode()
		}
		it := views.Item{Entry: e}
		items := s.timelines.items(v)
		page.Newer, page.Older, page.Position, page.Of = documentNeighbours(nhs, items, key)
		linkReports(items).decorate(nhs, &it)
		page.ReportURL, page.ReportTitle = it.ReportURL, it.ReportTitle
		page.ReportLabel = "The report as sent"
		if e.Document != nil {
			page.ReportLabel = "The report it presents"
		}
		return render(c, http.StatusOK, views.DocumentView(s.page(c, e.Title+" - "+banner.Name), page))
	}
	return Errorf(ENOTFOUND, "Document not found", "The document may have been removed by its source. Go back to the record and refresh it.")
}

// documentNeighbours finds, among the record's documents and imaging
// reports (newest first), the one before (newer) and after (older) the
// document key, and its place: 3 of 40.
func documentNeighbours(nhs string, items []views.Item, key string) (newer, older views.DocLink, pos, of int) {
	var docs []*connectors.Entry
	for i := range items {
		if e := &items[i].Entry; e.Document != nil || e.Imaging != nil {
			docs = append(docs, e)
		}
	}
	link := func(e *connectors.Entry) views.DocLink {
		return views.DocLink{URL: documentURL(nhs, e.Key()), Title: e.Title, When: views.WhenDay(e.When())}
	}
	for i, e := range docs {
		if e.Key() != key {
			continue
		}
		if i > 0 {
			newer = link(docs[i-1])
		}
		if i+1 < len(docs) {
			older = link(docs[i+1])
		}
		return newer, older, i + 1, len(docs)
	}
	return newer, older, 0, len(docs)
}

// baseType is a MIME type without its parameters, in lower case.
func baseType(ct string) string {
	if t, _, err := mime.ParseMediaType(ct); err == nil {
		return t
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// withRequester puts the signed-in user on ctx for sources that must be
// told who is asking (GP Connect's JWT): their user id, name, role and the
// organisation of the session's role.
func withRequester(ctx context.Context) context.Context {
	u := UserFrom(ctx)
	if u == nil {
		return ctx
	}
	who := connectors.Requester{UserID: u.ID, Name: u.Name}
	if u.Role != nil {
		who.RoleCode, who.OrgODS, who.OrgName, who.RoleProfileID = u.Role.Code, u.Role.ODS, u.Role.OrgName, u.Role.ID
	}
	return connectors.WithRequester(ctx, who)
}
