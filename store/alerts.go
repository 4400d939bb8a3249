package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/carerecord/carerecord/connectors"
)

// Alert is a suspicious access raised for a privacy officer to review.
// Unlike audit events, alerts are updated: a review closes them.
type Alert struct {
	ID         int64
	Seq        int64 // the audit event that raised it
	Kind       string
	Raised     time.Time
	UserID     string
	UserName   string
	NHSNumber  string
	Why        string
	Status     string // AlertOpen or AlertReviewed
	ReviewedBy string
	ReviewNote string
	ReviewedAt time.Time // zero while open
}

// Alert statuses: open, then reviewed (no concern) or escalated.
const (
	AlertOpen      = "open"
	AlertReviewed  = "reviewed"
	AlertEscalated = "escalated"
)

// Alert kinds, one per rule.
const (
	AlertBreakGlass        = "break-glass"
	AlertObjectionOverride = "objection-override"
	AlertSameFamilyName    = "same-family-name"
	AlertManyPatients      = "many-patients"
	AlertRepeatedRefusals  = "repeated-refusals"
	AlertOwnRecord         = "own-record"
	AlertOutOfHours        = "out-of-hours"
	AlertRestricted        = "restricted-record"
)

// AlertKinds lists every rule, for configuration and the IG pages.
var AlertKinds = []string{AlertBreakGlass, AlertObjectionOverride, AlertSameFamilyName, AlertOwnRecord,
	AlertOutOfHours, AlertManyPatients, AlertRestricted, AlertRepeatedRefusals}

// ErrAlertReviewed is returned by CloseAlert for an alert already closed:
// a review is not overwritten.
var ErrAlertReviewed = errors.New("alert already reviewed")

// AlertRules are the thresholds of the rules that raise alerts. Every rule
// lives in AlertRules.evaluate, which runs in the transaction that commits
// the event, so an alert exists exactly when its event does.
type AlertRules struct {
	// More than ManyPatients distinct patients' records opened by one user
	// within ManyPatientsWindow.
	ManyPatients       int
	ManyPatientsWindow time.Duration
	// At least Refusals refused requests by one user within RefusalWindow.
	Refusals      int
	RefusalWindow time.Duration
	// A same-family-name alert for the same user and patient is raised at
	// most once within RepeatWindow (a record is opened many times in one
	// visit: summary, results, documents).
	RepeatWindow time.Duration
	// Working hours, London time, [DayStart, DayEnd) on Monday to Friday:
	// a record opened outside them raises an out-of-hours alert. Zero
	// DayStart and DayEnd mean 08:00 to 18:30.
	DayStart, DayEnd time.Duration
	// Off lists rules (by kind) turned off; every rule is on by default.
	Off map[string]bool
}

// The working day when AlertRules (or the configuration) leaves it unset.
const (
	DefaultDayStart = 8 * time.Hour
	DefaultDayEnd   = 18*time.Hour + 30*time.Minute
)

// outOfHours reports whether t falls outside the working day.
func (r AlertRules) outOfHours(t time.Time) bool {
	start, end := r.DayStart, r.DayEnd
	if start == 0 && end == 0 {
		start, end = DefaultDayStart, DefaultDayEnd
	}
	l := t.In(connectors.London)
	if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return true
	}
	since := time.Duration(l.Hour())*time.Hour + time.Duration(l.Minute())*time.Minute + time.Duration(l.Second())*time.Second
	return since < start || since >= end
}

// DefaultAlertRules: 30 patients in an hour, 5 refusals in 10 minutes.
func DefaultAlertRules() AlertRules {
	return AlertRules{ManyPatients: 30, ManyPatientsWindow: time.Hour,
		Refusals: 5, RefusalWindow: 10 * time.Minute, RepeatWindow: 24 * time.Hour}
}

