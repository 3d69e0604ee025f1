-- Claims shared fairly between projects (issue 16 items 2 and 3): a claim lists the projects
-- with open send outs by a loose scan of this index (one seek per project) and reads each
-- one's oldest due send outs from it, so a project's backlog of any size never starves
-- another project's due work (see `src/fair.rs`). `send_outs_due` stays for what is ordered
-- by due time across projects (the next due time, the queue's figures, and on PostgreSQL a claim when
-- only one project has work).
--
-- Upgrading in place: only an index is added; no row is changed.

CREATE INDEX send_outs_due_by_project ON send_outs (project_id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
