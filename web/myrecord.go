package web

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// A patient's own pages. Every page reads the NHS number from the
// patient's session (verified by NHS login), never from the URL or a
// form, so a patient can only ever see their own record's accesses;
// every view is itself audited.

const (
	// accessesPerPage is one page of the patient's accesses.
	accessesPerPage = 25
	// patientStepsPerHour bounds the concerns and objection requests one
	// patient may store in an hour.
	patientStepsPerHour = 10
)

// accessRows words audit events for the patient.
func (s *Server) accessRows(evs []store.AuditEvent, concerns map[int64]*views.ConcernState) []views.AccessRow {
	orgs := s.orgNames()
	rows := make([]views.AccessRow, 0, len(evs))
	for _, ev := range evs {
		rows = append(rows, s.accessRow(ev, orgs, concerns[ev.Seq]))
	}
	return rows
}

// accessRow words one audit event for the patient; orgs is orgNames().
func (s *Server) accessRow(ev store.AuditEvent, orgs map[string]string, concern *views.ConcernState) views.AccessRow {
	row := views.AccessRow{Seq: ev.Seq, When: ev.Time, ODS: ev.ODS, Role: views.NotKnown, Reason: views.NotKnown,
		Organisation: cmp.Or(orgs[ev.ODS], ev.ODS, views.NotKnown), Concern: concern}
	if def, ok := s.cfg.Roles[ev.RoleCode]; ok {
		row.Role = def.Name
	}
	if ev.Reason != "" {
		row.Reason = s.reasonLabel(ev.Reason)
	}
	row.Emergency = ev.Action == store.ActBreakGlass || ev.Action == store.ActObjectionOverride || ev.Reason == BreakGlass
	switch ev.Action {
	case store.ActDocumentOpen:
		row.What = "Opened a document in your record"
	case store.ActRecordPrint:
		row.What = "Printed or saved a summary of your record"
	case store.ActBreakGlass:
		row.What = "Opened your record in an emergency"
	case store.ActObjectionOverride:
		row.What = "Saw your record despite your objection, in an emergency"
	default:
		row.What = "Opened your record"
	}
	if s.cfg.Patients.ShowStaffNames {
		row.Person = ev.UserName
	}
	return row
}

func (s *Server) reasonLabel(code string) string {
	if l, ok := s.reasonLabels[code]; ok {
		return l
	}
	return code
}

// orgNames names the organisations carerecord knows by ODS code: its
// sources. An organisation it does not know is shown by its code.
func (s *Server) orgNames() map[string]string {
	m := map[string]string{}
	if s.cfg.Records != nil {
		for _, src := range s.cfg.Records.Sources() {
			m[src.ODS] = src.Name
		}
	}
	return m
}

// concernStates maps each access the patient raised a concern about to
// where the concern has got to.
func concernStates(cs []store.Concern) (map[int64]*views.ConcernState, []views.ConcernRow) {
	m := map[int64]*views.ConcernState{}
	var rows []views.ConcernRow
	for _, c := range cs {
		st := concernState(c)
		if _, seen := m[c.AccessSeq]; !seen {
			m[c.AccessSeq] = &st
		}
		rows = append(rows, views.ConcernRow{AccessSeq: c.AccessSeq, Raised: c.Raised, State: st})
	}
	return m, rows
}

// concernState words where a concern has got to: received, being
// reviewed once an officer has opened its alert, then closed (or passed on
// for investigation) with the officer's message to the patient. The
// officer's review note is internal and never shown here.
func concernState(c store.Concern) views.ConcernState {
	switch {
	case c.Alert.Status == store.AlertReviewed:
		return views.ConcernState{Status: "Closed", Message: c.Message, At: c.Alert.ReviewedAt}
	case c.Alert.Status == store.AlertEscalated:
		return views.ConcernState{Status: "Passed on for investigation", Message: c.Message, At: c.Alert.ReviewedAt}
	case !c.ReviewStarted.IsZero():
		return views.ConcernState{Status: "Being reviewed by a privacy officer", At: c.ReviewStarted}
	}
	return views.ConcernState{Status: "Received: a privacy officer will look into it", At: c.Raised}
}

