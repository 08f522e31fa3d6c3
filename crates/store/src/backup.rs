//! Backup and restore (issue 10): `doudi backup FILE`, `doudi restore FILE`.
//!
//! Every backup is one SQLite file, whichever backend it was taken from, and
//! restores into either backend (so an office can move from SQLite to
//! PostgreSQL with a backup and a restore).
//!
//! * **Online and consistent.** On SQLite the file is written by
//!   `VACUUM INTO` inside one read snapshot of the WAL database, on a reader
//!   taken out of the pool (VACUUM INTO is refused on a `query_only`
//!   connection, so the detached connection is made writable for that one
//!   statement and then closed; it never returns to the pool). On PostgreSQL
//!   every table is read inside one `REPEATABLE READ READ ONLY` transaction
//!   and written into a new SQLite file created by the SQLite migrations, so
//!   the schema of the file is the project's own. Writers go on meanwhile.
//! * **Self-describing.** The file carries `backup_meta` (key/value): format
//!   version, source backend, migration versions, creation time, doudi
//!   version and the row count of every table. It is written last, then the
//!   file is synced and renamed into place: a failed backup leaves no file
//!   under the requested name.
//! * **Every table.** Tables come from the catalogue (`sqlite_master`,
//!   `information_schema`), never from a list, so a table added by a later
//!   migration is backed up without anyone remembering it. Migration
//!   bookkeeping (`schema_migrations`) is not copied; its versions are
//!   recorded and must match on restore.
//! * **Restore is all or nothing.** One write transaction on the target
//!   (`Db::begin_write`): the checks (schema version, empty target, no
//!   running job, no recent activity) are made inside it, rows are inserted
//!   with their ids in foreign-key order (SQLite also defers the checks to
//!   the commit), the row count of every table must equal the count in
//!   `backup_meta`, PostgreSQL identity sequences are moved past the largest
//!   id, and one audit row records the restore. Any failure rolls back and
//!   leaves the target as it was.
//! * **`--force`** restores into a database that has data by deleting all of
//!   it first, in the same transaction. The audit log is append-only (its
//!   triggers refuse UPDATE and DELETE): on SQLite the triggers are dropped
//!   and recreated from their stored SQL inside the transaction; on
//!   PostgreSQL the tables are emptied with one `TRUNCATE`, which row
//!   triggers do not see. Nothing outside the transaction ever sees the
//!   log without its triggers.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Instant;

use futures_core::Stream;
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{AnyConnection, Connection, Executor, Row, ValueRef};

use crate::audit::{AuditActor, AuditEntry};
use crate::{Backend, Db, Result, StoreError, now_ts};

/// The layout of the backup file; a newer file is refused by an older doudi.
pub const FORMAT_VERSION: i64 = 1;

/// The metadata table inside every backup file.
const META: &str = "backup_meta";

/// Tables that are bookkeeping, not data: never copied.
const BOOKKEEPING: &[&str] = &["schema_migrations", META];

/// A restore refuses a target written to more recently than this (an audit
/// row or a new session): a server is probably still using it.
pub const QUIET_FOR: chrono::Duration = chrono::Duration::minutes(5);

/// What a backup or a restore did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Every table copied and its row count, in copy order.
    pub tables: Vec<(String, i64)>,
    /// Size of the backup file.
    pub bytes: u64,
    pub seconds: f64,
    /// The highest migration version of the data.
    pub schema_version: i64,
    /// `sqlite` or `postgresql`: where the backup was taken.
    pub source_backend: String,
    /// When the backup was taken (RFC 3339 UTC).
    pub created_at: String,
}

impl Summary {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// How to restore.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// Delete every row of a target that has data before restoring.
    pub force: bool,
    /// Refuse when the target was written to within this period.
    pub quiet_for: chrono::Duration,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            force: false,
            quiet_for: QUIET_FOR,
        }
    }
}

