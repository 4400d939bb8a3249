package store

import (
	"context"
	"fmt"
	"time"
)

// IGNumbers are the figures on the IG home page.
type IGNumbers struct {
	OpenAlertsByKind map[string]int
	AccessesToday    int // record and document views since midnight (London)
	BreakGlassWeek   int // break-glass uses in the last seven days
}

// IGNumbers counts what the IG home shows. since is the start of the
// local day; week the start of the seven-day window. Both counts read
// only recent rows through the time index, however long the log.
func (db *DB) IGNumbers(ctx context.Context, since, week time.Time) (IGNumbers, error) {
	n := IGNumbers{OpenAlertsByKind: map[string]int{}}
	rows, err := db.read.QueryContext(ctx, `SELECT kind, COUNT(*) FROM audit_alerts WHERE status = 'open' GROUP BY kind`)
	if err != nil {
		return n, fmt.Errorf("store: IG numbers: %w", err)
	}
	for rows.Next() {
		var kind string
		var c int
		if err := rows.Scan(&kind, &c); err != nil {
			rows.Close()
			return n, fmt.Errorf("store: IG numbers: %w", err)
		}
		n.OpenAlertsByKind[kind] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("store: IG numbers: %w", err)
	}
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE time >= ? AND action IN (?, ?)`,
		ms(since), string(ActRecordOpen), string(ActDocumentOpen)).Scan(&n.AccessesToday); err != nil {
		return n, fmt.Errorf("store: IG numbers: %w", err)
	}
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE time >= ? AND action = ?`,
		ms(week), string(ActBreakGlass)).Scan(&n.BreakGlassWeek); err != nil {
		return n, fmt.Errorf("store: IG numbers: %w", err)
	}
	return n, nil
}
