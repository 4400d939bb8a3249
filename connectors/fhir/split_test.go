package fhir

import (
	"strings"
	"testing"
)

func TestDecodeBundleSkipsOnlyTheTooDeepEntry(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 12000) + `1` + strings.Repeat(`}`, 12000)
	body := `{"resourceType":"Bundle","link":[{"relation":"next","url":"http://x/p2"}],"entry":[` +
		`{"resource":{"resourceType":"Observation","id":"a","note":"a ] } [ { \" tricky string"}},` +
		`{"resource":{"resourceType":"Observation","id":"b","extension":[` + deep + `]}},` +
		`{"resource":{"resourceType":"Observation","id":"c"}}]}`
	b, unreadable, err := decodeBundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if unreadable != 1 || len(b.Entry) != 2 || b.ResourceType != "Bundle" || len(b.Link) != 1 || b.Link[0].URL != "http://x/p2" {
		t.Fatalf("unreadable %d, %d entries, envelope %+v", unreadable, len(b.Entry), b.Link)
	}
	if !strings.Contains(string(b.Entry[0].Resource), `"id":"a"`) || !strings.Contains(string(b.Entry[1].Resource), `"id":"c"`) {
		t.Fatalf("entries %s / %s", b.Entry[0].Resource, b.Entry[1].Resource)
	}
}

func TestDecodeBundleStillRefusesGarbage(t *testing.T) {
	for _, body := range []string{`not json`, `{"resourceType":"Bundle","entry":[{"resource":{}`, `{"entry":[1,2}`} {
		if _, _, err := decodeBundle([]byte(body)); err == nil {
			t.Errorf("%q decoded", body)
		}
	}
}
