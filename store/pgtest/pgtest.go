// Package pgtest runs a real PostgreSQL server for tests: one server per
// test binary, started on first use in a temporary directory on a free
// loopback port, and one fresh database per test.
//
// A test package that uses it runs its tests through Main, so the server
// is stopped when they end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and a test asks for a database with DSN(t). When the PostgreSQL binaries
// are not installed, DSN skips the test with a message saying how to
// install them (.ci/run installs them, so CI never skips).
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// server runs as an unprivileged user (CARERECORD_PG_USER, default
// "nobody") that owns the temporary directory. The server keeps no data
// beyond the test binary: the directory is removed when Main returns.
//
// It must never be used outside tests and make bench's driver: the server
// trusts every local connection, and (unless started with
// Options.Durable, as the driver starts it) runs with fsync off.
package pgtest

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// AppRole is the role the per-test databases belong to and DSN connects
// as: not a superuser, as in production, so that privileges and triggers
// that guard the audit log apply to it.
const AppRole = "carerecord"

var (
	mainRunning atomic.Bool
	once        sync.Once
	shared      *Server
	sharedErr   error
	dbSeq       atomic.Int64
)

// Main runs the package's tests (m is a *testing.M, or something that
// runs it) and then stops the server if a test started it. It calls
// os.Exit with the tests' result.
func Main(m interface{ Run() int }) {
	mainRunning.Store(true)
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// Shared returns the test binary's server, starting it on first use. It
// skips tb when PostgreSQL is not installed and fails it when the server
// cannot start.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatal("pgtest: the package's TestMain must call pgtest.Main(m), which stops the server after the tests")
	}
	bin, err := BinDir()
	if err != nil {
		tb.Skipf("pgtest: PostgreSQL is not installed, so this test against a real PostgreSQL server is SKIPPED (%v). Install it with: apt-get install postgresql", err)
	}
	once.Do(func() { shared, sharedErr = Start(bin) })
	if sharedErr != nil {
		tb.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// DSN creates a new, empty database owned by AppRole on the shared server
// and returns a postgres:// URL that connects to it as AppRole. The
// database is dropped when the test ends.
func DSN(tb testing.TB) string {
	tb.Helper()
	s := Shared(tb)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := s.exec(context.Background(), `CREATE DATABASE `+name+` OWNER `+AppRole); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		// WITH (FORCE) ends connections a test left open.
		_ = s.exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return s.URL(AppRole, name)
}

// BinDir finds the PostgreSQL server binaries: $CARERECORD_PG_BIN, else
// the newest /usr/lib/postgresql/*/bin (Debian's layout), else initdb on
// the PATH.
func BinDir() (string, error) {
	if d := os.Getenv("CARERECORD_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("CARERECORD_PG_BIN=%s has no initdb", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on the PATH")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Server is a PostgreSQL server run by the tests.
type Server struct {
	bin  string
	dir  string // owns data/ and the socket
	port int
	cred *syscall.Credential
	opts Options

	mu    sync.Mutex
	proc  *exec.Cmd
	exit  chan struct{} // closed when proc has exited
	admin *sql.DB
}

// Options change how StartWith runs the server.
type Options struct {
	// Durable keeps PostgreSQL's durability settings at their defaults
	// (fsync, full_page_writes and synchronous_commit on), so that a
	// commit has reached the disk when it returns, for figures that must
	// hold for durable commits (make bench's). Tests leave it off: their
	// data is thrown away, and fsync only costs them time.
	Durable bool
	// Settings are more server settings, each "name=value" (passed to
	// postgres as -c name=value after pgtest's own).
	Settings []string
}

// Start initialises a cluster in a new temporary directory and starts it
// on a free loopback port, with fsync off (for tests).
func Start(bin string) (*Server, error) { return StartWith(bin, Options{}) }

// StartWith is Start with options: make bench's driver starts a durable
// server with it. The caller must Close the server.
func StartWith(bin string, o Options) (*Server, error) {
	s := &Server{bin: bin, opts: o}
	dir, err := os.MkdirTemp("", "carerecord-pg-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if os.Geteuid() == 0 {
		name := os.Getenv("CARERECORD_PG_USER")
		if name == "" {
			name = "nobody"
		}
		u, err := user.Lookup(name)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("PostgreSQL will not run as root and there is no user %q to run it as: %w", name, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// initdb as the unprivileged user, trusting local connections only
	// (the server listens on loopback and its socket directory is private).
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out, 5))
	}
	if err := s.startOnFreePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx := context.Background()
	s.admin, err = sql.Open("pgx", s.URL("postgres", "postgres"))
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.exec(ctx, `CREATE ROLE `+AppRole+` LOGIN`); err != nil {
		s.Close()
		return nil, fmt.Errorf("create role: %w", err)
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// startOnFreePort picks a free loopback port and starts there, trying
// again on another port if something else took it in between.
func (s *Server) startOnFreePort() error {
	var err error
	for range 5 {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		s.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if err = s.Restart(); err == nil {
			return nil
		}
	}
	return err
}

// Restart starts the server again after Stop, on the same port, with the
// same data. It returns once the server accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("pgtest: server already running")
	}
	args := []string{"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "max_connections=200",
		"-c", "log_min_messages=warning"}
	if !s.opts.Durable {
		// Test data is thrown away: durability on disk only costs time.
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	for _, kv := range s.opts.Settings {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	// The server stops (fast shutdown) if the test binary dies without
	// calling Close, so no server is left behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGINT}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	// The server says on stderr when it is ready; the log is read to its
	// end so that the server never blocks writing it.
	ready := make(chan struct{})
	var tail lineTail
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			tail.add(sc.Text())
			if !signalled && strings.Contains(sc.Text(), "database system is ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	select {
	case <-ready:
	case <-exit:
		return fmt.Errorf("postgres exited at start: %s", tail.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
		return fmt.Errorf("postgres did not become ready within a minute: %s", tail.String())
	}
	s.proc, s.exit = cmd, exit
	return nil
}

// Stop stops the server (a fast shutdown: open connections are ended), so
// that a test can see what happens while the database is away.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	if err := s.proc.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	<-s.exit
	s.proc, s.exit = nil, nil
	return nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	err := s.Stop()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Port is the loopback TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// URL is a postgres:// URL for role and database on this server.
func (s *Server) URL(role, database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, s.port, database)
}

// AdminDSN connects to database as the superuser, for tests that must
// look behind the application's back.
func (s *Server) AdminDSN(database string) string { return s.URL("postgres", database) }

func (s *Server) exec(ctx context.Context, q string) error {
	_, err := s.admin.ExecContext(ctx, q)
	return err
}

// lineTail keeps the last lines of the server's log for error messages.
type lineTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *lineTail) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	if len(t.lines) > 8 {
		t.lines = t.lines[1:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}

func lastLines(b []byte, n int) string {
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}
