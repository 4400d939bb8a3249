package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/carerecord/carerecord/connectors"
)

// CaseKind says what a patient asked for.
type CaseKind string

// The kinds of case.
const (
	KindObject   CaseKind = "object"   // stop sharing my record
	KindWithdraw CaseKind = "withdraw" // withdraw my earlier objection
)

// CaseStatus is where a case is in its life:
//
//	received -> identity-checked -> upheld | not-upheld
//	received -> not-upheld (the sender could not be identified)
//	upheld (an objection) -> withdrawn
type CaseStatus string

// The statuses. The strings are stored; never change one.
const (
	StatusReceived        CaseStatus = "received"
	StatusIdentityChecked CaseStatus = "identity-checked"
	StatusUpheld          CaseStatus = "upheld"
	StatusNotUpheld       CaseStatus = "not-upheld"
	StatusWithdrawn       CaseStatus = "withdrawn"
)

// Field limits for the objection form. The web form enforces the same
// numbers with a message per field; the store refuses anything longer.
const (
	MaxObjectionName         = 200
	MaxObjectionAddress      = 500
	MaxObjectionPostcode     = 10
	MaxObjectionContact      = 200
	MaxObjectionRelationship = 100
	MaxObjectionAuthority    = 500
	MaxObjectionReason       = 1000
	MaxObjectionNote         = 2000
)

var (
	// ErrInvalidObjection is returned (wrapped, with what is wrong) for a
	// form or a step that is missing something or has too much of it.
	ErrInvalidObjection = errors.New("invalid objection")
	// ErrCaseState is returned when a case is not in the status a step
	// starts from: decided already, by this officer or another.
	ErrCaseState = errors.New("the case is not at a stage that allows this step")
)

