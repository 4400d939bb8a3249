package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// results are every figure of one run.
type results struct {
	date     time.Time
	logBuild time.Duration
	logBytes int64

	patient        string
	patientEntries int
	patientSources int
	longEntries    int

	sources []sourceLatency
	slowest sourceLatency
	cold    []time.Duration
	hang    []time.Duration

	warm200  loadResult
	warmLong loadResult

	longFetch longFetchResult

	groupCommit groupCommitResult
	ig          map[string][]time.Duration
	// accessList times the patient access list's first page, "heavy"
	// (heavyAccesses) and "few" (fewAccesses).
	accessList map[string][]time.Duration

	// pg are the PostgreSQL figures.
	pg pgResults

	rss, hwm, rssBefore int64
	heapInuse, sys      uint64
	startup             time.Duration
}

// row is one line of the table.
type row struct{ what, measured, target, met string }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func msf(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// thousands formats n with commas.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func (r results) rows(o options) []row {
	var rows []row
	if len(r.cold) > 0 && r.slowest.measured > 0 {
		page := percentile(r.cold, 50)
		ratio := float64(page) / float64(r.slowest.measured)
		rows = append(rows, row{
			"record page time ÷ slowest source's latency, 8 sources with latencies spread 50-400 ms, cold cache",
			fmt.Sprintf("%.2f (%s ÷ %s)", ratio, msf(page), msf(r.slowest.measured)), "≤ 1.10", yes(ratio <= 1.10)})
	}
	if len(r.hang) > 0 {
		page := percentile(r.hang, 50)
		ratio := float64(page) / float64(o.deadline)
		rows = append(rows, row{"record page time with one source hanging ÷ its deadline",
			fmt.Sprintf("%.3f (%s ÷ %s)", ratio, msf(page), msf(o.deadline)), "≤ 1.05", yes(ratio <= 1.05)})
	}
	if r.warm200.views > 0 {
		rate, p99 := r.warm200.perSecond(), r.warm200.pct(99)
		rows = append(rows, row{fmt.Sprintf("audited record views per second, warm cache, patient with %d entries, %d concurrent clinicians, each view writing its audit event durably",
			r.patientEntries, o.clinicians),
			fmt.Sprintf("%s /s, p99 %s", thousands(int(rate+0.5)), msf(p99)), "≥ 2,000 /s, p99 ≤ 50 ms",
			yes(rate >= 2000 && p99 <= 50*time.Millisecond)})
	}
	if r.warmLong.views > 0 {
		rate, p99 := r.warmLong.perSecond(), r.warmLong.pct(99)
		rows = append(rows, row{fmt.Sprintf("the same for the %s-entry patient (first page of the timeline)", thousands(r.longEntries)),
			fmt.Sprintf("p99 %s (%s /s)", msf(p99), thousands(int(rate+0.5))), "p99 ≤ 100 ms", yes(p99 <= 100*time.Millisecond)})
	}
	if lf := r.longFetch; len(lf.firstPaint) > 0 {
		paint := percentile(lf.firstPaint, 50)
		ratio := float64(paint) / float64(o.deadline)
		rows = append(rows, row{fmt.Sprintf("full fetch of a %s-resource patient at one source (%s per request, %d requests): time to first paint ÷ deadline",
			thousands(lf.resources), msf(longFetchLatency), lf.requests),
			fmt.Sprintf("%.3f (%s ÷ %s)", ratio, msf(paint), msf(o.deadline)), "≤ 1.05", yes(ratio <= 1.05)})
		done, direct := percentile(lf.complete, 50), percentile(lf.direct, 50)
		ratio = float64(done) / float64(direct)
		rows = append(rows, row{"the same fetch: time until the whole record is shown ÷ the source's own time for the same requests made directly",
			fmt.Sprintf("%.2f (%s ÷ %s)", ratio, msf(done), msf(direct)), "≤ 1.25", yes(ratio <= 1.25)})
	}
	if r.groupCommit.single > 0 {
		rows = append(rows, groupCommitRow("audit events committed per second with group commit ÷ one commit per event, both synchronous=FULL",
			r.groupCommit.grouped, r.groupCommit.single, "≥ 10"))
	}
	if len(r.ig) > 0 {
		rows = append(rows, igSearchRow("", r.ig, o.events))
	}
	if len(r.accessList) > 0 {
		h, f := percentile(r.accessList["heavy"], 50), percentile(r.accessList["few"], 50)
		ratio := float64(h) / float64(f)
		rows = append(rows, row{fmt.Sprintf("a patient's own access list, first page, for a patient with %s accesses ÷ one with %d, in the same log (p50)",
			thousands(heavyAccesses), fewAccesses),
			fmt.Sprintf("%.2f (%s ÷ %s)", ratio, msf(h), msf(f)), "≤ 2", yes(ratio <= 2)})
	}
	if r.rss > 0 {
		rows = append(rows, row{"resident memory of the server at the end of the load runs",
			fmt.Sprintf("%d MB (whole process; %d MB before the server started)", r.rss>>20, r.rssBefore>>20), "≤ 200 MB", yes(r.rss <= 200<<20)})
	}
	if r.startup > 0 {
		rows = append(rows, row{fmt.Sprintf("start-up to /readyz = 200 with a %s-event log", thousands(o.events)),
			msf(r.startup), "≤ 1 s", yes(r.startup <= time.Second)})
	}
	return append(rows, r.pg.rows(o, r.patientEntries)...)
}