/// Called after each table with its name and row count.
pub type Progress<'a> = &'a (dyn Fn(&str, i64) + Sync);

// ---------------------------------------------------------------- catalogue

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColType {
    Int,
    Text,
    Blob,
}

impl ColType {
    fn from_sqlite(declared: &str) -> ColType {
        let d = declared.to_ascii_uppercase();
        if d.contains("INT") {
            ColType::Int
        } else if d.contains("BLOB") || d.is_empty() {
            ColType::Blob
        } else {
            ColType::Text
        }
    }

    fn from_postgres(data_type: &str) -> ColType {
        match data_type {
            "bigint" | "integer" | "smallint" => ColType::Int,
            "bytea" => ColType::Blob,
            _ => ColType::Text,
        }
    }
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    cols: Vec<(String, ColType)>,
    /// Primary-key columns in key order (SQLite catalogue only).
    pk: Vec<String>,
    /// Tables this one references (SQLite catalogue only).
    parents: Vec<String>,
}

impl Table {
    fn col_type(&self, col: &str) -> Option<ColType> {
        self.cols.iter().find(|(c, _)| c == col).map(|(_, t)| *t)
    }

    fn col_names(&self) -> Vec<&str> {
        self.cols.iter().map(|(c, _)| c.as_str()).collect()
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn is_bookkeeping(name: &str) -> bool {
    BOOKKEEPING.contains(&name) || name.starts_with("sqlite_")
}

/// The data tables of a SQLite database, with columns, keys and references.
async fn sqlite_tables(conn: &mut AnyConnection) -> Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for name in names.into_iter().filter(|n| !is_bookkeeping(n)) {
        let rows = sqlx::query("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(name.clone())
            .fetch_all(&mut *conn)
            .await?;
        let mut cols = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in rows {
            let col: String = r.try_get(0)?;
            let declared: String = r.try_get::<Option<String>, _>(1)?.unwrap_or_default();
            let k: i64 = r.try_get(2)?;
            if k > 0 {
                pk.push((k, col.clone()));
            }
            cols.push((col, ColType::from_sqlite(&declared)));
        }
        pk.sort();
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(name.clone())
                .fetch_all(&mut *conn)
                .await?;
        out.push(Table {
            name,
            cols,
            pk: pk.into_iter().map(|(_, c)| c).collect(),
            parents,
        });
    }
    Ok(out)
}

/// The data tables of the current PostgreSQL schema, with columns.
async fn postgres_tables(conn: &mut AnyConnection) -> Result<Vec<Table>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for name in names.into_iter().filter(|n| !is_bookkeeping(n)) {
        let rows = sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(name.clone())
        .fetch_all(&mut *conn)
        .await?;
        let mut cols = Vec::new();
        for r in rows {
            let col: String = r.try_get(0)?;
            let ty: String = r.try_get(1)?;
            cols.push((col, ColType::from_postgres(&ty)));
        }
        out.push(Table {
            name,
            cols,
            pk: Vec::new(),
            parents: Vec::new(),
        });
    }
    Ok(out)
}

async fn tables_of(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<Table>> {
    match backend {
        Backend::Sqlite => sqlite_tables(conn).await,
        Backend::Postgres => postgres_tables(conn).await,
    }
}

/// Applied migration versions, ascending.
async fn migration_versions(conn: &mut AnyConnection) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?,
    )
}

fn versions_text(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// The tables in an order where every table comes after the tables it
/// references (self-references aside: rows of one table keep their order).
fn fk_order(tables: &[Table]) -> Result<Vec<Table>> {
    let mut left: Vec<Table> = tables.to_vec();
    let mut done: Vec<Table> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            t.parents.iter().all(|p| {
                p == &t.name
                    || done.iter().any(|d| &d.name == p)
                    || !left.iter().any(|l| &l.name == p)
            })
        });
        match ready {
            Some(i) => done.push(left.remove(i)),
            None => {
                let names: Vec<&str> = left.iter().map(|t| t.name.as_str()).collect();
                return Err(StoreError::Invalid(format!(
                    "数据表之间存在循环外键引用（{}），无法确定恢复顺序。",
                    names.join("、")
                )));
            }
        }
    }
    Ok(done)
}