// ObjectionForm is what the public form collects. BirthDate is required;
// NHSNumber is optional and, if given, a valid NHS number.
type ObjectionForm struct {
	Kind      CaseKind        `json:"kind"`
	FullName  string          `json:"full_name"`
	BirthDate connectors.Date `json:"birth_date"`
	NHSNumber string          `json:"nhs_number,omitempty"` // optional, validated
	Address   string          `json:"address"`
	Postcode  string          `json:"postcode"`
	Contact   string          `json:"contact"` // email address or phone number
	OnBehalf  bool            `json:"on_behalf,omitempty"`
	// Set only when OnBehalf: who filled in the form, and why they may.
	SubmitterName string `json:"submitter_name,omitempty"`
	Relationship  string `json:"relationship,omitempty"`
	Authority     string `json:"authority,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// Verified: made by a patient signed in with NHS login, whose identity
	// is verified; no address or contact is asked for.
	Verified bool `json:"verified,omitempty"`
}

// CaseStep is one move of a case, as it is shown in the case history.
type CaseStep struct {
	At     time.Time
	By     string // user id; "" for the public form
	ByName string
	From   CaseStatus // "" for the submission
	To     CaseStatus
	Note   string
}

// ObjectionCase is one submission and everything done with it.
type ObjectionCase struct {
	ID         int64
	Ref        string
	Form       ObjectionForm
	Status     CaseStatus
	Submitted  time.Time
	MatchedNHS string // the patient the officer matched; "" until identity is checked
	Steps      []CaseStep
}

// Check reports what is wrong with a form (ErrInvalidObjection, wrapped),
// or nil. The web layer gives a message per field; this is the last line,
// so nothing malformed is stored.
func (f *ObjectionForm) Check() error {
	var probs []string
	need := func(name, v string, max int) {
		switch n := utf8.RuneCountInString(v); {
		case strings.TrimSpace(v) == "":
			probs = append(probs, name+" is empty")
		case n > max:
			probs = append(probs, fmt.Sprintf("%s is longer than %d characters", name, max))
		}
	}
	limit := func(name, v string, max int) {
		if utf8.RuneCountInString(v) > max {
			probs = append(probs, fmt.Sprintf("%s is longer than %d characters", name, max))
		}
	}
	if f.Kind != KindObject && f.Kind != KindWithdraw {
		probs = append(probs, fmt.Sprintf("kind %q is neither %q nor %q", f.Kind, KindObject, KindWithdraw))
	}
	need("full name", f.FullName, MaxObjectionName)
	if f.BirthDate.IsZero() && !f.Verified {
		// (NHS login has verified a patient's NHS number: no date of
		// birth is needed to match them.)
		probs = append(probs, "date of birth is empty")
	}
	if f.NHSNumber != "" {
		if n, err := connectors.ParseNHSNumber(f.NHSNumber); err != nil || n != f.NHSNumber {
			probs = append(probs, "NHS number is not a valid 10-digit NHS number")
		}
	}
	if f.Verified {
		limit("address", f.Address, MaxObjectionAddress)
		limit("postcode", f.Postcode, MaxObjectionPostcode)
		limit("contact", f.Contact, MaxObjectionContact)
		if f.NHSNumber == "" {
			probs = append(probs, "a verified form has no NHS number")
		}
	} else {
		need("address", f.Address, MaxObjectionAddress)
		need("postcode", f.Postcode, MaxObjectionPostcode)
		need("contact", f.Contact, MaxObjectionContact)
	}
	if f.OnBehalf {
		need("submitter's name", f.SubmitterName, MaxObjectionName)
		need("relationship", f.Relationship, MaxObjectionRelationship)
		need("authority", f.Authority, MaxObjectionAuthority)
	} else if f.SubmitterName != "" || f.Relationship != "" || f.Authority != "" {
		probs = append(probs, "submitter's details given on a form not made on someone's behalf")
	}
	limit("reason", f.Reason, MaxObjectionReason)
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidObjection, strings.Join(probs, "; "))
	}
	return nil
}

// The reference: "CR-" and 8 characters in two groups of four, from an
// alphabet without characters that look or sound alike when read aloud
// or written by hand (no 0/O, 1/I/L, 5/S, 2/Z, 8/B). 25^8 is about 1.5e11
// (37 bits): not guessable, and the public pages never look one up.
const (
	refAlphabet = "34679ACDEFGHJKMNPQRTUVWXY"
	refPrefix   = "CR-"
	refLen      = 8
)

// newRef draws a reference from crypto/rand without modulo bias.
func newRef() (string, error) {
	var b strings.Builder
	b.WriteString(refPrefix)
	buf := make([]byte, 16)
	n := 0
	for n < refLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("store: objection reference: %w", err)
		}
		for _, v := range buf {
			// 250 is the largest multiple of 25 below 256.
			if v >= 250 || n == refLen {
				continue
			}
			if n == 4 {
				b.WriteByte('-')
			}
			b.WriteByte(refAlphabet[int(v)%len(refAlphabet)])
			n++
		}
	}
	return b.String(), nil
}

// NormaliseRef turns a reference as someone might type or read it ("cr
// 4k7m x9qd", "4K7MX9QD") into its canonical form, and reports whether it
// is well formed. It looks nothing up.
func NormaliseRef(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	s = strings.TrimPrefix(s, "CR")
	if len(s) != refLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(refAlphabet, s[i]) < 0 {
			return "", false
		}
	}
	return refPrefix + s[:4] + "-" + s[4:], true
}

// Sealed column formats.
const (
	objFormatJSON byte = 1
	objFormatText byte = 2
)

// objectionKey is the keyed hash an NHS number is looked up by. It is
// derived apart from the record cache's patient key, so the two tables
// cannot be joined on it.
func (c *cacheCipher) objectionKey(nhs string) []byte {
	m := hmac.New(sha256.New, c.macKey)
	m.Write([]byte("carerecord objection v1\x00"))
	m.Write([]byte(nhs))
	return m.Sum(nil)
}

// Associated data binds each sealed value to its case (by reference) and
// column, so a value cannot be moved to another case or column unnoticed.
func formAD(ref string) []byte    { return []byte("objection form\x00" + ref) }
func matchedAD(ref string) []byte { return []byte("objection matched\x00" + ref) }
func noteAD(ref string, at int64, to CaseStatus) []byte {
	return fmt.Appendf(nil, "objection note\x00%s\x00%d\x00%s", ref, at, to)
}

func (c *cacheCipher) sealText(s string, ad []byte) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return c.seal(objFormatText, []byte(s), ad)
}

func (c *cacheCipher) openText(b []byte, ad []byte) (string, error) {
	if b == nil {
		return "", nil
	}
	pt, _, err := c.open(b, func(byte) []byte { return ad })
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// SubmitObjection stores a submitted form as a new case, received, in one
// transaction, and returns its reference. Personal details are sealed with
// the cache key; the NHS number, if given, is kept as a keyed hash for
// lookup and sealed for display. It returns ErrInvalidObjection (wrapped)
// for a form that fails its checks and ErrNoCacheKey without a cache key.
func (db *DB) SubmitObjection(ctx context.Context, f ObjectionForm) (string, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return "", err
	}
	if err := f.Check(); err != nil {
		return "", fmt.Errorf("store: submit objection: %w", err)
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("store: submit objection: %w", err)
	}
	defer clear(plain)
	var nhsKey []byte
	if f.NHSNumber != "" {
		nhsKey = c.objectionKey(f.NHSNumber)
	}
	now := ms(db.now())
	// Concurrent: a new case (its reference drawn afresh, ON CONFLICT
	// if taken) and its first step; nothing is read first.
	tx, err := db.write.BeginConcurrent(ctx)
	if err != nil {
		return "", fmt.Errorf("store: submit objection: %w", err)
	}
	defer tx.Rollback()
	ref, id, err := db.insertCase(ctx, tx, c, f.Kind, StatusReceived, now, nhsKey, plain)
	if err != nil {
		return "", err
	}
	if err := addStep(ctx, tx, c, id, ref, now, "", "Online form", "", StatusReceived, ""); err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: submit objection: %w", err)
	}
	return ref, nil
}

// insertCase writes a new case row under a fresh reference, drawing again
// in the (unlikely) event of a collision.
func (db *DB) insertCase(ctx context.Context, tx *sqlTx, c *cacheCipher, kind CaseKind, status CaseStatus, now int64,
	nhsKey, plainForm []byte) (string, int64, error) {
	for range 5 {
		ref, err := newRef()
		if err != nil {
			return "", 0, err
		}
		sealed, err := c.seal(objFormatJSON, plainForm, formAD(ref))
		if err != nil {
			return "", 0, err
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO objection_cases (ref, kind, status, submitted, updated, nhs_key, form)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ref) DO NOTHING RETURNING id`, ref, string(kind), string(status), now, now, nhsKey, sealed).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // the reference was taken
		case err != nil:
			return "", 0, fmt.Errorf("store: objection case: %w", err)
		}
		return ref, id, nil
	}
	return "", 0, errors.New("store: objection case: no free reference after 5 draws")
}