// showMyRecord lists the accesses to the patient's own record.
func (s *Server) showMyRecord(c echo.Context) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if before < 0 {
		before = 0
	}
	detail := "newest accesses"
	if before > 0 {
		detail = fmt.Sprintf("accesses before #%d", before)
	}
	// The view is audited before anything is read for it.
	if err := s.audit(c, store.AuditEvent{Action: store.ActPatientViewedAccess, NHSNumber: u.NHSNumber, Detail: detail}); err != nil {
		return err
	}
	evs, next, err := s.db.PatientAccesses(ctx, u.NHSNumber, before, accessesPerPage)
	if err != nil {
		return err
	}
	cs, err := s.db.PatientConcerns(ctx, u.NHSNumber)
	if err != nil {
		return err
	}
	states, concernRows := concernStates(cs)
	inForce, err := s.db.HasUpheldObjection(ctx, u.NHSNumber)
	if err != nil {
		return err
	}
	raised, _ := strconv.ParseInt(c.QueryParam("raised"), 10, 64)
	return render(c, http.StatusOK, views.MyRecord(s.page(c, "Who has looked at your record"), views.MyRecordData{
		Name: u.Name, NHSNumber: u.NHSNumber, Accesses: s.accessRows(evs, states), Next: next, Earlier: before > 0,
		Concerns: concernRows, ObjectionInForce: inForce, Raised: raised}))
}

// exportMyAccesses downloads every access the patient may see as CSV.
func (s *Server) exportMyAccesses(c echo.Context) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	if err := s.audit(c, store.AuditEvent{Action: store.ActPatientViewedAccess, NHSNumber: u.NHSNumber, Detail: "downloaded as CSV"}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="who-has-looked-at-my-record.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	head := []string{"Access number", "Date and time (UK)", "What", "Organisation", "Organisation code", "Role", "Reason given", "Emergency access"}
	if s.cfg.Patients.ShowStaffNames {
		head = append(head, "Name")
	}
	if err := w.Write(head); err != nil {
		return err
	}
	orgs := s.orgNames()
	err := s.db.EachPatientAccess(ctx, u.NHSNumber, func(ev store.AuditEvent) error {
		r := s.accessRow(ev, orgs, nil)
		rec := []string{strconv.FormatInt(r.Seq, 10), views.DateTime(r.When), r.What,
			csvSafe(r.Organisation), r.ODS, csvSafe(r.Role), csvSafe(r.Reason), yesNo(r.Emergency)}
		if s.cfg.Patients.ShowStaffNames {
			rec = append(rec, csvSafe(r.Person))
		}
		return w.Write(rec)
	})
	w.Flush()
	if err != nil {
		s.log.Warn("patient access export cut short", "error", err.Error())
	}
	return nil
}

// yesNo words a yes-or-no column of the download.
func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsAny(v[:1], "=+-@\t\r") {
		return "'" + v
	}
	return v
}

// takePatientPost applies the limits on what patients' own pages store
// (a concern, an objection request): per patient, and, as on the public
// objection form, per client address and in all. The refusal is logged
// with the limit only, never the patient or the address.
func (s *Server) takePatientPost(c echo.Context, nhs string) error {
	now := s.now()
	if !s.patientSteps.take(nhs, now) {
		s.log.Warn("patient request refused", "why", "patient rate limit")
		return Errorf(ETOOMANY, "Too many requests", "You have sent a lot of requests in the last hour. Try again later, or phone your GP surgery.")
	}
	switch s.patientPosts.take(c.RealIP(), now) {
	case limitAddress:
		s.log.Warn("patient request refused", "why", "rate limit")
		return Errorf(ETOOMANY, "Too many requests", "A lot of requests have been sent from where you are in the last hour. Wait %s, then try again, or phone your GP surgery.",
			span(s.cfg.ObjectionLimits.Window))
	case limitGlobal:
		s.log.Warn("patient request refused", "why", "global rate limit")
		return Errorf(ETOOMANY, "We cannot accept more requests just now", "This service is receiving an unusually large number of requests. Wait %s, then try again. Nothing has been stored.",
			span(s.cfg.ObjectionLimits.Window))
	}
	return nil
}