/// Both catalogues must hold the same tables with the same columns.
fn same_schema(backup: &[Table], target: &[Table]) -> Result<()> {
    let mut problems = Vec::new();
    for b in backup {
        match target.iter().find(|t| t.name == b.name) {
            None => problems.push(format!("目标数据库没有数据表 {}", b.name)),
            Some(t) => {
                let mut bc = b.col_names();
                let mut tc = t.col_names();
                bc.sort_unstable();
                tc.sort_unstable();
                if bc != tc {
                    problems.push(format!(
                        "数据表 {} 的字段不同（备份：{}；目标：{}）",
                        b.name,
                        bc.join(","),
                        tc.join(",")
                    ));
                }
            }
        }
    }
    for t in target {
        if !backup.iter().any(|b| b.name == t.name) {
            problems.push(format!("备份中没有数据表 {}", t.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "备份与目标数据库的结构不一致，不能恢复：{}。",
            problems.join("；")
        )))
    }
}

// ---------------------------------------------------------------- values

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

fn read_value(row: &AnyRow, i: usize) -> Result<Value> {
    let kind = {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        raw.type_info().kind()
    };
    Ok(match kind {
        AnyTypeInfoKind::Null => Value::Null,
        AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
            Value::Int(row.try_get::<i64, _>(i)?)
        }
        AnyTypeInfoKind::Bool => Value::Int(i64::from(row.try_get::<bool, _>(i)?)),
        AnyTypeInfoKind::Text => Value::Text(row.try_get::<String, _>(i)?),
        AnyTypeInfoKind::Blob => Value::Blob(row.try_get::<Vec<u8>, _>(i)?),
        AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => {
            // The schema has no floating-point column (decision 1).
            return Err(StoreError::Invalid(format!(
                "第 {} 列是浮点数，数据模型中不应出现浮点数。",
                i + 1
            )));
        }
    })
}

/// Converts a value to the target column's type (SQLite stores what it is
/// given; PostgreSQL wants the declared type).
fn coerce(v: Value, ty: ColType, table: &str, col: &str) -> Result<Value> {
    let bad = |what: &str| {
        StoreError::Invalid(format!(
            "数据表 {table} 字段 {col} 的值类型不符（{what}），不能恢复。"
        ))
    };
    Ok(match (v, ty) {
        (Value::Null, _) => Value::Null,
        (Value::Int(i), ColType::Int) => Value::Int(i),
        (Value::Int(i), ColType::Text) => Value::Text(i.to_string()),
        (Value::Text(s), ColType::Text) => Value::Text(s),
        (Value::Text(s), ColType::Int) => {
            Value::Int(s.trim().parse().map_err(|_| bad("文本写入整数字段"))?)
        }
        (Value::Blob(b), ColType::Blob) => Value::Blob(b),
        (Value::Text(s), ColType::Blob) => Value::Blob(s.into_bytes()),
        (Value::Int(_), ColType::Blob) => return Err(bad("整数写入二进制字段")),
        (Value::Blob(_), _) => return Err(bad("二进制写入文本或整数字段")),
    })
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Copies the rows `select` returns (columns `cols`, in that order) into
/// `target` on `dst`, in multi-row INSERT batches; returns the row count.
async fn copy_rows(
    src: &mut AnyConnection,
    select: String,
    dst: &mut AnyConnection,
    dst_backend: Backend,
    target: &Table,
    cols: &[&str],
) -> Result<i64> {
    let types: Vec<ColType> = cols
        .iter()
        .map(|c| {
            target.col_type(c).ok_or_else(|| {
                StoreError::Invalid(format!("目标数据表 {} 没有字段 {c}。", target.name))
            })
        })
        .collect::<Result<_>>()?;
    // Moderate statements: SQLite parses huge VALUES lists slowly (as in bulk.rs).
    let per_batch = (8_000 / cols.len().max(1)).clamp(1, 400);
    let mut count = 0i64;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_batch);
    let mut stream = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *src);
    while let Some(row) = next(&mut stream).await {
        let row = row?;
        let mut vals = Vec::with_capacity(cols.len());
        for (i, ty) in types.iter().enumerate() {
            vals.push(coerce(read_value(&row, i)?, *ty, &target.name, cols[i])?);
        }
        batch.push(vals);
        count += 1;
        if batch.len() == per_batch {
            insert_batch(&mut *dst, dst_backend, &target.name, cols, &types, &batch).await?;
            batch.clear();
        }
    }
    drop(stream);
    insert_batch(&mut *dst, dst_backend, &target.name, cols, &types, &batch).await?;
    Ok(count)
}

