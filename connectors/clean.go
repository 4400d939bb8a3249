package connectors

import (
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanText makes one string from a source safe to show: invalid UTF-8
// becomes U+FFFD, and control characters (other than tab and newline) and
// the bidirectional embedding, override and isolate characters are
// removed. An override could otherwise reverse the dose or date printed
// after it; a NUL is a parse error in HTML.
func CleanText(s string) string {
	ok := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unwanted(r) {
			ok = false
			break
		}
		i += size
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case unwanted(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unwanted(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r == '\r':
		return true
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// Clean applies CleanText to every string a value holds, through
// pointers, slices and structs. Connectors call it on everything they
// return, so no caller can forget.
func Clean(v any) {
	clean(reflect.ValueOf(v))
}

var byteSlice = reflect.TypeOf([]byte(nil))

func clean(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clean(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			clean(v.Field(i))
		}
	case reflect.Slice:
		if v.Type() == byteSlice {
			return // attachment bytes (a PDF) are not text
		}
		for i := 0; i < v.Len(); i++ {
			clean(v.Index(i))
		}
	case reflect.String:
		if v.CanSet() {
			if c := CleanText(v.String()); c != v.String() {
				v.SetString(c)
			}
		}
	}
}
