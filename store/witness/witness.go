// Package witness keeps the audit log's checkpoints (store.Checkpoint)
// outside the database: an append-only file, the local syslog, or a remote
// HTTP endpoint. A witness only ever adds; it must never hold clinical
// content (a checkpoint is a sequence number, a hash, a time and a MAC).
package witness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/carerecord/carerecord/store"
)

var (
	_ store.WitnessReader = (*File)(nil)
	_ store.Witness       = (*Syslog)(nil)
	_ store.Witness       = (*HTTP)(nil)
)

// File is an append-only file of checkpoints, one JSON object a line,
// each written with O_APPEND and synced before Append returns. Put it on
// another volume than the database, where whoever can write the database
// cannot rewrite it.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFile opens (creating, mode 0600) the witness file at path.
func OpenFile(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	return &File{path: path, f: f}, nil
}

// ReadFile is a read-only witness file, for `audit verify`: it never
// creates the file, and Append fails.
func ReadFile(path string) *File { return &File{path: path} }

// Name is the file's path.
func (w *File) Name() string { return w.path }

// Append writes cp as one line and syncs the file.
func (w *File) Append(_ context.Context, cp store.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("witness: file opened read-only")
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("witness: write %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("witness: sync %s: %w", w.path, err)
	}
	return nil
}

// tailBytes is how much of the end of the file Last reads: many lines.
const tailBytes = 64 << 10

// Last returns the file's last complete line. A line cut short by a crash
// while it was written (no newline) is passed over; a complete line that
// is not a checkpoint is an error, not passed over: it is not what this
// program writes.
func (w *File) Last(context.Context) (store.Checkpoint, bool, error) {
	f, err := os.Open(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return store.Checkpoint{}, false, nil
	}
	if err != nil {
		return store.Checkpoint{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return store.Checkpoint{}, false, err
	}
	off := max(0, st.Size()-tailBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return store.Checkpoint{}, false, err
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return store.Checkpoint{}, false, nil
	}
	b = b[:end]
	line := b[bytes.LastIndexByte(b, '\n')+1:]
	var cp store.Checkpoint
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil {
		return store.Checkpoint{}, false, fmt.Errorf("its last line is not a checkpoint")
	}
	return cp, true, nil
}

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// All reads every checkpoint in the file, oldest first; for tests and
// investigations.
func (w *File) All() ([]store.Checkpoint, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []store.Checkpoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var cp store.Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return out, fmt.Errorf("witness: %s line %d: %w", w.path, len(out)+1, err)
		}
		out = append(out, cp)
	}
	return out, sc.Err()
}

// Syslog sends each checkpoint to the local syslog daemon (facility
// authpriv, tag carerecord-audit), which an organisation usually forwards
// to its log collection. It cannot be read back.
type Syslog struct {
	mu sync.Mutex
	w  *syslog.Writer
}

// DialSyslog connects to the local syslog daemon.
func DialSyslog() (*Syslog, error) {
	w, err := syslog.New(syslog.LOG_AUTHPRIV|syslog.LOG_INFO, "carerecord-audit")
	if err != nil {
		return nil, fmt.Errorf("witness: syslog: %w", err)
	}
	return &Syslog{w: w}, nil
}

// Name says "syslog".
func (s *Syslog) Name() string { return "syslog" }

// Append sends cp as one JSON line.
func (s *Syslog) Append(_ context.Context, cp store.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Info("audit checkpoint " + string(b))
}

// Close closes the connection.
func (s *Syslog) Close() error { return s.w.Close() }

// HTTP posts each checkpoint as JSON to a remote endpoint, which must
// answer 2xx once it has kept it. It cannot be read back.
type HTTP struct {
	URL    string
	Client *http.Client
}

// NewHTTP posts to url with a 10 s timeout per checkpoint.
func NewHTTP(url string) *HTTP {
	return &HTTP{URL: url, Client: &http.Client{Timeout: 10 * time.Second}}
}

// Name is the endpoint's URL without credentials or query, which may
// carry a token: names go into logs.
func (h *HTTP) Name() string {
	u, err := url.Parse(h.URL)
	if err != nil {
		return "remote witness"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Append posts cp.
func (h *HTTP) Append(ctx context.Context, cp store.Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return fmt.Errorf("witness: post checkpoint: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("witness: post checkpoint: %s answered %d", h.URL, resp.StatusCode)
	}
	return nil
}