async fn insert_batch(
    dst: &mut AnyConnection,
    backend: Backend,
    table: &str,
    cols: &[&str],
    types: &[ColType],
    rows: &[Vec<Value>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col_list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(table),
        col_list.join(", "),
        crate::bulk::values_placeholders(backend, rows.len(), cols.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for (v, ty) in row.iter().zip(types) {
            // Nulls carry the column's type: PostgreSQL needs it.
            q = match (v, ty) {
                (Value::Null, ColType::Int) => q.bind(None::<i64>),
                (Value::Null, ColType::Text) => q.bind(None::<String>),
                (Value::Null, ColType::Blob) => q.bind(None::<Vec<u8>>),
                (Value::Int(i), _) => q.bind(*i),
                (Value::Text(s), _) => q.bind(s.clone()),
                (Value::Blob(b), _) => q.bind(b.clone()),
            };
        }
    }
    q.execute(&mut *dst).await?;
    Ok(())
}

fn select_all(table: &Table, cols: &[&str], order: &str) -> String {
    let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    format!(
        "SELECT {} FROM {}{order}",
        list.join(", "),
        quote(&table.name)
    )
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", path.display())
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    }
}

// ---------------------------------------------------------------- backup

/// Writes a consistent copy of the whole database into the new SQLite file
/// `out`, while the server goes on. Refuses to overwrite an existing file.
pub async fn backup(db: &Db, out: &Path, progress: Progress<'_>) -> Result<Summary> {
    let started = Instant::now();
    if out.exists() {
        return Err(StoreError::Invalid(format!(
            "备份文件 {} 已存在。备份不会覆盖已有文件，请换一个文件名。",
            out.display()
        )));
    }
    let tmp = partial_path(out);
    let _ = std::fs::remove_file(&tmp);
    let created_at = now_ts();
    let result = async {
        match db.backend {
            Backend::Sqlite => vacuum_into(db, &tmp).await?,
            Backend::Postgres => copy_from_postgres(db, &tmp, progress).await?,
        }
        finish_file(&tmp, db.backend, &created_at).await
    }
    .await;
    let (tables, schema_version) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, out))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Invalid(format!("无法写入备份文件 {}：{e}", out.display()))
        })?;
    if db.backend == Backend::Sqlite {
        for (t, n) in &tables {
            progress(t, *n);
        }
    }
    Ok(Summary {
        tables,
        bytes: std::fs::metadata(out).map(|m| m.len()).unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
        schema_version,
        source_backend: backend_name(db.backend).into(),
        created_at,
    })
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    out.with_file_name(name)
}

