//! Departments and organisations (部门与机构): the list accounts, department
//! items and referrals choose from, with the feed kinds each may send.

use sqlx::Row;

use crate::{Db, Result, StoreError, Tx, now_ts};

#[derive(Clone, Debug, serde::Serialize)]
pub struct DepartmentRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// `department` or `charity`.
    pub kind: String,
    pub phone: String,
    /// Feed codes it may send.
    pub feed_kinds: Vec<String>,
    pub active: bool,
    pub version: i64,
}

impl DepartmentRow {
    pub fn sends(&self, feed_code: &str) -> bool {
        self.feed_kinds.iter().any(|k| k == feed_code)
    }
}

/// What the administrator sets (the name and code only on creation).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DepartmentFields {
    pub kind: String,
    pub phone: String,
    pub feed_kinds: Vec<String>,
    pub active: bool,
}

const COLS: &str = "id, code, name, kind, phone, feed_kinds, active, version";

fn from_row(r: sqlx::any::AnyRow) -> DepartmentRow {
    let kinds: String = r.get(5);
    DepartmentRow {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        kind: r.get(3),
        phone: r.get(4),
        feed_kinds: kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        active: r.get::<i64, _>(6) != 0,
        version: r.get(7),
    }
}

/// Every department, active ones first, by name.
pub async fn list(db: &Db) -> Result<Vec<DepartmentRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM departments ORDER BY active DESC, kind, name"
    )))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<DepartmentRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM departments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(from_row))
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<DepartmentRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM departments WHERE name = $1"
    )))
    .bind(name.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(from_row))
}

pub async fn insert(tx: &mut Tx, code: &str, name: &str, f: &DepartmentFields) -> Result<i64> {
    let now = now_ts();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO departments (code, name, kind, phone, feed_kinds, active, version, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,1,$7,$7) RETURNING id",
    )
    .bind(code.to_string())
    .bind(name.to_string())
    .bind(f.kind.clone())
    .bind(f.phone.clone())
    .bind(f.feed_kinds.join(","))
    .bind(f.active as i64)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| crate::unique_violation(e, "已有同名或同代码的部门"))?;
    Ok(id)
}

/// Updates what may change; `version` is the one the administrator saw.
pub async fn update(tx: &mut Tx, id: i64, version: i64, f: &DepartmentFields) -> Result<()> {
    let n = sqlx::query(
        "UPDATE departments SET kind = $1, phone = $2, feed_kinds = $3, active = $4, \
         version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7",
    )
    .bind(f.kind.clone())
    .bind(f.phone.clone())
    .bind(f.feed_kinds.join(","))
    .bind(f.active as i64)
    .bind(now_ts())
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该部门已被他人修改，页面已刷新为最新内容，请核对后再保存".into(),
        ));
    }
    Ok(())
}
