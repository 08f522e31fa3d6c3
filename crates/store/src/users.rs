//! Accounts, server-side sessions, login attempts (for throttling) and API tokens.
//! Secrets are never stored: sessions and tokens are kept as SHA-256 hashes, passwords
//! as argon2 hashes made by the web layer.

use sqlx::Row;

use crate::{Db, Result, StoreError, Tx, now_ts};

#[derive(Clone, Debug, serde::Serialize)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub region_code: String,
    pub department: Option<String>,
    pub phone: Option<String>,
    pub is_machine: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
}

const COLS: &str = "id, username, display_name, password_hash, role, region_code, department, phone, is_machine, active, version, created_at";

fn from_row(r: sqlx::any::AnyRow) -> UserRow {
    UserRow {
        id: r.get(0),
        username: r.get(1),
        display_name: r.get(2),
        password_hash: r.get(3),
        role: r.get(4),
        region_code: r.get(5),
        department: r.get(6),
        phone: r.get(7),
        is_machine: r.get::<i64, _>(8) != 0,
        active: r.get::<i64, _>(9) != 0,
        version: r.get(10),
        created_at: r.get(11),
    }
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub region_code: String,
    pub department: Option<String>,
    pub phone: Option<String>,
    pub is_machine: bool,
}

pub async fn insert(tx: &mut Tx, u: &NewUser) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, password_hash, role, region_code, department, phone, is_machine, active, version, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,1,1,$9) RETURNING id",
    )
    .bind(u.username.clone())
    .bind(u.display_name.clone())
    .bind(u.password_hash.clone())
    .bind(u.role.clone())
    .bind(u.region_code.clone())
    .bind(u.department.clone())
    .bind(u.phone.clone())
    .bind(u.is_machine as i64)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| crate::unique_violation(e, "该用户名已被使用"))?;
    Ok(id)
}

/// Updates role, region, names and active flag with an optimistic version check.
pub async fn update(tx: &mut Tx, id: i64, version: i64, u: &NewUser, active: bool) -> Result<()> {
    let n = sqlx::query(
        "UPDATE users SET display_name=$1, role=$2, region_code=$3, department=$4, phone=$5, active=$6, version=version+1 \
         WHERE id=$7 AND version=$8",
    )
    .bind(u.display_name.clone())
    .bind(u.role.clone())
    .bind(u.region_code.clone())
    .bind(u.department.clone())
    .bind(u.phone.clone())
    .bind(active as i64)
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该账号已被他人修改，请刷新后重试".into(),
        ));
    }
    if !active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Sets a new password and ends the account's sessions (the caller keeps its own
/// session afterwards if it is the account holder changing their own password).
pub async fn set_password(tx: &mut Tx, id: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash=$1, version=version+1 WHERE id=$2")
        .bind(hash.to_string())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn by_username(db: &Db, username: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLS} FROM users WHERE username = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(username.to_string())
        .fetch_optional(&db.pool)
        .await?
        .map(from_row))
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLS} FROM users WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(from_row))
}

/// Accounts whose region lies in the subtree of `root`.
pub async fn list(db: &Db, root: &str) -> Result<Vec<UserRow>> {
    let sql = format!(
        "SELECT {COLS} FROM users WHERE region_code >= $1 AND region_code < $2 ORDER BY region_code, username"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(root.to_string())
        .bind(crate::prefix_successor(root))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

// ---- sessions ----

pub async fn create_session(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    expires_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)",
    )
    .bind(token_hash.to_string())
    .bind(user_id)
    .bind(now_ts())
    .bind(expires_at.to_string())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The active user behind a session, if the session exists and has not expired.
pub async fn session_user(db: &Db, token_hash: &str) -> Result<Option<UserRow>> {
    let sql = format!(
        "SELECT {} FROM users u JOIN sessions s ON s.user_id = u.id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
        COLS.split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_string())
        .bind(now_ts())
        .fetch_optional(&db.pool)
        .await?
        .map(from_row))
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash.to_string())
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Ends every session of a user except `keep` (after a password change).
pub async fn delete_other_sessions(db: &Db, user_id: i64, keep: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user_id)
        .bind(keep.to_string())
        .execute(db.writer())
        .await?;
    Ok(())
}

// ---- login throttling ----