/// SQLite: `VACUUM INTO` reads one snapshot. It is refused on a `query_only`
/// connection, so a reader is taken out of the pool for good, allowed to
/// write for this one statement (it writes only the new file) and closed.
async fn vacuum_into(db: &Db, tmp: &Path) -> Result<()> {
    let mut conn = db.pool.acquire().await?.detach();
    let result = async {
        conn.execute("PRAGMA query_only=OFF").await?;
        sqlx::query("VACUUM INTO $1")
            .bind(tmp.display().to_string())
            .execute(&mut conn)
            .await?;
        Ok::<_, StoreError>(())
    }
    .await;
    let _ = conn.close().await;
    result
}

/// PostgreSQL: a new SQLite file with the SQLite migrations, filled from one
/// `REPEATABLE READ READ ONLY` snapshot.
async fn copy_from_postgres(db: &Db, tmp: &Path, progress: Progress<'_>) -> Result<()> {
    let file = Db::connect(&sqlite_url(tmp, "rwc"), None).await?;
    let result = async {
        file.migrate().await?;
        let mut src = db
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let source_versions = migration_versions(&mut src).await?;
        let mut w = file.begin_write().await?;
        let file_versions = migration_versions(&mut w).await?;
        if source_versions != file_versions {
            return Err(StoreError::Invalid(format!(
                "数据库的迁移版本（{}）与本程序（{}）不同，请先运行 doudi migrate，或使用与数据库相同版本的 doudi 备份。",
                versions_text(&source_versions),
                versions_text(&file_versions)
            )));
        }
        let file_tables = sqlite_tables(&mut w).await?;
        let source_tables = postgres_tables(&mut src).await?;
        same_schema(&source_tables, &file_tables)?;
        // The file is ours and new: let its foreign keys be checked at the commit.
        w.execute("PRAGMA defer_foreign_keys = ON").await?;
        for t in fk_order(&file_tables)? {
            let cols = t.col_names();
            let order = if t.pk.is_empty() {
                String::new()
            } else {
                let pk: Vec<String> = t.pk.iter().map(|c| quote(c)).collect();
                format!(" ORDER BY {}", pk.join(", "))
            };
            let n = copy_rows(
                &mut src,
                select_all(&t, &cols, &order),
                &mut w,
                Backend::Sqlite,
                &t,
                &cols,
            )
            .await?;
            progress(&t.name, n);
        }
        w.commit().await?;
        src.rollback().await?;
        Ok(())
    }
    .await;
    file.close().await;
    result
}

