//! Management keys, projects and their webhooks.
//!
//! Every per-project call names the project, and every query filters on it, so an id that
//! belongs to another project reads as missing (`NotFound`), never as someone else's data.

use sendout_core::ids::{ProjectId, WebhookId};
use sendout_core::time::Timestamp;
use sqlx::{Executor, Sqlite};

use super::SqliteStore;
use crate::model::{Project, ProjectUpdate, Webhook, WebhookFields};
use crate::rows::{self, to_json};
use crate::{FirstStartCreated, FirstStartRecords, NewProject, StoreError, StoreResult};

/// `NotFound` unless the project exists.
pub(super) async fn ensure_project<'c, E>(conn: E, id: &ProjectId) -> StoreResult<()>
where
    E: Executor<'c, Database = Sqlite>,
{
    sqlx::query("SELECT 1 FROM projects WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

pub(super) async fn management_key(store: &SqliteStore, id: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT token_hash FROM management_keys WHERE id = ?1")
            .bind(id)
            .fetch_optional(&store.readers)
            .await?,
    )
}

pub(super) async fn put_management_key(
    store: &SqliteStore,
    id: &str,
    token_hash: &str,
) -> StoreResult<()> {
    insert_management_key(&store.writer, id, token_hash).await
}

async fn insert_management_key<'c, E>(conn: E, id: &str, token_hash: &str) -> StoreResult<()>
where
    E: Executor<'c, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO management_keys (id, token_hash, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash",
    )
    .bind(id)
    .bind(token_hash)
    .bind(Timestamp::now().as_millis())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn has_management_keys(store: &SqliteStore) -> StoreResult<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM management_keys)")
            .fetch_one(&store.readers)
            .await?,
    )
}

