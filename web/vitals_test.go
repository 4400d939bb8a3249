package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// TestVitalSigns checks the record's vital signs: the latest of each that
// the sources sent (blood pressure as its parts), abnormal ones in words,
// and a trend for each measured more than once, blood pressure drawn as
// systolic and diastolic series.
func TestVitalSigns(t *testing.T) {
	e := sourcesEnv(t)
	b := e.browser()
	b.signIn("/saml/login", "clinician")
	b.giveReason(synthetic.RichNHSNumber, "direct-care", "")
	p := b.settled(t, "/patients/"+synthetic.RichNHSNumber)
	rows := map[string]string{}
	trends := map[string]string{}
	for _, r := range findAll(find(p.doc, "section", "data-testid", "vitals"), "tr", "data-testid", "vital") {
		rows[attr(r, "data-vital")] = text(r)
		trends[attr(r, "data-vital")] = attr(find(r, "a", "data-testid", "vital-trend"), "href")
	}
	t.Run("LatestOfEach", func(t *testing.T) {
		for _, want := range []string{"Blood pressure", "Pulse", "Respiratory rate", "Oxygen saturation", "Temperature", "Weight", "BMI", "NEWS2 score"} {
			if rows[want] == "" {
				t.Errorf("no %s among the vital signs: %v", want, rows)
			}
		}
		// Her latest blood pressure is the clinic's, not the older
		// critically high one.
		if !strings.Contains(rows["Blood pressure"], "138 / 84 mmHg") {
			t.Errorf("latest blood pressure %q, want 138 / 84 mmHg", rows["Blood pressure"])
		}
		if !strings.Contains(rows["BMI"], "High") {
			t.Errorf("BMI %q: an abnormal value without the word", rows["BMI"])
		}
	})
	t.Run("BloodPressureTrendInParts", func(t *testing.T) {
		if trends["Blood pressure"] == "" {
			t.Fatal("no trend link for blood pressure")
		}
		tp := b.get(trends["Blood pressure"])
		if tp.status != http.StatusOK {
			t.Fatalf("status %d", tp.status)
		}
		var names []string
		for _, s := range findAll(tp.doc, "li", "data-testid", "trend-series") {
			names = append(names, text(s))
		}
		joined := strings.Join(names, " | ")
		if !strings.Contains(joined, "Systolic") || !strings.Contains(joined, "Diastolic") {
			t.Errorf("blood pressure series %q, want systolic and diastolic", names)
		}
	})
}
