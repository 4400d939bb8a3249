package synthetic

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
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