/// Writes `backup_meta` into the finished copy (counting its rows, so the
/// counts are those of the snapshot) and leaves it a single rollback-journal
/// file. Returns the tables with their counts and the schema version.
async fn finish_file(
    tmp: &Path,
    source: Backend,
    created_at: &str,
) -> Result<(Vec<(String, i64)>, i64)> {
    let mut c = AnyConnection::connect(&sqlite_url(tmp, "rw")).await?;
    let result = async {
        c.execute("PRAGMA journal_mode=DELETE").await?;
        let versions = migration_versions(&mut c).await?;
        let mut counts = Vec::new();
        for t in sqlite_tables(&mut c).await? {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {}",
                quote(&t.name)
            )))
            .fetch_one(&mut c)
            .await?;
            counts.push((t.name, n));
        }
        let schema_version = versions.last().copied().unwrap_or(0);
        let mut tx = c.begin().await?;
        tx.execute("CREATE TABLE backup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .await?;
        let mut meta: Vec<(String, String)> = vec![
            ("format_version".into(), FORMAT_VERSION.to_string()),
            ("source_backend".into(), backend_name(source).into()),
            ("schema_version".into(), schema_version.to_string()),
            ("migrations".into(), versions_text(&versions)),
            ("created_at".into(), created_at.into()),
            ("doudi_version".into(), env!("CARGO_PKG_VERSION").into()),
        ];
        for (t, n) in &counts {
            meta.push((format!("rows:{t}"), n.to_string()));
        }
        for (k, v) in meta {
            sqlx::query("INSERT INTO backup_meta (key, value) VALUES ($1, $2)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((counts, schema_version))
    }
    .await;
    let _ = c.close().await;
    result
}

// ---------------------------------------------------------------- restore

/// What `backup_meta` says.
#[derive(Clone, Debug)]
struct Meta {
    source_backend: String,
    schema_version: i64,
    migrations: String,
    created_at: String,
    rows: Vec<(String, i64)>,
}

/// Opens a backup read-only and checks it: a SQLite file that passes
/// `PRAGMA integrity_check`, with a `backup_meta` of a known format that
/// agrees with its own migration table.
async fn open_backup(file: &Path) -> Result<(AnyConnection, Meta)> {
    let damaged = |why: String| {
        StoreError::Invalid(format!(
            "备份文件 {} 无法使用：{why}。目标数据库未做任何改动。",
            file.display()
        ))
    };
    if !file.is_file() {
        return Err(StoreError::Invalid(format!(
            "找不到备份文件 {}。",
            file.display()
        )));
    }
    sqlx::any::install_default_drivers();
    let mut c = AnyConnection::connect(&sqlite_url(file, "ro"))
        .await
        .map_err(|e| damaged(format!("不是有效的 SQLite 文件（{e}）")))?;
    let checked = async {
        let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut c)
            .await
            .map_err(|e| damaged(format!("文件已损坏或不完整（{e}）")))?;
        if check.first().map(String::as_str) != Some("ok") {
            return Err(damaged(format!(
                "完整性检查未通过（{}）",
                check.into_iter().take(3).collect::<Vec<_>>().join("；")
            )));
        }
        let kv: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM backup_meta")
            .fetch_all(&mut c)
            .await
            .map_err(|_| damaged("不是 doudi 备份文件（缺少 backup_meta）".into()))?;
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let format: i64 = get("format_version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| damaged("backup_meta 缺少格式版本".into()))?;
        if format > FORMAT_VERSION {
            return Err(damaged(format!(
                "备份格式版本 {format} 比本程序支持的 {FORMAT_VERSION} 新，请使用更新版本的 doudi 恢复"
            )));
        }
        let schema_version: i64 = get("schema_version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| damaged("backup_meta 缺少结构版本".into()))?;
        let migrations = get("migrations").unwrap_or_default();
        let own = migration_versions(&mut c)
            .await
            .map_err(|e| damaged(format!("缺少迁移记录（{e}）")))?;
        if versions_text(&own) != migrations || own.last().copied().unwrap_or(0) != schema_version
        {
            return Err(damaged(format!(
                "backup_meta 记录的结构版本（{schema_version}：{migrations}）与文件中的迁移记录（{}）不一致",
                versions_text(&own)
            )));
        }
        let rows = kv
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("rows:")?.to_string(), v.parse().ok()?)))
            .collect();
        Ok(Meta {
            source_backend: get("source_backend").unwrap_or_default(),
            schema_version,
            migrations,
            created_at: get("created_at").unwrap_or_default(),
            rows,
        })
    }
    .await;
    match checked {
        Ok(meta) => Ok((c, meta)),
        Err(e) => {
            let _ = c.close().await;
            Err(e)
        }
    }
}

/// Restores the backup `file` into `db` (already migrated to this doudi's
/// schema), all or nothing. The server must be stopped.
pub async fn restore(
    db: &Db,
    file: &Path,
    opts: &RestoreOptions,
    progress: Progress<'_>,
) -> Result<Summary> {
    let started = Instant::now();
    let (mut src, meta) = open_backup(file).await?;
    let result = restore_from(db, &mut src, &meta, file, opts, progress).await;
    let _ = src.close().await;
    let tables = result?;
    Ok(Summary {
        tables,
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
        schema_version: meta.schema_version,
        source_backend: meta.source_backend,
        created_at: meta.created_at,
    })
}