func addStep(ctx context.Context, tx *sqlTx, c *cacheCipher, id int64, ref string, at int64, by, byName string, from, to CaseStatus, note string) error {
	sealed, err := c.sealText(note, noteAD(ref, at, to))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO objection_steps (case_id, at, by_id, by_name, from_status, to_status, note)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, at, by, byName, string(from), string(to), sealed); err != nil {
		return fmt.Errorf("store: objection step: %w", err)
	}
	return nil
}

const caseColumns = `id, ref, kind, status, submitted, matched_sealed, form`

type caseRow struct {
	id        int64
	ref       string
	kind      string
	status    string
	submitted int64
	matched   []byte
	form      []byte
}

func (db *DB) decodeCase(c *cacheCipher, r *caseRow) (ObjectionCase, error) {
	oc := ObjectionCase{ID: r.id, Ref: r.ref, Status: CaseStatus(r.status), Submitted: fromMS(r.submitted)}
	pt, _, err := c.open(r.form, func(byte) []byte { return formAD(r.ref) })
	if err != nil {
		return oc, fmt.Errorf("store: objection case %s: %w", r.ref, err)
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, &oc.Form); err != nil {
		return oc, fmt.Errorf("store: objection case %s: %w", r.ref, err)
	}
	if oc.MatchedNHS, err = c.openText(r.matched, matchedAD(r.ref)); err != nil {
		return oc, fmt.Errorf("store: objection case %s: matched patient: %w", r.ref, err)
	}
	return oc, nil
}

