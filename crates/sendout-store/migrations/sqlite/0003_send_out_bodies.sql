-- A send out's request (headers and body) in a table of its own, written once at ingest and
-- only read afterwards. The queue row left in `send_outs` (status, schedule, lease, counts) is
-- a few hundred bytes instead of several kilobytes, so the two writes every delivery makes to
-- it (the claim's lease and the attempt's outcome) no longer copy the body into the WAL and
-- again into the database at each checkpoint. See docs/PERFORMANCE.md.

CREATE TABLE send_out_bodies (
    send_out_id  TEXT PRIMARY KEY REFERENCES send_outs (id) ON DELETE CASCADE,
    headers      TEXT NOT NULL,  -- JSON object
    body         TEXT NOT NULL
);

INSERT INTO send_out_bodies (send_out_id, headers, body) SELECT id, headers, body FROM send_outs;
ALTER TABLE send_outs DROP COLUMN headers;
ALTER TABLE send_outs DROP COLUMN body;
