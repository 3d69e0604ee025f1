//! Management keys, projects and their webhooks, for both backends.
//!
//! Every per-project call names the project, and every query filters on it, so an id that
//! belongs to another project reads as missing (`NotFound`), never as someone else's data.
//! A read-modify-write update locks its row ([`Backend::FOR_UPDATE`]) so two nodes cannot
//! interleave it.

use async_trait::async_trait;
use sendout_core::ids::{ProjectId, WebhookId};
use sendout_core::time::Timestamp;

use super::{query, record_recovery, Backend, Conn, Query};
use crate::model::{Project, ProjectUpdate, SigningSecrets, Webhook, WebhookFields};
use crate::notices::NoticeKind;
use crate::rows::{self, to_json, Columns};
use crate::{Catalog, FirstStartCreated, FirstStartRecords, NewProject, StoreError, StoreResult};

/// `NotFound` unless the project exists.
pub(crate) async fn ensure_project<C: Conn + ?Sized>(
    conn: &mut C,
    id: &ProjectId,
) -> StoreResult<()> {
    query("SELECT 1 FROM projects WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

/// Checks that `project` exists and has fewer than `quota` rows in `table` (`webhooks`,
/// `distributions`), holding the project's row until the transaction ends (`FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction holds the whole database), so creations running
/// at once, on any node, cannot pass the quota together.
pub(crate) async fn within_quota<B: Backend, C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    (table, quota): (&'static str, usize),
) -> StoreResult<()> {
    query(format!(
        "SELECT 1 FROM projects WHERE id = $1{}",
        B::FOR_UPDATE
    ))
    .bind(project.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let count: i64 = query(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE project_id = $1"
    ))
    .bind(project.as_str())
    .fetch_one(conn)
    .await?
    .get("n")?;
    if usize::try_from(count).unwrap_or(usize::MAX) >= quota {
        return Err(StoreError::QuotaExceeded {
            what: table,
            limit: quota,
        });
    }
    Ok(())
}

/// The project's signing secrets at `now` and its webhooks, oldest first, or `None` if the
/// project does not exist. One statement for all of it, so a project deleted meanwhile
/// cannot read as one without webhooks (a project without webhooks is one row of NULLs
/// beside its secrets), and ingest needs no second statement for the secrets of the claims
/// it hands over.
pub(crate) async fn project_webhooks<C: Conn + ?Sized>(
    conn: &mut C,
    project: &ProjectId,
    now: Timestamp,
) -> StoreResult<Option<(SigningSecrets, Vec<Webhook>)>> {
    let found = query(
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
        first.get("project_token")?,
        first.get("project_previous_token")?,
        rows::opt_ts(first.get("project_previous_until")?),
        now,
    );
    let mut webhooks = Vec::with_capacity(found.len());
    for row in &found {
        if row.get::<Option<String>>("id")?.is_some() {
            webhooks.push(rows::webhook(row)?);
        }
    }
    Ok(Some((secrets, webhooks)))
}

async fn insert_management_key<C: Conn + ?Sized>(
    conn: &mut C,
    id: &str,
    token_hash: &str,
) -> StoreResult<()> {
    query(
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

async fn any_management_key<C: Conn + ?Sized>(conn: &mut C) -> StoreResult<bool> {
    query("SELECT EXISTS (SELECT 1 FROM management_keys) AS found")
        .fetch_one(conn)
        .await?
        .get("found")
}

async fn insert_project<C: Conn + ?Sized>(conn: &mut C, new: NewProject) -> StoreResult<Project> {
    let now = Timestamp::now();
    let notifications = to_json(&new.callout_notifications)?;
    let operational = new
        .operational_webhook_url
        .as_ref()
        .map(ToString::to_string);
    let row = query(
        "INSERT INTO projects (id, name, description, timezone, webhook_version, webhook_token, \
         app_id, app_token_hash, callout_notifications, operational_webhook_url, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10, $10) RETURNING *",
    )
    .bind(new.id.as_str())
    .bind(&new.name)
    .bind(&new.description)
    .bind(&new.timezone)
    .bind(&new.webhook_version)
    .bind(&new.webhook_token)
    .bind(&new.app_id)
    .bind(&new.app_token_hash)
    .bind(&notifications)
    .bind(now.as_millis())
    .bind(&operational)
    .fetch_one(conn)
    .await?;
    rows::project(&row)
}

/// The columns of a webhook kept as JSON text.
struct WebhookJson {
    events: String,
    headers: String,
    public_headers: String,
}

impl WebhookJson {
    fn of(fields: &WebhookFields) -> StoreResult<Self> {
        Ok(Self {
            events: to_json(&fields.events)?,
            headers: to_json(&fields.headers)?,
            public_headers: to_json(&fields.public_headers)?,
        })
    }
}

/// `sql` with a webhook's row bound to its placeholders: `$1` the webhook, `$2` its project,
/// `$3` to `$7` its fields (target URL, events, active, headers, description), `$8` now,
/// `$9` its public headers.
fn webhook_query<'a>(
    sql: &'a str,
    id: &'a WebhookId,
    project: &'a ProjectId,
    fields: &'a WebhookFields,
    json: &'a WebhookJson,
) -> Query<'a> {
    query(sql)
        .bind(id.as_str())
        .bind(project.as_str())
        .bind(fields.target_url.as_str())
        .bind(&json.events)
        .bind(fields.active)
        .bind(&json.headers)
        .bind(&fields.description)
        .bind(Timestamp::now().as_millis())
        .bind(&json.public_headers)
}

#[async_trait]
impl<B: Backend> Catalog for B {
    async fn management_key(&self, id: &str) -> StoreResult<Option<String>> {
        let row = query("SELECT token_hash FROM management_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        row.map(|row| row.get("token_hash")).transpose()
    }

    async fn put_management_key(&self, id: &str, token_hash: &str) -> StoreResult<()> {
        insert_management_key(&mut *self.writer().await?, id, token_hash).await
    }

    async fn has_management_keys(&self) -> StoreResult<bool> {
        any_management_key(&mut *self.reader().await?).await
    }

    async fn create_first_start(
        &self,
        records: FirstStartRecords,
    ) -> StoreResult<FirstStartCreated> {
        // Another node (or process on the same file) starting at the same time waits for
        // this transaction, then sees what it created.
        let mut tx = self.begin_exclusive().await?;
        let mut created = FirstStartCreated {
            management_key: false,
            project: None,
        };
        if let Some((id, token_hash)) = &records.management_key {
            if !any_management_key(&mut *tx).await? {
                insert_management_key(&mut *tx, id, token_hash).await?;
                created.management_key = true;
            }
        }
        let any: bool = query("SELECT EXISTS (SELECT 1 FROM projects) AS found")
            .fetch_one(&mut *tx)
            .await?
            .get("found")?;
        if !any {
            created.project = Some(insert_project(&mut *tx, records.project).await?);
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        insert_project(&mut *self.writer().await?, project).await
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        query("SELECT * FROM projects ORDER BY created_at, id")
            .fetch_all(&mut *self.reader().await?)
            .await?
            .iter()
            .map(rows::project)
            .collect()
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Project> {
        let row = query("SELECT * FROM projects WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *self.reader().await?)
            .await?;
        rows::project(&row)
    }

    async fn project_by_app_id(&self, app_id: &str) -> StoreResult<Option<Project>> {
        query("SELECT * FROM projects WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(&mut *self.reader().await?)
            .await?
            .as_ref()
            .map(rows::project)
            .transpose()
    }

    async fn update_project(&self, id: &ProjectId, update: ProjectUpdate) -> StoreResult<Project> {
        let mut tx = self.begin().await?;
        let row = query(format!(
            "SELECT * FROM projects WHERE id = $1{}",
            B::FOR_UPDATE
        ))
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
        if let Some(notifications) = update.callout_notifications {
            project.callout_notifications = notifications;
        }
        if let Some(url) = update.operational_webhook_url {
            project.operational_webhook_url = url;
        }
        project.updated_at = Timestamp::now();
        let notifications = to_json(&project.callout_notifications)?;
        let operational = project
            .operational_webhook_url
            .as_ref()
            .map(ToString::to_string);
        query(
            "UPDATE projects SET name = $2, description = $3, timezone = $4, \
             webhook_version = $5, callout_notifications = $6, updated_at = $7, \
             operational_webhook_url = $8 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(&project.name)
        .bind(&project.description)
        .bind(&project.timezone)
        .bind(&project.webhook_version)
        .bind(&notifications)
        .bind(project.updated_at.as_millis())
        .bind(&operational)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    async fn delete_project(&self, id: &ProjectId) -> StoreResult<()> {
        // Foreign keys cascade to webhooks, events, send outs and attempts.
        query("DELETE FROM projects WHERE id = $1")
            .bind(id.as_str())
            .execute_found(&mut *self.writer().await?)
            .await
    }

    async fn rotate_webhook_token(
        &self,
        id: &ProjectId,
        new_token: &str,
        grace_until: Timestamp,
    ) -> StoreResult<Project> {
        // One statement: the old secret kept is the one this very update replaces.
        let row = query(
            "UPDATE projects SET previous_webhook_token = webhook_token, \
             previous_token_expires_at = $2, webhook_token = $3, updated_at = $4 \
             WHERE id = $1 RETURNING *",
        )
        .bind(id.as_str())
        .bind(grace_until.as_millis())
        .bind(new_token)
        .bind(Timestamp::now().as_millis())
        .fetch_one(&mut *self.writer().await?)
        .await?;
        rows::project(&row)
    }

    async fn create_webhook_within(
        &self,
        project: &ProjectId,
        fields: WebhookFields,
        quota: usize,
    ) -> StoreResult<Webhook> {
        let mut tx = self.begin().await?;
        within_quota::<B, _>(&mut *tx, project, ("webhooks", quota)).await?;
        let (id, json) = (WebhookId::new(), WebhookJson::of(&fields)?);
        let row = webhook_query(
            "INSERT INTO webhooks (id, project_id, target_url, events, active, headers, \
             description, created_at, updated_at, public_headers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING *",
            &id,
            project,
            &fields,
            &json,
        )
        .fetch_one(&mut *tx)
        .await?;
        let webhook = rows::webhook(&row)?;
        tx.commit().await?;
        Ok(webhook)
    }

    async fn list_webhooks(&self, project: &ProjectId) -> StoreResult<Vec<Webhook>> {
        let (_, webhooks) = project_webhooks(&mut *self.reader().await?, project, Timestamp::now())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(webhooks)
    }

    async fn get_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<Webhook> {
        let row = query("SELECT * FROM webhooks WHERE id = $1 AND project_id = $2")
            .bind(id.as_str())
            .bind(project.as_str())
            .fetch_one(&mut *self.reader().await?)
            .await?;
        rows::webhook(&row)
    }

    async fn update_webhook(
        &self,
        project: &ProjectId,
        id: &WebhookId,
        fields: WebhookFields,
    ) -> StoreResult<Webhook> {
        // Turning a webhook on forgets why it was turned off; turning it off (or leaving it
        // off) keeps an automatic disabling's reason. Turning on one sendout had disabled is
        // a recovery, noticed in the same transaction.
        let json = WebhookJson::of(&fields)?;
        let mut tx = self.begin().await?;
        let before = query(format!(
            "SELECT disabled_at FROM webhooks WHERE id = $1 AND project_id = $2{}",
            B::FOR_UPDATE
        ))
        .bind(id.as_str())
        .bind(project.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let disabled_at: Option<i64> = before.get("disabled_at")?;
        let row = webhook_query(
            "UPDATE webhooks SET target_url = $3, events = $4, active = $5, headers = $6, \
             description = $7, updated_at = $8, public_headers = $9, \
             disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
             disabled_at = CASE WHEN $5 THEN NULL ELSE disabled_at END \
             WHERE id = $1 AND project_id = $2 RETURNING *",
            id,
            project,
            &fields,
            &json,
        )
        .fetch_one(&mut *tx)
        .await?;
        let updated = rows::webhook(&row)?;
        if updated.active && disabled_at.is_some() {
            record_recovery(
                &mut *tx,
                project,
                NoticeKind::WebhookEnabled,
                id.as_str(),
                Some(updated.target_url.as_str()),
                updated.updated_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn delete_webhook(&self, project: &ProjectId, id: &WebhookId) -> StoreResult<()> {
        // Its send outs stay in the audit log; open ones end FAILED (their target is gone).
        query("DELETE FROM webhooks WHERE id = $1 AND project_id = $2")
            .bind(id.as_str())
            .bind(project.as_str())
            .execute_found(&mut *self.writer().await?)
            .await
    }
}