// queryCases reads cases (without their steps) for a query on caseColumns.
func (db *DB) queryCases(ctx context.Context, query string, args ...any) ([]ObjectionCase, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: objection cases: %w", err)
	}
	var raw []caseRow
	for rows.Next() {
		var r caseRow
		if err := rows.Scan(&r.id, &r.ref, &r.kind, &r.status, &r.submitted, &r.matched, &r.form); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: objection cases: %w", err)
		}
		raw = append(raw, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: objection cases: %w", err)
	}
	out := make([]ObjectionCase, 0, len(raw))
	for i := range raw {
		oc, err := db.decodeCase(c, &raw[i])
		if err != nil {
			return nil, err
		}
		out = append(out, oc)
	}
	return out, nil
}

// Case returns a case with its steps, oldest step first, or ErrNotFound.
func (db *DB) Case(ctx context.Context, id int64) (ObjectionCase, error) {
	return db.oneCase(ctx, `SELECT `+caseColumns+` FROM objection_cases WHERE id = ?`, id)
}

// CaseByRef returns the case with the reference (as NormaliseRef accepts
// it) with its steps, or ErrNotFound.
func (db *DB) CaseByRef(ctx context.Context, ref string) (ObjectionCase, error) {
	r, ok := NormaliseRef(ref)
	if !ok {
		return ObjectionCase{}, ErrNotFound
	}
	return db.oneCase(ctx, `SELECT `+caseColumns+` FROM objection_cases WHERE ref = ?`, r)
}

func (db *DB) oneCase(ctx context.Context, query string, arg any) (ObjectionCase, error) {
	cs, err := db.queryCases(ctx, query, arg)
	if err != nil {
		return ObjectionCase{}, err
	}
	if len(cs) == 0 {
		return ObjectionCase{}, ErrNotFound
	}
	oc := cs[0]
	oc.Steps, err = db.caseSteps(ctx, oc.ID, oc.Ref)
	return oc, err
}

