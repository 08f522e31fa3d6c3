//! Import jobs: progress and the report of rejected rows, so that a long import can be
//! watched from another page and its report downloaded later. Also what the three
//! kinds of long job (imports, sweeps, 政策找人 runs) share: the refusal of a second
//! running row and the running row's owner and heartbeat, read at start-up to find
//! jobs whose process died.

use sqlx::Row;

use crate::{Db, Result, StoreError, Tx, now_ts};

/// Refusal of a second import while one runs (unique index `import_jobs_one_running`).
pub const IMPORT_BUSY: &str = "已有一个导入正在运行，请等待其完成";

/// Maps the unique-index violation of a second running row to `Conflict(message)`.
pub(crate) fn already_running(err: sqlx::Error, message: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return StoreError::Conflict(message.to_string());
    }
    StoreError::Db(err)
}

/// The running row of one kind of job: which process runs it and when it last
/// wrote a batch.
#[derive(Clone, Debug)]
pub struct RunningJob {
    pub id: i64,
    pub owner: String,
    pub started_at: String,
    pub heartbeat_at: Option<String>,
}

/// The running row of `table` (one of the three job tables), if any.
pub(crate) async fn running_row(
    db: &Db,
    table: &'static str,
    started_col: &'static str,
) -> Result<Option<RunningJob>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, owner, {started_col}, heartbeat_at FROM {table} WHERE status = 'running'"
    )))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| RunningJob {
        id: r.get(0),
        owner: r.get(1),
        started_at: r.get(2),
        heartbeat_at: r.get(3),
    }))
}

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

/// Starts an import job: its running row, owned by `owner` (the process that
/// runs it). At most one import runs at a time, whichever process asks.
pub async fn create(
    db: &Db,
    user_id: i64,
    region: &str,
    filename: &str,
    mode: &str,
    owner: &str,
) -> Result<i64> {
    let mut tx = db.begin_write().await?;
    let now = now_ts();
    let id = sqlx::query_scalar(
        "INSERT INTO import_jobs (user_id, region_code, filename, mode, status, created_at, owner, heartbeat_at) VALUES ($1,$2,$3,$4,'running',$5,$6,$7) RETURNING id",
    )
    .bind(user_id)
    .bind(region.to_string())
    .bind(filename.to_string())
    .bind(mode.to_string())
    .bind(now.clone())
    .bind(owner.to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| already_running(e, IMPORT_BUSY))?;
    tx.commit().await?;
    Ok(id)
}

/// Records how many rows the file has (once it is read).
pub async fn set_total(db: &Db, id: i64, total: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE import_jobs SET total_rows = $1, heartbeat_at = $2 WHERE id = $3 AND status = 'running'")
        .bind(total)
        .bind(now_ts())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts households written inside `tx`, the transaction that writes them, so
/// the job's counters always equal what is stored. False when the job is no
/// longer running (marked interrupted): the caller must roll back.
pub async fn advance(tx: &mut Tx, id: i64, rows: i64, households: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE import_jobs SET processed_rows = processed_rows + $1, accepted_rows = accepted_rows + $1, \
         households_created = households_created + $2, heartbeat_at = $3 WHERE id = $4 AND status = 'running'",
    )
    .bind(rows)
    .bind(households)
    .bind(now_ts())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a running job with its outcome. The written counters (accepted rows,
/// households) are not touched: they were counted with the rows.
pub async fn finish(
    db: &Db,
    id: i64,
    status: &str,
    rejected: i64,
    message: &str,
    report_json: &str,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = finish_in(&mut tx, id, status, rejected, message, report_json).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`finish`] inside the transaction that writes the import's last rows.
pub async fn finish_in(
    tx: &mut Tx,
    id: i64,
    status: &str,
    rejected: i64,
    message: &str,
    report_json: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE import_jobs SET status=$1, processed_rows=total_rows, rejected_rows=$2, message=$3, report_json=$4, finished_at=$5 \
         WHERE id=$6 AND status = 'running'",
    )
    .bind(status.to_string())
    .bind(rejected)
    .bind(message.to_string())
    .bind(report_json.to_string())
    .bind(now_ts())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a running import interrupted (its process died); what it wrote stays
/// counted. False when it was not running.
pub async fn interrupt(db: &Db, id: i64, message: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE import_jobs SET status='interrupted', message=$1, finished_at=$2 WHERE id=$3 AND status = 'running'",
    )
    .bind(message.to_string())
    .bind(now_ts())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The running import, if any (at most one), with its owner and heartbeat.
pub async fn running(db: &Db) -> Result<Option<RunningJob>> {
    running_row(db, "import_jobs", "created_at").await
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
