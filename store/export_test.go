package store

// WALBackstopPages is the writer's own autocheckpoint threshold.
const WALBackstopPages = walBackstopPages

// AuditIndexed is the last seq the search tables cover. Read it only
// after an Audit call has returned.
func (db *DB) AuditIndexed() int64 { return db.audit.indexed }

// CopyOrder is the tables carerecord migrate copies, in order.
var CopyOrder = copyOrder

// TestEngine is the engine the store's tests run on (engine_main_test.go).
var TestEngine = SQLite