// WithAlertRules replaces the default alert thresholds; zero fields keep
// their defaults.
func WithAlertRules(r AlertRules) Option {
	return func(db *DB) {
		d := DefaultAlertRules()
		if r.ManyPatients <= 0 {
			r.ManyPatients = d.ManyPatients
		}
		if r.ManyPatientsWindow <= 0 {
			r.ManyPatientsWindow = d.ManyPatientsWindow
		}
		if r.Refusals <= 0 {
			r.Refusals = d.Refusals
		}
		if r.RefusalWindow <= 0 {
			r.RefusalWindow = d.RefusalWindow
		}
		if r.RepeatWindow <= 0 {
			r.RepeatWindow = d.RepeatWindow
		}
		db.audit.rules = r
	}
}

// alertHistory answers the windowed rules' questions about the user's
// events already in the log, including the event being evaluated.
type alertHistory interface {
	// patientsOpened counts distinct patients whose record the user
	// opened at or after since.
	patientsOpened(since time.Time) int
	// refusals counts the user's refused requests at or after since.
	refusals(since time.Time) int
	// alerted reports whether an alert of kind was raised for the user
	// (and the patient, unless nhs is "") at or after since.
	alerted(kind, nhs string, since time.Time) bool
}

// opensRecord reports whether an action shows a patient's record to its
// user, as the rules count openings: the record, a document, or a printed
// summary (reached by its own link, without the record page).
func opensRecord(a Action) bool { return slices.Contains(recordOpenings, a) }

// recordOpenings are the actions opensRecord counts; recordOpeningsSQL
// lists them for the rules' queries.
var (
	recordOpenings    = []Action{ActRecordOpen, ActDocumentOpen, ActRecordPrint}
	recordOpeningsSQL = actionsSQL(recordOpenings)
)

// evaluate returns the alerts ev raises.
func (r AlertRules) evaluate(ev *AuditEvent, h alertHistory) []Alert {
	var out []Alert
	raise := func(kind, why string) {
		if r.Off[kind] {
			return
		}
		out = append(out, Alert{Seq: ev.Seq, Kind: kind, Raised: ev.Time, UserID: ev.UserID,
			UserName: ev.UserName, NHSNumber: ev.NHSNumber, Why: why, Status: AlertOpen})
	}
	opened := opensRecord(ev.Action) &&
		ev.Outcome == OutcomeAllowed && ev.NHSNumber != ""

	switch ev.Action {
	case ActBreakGlass:
		raise(AlertBreakGlass, "Emergency (break-glass) access. Reason given: "+orNone(ev.Detail))
	case ActObjectionOverride:
		raise(AlertObjectionOverride, "The patient's objection to sharing was overridden. Reason given: "+orNone(ev.Detail))
	case ActPatientConcern:
		// Not subject to Off: a patient's concern always reaches IG. (A
		// refused one, about an access not theirs, raises nothing.)
		if ev.Outcome != OutcomeAllowed {
			break
		}
		out = append(out, Alert{Seq: ev.Seq, Kind: AlertPatientConcern, Raised: ev.Time, UserID: ev.UserID,
			UserName: ev.UserName, NHSNumber: ev.NHSNumber, Status: AlertOpen,
			Why: "The patient raised a concern, through their own pages (NHS login), " + orNone(ev.Detail) + "."})
	}

	if opened && ev.UserID != "" && ev.PatientFamilyName != "" {
		if fam := familyName(ev.UserName); fam != "" && strings.EqualFold(fam, normaliseName(ev.PatientFamilyName)) &&
			!h.alerted(AlertSameFamilyName, ev.NHSNumber, ev.Time.Add(-r.RepeatWindow)) {
			raise(AlertSameFamilyName, fmt.Sprintf("The user opened the record of a patient who shares their family name (%s).", strings.ToUpper(fam)))
		}
	}

	if opened && ev.UserNHSNumber != "" && ev.UserNHSNumber == ev.NHSNumber {
		raise(AlertOwnRecord, "The user opened their own record.")
	}
	if opened && ev.PatientRestricted && !h.alerted(AlertRestricted, ev.NHSNumber, ev.Time.Add(-r.RepeatWindow)) {
		raise(AlertRestricted, "The user opened a restricted (sensitive) record, whose address is withheld.")
	}
	if opened && ev.UserID != "" && r.outOfHours(ev.Time) && !h.alerted(AlertOutOfHours, ev.NHSNumber, ev.Time.Add(-12*time.Hour)) {
		raise(AlertOutOfHours, "The record was opened outside working hours ("+ev.Time.In(connectors.London).Format("Mon 15:04")+").")
	}

	if opened && ev.UserID != "" {
		since := ev.Time.Add(-r.ManyPatientsWindow)
		if n := h.patientsOpened(since); n > r.ManyPatients && !h.alerted(AlertManyPatients, "", since) {
			raise(AlertManyPatients, fmt.Sprintf("The user opened %d different patients' records within %s (threshold %d).",
				n, r.ManyPatientsWindow, r.ManyPatients))
		}
	}

	if ev.Outcome == OutcomeRefused && ev.UserID != "" {
		since := ev.Time.Add(-r.RefusalWindow)
		if n := h.refusals(since); n >= r.Refusals && !h.alerted(AlertRepeatedRefusals, "", since) {
			raise(AlertRepeatedRefusals, fmt.Sprintf("The user was refused %d times within %s.", n, r.RefusalWindow))
		}
	}
	return out
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}

