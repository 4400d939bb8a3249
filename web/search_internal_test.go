package web

import (
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/views"
)

// TestNotOpenedBecause: a search by NHS number that found one patient
// goes straight on only when nothing needs saying first; otherwise the
// list says what.
func TestNotOpenedBecause(t *testing.T) {
	const nhs = "9990000018"
	plain := views.SearchHit{NHS: nhs, URL: "/patients/" + nhs, Sources: []connectors.Source{{Name: "King's", ODS: "RJZ"}}}
	with := func(f func(*views.SearchHit)) views.SearchHit {
		h := plain
		f(&h)
		return h
	}
	tests := []struct {
		name string
		hit  views.SearchHit
		want string // "" when it opens; else a word the notice holds
	}{
		{"OpensPlainMatch", plain, ""},
		{"OpensDeceased", with(func(h *views.SearchHit) { h.Deceased = true }), ""},
		{"OpensWithPDSAndSources", with(func(h *views.SearchHit) { h.FromPDS = true }), ""},
		{"ListsReplacedNumber", with(func(h *views.SearchHit) { h.Replaces = "999 000 0611" }), "replaced"},
		{"ListsObjection", with(func(h *views.SearchHit) { h.Objected, h.Sources = true, nil }), "objected"},
		{"ListsRestricted", with(func(h *views.SearchHit) { h.Restricted = true }), "restricted"},
		{"ListsDisagreement", with(func(h *views.SearchHit) { h.Disagree = true }), "different"},
		{"ListsKnownToPDSOnly", with(func(h *views.SearchHit) { h.FromPDS, h.Sources = true, nil }), "no Trust or GP practice"},
		{"ListsNoNHSNumber", with(func(h *views.SearchHit) { h.NHS, h.URL = "", "" }), "no NHS number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notOpenedBecause(tt.hit, nhs)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("notice %q, want one with %q (empty: opens)", got, tt.want)
			}
		})
	}
}

// TestObjectedPostcode: an objecting patient's postcode in search is the
// one their record's banner shows.
func TestObjectedPostcode(t *testing.T) {
	pds := connectors.Patient{Postcode: "SW2 1ZZ", Source: connectors.Source{Name: "PDS"}}
	kings := connectors.Patient{Postcode: "SW9 4ZZ", Source: connectors.Source{ODS: "RJZ"}}
	guys := connectors.Patient{Postcode: "SE1 7ZZ", Source: connectors.Source{ODS: "RJ1"}}
	tests := []struct {
		name string
		hit  records.SearchHit
		own  string
		want string
	}{
		{"PDSs", records.SearchHit{Patient: pds, FromPDS: true, Held: []connectors.Patient{pds, guys, kings}}, "RJZ", "SW2 1ZZ"},
		{"OwnOrganisationsWithoutPDS", records.SearchHit{Patient: guys, Held: []connectors.Patient{guys, kings}}, "RJZ", "SW9 4ZZ"},
		{"NoneWhenOwnOrganisationHoldsNone", records.SearchHit{Patient: guys, Held: []connectors.Patient{guys}}, "RJZ", ""},
		{"NoneWithoutARole", records.SearchHit{Patient: guys, Held: []connectors.Patient{guys, kings}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := objectedPostcode(tt.hit, tt.own); got != tt.want {
				t.Errorf("postcode %q, want %q", got, tt.want)
			}
		})
	}
}
