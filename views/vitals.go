package views

import (
	"github.com/carerecord/carerecord/connectors"
)

// Vital signs, by the codes of FHIR's vital signs profile (LOINC) and, for
// NEWS2, SNOMED CT's concept for the Royal College of Physicians' total
// score.

const snomedSystem = "http://snomed.info/sct"

// vitalDef is one vital sign: its name and the codes that are it.
type vitalDef struct {
	name  string
	codes []connectors.Code
}

var vitalDefs = []vitalDef{
	{"Blood pressure", []connectors.Code{{System: loincSystem, Code: "85354-9"}, {System: loincSystem, Code: "55284-4"}}},
	{"Pulse", []connectors.Code{{System: loincSystem, Code: "8867-4"}}},
	{"Respiratory rate", []connectors.Code{{System: loincSystem, Code: "9279-1"}}},
	{"Oxygen saturation", []connectors.Code{{System: loincSystem, Code: "59408-5"}, {System: loincSystem, Code: "2708-6"}}},
	{"Temperature", []connectors.Code{{System: loincSystem, Code: "8310-5"}}},
	{"Weight", []connectors.Code{{System: loincSystem, Code: "29463-7"}}},
	{"Height", []connectors.Code{{System: loincSystem, Code: "8302-2"}}},
	{"BMI", []connectors.Code{{System: loincSystem, Code: "39156-5"}}},
	{"NEWS2 score", []connectors.Code{{System: snomedSystem, Code: "1104051000000101"}}},
}

// Vital is the latest value of one vital sign.
type Vital struct {
	Name     string
	Entry    connectors.Entry
	Value    string
	Flag     string
	Critical bool
	When     string
	TrendURL string
	// Count is how many values the record holds.
	Count int
}

// VitalCode returns the code that makes e a vital sign, and its name.
func VitalCode(e *connectors.Entry) (connectors.Code, string, bool) {
	if e.Result == nil {
		return connectors.Code{}, "", false
	}
	for _, d := range vitalDefs {
		for _, want := range d.codes {
			for _, c := range e.Codes {
				if c.System == want.System && c.Code == want.Code {
					return c, d.name, true
				}
			}
		}
	}
	return connectors.Code{}, "", false
}

// NewVitals picks the latest of each vital sign among items (newest
// first), in the order a nurse's chart lists them; trend gives each its
// trend page.
func NewVitals(items []Item, trend func(connectors.Code) string) []Vital {
	latest := map[string]*Vital{}
	for i := range items {
		e := &items[i].Entry
		code, name, ok := VitalCode(e)
		if !ok {
			continue
		}
		if v := latest[name]; v != nil {
			v.Count++
			continue
		}
		v := &Vital{Name: name, Entry: *e, Value: ResultValue(e.Result), When: When(e.When()), Count: 1}
		v.Flag, v.Critical = ResultFlag(e.Result)
		if trend != nil {
			v.TrendURL = trend(code)
		}
		latest[name] = v
	}
	var out []Vital
	for _, d := range vitalDefs {
		if v := latest[d.name]; v != nil {
			out = append(out, *v)
		}
	}
	return out
}