// raiseConcern raises a concern about one access the patient may see: an
// IG alert of its own kind, with the access attached.
func (s *Server) raiseConcern(c echo.Context) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	seq, err := strconv.ParseInt(c.FormValue("access"), 10, 64)
	if err != nil || seq <= 0 {
		return Errorf(EINVALID, "Choose an access", "Go back to your list and use the button beside the access that worries you.")
	}
	if err := s.takePatientPost(c, u.NHSNumber); err != nil {
		return err
	}
	ev := store.AuditEvent{UserID: u.ID, UserName: u.Name, SessionHash: u.SessionHash, ClientAddr: c.RealIP(), NHSNumber: u.NHSNumber}
	con, err := s.db.RaiseConcern(ctx, ev, seq)
	if errors.Is(err, store.ErrNotAnAccess) {
		// Another patient's access, a hidden one, or none at all: the
		// same answer for each, audited.
		if aerr := s.audit(c, store.AuditEvent{Action: store.ActPatientConcern, Outcome: store.OutcomeRefused, NHSNumber: u.NHSNumber,
			OutcomeWhy: "not an access this patient may see", Detail: fmt.Sprintf("access #%d", seq)}); aerr != nil {
			return aerr
		}
		return Errorf(ENOTFOUND, "Access not found", "We could not find that access in your list. Go back to your list and try again.")
	}
	if err != nil {
		return notRecorded(err)
	}
	s.log.Info("patient raised a concern", "concern", con.Seq)
	return c.Redirect(http.StatusSeeOther, myRecordPath+"?raised="+strconv.FormatInt(seq, 10))
}

// caseWords words a case and its steps for the patient.
func caseWords(oc store.ObjectionCase) views.MyCase {
	mc := views.MyCase{Ref: oc.Ref, Kind: "Objection to sharing", State: patientCaseState(oc.Status)}
	if oc.Form.Kind == store.KindWithdraw {
		mc.Kind = "Withdrawal of your objection"
	}
	for _, st := range oc.Steps {
		step := views.MyStep{At: st.At}
		switch st.To {
		case store.StatusReceived:
			step.What = "Request received"
		case store.StatusIdentityChecked:
			step.What = "Identity checked"
			if strings.HasPrefix(st.Note, "identity checked: NHS login") {
				step.What = "Identity checked by NHS login"
			}
		case store.StatusUpheld:
			step.What, step.Note = "Decided: done as you asked", st.Note
		case store.StatusNotUpheld:
			step.What, step.Note = "Decided: not done", st.Note
		case store.StatusWithdrawn:
			step.What = "Objection withdrawn"
		}
		mc.Steps = append(mc.Steps, step)
	}
	return mc
}

func patientCaseState(st store.CaseStatus) string {
	switch st {
	case store.StatusReceived:
		return "received"
	case store.StatusIdentityChecked:
		return "waiting for a privacy officer's decision"
	case store.StatusUpheld:
		return "done"
	case store.StatusNotUpheld:
		return "not done"
	case store.StatusWithdrawn:
		return "withdrawn"
	}
	return string(st)
}

func (s *Server) myObjectionData(c echo.Context) (views.MyObjectionData, error) {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	d := views.MyObjectionData{Name: u.Name, NHSNumber: u.NHSNumber, Verified: u.ProofingLevel == "P9", AutoUphold: s.cfg.Patients.AutoUphold}
	inForce, err := s.db.HasUpheldObjection(ctx, u.NHSNumber)
	if err != nil {
		return d, err
	}
	d.InForce = inForce
	cs, err := s.db.PatientCases(ctx, u.NHSNumber)
	if err != nil {
		return d, err
	}
	for _, oc := range cs {
		if oc.Status == store.StatusReceived || oc.Status == store.StatusIdentityChecked {
			d.Pending = true
		}
		d.Cases = append(d.Cases, caseWords(oc))
	}
	return d, nil
}

// showMyObjection shows whether an objection is in force, the patient's
// requests, and the form to object or withdraw.
func (s *Server) showMyObjection(c echo.Context) error {
	u := UserFrom(c.Request().Context())
	if err := s.audit(c, store.AuditEvent{Action: store.ActPatientViewedAccess, NHSNumber: u.NHSNumber, Detail: "objection page"}); err != nil {
		return err
	}
	d, err := s.myObjectionData(c)
	if err != nil {
		return err
	}
	d.Done = c.QueryParam("done")
	if _, ok := store.NormaliseRef(d.Done); !ok {
		d.Done = ""
	}
	return render(c, http.StatusOK, views.MyObjection(s.page(c, "Your objection to sharing"), d))
}

