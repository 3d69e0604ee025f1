-- sendout's embedded store. Timestamps are INTEGER milliseconds since the Unix epoch, ids are
-- TEXT (send-out ids sort by creation time), JSON is kept as compact TEXT, booleans as 0/1.

CREATE TABLE management_keys (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE projects (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    description                TEXT,
    timezone                   TEXT NOT NULL,
    webhook_version            TEXT NOT NULL,
    webhook_token              TEXT NOT NULL,
    previous_webhook_token     TEXT,
    previous_token_expires_at  INTEGER,
    app_id                     TEXT NOT NULL UNIQUE,
    app_token_hash             TEXT NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    target_url       TEXT NOT NULL,
    events           TEXT NOT NULL,  -- JSON array of type names, ["*"] for all
    active           INTEGER NOT NULL,
    headers          TEXT NOT NULL,  -- JSON object
    description      TEXT,
    disabled_reason  TEXT,
    disabled_at      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhooks_by_project ON webhooks (project_id, id);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_type    TEXT NOT NULL,
    data          TEXT NOT NULL,
    entity_id     TEXT,
    group_id      TEXT NOT NULL,
    event_source  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,  -- as reported by the client
    received_at   INTEGER NOT NULL   -- when sendout stored it; retention counts from here
);
CREATE INDEX events_by_project ON events (project_id, received_at);

-- The delivery queue and the audit log in one table.
-- Invariant: next_attempt_at is NULL exactly when the send out is finished (SUCCEEDED or
-- FAILED); while an open send out is leased, next_attempt_at is at least the lease's end, so
-- "claimable" is `next_attempt_at <= now` on the partial index below.
CREATE TABLE send_outs (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    event_id          TEXT REFERENCES events (id) ON DELETE CASCADE,
    envelope_type     TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    source_kind       TEXT NOT NULL,  -- 'webhook' | 'distribution'
    source_id         TEXT NOT NULL,
    channel           INTEGER,
    target_url        TEXT NOT NULL,
    headers           TEXT NOT NULL,  -- JSON object
    body              TEXT NOT NULL,
    status            TEXT NOT NULL,  -- PENDING | RETRYING | SUCCEEDED | FAILED
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    last_attempt_at   INTEGER,
    failure_reason    TEXT,
    is_test           INTEGER NOT NULL DEFAULT 0,
    group_id          TEXT,
    event_created_at  INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    lease_until       INTEGER
);
-- The claim query: due open send outs, earliest first.
CREATE INDEX send_outs_due ON send_outs (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
-- The audit log: newest first per project, and its common filters.
CREATE INDEX send_outs_by_project ON send_outs (project_id, id);
CREATE INDEX send_outs_by_status ON send_outs (project_id, status, id);
CREATE INDEX send_outs_by_source ON send_outs (project_id, source_id, id);
CREATE INDEX send_outs_by_created ON send_outs (project_id, created_at);
-- Cascades and retention ("does this event still have send outs?").
CREATE INDEX send_outs_by_event ON send_outs (event_id);

CREATE TABLE attempts (
    send_out_id      TEXT NOT NULL REFERENCES send_outs (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    response_status  INTEGER,
    response_body    TEXT,
    error            TEXT,
    succeeded        INTEGER NOT NULL,
    PRIMARY KEY (send_out_id, number)
) WITHOUT ROWID;
