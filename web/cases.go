package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// showObjectionCases is the privacy officer's objection queue: open cases
// oldest first with their age, the objections in force, and a search by
// reference, NHS number or name.
func (s *Server) showObjectionCases(c echo.Context) error {
	ctx := c.Request().Context()
	page := views.CasesPage{Query: strings.TrimSpace(c.QueryParam("q"))}
	open, err := s.db.OpenCases(ctx)
	if err != nil {
		return err
	}
	upheld, err := s.db.UpheldCases(ctx)
	if err != nil {
		return err
	}
	for _, oc := range open {
		page.Open = append(page.Open, s.caseRow(oc))
	}
	for _, oc := range upheld {
		page.Upheld = append(page.Upheld, s.caseRow(oc))
	}
	for _, t := range s.objections.globalTrips() {
		page.Floods = append(page.Floods, views.FormFlood{From: t.From, To: t.To, Refused: t.Refused,
			Limit: s.cfg.ObjectionLimits.Global, Window: per(s.cfg.ObjectionLimits.Window)})
	}
	status := http.StatusOK
	if page.Query != "" {
		page.Searched = true
		if utf8.RuneCountInString(page.Query) > 200 {
			page.QueryError, page.Searched, status = "Search must be 200 characters or fewer", false, http.StatusBadRequest
		} else {
			// The search itself is audited; the words searched for are
			// not (a name is personal data), only an NHS number.
			nhs, _ := connectors.ParseNHSNumber(page.Query)
			if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: nhs, Detail: "objection case search"}); err != nil {
				return err
			}
			found, err := s.db.SearchCases(ctx, page.Query)
			if err != nil {
				return err
			}
			for _, oc := range found {
				page.Results = append(page.Results, s.caseRow(oc))
			}
		}
	}
	title := "Objections to sharing"
	if page.QueryError != "" {
		title = "Error: " + title
	}
	return render(c, status, views.ObjectionCases(s.page(c, title), page))
}

func (s *Server) caseRow(oc store.ObjectionCase) views.CaseRow {
	nhs := oc.MatchedNHS
	if nhs == "" {
		nhs = oc.Form.NHSNumber
	}
	return views.CaseRow{URL: caseURL(oc.ID), Ref: oc.Ref, Kind: string(oc.Form.Kind), Status: string(oc.Status),
		Name: oc.Form.FullName, NHS: nhs, Received: oc.Submitted, AgeDays: ageDays(oc, s)}
}

func ageDays(oc store.ObjectionCase, s *Server) int {
	d := s.now().Sub(oc.Submitted)
	if d < 0 {
		return 0
	}
	return int(d.Hours() / 24)
}

func caseURL(id int64) string { return "/ig/objections/" + strconv.FormatInt(id, 10) }

// caseParam reads the case id in the path and loads the case.
func (s *Server) caseParam(c echo.Context) (store.ObjectionCase, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return store.ObjectionCase{}, Errorf(ENOTFOUND, "Case not found", "There is no objection case at this address. Go back to the list of objections.")
	}
	oc, err := s.db.Case(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return oc, Errorf(ENOTFOUND, "Case not found", "There is no objection case at this address. Go back to the list of objections.")
	}
	return oc, err
}

// caseNHS is the NHS number a case concerns, for the audit log: the
// matched patient, else the number on the form (if valid).
func caseNHS(oc store.ObjectionCase) string {
	if oc.MatchedNHS != "" {
		return oc.MatchedNHS
	}
	return validNHS(oc.Form.NHSNumber)
}

// showObjectionCase is one case. Viewing it is audited before anything of
// it is shown; for a case still awaiting its identity check the sources
// are searched for candidates to compare with.
func (s *Server) showObjectionCase(c echo.Context) error {
	oc, err := s.caseParam(c)
	if err != nil {
		return err
	}
	page, err := s.casePage(c, oc)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ObjectionCase(s.page(c, "Case "+oc.Ref), page))
}