// rows are the PostgreSQL lines of the table: a ratio to the SQLite node
// measured beside it where the issue asks for one.
func (r pgResults) rows(o options, entries int) []row {
	if r.skipped != "" {
		return []row{{"PostgreSQL figures (below)", "skipped: " + r.skipped, "-", "-"}}
	}
	var rows []row
	if sq := r.sqlite.perSecond(); r.sqlite.views > 0 && r.one.views > 0 && r.two.views > 0 {
		for _, l := range []struct {
			what string
			r    loadResult
		}{
			{"1 node", r.one},
			{"2 nodes (two web servers, each with its own store.Open on the database, each clinician's requests sent to them in turn)", r.two},
		} {
			rate := l.r.perSecond()
			rows = append(rows, row{fmt.Sprintf("PostgreSQL: audited record views per second with %s on one PostgreSQL ÷ one SQLite node measured alternately in the same run "+
				"(patient with %d entries, %d concurrent clinicians, warm cache, fsync and synchronous_commit on)", l.what, entries, o.clinicians),
				fmt.Sprintf("%.2f (%s ÷ %s /s; p99 %s against %s)", rate/sq, thousands(int(rate+0.5)), thousands(int(sq+0.5)), msf(l.r.pct(99)), msf(r.sqlite.pct(99))),
				"the figure (issue 13)", "-"})
		}
	}
	if r.groupCommit.single > 0 {
		rows = append(rows, groupCommitRow("PostgreSQL: audit events committed per second with group commit ÷ one commit per event, both with fsync and synchronous_commit on",
			r.groupCommit.grouped, r.groupCommit.single, "≥ 10 (as on SQLite)"))
	}
	if len(r.ig) > 0 {
		rows = append(rows, igSearchRow("PostgreSQL: ", r.ig, o.events))
	}
	if r.startup > 0 {
		rows = append(rows, row{fmt.Sprintf("PostgreSQL: start-up to /readyz = 200 with a %s-event log", thousands(o.events)),
			msf(r.startup), "≤ 1 s", yes(r.startup <= time.Second)})
	}
	return rows
}