// submitMyObjection records a P9-verified patient's objection or
// withdrawal, identity checked by NHS login as an audited step, so that it
// goes straight to the IG officer's decision (or is upheld at once where
// the configuration says so).
func (s *Server) submitMyObjection(c echo.Context) error {
	ctx := c.Request().Context()
	u := UserFrom(ctx)
	d, err := s.myObjectionData(c)
	if err != nil {
		return err
	}
	kind := store.CaseKind(c.FormValue("kind"))
	reason := strings.TrimSpace(c.FormValue("reason"))
	bad := func(msg string) error {
		d.Error, d.Reason = msg, reason
		return render(c, http.StatusBadRequest, views.MyObjection(s.page(c, "Error: Your objection to sharing"), d))
	}
	switch {
	case !d.Verified:
		return bad("Online requests need NHS login's highest level of identity checks. Use the objection form instead.")
	case d.Pending:
		return bad("We are still deciding your last request. You can send another once it is decided.")
	case kind == store.KindObject && d.InForce:
		return bad("Your objection is already in force.")
	case kind == store.KindWithdraw && !d.InForce:
		return bad("You have no objection in force to withdraw.")
	case kind != store.KindObject && kind != store.KindWithdraw:
		return bad("Choose whether to object or to withdraw your objection.")
	case len([]rune(reason)) > store.MaxObjectionReason:
		return bad(fmt.Sprintf("Your reason must be %d characters or fewer.", store.MaxObjectionReason))
	}
	if err := s.takePatientPost(c, u.NHSNumber); err != nil {
		return err
	}
	note := "identity checked: NHS login " + u.ProofingLevel
	oc, err := s.db.SubmitVerifiedObjection(ctx, store.ObjectionForm{Kind: kind, FullName: u.Name, Reason: reason},
		u.NHSNumber, u.ID, u.Name+" (NHS login)", note)
	if err != nil {
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActObjectionStep, NHSNumber: u.NHSNumber,
		Detail: fmt.Sprintf("case %s: -> received -> identity-checked (%s, the patient online)", oc.Ref, note)}); err != nil {
		return err
	}
	if s.cfg.Patients.AutoUphold {
		if err := s.db.DecideCase(ctx, oc.ID, true, "carerecord", "carerecord (automatic)", "Upheld automatically: identity verified by NHS login "+u.ProofingLevel); err != nil {
			return err
		}
		if kind == store.KindObject && s.cfg.Records != nil {
			if err := s.cfg.Records.Purge(ctx, u.NHSNumber); err != nil {
				return fmt.Errorf("purge cache after objection upheld: %w", err)
			}
		}
		if err := s.audit(c, store.AuditEvent{Action: store.ActObjectionStep, NHSNumber: u.NHSNumber,
			Detail: fmt.Sprintf("case %s: identity-checked -> upheld (automatically, by configuration)", oc.Ref)}); err != nil {
			return err
		}
	}
	s.log.Info("patient objection case made", "case", oc.Ref, "kind", string(kind))
	return c.Redirect(http.StatusSeeOther, myRecordPath+"/objection?done="+oc.Ref)
}

// showPatientView shows a privacy officer what a patient sees of their
// accesses, with the ones hidden and why.
func (s *Server) showPatientView(c echo.Context) error {
	return s.renderPatientView(c, http.StatusOK, "", 0)
}

func hiddenRow(h store.HiddenAccess) views.HiddenRow {
	return views.HiddenRow{Seq: h.Seq, NHSNumber: h.NHSNumber, By: h.ByName + " (" + h.By + ")", At: h.At, Reason: h.Reason}
}

func (s *Server) renderPatientView(c echo.Context, status int, msg string, done int64) error {
	return s.renderPatientViewUndone(c, status, msg, done, 0)
}

func (s *Server) renderPatientViewUndone(c echo.Context, status int, msg string, done, undone int64) error {
	ctx := c.Request().Context()
	nhs := validNHS(c.Param("nhs"))
	if nhs == "" {
		return Errorf(EINVALID, "Enter a valid NHS number", "An NHS number has 10 digits, like 999 000 0018.")
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, NHSNumber: nhs, Detail: "what the patient sees of their accesses"}); err != nil {
		return err
	}
	evs, _, err := s.db.PatientAccesses(ctx, nhs, 0, 200)
	if err != nil {
		return err
	}
	hidden, err := s.db.HiddenAccesses(ctx, nhs)
	if err != nil {
		return err
	}
	d := views.PatientViewData{NHSNumber: nhs, Accesses: s.accessRows(evs, nil), Error: msg, Done: done, Undone: undone}
	for i := range d.Accesses {
		d.Accesses[i].Person = evs[i].UserName
	}
	for _, h := range hidden {
		d.Hidden = append(d.Hidden, hiddenRow(h))
	}
	unhidden, err := s.db.UnhiddenAccesses(ctx, nhs)
	if err != nil {
		return err
	}
	for _, u := range unhidden {
		d.Unhidden = append(d.Unhidden, views.UnhiddenRow{Hidden: hiddenRow(u.Hidden), By: u.ByName + " (" + u.By + ")", At: u.At, Reason: u.Reason})
	}
	return render(c, status, views.PatientView(s.page(c, "What the patient sees"), d))
}

