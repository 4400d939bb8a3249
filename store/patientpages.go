package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// What patients signed in with NHS login see of the audit log: the
// accesses to their own shared record, less those an IG officer hid with
// a recorded reason, and the concerns they raised about any of them.

// The actions of patients' own pages.
const (
	// ActPatientViewedAccess: a patient viewed (or downloaded) their own
	// access log.
	ActPatientViewedAccess Action = "patient-viewed-own-access-log"
	// ActPatientConcern: a patient raised a concern about one access; it
	// raises an AlertPatientConcern.
	ActPatientConcern Action = "patient-concern"
	// ActAccessHidden: an IG officer hid an access from the patient's view.
	ActAccessHidden Action = "access-hidden-from-patient"
	// ActAccessUnhidden: an IG officer showed a hidden access to the
	// patient again.
	ActAccessUnhidden Action = "access-unhidden-for-patient"
)

// AlertPatientConcern is the alert a patient's concern raises. It is not
// in AlertKinds: a patient's concern cannot be turned off.
const AlertPatientConcern = "patient-concern"

// PatientAccessActions are the events a patient sees as an access to
// their record: the record or a document opened, a summary printed, break
// glass, an objection overridden. Searches, reasons given and refusals are not
// accesses to the record's content.
var PatientAccessActions = []Action{ActRecordOpen, ActDocumentOpen, ActRecordPrint, ActBreakGlass, ActObjectionOverride}

// MaxHideReason bounds the reason an IG officer gives for hiding an access.
const MaxHideReason = 500

// ErrNotAnAccess is returned for a sequence number that is not an access
// to the given patient's record.
var ErrNotAnAccess = errors.New("store: not an access to this patient's record")

// PatientAccesses returns one page of the accesses to the patient's record
// that the patient may see, newest first (read from the audit log's
// patient index, then the page), and the BeforeSeq of the next page.
//
// The page is read as a keyset walk of the patient's entries in the
// search table, newest first, each joined to its event and stopping at
// the page's end, after the log's tail not yet indexed: its cost follows
// the page, not the patient's history (see make bench). A general search
// by patient (SearchAudit) instead gathers all the patient's entries
// before it orders them.
func (db *DB) PatientAccesses(ctx context.Context, nhs string, before int64, limit int) ([]AuditEvent, int64, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	evs, err := db.patientAccessPage(ctx, nhs, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("store: patient accesses: %w", err)
	}
	var next int64
	if len(evs) > limit {
		evs = evs[:limit]
		next = evs[limit-1].Seq
	}
	return evs, next, nil
}

// patientAccessPage reads up to limit of the accesses the patient may see
// with seq < before (any, for before <= 0), newest first: first the tail
// after the indexed mark (upto, read once, so that no event is read twice
// or missed if the writer indexes meanwhile), then the search table's
// entries up to it.
func (db *DB) patientAccessPage(ctx context.Context, nhs string, before int64, limit int) ([]AuditEvent, error) {
	if before <= 0 {
		before = 1 << 62
	}
	upto, err := indexedUpto(ctx, db.read)
	if err != nil {
		return nil, err
	}
	sel := `SELECT ` + prefixColumns(auditColumns, "e")
	acts := strings.TrimSuffix(strings.Repeat("?, ", len(PatientAccessActions)), ", ")
	cond := ` AND e.nhs_number = ? AND e.action IN (` + acts + `) AND e.outcome = ?
		AND e.seq NOT IN (SELECT seq FROM patient_access_hidden)`
	condArgs := []any{nhs}
	for _, a := range PatientAccessActions {
		condArgs = append(condArgs, string(a))
	}
	condArgs = append(condArgs, string(OutcomeAllowed))
	read := func(q string, args []any) ([]AuditEvent, error) {
		rows, err := db.read.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []AuditEvent
		for rows.Next() {
			ev, err := scanAuditEvent(rows)
			if err != nil {
				return nil, err
			}
			db.openDetail(&ev)
			out = append(out, ev)
		}
		return out, rows.Err()
	}
	args := append([]any{upto, before}, condArgs...)
	out, err := read(sel+` FROM audit_events e WHERE e.seq > ? AND e.seq < ?`+cond+` ORDER BY e.seq DESC LIMIT ?`, append(args, limit))
	if err != nil || len(out) >= limit {
		return out, err
	}
	args = append([]any{nhs, min(upto, before-1)}, condArgs...)
	more, err := read(sel+` FROM audit_by_patient p JOIN audit_events e ON e.seq = p.seq
		WHERE p.nhs_number = ? AND p.seq <= ?`+cond+` ORDER BY p.seq DESC LIMIT ?`, append(args, limit-len(out)))
	return append(out, more...), err
}

