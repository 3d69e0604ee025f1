-- The indexes retention walks, which the PostgreSQL store has had from its first migration:
-- `prune` deletes finished send outs and then events by age across every project, and without
-- these each of its passes read both tables whole. A test holds the two stores' migrations to
-- the same tables, columns and indexes (tests/store/schema.rs).

-- Retention walks events by age across projects.
CREATE INDEX events_by_received ON events (received_at);
-- Retention walks finished send outs by age across projects.
CREATE INDEX send_outs_finished ON send_outs (created_at) WHERE next_attempt_at IS NULL;
