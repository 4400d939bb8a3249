package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/carerecord/carerecord/store"
)

// TestAlertsAcrossNodes: a user whose requests go to the nodes in turn (a
// round-robin proxy) raises exactly the alerts one node would: the
// windowed rules count the events every node wrote, and an alert one node
// raised is not raised again by another. Two nodes share a log only on
// PostgreSQL; on SQLite the one-node case runs alone.
func TestAlertsAcrossNodes(t *testing.T) {
	user := store.AuditEvent{UserID: "555000222", UserName: "Dr Sam JONES", RoleCode: "R8000", ODS: "RX1", Outcome: store.OutcomeAllowed}
	rules := store.WithAlertRules(store.AlertRules{ManyPatients: 3, ManyPatientsWindow: time.Hour, Refusals: 3,
		RefusalWindow: 10 * time.Minute, Off: map[string]bool{store.AlertOutOfHours: true}})
	want := []string{
		store.AlertManyPatients + " ",
		store.AlertRepeatedRefusals + " ",
		store.AlertSameFamilyName + " " + nhsFor(20),
		store.AlertSameFamilyName + " " + nhsFor(21),
	}
	for _, tc := range []struct {
		name  string
		nodes int
	}{
		{"OneNode", 1},
		{"TwoNodesInTurn", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nodes > 1 {
				postgresOnly(t)
			}
			clock := newAuditClock()
			dsn := testDB(t)
			var nodes []*store.DB
			for range tc.nodes {
				nodes = append(nodes, MustOpenDBAt(t, dsn, store.WithClock(clock.Now), rules))
			}
			next := 0
			act := func(f func(*store.AuditEvent)) {
				e := user
				f(&e)
				mustAudit(t, nodes[next%len(nodes)], e)
				next++
				clock.Add(time.Second)
			}
			open := func(i int, family string) {
				act(func(e *store.AuditEvent) {
					e.Action, e.NHSNumber, e.PatientFamilyName = store.ActRecordOpen, nhsFor(i), family
				})
			}
			// Three patients, each opened twice: at the threshold, on
			// whichever node; then a fourth crosses it, and a fifth in the
			// same burst is not raised again.
			for i := range 3 {
				open(i, "Brown")
				open(i, "Brown")
			}
			if n := len(alertKinds(t, nodes[0], "")); n != 0 {
				t.Fatalf("%d alerts at the threshold", n)
			}
			open(3, "Brown")
			open(4, "Brown")
			// A patient sharing the user's family name, opened on each
			// node in turn within the repeat window: raised once; another
			// such patient raises its own.
			for range 3 {
				open(20, "Jones")
			}
			open(21, "JONES")
			open(21, "jones")
			// Refusals split across the nodes reach the threshold once.
			for range 4 {
				act(func(e *store.AuditEvent) {
					e.Action, e.NHSNumber, e.Outcome = store.ActRecordOpen, nhsFor(30), store.OutcomeRefused
				})
			}
			for i, db := range nodes {
				as, err := db.Alerts(context.Background(), "", 500)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range as {
					nhs := a.NHSNumber
					if a.Kind == store.AlertManyPatients || a.Kind == store.AlertRepeatedRefusals {
						nhs = ""
					}
					got = append(got, a.Kind+" "+nhs)
				}
				slices.Sort(got)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("alerts seen from node %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}
