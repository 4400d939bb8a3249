package fhir

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// mapPatient reads a Patient resource; it returns the patient's logical id
// too, for searching their record.
func mapPatient(raw json.RawMessage, src connectors.Source) (connectors.Patient, string, error) {
	raw, err := unescape(raw)
	if err != nil {
		return connectors.Patient{}, "", err
	}
	fp, err := fhir.UnmarshalPatient(raw)
	if err != nil {
		return connectors.Patient{}, "", err
	}
	if fp.Id == nil {
		return connectors.Patient{}, "", errNoID
	}
	p := connectors.Patient{SourceID: *fp.Id, Source: src, Gender: connectors.GenderUnknown}
	for _, id := range fp.Identifier {
		if str(id.System) == SystemNHSNumber {
			p.NHSNumber = strings.ReplaceAll(str(id.Value), " ", "")
			break
		}
	}
	if n := pickName(fp.Name); n != nil {
		p.Family = str(n.Family)
		p.Given = n.Given
		if len(n.Prefix) > 0 {
			p.Title = n.Prefix[0]
		}
	}
	if fp.Gender != nil {
		p.Gender = fp.Gender.Code()
	}
	if fp.BirthDate != nil {
		if p.BirthDate, err = connectors.ParseDate(*fp.BirthDate); err != nil {
			return connectors.Patient{}, "", err
		}
	}
	if fp.DeceasedBoolean != nil {
		p.Deceased = *fp.DeceasedBoolean
	}
	if fp.DeceasedDateTime != nil {
		w, err := connectors.ParseWhen(*fp.DeceasedDateTime)
		if err != nil || w.IsZero() {
			return connectors.Patient{}, "", connectors.ErrBadDate
		}
		d := w.Date() // the date of death as the source recorded it, in UK time
		p.Deceased, p.DeathDate = true, &d
	}
	if a := pickAddress(fp.Address); a != nil {
		p.AddressLines = a.Line
		p.Postcode = str(a.PostalCode)
	}
	p.Phone = pickPhone(fp.Telecom)
	p.Contacts = contacts(fp.Contact, time.Now())
	if len(fp.GeneralPractitioner) > 0 {
		gp := fp.GeneralPractitioner[0]
		p.RegisteredGP.Name = str(gp.Display)
		if gp.Identifier != nil && str(gp.Identifier.System) == SystemODS {
			p.RegisteredGP.ODS = str(gp.Identifier.Value)
		}
	}
	if fp.Meta != nil {
		for _, s := range fp.Meta.Security {
			// v3 Confidentiality R (restricted) and V (very restricted):
			// what PDS uses for patients whose whereabouts must be hidden.
			if c := str(s.Code); c == "R" || c == "V" {
				p.Restricted = true
			}
		}
	}
	p.Redact()
	return p, *fp.Id, nil
}

func pickName(names []fhir.HumanName) *fhir.HumanName {
	for i, n := range names {
		if n.Use != nil && (n.Use.Code() == "official" || n.Use.Code() == "usual") && (n.Period == nil || n.Period.End == nil) {
			return &names[i]
		}
	}
	for i, n := range names {
		if n.Use == nil || n.Use.Code() != "old" {
			return &names[i]
		}
	}
	return nil
}

func pickAddress(addrs []fhir.Address) *fhir.Address {
	current := func(a fhir.Address) bool {
		return (a.Period == nil || a.Period.End == nil) && (a.Use == nil || a.Use.Code() != "old")
	}
	for i, a := range addrs {
		if current(a) && a.Use != nil && a.Use.Code() == "home" {
			return &addrs[i]
		}
	}
	for i, a := range addrs {
		if current(a) {
			return &addrs[i]
		}
	}
	return nil
}

func pickPhone(cps []fhir.ContactPoint) string {
	best, rank := "", 0
	for _, cp := range cps {
		if cp.System == nil || cp.System.Code() != "phone" || cp.Value == nil || (cp.Period != nil && cp.Period.End != nil) {
			continue
		}
		r := 1
		if cp.Use != nil && (cp.Use.Code() == "home" || cp.Use.Code() == "mobile") {
			r = 2
		}
		if r > rank {
			best, rank = *cp.Value, r
		}
	}
	return best
}

// contacts reads Patient.contact: "A contact party (e.g. guardian,
// partner, friend) for the patient." A contact whose period has ended is
// no longer one; a contact naming nobody and no phone says nothing.
func contacts(cs []fhir.PatientContact, now time.Time) []connectors.Contact {
	var out []connectors.Contact
	for _, c := range cs {
		if c.Period != nil && c.Period.End != nil {
			if end, err := connectors.ParseWhen(*c.Period.End); err == nil && !end.IsZero() && end.Time.Before(now) {
				continue
			}
		}
		var k connectors.Contact
		var rel []string
		for i := range c.Relationship {
			if t := conceptText(&c.Relationship[i]); t != "" {
				rel = append(rel, t)
			}
		}
		k.Relationship = strings.Join(rel, ", ")
		if c.Name != nil {
			k.Name = contactName(*c.Name)
		}
		k.Phone = pickPhone(c.Telecom)
		if k.Name == "" && k.Phone == "" {
			continue
		}
		out = append(out, k)
	}
	return out
}

// contactName writes a contact's name as it is said: "Mr John Smith".
func contactName(n fhir.HumanName) string {
	if t := strings.TrimSpace(str(n.Text)); t != "" {
		return t
	}
	parts := append(append([]string{}, n.Prefix...), n.Given...)
	if f := str(n.Family); f != "" {
		parts = append(parts, f)
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}