pub(super) async fn create_first_start(
    store: &SqliteStore,
    records: FirstStartRecords,
) -> StoreResult<FirstStartCreated> {
    // `BEGIN IMMEDIATE` takes the database's write lock before the checks, so another
    // process starting on the same file waits, then sees what this one created.
    let mut tx = store.write().await?;
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

pub(super) async fn create_project(store: &SqliteStore, new: NewProject) -> StoreResult<Project> {
    insert_project(&store.writer, new).await
}

async fn insert_project<'c, E>(conn: E, new: NewProject) -> StoreResult<Project>
where
    E: Executor<'c, Database = Sqlite>,
{
    let now = Timestamp::now();
    let row = sqlx::query(
        "INSERT INTO projects (id, name, description, timezone, webhook_version, webhook_token, \
         app_id, app_token_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING *",
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

pub(super) async fn list_projects(store: &SqliteStore) -> StoreResult<Vec<Project>> {
    sqlx::query("SELECT * FROM projects ORDER BY created_at, id")
        .fetch_all(&store.readers)
        .await?
        .iter()
        .map(rows::project)
        .collect()
}

pub(super) async fn get_project<'c, E>(conn: E, id: &ProjectId) -> StoreResult<Project>
where
    E: Executor<'c, Database = Sqlite>,
{
    let row = sqlx::query("SELECT * FROM projects WHERE id = ?1")
        .bind(id.as_str())
        .fetch_one(conn)
        .await?;
    rows::project(&row)
}

pub(super) async fn project_by_app_id(
    store: &SqliteStore,
    app_id: &str,
) -> StoreResult<Option<Project>> {
    sqlx::query("SELECT * FROM projects WHERE app_id = ?1")
        .bind(app_id)
        .fetch_optional(&store.readers)
        .await?
        .as_ref()
        .map(rows::project)
        .transpose()
}

pub(super) async fn update_project(
    store: &SqliteStore,
    id: &ProjectId,
    update: ProjectUpdate,
) -> StoreResult<Project> {
    let mut tx = store.write().await?;
    let mut project = get_project(&mut *tx, id).await?;
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
        "UPDATE projects SET name = ?2, description = ?3, timezone = ?4, webhook_version = ?5, \
         updated_at = ?6 WHERE id = ?1",
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

pub(super) async fn delete_project(store: &SqliteStore, id: &ProjectId) -> StoreResult<()> {
    // Foreign keys cascade to webhooks, events, send outs and attempts.
    let done = sqlx::query("DELETE FROM projects WHERE id = ?1")
        .bind(id.as_str())
        .execute(&store.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn rotate_webhook_token(
    store: &SqliteStore,
    id: &ProjectId,
    new_token: &str,
    grace_until: Timestamp,
) -> StoreResult<Project> {
    let row = sqlx::query(
        "UPDATE projects SET previous_webhook_token = webhook_token, \
         previous_token_expires_at = ?2, webhook_token = ?3, updated_at = ?4 \
         WHERE id = ?1 RETURNING *",
    )
    .bind(id.as_str())
    .bind(grace_until.as_millis())
    .bind(new_token)
    .bind(Timestamp::now().as_millis())
    .fetch_one(&store.writer)
    .await?;
    rows::project(&row)
}

pub(super) async fn create_webhook(
    store: &SqliteStore,
    project: &ProjectId,
    fields: WebhookFields,
) -> StoreResult<Webhook> {
    let mut tx = store.write().await?;
    ensure_project(&mut *tx, project).await?;
    let now = Timestamp::now().as_millis();
    let row = sqlx::query(
        "INSERT INTO webhooks (id, project_id, target_url, events, active, headers, description, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING *",
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
    store: &SqliteStore,
    project: &ProjectId,
) -> StoreResult<Vec<Webhook>> {
    let mut conn = store.readers.acquire().await?;
    ensure_project(&mut *conn, project).await?;
    load_webhooks(&mut *conn, project).await
}

/// The project's webhooks, oldest first.
pub(super) async fn load_webhooks<'c, E>(conn: E, project: &ProjectId) -> StoreResult<Vec<Webhook>>
where
    E: Executor<'c, Database = Sqlite>,
{
    sqlx::query("SELECT * FROM webhooks WHERE project_id = ?1 ORDER BY id")
        .bind(project.as_str())
        .fetch_all(conn)
        .await?
        .iter()
        .map(rows::webhook)
        .collect()
}

pub(super) async fn get_webhook<'c, E>(
    conn: E,
    project: &ProjectId,
    id: &WebhookId,
) -> StoreResult<Webhook>
where
    E: Executor<'c, Database = Sqlite>,
{
    let row = sqlx::query("SELECT * FROM webhooks WHERE id = ?1 AND project_id = ?2")
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(conn)
        .await?;
    rows::webhook(&row)
}

pub(super) async fn update_webhook(
    store: &SqliteStore,
    project: &ProjectId,
    id: &WebhookId,
    fields: WebhookFields,
) -> StoreResult<Webhook> {
    // Turning a webhook on forgets why it was turned off; turning it off (or leaving it off)
    // keeps an automatic disabling's reason.
    let row = sqlx::query(
        "UPDATE webhooks SET target_url = ?3, events = ?4, active = ?5, headers = ?6, \
         description = ?7, updated_at = ?8, \
         disabled_reason = CASE WHEN ?5 THEN NULL ELSE disabled_reason END, \
         disabled_at = CASE WHEN ?5 THEN NULL ELSE disabled_at END \
         WHERE id = ?1 AND project_id = ?2 RETURNING *",
    )
    .bind(id.as_str())
    .bind(project.as_str())
    .bind(&fields.target_url)
    .bind(to_json(&fields.events)?)
    .bind(fields.active)
    .bind(to_json(&fields.headers)?)
    .bind(&fields.description)
    .bind(Timestamp::now().as_millis())
    .fetch_one(&store.writer)
    .await?;
    rows::webhook(&row)
}

pub(super) async fn delete_webhook(
    store: &SqliteStore,
    project: &ProjectId,
    id: &WebhookId,
) -> StoreResult<()> {
    // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
    let done = sqlx::query("DELETE FROM webhooks WHERE id = ?1 AND project_id = ?2")
        .bind(id.as_str())
        .bind(project.as_str())
        .execute(&store.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
