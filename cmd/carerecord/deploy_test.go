package main

// Tests that follow docs/deploy as an operator would: its backup and
// restore procedures on SQLite and PostgreSQL, and the command lines its
// README, systemd unit and Dockerfile give. They read the commands from
// the documents themselves, so that a document that drifts from the code
// fails here.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/store/pgtest"
	"github.com/carerecord/carerecord/store/witness"
)

// deployDoc is a file of docs/deploy.
func deployDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docMatch is the first submatch of re in doc, or fails the test naming
// what the document no longer says.
func docMatch(t *testing.T, doc, what string, re *regexp.Regexp) []string {
	t.Helper()
	m := re.FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/deploy no longer gives %s (looked for %s)", what, re)
	}
	return m
}

// The paths the README's commands use, replaced by the test's own.
const (
	docSQLitePath  = "/var/lib/carerecord/carerecord.db"
	docWitnessPath = "/srv/witness/carerecord.witness"
	docNodeWitness = "/srv/witness/node1.witness"
	docJoinWitness = "/srv/witness/node2.witness"
	docPostgresURL = "postgres://..."
	docDateStamp   = "2026-01-02-0304"
)

var shellDate = regexp.MustCompile(`\$\(date [^)]*\)`)

// docNode is one carerecord node as docs/deploy sets it up: `serve` with
// its database and an audit witness file of its own.
type docNode struct {
	config   string
	base     string
	database string
	witness  string
}

func newDocNode(t *testing.T, database, witnessPath string) *docNode {
	t.Helper()
	addr := freePort(t)
	cfg := writeFile(t, t.TempDir(), "carerecord.toml", `
base_url = "http://`+addr+`"
listen = "`+addr+`"
database = "`+database+`"
[saml]
dev_idp = true
[audit]
witness_file = "`+witnessPath+`"
`)
	return &docNode{config: cfg, base: "http://" + addr, database: database, witness: witnessPath}
}

// start runs the node until the returned function stops it (as SIGTERM
// does: requests finish, a last checkpoint is written, the database closes).
func (n *docNode) start(t *testing.T) func() {
	t.Helper()
	_, stop := start(t, []string{"serve", "--config", n.config},
		env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey}), "carerecord serving")
	return func() {
		t.Helper()
		if err := stop(); err != nil {
			t.Fatalf("node stopped with %v", err)
		}
	}
}

// ready is /readyz's answer.
func (n *docNode) ready(t *testing.T) (int, string) {
	t.Helper()
	return get(t, n.base+"/readyz")
}

// lastCheckpoint is the seq of the last checkpoint in the node's witness.
func (n *docNode) lastCheckpoint(t *testing.T) int64 {
	t.Helper()
	cp, ok, err := witness.ReadFile(n.witness).Last(context.Background())
	if err != nil || !ok {
		t.Fatalf("witness %s: no checkpoint (%v)", n.witness, err)
	}
	return cp.Seq
}

// auditHead is the number of events in the database's audit log.
func auditHead(t *testing.T, database string) int64 {
	t.Helper()
	res, err := store.VerifyAuditFile(context.Background(), database, store.WithAuditKey(mustAuditKey(t)))
	if err != nil || !res.OK {
		t.Fatalf("audit log of %s: %v %+v", store.DatabaseName(database), err, res)
	}
	return res.Events
}

// runDocCommand runs a `carerecord ...` line from the README through the
// program's run function, with the audit key in its environment as the
// README says.
func runDocCommand(t *testing.T, line string) (string, error) {
	t.Helper()
	args := strings.Fields(line)
	if args[0] != "carerecord" {
		t.Fatalf("not a carerecord command: %q", line)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args[1:], env(map[string]string{"CARERECORD_AUDIT_KEY": testCacheKey}), &out, &errOut)
	return out.String() + errOut.String(), err
}

// reanchorLines are the README's `carerecord audit verify ... --reanchor`
// lines, by the witness file each names.
func reanchorLines(t *testing.T, readme string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	re := regexp.MustCompile("`(carerecord audit verify [^`]*--witness (\\S+)[^`]*--reanchor)`")
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		lines[m[2]] = m[1]
	}
	return lines
}

