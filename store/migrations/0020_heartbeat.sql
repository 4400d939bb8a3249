-- One row that /readyz rewrites: readiness is a committed write on the
-- writer connection, as every audit commit is, so a database that can be
-- read but not written is reported not ready. (Numbered 0020 to leave the
-- numbers after 0011 to the audit log's own migrations.)
CREATE TABLE heartbeat (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	at INTEGER NOT NULL
);