// familyName is the last word of a display name ("Dr Jane SMITH" ->
// "SMITH"), or the part before a comma ("SMITH, Jane").
func familyName(display string) string {
	if before, _, ok := strings.Cut(display, ","); ok {
		return normaliseName(before)
	}
	f := strings.Fields(display)
	if len(f) == 0 {
		return ""
	}
	return normaliseName(f[len(f)-1])
}

func normaliseName(s string) string {
	return strings.TrimFunc(strings.TrimSpace(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

// userActivity is what the windowed rules need to know about one user:
// kept in the writer's memory so that evaluating the rules costs no query
// per event, however long the user's history.
type userActivity struct {
	opened  map[string]time.Time   // patient -> latest allowed open
	refused []time.Time            // refusals, oldest first
	alerts  map[alertKey]time.Time // latest raise per kind and patient
	last    time.Time              // latest event, for eviction
}

type alertKey struct{ kind, nhs string }

// alertState holds the activity of recently seen users. Only the audit
// writer goroutine uses it. A user's activity is loaded from the log the
// first time the user is seen (one indexed read of their recent window);
// after that every event of theirs passes through observe. After a failed
// batch the writer drops it all, since it may have counted events that
// were never committed.
//
// With several nodes on one database, each batch first catches up with
// the events and alerts the other nodes committed since (catchUp).
type alertState struct {
	users map[string]*userActivity
	seen  int
	// alertsUpto is the highest audit_alerts id the memory accounts for,
	// valid when alertsKnown (on a shared log only).
	alertsUpto  int64
	alertsKnown bool
	raisedHere  bool // this node raised alerts since alertsUpto
}

func (s *alertState) reset() { *s = alertState{} }

// catchUpLimit is the most events another node may have appended for a
// batch to read them one by one; after a longer gap the memory is dropped
// and users' activity is read again from the table as they are seen.
const catchUpLimit = 10_000

// catchUp brings the memory from the log as it stood at seq before to the
// head seq now, inside the batch's transaction (which holds the write
// lock, so nothing else is appended meanwhile): the events in (before,
// now] that the rules count are observed for the users already in memory
// (the others are read from the table when first seen), and the alerts
// raised since the last one accounted for are noted, so that an alert
// another node raised is not raised again here.
func (s *alertState) catchUp(ctx context.Context, q querier, before, now int64) error {
	if now-before > catchUpLimit || now < before {
		s.reset()
	}
	if !s.alertsKnown {
		// Users are loaded with every alert raised so far.
		if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_alerts`).Scan(&s.alertsUpto); err != nil {
			return err
		}
		s.alertsKnown = true
		if len(s.users) > 0 {
			// Cannot happen: users are loaded only after the alerts
			// are known. Be safe rather than miss anything.
			s.users = nil
		}
		return nil
	}
	if now == before && !s.raisedHere {
		return nil
	}
	if now != before && len(s.users) > 0 {
		rows, err := q.QueryContext(ctx, `SELECT user_id, action, outcome, nhs_number, time FROM audit_events
			WHERE seq > ? AND seq <= ? AND (outcome = 'refused' OR action IN `+recordOpeningsSQL+`) ORDER BY seq`,
			before, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				ev                   AuditEvent
				user, action, outcom string
				t                    int64
			)
			if err := rows.Scan(&user, &action, &outcom, &ev.NHSNumber, &t); err != nil {
				rows.Close()
				return err
			}
			if u := s.users[user]; u != nil {
				ev.Action, ev.Outcome, ev.Time = Action(action), Outcome(outcom), fromMS(t)
				u.observe(&ev)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	// This node's own alerts are read back too: their ids are not
	// learnt at insert (noting them again changes nothing).
	s.raisedHere = false
	rows, err := q.QueryContext(ctx, `SELECT id, kind, user_id, nhs_number, raised FROM audit_alerts
		WHERE id > ? ORDER BY id`, s.alertsUpto)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, t int64
			a     Alert
		)
		if err := rows.Scan(&id, &a.Kind, &a.UserID, &a.NHSNumber, &t); err != nil {
			return err
		}
		s.alertsUpto = max(s.alertsUpto, id)
		if u := s.users[a.UserID]; u != nil {
			a.Raised = fromMS(t)
			u.noteAlert(a)
		}
	}
	return rows.Err()
}

// horizon is how far back any rule looks.
func (r AlertRules) horizon() time.Duration {
	return max(r.ManyPatientsWindow, r.RefusalWindow, r.RepeatWindow)
}

// user returns ev's user's activity, loading it on first sight, or nil
// for an event without a user.
func (s *alertState) user(ctx context.Context, q querier, r AlertRules, ev *AuditEvent) (*userActivity, error) {
	if ev.UserID == "" {
		return nil, nil
	}
	if s.users == nil {
		s.users = map[string]*userActivity{}
	}
	if u, ok := s.users[ev.UserID]; ok {
		return u, nil
	}
	u, err := loadUserActivity(ctx, q, r, ev.UserID, ev.Time)
	if err != nil {
		return nil, err
	}
	s.users[ev.UserID] = u
	return u, nil
}

// sweep forgets users idle for longer than any rule looks back, so the
// memory follows the number of recently active users.
func (s *alertState) sweep(r AlertRules, now time.Time) {
	if s.seen++; s.seen < 4096 {
		return
	}
	s.seen = 0
	for id, u := range s.users {
		if now.Sub(u.last) > r.horizon() {
			delete(s.users, id)
		}
	}
}

// windowStart returns the first seq whose time is at or after since.
// Stamped times follow commit order, so the user's events in the window
// are then a range of the search table (user_id, seq >= start) rather
// than a scan of the user's whole history.
func windowStart(ctx context.Context, q querier, since time.Time) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT seq FROM audit_events WHERE time >= ? ORDER BY time LIMIT 1`, ms(since)).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 1 << 62, nil
	}
	return seq, err
}

func loadUserActivity(ctx context.Context, q querier, r AlertRules, userID string, now time.Time) (*userActivity, error) {
	u := &userActivity{opened: map[string]time.Time{}, alerts: map[alertKey]time.Time{}, last: now}
	since := now.Add(-r.horizon())
	start, err := windowStart(ctx, q, since)
	if err != nil {
		return nil, err
	}
	cond, args := byUser(userID, start)
	rows, err := q.QueryContext(ctx, `SELECT action, outcome, nhs_number, time FROM audit_events
		WHERE `+cond+` AND time >= ? AND (outcome = 'refused' OR action IN `+recordOpeningsSQL+`) ORDER BY seq`,
		append(args, ms(since))...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			ev             AuditEvent
			action, outcom string
			t              int64
		)
		if err := rows.Scan(&action, &outcom, &ev.NHSNumber, &t); err != nil {
			rows.Close()
			return nil, err
		}
		ev.Action, ev.Outcome, ev.Time = Action(action), Outcome(outcom), fromMS(t)
		u.observe(&ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT kind, nhs_number, MAX(raised) FROM audit_alerts
		WHERE user_id = ? AND raised >= ? GROUP BY kind, nhs_number`, userID, ms(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k alertKey
			t int64
		)
		if err := rows.Scan(&k.kind, &k.nhs, &t); err != nil {
			return nil, err
		}
		u.alerts[k] = fromMS(t)
	}
	return u, rows.Err()
}

// observe counts a committed (or about to be committed) event.
func (u *userActivity) observe(ev *AuditEvent) {
	if ev.Time.After(u.last) {
		u.last = ev.Time
	}
	switch {
	case ev.Outcome == OutcomeRefused:
		u.refused = append(u.refused, ev.Time)
	case opensRecord(ev.Action) && ev.NHSNumber != "":
		if ev.Time.After(u.opened[ev.NHSNumber]) {
			u.opened[ev.NHSNumber] = ev.Time
		}
	}
}

// noteAlert records an alert raised for the user, keeping the latest raise
// per kind and patient.
func (u *userActivity) noteAlert(a Alert) {
	k := alertKey{a.Kind, a.NHSNumber}
	if t, ok := u.alerts[k]; !ok || a.Raised.After(t) {
		u.alerts[k] = a.Raised
	}
}

// memHistory answers the rules from one user's activity, forgetting what
// has left the window as it goes.
type memHistory struct{ u *userActivity }

func (h memHistory) patientsOpened(since time.Time) int {
	if h.u == nil {
		return 0
	}
	for nhs, t := range h.u.opened {
		if t.Before(since) {
			delete(h.u.opened, nhs)
		}
	}
	return len(h.u.opened)
}

func (h memHistory) refusals(since time.Time) int {
	if h.u == nil {
		return 0
	}
	i := 0
	for i < len(h.u.refused) && h.u.refused[i].Before(since) {
		i++
	}
	h.u.refused = h.u.refused[i:]
	return len(h.u.refused)
}

func (h memHistory) alerted(kind, nhs string, since time.Time) bool {
	if h.u == nil {
		return false
	}
	for k, t := range h.u.alerts {
		if k.kind == kind && (nhs == "" || k.nhs == nhs) && !t.Before(since) {
			return true
		}
	}
	return false
}

func (db *DB) insertAlert(ctx context.Context, tx *sqlTx, a Alert) error {
	// The why can quote a break-glass reason or a patient's family name:
	// sealed like the event's detail (auditseal.go).
	why, err := db.sealText(a.Why, alertWhyAD(a.Seq, a.Kind))
	if err != nil {
		return fmt.Errorf("raise alert: %w", err)
	}
	a.Why = why
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_alerts (seq, kind, raised, user_id, user_name, nhs_number, why, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'open')`, a.Seq, a.Kind, ms(a.Raised), a.UserID, a.UserName, a.NHSNumber, a.Why)
	if err != nil {
		return fmt.Errorf("raise alert: %w", err)
	}
	return nil
}

const alertColumns = `id, seq, kind, raised, user_id, user_name, nhs_number, why, status, reviewed_by, review_note, reviewed_at`

func scanAlert(r rowScanner) (Alert, error) {
	var (
		a        Alert
		raised   int64
		reviewed sql.NullInt64
	)
	if err := r.Scan(&a.ID, &a.Seq, &a.Kind, &raised, &a.UserID, &a.UserName, &a.NHSNumber, &a.Why,
		&a.Status, &a.ReviewedBy, &a.ReviewNote, &reviewed); err != nil {
		return a, err
	}
	a.Raised = fromMS(raised)
	if reviewed.Valid {
		a.ReviewedAt = fromMS(reviewed.Int64)
	}
	return a, nil
}

// Alerts returns alerts with the given status ("" for any), newest first;
// limit defaults to 50 and is at most 500.
func (db *DB) Alerts(ctx context.Context, status string, limit int) ([]Alert, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	rows, err := db.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM audit_alerts
		WHERE (? = '' OR status = ?) ORDER BY id DESC LIMIT ?`, status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: alerts: %w", err)
		}
		a.Why = db.openText(a.Why, alertWhyAD(a.Seq, a.Kind))
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return out, nil
}

// Alert returns one alert, or ErrNotFound.
func (db *DB) Alert(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(db.read.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM audit_alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, ErrNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("store: alert %d: %w", id, err)
	}
	a.Why = db.openText(a.Why, alertWhyAD(a.Seq, a.Kind))
	return a, nil
}

// CloseAlert closes an open alert: reviewed with no concern, or escalated
// for investigation. A closed alert is never reopened or overwritten
// (ErrAlertReviewed); ErrNotFound for no such alert. A patient's concern
// is closed with CloseConcernAlert, which also takes the message to the
// patient (ErrPatientMessage here).
func (db *DB) CloseAlert(ctx context.Context, id int64, reviewer, note string, escalate bool) error {
	return db.closeAlert(ctx, id, reviewer, note, "", escalate)
}

// ErrPatientMessage is returned when a patient's concern would be closed
// without a message to the patient.
var ErrPatientMessage = errors.New("store: a patient's concern is closed with a message to the patient")

// MaxPatientMessage bounds the message to the patient on closing a concern.
const MaxPatientMessage = 2000

// CloseConcernAlert closes the alert a patient's concern raised, like
// CloseAlert, with message: what the patient is told (the review note
// stays internal). The message is required; both are stored in one
// transaction.
func (db *DB) CloseConcernAlert(ctx context.Context, id int64, reviewer, note, message string, escalate bool) error {
	message = strings.TrimSpace(message)
	if message == "" || len([]rune(message)) > MaxPatientMessage {
		return ErrPatientMessage
	}
	return db.closeAlert(ctx, id, reviewer, note, message, escalate)
}

func (db *DB) closeAlert(ctx context.Context, id int64, reviewer, note, message string, escalate bool) error {
	if strings.TrimSpace(reviewer) == "" {
		return errors.New("store: review alert: no reviewer")
	}
	status := AlertReviewed
	if escalate {
		status = AlertEscalated
	}
	var current, kind string
	err := db.inTx(ctx, fmt.Sprintf("review alert %d", id), func(tx *sqlTx, now int64) error {
		err := tx.QueryRowContext(ctx, `SELECT status, kind FROM audit_alerts WHERE id = ?`, id).Scan(&current, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if current != AlertOpen {
			return ErrAlertReviewed
		}
		if (kind == AlertPatientConcern) != (message != "") {
			if message != "" {
				return errors.New("a message to the patient is only for a patient's concern")
			}
			return ErrPatientMessage
		}
		res, err := tx.ExecContext(ctx, `UPDATE audit_alerts SET status = ?, reviewed_by = ?, review_note = ?, reviewed_at = ?
			WHERE id = ? AND status = 'open'`, status, clip(reviewer, maxAuditField), clip(note, maxAuditDetail), now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrAlertReviewed
		}
		if message == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO patient_concern_reviews (alert_id, started_by, started_at, message, messaged_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET message = excluded.message, messaged_at = excluded.messaged_at`,
			id, clip(reviewer, maxAuditField), now, message, now)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrAlertReviewed):
		return ErrAlertReviewed
	case errors.Is(err, ErrPatientMessage):
		return ErrPatientMessage
	}
	return err
}
