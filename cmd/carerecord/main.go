// Command carerecord runs the shared care record portal.
//
//	carerecord demo  [--addr 127.0.0.1:8080] [--data ./var]
//	carerecord serve --config FILE
//	carerecord audit verify [--data DIR | --db FILE]
//	carerecord version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carerecord/carerecord/store"
	"github.com/carerecord/carerecord/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "carerecord:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

const usage = `usage:
  carerecord demo  [--addr 127.0.0.1:8080] [--data ./var]   the whole product on this machine
  carerecord serve --config FILE                            production
  carerecord audit verify [--data DIR | --db FILE]          check the audit log against its key, witness and schema
  carerecord migrate --from sqlite:FILE --to postgres://... move an installation to PostgreSQL, audit chain included
  carerecord version`

// run is the whole program; it returns when ctx is cancelled (after a
// clean shutdown) or on an error. Tests call it with their own context,
// arguments, environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no command given\n" + usage)}
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "carerecord", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q\n%s", args[0], usage)}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// serveUntilDone serves srv on ln until ctx is cancelled, then lets
// in-flight requests finish (up to 20 s) and returns.
// closers run after the HTTP server has stopped and before the database
// closes (background work that writes to it ends first).
//
// The read timeout covers the whole request, body included: a body that
// has not arrived by then is answered 408 (web's readBody) and the
// connection closed. Connections beyond limits.MaxConnections are answered
// 503 at once (capListener).
func serveUntilDone(ctx context.Context, ln net.Listener, srv *web.Server, db *store.DB, tlsCert, tlsKey string, limits httpLimits, log *slog.Logger, closers ...func()) error {
	if limits.MaxConnections == 0 {
		limits.MaxConnections = defaultMaxConnections()
	}
	ln = newCapListener(ln, limits.MaxConnections, tlsCert != "", log)
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if tlsCert != "" {
			err = hs.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			err = hs.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		for _, c := range closers {
			c()
		}
		db.Close()
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serr := hs.Shutdown(sctx)
	<-errc
	for _, c := range closers {
		c()
	}
	cerr := db.Close()
	log.Info("stopped", "database_closed", cerr == nil)
	return errors.Join(serr, cerr)
}
