package fhir

import (
	"encoding/json"
	"strings"

	"github.com/carerecord/carerecord/connectors"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// flag maps a Flag ("Prospective warnings of potential issues when
// providing care to the patient") to an alert: its code is the warning
// itself. One entered in error is hidden; an inactive flag is kept with its
// status.
func (m *mapper) flag(key string, raw json.RawMessage) error {
	f, err := fhir.UnmarshalFlag(raw)
	if err != nil {
		return errNotR4
	}
	if f.Status == fhir.FlagStatusEnteredInError {
		m.hide(connectors.KindAlert, key, connectors.HideEnteredInError)
		return nil
	}
	var tp timeParser
	al := &connectors.Alert{Status: f.Status.Code()}
	if f.Period != nil {
		al.Start, al.End = tp.at(f.Period.Start), tp.at(f.Period.End)
	}
	if tp.err != nil {
		return tp.err
	}
	var categories []string
	for _, cc := range f.Category {
		if t := conceptText(&cc); t != "" {
			categories = append(categories, t)
		}
	}
	al.Category = strings.Join(categories, ", ")
	if f.Author != nil {
		al.Author = str(f.Author.Display)
	}
	title := firstNonEmpty(conceptText(&f.Code), "Alert not named by the source")
	m.show(key, firstTime(al.Start, al.End), connectors.Entry{Kind: connectors.KindAlert, ID: key,
		Codes: conceptCodes(&f.Code), Title: title, Alert: al})
	return nil
}
