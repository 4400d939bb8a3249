package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
)

// splitEntries cuts a search Bundle into its envelope (with an empty entry
// array) and the raw bytes of each entry. encoding/json refuses a whole
// document when any part of it is nested deeper than it allows, so one
// pathological resource would otherwise fail a page of good ones; split,
// each entry is decoded on its own and the bad one is skipped and counted.
// The scan tracks only strings and nesting; the pieces are then decoded by
// encoding/json, which checks them properly.
func splitEntries(body []byte) (envelope []byte, entries [][]byte, err error) {
	depth := 0
	inString, escaped := false, false
	keyStart := -1
	var lastKey []byte
	arrayStart := -1 // index of the '[' of the top-level "entry" array
	elemStart := -1
	for i := 0; i < len(body); i++ {
		ch := body[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
				if depth == 1 && keyStart >= 0 {
					lastKey = body[keyStart:i]
				}
			}
			continue
		}
		switch ch {
		case '"':
			inString = true
			keyStart = -1
			if depth == 1 && arrayStart < 0 {
				keyStart = i + 1
			}
		case '{', '[':
			if ch == '[' && depth == 1 && arrayStart < 0 && bytes.Equal(lastKey, []byte("entry")) {
				arrayStart = i
				depth++
				elemStart = -1
				continue
			}
			if arrayStart >= 0 && depth == 2 && elemStart < 0 {
				elemStart = i
			}
			depth++
		case '}', ']':
			depth--
			if arrayStart >= 0 && depth == 2 && elemStart >= 0 {
				entries = append(entries, body[elemStart:i+1])
				elemStart = -1
			}
			if arrayStart >= 0 && depth == 1 && ch == ']' {
				env := append(append(append([]byte{}, body[:arrayStart]...), '[', ']'), body[i+1:]...)
				return env, entries, nil
			}
		}
		if depth < 0 {
			return nil, nil, errors.New("unbalanced JSON")
		}
	}
	if arrayStart >= 0 {
		return nil, nil, errors.New("unterminated entry array")
	}
	return body, nil, nil
}

// decodeBundle decodes a search page, falling back to decoding entry by
// entry when the page as a whole cannot be decoded. unreadable counts the
// entries that could not be decoded at all.
func decodeBundle(body []byte) (b bundle, unreadable int, err error) {
	err = json.Unmarshal(body, &b)
	if err == nil {
		return b, 0, nil
	}
	env, entries, serr := splitEntries(body)
	if serr != nil || len(entries) == 0 {
		return b, 0, err
	}
	b = bundle{}
	if json.Unmarshal(env, &b) != nil {
		return b, 0, err
	}
	for _, raw := range entries {
		var e entry
		if json.Unmarshal(raw, &e) != nil {
			unreadable++
			continue
		}
		b.Entry = append(b.Entry, e)
	}
	return b, unreadable, nil
}
