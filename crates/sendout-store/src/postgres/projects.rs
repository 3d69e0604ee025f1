//! Management keys, projects and their webhooks.
//!
//! Every per-project call names the project, and every query filters on it, so an id that
//! belongs to another project reads as missing (`NotFound`), never as someone else's data.
//! Read-modify-write updates lock the row (`FOR UPDATE`) so two nodes cannot interleave them.

use sendout_core::ids::{ProjectId, WebhookId};
use sendout_core::time::Timestamp;
use sqlx::{Executor, Postgres, Row};

use super::PostgresStore;
use crate::model::{Project, ProjectUpdate, SigningSecrets, Webhook, WebhookFields};
use crate::rows::{self, to_json};
use crate::{FirstStartCreated, FirstStartRecords, NewProject, StoreError, StoreResult};

/// `NotFound` unless the project exists.
pub(super) async fn ensure_project<'c, E>(conn: E, id: &ProjectId) -> StoreResult<()>
where
    E: Executor<'c, Database = Postgres>,
{
    sqlx::query("SELECT 1 FROM projects WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

pub(super) async fn management_key(store: &PostgresStore, id: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT token_hash FROM management_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&store.pool)
            .await?,
    )
}

pub(super) async fn put_management_key(
    store: &PostgresStore,
    id: &str,
    token_hash: &str,
) -> StoreResult<()> {
    insert_management_key(&store.pool, id, token_hash).await
}

async fn insert_management_key<'c, E>(conn: E, id: &str, token_hash: &str) -> StoreResult<()>
where
    E: Executor<'c, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO management_keys (id, token_hash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash",
    )
    .bind(id)
    .bind(token_hash)
    .bind(Timestamp::now().as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn has_management_keys(store: &PostgresStore) -> StoreResult<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM management_keys)")
            .fetch_one(&store.pool)
            .await?,
    )
}

/// The advisory lock that serializes first starts across nodes (any constant no other code
/// uses: "sendout" in ASCII).
const FIRST_START_LOCK: i64 = 0x73_656e_646f_7574;

pub(super) async fn create_first_start(
    store: &PostgresStore,
    records: FirstStartRecords,
) -> StoreResult<FirstStartCreated> {
    let mut tx = store.pool.begin().await?;
    // Held until the transaction ends: a node starting at the same time waits here, then
    // sees what this one created.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FIRST_START_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut created = FirstStartCreated {
        management_key: false,
        project: None,
    };
    if let Some((id, token_hash)) = &records.management_key {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM management_keys)")
            .fetch_one(&mut *tx)
            .await?;
        if !any {
            insert_management_key(&mut *tx, id, token_hash).await?;
            created.management_key = true;
        }
    }
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects)")
        .fetch_one(&mut *tx)
        .await?;
    if !any {
        created.project = Some(insert_project(&mut *tx, records.project).await?);
    }
    tx.commit().await?;
    Ok(created)
}

pub(super) async fn create_project(store: &PostgresStore, new: NewProject) -> StoreResult<Project> {
    insert_project(&store.pool, new).await
}

async fn insert_project<'c, E>(conn: E, new: NewProject) -> StoreResult<Project>
where
    E: Executor<'c, Database = Postgres>,
{
    let now = Timestamp::now();
    let row = sqlx::query(
        "INSERT INTO projects (id, name, description, timezone, webhook_version, webhook_token, \
         app_id, app_token_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING *",
    )
    .bind(new.id.as_str())
    .bind(&new.name)
    .bind(&new.description)
    .bind(&new.timezone)
    .bind(&new.webhook_version)
    .bind(&new.webhook_token)
    .bind(&new.app_id)
    .bind(&new.app_token_hash)
    .bind(now.as_millis())
    .fetch_one(conn)
    .await?;
    rows::project(&row)
}

pub(super) async fn list_projects(store: &PostgresStore) -> StoreResult<Vec<Project>> {
    sqlx::query("SELECT * FROM projects ORDER BY created_at, id")
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(rows::project)
        .collect()
}

pub(super) async fn get_project<'c, E>(conn: E, id: &ProjectId) -> StoreResult<Project>
where
    E: Executor<'c, Database = Postgres>,
{
    let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
        .bind(id.as_str())
        .fetch_one(conn)
        .await?;
    rows::project(&row)
}

pub(super) async fn project_by_app_id(
    store: &PostgresStore,
    app_id: &str,
) -> StoreResult<Option<Project>> {
    sqlx::query("SELECT * FROM projects WHERE app_id = $1")
        .bind(app_id)
        .fetch_optional(&store.pool)
        .await?
        .as_ref()
        .map(rows::project)
        .transpose()
}

