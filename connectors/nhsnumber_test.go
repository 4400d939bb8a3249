package connectors_test

import (
	"errors"
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestParseNHSNumber(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"OK", "9990000018", "9990000018", nil},
		{"OKSpaces", "999 000 0018", "9990000018", nil},
		{"OKHyphens", "999-000-0026", "9990000026", nil},
		{"OKSurroundingSpace", "  999 000 0034\t", "9990000034", nil},
		{"OKCheckDigitZero", "9990000050", "9990000050", nil}, // 11 − (sum mod 11) = 11 → 0
		{"OKOddSpacing", "99 90 00 00 42", "9990000042", nil},
		{"ErrNHSNumberCheckDigit", "9990000019", "", connectors.ErrNHSNumberCheckDigit},
		{"ErrNHSNumberCheckDigitTransposed", "9990000081", "", connectors.ErrNHSNumberCheckDigit},
		// 999000000x: weights give 11 − (sum mod 11) = 10, so no check
		// digit can make it valid.
		{"ErrNHSNumberCheckDigitTen", "9990000000", "", connectors.ErrNHSNumberCheckDigit},
		{"ErrNHSNumberFormatShort", "999000001", "", connectors.ErrNHSNumberFormat},
		{"ErrNHSNumberFormatLong", "99900000180", "", connectors.ErrNHSNumberFormat},
		{"ErrNHSNumberFormatEmpty", "", "", connectors.ErrNHSNumberFormat},
		{"ErrNHSNumberFormatLetters", "999000001A", "", connectors.ErrNHSNumberFormat},
		{"ErrNHSNumberFormatDots", "999.000.0018", "", connectors.ErrNHSNumberFormat},
		{"ErrNHSNumberFormatUnicodeDigits", "999000001٨", "", connectors.ErrNHSNumberFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connectors.ParseNHSNumber(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("ParseNHSNumber(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseNHSNumber(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNHSNumberCheckDigit(t *testing.T) {
	tests := []struct {
		first9 string
		digit  byte
		ok     bool
	}{
		{"999000001", 8, true},
		{"999000002", 6, true},
		{"999000005", 0, true},
		{"999000007", 7, true},
		{"999000000", 0, false},
		{"99900000", 0, false},
		{"99900000x", 0, false},
	}
	for _, tt := range tests {
		digit, ok := connectors.NHSNumberCheckDigit(tt.first9)
		if digit != tt.digit || ok != tt.ok {
			t.Errorf("NHSNumberCheckDigit(%q) = %d, %v; want %d, %v", tt.first9, digit, ok, tt.digit, tt.ok)
		}
	}
}

func TestFormatNHSNumber(t *testing.T) {
	tests := map[string]string{
		"9990000018":   "999 000 0018",
		"999000001":    "999000001",
		"999000001A":   "999000001A",
		"":             "",
		"999 000 0018": "999 000 0018",
	}
	for in, want := range tests {
		if got := connectors.FormatNHSNumber(in); got != want {
			t.Errorf("FormatNHSNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseNHSNumber(f *testing.F) {
	for _, s := range []string{"9990000018", "999 000 0018", "999-000-0026", "9990000019",
		"", "abc", "99900000180", " 9 9 9 0 0 0 0 0 1 8 ", "٩٩٩٠٠٠٠٠١٨", "9990000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := connectors.ParseNHSNumber(s)
		if err != nil {
			if !errors.Is(err, connectors.ErrNHSNumberFormat) && !errors.Is(err, connectors.ErrNHSNumberCheckDigit) {
				t.Fatalf("ParseNHSNumber(%q): unexpected error %v", s, err)
			}
			if n != "" {
				t.Fatalf("ParseNHSNumber(%q) returned %q with error", s, n)
			}
			return
		}
		if len(n) != 10 {
			t.Fatalf("ParseNHSNumber(%q) = %q, not 10 digits", s, n)
		}
		// A valid number must survive formatting and parsing again.
		again, err := connectors.ParseNHSNumber(connectors.FormatNHSNumber(n))
		if err != nil || again != n {
			t.Fatalf("round trip of %q: got %q, %v", n, again, err)
		}
		d, ok := connectors.NHSNumberCheckDigit(n[:9])
		if !ok || d != n[9]-'0' {
			t.Fatalf("ParseNHSNumber(%q) accepted a wrong check digit", s)
		}
	})
}