// EachPatientAccess calls fn for every access the patient may see, newest
// first: the CSV download.
func (db *DB) EachPatientAccess(ctx context.Context, nhs string, fn func(AuditEvent) error) error {
	return db.EachAudit(ctx, AuditFilter{NHSNumber: nhs, Actions: PatientAccessActions, Outcome: OutcomeAllowed,
		VisibleToPatient: true}, fn)
}

// PatientAccessEvent returns the access seq if it is an access to the
// patient's record that the patient may see (ErrNotAnAccess otherwise):
// a patient can never name another patient's access.
func (db *DB) PatientAccessEvent(ctx context.Context, nhs string, seq int64) (AuditEvent, error) {
	evs, _, err := db.SearchAudit(ctx, AuditFilter{NHSNumber: nhs, Actions: PatientAccessActions, Outcome: OutcomeAllowed,
		BeforeSeq: seq + 1, Limit: 1, VisibleToPatient: true})
	if err != nil {
		return AuditEvent{}, err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return AuditEvent{}, ErrNotAnAccess
	}
	return evs[0], nil
}

// HiddenAccess is an access hidden from the patient's view.
type HiddenAccess struct {
	Seq       int64
	NHSNumber string
	By        string
	ByName    string
	Reason    string
	At        time.Time
}

// HideAccess hides one access to the patient's record from the patient's
// own view, with who hid it and why. The caller audits it (ActAccessHidden)
// first. Hiding twice is refused (ErrConflict-like: the first reason stands).
func (db *DB) HideAccess(ctx context.Context, nhs string, seq int64, by, byName, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > MaxHideReason || strings.TrimSpace(by) == "" {
		return fmt.Errorf("store: hide access: %w: a reason of 1 to %d characters and the officer are required", ErrInvalidObjection, MaxHideReason)
	}
	var action, evNHS string
	err := db.read.QueryRowContext(ctx, `SELECT action, nhs_number FROM audit_events WHERE seq = ?`, seq).Scan(&action, &evNHS)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (evNHS != nhs || !isPatientAccess(Action(action)))) {
		return ErrNotAnAccess
	}
	if err != nil {
		return fmt.Errorf("store: hide access: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `INSERT INTO patient_access_hidden (seq, nhs_number, hidden_by, by_name, reason, hidden_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`, seq, nhs, clip(by, maxAuditField), clip(byName, maxAuditField), reason, ms(db.now()))
	if err != nil {
		return fmt.Errorf("store: hide access: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrAlreadyHidden
	}
	return nil
}

// ErrAlreadyHidden is returned by HideAccess for an access hidden before.
var ErrAlreadyHidden = errors.New("store: the access is already hidden from the patient")

func isPatientAccess(a Action) bool {
	for _, x := range PatientAccessActions {
		if a == x {
			return true
		}
	}
	return false
}

// ErrNotHidden is returned by UnhideAccess for an access not hidden.
var ErrNotHidden = errors.New("store: the access is not hidden from the patient")

// UnhideAccess shows a hidden access to the patient again, with who did
// it and why: the hiding and the unhiding are kept together in
// patient_access_unhidden, in the same transaction that removes the
// hiding. The caller audits it (ActAccessUnhidden) first. ErrNotHidden
// when the access is not hidden from this patient.
func (db *DB) UnhideAccess(ctx context.Context, nhs string, seq int64, by, byName, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > MaxHideReason || strings.TrimSpace(by) == "" {
		return fmt.Errorf("store: unhide access: %w: a reason of 1 to %d characters and the officer are required", ErrInvalidObjection, MaxHideReason)
	}
	return db.inTx(ctx, "unhide access", func(tx *sqlTx, now int64) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO patient_access_unhidden (seq, nhs_number, hidden_by, hidden_by_name, hidden_reason, hidden_at,
			unhidden_by, by_name, reason, unhidden_at)
			SELECT seq, nhs_number, hidden_by, by_name, reason, hidden_at, ?, ?, ?, ? FROM patient_access_hidden WHERE seq = ? AND nhs_number = ?`,
			clip(by, maxAuditField), clip(byName, maxAuditField), reason, now, seq, nhs)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotHidden
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM patient_access_hidden WHERE seq = ? AND nhs_number = ?`, seq, nhs)
		return err
	})
}

