//! The append-only audit log: every write (with before/after) and every view of a
//! household file or reveal of a full ID number. Triggers in both backends refuse
//! UPDATE and DELETE on the table.

use sqlx::{Any, Executor, Row};

use crate::{Result, now_ts};

/// Who did it, as recorded in the log.
#[derive(Clone, Debug)]
pub struct AuditActor {
    pub user_id: Option<i64>,
    pub username: String,
    pub role: String,
}

impl AuditActor {
    pub fn system() -> Self {
        AuditActor {
            user_id: None,
            username: "system".into(),
            role: "system".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub household_id: Option<i64>,
    /// The jurisdiction node the record belongs to (used to scope who may read the entry).
    pub region_code: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub detail: String,
}

pub async fn record<'e, E>(exec: E, actor: &AuditActor, entry: AuditEntry<'_>) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, user_id, username, role, action, entity, entity_id, household_id, \
         region_code, before_json, after_json, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(now_ts())
    .bind(actor.user_id)
    .bind(actor.username.clone())
    .bind(actor.role.clone())
    .bind(entry.action.to_string())
    .bind(entry.entity.to_string())
    .bind(entry.entity_id)
    .bind(entry.household_id)
    .bind(entry.region_code.to_string())
    .bind(entry.before.map(|v| v.to_string()))
    .bind(entry.after.map(|v| v.to_string()))
    .bind(entry.detail)
    .execute(exec)
    .await?;
    Ok(())
}

/// How many entries of `action` an account has caused within the last
/// `window`: rate limits are counted from the log itself.
pub async fn count_within(
    db: &crate::Db,
    user_id: i64,
    action: &str,
    window: chrono::Duration,
) -> Result<i64> {
    let since = (chrono::Utc::now() - window)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE user_id = $1 AND action = $2 AND at >= $3",
    )
    .bind(user_id)
    .bind(action.to_string())
    .bind(since)
    .fetch_one(&db.pool)
    .await?)
}

/// Appends `entries` for `actor` only if, with them, the actor has caused at
/// most `limit` entries of `action` within `window`; returns whether they
/// were written. Counting and appending happen in one write transaction
/// that first locks the account's row (a no-op update: the row lock on
/// PostgreSQL, the write lock on SQLite), so concurrent requests of one
/// account are counted one after the other.
pub async fn append_within_limit(
    db: &crate::Db,
    actor: &AuditActor,
    action: &str,
    limit: i64,
    window: chrono::Duration,
    entries: Vec<AuditEntry<'_>>,
) -> Result<bool> {
    let Some(user_id) = actor.user_id else {
        for e in entries {
            record(db.writer(), actor, e).await?;
        }
        return Ok(true);
    };
    let since = (chrono::Utc::now() - window)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET version = version WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let used: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE user_id = $1 AND action = $2 AND at >= $3",
    )
    .bind(user_id)
    .bind(action.to_string())
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    if used + entries.len() as i64 > limit {
        tx.rollback().await?;
        return Ok(false);
    }
    for e in entries {
        record(&mut *tx, actor, e).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub username: String,
    pub role: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub household_id: Option<i64>,
    pub region_code: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub detail: String,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Prefix of region codes the reader may see (their jurisdiction); required.
    pub region_prefix: String,
    pub household_id: Option<i64>,
    pub action: Option<String>,
    pub username: Option<String>,
    /// Only entries with id below this (keyset pagination, newest first).
    pub before_id: Option<i64>,
    /// Only writes: leave out views, reveals and refusals (for change histories).
    pub writes_only: bool,
    pub limit: i64,
}

pub async fn list(pool: &sqlx::AnyPool, f: &AuditFilter) -> Result<Vec<AuditRow>> {
    let mut sql = String::from(
        "SELECT id, at, username, role, action, entity, entity_id, household_id, region_code, \
         before_json, after_json, detail FROM audit_log WHERE 1 = 1",
    );
    // No region condition when the whole log is in reach (a household's own
    // history): PostgreSQL's generic plan would otherwise intersect with a
    // scan of the region index over the entire log.
    let by_region = !f.region_prefix.is_empty();
    let mut n = 0;
    if by_region {
        sql.push_str(" AND region_code >= $1 AND region_code < $2");
        n = 2;
    }
    let mut push = |sql: &mut String, cond: &str| {
        n += 1;
        sql.push_str(&format!(" AND {cond} ${n}"));
    };
    if f.household_id.is_some() {
        push(&mut sql, "household_id =");
    }
    if f.action.is_some() {
        push(&mut sql, "action =");
    }
    if f.username.is_some() {
        push(&mut sql, "username =");
    }
    if f.before_id.is_some() {
        push(&mut sql, "id <");
    }
    if f.writes_only {
        sql.push_str(" AND action NOT IN ('view', 'reveal_id', 'denied', 'export')");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ");
    sql.push_str(&f.limit.clamp(1, 1000).to_string());
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if by_region {
        q = q
            .bind(f.region_prefix.clone())
            .bind(crate::prefix_successor(&f.region_prefix));
    }
    if let Some(h) = f.household_id {
        q = q.bind(h);
    }
    if let Some(a) = &f.action {
        q = q.bind(a.clone());
    }
    if let Some(u) = &f.username {
        q = q.bind(u.clone());
    }
    if let Some(b) = f.before_id {
        q = q.bind(b);
    }
    let rows = q.fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            id: r.get(0),
            at: r.get(1),
            username: r.get(2),
            role: r.get(3),
            action: r.get(4),
            entity: r.get(5),
            entity_id: r.get(6),
            household_id: r.get(7),
            region_code: r.get(8),
            before_json: r.get(9),
            after_json: r.get(10),
            detail: r.get(11),
        })
        .collect())
}
