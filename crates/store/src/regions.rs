//! The jurisdiction tree: district → town/street → village/community.

use sqlx::Row;

use crate::{Db, Result, StoreError, Tx, now_ts};

#[derive(Clone, Debug, serde::Serialize)]
pub struct RegionRow {
    pub code: String,
    pub name: String,
    pub level: String,
    pub kind: String,
    pub parent_code: Option<String>,
    pub active: bool,
}

fn from_row(r: sqlx::any::AnyRow) -> RegionRow {
    RegionRow {
        code: r.get(0),
        name: r.get(1),
        level: r.get(2),
        kind: r.get(3),
        parent_code: r.get(4),
        active: r.get::<i64, _>(5) != 0,
    }
}

const COLS: &str = "code, name, level, kind, parent_code, active";

pub async fn insert(tx: &mut Tx, r: &RegionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO regions (code, name, level, kind, parent_code, active, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(r.code.clone())
    .bind(r.name.clone())
    .bind(r.level.clone())
    .bind(r.kind.clone())
    .bind(r.parent_code.clone())
    .bind(r.active as i64)
    .bind(now_ts())
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::unique_violation(e, "该区划代码已存在"))?;
    Ok(())
}

pub async fn rename(tx: &mut Tx, code: &str, name: &str, active: bool) -> Result<()> {
    let n = sqlx::query("UPDATE regions SET name = $1, active = $2 WHERE code = $3")
        .bind(name.to_string())
        .bind(active as i64)
        .bind(code.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn get(db: &Db, code: &str) -> Result<Option<RegionRow>> {
    let sql = format!("SELECT {COLS} FROM regions WHERE code = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code.to_string())
        .fetch_optional(&db.pool)
        .await?
        .map(from_row))
}

/// Every region at or below `root` (prefix of the code), ordered by code.
pub async fn subtree(db: &Db, root: &str) -> Result<Vec<RegionRow>> {
    let sql = format!("SELECT {COLS} FROM regions WHERE code >= $1 AND code < $2 ORDER BY code");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(root.to_string())
        .bind(crate::prefix_successor(root))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM regions")
        .fetch_one(&db.pool)
        .await?)
}

/// The office phone of a region (a town's social assistance window), if set.
pub async fn phone(db: &Db, code: &str) -> Result<Option<String>> {
    let p: Option<String> = sqlx::query_scalar("SELECT phone FROM regions WHERE code = $1")
        .bind(code.to_string())
        .fetch_optional(&db.pool)
        .await?;
    Ok(p.filter(|p| !p.is_empty()))
}

pub async fn set_phone(tx: &mut Tx, code: &str, phone: &str) -> Result<()> {
    sqlx::query("UPDATE regions SET phone = $1 WHERE code = $2")
        .bind(phone.to_string())
        .bind(code.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Office phones of the regions that have one: code → phone.
pub async fn phones(db: &Db) -> Result<std::collections::HashMap<String, String>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, phone FROM regions WHERE phone <> ''")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().collect())
}