async fn restore_from(
    db: &Db,
    src: &mut AnyConnection,
    meta: &Meta,
    file: &Path,
    opts: &RestoreOptions,
    progress: Progress<'_>,
) -> Result<Vec<(String, i64)>> {
    let backup_tables = sqlite_tables(src).await?;
    for t in &backup_tables {
        if !meta.rows.iter().any(|(n, _)| n == &t.name) {
            return Err(StoreError::Invalid(format!(
                "备份文件无法使用：backup_meta 没有数据表 {} 的行数。目标数据库未做任何改动。",
                t.name
            )));
        }
    }
    let order = fk_order(&backup_tables)?;

    let mut tx = db.begin_write().await?;
    // Every check is made inside the write transaction, so nothing can change
    // between the check and the restore (SQLite: BEGIN IMMEDIATE holds the
    // write lock; PostgreSQL: the wipe's TRUNCATE locks the tables).
    let target_versions = migration_versions(&mut tx).await?;
    if versions_text(&target_versions) != meta.migrations {
        return Err(StoreError::Invalid(format!(
            "备份的数据库结构版本为 {}（迁移 {}），目标数据库为 {}（迁移 {}），不能恢复。请使用与备份时相同版本的 doudi 恢复。目标数据库未做任何改动。",
            meta.schema_version,
            meta.migrations,
            target_versions.last().copied().unwrap_or(0),
            versions_text(&target_versions)
        )));
    }
    let target_tables = tables_of(&mut tx, db.backend).await?;
    same_schema(&backup_tables, &target_tables)?;

    let mut filled = Vec::new();
    for t in &target_tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            quote(&t.name)
        )))
        .fetch_one(&mut *tx)
        .await?;
        if n > 0 {
            filled.push((t.name.clone(), n));
        }
    }
    if !filled.is_empty() {
        if !opts.force {
            filled.sort_by_key(|f| std::cmp::Reverse(f.1));
            let list: Vec<String> = filled
                .iter()
                .take(5)
                .map(|(t, n)| format!("{t} {n} 行"))
                .collect();
            return Err(StoreError::Invalid(format!(
                "目标数据库不是空的（{}{}），恢复只写入空数据库，未做任何改动。如确需用备份替换其中的全部数据，请加 --force（将先删除目标数据库中的全部数据，包括审计日志）。",
                list.join("、"),
                if filled.len() > 5 { " 等" } else { "" }
            )));
        }
        in_use_check(&mut tx, &target_tables, opts.quiet_for).await?;
        wipe(&mut tx, db.backend, &order).await?;
    }

    if db.backend == Backend::Sqlite {
        tx.execute("PRAGMA defer_foreign_keys = ON").await?;
    }
    let mut copied = Vec::new();
    for t in &order {
        let target = target_tables
            .iter()
            .find(|x| x.name == t.name)
            .expect("same_schema checked");
        let cols = t.col_names();
        let n = copy_rows(
            src,
            select_all(t, &cols, " ORDER BY rowid"),
            &mut tx,
            db.backend,
            target,
            &cols,
        )
        .await?;
        let expected = meta
            .rows
            .iter()
            .find(|(name, _)| name == &t.name)
            .map_or(-1, |(_, n)| *n);
        if n != expected {
            return Err(StoreError::Invalid(format!(
                "备份文件无法使用：数据表 {} 读出 {n} 行，backup_meta 记录为 {expected} 行。目标数据库未做任何改动。",
                t.name
            )));
        }
        progress(&t.name, n);
        copied.push((t.name.clone(), n));
    }
    if db.backend == Backend::Postgres {
        reset_sequences(&mut tx).await?;
    }

    let region: Option<String> = sqlx::query_scalar(
        "SELECT code FROM regions WHERE parent_code IS NULL ORDER BY code LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let rows: i64 = copied.iter().map(|(_, n)| n).sum();
    crate::audit::record(
        &mut *tx,
        &AuditActor {
            user_id: None,
            username: "system".into(),
            role: "system".into(),
        },
        AuditEntry {
            action: "restore",
            entity: "database",
            entity_id: meta.created_at.clone(),
            household_id: None,
            region_code: region.as_deref().unwrap_or(""),
            before: None,
            after: Some(serde_json::json!({
                "file": file.display().to_string(),
                "source_backend": meta.source_backend,
                "created_at": meta.created_at,
                "schema_version": meta.schema_version,
                "tables": copied.len(),
                "rows": rows,
                "replaced_existing_data": !filled.is_empty(),
            })),
            detail: format!(
                "从备份恢复数据库（{} 备份于 {}，{} 张表 {rows} 行）",
                meta.source_backend,
                meta.created_at,
                copied.len()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(copied)
}

/// Refuses a target a server is probably using: a long job still running
/// (the job tables are those with `status` and `heartbeat_at`), or an audit
/// row or a new session within `quiet_for`. An idle server writes nothing,
/// so this cannot prove the server is stopped: the operator must stop it.
async fn in_use_check(
    tx: &mut AnyConnection,
    tables: &[Table],
    quiet_for: chrono::Duration,
) -> Result<()> {
    for t in tables {
        if t.col_type("status").is_some() && t.col_type("heartbeat_at").is_some() {
            let running: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {} WHERE status = 'running'",
                quote(&t.name)
            )))
            .fetch_one(&mut *tx)
            .await?;
            if running > 0 {
                return Err(StoreError::Invalid(format!(
                    "目标数据库中有正在运行的任务（{} 表中 {running} 个），说明服务仍在使用该数据库。请先停止 doudi serve，再恢复。未做任何改动。",
                    t.name
                )));
            }
        }
    }
    let since = (chrono::Utc::now() - quiet_for)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    for (table, col, what) in [
        ("audit_log", "at", "审计记录"),
        ("sessions", "created_at", "登录"),
    ] {
        if !tables.iter().any(|t| t.name == table) {
            continue;
        }
        let last: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX({col}) FROM {table}"
        )))
        .fetch_one(&mut *tx)
        .await?;
        if let Some(last) = last.filter(|l| *l >= since) {
            return Err(StoreError::Invalid(format!(
                "目标数据库在 {} 分钟内仍有写入（最近一次{what}：{last}），服务可能仍在使用它。请先停止 doudi serve，{} 分钟后再恢复。未做任何改动。",
                quiet_for.num_minutes(),
                quiet_for.num_minutes()
            )));
        }
    }
    Ok(())
}