// reanchorLine is the README's re-anchoring line for witness, applied to
// node n's database and witness.
func reanchorLine(t *testing.T, readme, witness string, n *docNode) string {
	t.Helper()
	line, ok := reanchorLines(t, readme)[witness]
	if !ok {
		t.Fatalf("the README no longer gives a `carerecord audit verify ... --witness %s --reanchor` line (it gives %q)", witness, reanchorLines(t, readme))
	}
	if !strings.Contains(line, docSQLitePath) && !strings.Contains(line, docPostgresURL) {
		t.Fatalf("the README's re-anchoring line names neither %s nor %s: %q", docSQLitePath, docPostgresURL, line)
	}
	return strings.NewReplacer(docSQLitePath, n.database, docPostgresURL, n.database, witness, n.witness).Replace(line)
}

// writeAuditEvents writes n audit events through the node: a refused
// sign-in response is an event written without a user.
func (n *docNode) writeAuditEvents(t *testing.T, count int) { refusedSignIns(t, n.base, count) }

// restoredRefusedThenReanchored is the README's "After a restore": the
// node started on the restored database refuses its audit log (/readyz
// fails), the documented `audit verify --reanchor` line accepts the
// restored head, and the node started again is ready, its log verifying
// against its witness.
func restoredRefusedThenReanchored(t *testing.T, nodes []*docNode, reanchor func(*docNode) string, restoredEvents int64) {
	t.Helper()
	var stops []func()
	for _, n := range nodes {
		stops = append(stops, n.start(t))
	}
	for i, n := range nodes {
		if code, body := n.ready(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log refused") {
			t.Errorf("node %d on the restored database: /readyz %d %q, want 503 saying the audit log is refused", i, code, body)
		}
	}
	for _, stop := range stops {
		stop()
	}
	for i, n := range nodes {
		line := reanchor(n)
		out, err := runDocCommand(t, line)
		if err != nil || !strings.Contains(out, fmt.Sprintf("re-anchored in %s at event %d", n.witness, restoredEvents)) {
			t.Fatalf("node %d: %s: %v\n%s", i, line, err, out)
		}
	}
	stops = stops[:0]
	for _, n := range nodes {
		stops = append(stops, n.start(t))
	}
	for i, n := range nodes {
		if code, body := n.ready(t); code != http.StatusOK {
			t.Errorf("node %d after re-anchoring: /readyz %d %q, want 200", i, code, body)
		}
		n.writeAuditEvents(t, 1)
	}
	for _, stop := range stops {
		stop()
	}
	for i, n := range nodes {
		out, err := runDocCommand(t, "carerecord audit verify --db "+n.database+" --witness "+n.witness)
		if err != nil || !strings.Contains(out, "matches its last checkpoint") {
			t.Errorf("node %d: audit verify after re-anchoring: %v\n%s", i, err, out)
		}
	}
}