func (db *DB) caseSteps(ctx context.Context, id int64, ref string) ([]CaseStep, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return nil, err
	}
	rows, err := db.read.QueryContext(ctx, `SELECT at, by_id, by_name, from_status, to_status, note FROM objection_steps
		WHERE case_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: objection steps: %w", err)
	}
	defer rows.Close()
	var out []CaseStep
	for rows.Next() {
		var s CaseStep
		var at int64
		var from, to string
		var note []byte
		if err := rows.Scan(&at, &s.By, &s.ByName, &from, &to, &note); err != nil {
			return nil, fmt.Errorf("store: objection steps: %w", err)
		}
		s.At, s.From, s.To = fromMS(at), CaseStatus(from), CaseStatus(to)
		if s.Note, err = c.openText(note, noteAD(ref, at, s.To)); err != nil {
			return nil, fmt.Errorf("store: objection case %s: step note: %w", ref, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// OpenCases returns the cases still to be decided (received or identity
// checked), oldest first, without their steps.
func (db *DB) OpenCases(ctx context.Context) ([]ObjectionCase, error) {
	return db.queryCases(ctx, `SELECT `+caseColumns+` FROM objection_cases
		WHERE status IN ('received', 'identity-checked') ORDER BY submitted, id`)
}

// UpheldCases returns the objections in force, oldest first, without
// their steps. (An upheld request to withdraw is not an objection.)
func (db *DB) UpheldCases(ctx context.Context) ([]ObjectionCase, error) {
	return db.queryCases(ctx, `SELECT `+caseColumns+` FROM objection_cases
		WHERE kind = 'object' AND status = 'upheld' ORDER BY submitted, id`)
}

// maxSearchCases bounds a search's answer.
const maxSearchCases = 100

// SearchCases finds cases, newest first and at most 100, by reference (as
// NormaliseRef accepts it), by NHS number (given on the form or matched),
// or by part of the patient's or the submitter's name, ignoring case.
//
// Names are sealed, so a name search opens every case and matches in
// memory: at the scale of an objection queue (hundreds to a few thousand
// cases) that is milliseconds, and it keeps names out of any index.
func (db *DB) SearchCases(ctx context.Context, q string) ([]ObjectionCase, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	if ref, ok := NormaliseRef(q); ok {
		// Some names are also well-formed references ("Hartnett"): a
		// reference that finds no case is searched for as a name.
		cs, err := db.queryCases(ctx, `SELECT `+caseColumns+` FROM objection_cases WHERE ref = ?`, ref)
		if err != nil || len(cs) > 0 {
			return cs, err
		}
	}
	if nhs, err := connectors.ParseNHSNumber(q); err == nil {
		c, err := db.cacheKeys()
		if err != nil {
			return nil, err
		}
		k := c.objectionKey(nhs)
		return db.queryCases(ctx, `SELECT `+caseColumns+` FROM objection_cases
			WHERE nhs_key = ? OR matched_key = ? ORDER BY submitted DESC, id DESC LIMIT ?`, k, k, maxSearchCases)
	}
	all, err := db.queryCases(ctx, `SELECT `+caseColumns+` FROM objection_cases ORDER BY submitted DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	needle := strings.ToLower(strings.Join(strings.Fields(q), " "))
	var out []ObjectionCase
	for _, oc := range all {
		for _, name := range []string{oc.Form.FullName, oc.Form.SubmitterName} {
			if name != "" && strings.Contains(strings.ToLower(strings.Join(strings.Fields(name), " ")), needle) {
				out = append(out, oc)
				break
			}
		}
		if len(out) == maxSearchCases {
			break
		}
	}
	return out, nil
}

// stepArgs are a step's who and note, checked.
func stepArgs(by, byName, note string, noteRequired bool) error {
	if strings.TrimSpace(by) == "" || strings.TrimSpace(byName) == "" {
		return fmt.Errorf("%w: a step needs the officer's id and name", ErrInvalidObjection)
	}
	if noteRequired && strings.TrimSpace(note) == "" {
		return fmt.Errorf("%w: this step needs a note saying why", ErrInvalidObjection)
	}
	if utf8.RuneCountInString(note) > MaxObjectionNote {
		return fmt.Errorf("%w: the note is longer than %d characters", ErrInvalidObjection, MaxObjectionNote)
	}
	return nil
}

// move changes a case's status in tx, guarded in SQL on the expected
// status (and kind, if given) so that of two officers acting at once one
// wins and the other gets ErrCaseState. It returns the case's reference.
func (db *DB) move(ctx context.Context, tx *sqlTx, c *cacheCipher, id int64, kinds []CaseKind, from, to CaseStatus,
	by, byName, note string, now int64, set string, setArgs ...any) (string, CaseKind, error) {
	var ref, kind, status string
	err := tx.QueryRowContext(ctx, `SELECT ref, kind, status FROM objection_cases WHERE id = ?`, id).Scan(&ref, &kind, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("store: objection case: %w", err)
	}
	if len(kinds) > 0 && !slices.Contains(kinds, CaseKind(kind)) {
		return ref, CaseKind(kind), fmt.Errorf("%w: case %s is a request to %s, which cannot move to %s", ErrCaseState, ref, kind, to)
	}
	q := `UPDATE objection_cases SET status = ?, updated = ?` + set + ` WHERE id = ? AND status = ?`
	args := append(append([]any{string(to), now}, setArgs...), id, string(from))
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return ref, CaseKind(kind), fmt.Errorf("store: objection case %s: %w", ref, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ref, CaseKind(kind), fmt.Errorf("%w: case %s is %s, not %s", ErrCaseState, ref, status, from)
	}
	if err := addStep(ctx, tx, c, id, ref, now, by, byName, from, to, note); err != nil {
		return ref, CaseKind(kind), err
	}
	return ref, CaseKind(kind), nil
}

