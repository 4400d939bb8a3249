// Command carerecord-bench measures carerecord against its performance
// targets and writes the results to docs/performance.md.
//
// It starts the whole product in this process (the store with an encrypted
// cache, the FHIR connectors, the fan-out, the development IdP and the web
// server) on 127.0.0.1, with synthetic Trusts and GP practices on loopback
// whose latency it sets, and drives it over real HTTP: clinicians sign in
// through the IdP with cookie jars of their own, give a reason for access,
// and open records. It is a program, not a test, so that a busy machine
// can never fail the test suite. It sends traffic to loopback only and
// bounds every loop in count and time.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/carerecord/carerecord/web/devidp"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "carerecord-bench:", err)
		os.Exit(1)
	}
}

// options are the driver's flags.
type options struct {
	quick      bool
	events     int
	duration   time.Duration
	warmup     time.Duration
	clinicians int
	reps       int
	queries    int
	deadline   time.Duration
	out        string
	profile    string
	genAudit   string // internal: build the audit log at this path and exit
	genStart   int64  // internal: the run's clock, unix ms
	postgres   bool
	genPG      string // internal: copy the audit log of genPGFrom into this PostgreSQL database and exit
	genPGFrom  string
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("carerecord-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "a run of about a minute: 1 million audit events, shorter load runs")
	fs.IntVar(&o.events, "events", 0, "audit events in the synthetic log (default 10,000,000; 1,000,000 with -quick)")
	fs.DurationVar(&o.duration, "duration", 0, "length of each measured load run (default 30s; 8s with -quick)")
	fs.DurationVar(&o.warmup, "warmup", 0, "unmeasured load before each run (default 3s; 1s with -quick)")
	fs.IntVar(&o.clinicians, "clinicians", 64, "concurrent signed-in clinicians in the load runs")
	fs.IntVar(&o.reps, "reps", 0, "repetitions of each single-page timing (default 7; 3 with -quick)")
	fs.IntVar(&o.queries, "queries", 0, "IG searches of each kind (default 200; 60 with -quick)")
	fs.DurationVar(&o.deadline, "deadline", 1500*time.Millisecond, "how long a record page waits for each source")
	fs.StringVar(&o.out, "out", "docs/performance.md", "file to write the results into (\"\" for none)")
	fs.StringVar(&o.profile, "profile", "", "directory for CPU and heap profiles of the load runs (none if empty)")
	fs.StringVar(&o.genAudit, "gen-audit", "", "internal: build the synthetic audit log at this path and exit")
	fs.Int64Var(&o.genStart, "gen-start", 0, "internal: the run's clock for -gen-audit, unix milliseconds")
	fs.BoolVar(&o.postgres, "postgres", true, "measure on PostgreSQL too, when its binaries are installed (the driver starts a server of its own)")
	fs.StringVar(&o.genPG, "gen-pg", "", "internal: copy the audit log of -gen-pg-from into this PostgreSQL database and exit")
	fs.StringVar(&o.genPGFrom, "gen-pg-from", "", "internal: the SQLite file -gen-pg copies from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = map[bool]int{false: full, true: quick}[o.quick]
		}
	}
	defD := func(v *time.Duration, full, quick time.Duration) {
		if *v <= 0 {
			*v = map[bool]time.Duration{false: full, true: quick}[o.quick]
		}
	}
	def(&o.events, 10_000_000, 1_000_000)
	def(&o.reps, 7, 3)
	def(&o.queries, 200, 60)
	defD(&o.duration, 30*time.Second, 8*time.Second)
	defD(&o.warmup, 3*time.Second, time.Second)
	if o.clinicians < 1 || o.clinicians > 1000 {
		return errors.New("-clinicians must be between 1 and 1000")
	}
	if o.genAudit != "" {
		return generateAuditLog(o.genAudit, o.events, time.UnixMilli(o.genStart))
	}
	if o.genPG != "" {
		say := func(format string, args ...any) {
			fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
		return copyAuditLog(context.Background(), say, o.genPGFrom, o.genPG)
	}
	b := &bench{o: o, out: stdout, log: slog.New(slog.NewJSONHandler(io.Discard, nil)), now: time.Now()}
	return b.run()
}

// bench is one run of every measurement.
type bench struct {
	o   options
	out io.Writer
	// log receives the product's logs. They are formatted, as in
	// production, and then discarded.
	log *slog.Logger
	now time.Time
	dir string

	machine     machine
	res         results
	rssBefore   int64
	writerStats func() sql.DBStats
	// pgCounters, set during the PostgreSQL load runs, reads the server's
	// counters.
	pgCounters func() pgCounters

	// The PostgreSQL server and the database holding the big log (nil and
	// empty when PostgreSQL is not measured).
	pg      *pgServer
	pgLog   string
	cleanMu sync.Mutex // held while pg is set, against an interruption
	// What every product of the run shares: the keys a server loads from
	// files and the bench users.
	sp, idpKeys keyPair
	users       []devidp.User
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) run() error {
	var err error
	if b.dir, err = os.MkdirTemp("", "carerecord-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	// Interrupted (make's Ctrl-C), the run still removes its data: the
	// logs and PostgreSQL's directory take gigabytes.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		s := <-sig
		b.say("%s: removing the run's data", s)
		b.cleanMu.Lock()
		if b.pg != nil {
			_ = b.pg.close()
		}
		os.RemoveAll(b.dir)
		os.Exit(1)
	}()
	b.machine = describeMachine()
	b.machine.fsync50, b.machine.fsync99 = probeFsync(b.dir)
	b.machine.loadAvg = loadAverage()
	b.say("carerecord-bench on %s, %d CPUs, %s; fsync p50 %s p99 %s; load average %s; data in %s", b.machine.cpu, b.machine.nproc,
		b.machine.goVersion, b.machine.fsync50, b.machine.fsync99, b.machine.loadAvg, b.dir)

	// The log first, in a child process, so that neither its memory nor
	// its work is charged to the server.
	logPath := filepath.Join(b.dir, "carerecord.db")
	b.say("building an audit log of %d events (child process)", b.o.events)
	began := time.Now()
	if err := b.buildLog(logPath); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	b.res.logBuild = time.Since(began)
	if fi, err := os.Stat(logPath); err == nil {
		b.res.logBytes = fi.Size()
	}
	b.say("audit log built in %s (%d MB)", b.res.logBuild.Round(time.Second), b.res.logBytes>>20)

	if err := b.preparePostgres(logPath); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	if b.pg != nil {
		defer func() {
			if err := b.pg.close(); err != nil {
				b.say("PostgreSQL: stop: %v", err)
			}
		}()
	}

	if err := b.runProduct(logPath); err != nil {
		return err
	}

	b.say("long fetch: %d resources at one source, %s per request, %d times (deadline %s)",
		longFetchResources, longFetchLatency, b.o.reps, b.o.deadline)
	if err := b.measureLongFetch(); err != nil {
		return fmt.Errorf("long fetch: %w", err)
	}
	lf := b.res.longFetch
	b.say("long fetch: first paint median %s, complete %s, the same requests straight to the source %s",
		percentile(lf.firstPaint, 50).Round(time.Millisecond), percentile(lf.complete, 50).Round(time.Millisecond),
		percentile(lf.direct, 50).Round(time.Millisecond))

	b.say("group commit: %d callers, %s each way", b.o.clinicians, b.groupCommitDuration())
	gc, err := measureGroupCommit(b.sqliteOpener(), b.o.profile, "", b.o.clinicians, b.groupCommitDuration())
	if err != nil {
		return fmt.Errorf("group commit: %w", err)
	}
	b.res.groupCommit = gc
	b.say("group commit %.0f events/s, one commit per event %.0f events/s", gc.grouped, gc.single)

	if b.pg != nil {
		b.say("group commit on PostgreSQL: %d callers, %s each way", b.o.clinicians, b.groupCommitDuration())
		gc, err := measureGroupCommit(b.pgOpener(), b.o.profile, "pg-", b.o.clinicians, b.groupCommitDuration())
		if err != nil {
			return fmt.Errorf("group commit on PostgreSQL: %w", err)
		}
		b.res.pg.groupCommit = gc
		b.say("PostgreSQL: group commit %.0f events/s, one commit per event %.0f events/s", gc.grouped, gc.single)
	}

	b.res.date = time.Now()
	table := markdownTable(b.res.rows(b.o))
	fmt.Fprintln(b.out)
	fmt.Fprint(b.out, table)
	if b.o.out != "" {
		if err := writeReport(b.o.out, b.o, b.machine, b.res, table); err != nil {
			return fmt.Errorf("write %s: %w", b.o.out, err)
		}
		b.say("wrote %s", b.o.out)
	}
	return nil
}

func (b *bench) groupCommitDuration() time.Duration { return max(b.o.duration/4, 2*time.Second) }

// buildLog runs this program again with -gen-audit.
func (b *bench) buildLog(path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-gen-audit", path, "-events", strconv.Itoa(b.o.events),
		"-gen-start", strconv.FormatInt(b.now.UnixMilli(), 10))
	cmd.Stdout, cmd.Stderr = b.out, os.Stderr
	return cmd.Run()
}

// randomKey returns n random bytes.
func randomKey(n int) []byte {
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// machine is what the results were measured on.
type machine struct {
	nproc     int
	cpu       string
	goVersion string
	kernel    string
	memTotal  string
	// fsync50 and fsync99 time a 4 KB write and fsync in the data
	// directory: what one durable commit costs at least.
	fsync50, fsync99 time.Duration
	loadAvg          string // at the start of the run
}

// probeFsync times 200 appends of 4 KB, each followed by fsync.
func probeFsync(dir string) (p50, p99 time.Duration) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var ts []time.Duration
	for range 200 {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, 0
		}
		if err := f.Sync(); err != nil {
			return 0, 0
		}
		ts = append(ts, time.Since(t0))
	}
	return percentile(ts, 50).Round(time.Microsecond), percentile(ts, 99).Round(time.Microsecond)
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func describeMachine() machine {
	m := machine{nproc: nproc(), cpu: "unknown", goVersion: goVersion()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
					m.memTotal = fmt.Sprintf("%.1f GB", float64(kb)/(1<<20))
				}
				break
			}
		}
	}
	return m
}
