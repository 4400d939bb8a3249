package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/views"
)

// The public objection form's defences. No sign-in stands in front of it,
// so it is kept small: a request-size cap, a per-address limit on stored
// submissions, a honeypot field, and a length limit on every field.
const (
	objectionBodyLimit = 16 << 10 // bytes; the longest honest form is under 5 KiB
	objectionHoneypot  = "website"
	objectionTitle     = "Object to sharing your care record"
)

// showObjectionStart is the start page at /objection.
func (s *Server) showObjectionStart(c echo.Context) error {
	return render(c, http.StatusOK, views.ObjectionStart(s.page(c, objectionTitle), s.cfg.AllowObjectionOverride))
}

// showObjectionForm is the empty form.
func (s *Server) showObjectionForm(c echo.Context) error {
	return render(c, http.StatusOK, views.ObjectionFormPage(s.page(c, objectionTitle), views.ObjectionForm{}))
}

// submitObjection checks and stores a submitted form. The limiter is made
// once, with the route table, and holds the per-address counts.
func (s *Server) submitObjection(lim *objectionLimiter) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		// The CSRF check before this handler has usually parsed the body
		// already (under the server-wide 1 MiB cap), so the size is
		// checked three ways: the declared length, a MaxBytesReader if
		// the body is still unread, and the size of what was parsed.
		if r.ContentLength > objectionBodyLimit {
			return s.refuseObjection(c, http.StatusRequestEntityTooLarge, "too large")
		}
		if r.PostForm == nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, objectionBodyLimit)
		}
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return s.refuseObjection(c, http.StatusRequestEntityTooLarge, "too large")
			}
			return s.refuseObjection(c, http.StatusBadRequest, "unreadable")
		}
		if len(r.PostForm.Encode()) > objectionBodyLimit {
			return s.refuseObjection(c, http.StatusRequestEntityTooLarge, "too large")
		}
		if strings.TrimSpace(r.PostForm.Get(objectionHoneypot)) != "" {
			return s.refuseObjection(c, http.StatusBadRequest, "honeypot")
		}
		now := s.now()
		vf, form, errs := parseObjection(r.PostForm, now)
		if len(errs) > 0 {
			vf.Errors = errs
			return render(c, http.StatusBadRequest, views.ObjectionFormPage(s.page(c, "Error: "+objectionTitle), vf))
		}
		// Only forms that would be stored count towards the limit: a
		// person correcting mistakes is never locked out by them.
		switch lim.take(c.RealIP(), now) {
		case limitAddress:
			return s.refuseObjection(c, http.StatusTooManyRequests, "rate limit")
		case limitGlobal:
			return s.refuseObjection(c, http.StatusTooManyRequests, "global rate limit")
		}
		ref, err := s.db.SubmitObjection(r.Context(), form)
		if err != nil {
			return err
		}
		// The case and its first step are stored whatever happens here;
		// a person who has sent the form must not be told it failed.
		if err := s.audit(c, store.AuditEvent{Action: store.ActObjectionStep, Detail: "case " + ref + ": -> received (online form)"}); err != nil {
			s.log.Error("objection received but not audited", "ref", ref, "error", err.Error())
		}
		s.log.Info("objection received", "ref", ref)
		return c.Redirect(http.StatusSeeOther, "/objection/done?"+url.Values{"ref": {ref}}.Encode())
	}
}

// refuseObjection answers a form refused for a reason other than a field,
// and logs the reason only: no field value and no address.
func (s *Server) refuseObjection(c echo.Context, status int, why string) error {
	s.log.Warn("objection form refused", "why", why, "status", status)
	ref := views.ObjectionRefusal{Title: "Sorry, we could not accept your form", Retry: true,
		Message: "Something went wrong with the form. Go back to the form, check your answers and send it again."}
	switch status {
	case http.StatusTooManyRequests:
		l := s.cfg.ObjectionLimits
		ref.Title = "You have sent too many forms"
		ref.Message = "To protect this service, we only accept " + strconv.Itoa(l.PerAddress) +
			" forms " + per(l.Window) + " from one place. Wait " + span(l.Window) + ", then try again."
		if why == "global rate limit" {
			ref.Title = "We cannot accept more forms just now"
			ref.Message = "This service is receiving an unusually large number of forms, so it is not accepting more for now. Wait " +
				span(l.Window) + ", then try again. Your form has not been stored."
		}
		ref.Retry = false
	case http.StatusRequestEntityTooLarge:
		ref.Message = "The form you sent was too long. Go back to the form, shorten your answers and send it again."
	}
	if why == "honeypot" {
		ref.Message = "The form could not be checked. This can happen if a browser extension or password manager fills in a hidden field. Go back to the form and send it again. If it keeps happening, try another browser."
	}
	return render(c, status, views.ObjectionRefused(s.page(c, ref.Title), ref))
}