/// Deletes every row of the target inside the restore transaction.
async fn wipe(tx: &mut AnyConnection, backend: Backend, order: &[Table]) -> Result<()> {
    match backend {
        Backend::Postgres => {
            // One TRUNCATE of every table: foreign keys among them are
            // satisfied, and row triggers (the audit log's) do not fire.
            let list: Vec<String> = order.iter().map(|t| quote(&t.name)).collect();
            tx.execute(sqlx::AssertSqlSafe(format!("TRUNCATE {}", list.join(", "))))
                .await?;
        }
        Backend::Sqlite => {
            tx.execute("PRAGMA defer_foreign_keys = ON").await?;
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (name, _) in &triggers {
                tx.execute(sqlx::AssertSqlSafe(format!("DROP TRIGGER {}", quote(name))))
                    .await?;
            }
            for t in order.iter().rev() {
                tx.execute(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {}",
                    quote(&t.name)
                )))
                .await?;
            }
            for (_, sql) in &triggers {
                tx.execute(sqlx::AssertSqlSafe(sql.clone())).await?;
            }
        }
    }
    Ok(())
}

/// PostgreSQL: every identity sequence continues after the largest restored id.
async fn reset_sequences(tx: &mut AnyConnection) -> Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, col) in identities {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), (SELECT COALESCE(MAX({c}), 0) + 1 FROM {t}), false)",
            c = quote(&col),
            t = quote(&table)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(quote(&table))
            .bind(col)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