// TestDeployBackupRestoreSQLite follows docs/deploy/README.md's "Backup
// and restore" on SQLite: online backups of a serving node in both
// documented forms, more events, the documented restore, the refused
// audit log, the documented re-anchoring, a ready node.
func TestDeployBackupRestoreSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes")
	}
	t.Parallel()
	readme := deployDoc(t, "README.md")
	backupLine := docMatch(t, readme, "the sqlite3 .backup line", regexp.MustCompile(`(?m)^sqlite3 (\S+) "(\.backup '[^']*')"$`))
	vacuumLine := docMatch(t, readme, "the VACUUM INTO line", regexp.MustCompile(`(?m)^# or: sqlite3 (\S+) "(VACUUM INTO '[^']*')"$`))
	restore := docMatch(t, readme, "the SQLite restore steps",
		regexp.MustCompile("To restore: stop the node, remove ((?:`[^`]+`(?:,\\s+|\\s+and\\s+)?)+),\\s+copy the backup in as `([^`]+)`,\\s+start the node\\."))
	var removed []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(restore[1], -1) {
		removed = append(removed, m[1])
	}

	dataDir, witnessDir, backupDir := t.TempDir(), t.TempDir(), t.TempDir()
	dbPath := filepath.Join(dataDir, filepath.Base(docSQLitePath))
	if restore[2] != filepath.Base(docSQLitePath) || backupLine[1] != docSQLitePath || vacuumLine[1] != docSQLitePath {
		t.Fatalf("the README's backup and restore lines name different databases: %q, %q, %q", backupLine[1], vacuumLine[1], restore[2])
	}
	node := newDocNode(t, dbPath, filepath.Join(witnessDir, filepath.Base(docWitnessPath)))
	inBackupDir := func(s string) string {
		return strings.ReplaceAll(shellDate.ReplaceAllString(s, docDateStamp), "/backup/", backupDir+"/")
	}

	// The node serves and writes events; both backups are taken online.
	stop := node.start(t)
	node.writeAuditEvents(t, 3)
	type backup struct{ name, form, file string }
	var backups []backup
	vacuum := inBackupDir(vacuumLine[2])
	raw, err := sql.Open("sqlite3", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(vacuum); err != nil {
		t.Fatalf("%s: %v", vacuum, err)
	}
	raw.Close()
	backups = append(backups, backup{"VacuumInto", "VACUUM INTO", regexp.MustCompile(`'([^']*)'`).FindStringSubmatch(vacuum)[1]})
	if cli, err := exec.LookPath("sqlite3"); err != nil {
		t.Log("no sqlite3 command installed: the README's .backup form was SKIPPED (VACUUM INTO ran through the driver)")
	} else {
		dot := inBackupDir(backupLine[2])
		if out, err := exec.Command(cli, dbPath, dot).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s %q: %v\n%s", dbPath, dot, err, out)
		}
		backups = append(backups, backup{"DotBackup", ".backup", regexp.MustCompile(`'([^']*)'`).FindStringSubmatch(dot)[1]})
	}
	node.writeAuditEvents(t, 3)
	stop()
	inBackup := auditHead(t, backups[0].file)
	if node.lastCheckpoint(t) <= inBackup {
		t.Fatalf("the witness's last checkpoint (event %d) is not past the backup's head (event %d): nothing to refuse", node.lastCheckpoint(t), inBackup)
	}

	for _, b := range backups {
		t.Run("RestoreFrom"+b.name, func(t *testing.T) {
			if n := auditHead(t, b.file); n != inBackup {
				t.Fatalf("the %s backup holds %d events, the other %d", b.form, n, inBackup)
			}
			// The README's restore: the node is stopped; its files go and
			// the backup comes in under the database's name.
			for _, f := range removed {
				if err := os.Remove(filepath.Join(dataDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			b2, err := os.ReadFile(b.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dataDir, restore[2]), b2, 0o600); err != nil {
				t.Fatal(err)
			}
			restoredRefusedThenReanchored(t, []*docNode{node}, func(n *docNode) string {
				return reanchorLine(t, readme, docWitnessPath, n)
			}, inBackup)
		})
	}
	// The files the README removes are the database's own: with one
	// left behind (its WAL), the restored file would not be what runs.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if !contains(removed, filepath.Base(docSQLitePath)+suffix) {
			t.Errorf("the README's restore does not remove %s%s (removes %q)", filepath.Base(docSQLitePath), suffix, removed)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestDeployBackupRestorePostgres follows docs/deploy/README.md's
// "Backup and restore" on PostgreSQL: two nodes on one database, each
// with its witness; the documented pg_dump while they serve; more events;
// the documented pg_restore into an empty database as its owner role;
// both nodes refuse the audit log; the documented re-anchoring of each
// node's witness; both ready.
func TestDeployBackupRestorePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes")
	}
	t.Parallel()
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Skipf("PostgreSQL is not installed, so the PostgreSQL backup and restore is SKIPPED (%v)", err)
	}
	readme := deployDoc(t, "README.md")
	dumpLine := docMatch(t, readme, "the pg_dump line", regexp.MustCompile("`(pg_dump -Fc [^`]*)`"))[1]
	restoreLine := docMatch(t, readme, "the pg_restore line", regexp.MustCompile("`(pg_restore [^`]*)`"))[1]

	// pgtest's databases belong to its application role and its URLs
	// connect as it: the nodes, the dump and the restore all run as the
	// owner role, as the README's simplest set-up does.
	dsn, restored := pgtest.DSN(t), pgtest.DSN(t)
	work, witnessDir := t.TempDir(), t.TempDir()
	var nodes []*docNode
	for i := range 2 {
		nodes = append(nodes, newDocNode(t, dsn, filepath.Join(witnessDir, fmt.Sprintf("node%d.witness", i+1))))
	}
	// pgTool runs a pg_dump or pg_restore line of the README in work,
	// with the database named "carerecord" there being the one given
	// and "carerecord-....dump" the dump pg_dump wrote.
	var dumpFile string
	pgTool := func(line, database string) {
		t.Helper()
		args := strings.Fields(shellDate.ReplaceAllString(line, docDateStamp))
		for i, a := range args {
			switch {
			case a == "carerecord":
				args[i] = database
			case strings.HasPrefix(a, "carerecord-") && strings.HasSuffix(a, ".dump"):
				if strings.Contains(a, "....") {
					args[i] = dumpFile
				} else {
					dumpFile = a
				}
			}
		}
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}

	// The first node creates the schema and writes events.
	stops := []func(){nodes[0].start(t)}
	nodes[0].writeAuditEvents(t, 2)
	// The second joins a database with events: its empty witness is
	// refused until anchored as "Several nodes" says.
	stopJoin := nodes[1].start(t)
	if code, body := nodes[1].ready(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log refused") {
		t.Errorf("a node joining with an empty witness: /readyz %d %q, want 503 saying the audit log is refused", code, body)
	}
	stopJoin()
	join := reanchorLine(t, readme, docJoinWitness, nodes[1])
	if out, err := runDocCommand(t, join); err != nil {
		t.Fatalf("%s: %v\n%s", join, err, out)
	}
	stops = append(stops, nodes[1].start(t))
	for i, n := range nodes {
		if code, body := n.ready(t); code != http.StatusOK {
			t.Fatalf("node %d serving: /readyz %d %q, want 200", i, code, body)
		}
		n.writeAuditEvents(t, 2)
	}
	pgTool(dumpLine, dsn)
	if dumpFile == "" {
		t.Fatalf("the README's pg_dump line names no carerecord-....dump file: %q", dumpLine)
	}
	for _, n := range nodes {
		n.writeAuditEvents(t, 2)
	}
	for _, stop := range stops {
		stop()
	}
	pgTool(restoreLine, restored)
	inBackup := auditHead(t, restored)
	for i, n := range nodes {
		if cp := n.lastCheckpoint(t); cp <= inBackup {
			t.Fatalf("node %d's witness: last checkpoint event %d, not past the dump's head (event %d): nothing to refuse", i, cp, inBackup)
		}
		n.database = restored
		n.config = writeFile(t, t.TempDir(), "carerecord.toml", strings.Replace(mustRead(t, n.config), dsn, restored, 1))
	}
	restoredRefusedThenReanchored(t, nodes, func(n *docNode) string {
		return reanchorLine(t, readme, docNodeWitness, n)
	}, inBackup)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docCommand is a carerecord command line a document gives.
