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
    channel           BIGINT NOT NULL,
    minute            BIGINT NOT NULL,   -- the minute's start, ms since the epoch
    attempts          BIGINT NOT NULL,
    succeeded         BIGINT NOT NULL,
    b00               BIGINT NOT NULL DEFAULT 0,
    b01               BIGINT NOT NULL DEFAULT 0,
    b02               BIGINT NOT NULL DEFAULT 0,
    b03               BIGINT NOT NULL DEFAULT 0,
    b04               BIGINT NOT NULL DEFAULT 0,
    b05               BIGINT NOT NULL DEFAULT 0,
    b06               BIGINT NOT NULL DEFAULT 0,
    b07               BIGINT NOT NULL DEFAULT 0,
    b08               BIGINT NOT NULL DEFAULT 0,
    b09               BIGINT NOT NULL DEFAULT 0,
    b10               BIGINT NOT NULL DEFAULT 0,
    b11               BIGINT NOT NULL DEFAULT 0,
    b12               BIGINT NOT NULL DEFAULT 0,
    b13               BIGINT NOT NULL DEFAULT 0,
    b14               BIGINT NOT NULL DEFAULT 0,
    b15               BIGINT NOT NULL DEFAULT 0,
    b16               BIGINT NOT NULL DEFAULT 0,
    b17               BIGINT NOT NULL DEFAULT 0,
    b18               BIGINT NOT NULL DEFAULT 0,
    b19               BIGINT NOT NULL DEFAULT 0,
    b20               BIGINT NOT NULL DEFAULT 0,
    b21               BIGINT NOT NULL DEFAULT 0,
    b22               BIGINT NOT NULL DEFAULT 0,
    b23               BIGINT NOT NULL DEFAULT 0,
    b24               BIGINT NOT NULL DEFAULT 0,
    b25               BIGINT NOT NULL DEFAULT 0,
    b26               BIGINT NOT NULL DEFAULT 0,
    b27               BIGINT NOT NULL DEFAULT 0,
    b28               BIGINT NOT NULL DEFAULT 0,
    b29               BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, source_kind, source_id, channel, minute)
);
-- Retention: the minutes past the longest window.
CREATE INDEX target_minutes_by_minute ON target_minutes (minute);

CREATE TABLE target_health (
    project_id            TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_kind           TEXT NOT NULL,
    source_id             TEXT NOT NULL,
    channel               BIGINT NOT NULL,
    consecutive_failures  BIGINT NOT NULL,
    last_attempt_at       BIGINT,
    last_success_at       BIGINT,
    last_failure_at       BIGINT,
    PRIMARY KEY (project_id, source_kind, source_id, channel)
);
