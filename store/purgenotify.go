package store

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// On PostgreSQL several nodes share the record cache table, but each
// keeps decoded records, merged timelines and pages' timelines in its own
// memory, and may have a fetch in flight for the patient. When one node
// purges a patient (an upheld objection), it notifies the others on
// purgeChannel in the same transaction as the delete; each node that
// hears it purges the patient from its own memory and flights, and the
// callbacks registered with OnPurge (the web layer's timeline cache) run.
// Until it is heard, the view-time objection check, which reads the
// shared table, already withholds the data on every node.
//
// The payload is the NHS number sealed with the record cache key, which
// every node holds: identifiers do not travel in the clear, even between
// our own nodes.
const purgeChannel = "carerecord_purge"

// purgeAD binds a sealed purge notice to its use.
var purgeAD = []byte("carerecord-purge-v1")

const purgeFormat byte = 1

type purgeHub struct {
	mu  sync.Mutex
	fns []func(nhs string)

	dsn  string
	stop context.CancelFunc
	done chan struct{}
}

// OnPurge registers fn to run when another node purges a patient's cached
// data, with the patient's NHS number; with "" when notices may have been
// missed (the node lost its connection to the database for a while), and
// fn must then drop every patient. It is a no-op on SQLite, where one
// node holds everything.
func (db *DB) OnPurge(fn func(nhs string)) {
	db.purges.mu.Lock()
	defer db.purges.mu.Unlock()
	db.purges.fns = append(db.purges.fns, fn)
}

func (h *purgeHub) run(nhs string) {
	h.mu.Lock()
	fns := append([]func(string){}, h.fns...)
	h.mu.Unlock()
	for _, fn := range fns {
		fn(nhs)
	}
}

// notifyPurge sends the purge notice for nhs in tx, so that it goes when
// the delete commits.
func (db *DB) notifyPurge(ctx context.Context, tx *sqlTx, c *cacheCipher, nhs string) error {
	return db.be.notifyPurge(ctx, tx, func() (string, error) {
		sealed, err := c.seal(purgeFormat, []byte(nhs), purgeAD)
		if err != nil {
			return "", err
		}
		return base64.RawStdEncoding.EncodeToString(sealed), nil
	})
}

// startPurgeListener listens for other nodes' purge notices on a
// connection of its own, reconnecting after a loss; after a reconnect it
// tells the callbacks to drop everything, since notices sent meanwhile
// were lost. It returns once the node listens, so that no purge committed
// after Open returns goes unheard, or with the error that stopped it.
func (db *DB) startPurgeListener(dsn string) error {
	h := &db.purges
	h.dsn = dsn
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	first := make(chan error, 1)
	go func() {
		defer close(h.done)
		connected := false
		wait := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := db.listenPurges(ctx, func() {
				if connected {
					h.run("")
				} else {
					first <- nil
				}
				connected = true
				wait = 100 * time.Millisecond
			})
			if !connected {
				first <- err
				return
			}
			if ctx.Err() != nil {
				return
			}
			db.logger().Warn("purge notices: connection lost; listening again", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
	if err := <-first; err != nil {
		cancel()
		<-h.done
		h.stop = nil
		return err
	}
	return nil
}

func (db *DB) stopPurgeListener() {
	if h := &db.purges; h.stop != nil {
		h.stop()
		<-h.done
	}
}

// listenPurges holds one LISTEN connection until it fails or ctx ends.
func (db *DB) listenPurges(ctx context.Context, listening func()) error {
	conn, err := pgx.Connect(ctx, db.purges.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+purgeChannel); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		nhs, err := db.openPurgeNotice(n.Payload)
		if err != nil {
			db.logger().Error("purge notices: a notice does not open with this node's cache key; dropping every patient from memory", "error", err.Error())
			nhs = ""
		}
		db.purges.run(nhs)
	}
}

func (db *DB) logger() *slog.Logger {
	if db.anchor.log != nil {
		return db.anchor.log
	}
	return slog.Default()
}

func (db *DB) openPurgeNotice(payload string) (string, error) {
	c, err := db.cacheKeys()
	if err != nil {
		return "", err
	}
	body, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		return "", err
	}
	pt, _, err := c.open(body, func(f byte) []byte {
		if f != purgeFormat {
			return nil
		}
		return purgeAD
	})
	if err != nil {
		return "", err
	}
	if len(pt) == 0 {
		return "", errors.New("empty purge notice")
	}
	return string(pt), nil
}
