package synthetic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGenerateDeterministic(t *testing.T) {
	for _, org := range Orgs() {
		a, b := generate(org), generate(org)
		if len(a.patients) == 0 || len(a.patients) != len(b.patients) {
			t.Fatalf("%s: %d and %d patients", org.ODS, len(a.patients), len(b.patients))
		}
		for i, pa := range a.patients {
			pb := b.patients[i]
			if pa.id != pb.id || !bytes.Equal(pa.raw, pb.raw) || len(pa.byType) != len(pb.byType) {
				t.Fatalf("%s: patient %d differs", org.ODS, i)
			}
			for typ, rs := range pa.byType {
				if len(rs) != len(pb.byType[typ]) {
					t.Fatalf("%s %s %s: %d and %d resources", org.ODS, pa.id, typ, len(rs), len(pb.byType[typ]))
				}
				for j := range rs {
					if rs[j].id != pb.byType[typ][j].id || !bytes.Equal(rs[j].raw, pb.byType[typ][j].raw) {
						t.Fatalf("%s %s: %s differs between generations", org.ODS, typ, rs[j].id)
					}
				}
			}
		}
	}
}

func TestMinimalPDF(t *testing.T) {
	pdf := string(minimalPDF([]string{"Hello (world)", "Café"}))
	if !strings.HasPrefix(pdf, "%PDF-1.4\n") || !strings.HasSuffix(pdf, "%%EOF\n") {
		t.Fatalf("not a PDF: %q", pdf)
	}
	// The xref table must point at each object.
	for _, obj := range []string{"1 0 obj", "2 0 obj", "3 0 obj", "4 0 obj", "5 0 obj"} {
		off := strings.Index(pdf, obj)
		if off < 0 || !strings.Contains(pdf, fmt.Sprintf("%010d 00000 n", off)) {
			t.Errorf("%s at %d missing from xref", obj, off)
		}
	}
	if !strings.Contains(pdf, `(Hello \(world\)) Tj`) {
		t.Error("parentheses not escaped")
	}
	if !strings.Contains(pdf, "(Caf-) Tj") {
		t.Error("non-ASCII not replaced for the Helvetica font")
	}
}

func TestFirstSentenceKeepsDecimals(t *testing.T) {
	got := firstSentence("Both kidneys small (right 8.9 cm, left 9.1 cm) with increased echogenicity. No hydronephrosis.")
	if got != "Both kidneys small (right 8.9 cm, left 9.1 cm) with increased echogenicity." {
		t.Errorf("conclusion %q", got)
	}
}

// TestLettersNameTheMedicinesTaken: a hospital letter for a patient on
// long-term medicines (prescribed by their practice) does not say "None
// recorded".
func TestLettersNameTheMedicinesTaken(t *testing.T) {
	for _, org := range []string{KingsODS, GSTTODS} {
		o, _ := OrgByODS(org)
		ds := generate(o)
		for _, pd := range ds.patients {
			if pd.p.nhs != RichNHSNumber {
				continue
			}
			letters, withMeds := 0, 0
			for _, r := range pd.byType["DocumentReference"] {
				var doc struct {
					Content []struct {
						Attachment struct{ ContentType, Data string }
					}
				}
				_ = json.Unmarshal(r.raw, &doc)
				for _, c := range doc.Content {
					text, _ := base64.StdEncoding.DecodeString(c.Attachment.Data)
					if !strings.Contains(string(text), "Current medication:") {
						continue
					}
					letters++
					if !strings.Contains(string(text), "Current medication: None recorded") {
						withMeds++
					}
				}
			}
			if letters == 0 || withMeds < letters/2 {
				t.Errorf("%s: %d of %d letters for a patient on long-term medicines name any", org, withMeds, letters)
			}
		}
	}
}

// TestNoAdultAtAChildrensHospitalNorVaccineToCome: the demo data does not
// put an adult in a children's hospital, nor date a vaccination after the
// data's own date.
func TestNoAdultAtAChildrensHospitalNorVaccineToCome(t *testing.T) {
	for _, org := range Orgs() {
		for _, pd := range generate(org).patients {
			adult := !pd.p.birth.Time().AddDate(18, 0, 0).After(DataDate)
			for typ, rs := range pd.byType {
				for _, r := range rs {
					if adult && strings.Contains(string(r.raw), "Children's Hospital") {
						t.Errorf("%s %s: an adult (%s) seen at a children's hospital", org.ODS, r.id, pd.p.nhs)
					}
					if typ == "Immunization" {
						var im struct{ OccurrenceDateTime string }
						_ = json.Unmarshal(r.raw, &im)
						if when, err := time.Parse(time.RFC3339, im.OccurrenceDateTime); err == nil && when.After(DataDate) {
							t.Errorf("%s %s: a vaccination dated %s, after the data's date", org.ODS, r.id, im.OccurrenceDateTime)
						}
					}
				}
			}
		}
	}
}