// showObjectionDone confirms a submission. The reference comes from the
// address and is checked for its format only: nothing is looked up, and
// the page says the same thing whatever was submitted, so it cannot be
// used to find out whether a patient or an objection exists.
func (s *Server) showObjectionDone(c echo.Context) error {
	ref, ok := store.NormaliseRef(c.QueryParam("ref"))
	if !ok {
		return Errorf(ENOTFOUND, "Page not found", "If you typed the web address, check it is correct.")
	}
	return render(c, http.StatusOK, views.ObjectionDone(s.page(c, "Request sent"), ref))
}

var (
	postcodeRE = regexp.MustCompile(`^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$`)
	emailRE    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	phoneRE    = regexp.MustCompile(`^\+?[0-9]{10,15}$`)
)

// parseObjection checks the form the NHS.UK way: a message for each field
// that is wrong, in the order the fields appear on the page.
func parseObjection(v url.Values, now time.Time) (views.ObjectionForm, store.ObjectionForm, []views.FieldError) {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	vf := views.ObjectionForm{
		Kind: get("kind"), OnBehalf: get("on-behalf"), SubmitterName: get("submitter-name"), Relationship: get("relationship"),
		Authority: get("authority"), FullName: get("full-name"), Day: get("dob-day"), Month: get("dob-month"), Year: get("dob-year"),
		NHS: get("nhs"), Address: strings.ReplaceAll(get("address"), "\r\n", "\n"), Postcode: get("postcode"), Contact: get("contact"),
		Reason: strings.ReplaceAll(get("reason"), "\r\n", "\n"), Declared: v.Get("declaration") == "yes",
	}
	var f store.ObjectionForm
	var errs []views.FieldError
	add := func(field, msg string) { errs = append(errs, views.FieldError{Field: field, Message: msg}) }
	text := func(field, val, empty, name string, max int, required bool) string {
		switch n := utf8.RuneCountInString(val); {
		case n == 0 && required:
			add(field, empty)
		case n > max:
			add(field, name+" must be "+views.Count(max)+" characters or fewer")
		}
		return val
	}

	switch vf.Kind {
	case string(store.KindObject), string(store.KindWithdraw):
		f.Kind = store.CaseKind(vf.Kind)
	default:
		add("kind-object", "Select whether you want to stop sharing your record or start sharing it again")
	}
	switch vf.OnBehalf {
	case "yes":
		f.OnBehalf = true
		f.SubmitterName = text("submitter-name", vf.SubmitterName, "Enter your full name", "Your full name", store.MaxObjectionName, true)
		f.Relationship = text("relationship", vf.Relationship, "Enter your relationship to the person", "Your relationship", store.MaxObjectionRelationship, true)
		f.Authority = text("authority", vf.Authority, "Tell us what gives you the right to act for them", "What gives you the right to act", store.MaxObjectionAuthority, true)
	case "no":
		vf.SubmitterName, vf.Relationship, vf.Authority = "", "", ""
	default:
		add("on-behalf-yes", "Select yes if you are filling in this form for someone else")
	}
	f.FullName = text("full-name", vf.FullName, "Enter the full name of the person whose record it is", "Full name", store.MaxObjectionName, true)
	f.BirthDate = parseBirthDate(vf.Day, vf.Month, vf.Year, now, add)
	if vf.NHS != "" {
		n, err := connectors.ParseNHSNumber(vf.NHS)
		switch {
		case errors.Is(err, connectors.ErrNHSNumberCheckDigit):
			add("nhs", "This is not a valid NHS number. Check it and try again, or leave it blank")
		case err != nil:
			add("nhs", "NHS number must be 10 digits, like 999 000 0018, or leave it blank")
		default:
			f.NHSNumber = n
		}
	}
	f.Address = text("address", vf.Address, "Enter the address", "Address", store.MaxObjectionAddress, true)
	switch pc := strings.ToUpper(strings.Join(strings.Fields(vf.Postcode), "")); {
	case pc == "":
		add("postcode", "Enter the postcode")
	case len(pc) > store.MaxObjectionPostcode || !postcodeRE.MatchString(pc):
		add("postcode", "Enter a real postcode, like SW1A 2AA")
	default:
		f.Postcode = pc[:len(pc)-3] + " " + pc[len(pc)-3:]
	}
	switch ct := vf.Contact; {
	case ct == "":
		add("contact", "Enter an email address or phone number")
	case utf8.RuneCountInString(ct) > store.MaxObjectionContact:
		add("contact", "Email address or phone number must be "+views.Count(store.MaxObjectionContact)+" characters or fewer")
	case strings.Contains(ct, "@"):
		if !emailRE.MatchString(ct) {
			add("contact", "Enter an email address in the correct format, like name@example.com")
		}
		f.Contact = ct
	default:
		if !phoneRE.MatchString(strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(ct)) {
			add("contact", "Enter an email address, like name@example.com, or a phone number, like 01632 960 001")
		}
		f.Contact = ct
	}
	f.Reason = text("reason", vf.Reason, "", "Your reason", store.MaxObjectionReason, false)
	if !vf.Declared {
		add("declaration", "Confirm that the information you have given is true")
	}
	return vf, f, errs
}

