-- Callout notices (issue 18): what sendout tells a project's people when it gives up on a
-- target, warns that one is failing, or sees one re-enabled. One row per notice: the in-app
-- list reads it (`in_app`, `read_at`), and it is the outbox of its mail (`mail_*`),
-- written in the transaction of the state change that caused it and drained by a background
-- task that claims a row with a lease (`mail_lease_until`) and marks it sent.
--
-- Upgrading in place: a new table, empty at first; nothing stored is rewritten.

CREATE TABLE notices (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,  -- webhook.disabled | webhook.failing | webhook.enabled | distribution.paused | distribution.failing | distribution.live
    target_kind       TEXT NOT NULL,  -- 'webhook' | 'distribution'
    target_id         TEXT NOT NULL,
    target_url        TEXT,
    channel           INTEGER,
    send_out_id       TEXT,           -- the send out that caused it, if one did
    reason            TEXT,
    last_status       INTEGER,             -- that send out's last attempt
    last_error        TEXT,
    last_body         TEXT,
    dedupe_key        TEXT,           -- at most one notice per key (a failing target's warning)
    created_at        INTEGER NOT NULL,
    in_app            INTEGER NOT NULL,
    read_at           INTEGER,
    mail_to           TEXT,           -- JSON array of addresses; NULL: no mail
    mail_state        TEXT,           -- pending | sent | skipped | failed; NULL: no mail
    mail_attempts     INTEGER NOT NULL DEFAULT 0,
    mail_next_at      INTEGER,
    mail_lease_until  INTEGER,
    mail_error        TEXT,
    mail_sent_at      INTEGER
);
-- The dashboard's list and unread count, per project, newest first.
CREATE INDEX notices_by_project ON notices (project_id, id);
-- The mail outbox: pending mails, earliest due first.
CREATE INDEX notices_mail_due ON notices (mail_next_at) WHERE mail_state = 'pending';
-- A failing target is warned once per incident.
CREATE UNIQUE INDEX notices_dedupe ON notices (dedupe_key);
