//! Import jobs: progress and the report of rejected rows, so that a long import can be
//! watched from another page and its report downloaded later.

use sqlx::Row;

use crate::{Db, Result, now_ts};

#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportJob {
    pub id: i64,
    pub user_id: i64,
    pub region_code: String,
    pub filename: String,
    pub mode: String,
    pub status: String,
    pub total_rows: i64,
    pub processed_rows: i64,
    pub accepted_rows: i64,
    pub rejected_rows: i64,
    pub households_created: i64,
    pub message: String,
    pub report_json: String,
    pub created_at: String,
    pub finished_at: Option<String>,
}

const COLS: &str = "id, user_id, region_code, filename, mode, status, total_rows, processed_rows, accepted_rows, rejected_rows, households_created, message, report_json, created_at, finished_at";

fn from_row(r: sqlx::any::AnyRow) -> ImportJob {
    ImportJob {
        id: r.get(0),
        user_id: r.get(1),
        region_code: r.get(2),
        filename: r.get(3),
        mode: r.get(4),
        status: r.get(5),
        total_rows: r.get(6),
        processed_rows: r.get(7),
        accepted_rows: r.get(8),
        rejected_rows: r.get(9),
        households_created: r.get(10),
        message: r.get(11),
        report_json: r.get(12),
        created_at: r.get(13),
        finished_at: r.get(14),
    }
}

pub async fn create(
    db: &Db,
    user_id: i64,
    region: &str,
    filename: &str,
    mode: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO import_jobs (user_id, region_code, filename, mode, status, created_at) VALUES ($1,$2,$3,$4,'running',$5) RETURNING id",
    )
    .bind(user_id)
    .bind(region.to_string())
    .bind(filename.to_string())
    .bind(mode.to_string())
    .bind(now_ts())
    .fetch_one(db.writer())
    .await?)
}

pub async fn progress(db: &Db, id: i64, total: i64, processed: i64) -> Result<()> {
    sqlx::query("UPDATE import_jobs SET total_rows=$1, processed_rows=$2 WHERE id=$3")
        .bind(total)
        .bind(processed)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn finish(
    db: &Db,
    id: i64,
    status: &str,
    total: i64,
    accepted: i64,
    rejected: i64,
    households: i64,
    message: &str,
    report_json: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE import_jobs SET status=$1, total_rows=$2, processed_rows=$2, accepted_rows=$3, rejected_rows=$4, households_created=$5, \
         message=$6, report_json=$7, finished_at=$8 WHERE id=$9",
    )
    .bind(status.to_string())
    .bind(total)
    .bind(accepted)
    .bind(rejected)
    .bind(households)
    .bind(message.to_string())
    .bind(report_json.to_string())
    .bind(now_ts())
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<ImportJob>> {
    let sql = format!("SELECT {COLS} FROM import_jobs WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(from_row))
}

pub async fn list_for_user(db: &Db, user_id: i64) -> Result<Vec<ImportJob>> {
    let sql =
        format!("SELECT {COLS} FROM import_jobs WHERE user_id = $1 ORDER BY id DESC LIMIT 50");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(from_row)
        .collect())
}
