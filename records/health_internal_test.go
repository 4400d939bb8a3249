package records

import (
	"testing"
	"time"
)

// TestHealthWindows: a fetch counts in the last hour for an hour, in the
// last day for a day, and then not at all; each outcome in its own column.
func TestHealthWindows(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	var l healthLog
	l.note("RJZ", healthAnswer, t0)
	l.note("RJZ", healthTimeout, t0.Add(time.Minute))
	l.note("RJZ", healthError, t0.Add(2*time.Minute))
	l.note("RJ1", healthError, t0)
	for _, c := range []struct {
		name      string
		at        time.Time
		hour, day HealthCounts
	}{
		{"WithinTheHour", t0.Add(30 * time.Minute), HealthCounts{1, 1, 1}, HealthCounts{1, 1, 1}},
		{"AnHourOnOnlyTheDay", t0.Add(60 * time.Minute), HealthCounts{0, 1, 1}, HealthCounts{1, 1, 1}},
		{"AfterADayNothing", t0.Add(24*time.Hour + 3*time.Minute), HealthCounts{}, HealthCounts{}},
		{"BeforeTheFetchesNothing", t0.Add(-time.Minute), HealthCounts{}, HealthCounts{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hour, day := l.counts("RJZ", c.at)
			if hour != c.hour || day != c.day {
				t.Errorf("hour %+v day %+v, want %+v and %+v", hour, day, c.hour, c.day)
			}
		})
	}
	t.Run("MinuteReusedADayLater", func(t *testing.T) {
		later := t0.Add(24 * time.Hour)
		l.note("RJ1", healthAnswer, later)
		hour, day := l.counts("RJ1", later)
		if want := (HealthCounts{Answers: 1}); hour != want || day != want {
			t.Errorf("hour %+v day %+v, want only the new answer", hour, day)
		}
	})
	t.Run("UnknownSourceNothing", func(t *testing.T) {
		if hour, day := l.counts("RV5", t0); hour.Total()+day.Total() != 0 {
			t.Errorf("counts for a source never fetched")
		}
	})
}