// showHiddenAccesses reports every access hidden from a patient.
func (s *Server) showHiddenAccesses(c echo.Context) error {
	if err := s.audit(c, store.AuditEvent{Action: store.ActAuditView, Detail: "accesses hidden from patients"}); err != nil {
		return err
	}
	hs, err := s.db.HiddenAccesses(c.Request().Context(), "")
	if err != nil {
		return err
	}
	rows := make([]views.HiddenRow, 0, len(hs))
	for _, h := range hs {
		rows = append(rows, views.HiddenRow{Seq: h.Seq, NHSNumber: h.NHSNumber, By: h.ByName + " (" + h.By + ")", At: h.At, Reason: h.Reason})
	}
	return render(c, http.StatusOK, views.HiddenAccesses(s.page(c, "Accesses hidden from patients"), rows))
}

// hideAccess hides one access from the patient's view, with a reason;
// the hiding is audited first.
func (s *Server) hideAccess(c echo.Context) error {
	ctx := c.Request().Context()
	nhs := validNHS(c.Param("nhs"))
	seq, _ := strconv.ParseInt(c.FormValue("access"), 10, 64)
	reason := strings.TrimSpace(c.FormValue("reason"))
	if nhs == "" || seq <= 0 {
		return Errorf(EINVALID, "Choose an access", "Go back and use the button beside the access to hide.")
	}
	if reason == "" || len([]rune(reason)) > store.MaxHideReason {
		return s.renderPatientView(c, http.StatusBadRequest, fmt.Sprintf("Give the reason for hiding access %d, in 1 to %d characters.", seq, store.MaxHideReason), 0)
	}
	if _, err := s.db.PatientAccessEvent(ctx, nhs, seq); err != nil {
		if errors.Is(err, store.ErrNotAnAccess) {
			return s.renderPatientView(c, http.StatusBadRequest, fmt.Sprintf("Access %d is not one the patient sees.", seq), 0)
		}
		return err
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAccessHidden, NHSNumber: nhs,
		Detail: fmt.Sprintf("access #%d hidden from the patient's own view", seq)}); err != nil {
		return err
	}
	u := UserFrom(ctx)
	if err := s.db.HideAccess(ctx, nhs, seq, u.ID, u.Name, reason); err != nil {
		if errors.Is(err, store.ErrAlreadyHidden) || errors.Is(err, store.ErrNotAnAccess) {
			return s.renderPatientView(c, http.StatusConflict, fmt.Sprintf("Access %d is already hidden.", seq), 0)
		}
		return err
	}
	return s.renderPatientView(c, http.StatusOK, "", seq)
}

// unhideAccess shows a hidden access to the patient again, with a reason;
// the unhiding is audited first, and kept with the hiding it ends.
func (s *Server) unhideAccess(c echo.Context) error {
	ctx := c.Request().Context()
	nhs := validNHS(c.Param("nhs"))
	seq, _ := strconv.ParseInt(c.FormValue("access"), 10, 64)
	reason := strings.TrimSpace(c.FormValue("reason"))
	if nhs == "" || seq <= 0 {
		return Errorf(EINVALID, "Choose an access", "Go back and use the button beside the hidden access.")
	}
	if reason == "" || len([]rune(reason)) > store.MaxHideReason {
		return s.renderPatientView(c, http.StatusBadRequest, fmt.Sprintf("Give the reason for showing access %d to the patient again, in 1 to %d characters.", seq, store.MaxHideReason), 0)
	}
	hidden, err := s.db.HiddenAccesses(ctx, nhs)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(hidden, func(h store.HiddenAccess) bool { return h.Seq == seq }) {
		return s.renderPatientView(c, http.StatusBadRequest, fmt.Sprintf("Access %d is not hidden from the patient.", seq), 0)
	}
	if err := s.audit(c, store.AuditEvent{Action: store.ActAccessUnhidden, NHSNumber: nhs,
		Detail: fmt.Sprintf("access #%d shown to the patient again", seq)}); err != nil {
		return err
	}
	u := UserFrom(ctx)
	if err := s.db.UnhideAccess(ctx, nhs, seq, u.ID, u.Name, reason); err != nil {
		if errors.Is(err, store.ErrNotHidden) {
			return s.renderPatientView(c, http.StatusConflict, fmt.Sprintf("Access %d is no longer hidden.", seq), 0)
		}
		return err
	}
	return s.renderPatientViewUndone(c, http.StatusOK, "", 0, seq)
}
