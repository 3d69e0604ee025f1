-- Idempotent ingest (issue 17): a key sent with `POST /v1/events` (the Idempotency-Key header,
-- scope 'request') or with one event of a batch (its `idempotency_key`, scope 'event') is kept
-- with the answer it got, written in the ingest's own transaction. The primary key is what
-- makes two requests with one key, on one node or on several, make one event: the second
-- finds the first's row and replays its answer. `expires_at` is when the key may be used
-- again as new; retention deletes rows past it.
--
-- Upgrading in place: a new table, and a new column on events that is NULL for every event
-- stored so far (they were ingested without a key). Nothing stored is rewritten.

CREATE TABLE idempotency_keys (
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,  -- 'request' | 'event'
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,  -- SHA-256 of the body (or the event) it was sent with
    status           BIGINT NOT NULL,
    response         TEXT NOT NULL,  -- the answer's body, byte for byte
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    PRIMARY KEY (project_id, scope, idempotency_key)
);
-- Retention walks keys by expiry across projects.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- The key an event was ingested with (its own, else its request's), for the audit log.
ALTER TABLE events ADD COLUMN idempotency_key TEXT;
