package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// httpLimits are the HTTP server's timeouts and connection cap ([http] in
// the configuration file; the demo uses the defaults).
type httpLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // the whole request, body included: a body trickled slower gets 408
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxConnections    int // 0: from the file descriptor limit (defaultMaxConnections)
}

func defaultHTTPLimits() httpLimits {
	return httpLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second}
}

// fdHeadroom is how many file descriptors stay free for what is not a
// client connection: the database and its WAL, the connections to the
// sources, log files, the IdP metadata fetch.
const fdHeadroom = 256

// fdLimit is the process's soft limit on open files (Go raises it to the
// hard limit at start), or 0 when it cannot be read.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}

// defaultMaxConnections leaves fdHeadroom descriptors free, and at least
// a quarter of them.
func defaultMaxConnections() int {
	n := fdLimit()
	if n == 0 {
		return 4096
	}
	return max(min(n-fdHeadroom, n*3/4), 1)
}

// checkMaxConnections says what is wrong with a configured cap.
func checkMaxConnections(n int) error {
	if n < 0 {
		return errors.New("must not be negative (0 sets it from the file descriptor limit)")
	}
	if lim := fdLimit(); lim > 0 && n >= lim-fdHeadroom/4 {
		return fmt.Errorf("must be well below the process's file descriptor limit (%d), or 0 to set it from that limit", lim)
	}
	return nil
}

// capListener holds at most max client connections open. A connection
// beyond that is answered at once, on the accepting goroutine, with a
// short 503 (plain http) or closed (TLS, where nothing readable can be
// sent before the handshake), and closed: clients are told quickly and
// the process never runs out of file descriptors.
type capListener struct {
	net.Listener
	max     int64
	tls     bool
	open    atomic.Int64
	refused atomic.Int64
	log     *slog.Logger
}

func newCapListener(ln net.Listener, max int, tls bool, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, max: int64(max), tls: tls, log: log}
}

// busy is the whole answer to a connection over the cap.
var busy = func() []byte {
	const body = "carerecord is busy: try again in a few seconds.\n"
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}()

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &capConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		if !l.tls {
			// The socket's send buffer is empty: this write does not block,
			// and the deadline makes sure of it.
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write(busy)
		}
		_ = c.Close()
		if n := l.refused.Add(1); n == 1 || n%1000 == 0 {
			l.log.Warn("connection refused: at the connection cap", "max_connections", l.max, "refused_so_far", n)
		}
	}
}

type capConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
