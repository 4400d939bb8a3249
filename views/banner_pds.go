package views

import (
	"strings"

	"github.com/carerecord/carerecord/connectors"
)

// National is what the national demographics service (PDS) said, for the
// banner.
type National struct {
	// Checked: PDS answered with the patient (Patient set).
	Checked bool
	Patient connectors.Patient
	// NoRecord: PDS holds no patient with this NHS number; Invalidated: it
	// says the number was invalidated.
	NoRecord, Invalidated bool
	// Failed says why PDS could not be checked ("PDS: did not answer in
	// time"); empty when it answered.
	Failed string
}

// NewBannerFromPDS builds the banner when PDS is configured. With PDS's
// answer, the name, birth date, gender, address, GP and death are PDS's,
// and every source that holds a different name, birth date, gender or
// death is listed against PDS by name; a record PDS restricts is restricted
// whatever the sources say. Without it, the banner is the sources' (as
// NewBanner) and says PDS could not be checked.
func NewBannerFromPDS(nhs string, n National, patients []connectors.Patient, today connectors.Date) Banner {
	if !n.Checked {
		b := NewBanner(nhs, patients, today)
		switch {
		case n.Invalidated:
			b.PDSNote = "PDS says this NHS number has been invalidated: check the patient's NHS number."
		case n.NoRecord:
			b.PDSNote = "PDS holds no patient with this NHS number: check the patient's NHS number."
		default:
			b.PDSNote = "Could not check PDS (" + strings.TrimPrefix(n.Failed, "PDS: ") + "): these details are from the sources."
		}
		return b
	}
	p := n.Patient
	// The sources' banner with PDS first: name, birth date and gender are
	// PDS's, and the record is restricted if PDS or any source says so.
	b := NewBanner(nhs, append([]connectors.Patient{p}, patients...), today)
	b.FromPDS = true
	b.Found = len(patients) > 0
	// Death is PDS's: a source that says otherwise is listed below.
	b.setLife(p.BirthDate, p.Deceased, p.DeathDate, today)
	// Address and GP are PDS's alone: a source's older address is not
	// shown in its place. (On a restricted record NewBanner shows none.)
	if !b.Restricted {
		b.Address, b.GP = addressOf(p), gpName(p.RegisteredGP, patients)
	}
	b.Disagreements = againstPDS(p, patients)
	return b
}

// gpName is the registered practice as "Name (ODS)": PDS gives the ODS code
// only, so the name is taken from a source that names the same practice.
func gpName(gp connectors.Organisation, patients []connectors.Patient) string {
	if gp.ODS == "" {
		return ""
	}
	name := gp.Name
	for _, q := range patients {
		if name == "" && q.RegisteredGP.ODS == gp.ODS {
			name = q.RegisteredGP.Name
		}
	}
	return joinNonEmpty(" ", name, paren(gp.ODS))
}

// againstPDS lists, for each source whose demographics differ from PDS's,
// what it holds beside what PDS holds: "Name at King's College Hospital:
// SMITH, Janet (PDS: SMITH, Jane)".
func againstPDS(p connectors.Patient, patients []connectors.Patient) []string {
	type field struct {
		label string
		value func(connectors.Patient) string
	}
	fields := []field{
		{"Name", func(p connectors.Patient) string { return PatientName(&p) }},
		{"Date of birth", func(p connectors.Patient) string { return Date(p.BirthDate) }},
		{"Gender", func(p connectors.Patient) string { return Gender(p.Gender) }},
		{"Died", died},
	}
	var out []string
	for _, f := range fields {
		want := f.value(p)
		for _, q := range patients {
			got := f.value(q)
			// A source that knows of the death without its date agrees
			// with a PDS that gives the date.
			if got == NotKnown || want == NotKnown || strings.EqualFold(got, want) || (f.label == "Died" && (got == deceasedUndated) != (want == deceasedUndated) && got != aliveText && want != aliveText) {
				continue
			}
			out = append(out, f.label+" at "+q.Source.Name+": "+got+" (PDS: "+want+")")
		}
	}
	return out
}

const (
	deceasedUndated = "deceased (date " + NotKnown + ")"
	aliveText       = "not recorded as deceased"
)

func died(p connectors.Patient) string {
	switch {
	case p.DeathDate != nil:
		return Date(*p.DeathDate)
	case p.Deceased:
		return deceasedUndated
	}
	return aliveText
}
