package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

func TestFindStaffByName(t *testing.T) {
	clock := &auditClock{t: time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)}
	db := MustOpenDB(t, store.WithClock(clock.Now))
	signIn := func(id, name string) {
		clock.Add(time.Minute)
		mustAudit(t, db, store.AuditEvent{Action: store.ActSignIn, UserID: id, UserName: name})
	}
	signIn("555000000001", "Dr Amara Okafor")
	signIn("555000000009", "Mr Tunde Okafor")
	signIn("555000000002", "Ciaran Doyle")
	signIn("555000000001", "Dr Amara Okafor") // signs in again: one match, latest time
	latest := clock.Now()
	// A record opening under a name is not a sign-in: the search reads sign-ins only.
	mustAudit(t, db, store.AuditEvent{Action: store.ActRecordOpen, UserID: "555000000077", UserName: "Okafor Impostor", NHSNumber: auditPatients[0]})
	// A name holding LIKE's own characters matches them literally.
	signIn("555000000010", "Sam 100%_Sure")

	tests := []struct {
		name, part string
		want       []string
	}{
		{"any case, most recent sign-in first", "OKAFOR", []string{"555000000001", "555000000009"}},
		{"part of a given name", "amar", []string{"555000000001"}},
		{"no one", "Nobody", nil},
		{"blank asks nothing", "  ", nil},
		{"percent is literal", "100%", []string{"555000000010"}},
		{"underscore is literal", "%_S", []string{"555000000010"}},
		{"percent alone matches no other name", "%", []string{"555000000010"}},
		{"underscore is not any one letter", "okaf_r", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.FindStaffByName(context.Background(), tt.part, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range got {
				ids = append(ids, m.UserID)
			}
			if len(ids) != len(tt.want) {
				t.Fatalf("matches %v, want %v", ids, tt.want)
			}
			for i := range ids {
				if ids[i] != tt.want[i] {
					t.Fatalf("matches %v, want %v", ids, tt.want)
				}
			}
		})
	}
	got, err := db.FindStaffByName(context.Background(), "okafor", 1)
	if err != nil || len(got) != 1 || got[0].UserName != "Dr Amara Okafor" || !got[0].LastSignIn.Equal(latest) {
		t.Fatalf("limit 1: %+v, %v", got, err)
	}
}
