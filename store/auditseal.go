package store

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Patient search terms (family name, given name, date of birth, postcode)
// and the free text of a break-glass or objection-override reason are
// personal data the log needs to keep but a copy of the database file
// must not reveal. They are sealed in audit_events.detail with the record
// cache's machinery (AES-256-GCM under the cache key, cache.go), bound to
// the event's seq and action, and opened again for the privacy officers'
// pages and exports.
//
// The chain hashes the detail as stored, sealed: verifying the log needs
// the audit key only, and a sealed value cannot be altered without the
// cache key (GCM) nor swapped for another without breaking the chain.
// Rows written before sealing keep their clear detail and read as before.
// Without a cache key (no sources configured, so no search and no record
// to break the glass for) details are stored clear.

// sealedDetailPrefix starts a sealed detail: base64 of format || nonce ||
// ciphertext follows.
const sealedDetailPrefix = "sealed:v1:"

// auditFormatText is the format byte of a sealed detail.
const auditFormatText byte = 3

// sealsDetail reports whether ev's detail is personal data to seal.
func sealsDetail(ev *AuditEvent) bool {
	switch ev.Action {
	case ActSearch, ActBreakGlass, ActObjectionOverride:
		return true
	}
	// An opening under a break-glass grant carries its reason too.
	return ev.Reason == "break-glass" || strings.HasPrefix(ev.Detail, sealedDetailPrefix)
}

func auditDetailAD(seq int64, action Action) []byte {
	return []byte("carerecord audit detail v1\x00" + strconv.FormatInt(seq, 10) + "\x00" + string(action))
}

// storedDetail returns ev's detail as it is to be stored: sealed when it
// is personal data and a cache key is configured. ev.Seq must be set.
func (db *DB) storedDetail(ev *AuditEvent) (string, error) {
	if !sealsDetail(ev) {
		return ev.Detail, nil
	}
	return db.sealText(ev.Detail, auditDetailAD(ev.Seq, ev.Action))
}

// openDetail replaces a sealed detail with its clear text, for the IG
// pages and exports.
func (db *DB) openDetail(ev *AuditEvent) {
	ev.Detail = db.openText(ev.Detail, auditDetailAD(ev.Seq, ev.Action))
}

// alertWhyAD binds an alert's sealed why to its event and kind (an alert
// is unique by the two).
func alertWhyAD(seq int64, kind string) []byte {
	return []byte("carerecord audit alert why v1\x00" + strconv.FormatInt(seq, 10) + "\x00" + kind)
}

// sealText seals s for a text column of the audit tables, or returns it
// as it is when it is empty or no cache key is configured.
func (db *DB) sealText(s string, ad []byte) (string, error) {
	if s == "" || db.cache == nil {
		return s, nil
	}
	b, err := db.cache.seal(auditFormatText, []byte(s), ad)
	if err != nil {
		return "", err
	}
	return sealedDetailPrefix + base64.RawStdEncoding.EncodeToString(b), nil
}

// Shown in place of a sealed text that cannot be opened.
const (
	detailSealedNoKey = "(sealed: no cache key is configured to open it)"
	detailSealedBad   = "(sealed: cannot be opened with this cache key, or altered)"
)

// openText reverses sealText; a text that is not sealed is returned as it
// is, and one that cannot be opened is replaced by a note saying so.
func (db *DB) openText(v string, ad []byte) string {
	s, ok := strings.CutPrefix(v, sealedDetailPrefix)
	if !ok {
		return v
	}
	if db.cache == nil {
		return detailSealedNoKey
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		// A clear text that happens to start like a sealed one.
		return v
	}
	pt, _, err := db.cache.open(b, func(byte) []byte { return ad })
	if err != nil {
		return detailSealedBad
	}
	return string(pt)
}