// UnhiddenAccess is an access shown to the patient again after it was
// hidden: the hiding, and who unhid it, when and why.
type UnhiddenAccess struct {
	Hidden HiddenAccess
	By     string
	ByName string
	Reason string
	At     time.Time
}

// UnhiddenAccesses lists the accesses unhidden, newest first: every one
// for nhs "", else the patient's.
func (db *DB) UnhiddenAccesses(ctx context.Context, nhs string) ([]UnhiddenAccess, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, nhs_number, hidden_by, hidden_by_name, hidden_reason, hidden_at,
		unhidden_by, by_name, reason, unhidden_at FROM patient_access_unhidden
		WHERE (? = '' OR nhs_number = ?) ORDER BY unhidden_at DESC, seq DESC LIMIT 1000`, nhs, nhs)
	if err != nil {
		return nil, fmt.Errorf("store: unhidden accesses: %w", err)
	}
	defer rows.Close()
	var out []UnhiddenAccess
	for rows.Next() {
		var u UnhiddenAccess
		var hat, uat int64
		if err := rows.Scan(&u.Hidden.Seq, &u.Hidden.NHSNumber, &u.Hidden.By, &u.Hidden.ByName, &u.Hidden.Reason, &hat,
			&u.By, &u.ByName, &u.Reason, &uat); err != nil {
			return nil, fmt.Errorf("store: unhidden accesses: %w", err)
		}
		u.Hidden.At, u.At = fromMS(hat), fromMS(uat)
		out = append(out, u)
	}
	return out, rows.Err()
}

// HiddenAccesses lists the accesses hidden from patients, newest first:
// every one for nhs "", else the patient's. It is the IG report of hiding.
func (db *DB) HiddenAccesses(ctx context.Context, nhs string) ([]HiddenAccess, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, nhs_number, hidden_by, by_name, reason, hidden_at FROM patient_access_hidden
		WHERE (? = '' OR nhs_number = ?) ORDER BY hidden_at DESC, seq DESC LIMIT 1000`, nhs, nhs)
	if err != nil {
		return nil, fmt.Errorf("store: hidden accesses: %w", err)
	}
	defer rows.Close()
	var out []HiddenAccess
	for rows.Next() {
		var h HiddenAccess
		var at int64
		if err := rows.Scan(&h.Seq, &h.NHSNumber, &h.By, &h.ByName, &h.Reason, &at); err != nil {
			return nil, fmt.Errorf("store: hidden accesses: %w", err)
		}
		h.At = fromMS(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// Concern is a patient's concern about one access, with where the IG
// officer's review of it has got to.
type Concern struct {
	Seq       int64 // the concern's audit event
	AccessSeq int64
	Raised    time.Time
	Alert     Alert // the alert it raised: open, reviewed or escalated, and the officer's (internal) note
	// ReviewStarted is when an IG officer first opened the alert (zero
	// until then): the patient sees the concern "being reviewed".
	ReviewStarted time.Time
	// Message is what the officer wrote for the patient on closing it.
	Message string
}

// StartConcernReview records that an IG officer has opened the alert a
// patient's concern raised, so that the patient sees it being reviewed.
// The first opening counts; an alert of another kind, or a closed one, is
// left alone.
func (db *DB) StartConcernReview(ctx context.Context, alertID int64, by string) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO patient_concern_reviews (alert_id, started_by, started_at)
		SELECT id, ?, ? FROM audit_alerts WHERE id = ? AND kind = ? AND status = 'open'
		ON CONFLICT (alert_id) DO NOTHING`, clip(by, maxAuditField), ms(db.now()), alertID, AlertPatientConcern)
	if err != nil {
		return fmt.Errorf("store: start concern review: %w", err)
	}
	return nil
}

// RaiseConcern audits the patient's concern about an access they may see
// (ev, filled in by the caller with the patient as the user; the alert
// rule raises AlertPatientConcern in the same commit) and links it to the
// access. ErrNotAnAccess when accessSeq is not theirs to see.
func (db *DB) RaiseConcern(ctx context.Context, ev AuditEvent, accessSeq int64) (Concern, error) {
	acc, err := db.PatientAccessEvent(ctx, ev.NHSNumber, accessSeq)
	if err != nil {
		return Concern{}, err
	}
	ev.Action, ev.Outcome = ActPatientConcern, OutcomeAllowed
	ev.Detail = fmt.Sprintf("about access #%d: %s by %s (%s), role %s at %s, %s", acc.Seq, acc.Action, acc.UserName, acc.UserID,
		orNone(acc.RoleCode), orNone(acc.ODS), acc.Time.In(connectors.London).Format("02-Jan-2006 15:04"))
	got, err := db.Audit(ctx, ev)
	if err != nil {
		return Concern{}, err
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO patient_concerns (seq, nhs_number, access_seq) VALUES (?, ?, ?)`,
		got.Seq, ev.NHSNumber, accessSeq); err != nil {
		return Concern{}, fmt.Errorf("store: concern: %w", err)
	}
	return Concern{Seq: got.Seq, AccessSeq: accessSeq, Raised: got.Time}, nil
}

