package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/records"
	"github.com/carerecord/carerecord/store"
)

// closer is a connector's client, closed at shutdown.
type closer interface{ Close() }

// buildRecords makes one connector per configured source (FHIR R4, or GP
// Connect with the consumer settings gpc) and the fan-out over them, with
// national (PDS) asked for who the patient is when not nil. It returns nil
// when no source is configured. With sourceDeadlines, a source's
// configured timeout is also how long a page waits for it; otherwise every
// source gets deadline.
func buildRecords(db *store.DB, cfgs []connectors.Config, national connectors.Demographics, gpc gpconnect.Settings, getenv func(string) string, fresh, maxAge, deadline time.Duration,
	sourceDeadlines bool, log *slog.Logger) (*records.Records, []closer, error) {
	if len(cfgs) == 0 {
		return nil, nil, nil
	}
	var conns []connectors.Connector
	var clients []closer
	perSource := map[string]time.Duration{}
	for i, cfg := range cfgs {
		var c interface {
			connectors.Connector
			closer
		}
		var err error
		switch cfg.Kind {
		case connectors.SourceKindGPConnect:
			c, err = gpconnect.New(cfg, gpc, getenv)
		default:
			c, err = fhir.New(cfg, getenv)
		}
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return nil, nil, fmt.Errorf("sources[%d]: %w", i, err)
		}
		conns = append(conns, c)
		clients = append(clients, c)
		if sourceDeadlines && cfg.Timeout > 0 {
			perSource[cfg.ODS] = cfg.Timeout
		}
	}
	r := records.NewRecords(db, conns, records.RecordOptions{
		Fresh: fresh, MaxAge: maxAge, Deadline: deadline, SourceDeadline: perSource, Logger: log, PDS: national,
	})
	return r, clients, nil
}

// gpPractices lists the configured sources that are GP practices, by ODS
// code (see connectors.Config.IsGPPractice).
func gpPractices(cfgs []connectors.Config) map[string]bool {
	out := map[string]bool{}
	for _, c := range cfgs {
		if c.IsGPPractice() {
			out[c.ODS] = true
		}
	}
	return out
}
