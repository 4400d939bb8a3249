// Package synthetic runs the demo's synthetic NHS organisations: real FHIR
// R4 servers on loopback, one per organisation, serving deterministic,
// generated and obviously fictional patient records that the real FHIR
// connector reads. Faults (latency, errors, outages, slow bodies) can be
// injected per organisation so the demo and the tests exercise the same
// timeout and failure paths as production.
//
// Everything here is synthetic: names, addresses (fictional streets, phone
// numbers from Ofcom's drama ranges) and NHS numbers in the 999 test range.
// The package must never hold or load real patient data, and it never logs.
package synthetic

import "time"

// OrgType is the kind of organisation.
type OrgType string

const (
	Trust    OrgType = "trust"
	Practice OrgType = "gp"
)

// Org is one synthetic organisation.
type Org struct {
	Name string
	ODS  string
	Type OrgType
	// Sites are where encounters take place (hospital sites or the surgery).
	Sites []string
}

// The organisations' ODS codes. The Trusts are real NHS organisations; the
// data they serve here is not. The GP practices and their codes are
// invented.
const (
	KingsODS      = "RJZ"
	GSTTODS       = "RJ1"
	LewishamODS   = "RJ2"
	MaudsleyODS   = "RV5"
	MiltonKeynODS = "RD8"
	PeckhamGPODS  = "G85991"
	BrixtonGPODS  = "G85992"
	BromleyGPODS  = "G84991"
)

var orgs = []Org{
	{Name: "King's College Hospital NHS Foundation Trust", ODS: KingsODS, Type: Trust,
		Sites: []string{"King's College Hospital, Denmark Hill", "Princess Royal University Hospital"}},
	{Name: "Guy's and St Thomas' NHS Foundation Trust", ODS: GSTTODS, Type: Trust,
		Sites: []string{"St Thomas' Hospital", "Guy's Hospital", "Evelina London Children's Hospital"}},
	{Name: "Lewisham and Greenwich NHS Trust", ODS: LewishamODS, Type: Trust,
		Sites: []string{"University Hospital Lewisham", "Queen Elizabeth Hospital, Woolwich"}},
	{Name: "South London and Maudsley NHS Foundation Trust", ODS: MaudsleyODS, Type: Trust,
		Sites: []string{"Maudsley Hospital", "Bethlem Royal Hospital", "Lambeth Hospital"}},
	{Name: "Milton Keynes University Hospital NHS Foundation Trust", ODS: MiltonKeynODS, Type: Trust,
		Sites: []string{"Milton Keynes University Hospital"}},
	{Name: "Peckham Lantern Medical Practice", ODS: PeckhamGPODS, Type: Practice,
		Sites: []string{"Peckham Lantern Medical Practice"}},
	{Name: "Coldharbour Orchard Surgery", ODS: BrixtonGPODS, Type: Practice,
		Sites: []string{"Coldharbour Orchard Surgery"}},
	{Name: "Orpington Meadowbank Practice", ODS: BromleyGPODS, Type: Practice,
		Sites: []string{"Orpington Meadowbank Practice"}},
}

// Orgs returns the synthetic organisations, Trusts first.
func Orgs() []Org {
	out := make([]Org, len(orgs))
	copy(out, orgs)
	return out
}

// OrgByODS returns the organisation with the ODS code.
func OrgByODS(ods string) (Org, bool) {
	for _, o := range orgs {
		if o.ODS == ods {
			return o, true
		}
	}
	return Org{}, false
}

// The fixed demo patients' NHS numbers (valid under Modulus 11, in the 999
// test range).
const (
	// RichNHSNumber has entries of most kinds at four sources or more,
	// abnormal results, and HbA1c and creatinine repeated over years at
	// King's and Guy's and St Thomas', whose units and ranges differ
	// slightly; vaccinations, a safeguarding alert and a reasonable
	// adjustment; and the less common shapes of FHIR (extras.go).
	RichNHSNumber = "9990000018"
	// OrdinaryNHSNumber is an ordinary patient (used for an upheld
	// objection in the demo).
	OrdinaryNHSNumber = "9990000026"
	// RestrictedNHSNumber is a restricted (sensitive) record: FHIR
	// meta.security R, no address, phone or GP.
	RestrictedNHSNumber = "9990000034"
	// LongHistoryNHSNumber has about 3,000 resources (2,700 entries) at
	// Guy's and St Thomas' (ten years of haemodialysis).
	LongHistoryNHSNumber = "9990000042"
	// DeceasedNHSNumber has died (Patient.deceasedDateTime).
	DeceasedNHSNumber = "9990000050"
)

// DataDate is the date the synthetic records run up to. It is fixed, not
// today, so that every run serves the same data.
var DataDate = time.Date(2026, time.October, 30, 0, 0, 0, 0, time.UTC)