// casePage audits the view and builds the page.
func (s *Server) casePage(c echo.Context, oc store.ObjectionCase) (views.CasePage, error) {
	ctx := c.Request().Context()
	detail := "objection case " + oc.Ref
	if oc.Status == store.StatusReceived && s.cfg.Records != nil {
		detail += ", with identity candidates from the sources"
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: caseNHS(oc), Detail: detail}); err != nil {
		return views.CasePage{}, err
	}
	f := oc.Form
	p := views.CasePage{ID: oc.ID, Ref: oc.Ref, Kind: string(f.Kind), Status: string(oc.Status), Received: oc.Submitted,
		AgeDays: ageDays(oc, s), MatchedNHS: oc.MatchedNHS, OnBehalf: f.OnBehalf, Reason: f.Reason, Contact: f.Contact}
	p.Submitted = []views.CaseDetail{
		{Label: "Name", Submitted: f.FullName},
		{Label: "Date of birth", Submitted: views.Date(f.BirthDate)},
		{Label: "NHS number", Submitted: formatOrNotGiven(f.NHSNumber)},
		{Label: "Address", Submitted: f.Address},
		{Label: "Postcode", Submitted: f.Postcode},
	}
	if f.OnBehalf {
		p.Submitter = []views.CaseDetail{
			{Label: "Made by", Submitted: f.SubmitterName},
			{Label: "Relationship", Submitted: f.Relationship},
			{Label: "Right to act for them", Submitted: f.Authority},
		}
	}
	for _, st := range oc.Steps {
		p.Steps = append(p.Steps, views.CaseStepRow{At: st.At, ByName: st.ByName, From: string(st.From), To: string(st.To), Note: st.Note})
	}
	if nhs := caseNHS(oc); nhs != "" {
		others, err := s.db.SearchCases(ctx, nhs)
		if err != nil {
			return p, err
		}
		for _, o := range others {
			if o.ID != oc.ID && o.Form.Kind == store.KindObject && o.Status == store.StatusUpheld {
				p.InForce = append(p.InForce, s.caseRow(o))
			}
		}
	}
	if oc.Status == store.StatusReceived {
		if err := s.findCandidates(c, oc, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

func formatOrNotGiven(nhs string) string {
	if nhs == "" {
		return "Not given"
	}
	return views.NHSNumber(nhs)
}

// findCandidates asks the sources who the form may be about: by the NHS
// number if one was given (falling back to name and date of birth when
// that finds nobody), else by family name (the last word of the full name)
// and date of birth.
func (s *Server) findCandidates(c echo.Context, oc store.ObjectionCase, p *views.CasePage) error {
	if s.cfg.Records == nil {
		p.SearchNote = "No sources are connected, so there are no records to compare with. Enter the NHS number if you have confirmed it another way."
		return nil
	}
	ctx := c.Request().Context()
	f := oc.Form
	byName := connectors.Query{BirthDate: f.BirthDate}
	if words := strings.Fields(f.FullName); len(words) > 0 {
		byName.Family = words[len(words)-1]
	}
	var queries []connectors.Query
	if f.NHSNumber != "" {
		queries = append(queries, connectors.Query{NHSNumber: f.NHSNumber})
	}
	if byName.Validate() == nil {
		queries = append(queries, byName)
	}
	var hits []records.SearchHit
	for i, q := range queries {
		found, statuses, err := s.cfg.Records.Search(ctx, q)
		if err != nil {
			return err
		}
		hits = found
		p.Unanswered = nil
		for _, st := range statuses {
			if st.State != records.StateLive {
				p.Unanswered = append(p.Unanswered, st.Source.Name)
			}
		}
		switch {
		case q.NHSNumber != "":
			p.SearchNote = "Searched the sources by the NHS number on the form."
		case i > 0:
			p.SearchNote = "No source holds the NHS number on the form. Searched instead by family name (" + q.Family + ") and date of birth."
		default:
			p.SearchNote = "No NHS number was given. Searched the sources by family name (" + q.Family + ") and date of birth."
		}
		if len(hits) > 0 {
			break
		}
	}
	if len(queries) == 0 {
		p.SearchNote = "The form does not give enough to search the sources by. Enter the NHS number if you have confirmed it another way."
	} else if len(hits) == 0 {
		p.SearchNote += " No patient was found."
	}
	for i, h := range hits {
		if h.Patient.Restricted {
			h.Sources = s.withholdHitSources(h.Sources)
		}
		p.Candidates = append(p.Candidates, candidate(i+1, f, h))
	}
	return nil
}

// candidate compares the form with one patient the sources hold. Each
// verdict is a word on the page, not a colour.
func candidate(index int, f store.ObjectionForm, h records.SearchHit) views.Candidate {
	pt := h.Patient
	var names []string
	for _, src := range h.Sources {
		names = append(names, src.Name)
	}
	cand := views.Candidate{Index: index, NHS: h.NHSNumber, Name: views.PatientName(&pt), Sources: strings.Join(names, ", ")}
	held := func(restricted bool, v string) string {
		if restricted {
			return "Restricted record"
		}
		return v
	}
	nameVerdict := "differs"
	if sameName(f.FullName, pt) {
		nameVerdict = "match"
	}
	cand.Details = []views.CaseDetail{
		{Label: "Name", Submitted: f.FullName, Held: views.PatientName(&pt), Verdict: nameVerdict},
		{Label: "Date of birth", Submitted: views.Date(f.BirthDate), Held: views.Date(pt.BirthDate), Verdict: verdict(!f.BirthDate.IsZero(), !pt.BirthDate.IsZero(), f.BirthDate == pt.BirthDate)},
		{Label: "NHS number", Submitted: formatOrNotGiven(f.NHSNumber), Held: formatOrNotGiven(h.NHSNumber), Verdict: verdict(f.NHSNumber != "", h.NHSNumber != "", f.NHSNumber == h.NHSNumber)},
		{Label: "Address", Submitted: f.Address, Held: held(pt.Restricted, strings.Join(pt.AddressLines, "\n")),
			Verdict: verdict(f.Address != "", !pt.Restricted && len(pt.AddressLines) > 0, sameAddress(f.Address, pt.AddressLines))},
		{Label: "Postcode", Submitted: f.Postcode, Held: held(pt.Restricted, pt.Postcode),
			Verdict: verdict(f.Postcode != "", !pt.Restricted && pt.Postcode != "", squash(f.Postcode) == squash(pt.Postcode))},
	}
	for _, d := range cand.Details {
		switch d.Verdict {
		case "match":
			cand.Matches++
			cand.Of++
		case "differs":
			cand.Of++
		}
	}
	return cand
}

func verdict(given, held, same bool) string {
	switch {
	case !given:
		return "not-given"
	case !held:
		return "not-held"
	case same:
		return "match"
	}
	return "differs"
}

// words splits text into lower-case words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func squash(s string) string { return strings.Join(words(s), "") }

// sameName: the family name and the first given name held are both among
// the words of the name on the form (people often leave out middle names).
func sameName(full string, p connectors.Patient) bool {
	have := map[string]bool{}
	for _, w := range words(full) {
		have[w] = true
	}
	fam := words(p.Family)
	if len(fam) == 0 {
		return false
	}
	for _, w := range fam {
		if !have[w] {
			return false
		}
	}
	if len(p.Given) > 0 {
		if g := words(p.Given[0]); len(g) > 0 && !have[g[0]] {
			return false
		}
	}
	return true
}

// sameAddress: the first line held appears in the address on the form.
func sameAddress(submitted string, lines []string) bool {
	if len(lines) == 0 {
		return false
	}
	first := strings.Join(words(lines[0]), " ")
	return first != "" && strings.Contains(strings.Join(words(submitted), " "), first)
}

// checkObjectionIdentity records which patient the form is about.
func (s *Server) checkObjectionIdentity(c echo.Context) error {
	oc, err := s.caseParam(c)
	if err != nil {
		return err
	}
	matched := c.FormValue("matched")
	other := strings.TrimSpace(c.FormValue("matched-nhs"))
	note := strings.TrimSpace(c.FormValue("identity-note"))
	var nhs string
	var errs []views.FieldError
	switch matched {
	case "":
		errs = append(errs, views.FieldError{Field: "", Message: "Select the patient the form is about"})
	case "other":
		n, err := connectors.ParseNHSNumber(other)
		if err != nil {
			errs = append(errs, views.FieldError{Field: "matched-nhs", Message: "Enter a valid 10-digit NHS number"})
		}
		nhs = n
	default:
		if nhs = validNHS(matched); nhs == "" {
			errs = append(errs, views.FieldError{Field: "", Message: "Select the patient the form is about"})
		}
	}
	if utf8.RuneCountInString(note) > store.MaxObjectionNote {
		errs = append(errs, views.FieldError{Field: "identity-note", Message: "Note must be 2,000 characters or fewer"})
	}
	return s.caseStep(c, oc, errs, func(p *views.CasePage) { p.Matched, p.MatchedOther, p.IdentityNote = matched, other, note },
		nhs, func(u *User) error { return s.db.CheckIdentity(c.Request().Context(), oc.ID, nhs, u.ID, u.Name, note) })
}

// decideObjection upholds the case or not, with the reason.
func (s *Server) decideObjection(c echo.Context) error {
	oc, err := s.caseParam(c)
	if err != nil {
		return err
	}
	decision := c.FormValue("decision")
	note := strings.TrimSpace(c.FormValue("decision-note"))
	var errs []views.FieldError
	if decision != "upheld" && decision != "not-upheld" {
		errs = append(errs, views.FieldError{Field: "decision-upheld", Message: "Select whether you uphold the request"})
	}
	errs = append(errs, noteErrors("decision-note", note, "Enter the reason for your decision")...)
	return s.caseStep(c, oc, errs, func(p *views.CasePage) { p.Decision, p.DecisionNote = decision, note },
		oc.MatchedNHS, func(u *User) error {
			ctx := c.Request().Context()
			if err := s.db.DecideCase(ctx, oc.ID, decision == "upheld", u.ID, u.Name, note); err != nil {
				return err
			}
			// An upheld objection purges the patient's cached shared data at
			// once; from now on no path fetches or caches it again (see
			// recordContext).
			if decision == "upheld" && oc.Form.Kind == store.KindObject && s.cfg.Records != nil {
				if err := s.cfg.Records.Purge(ctx, oc.MatchedNHS); err != nil {
					return fmt.Errorf("purge cache after objection upheld: %w", err)
				}
				s.timelines.forget(oc.MatchedNHS)
			}
			return nil
		})
}

// withdrawObjection withdraws an upheld objection at the patient's request.
func (s *Server) withdrawObjection(c echo.Context) error {
	oc, err := s.caseParam(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("withdraw-note"))
	errs := noteErrors("withdraw-note", note, "Enter how they asked to withdraw their objection")
	return s.caseStep(c, oc, errs, func(p *views.CasePage) { p.WithdrawNote = note },
		oc.MatchedNHS, func(u *User) error { return s.db.WithdrawObjection(c.Request().Context(), oc.ID, u.ID, u.Name, note) })
}

// closeObjection closes a case whose sender could not be matched to a
// patient, as not upheld, with what the officer tried.
func (s *Server) closeObjection(c echo.Context) error {
	oc, err := s.caseParam(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("close-note"))
	errs := noteErrors("close-note", note, "Enter why you could not confirm who sent the form")
	return s.caseStep(c, oc, errs, func(p *views.CasePage) { p.CloseNote = note },
		"", func(u *User) error { return s.db.CloseUnconfirmed(c.Request().Context(), oc.ID, u.ID, u.Name, note) })
}

func noteErrors(field, note, empty string) []views.FieldError {
	switch n := utf8.RuneCountInString(note); {
	case n == 0:
		return []views.FieldError{{Field: field, Message: empty}}
	case n > store.MaxObjectionNote:
		return []views.FieldError{{Field: field, Message: "Note must be 2,000 characters or fewer"}}
	}
	return nil
}

// caseStep runs one step of a case: with field errors it shows the case
// again with them; otherwise it makes the step and audits it, allowed or
// refused. A step another officer made first is shown, not overwritten.
func (s *Server) caseStep(c echo.Context, oc store.ObjectionCase, errs []views.FieldError, keep func(*views.CasePage),
	nhs string, step func(*User) error) error {
	if len(errs) > 0 {
		p, err := s.casePage(c, oc)
		if err != nil {
			return err
		}
		for i := range errs {
			if errs[i].Field == "" {
				errs[i].Field = views.FirstMatchID(p)
			}
		}
		p.Errors = errs
		keep(&p)
		return render(c, http.StatusBadRequest, views.ObjectionCase(s.page(c, "Error: Case "+oc.Ref), p))
	}
	u := *UserFrom(c.Request().Context())
	if u.Name == "" {
		u.Name = u.ID
	}
	before := oc.Status
	err := step(&u)
	if err != nil && !errors.Is(err, store.ErrCaseState) {
		return err
	}
	now, lerr := s.db.Case(c.Request().Context(), oc.ID)
	if lerr != nil {
		return lerr
	}
	ev := store.AuditEvent{Action: store.ActObjectionStep, NHSNumber: validNHS(nhs),
		Detail: fmt.Sprintf("case %s: %s -> %s", oc.Ref, before, now.Status)}
	if err != nil {
		ev.Outcome, ev.OutcomeWhy = store.OutcomeRefused, "the case had already moved on"
		ev.Detail = fmt.Sprintf("case %s: step from %s refused, case is %s", oc.Ref, before, now.Status)
	}
	if aerr := s.audit(c, ev); aerr != nil {
		return aerr
	}
	if err != nil {
		p, perr := s.casePage(c, now)
		if perr != nil {
			return perr
		}
		p.Conflict = "Someone else changed this case while you were looking at it. It is now " +
			strings.ToLower(views.CaseStatusLabel(string(now.Status))) + ". Check the history below before you do anything else."
		return render(c, http.StatusConflict, views.ObjectionCase(s.page(c, "Case "+oc.Ref), p))
	}
	s.log.Info("objection case step", "user", u.ID, "ref", oc.Ref, "from", string(before), "to", string(now.Status))
	return c.Redirect(http.StatusSeeOther, caseURL(oc.ID))
}