// PatientConcerns returns the patient's concerns, newest first, each with
// its alert, read in the one query that finds them.
func (db *DB) PatientConcerns(ctx context.Context, nhs string) ([]Concern, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT c.seq, c.access_seq, r.started_at, COALESCE(r.message, ''), `+
		prefixColumns(alertColumns, "a")+` FROM patient_concerns c
		JOIN audit_alerts a ON a.seq = c.seq AND a.kind = ?
		LEFT JOIN patient_concern_reviews r ON r.alert_id = a.id
		WHERE c.nhs_number = ? ORDER BY c.seq DESC LIMIT 500`, AlertPatientConcern, nhs)
	if err != nil {
		return nil, fmt.Errorf("store: concerns: %w", err)
	}
	defer rows.Close()
	var out []Concern
	for rows.Next() {
		var (
			con     Concern
			started sql.NullInt64
		)
		a, err := scanAlert(scanAfter{rows, []any{&con.Seq, &con.AccessSeq, &started, &con.Message}})
		if err != nil {
			return nil, fmt.Errorf("store: concerns: %w", err)
		}
		a.Why = db.openText(a.Why, alertWhyAD(a.Seq, a.Kind))
		con.Alert, con.Raised = a, a.Raised
		if started.Valid {
			con.ReviewStarted = fromMS(started.Int64)
		}
		out = append(out, con)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: concerns: %w", err)
	}
	if out == nil {
		out = []Concern{}
	}
	return out, nil
}

// scanAfter scans the columns first into before, then the rest into the
// destinations a scan function such as scanAlert gives.
type scanAfter struct {
	r      rowScanner
	before []any
}

func (s scanAfter) Scan(dest ...any) error {
	return s.r.Scan(append(s.before[:len(s.before):len(s.before)], dest...)...)
}

// prefixColumns qualifies each of a comma-separated column list with the
// table alias.
func prefixColumns(cols, alias string) string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		out = append(out, alias+"."+strings.TrimSpace(c))
	}
	return strings.Join(out, ", ")
}

// SubmitVerifiedObjection stores an objection (or a withdrawal) made by a
// patient whose identity NHS login has verified: the case is received and,
// in the same transaction, identity-checked against nhs with the step
// recorded as by (the patient) and note ("identity checked: NHS login
// P9"), so that it goes straight to the IG officer's decision. The form
// needs no address or contact (f.Verified). It returns the case.
func (db *DB) SubmitVerifiedObjection(ctx context.Context, f ObjectionForm, nhs, by, byName, note string) (ObjectionCase, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return ObjectionCase{}, err
	}
	f.Verified, f.NHSNumber = true, nhs
	if err := f.Check(); err != nil {
		return ObjectionCase{}, fmt.Errorf("store: submit objection: %w", err)
	}
	if err := stepArgs(by, byName, note, true); err != nil {
		return ObjectionCase{}, fmt.Errorf("store: submit objection: %w", err)
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return ObjectionCase{}, err
	}
	defer clear(plain)
	key := c.objectionKey(nhs)
	var id int64
	err = db.inTx(ctx, "submit verified objection", func(tx *sqlTx, now int64) error {
		ref, cid, err := db.insertCase(ctx, tx, c, f.Kind, StatusReceived, now, key, plain)
		if err != nil {
			return err
		}
		id = cid
		if err := addStep(ctx, tx, c, id, ref, now, by, byName, "", StatusReceived, ""); err != nil {
			return err
		}
		sealed, err := c.sealText(nhs, matchedAD(ref))
		if err != nil {
			return err
		}
		_, _, err = db.move(ctx, tx, c, id, nil, StatusReceived, StatusIdentityChecked, by, byName, note, now,
			`, matched_key = ?, matched_sealed = ?`, key, sealed)
		return err
	})
	if err != nil {
		return ObjectionCase{}, err
	}
	return db.Case(ctx, id)
}

// PatientCases returns the patient's cases (by the NHS number given or
// matched), newest first, with their steps: the cases in one query and all
// their steps in another, whatever the number of cases (at most 100).
func (db *DB) PatientCases(ctx context.Context, nhs string) ([]ObjectionCase, error) {
	cs, err := db.SearchCases(ctx, nhs)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return []ObjectionCase{}, nil
	}
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*ObjectionCase, len(cs))
	ids := make([]any, len(cs))
	for i := range cs {
		byID[cs[i].ID], ids[i] = &cs[i], cs[i].ID
	}
	rows, err := db.read.QueryContext(ctx, `SELECT case_id, at, by_id, by_name, from_status, to_status, note FROM objection_steps
		WHERE case_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY case_id, id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("store: objection steps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, at   int64
			st       CaseStep
			from, to string
			note     []byte
		)
		if err := rows.Scan(&id, &at, &st.By, &st.ByName, &from, &to, &note); err != nil {
			return nil, fmt.Errorf("store: objection steps: %w", err)
		}
		oc := byID[id]
		st.At, st.From, st.To = fromMS(at), CaseStatus(from), CaseStatus(to)
		if st.Note, err = c.openText(note, noteAD(oc.Ref, at, st.To)); err != nil {
			return nil, fmt.Errorf("store: objection case %s: step note: %w", oc.Ref, err)
		}
		oc.Steps = append(oc.Steps, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: objection steps: %w", err)
	}
	return cs, nil
}