pub(super) async fn update_project(
    store: &PostgresStore,
    id: &ProjectId,
    update: ProjectUpdate,
) -> StoreResult<Project> {
    let mut tx = store.pool.begin().await?;
    let row = sqlx::query("SELECT * FROM projects WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let mut project = rows::project(&row)?;
    if let Some(name) = update.name {
        project.name = name;
    }
    if let Some(description) = update.description {
        project.description = description;
    }
    if let Some(timezone) = update.timezone {
        project.timezone = timezone;
    }
    if let Some(version) = update.webhook_version {
        project.webhook_version = version;
    }
    project.updated_at = Timestamp::now();
    sqlx::query(
        "UPDATE projects SET name = $2, description = $3, timezone = $4, webhook_version = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(&project.name)
    .bind(&project.description)
    .bind(&project.timezone)
    .bind(&project.webhook_version)
    .bind(project.updated_at.as_millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(project)
}

pub(super) async fn delete_project(store: &PostgresStore, id: &ProjectId) -> StoreResult<()> {
    // Foreign keys cascade to webhooks, events, send outs and attempts.
    let done = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id.as_str())
        .execute(&store.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn rotate_webhook_token(
    store: &PostgresStore,
    id: &ProjectId,
    new_token: &str,
    grace_until: Timestamp,
) -> StoreResult<Project> {
    // One statement: the old secret kept is the one this very update replaces.
    let row = sqlx::query(
        "UPDATE projects SET previous_webhook_token = webhook_token, \
         previous_token_expires_at = $2, webhook_token = $3, updated_at = $4 \
         WHERE id = $1 RETURNING *",
    )
    .bind(id.as_str())
    .bind(grace_until.as_millis())
    .bind(new_token)
    .bind(Timestamp::now().as_millis())
    .fetch_one(&store.pool)
    .await?;
    rows::project(&row)
}

pub(super) async fn create_webhook(
    store: &PostgresStore,
    project: &ProjectId,
    fields: WebhookFields,
) -> StoreResult<Webhook> {
    let mut tx = store.pool.begin().await?;
    ensure_project(&mut *tx, project).await?;
    let now = Timestamp::now().as_millis();
    let row = sqlx::query(
        "INSERT INTO webhooks (id, project_id, target_url, events, active, headers, description, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
    )
    .bind(WebhookId::new().as_str())
    .bind(project.as_str())
    .bind(&fields.target_url)
    .bind(to_json(&fields.events)?)
    .bind(fields.active)
    .bind(to_json(&fields.headers)?)
    .bind(&fields.description)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let webhook = rows::webhook(&row)?;
    tx.commit().await?;
    Ok(webhook)
}

pub(super) async fn list_webhooks(
    store: &PostgresStore,
    project: &ProjectId,
) -> StoreResult<Vec<Webhook>> {
    let (_, webhooks) = project_webhooks(&store.pool, project, Timestamp::now())
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(webhooks)
}

/// The project's signing secrets at `now` and its webhooks, oldest first, or `None` if the
/// project does not exist. One statement for all of it, so a project deleted meanwhile
/// cannot read as one without webhooks (a project without webhooks is one row of NULLs
/// beside its secrets), and ingest needs no second query for the secrets of the claims it
/// hands over.
pub(super) async fn project_webhooks<'c, E>(
    conn: E,
    project: &ProjectId,
    now: Timestamp,
) -> StoreResult<Option<(SigningSecrets, Vec<Webhook>)>>
where
    E: Executor<'c, Database = Postgres>,
{
    let found = sqlx::query(
        "SELECT p.webhook_token AS project_token, \
         p.previous_webhook_token AS project_previous_token, \
         p.previous_token_expires_at AS project_previous_until, w.* \
         FROM projects p LEFT JOIN webhooks w ON w.project_id = p.id \
         WHERE p.id = $1 ORDER BY w.id",
    )
    .bind(project.as_str())
    .fetch_all(conn)
    .await?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let secrets = SigningSecrets::in_force(
        first.try_get("project_token")?,
        first.try_get("project_previous_token")?,
        rows::opt_ts(first.try_get("project_previous_until")?),
        now,
    );
    let mut webhooks = Vec::with_capacity(found.len());
    for row in &found {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            webhooks.push(rows::webhook(row)?);
        }
    }
    Ok(Some((secrets, webhooks)))
}

pub(super) async fn get_webhook<'c, E>(
    conn: E,
    project: &ProjectId,
    id: &WebhookId,
) -> StoreResult<Webhook>
where
    E: Executor<'c, Database = Postgres>,
{
    let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1 AND project_id = $2")
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(conn)
        .await?;
    rows::webhook(&row)
}

pub(super) async fn update_webhook(
    store: &PostgresStore,
    project: &ProjectId,
    id: &WebhookId,
    fields: WebhookFields,
) -> StoreResult<Webhook> {
    // Turning a webhook on forgets why it was turned off; turning it off (or leaving it off)
    // keeps an automatic disabling's reason.
    let row = sqlx::query(
        "UPDATE webhooks SET target_url = $3, events = $4, active = $5, headers = $6, \
         description = $7, updated_at = $8, \
         disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
         disabled_at = CASE WHEN $5 THEN NULL ELSE disabled_at END \
         WHERE id = $1 AND project_id = $2 RETURNING *",
    )
    .bind(id.as_str())
    .bind(project.as_str())
    .bind(&fields.target_url)
    .bind(to_json(&fields.events)?)
    .bind(fields.active)
    .bind(to_json(&fields.headers)?)
    .bind(&fields.description)
    .bind(Timestamp::now().as_millis())
    .fetch_one(&store.pool)
    .await?;
    rows::webhook(&row)
}

pub(super) async fn delete_webhook(
    store: &PostgresStore,
    project: &ProjectId,
    id: &WebhookId,
) -> StoreResult<()> {
    // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND project_id = $2")
        .bind(id.as_str())
        .bind(project.as_str())
        .execute(&store.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