// CheckIdentity records that the officer has matched the submitter to a
// patient (matchedNHS, a valid NHS number): received -> identity-checked.
// It returns ErrNotFound, ErrCaseState or ErrInvalidObjection (wrapped).
func (db *DB) CheckIdentity(ctx context.Context, id int64, matchedNHS, by, byName, note string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	if n, err := connectors.ParseNHSNumber(matchedNHS); err != nil || n != matchedNHS {
		return fmt.Errorf("store: check identity: %w: the matched NHS number is not valid", ErrInvalidObjection)
	}
	if err := stepArgs(by, byName, note, false); err != nil {
		return fmt.Errorf("store: check identity: %w", err)
	}
	return db.inTx(ctx, "check identity", func(tx *sqlTx, now int64) error {
		var ref string
		if err := tx.QueryRowContext(ctx, `SELECT ref FROM objection_cases WHERE id = ?`, id).Scan(&ref); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		sealed, err := c.sealText(matchedNHS, matchedAD(ref))
		if err != nil {
			return err
		}
		_, _, err = db.move(ctx, tx, c, id, nil, StatusReceived, StatusIdentityChecked, by, byName, note, now,
			`, matched_key = ?, matched_sealed = ?`, c.objectionKey(matchedNHS), sealed)
		return err
	})
}

