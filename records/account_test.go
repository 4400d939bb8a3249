package records_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// accountConn answers with a record that does not show everything the
// source holds, and fails once told to.
type accountConn struct {
	src  connectors.Source
	down atomic.Bool
}

func (c *accountConn) Source() connectors.Source { return c.src }

func (c *accountConn) FindPatients(context.Context, connectors.Query) ([]connectors.Patient, error) {
	return nil, nil
}

func (c *accountConn) FetchRecord(_ context.Context, nhs string) (*connectors.Record, error) {
	if c.down.Load() {
		return nil, &connectors.SourceError{Source: c.src, Kind: connectors.ErrUnavailable, Err: errors.New("down")}
	}
	rec := testRecord(c.src, nhs, 2, "")
	rec.PatientRecords = 2
	rec.Hidden = []connectors.Omission{{Kind: connectors.KindResult, Resource: "Observation/x", Reason: connectors.HideEnteredInError}}
	rec.Unreadable = []connectors.Omission{{Kind: connectors.KindAllergy, Reason: "no substance"}}
	rec.Gaps = []connectors.Gap{
		{Kind: connectors.KindMedication, Failed: true, Reason: "HTTP 500"},
		{Kind: connectors.KindResult, Truncated: true, Read: 120, Total: 150},
	}
	return rec, nil
}

// The page's account of what a source's record leaves out comes with the
// record, whether the record was fetched now or shown from the cache
// (from memory or from the database) because the source is down.
func TestSourceStatusCarriesTheAccount(t *testing.T) {
	check := func(t *testing.T, st records.SourceStatus) {
		t.Helper()
		if st.PatientRecords != 2 || len(st.Hidden) != 1 || len(st.Unreadable) != 1 || len(st.Gaps) != 2 {
			t.Fatalf("account %+v", st)
		}
		if st.Complete(connectors.KindAllergy) || st.Complete(connectors.KindMedication) || st.Complete(connectors.KindResult) {
			t.Fatal("a kind with a gap or an unreadable resource is called complete")
		}
		if !st.Complete(connectors.KindProblem) || !st.Incomplete() {
			t.Fatalf("complete(problem) %v, incomplete %v", st.Complete(connectors.KindProblem), st.Incomplete())
		}
		if !slices.Equal(st.Gaps, []connectors.Gap{
			{Kind: connectors.KindMedication, Failed: true, Reason: "HTTP 500"},
			{Kind: connectors.KindResult, Truncated: true, Read: 120, Total: 150},
		}) {
			t.Fatalf("gaps %+v", st.Gaps)
		}
	}
	for _, tc := range []struct {
		name   string
		memory int64
	}{{"MemoryCache", 0}, {"DatabaseCache", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &accountConn{src: connectors.Source{Name: "Trust RAA", ODS: "RAA"}}
			clock := newClock()
			db, err := store.Open(filepath.Join(t.TempDir(), "carerecord.db"), store.WithCacheKey(testKey), store.WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			r := records.NewRecords(db, []connectors.Connector{c}, records.RecordOptions{MemoryCacheBytes: tc.memory, Now: clock.Now,
				Logger: slog.New(slog.DiscardHandler)})
			t.Cleanup(r.Close)
			t.Run("Live", func(t *testing.T) {
				st := mustOpen(t, r, nhsA, false).Sources[0]
				if st.State != records.StateLive {
					t.Fatalf("state %s", st.State)
				}
				check(t, st)
				r.Settle(nhsA)
			})
			t.Run("FreshCache", func(t *testing.T) {
				st := mustOpen(t, r, nhsA, false).Sources[0]
				if st.State != records.StateCached {
					t.Fatalf("state %s", st.State)
				}
				check(t, st)
			})
			t.Run("CacheStandsInForAFailedSource", func(t *testing.T) {
				c.down.Store(true)
				clock.Add(time.Hour)
				st := mustOpen(t, r, nhsA, true).Sources[0]
				r.Settle(nhsA)
				if st.State != records.StateCached || st.Error == "" {
					t.Fatalf("state %s, error %q", st.State, st.Error)
				}
				check(t, st)
			})
		})
	}
}