// parseBirthDate checks a date of birth given as day, month and year.
func parseBirthDate(d, m, y string, now time.Time, add func(field, msg string)) connectors.Date {
	if d == "" && m == "" && y == "" {
		add("dob-day", "Enter the date of birth")
		return connectors.Date{}
	}
	date, ok := calendarDate(d, m, y)
	if !ok || len(y) != 4 {
		add("dob-day", "Date of birth must be a real date, like 15 3 1984")
		return connectors.Date{}
	}
	if date.Time().After(now) {
		add("dob-day", "Date of birth must be in the past")
		return connectors.Date{}
	}
	return date
}

// calendarDate reads a date typed as day, month and year, reporting false
// unless it is a real calendar date from 1880 on.
func calendarDate(d, m, y string) (connectors.Date, bool) {
	day, derr := strconv.Atoi(d)
	month, merr := strconv.Atoi(m)
	year, yerr := strconv.Atoi(y)
	if derr != nil || merr != nil || yerr != nil || year < 1880 || month < 1 || month > 12 || day < 1 ||
		day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return connectors.Date{}, false
	}
	return connectors.NewDate(year, time.Month(month), day), true
}

// rateLimiter counts events per key in a sliding window, in memory. It
// bounds its own size: old entries are swept as the map grows.
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	seen   map[string][]time.Time
}

// maxLimiterKeys bounds the limiter's memory under a flood of addresses.
const maxLimiterKeys = 100_000

func newRateLimiter(limit int, window time.Duration) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, seen: map[string][]time.Time{}}
}

// take records an event for key at now and reports true, or reports false
// (recording nothing) if key has used its limit within the window.
func (l *rateLimiter) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := now.Add(-l.window)
	recent := l.seen[key][:0:0]
	for _, t := range l.seen[key] {
		if t.After(cut) {
			recent = append(recent, t)
		}
	}
	if len(recent) >= l.limit {
		l.seen[key] = recent
		return false
	}
	if _, known := l.seen[key]; !known && len(l.seen) >= maxLimiterKeys {
		l.sweep(cut)
		if len(l.seen) >= maxLimiterKeys {
			// Still full of live entries: refuse rather than grow.
			return false
		}
	}
	l.seen[key] = append(recent, now)
	return true
}

func (l *rateLimiter) sweep(cut time.Time) {
	for k, ts := range l.seen {
		if len(ts) == 0 || !ts[len(ts)-1].After(cut) {
			delete(l.seen, k)
		}
	}
}

// per says a window as "an hour", "a day" or "every 30 minutes".
func per(d time.Duration) string {
	switch d {
	case time.Hour:
		return "an hour"
	case 24 * time.Hour:
		return "a day"
	}
	return "every " + span(d)
}

// span says a window as "an hour", "30 minutes", "2 hours".
func span(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "an hour"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return d.String()
}
