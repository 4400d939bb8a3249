package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveWith runs `carerecord serve` with the development IdP and the
// [http] section given, and returns its address and log.
func serveWith(t *testing.T, httpSection string) (string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	cfg := writeFile(t, dir, "c.toml", `
base_url = "http://`+addr+`"
listen = "`+addr+`"
database = "`+filepath.Join(dir, "c.db")+`"
[saml]
dev_idp = true
[http]
`+httpSection)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve", "--config", cfg}, env(map[string]string{"CARERECORD_SESSION_KEY": testKey, "CARERECORD_AUDIT_KEY": testCacheKey}), pw, logs)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "carerecord serving") {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", <-done, logs)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return addr, logs
}

// A request body trickled one byte a second, slower than the configured
// read timeout allows, is answered 408 and logged as 408: not held for
// long, and not an empty form answered 200.
func TestTrickledBodyTimesOut(t *testing.T) {
	addr, logs := serveWith(t, `read_header_timeout = "1s"
read_timeout = "1s"
`)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A bound on the whole test, not a measurement: the server must answer
	// long before it.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /objection/form HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n", addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range 30 {
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("trickled body: status %d, want 408: %s\n%s", resp.StatusCode, b, logs)
	}
	stop <- struct{}{}
	// The request log line says 408 (logs are written before the answer).
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"route":"/objection/form"`) {
			line = l
		}
	}
	if !strings.Contains(line, `"status":408`) {
		t.Fatalf("the request is not logged as 408: %q", line)
	}
}

// Connections beyond http.max_connections are answered 503 at once and
// closed; when a connection ends, new ones are served again.
func TestConnectionCap(t *testing.T) {
	addr, _ := serveWith(t, `max_connections = 2
`)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	get := func() (int, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// The two held connections were accepted first (the kernel queues
	// connections in order), so this one is over the cap.
	if code, err := get(); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("a third connection: %d %v, want a 503 at once", code, err)
	}
	held[0].Close()
	// The server notices the close when it reads it: a bounded number of
	// tries, each answered at once, until the slot is free.
	for i := 0; ; i++ {
		code, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			break
		}
		if code != http.StatusServiceUnavailable || i == 5000 {
			t.Fatalf("after a connection closed: status %d after %d tries, want 200", code, i+1)
		}
	}
}
