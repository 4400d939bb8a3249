package store

import "database/sql"

// PoolStats returns the statistics of the writer connection and of the
// reader pool: how often and how long callers waited for a connection.
// Every write, and the reads that must see them at once, queue on the one
// writer, so its wait time is the first thing to read when pages slow
// down under load.
func (db *DB) PoolStats() (write, read sql.DBStats) { return db.write.Stats(), db.read.Stats() }
