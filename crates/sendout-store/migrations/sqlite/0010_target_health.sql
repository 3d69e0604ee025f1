-- Endpoint health (issue 18 item 5): per target (a webhook, or one channel of a
-- distribution; a webhook's channel is 0) and minute, how many attempts were made, how many
-- succeeded, and a log-scale histogram of their durations (`b00` … `b29`, the bounds in
-- `src/health.rs`); and per target, the running state (consecutive failures, last success).
-- The completion writer upserts both in the transaction that records the attempts, one row
-- of each per target per batch, so the figures are read from at most 1,440 minute rows a
-- day per target instead of from the attempts. Retention deletes minute rows older than a
-- day and states not touched within the retention.
--
-- Upgrading in place: two new tables, empty at first; nothing stored is rewritten. Figures
-- count the attempts made from the upgrade on (earlier ones stay in the audit log).

CREATE TABLE target_minutes (
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_kind       TEXT NOT NULL,  -- 'webhook' | 'distribution'
    source_id         TEXT NOT NULL,
    channel           INTEGER NOT NULL,
    minute            INTEGER NOT NULL,   -- the minute's start, ms since the epoch
    attempts          INTEGER NOT NULL,
    succeeded         INTEGER NOT NULL,
    b00               INTEGER NOT NULL DEFAULT 0,
    b01               INTEGER NOT NULL DEFAULT 0,
    b02               INTEGER NOT NULL DEFAULT 0,
    b03               INTEGER NOT NULL DEFAULT 0,
    b04               INTEGER NOT NULL DEFAULT 0,
    b05               INTEGER NOT NULL DEFAULT 0,
    b06               INTEGER NOT NULL DEFAULT 0,
    b07               INTEGER NOT NULL DEFAULT 0,
    b08               INTEGER NOT NULL DEFAULT 0,
    b09               INTEGER NOT NULL DEFAULT 0,
    b10               INTEGER NOT NULL DEFAULT 0,
    b11               INTEGER NOT NULL DEFAULT 0,
    b12               INTEGER NOT NULL DEFAULT 0,
    b13               INTEGER NOT NULL DEFAULT 0,
    b14               INTEGER NOT NULL DEFAULT 0,
    b15               INTEGER NOT NULL DEFAULT 0,
    b16               INTEGER NOT NULL DEFAULT 0,
    b17               INTEGER NOT NULL DEFAULT 0,
    b18               INTEGER NOT NULL DEFAULT 0,
    b19               INTEGER NOT NULL DEFAULT 0,
    b20               INTEGER NOT NULL DEFAULT 0,
    b21               INTEGER NOT NULL DEFAULT 0,
    b22               INTEGER NOT NULL DEFAULT 0,
    b23               INTEGER NOT NULL DEFAULT 0,
    b24               INTEGER NOT NULL DEFAULT 0,
    b25               INTEGER NOT NULL DEFAULT 0,
    b26               INTEGER NOT NULL DEFAULT 0,
    b27               INTEGER NOT NULL DEFAULT 0,
    b28               INTEGER NOT NULL DEFAULT 0,
    b29               INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, source_kind, source_id, channel, minute)
);
-- Retention: the minutes past the longest window.
CREATE INDEX target_minutes_by_minute ON target_minutes (minute);

CREATE TABLE target_health (
    project_id            TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_kind           TEXT NOT NULL,
    source_id             TEXT NOT NULL,
    channel               INTEGER NOT NULL,
    consecutive_failures  INTEGER NOT NULL,
    last_attempt_at       INTEGER,
    last_success_at       INTEGER,
    last_failure_at       INTEGER,
    PRIMARY KEY (project_id, source_kind, source_id, channel)
);
