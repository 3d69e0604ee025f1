-- A send out's request (headers and body) in a table of its own, as in the embedded store's
-- 0003_send_out_bodies.sql: written once at ingest and only read afterwards, so the queue row
-- that every claim and every attempt's outcome rewrites (and PostgreSQL copies whole, as a
-- new row version, at each update) stays a few hundred bytes instead of several kilobytes.
-- From now on a project-settings webhook's request without headers of its own is not stored
-- at all: its envelope is built again from the send out's row and its event's when read.
--
-- Upgrading in place: every body stored so far moves here unchanged (they read as before,
-- stored ones win over rebuilt ones), then the old columns go. Dropping a column is only a
-- change to the catalog in PostgreSQL; the space the old values took is reused as rows are
-- updated and vacuumed.

CREATE TABLE send_out_bodies (
    send_out_id  TEXT PRIMARY KEY REFERENCES send_outs (id) ON DELETE CASCADE,
    headers      TEXT NOT NULL,  -- JSON object
    body         TEXT NOT NULL
);

INSERT INTO send_out_bodies (send_out_id, headers, body) SELECT id, headers, body FROM send_outs;
ALTER TABLE send_outs DROP COLUMN headers, DROP COLUMN body;