// details are the figures behind the PostgreSQL lines.
func (r pgResults) details(o options, patient string) string {
	var b strings.Builder
	if r.skipped != "" {
		fmt.Fprintf(&b, "PostgreSQL: skipped: %s.\n", r.skipped)
		return b.String()
	}
	fmt.Fprintf(&b, "PostgreSQL: %s. Audit log: the same %s events copied from the SQLite file with COPY in %s, VACUUM ANALYZE and a checkpoint included (database %d MB).\n",
		r.settings, thousands(o.events), r.copyTime.Round(time.Second), r.logBytes>>20)
	for _, l := range []struct {
		name, conn string // conn: what was waited for, with its verb
		r          loadResult
	}{
		{"one SQLite node", "the writer connection was", r.sqlite},
		{"one node on PostgreSQL", "the node's connection pool was", r.one},
		{"two nodes on PostgreSQL", "the nodes' connection pools were", r.two},
	} {
		if l.r.views == 0 {
			continue
		}
		fmt.Fprintf(&b, "Load warm, %s, %s: %s views in %s, %.0f /s; p50 %s, p90 %s, p99 %s, max %s; "+
			"this process used %.0f%% of the %d CPUs (PostgreSQL's own processes not counted; load averages as its runs began: %s); %s waited for %s times, %s in all.\n",
			patient, l.name, thousands(l.r.views), l.r.elapsed.Round(time.Millisecond), l.r.perSecond(),
			msf(l.r.pct(50)), msf(l.r.pct(90)), msf(l.r.pct(99)), msf(l.r.pct(100)),
			100*l.r.cpuShare, nproc(), l.r.loadAvg, l.conn, thousands(int(l.r.writeWaits)), l.r.writeWait.Round(time.Millisecond))
		if l.r.pgCommits > 0 {
			fmt.Fprintf(&b, "Per view: %.1f transactions committed in the database (each statement outside a transaction counting as one), %.2f WAL flushes to disk.\n",
				float64(l.r.pgCommits)/float64(l.r.views), float64(l.r.pgSyncs)/float64(l.r.views))
		}
	}
	if len(r.ig) > 0 {
		b.WriteString("IG searches on PostgreSQL (over HTTP, each itself audited): ")
		var parts []string
		for _, k := range []string{"user", "patient", "day"} {
			parts = append(parts, fmt.Sprintf("by %s p50 %s, p95 %s, max %s", k, msf(percentile(r.ig[k], 50)), msf(percentile(r.ig[k], 95)), msf(percentile(r.ig[k], 100))))
		}
		b.WriteString(strings.Join(parts, "; ") + ".\n")
	}
	return b.String()
}

// markdownTable renders the rows.
func markdownTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| what | measured | target | met? |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.what, r.measured, r.target, r.met)
	}
	return b.String()
}

// details are the figures behind the table.
func (r results) details(o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Audit log: %s events built in %s (%d MB file). ", thousands(o.events), r.logBuild.Round(time.Second), r.logBytes>>20)
	fmt.Fprintf(&b, "Patient for the page and load runs: %s, %d entries at %d of 8 sources; long history %s, %s entries.\n\n",
		r.patient, r.patientEntries, r.patientSources, longHistory, thousands(r.longEntries))
	b.WriteString("| source | entries | target | added per request | round trips | record fetch, measured straight from the source |\n| --- | --- | --- | --- | --- | --- |\n")
	var serial time.Duration
	for _, s := range r.sources {
		serial += s.measured
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.1f | %s |\n", s.ods, s.entries, msf(s.target), msf(s.perRequest), s.requests, msf(s.measured))
	}
	if r.slowest.measured > 0 {
		fmt.Fprintf(&b, "\nAsked one after another the sources would take %s, %.1f times the slowest.\n", msf(serial), float64(serial)/float64(r.slowest.measured))
	}
	durs := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, msf(d))
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(&b, "Cold pages: %s. Pages with one source hanging: %s.\n", durs(r.cold), durs(r.hang))
	if lf := r.longFetch; len(lf.firstPaint) > 0 {
		fmt.Fprintf(&b, "Long fetch (%s resources and %d medicines they include, %d requests; the page showed %s entries and counted %d resources unreadable): "+
			"first paint %s; whole record shown %s; the same requests straight to the source %s.\n", thousands(lf.resources), lf.included, lf.requests,
			thousands(lf.shown), lf.unreadable, durs(lf.firstPaint), durs(lf.complete), durs(lf.direct))
	}
	b.WriteString("\n")
	for _, l := range []struct {
		name string
		r    loadResult
	}{{"warm, " + r.patient, r.warm200}, {"warm, " + longHistory, r.warmLong}} {
		if l.r.views == 0 {
			continue
		}
		fmt.Fprintf(&b, "Load %s: %s views in %s, %.0f /s; p50 %s, p90 %s, p99 %s, max %s; %d KB per page; "+
			"this process used %.0f%% of the %d CPUs (load average %s as it began); the writer connection was waited for %s times, %s in all (%s per view).\n",
			l.name, thousands(l.r.views), l.r.elapsed.Round(time.Millisecond), l.r.perSecond(),
			msf(l.r.pct(50)), msf(l.r.pct(90)), msf(l.r.pct(99)), msf(l.r.pct(100)), l.r.bytes/int64(l.r.views)>>10,
			100*l.r.cpuShare, nproc(), l.r.loadAvg, thousands(int(l.r.writeWaits)), l.r.writeWait.Round(time.Millisecond),
			msf(l.r.writeWait/time.Duration(l.r.views)))
	}
	if len(r.ig) > 0 {
		b.WriteString("\nIG searches (over HTTP, each itself audited): ")
		var parts []string
		for _, k := range []string{"user", "patient", "day"} {
			parts = append(parts, fmt.Sprintf("by %s p50 %s, p95 %s, max %s", k, msf(percentile(r.ig[k], 50)), msf(percentile(r.ig[k], 95)), msf(percentile(r.ig[k], 100))))
		}
		b.WriteString(strings.Join(parts, "; ") + ".\n")
	}
	fmt.Fprintf(&b, "Memory: VmRSS %d MB, VmHWM %d MB, Go heap in use %d MB, Go runtime total %d MB.\n",
		r.rss>>20, r.hwm>>20, r.heapInuse>>20, r.sys>>20)
	b.WriteString("\n" + r.pg.details(o, r.patient))
	return b.String()
}

