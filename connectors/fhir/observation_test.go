package fhir

import (
	"reflect"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

func fp(f float64) *float64 { return &f }

// obs is an Observation with the given extra elements.
func obs(id, extra string) string {
	return `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"Test"},` +
		`"effectiveDateTime":"2024-07-01T09:30:00+01:00"` + extra + `}`
}

func TestObservationValues(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  connectors.Result
	}{
		{"Quantity", `"valueQuantity":{"value":4.20,"unit":"mmol/L"}`,
			connectors.Result{Value: "4.20", Numeric: fp(4.2), Units: "mmol/L"}},
		// The comparator is kept apart, so a page shows "<5", never "<<5".
		{"QuantityComparator", `"valueQuantity":{"value":5,"comparator":"<","unit":"ng/L"}`,
			connectors.Result{Value: "5", Numeric: fp(5), Comparator: "<", Units: "ng/L"}},
		{"QuantityCodedUnit", `"valueQuantity":{"value":37.5,"system":"http://unitsofmeasure.org","code":"Cel"}`,
			connectors.Result{Value: "37.5", Numeric: fp(37.5), Units: "Cel"}},
		{"CodeableConcept", `"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009","display":"Negative"}]}`,
			connectors.Result{Value: "Negative"}},
		{"String", `"valueString":"Cloudy"`, connectors.Result{Value: "Cloudy"}},
		{"BooleanTrue", `"valueBoolean":true`, connectors.Result{Value: "Yes"}},
		{"BooleanFalse", `"valueBoolean":false`, connectors.Result{Value: "No"}},
		{"Integer", `"valueInteger":7`, connectors.Result{Value: "7", Numeric: fp(7)}},
		{"Range", `"valueRange":{"low":{"value":5,"unit":"mg"},"high":{"value":10,"unit":"mg"}}`,
			connectors.Result{Value: "5–10 mg"}},
		{"RangeLowOnly", `"valueRange":{"low":{"value":5,"unit":"mg"}}`, connectors.Result{Value: "≥ 5 mg"}},
		{"RatioTitre", `"valueRatio":{"numerator":{"value":1},"denominator":{"value":64}}`, connectors.Result{Value: "1:64"}},
		{"RatioComparator", `"valueRatio":{"numerator":{"value":1,"comparator":"<"},"denominator":{"value":16}}`,
			connectors.Result{Value: "1:16", Comparator: "<"}},
		{"RatioUnits", `"valueRatio":{"numerator":{"value":500,"unit":"mg"},"denominator":{"value":10,"unit":"mL"}}`,
			connectors.Result{Value: "500 mg/10 mL"}},
		{"SampledData", `"valueSampledData":{"origin":{"value":2048,"unit":"uV"},"period":10,"dimensions":1,"data":"2041 2043 2037 2047"}`,
			connectors.Result{Value: "Waveform (sampled series): 4 samples, one every 10 ms", Units: "uV"}},
		{"SampledDataChannels", `"valueSampledData":{"origin":{"value":0},"period":2.5,"dimensions":2,"data":"1 2 3 4 5 6"}`,
			connectors.Result{Value: "Waveform (sampled series): 3 samples, one every 2.5 ms, 2 channels"}},
		{"Time", `"valueTime":"14:30:00"`, connectors.Result{Value: "14:30:00"}},
		{"DateTimeDateOnly", `"valueDateTime":"2016-12-30"`, connectors.Result{Value: "30-Dec-2016"}},
		{"DateTimePartial", `"valueDateTime":"1957-05"`, connectors.Result{Value: "May-1957"}},
		// A time is shown in London: 13:05 UTC in July is 14:05 BST.
		{"DateTimeWithTime", `"valueDateTime":"2024-07-01T13:05:00Z"`, connectors.Result{Value: "01-Jul-2024 14:05"}},
		{"Period", `"valuePeriod":{"start":"2024-03-12","end":"2024-03-14"}`, connectors.Result{Value: "12-Mar-2024 to 14-Mar-2024"}},
		{"PeriodOpen", `"valuePeriod":{"start":"2024-03-12"}`, connectors.Result{Value: "from 12-Mar-2024"}},
		{"NothingSent", ``, connectors.Result{Absent: "no value sent by the source"}},
		{"DataAbsent", `"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"not-performed","display":"Not Performed"}]}`,
			connectors.Result{Absent: "Not Performed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := ""
			if tt.value != "" {
				extra = "," + tt.value
			}
			r := mapResources(t, nil, obs("o", extra))
			got := *r.entry(t, "Observation/o").Result
			tt.want.Status = "final"
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("SampledDataFromHL7", func(t *testing.T) {
		r := mapResources(t, nil, hl7(t, "Observation-ekg"))
		e := r.entry(t, "Observation/ekg")
		if len(e.Result.Components) != 3 {
			t.Fatalf("%d components, want the 3 leads", len(e.Result.Components))
		}
		for _, c := range e.Result.Components {
			if c.Value == "" || c.Value[:8] != "Waveform" || c.Absent != "" {
				t.Errorf("lead %s: value %q, want it said to be a waveform", c.Title, c.Value)
			}
		}
	})
}

func TestObservationComponents(t *testing.T) {
	t.Run("DiastolicAbsent", func(t *testing.T) {
		// HL7's blood-pressure-dar: the diastolic was not performed.
		r := mapResources(t, nil, hl7(t, "Observation-blood-pressure-dar"))
		res := r.entry(t, "Observation/blood-pressure-dar").Result
		want := []connectors.Component{
			{Title: "Systolic blood pressure", Value: "107", Numeric: fp(107), Units: "mmHg", Codes: []connectors.Code{
				{System: connectors.SystemLOINC, Code: "8480-6", Display: "Systolic blood pressure"},
				{System: connectors.SystemSNOMED, Code: "271649006", Display: "Systolic blood pressure"},
				{System: "http://acme.org/devices/clinical-codes", Code: "bp-s", Display: "Systolic Blood pressure"}}},
			{Title: "Diastolic blood pressure", Absent: "Not Performed", Codes: []connectors.Code{
				{System: connectors.SystemLOINC, Code: "8462-4", Display: "Diastolic blood pressure"}}},
		}
		if !reflect.DeepEqual(res.Components, want) {
			t.Errorf("components\n got %+v\nwant %+v", res.Components, want)
		}
		if res.Value != "" || res.Flag != connectors.FlagLow {
			t.Errorf("value %q flag %q; want no value of its own and the source's low flag", res.Value, res.Flag)
		}
	})
	t.Run("CriticalComponent", func(t *testing.T) {
		r := mapResources(t, nil, obs("bp", `,"component":[
			{"code":{"text":"Systolic"},"valueQuantity":{"value":221,"unit":"mmHg"},
			 "interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"HH"}]}],
			 "referenceRange":[{"high":{"value":140}},{"type":{"coding":[{"code":"treatment"}]},"high":{"value":130}}]},
			{"code":{"text":"Diastolic"},"valueQuantity":{"value":85,"comparator":">=","unit":"mmHg"},
			 "interpretation":[{"coding":[{"code":"N"}]}]}]`))
		res := r.entry(t, "Observation/bp").Result
		if !res.Critical() || !res.Abnormal() {
			t.Errorf("Critical %v Abnormal %v; want both, from the systolic", res.Critical(), res.Abnormal())
		}
		sys, dia := res.Components[0], res.Components[1]
		if sys.Flag != connectors.FlagCriticalHigh || sys.Range.String() != "≤ 140" {
			t.Errorf("systolic flag %q range %q", sys.Flag, sys.Range.String())
		}
		if dia.Value != "85" || dia.Comparator != ">=" || dia.Flag != connectors.FlagNormal {
			t.Errorf("diastolic %+v", dia)
		}
	})
	t.Run("ValueAndComponents", func(t *testing.T) {
		// HL7's 10-minute Apgar score: a total and its five parts.
		r := mapResources(t, nil, hl7(t, "Observation-10minute-apgar-score"))
		res := r.entry(t, "Observation/10minute-apgar-score").Result
		if res.Value != "10" || len(res.Components) != 5 {
			t.Fatalf("value %q with %d components, want 10 with 5", res.Value, len(res.Components))
		}
		for _, c := range res.Components {
			if c.Value == "" || c.Title == "" {
				t.Errorf("component %+v lacks a title or value", c)
			}
		}
	})
}

func TestInterpretation(t *testing.T) {
	const v3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	tests := []struct {
		name   string
		interp string
		flag   connectors.Flag
		words  string
	}{
		{"Normal", `[{"coding":[{"system":"` + v3 + `","code":"N"}]}]`, connectors.FlagNormal, ""},
		{"High", `[{"coding":[{"system":"` + v3 + `","code":"H"}]}]`, connectors.FlagHigh, ""},
		{"Low", `[{"coding":[{"code":"L"}]}]`, connectors.FlagLow, ""},
		{"CriticalHigh", `[{"coding":[{"system":"` + v3 + `","code":"HH"}]}]`, connectors.FlagCriticalHigh, ""},
		{"CriticalLow", `[{"coding":[{"system":"` + v3 + `","code":"LL"}]}]`, connectors.FlagCriticalLow, ""},
		{"Abnormal", `[{"coding":[{"system":"` + v3 + `","code":"A"}]}]`, connectors.FlagAbnormal, ""},
		{"CriticalAbnormal", `[{"coding":[{"system":"` + v3 + `","code":"AA"}]}]`, connectors.FlagCriticalAbnormal, ""},
		// "Significantly high ... but has not reached the critical level".
		{"SignificantlyHigh", `[{"coding":[{"system":"` + v3 + `","code":"HU"}]}]`, connectors.FlagHigh, "Significantly high"},
		{"SignificantlyLow", `[{"coding":[{"system":"` + v3 + `","code":"LU"}]}]`, connectors.FlagLow, "Significantly low"},
		// Off scale is a technical exception, not a degree of abnormality.
		{"OffScaleHigh", `[{"coding":[{"system":"` + v3 + `","code":">"}]}]`, connectors.FlagNone, "Off scale high"},
		{"OffScaleLow", `[{"coding":[{"system":"` + v3 + `","code":"<"}]}]`, connectors.FlagNone, "Off scale low"},
		{"Positive", `[{"coding":[{"system":"` + v3 + `","code":"POS"}]}]`, connectors.FlagNone, "Positive"},
		{"Negative", `[{"coding":[{"system":"` + v3 + `","code":"NEG"}]}]`, connectors.FlagNone, "Negative"},
		{"Indeterminate", `[{"coding":[{"system":"` + v3 + `","code":"IND"}]}]`, connectors.FlagNone, "Indeterminate"},
		{"Resistant", `[{"coding":[{"system":"` + v3 + `","code":"R"}]}]`, connectors.FlagNone, "Resistant"},
		{"Susceptible", `[{"coding":[{"system":"` + v3 + `","code":"S"}]}]`, connectors.FlagNone, "Susceptible"},
		{"Intermediate", `[{"coding":[{"system":"` + v3 + `","code":"I"}]}]`, connectors.FlagNone, "Intermediate"},
		{"HighAndWorse", `[{"coding":[{"system":"` + v3 + `","code":"H"}]},{"coding":[{"system":"` + v3 + `","code":"W"}]}]`,
			connectors.FlagHigh, "Worse"},
		{"ChangeUpDown", `[{"coding":[{"code":"U"}]},{"coding":[{"code":"D"}]},{"coding":[{"code":"B"}]}]`,
			connectors.FlagNone, "Significant change up, Significant change down, Better"},
		// A code of another system keeps its own words rather than vanish.
		{"LocalCode", `[{"coding":[{"system":"https://lab.example/flags","code":"X9","display":"Haemolysed"}]}]`,
			connectors.FlagNone, "Haemolysed"},
		{"TextOnly", `[{"text":"Borderline"}]`, connectors.FlagNone, "Borderline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, nil, obs("o", `,"valueQuantity":{"value":1},"interpretation":`+tt.interp))
			res := r.entry(t, "Observation/o").Result
			if res.Flag != tt.flag || res.Interpretation != tt.words {
				t.Errorf("flag %q words %q; want %q %q", res.Flag, res.Interpretation, tt.flag, tt.words)
			}
		})
	}
}

func TestObservationStatus(t *testing.T) {
	for _, status := range []string{"registered", "preliminary", "final", "amended", "corrected"} {
		t.Run(status, func(t *testing.T) {
			r := mapResources(t, nil, `{"resourceType":"Observation","id":"o","status":"`+status+`","code":{"text":"Sodium"},"valueQuantity":{"value":140}}`)
			if got := r.entry(t, "Observation/o").Result.Status; got != status {
				t.Errorf("status %q, want %q", got, status)
			}
		})
	}
	for status, rule := range map[string]string{"entered-in-error": connectors.HideEnteredInError, "cancelled": connectors.HideCancelled} {
		t.Run(status, func(t *testing.T) {
			r := mapResources(t, nil, `{"resourceType":"Observation","id":"o","status":"`+status+`","code":{"text":"Sodium"},"valueQuantity":{"value":140}}`)
			want := []connectors.Omission{{Kind: connectors.KindResult, Resource: "Observation/o", Reason: rule}}
			if len(r.entries) != 0 || !reflect.DeepEqual(r.m.hidden, want) {
				t.Errorf("entries %d hidden %+v; want none shown and %+v", len(r.entries), r.m.hidden, want)
			}
		})
	}
}

func TestReferenceRanges(t *testing.T) {
	man := &connectors.Patient{Gender: connectors.GenderMale, BirthDate: connectors.NewDate(1960, time.May, 1)}
	woman := &connectors.Patient{Gender: connectors.GenderFemale, BirthDate: connectors.NewDate(1960, time.May, 1)}
	bySex := `,"valueQuantity":{"value":120,"unit":"g/L"},"referenceRange":[
		{"low":{"value":130},"high":{"value":170},"appliesTo":[{"coding":[{"system":"http://snomed.info/sct","code":"248153007","display":"Male"}]}]},
		{"low":{"value":115},"high":{"value":155},"appliesTo":[{"coding":[{"system":"http://snomed.info/sct","code":"248152002","display":"Female"}]}]}]`
	byAge := `,"valueQuantity":{"value":5},"referenceRange":[
		{"low":{"value":1},"high":{"value":3},"age":{"low":{"value":0,"code":"a"},"high":{"value":17,"code":"a"}}},
		{"low":{"value":2},"high":{"value":6},"age":{"low":{"value":18,"code":"a"}}}]`
	tests := []struct {
		name    string
		patient *connectors.Patient
		extra   string
		chosen  string
		others  []string // Type / AppliesTo of the others, as "type|applies"
	}{
		{"OneUntypedRange", nil, `,"valueQuantity":{"value":1},"referenceRange":[{"low":{"value":0},"high":{"value":2}}]`, "0–2", nil},
		// HL7's Glasgow coma score: three severity bands, none of them a
		// normal range, so none stands beside the value as if it were.
		{"SeverityBandsOnly", nil, hl7Rest(t, "Observation-glasgow"), "",
			[]string{"Severe TBI|", "Moderate TBI|", "Mild TBI|"}},
		{"NormalBeforeTreatment", nil, `,"valueQuantity":{"value":6},"referenceRange":[
			{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"treatment","display":"Treatment Range"}]},"high":{"value":7}},
			{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/referencerange-meaning","code":"normal","display":"Normal Range"}]},"low":{"value":4},"high":{"value":6}}]`,
			"4–6", []string{"Treatment Range|"}},
		{"SexMale", man, bySex, "130–170", []string{"|Female"}},
		{"SexFemale", woman, bySex, "115–155", []string{"|Male"}},
		// Whom a range is for cannot be checked without the patient: no
		// range is guessed.
		{"SexUnknown", nil, bySex, "", []string{"|Male", "|Female"}},
		{"AgeAdult", man, byAge, "2–6", []string{"|age 0–17"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mapResources(t, tt.patient, obs("o", tt.extra))
			res := r.entry(t, "Observation/o").Result
			if got := res.Range.String(); got != tt.chosen {
				t.Errorf("range %q, want %q", got, tt.chosen)
			}
			var others []string
			for _, o := range res.OtherRanges {
				others = append(others, o.Type+"|"+o.AppliesTo)
			}
			if !reflect.DeepEqual(others, tt.others) {
				t.Errorf("other ranges %q, want %q", others, tt.others)
			}
		})
	}
}

// hl7Rest is an HL7 example Observation's elements after its id, for obs.
func hl7Rest(t *testing.T, name string) string {
	var v map[string]any
	mustUnmarshal(t, hl7(t, name), &v)
	for _, k := range []string{"resourceType", "id", "status", "code", "effectiveDateTime", "text"} {
		delete(v, k)
	}
	return "," + mustMarshalInner(t, v)
}

func TestPanel(t *testing.T) {
	member := func(id string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"` + id + `"},` +
			`"effectiveDateTime":"2024-01-01","valueQuantity":{"value":1}}`
	}
	panel := `{"resourceType":"Observation","id":"panel","status":"final","code":{"text":"Vital signs"},"effectiveDateTime":"2024-01-01",
		"hasMember":[{"reference":"Observation/hr"},{"reference":"Observation/rr"}]}`
	t.Run("MembersSent", func(t *testing.T) {
		r := mapResources(t, nil, panel, member("hr"), member("rr"))
		if _, ok := r.byID["Observation/panel"]; ok {
			t.Error("the panel is an entry beside its members")
		}
		if got := r.m.account()["Observation/panel"]; got != "part of Observation/hr" {
			t.Errorf("panel accounted %q", got)
		}
		for _, id := range []string{"Observation/hr", "Observation/rr"} {
			if res := r.entry(t, id).Result; res.Group != "Observation/panel" || res.GroupTitle != "Vital signs" {
				t.Errorf("%s group %q %q", id, res.Group, res.GroupTitle)
			}
		}
	})
	t.Run("MembersNotSent", func(t *testing.T) {
		// HL7's vital signs panel, sent without its members: shown, saying so.
		r := mapResources(t, nil, hl7(t, "Observation-vitals-panel"))
		res := r.entry(t, "Observation/vitals-panel").Result
		if res.Absent != "results not sent by the source" {
			t.Errorf("absent %q", res.Absent)
		}
	})
}