// DecideCase upholds or does not uphold a case whose identity has been
// checked: identity-checked -> upheld / not-upheld. The note (the reason
// for the decision) is required. Upholding a request to withdraw also
// withdraws every upheld objection of the matched patient, in the same
// transaction, each with its own step.
func (db *DB) DecideCase(ctx context.Context, id int64, upheld bool, by, byName, note string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	if err := stepArgs(by, byName, note, true); err != nil {
		return fmt.Errorf("store: decide case: %w", err)
	}
	to := StatusNotUpheld
	if upheld {
		to = StatusUpheld
	}
	return db.inTx(ctx, "decide case", func(tx *sqlTx, now int64) error {
		ref, kind, err := db.move(ctx, tx, c, id, nil, StatusIdentityChecked, to, by, byName, note, now, "")
		if err != nil || !upheld || kind != KindWithdraw {
			return err
		}
		var matched []byte
		if err := tx.QueryRowContext(ctx, `SELECT matched_key FROM objection_cases WHERE id = ?`, id).Scan(&matched); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM objection_cases WHERE matched_key = ? AND kind = 'object' AND status = 'upheld'`, matched)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var oid int64
			if err := rows.Scan(&oid); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, oid)
		}
		rows.Close()
		for _, oid := range ids {
			if _, _, err := db.move(ctx, tx, c, oid, nil, StatusUpheld, StatusWithdrawn, by, byName,
				"Withdrawn at the patient's request: case "+ref, now, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

// CloseUnconfirmed closes a case whose sender could not be matched to a
// patient: received -> not-upheld. The note (what the officer tried) is
// required. No patient was matched, so no record changes; the person can
// send a new form.
func (db *DB) CloseUnconfirmed(ctx context.Context, id int64, by, byName, note string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	if err := stepArgs(by, byName, note, true); err != nil {
		return fmt.Errorf("store: close case: %w", err)
	}
	return db.inTx(ctx, "close case", func(tx *sqlTx, now int64) error {
		_, _, err := db.move(ctx, tx, c, id, nil, StatusReceived, StatusNotUpheld, by, byName, note, now, "")
		return err
	})
}

// WithdrawObjection withdraws an upheld objection at the patient's
// request: upheld -> withdrawn. The note (how the patient asked) is
// required. Only an objection can be withdrawn.
func (db *DB) WithdrawObjection(ctx context.Context, id int64, by, byName, note string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	if err := stepArgs(by, byName, note, true); err != nil {
		return fmt.Errorf("store: withdraw objection: %w", err)
	}
	return db.inTx(ctx, "withdraw objection", func(tx *sqlTx, now int64) error {
		_, _, err := db.move(ctx, tx, c, id, []CaseKind{KindObject}, StatusUpheld, StatusWithdrawn, by, byName, note, now, "")
		return err
	})
}

// inTx runs fn in one serialised write transaction, committing if it
// returns nil. Its callers read and then write what they read: a case's
// status before a step moves it, an alert's status before its review, a
// hidden access before it is unhidden; the write lock keeps two nodes
// from both acting on the same status.
func (db *DB) inTx(ctx context.Context, what string, fn func(tx *sqlTx, now int64) error) error {
	tx, err := db.write.BeginSerialised(ctx)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx, ms(db.now())); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// HasUpheldObjection reports whether the patient has an objection in
// force. It is on the path of every record page and search hit, so it is
// one probe of a partial index on the keyed hash (tens of microseconds;
// see BenchmarkHasUpheldObjection). It reads the database rather than a
// copy in memory so that a decision made by another process (a command
// run beside the server) takes effect at once.
func (db *DB) HasUpheldObjection(ctx context.Context, nhs string) (bool, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return false, err
	}
	var one int
	q := `SELECT 1 FROM objection_cases` + db.be.indexHint("objection_cases_upheld") + `
		WHERE matched_key = ? AND kind = 'object' AND status = 'upheld' LIMIT 1`
	err = db.read.QueryRowContext(ctx, q, c.objectionKey(nhs)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: upheld objection: %w", err)
	}
	return true, nil
}

// Who the demo's seeded case is recorded as decided by.
const (
	seedBy     = "carerecord-demo"
	seedByName = "Demo data"
)

// SeedUpheldObjection gives the patient an upheld objection for the demo,
// with the full history of steps, unless they already have one. The case
// holds the NHS number only: no name, address or contact.
func (db *DB) SeedUpheldObjection(ctx context.Context, nhs, note string) error {
	return db.SeedUpheldObjectionNamed(ctx, nhs, "", note)
}

// SeedUpheldObjectionNamed is SeedUpheldObjection with the name the
// patient gave, as their form would hold it, so that the case queue names
// the case rather than saying Not Known.
func (db *DB) SeedUpheldObjectionNamed(ctx context.Context, nhs, name, note string) error {
	c, err := db.cacheKeys()
	if err != nil {
		return err
	}
	if n, err := connectors.ParseNHSNumber(nhs); err != nil || n != nhs {
		return fmt.Errorf("store: seed objection: %w: %q is not a valid NHS number", ErrInvalidObjection, nhs)
	}
	if strings.TrimSpace(note) == "" {
		note = "Demo data: an upheld objection."
	}
	key := c.objectionKey(nhs)
	plain, err := json.Marshal(ObjectionForm{Kind: KindObject, NHSNumber: nhs, FullName: strings.TrimSpace(name)})
	if err != nil {
		return err
	}
	return db.inTx(ctx, "seed objection", func(tx *sqlTx, now int64) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM objection_cases WHERE matched_key = ? AND kind = 'object' AND status = 'upheld'`, key).Scan(&one)
		if err == nil {
			return nil // already seeded: idempotent
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ref, id, err := db.insertCase(ctx, tx, c, KindObject, StatusReceived, now, key, plain)
		if err != nil {
			return err
		}
		if err := addStep(ctx, tx, c, id, ref, now, "", seedByName, "", StatusReceived, ""); err != nil {
			return err
		}
		sealed, err := c.sealText(nhs, matchedAD(ref))
		if err != nil {
			return err
		}
		if _, _, err := db.move(ctx, tx, c, id, nil, StatusReceived, StatusIdentityChecked, seedBy, seedByName, "", now,
			`, matched_key = ?, matched_sealed = ?`, key, sealed); err != nil {
			return err
		}
		_, _, err = db.move(ctx, tx, c, id, nil, StatusIdentityChecked, StatusUpheld, seedBy, seedByName, note, now, "")
		return err
	})
}
