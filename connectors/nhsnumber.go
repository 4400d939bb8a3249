package connectors

import (
	"errors"
	"fmt"
	"strings"
)

// Errors from ParseNHSNumber. They are distinct so that a form can tell the
// user whether they mistyped the shape or a digit.
var (
	ErrNHSNumberFormat     = errors.New("an NHS number is 10 digits")
	ErrNHSNumberCheckDigit = errors.New("this is not a valid NHS number (check digit does not match)")
)

// ParseNHSNumber accepts an NHS number as people type it ("999 000 0018",
// "999-000-0018", "9990000018"), checks its Modulus 11 check digit and
// returns the 10 digits without separators. The errors wrap
// ErrNHSNumberFormat or ErrNHSNumberCheckDigit.
func ParseNHSNumber(s string) (string, error) {
	var b strings.Builder
	b.Grow(10)
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			if b.Len() == 10 {
				return "", fmt.Errorf("%w, not more", ErrNHSNumberFormat)
			}
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", fmt.Errorf("%w, with no letters or symbols", ErrNHSNumberFormat)
		}
	}
	n := b.String()
	if len(n) != 10 {
		return "", fmt.Errorf("%w (%d given)", ErrNHSNumberFormat, len(n))
	}
	check, ok := NHSNumberCheckDigit(n[:9])
	if !ok || check != n[9]-'0' {
		return "", ErrNHSNumberCheckDigit
	}
	return n, nil
}

// NHSNumberCheckDigit computes the Modulus 11 check digit for the first nine
// digits of an NHS number. ok is false when no check digit exists (the
// remainder gives 10), meaning no valid NHS number starts with those digits.
func NHSNumberCheckDigit(first9 string) (digit byte, ok bool) {
	if len(first9) != 9 {
		return 0, false
	}
	sum := 0
	for i := range 9 {
		c := first9[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	switch check := 11 - sum%11; check {
	case 11:
		return 0, true
	case 10:
		return 0, false
	default:
		return byte(check), true
	}
}

// FormatNHSNumber writes a 10-digit NHS number in the 3-3-4 form screens
// use: "999 000 0018". Anything else is returned unchanged.
func FormatNHSNumber(n string) string {
	if len(n) != 10 {
		return n
	}
	for i := range len(n) {
		if n[i] < '0' || n[i] > '9' {
			return n
		}
	}
	return n[:3] + " " + n[3:6] + " " + n[6:]
}
