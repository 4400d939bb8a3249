package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestRefKeyOnSource(t *testing.T) {
	c, err := New(connectors.Config{Name: "T", ODS: "RXX", Kind: "fhir", BaseURL: "https://fhir.example/R4/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, key string
	}{
		{"Medication/123", "Medication/123"},
		{"Medication/med-1.a/_history/2", "Medication/med-1.a"},
		{"https://fhir.example/R4/Medication/9", "Medication/9"},
		{"HTTPS://FHIR.EXAMPLE/R4/Medication/9", "Medication/9"},
		{"#med1", ""},
		{"https://elsewhere.example/R4/Medication/9", ""},
		{"http://fhir.example/R4/Medication/9", ""}, // another scheme is another origin
		{"https://fhir.example/other/Medication/9", ""},
		{"../other/Medication/9", ""},
		{"//elsewhere.example/R4/Medication/9", ""},
		{"/R4/Medication/9", ""},
		{"Medication/9?_format=xml", ""},
		{"Medication", ""},
		{"Medication/" + strings.Repeat("x", 65), ""},
		{"medication/9", ""},
		{"urn:uuid:8f1c", ""},
		{"", ""},
	}
	for _, tt := range tests {
		key, ok := c.refKeyOnSource(tt.ref)
		if key != tt.key || ok != (tt.key != "") {
			t.Errorf("refKeyOnSource(%q) = %q, %v; want %q", tt.ref, key, ok, tt.key)
		}
	}
}

// namesRefs stands in for the mapper's side of the contract: it names refs
// as unresolved until they are included.
type namesRefs struct {
	refs     []string
	included []string
}

func (n *namesRefs) unresolved() []string {
	var out []string
	for _, r := range n.refs {
		if !slices.Contains(n.included, r) {
			out = append(out, r)
		}
	}
	return out
}

func (n *namesRefs) include(raw json.RawMessage) {
	var r struct{ ResourceType, ID string }
	_ = json.Unmarshal(raw, &r)
	n.included = append(n.included, r.ResourceType+"/"+r.ID)
}

func TestResolveReadsEachReferenceOnce(t *testing.T) {
	var mu sync.Mutex
	reads := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reads[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/R4/Medication/m1", "/R4/Medication/m2":
			id := r.URL.Path[len("/R4/Medication/"):]
			fmt.Fprintf(w, `{"resourceType":"Medication","id":%q,"code":{"text":"Drug %s"}}`, id, id)
		case "/R4/Medication/wrong":
			fmt.Fprint(w, `{"resourceType":"Medication","id":"m1"}`) // not what was asked
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(connectors.Config{Name: "T", ODS: "RXX", Kind: "fhir", BaseURL: srv.URL + "/R4"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &namesRefs{refs: []string{"Medication/m1", srv.URL + "/R4/Medication/m2", "Medication/m1/_history/3",
		"Medication/missing", "Medication/wrong", "#contained", "https://elsewhere.example/R4/Medication/m3"}}
	c.resolve(t.Context(), m)
	slices.Sort(m.included)
	if want := []string{"Medication/m1", "Medication/m2"}; !slices.Equal(m.included, want) {
		t.Errorf("included %v, want %v", m.included, want)
	}
	want := map[string]int{"/R4/Medication/m1": 1, "/R4/Medication/m2": 1, "/R4/Medication/missing": 1, "/R4/Medication/wrong": 1}
	if fmt.Sprint(reads) != fmt.Sprint(want) {
		t.Errorf("reads %v, want %v: each reference on the source read once, nothing else", reads, want)
	}
}