type docCommand struct {
	where string
	bin   string // the binary's path, when the line gives it
	args  []string
}

// deployCommands are the carerecord command lines of docs/deploy: the
// unit's ExecStart, the image's ENTRYPOINT and CMD, and every
// `carerecord ...` in the README.
func deployCommands(t *testing.T) []docCommand {
	t.Helper()
	var cmds []docCommand
	unit := deployDoc(t, "carerecord.service")
	exe := strings.Fields(docMatch(t, unit, "ExecStart", regexp.MustCompile(`(?m)^ExecStart=(.*)$`))[1])
	cmds = append(cmds, docCommand{"carerecord.service ExecStart", exe[0], exe[1:]})

	dockerfile := deployDoc(t, "Dockerfile")
	var entry, cmd []string
	if err := json.Unmarshal([]byte(docMatch(t, dockerfile, "ENTRYPOINT", regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`))[1]), &entry); err != nil || len(entry) == 0 {
		t.Fatalf("Dockerfile ENTRYPOINT: %v", err)
	}
	if err := json.Unmarshal([]byte(docMatch(t, dockerfile, "CMD", regexp.MustCompile(`(?m)^CMD (\[.*\])$`))[1]), &cmd); err != nil {
		t.Fatalf("Dockerfile CMD: %v", err)
	}
	cmds = append(cmds, docCommand{"Dockerfile ENTRYPOINT and CMD", entry[0], append(entry[1:], cmd...)})

	cmds = append(cmds, readmeCommands(deployDoc(t, "README.md"), "docs/deploy/README.md")...)
	// The repository's README gives the migration to PostgreSQL and the
	// audit commands that docs/deploy builds on.
	top, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append(cmds, readmeCommands(string(top), "README.md")...)
}

// readmeCommands are a Markdown file's carerecord command lines: every
// `carerecord ...` in backticks, and every line of a fenced code block
// that starts "carerecord " (without its trailing # comment).
func readmeCommands(md, where string) []docCommand {
	var cmds []docCommand
	for _, m := range regexp.MustCompile("`carerecord ([a-z][^`]*)`").FindAllStringSubmatch(md, -1) {
		cmds = append(cmds, docCommand{where: where, args: strings.Fields(m[1])})
	}
	inCode := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case inCode && strings.HasPrefix(line, "carerecord "):
			line, _, _ = strings.Cut(line, " #")
			cmds = append(cmds, docCommand{where: where, args: strings.Fields(line)[1:]})
		}
	}
	return cmds
}

// shellWords splits a shell command line into words, keeping what is in
// double quotes together (enough for the Dockerfile's RUN line).
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestDeployCommandLines: every carerecord command line in docs/deploy
// (and in the repository's README) names a command and flags the program
// has; the Dockerfile's build line
// builds a binary whose version is the one passed through -X main.version;
// the systemd unit, pointed at that binary, passes systemd-analyze verify.
func TestDeployCommandLines(t *testing.T) {
	t.Parallel()
	cmds := deployCommands(t)
	t.Run("FlagsExist", func(t *testing.T) {
		t.Logf("%d command lines checked", len(cmds))
		if len(cmds) < 4 {
			t.Fatalf("found only %d carerecord command lines in docs/deploy: %+v", len(cmds), cmds)
		}
		for _, c := range cmds {
			// With "-h" after the line's own flags, the command answers
			// with its help only if it knows every flag before it.
			var stderr bytes.Buffer
			err := run(context.Background(), append(append([]string{}, c.args...), "-h"), env(nil), io.Discard, &stderr)
			var ue usageError
			if !errors.As(err, &ue) || !errors.Is(ue.error, flag.ErrHelp) {
				t.Errorf("%s: carerecord %s: %v\n%s", c.where, strings.Join(c.args, " "), err, stderr.String())
			}
			if c.bin != "" && filepath.Base(c.bin) != "carerecord" {
				t.Errorf("%s runs %s, not carerecord", c.where, c.bin)
			}
		}
	})
	t.Run("BuildArgDeclared", func(t *testing.T) {
		readme, dockerfile := deployDoc(t, "README.md"), deployDoc(t, "Dockerfile")
		for _, m := range regexp.MustCompile(`--build-arg (\w+)=`).FindAllStringSubmatch(readme+dockerfile, -1) {
			if !regexp.MustCompile(`(?m)^ARG ` + m[1] + `\b`).MatchString(dockerfile) {
				t.Errorf("docs/deploy passes --build-arg %s, but the Dockerfile declares no ARG %s", m[1], m[1])
			}
		}
	})
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// The Dockerfile's build line, run here with its VERSION set and its
	// output in a temporary directory.
	dockerfile := strings.ReplaceAll(deployDoc(t, "Dockerfile"), "\\\n", " ")
	buildLine := docMatch(t, dockerfile, "the go build line", regexp.MustCompile(`(?m)^RUN (go build .*)$`))[1]
	const version = "deploy-test-1"
	binPath := filepath.Join(t.TempDir(), "carerecord")
	args := shellWords(strings.ReplaceAll(buildLine, "${VERSION}", version))
	var buildArgs []string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-trimpath":
			// Builds every package again, standard library and SQLite
			// included, instead of using the build cache: left out here.
			t.Log("the Dockerfile's -trimpath is left out of the test build")
		case "-o":
			buildArgs = append(buildArgs, "-o", binPath)
			i++
		default:
			buildArgs = append(buildArgs, args[i])
		}
	}
	build := exec.Command("go", buildArgs...)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(buildArgs, " "), err, out)
	}
	t.Run("VersionFromLdflags", func(t *testing.T) {
		out, err := exec.Command(binPath, "version").Output()
		if err != nil || strings.TrimSpace(string(out)) != "carerecord "+version {
			t.Fatalf("%s version: %q, %v; want the version -X main.version set, %q", binPath, out, err, version)
		}
	})
	t.Run("SystemdUnitVerifies", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("no systemd-analyze installed: the unit's check is SKIPPED")
		}
		unit := deployDoc(t, "carerecord.service")
		exe := cmds[0].bin
		unit = strings.Replace(unit, "ExecStart="+exe+" ", "ExecStart="+binPath+" ", 1)
		path := writeFile(t, t.TempDir(), "carerecord.service", unit)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}