/// Counts one attempt under `key` and returns the count and the start of its window.
/// A window older than `window_start` (RFC 3339) starts again at 1. One UPSERT, so
/// concurrent attempts on the same key are counted one after the other on both
/// backends (SQLite: the write transaction; PostgreSQL: the conflicting row's lock).
pub async fn count_login_attempt(
    tx: &mut Tx,
    key: &str,
    window_start: &str,
) -> Result<(i64, String)> {
    let row = sqlx::query(
        "INSERT INTO login_throttle (key, count, first_at, last_at) VALUES ($1, 1, $2, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN login_throttle.first_at <= $3 THEN 1 ELSE login_throttle.count + 1 END, \
           first_at = CASE WHEN login_throttle.first_at <= $3 THEN excluded.first_at ELSE login_throttle.first_at END, \
           last_at = excluded.last_at \
         RETURNING count, first_at",
    )
    .bind(key.to_string())
    .bind(now_ts())
    .bind(window_start.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.get(0), row.get(1)))
}

/// After a successful sign-in: the account's counter for this source is cleared.
pub async fn clear_login_attempts(tx: &mut Tx, account_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(account_key.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The count under `key` in its current window (0 when the window is over),
/// and the window's start; nothing is counted.
pub async fn login_failures(tx: &mut Tx, key: &str, window_start: &str) -> Result<(i64, String)> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT count, first_at FROM login_throttle WHERE key = $1 AND first_at > $2",
    )
    .bind(key.to_string())
    .bind(window_start.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.unwrap_or((0, now_ts())))
}

/// The history of attempts (kept for the owner's notice and for the audit).
pub async fn record_login_attempt(
    tx: &mut Tx,
    username: &str,
    client: &str,
    success: bool,
) -> Result<()> {
    sqlx::query("INSERT INTO login_attempts (username, client, success, at) VALUES ($1,$2,$3,$4)")
        .bind(username.to_string())
        .bind(client.to_string())
        .bind(success as i64)
        .bind(now_ts())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Failed attempts on `username` from addresses other than `client` since its last
/// successful sign-in.
pub async fn failures_elsewhere_since_last_success(
    tx: &mut Tx,
    username: &str,
    client: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_attempts WHERE username = $1 AND success = 0 AND client <> $2 \
         AND at > COALESCE((SELECT MAX(at) FROM login_attempts WHERE username = $1 AND success = 1), '')",
    )
    .bind(username.to_string())
    .bind(client.to_string())
    .fetch_one(&mut **tx)
    .await?)
}

// ---- API tokens (machine accounts) ----

#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

pub async fn create_token(tx: &mut Tx, user_id: i64, name: &str, token_hash: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, revoked) VALUES ($1,$2,$3,$4,0) RETURNING id",
    )
    .bind(user_id)
    .bind(name.to_string())
    .bind(token_hash.to_string())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn token_user(db: &Db, token_hash: &str) -> Result<Option<UserRow>> {
    let sql = format!(
        "SELECT {} FROM users u JOIN api_tokens t ON t.user_id = u.id \
         WHERE t.token_hash = $1 AND t.revoked = 0 AND u.active = 1 AND u.is_machine = 1",
        COLS.split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let user = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash.to_string())
        .fetch_optional(&db.pool)
        .await?
        .map(from_row);
    if user.is_some() {
        // Written at most once a minute per token: "last used" is for people
        // reviewing tokens, and a write per API request would serialise them.
        let last: Option<String> =
            sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE token_hash = $1")
                .bind(token_hash.to_string())
                .fetch_one(&db.pool)
                .await?;
        let stale = (chrono::Utc::now() - chrono::Duration::seconds(60))
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        if last.is_none_or(|t| t < stale) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(now_ts())
                .bind(token_hash.to_string())
                .execute(db.writer())
                .await?;
        }
    }
    Ok(user)
}

pub async fn list_tokens(db: &Db, user_id: i64) -> Result<Vec<TokenRow>> {
    let rows = sqlx::query(
        "SELECT id, user_id, name, created_at, last_used_at, revoked FROM api_tokens WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TokenRow {
            id: r.get(0),
            user_id: r.get(1),
            name: r.get(2),
            created_at: r.get(3),
            last_used_at: r.get(4),
            revoked: r.get::<i64, _>(5) != 0,
        })
        .collect())
}

pub async fn revoke_token(tx: &mut Tx, user_id: i64, token_id: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1 AND user_id = $2")
        .bind(token_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