const (
	beginMark = "<!-- carerecord-bench: begin (generated; edit outside these marks) -->"
	endMark   = "<!-- carerecord-bench: end -->"
)

// writeReport puts the run's table, method and machine between the marks
// in path, leaving the rest of the file (the analysis) as it is.
func writeReport(path string, o options, m machine, r results, table string) error {
	var b strings.Builder
	b.WriteString(beginMark + "\n")
	mode := "full run"
	if o.quick {
		mode = "quick run (-quick)"
	}
	fmt.Fprintf(&b, "Last run: %s, %s: `%s`.\n\n", r.date.UTC().Format("2006-01-02 15:04 MST"), mode, strings.Join(append([]string{"carerecord-bench"}, os.Args[1:]...), " "))
	fmt.Fprintf(&b, "Machine: %d CPUs (`nproc`), %s, %s RAM, Linux %s, %s; 4 KB write+fsync in the data directory p50 %s, p99 %s; load average %s as the run began.\n\n",
		m.nproc, m.cpu, m.memTotal, m.kernel, m.goVersion, msf(m.fsync50), msf(m.fsync99), m.loadAvg)
	b.WriteString(table)
	b.WriteString("\n")
	b.WriteString(r.details(o))
	b.WriteString(endMark + "\n")
	block := b.String()

	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		old = []byte("# Performance\n\n" + beginMark + "\n" + endMark + "\n")
	} else if err != nil {
		return err
	}
	i, j := bytes.Index(old, []byte(beginMark)), bytes.Index(old, []byte(endMark))
	var out []byte
	if i < 0 || j < i {
		out = append(append(old, '\n'), block...)
	} else {
		end := j + len(endMark)
		if end < len(old) && old[end] == '\n' {
			end++
		}
		out = append(append(append([]byte{}, old[:i]...), block...), old[end:]...)
	}
	return os.WriteFile(path, out, 0o644)
}

// readRSS returns this process's resident set (VmRSS) in bytes.
func readRSS() int64 { return procStatus("VmRSS") }

// readHWM returns the peak resident set (VmHWM) in bytes.
func readHWM() int64 { return procStatus("VmHWM") }

func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func nproc() int        { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }

// groupCommitRow is the group-commit figure of one engine: grouped ÷
// single events per second, against the target of 10.
func groupCommitRow(what string, grouped, single float64, target string) row {
	ratio := grouped / single
	return row{what, fmt.Sprintf("%.1f (%s ÷ %s /s)", ratio, thousands(int(grouped)), thousands(int(single))), target, yes(ratio >= 10)}
}

// igSearchRow is the IG search figure of one engine (its name as the
// prefix): the p95 of each kind of search, against 100 ms.
func igSearchRow(engine string, ig map[string][]time.Duration, events int) row {
	var parts []string
	worst := time.Duration(0)
	for _, k := range []string{"user", "patient", "day"} {
		p := percentile(ig[k], 95)
		worst = max(worst, p)
		parts = append(parts, fmt.Sprintf("%s %s", k, msf(p)))
	}
	return row{fmt.Sprintf("%sIG audit search on a log of %s events (by user, by patient, by day), p95", engine, thousands(events)),
		strings.Join(parts, ", "), "≤ 100 ms", yes(worst <= 100*time.Millisecond)}
}
