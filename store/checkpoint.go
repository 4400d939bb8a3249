package store

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// The writer connection does not checkpoint the WAL as it commits: a
// checkpoint copies pages into the database file and syncs both files,
// several times the I/O of the commit it rides on, and every caller waiting
// on that commit (the audit writer's whole batch) would wait for it too.
// A checkpointer on its own connection does it beside the writer instead,
// PASSIVE, so it never blocks the writer or the readers.
//
// walBackstopPages is the writer's own autocheckpoint, for when the
// checkpointer cannot keep up (a reader holding an old snapshot, a burst
// longer than it can copy): the WAL does not grow past it for long.
const (
	writerDriver     = "sqlite3-carerecord-writer"
	walBackstopPages = 16000 // 64 MB of 4 KB pages
	checkpointPause  = 50 * time.Millisecond
	checkpointIdle   = 5 * time.Second
)

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint="+strconv.Itoa(walBackstopPages), nil)
			return err
		},
	})
}

type checkpointer struct {
	conn *sql.DB
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func (c *checkpointer) start(dsn string) error {
	conn, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	c.conn = conn
	c.kick = make(chan struct{}, 1)
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.loop()
	return nil
}

// wrote tells the checkpointer that a transaction committed. It never
// blocks.
func (c *checkpointer) wrote() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	idle := time.NewTicker(checkpointIdle)
	defer idle.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-idle.C:
		}
		_, _ = c.conn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		// Let commits gather before the next copy, so that a page written
		// by many of them is copied once.
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointPause):
		}
	}
}

func (c *checkpointer) close() error {
	if c.stop == nil {
		return nil
	}
	close(c.stop)
	<-c.done
	return c.conn.Close()
}
