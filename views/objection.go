package views

import "github.com/carerecord/carerecord/store"

// ObjectionForm is the public objection form as the person typed it, with
// a message per field that is wrong, in the order the fields appear.
type ObjectionForm struct {
	Kind          string // "object" or "withdraw"
	OnBehalf      string // "yes" or "no"
	SubmitterName string
	Relationship  string
	Authority     string
	FullName      string
	Day           string
	Month         string
	Year          string
	NHS           string
	Address       string
	Postcode      string
	Contact       string
	Reason        string
	Declared      bool
	Errors        []FieldError
}

// ErrorFor returns the message for a field, or "".
func (f ObjectionForm) ErrorFor(field string) string {
	return fieldError(f.Errors, field)
}

// The form's field limits, in characters: the store's, which refuses
// longer.
const (
	ObjectionMaxName         = store.MaxObjectionName
	ObjectionMaxAddress      = store.MaxObjectionAddress
	ObjectionMaxPostcode     = store.MaxObjectionPostcode
	ObjectionMaxContact      = store.MaxObjectionContact
	ObjectionMaxRelationship = store.MaxObjectionRelationship
	ObjectionMaxAuthority    = store.MaxObjectionAuthority
	ObjectionMaxReason       = store.MaxObjectionReason
	ObjectionMaxNHS          = 20 // ten digits and the spaces people type
)

// ObjectionRefusal is the page for a form that was not accepted for a
// reason other than a field: too many forms, a hidden field filled, too
// much sent.
type ObjectionRefusal struct {
	Title   string
	Message string
	Retry   bool // offer a link back to the form
}

// describedBy lists the ids of a field's hint and error message, for
// aria-describedby.
func describedBy(id string, hint, err bool) string {
	s := ""
	if hint {
		s = id + "-hint"
	}
	if err {
		if s != "" {
			s += " "
		}
		s += id + "-error"
	}
	return s
}
