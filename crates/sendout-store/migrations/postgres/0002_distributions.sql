-- Distributions (PRODUCT §6), as in the embedded store's 0002_distributions.sql. The
-- configuration a user wrote is one JSON document (`spec`: name, trigger, action, channels),
-- checked against the catalog before it is stored and kept as the exact text written; the
-- columns beside it are what queries filter on.

CREATE TABLE distributions (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    trigger_event  TEXT NOT NULL,  -- canonical catalog name, copied from spec.trigger.event
    status         TEXT NOT NULL,  -- DRAFT | LIVE | PAUSED
    spec           TEXT NOT NULL,  -- JSON: {name, trigger, action, channels}
    paused_reason  TEXT,           -- why sendout paused it; NULL when a person did
    paused_at      BIGINT,         -- set exactly while status = 'PAUSED'
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX distributions_by_project ON distributions (project_id, id);
-- Fan-out: the live distributions of a project.
CREATE INDEX distributions_live ON distributions (project_id, trigger_event) WHERE status = 'LIVE';
