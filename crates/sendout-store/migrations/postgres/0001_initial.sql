-- sendout's PostgreSQL store: the same tables as the embedded store's 0001_initial.sql.
-- Timestamps are BIGINT milliseconds since the Unix epoch, ids are TEXT (send-out ids sort by
-- creation time), JSON is kept as compact TEXT exactly as written (bodies and event data must
-- reach receivers byte for byte; the store never queries inside JSON), booleans are BOOLEAN.

CREATE TABLE management_keys (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    description                TEXT,
    timezone                   TEXT NOT NULL,
    webhook_version            TEXT NOT NULL,
    webhook_token              TEXT NOT NULL,
    previous_webhook_token     TEXT,
    previous_token_expires_at  BIGINT,
    app_id                     TEXT NOT NULL UNIQUE,
    app_token_hash             TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    target_url       TEXT NOT NULL,
    events           TEXT NOT NULL,  -- JSON array of type names, ["*"] for all
    active           BOOLEAN NOT NULL,
    headers          TEXT NOT NULL,  -- JSON object
    description      TEXT,
    disabled_reason  TEXT,
    disabled_at      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
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
    created_at    BIGINT NOT NULL,  -- as reported by the client
    received_at   BIGINT NOT NULL   -- when sendout stored it; retention counts from here
);
CREATE INDEX events_by_project ON events (project_id, received_at);
-- Retention walks events by age across projects.
CREATE INDEX events_by_received ON events (received_at);

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
    channel           BIGINT,
    target_url        TEXT NOT NULL,
    headers           TEXT NOT NULL,  -- JSON object
    body              TEXT NOT NULL,
    status            TEXT NOT NULL,  -- PENDING | RETRYING | SUCCEEDED | FAILED
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    last_attempt_at   BIGINT,
    failure_reason    TEXT,
    is_test           BOOLEAN NOT NULL DEFAULT FALSE,
    group_id          TEXT,
    event_created_at  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    lease_until       BIGINT
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
-- Retention walks finished send outs by age across projects.
CREATE INDEX send_outs_finished ON send_outs (created_at) WHERE next_attempt_at IS NULL;

CREATE TABLE attempts (
    send_out_id      TEXT NOT NULL REFERENCES send_outs (id) ON DELETE CASCADE,
    number           BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    response_status  BIGINT,
    response_body    TEXT,
    error            TEXT,
    succeeded        BOOLEAN NOT NULL,
    PRIMARY KEY (send_out_id, number)
);
