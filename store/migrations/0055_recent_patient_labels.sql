-- Who each recent patient is, as the record's banner showed them when the
-- user opened it (name, and birth date unless restricted; never an
-- address), for the search page's "Your recent patients". Sealed with the
-- cache key (AES-256-GCM, bound to user_id and nhs_number) as the record
-- cache is; NULL where no cache key is configured or for rows from before.
ALTER TABLE recent_patients ADD COLUMN label BLOB;
