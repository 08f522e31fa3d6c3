//! Persistence: the one place SQL lives.
//!
//! One code path for both backends through sqlx's `Any` driver: SQL is written in the
//! portable subset (`$1` placeholders, `RETURNING`, `ON CONFLICT`), values are limited to
//! integers, text and blobs (dates as ISO text, money as integer fen). Each backend has its
//! own migrations folder because DDL differs (identity columns, composite keys, triggers).

pub mod audit;
pub mod backup;
pub mod bulk;
pub mod cases;
pub mod departments;
pub mod households;
pub mod imports;
pub mod monitoring;
pub mod policies;
pub mod regions;
pub mod users;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx;

/// A write transaction. On SQLite it is opened with `BEGIN IMMEDIATE` so that a
/// read-then-write never fails half-way with "database is locked".
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("数据库错误：{0}")]
    Db(#[from] sqlx::Error),
    /// Optimistic-lock failure: someone else saved first.
    #[error("{0}")]
    Conflict(String),
    #[error("记录不存在")]
    NotFound,
    /// A rule of the data model was broken (duplicate ID number, missing head …).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database: `pool` for reads, `writer` for every write.
///
/// On SQLite the writer is one connection and the readers are opened
/// `query_only`, so writes queue in this process instead of failing with
/// "database is locked", and a write that slipped onto a reader fails in the
/// tests. A write transaction may read through `pool` (WAL readers never wait
/// for the writer) but must never wait for `writer` again. On PostgreSQL both
/// are the same pool.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    writer: AnyPool,
    pub backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_cases.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_policies_monitoring.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_login_throttle.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_notice_tokens.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_jobs.sql")),
    (
        8,
        include_str!("../migrations/sqlite/0008_registry_oracle.sql"),
    ),
    (9, include_str!("../migrations/sqlite/0009_read_paths.sql")),
    (
        10,
        include_str!("../migrations/sqlite/0010_departments.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_changed_sweep.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgresql/0001_init.sql")),
    (2, include_str!("../migrations/postgresql/0002_cases.sql")),
    (
        3,
        include_str!("../migrations/postgresql/0003_policies_monitoring.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgresql/0004_login_throttle.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgresql/0006_notice_tokens.sql"),
    ),
    (7, include_str!("../migrations/postgresql/0007_jobs.sql")),
    (
        8,
        include_str!("../migrations/postgresql/0008_registry_oracle.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgresql/0009_read_paths.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgresql/0010_departments.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgresql/0011_changed_sweep.sql"),
    ),
];

impl Db {
    /// Connects to `sqlite://path` (file created if missing) or `postgres://…`.
    /// `pg_schema` puts every connection in that schema (used by tests for isolation).
    pub async fn connect(url: &str, pg_schema: Option<&str>) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "不支持的数据库地址：{url}（应以 sqlite:// 或 postgres:// 开头）"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options: AnyConnectOptions = url.parse()?;
        let schema = pg_schema.map(str::to_string);
        let pool_of = |max: u32, read_only: bool| {
            let schema = schema.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _meta| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        match backend {
                            Backend::Sqlite => {
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; \
                                     PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
                                )
                                .await?;
                                if read_only {
                                    conn.execute("PRAGMA query_only=ON;").await?;
                                }
                            }
                            Backend::Postgres => {
                                if let Some(s) = schema {
                                    let sql =
                                        format!("SET search_path TO \"{}\"", s.replace('"', ""));
                                    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                                }
                            }
                        }
                        Ok(())
                    })
                })
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // The writer connects first, so a new file is in WAL mode before any reader.
                let writer = pool_of(1, false).connect_with(options.clone()).await?;
                let pool = pool_of(8, true).connect_with(options).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let pool = pool_of(16, false).connect_with(options).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Db {
            pool,
            writer,
            backend,
        })
    }

    /// Applies pending migrations for this backend; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let mut conn = self.writer.acquire().await?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await?;
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *conn)
            .await?;
        drop(conn);
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let mut applied = 0;
        for (version, sql) in list {
            if done.contains(version) {
                continue;
            }
            let mut tx = self.begin_write().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ts())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied += 1;
        }
        Ok(applied)
    }

    pub async fn begin_write(&self) -> Result<Tx> {
        let stmt = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        Ok(self.writer.begin_with(stmt).await?)
    }

    /// The pool for a single write outside a transaction (an audit entry of a
    /// read, a session row). Never call it while holding a [`Tx`].
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Cheap "is the database empty" check used by `doudi demo`.
    pub async fn has_data(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

/// Current time as RFC 3339 UTC text (the stored form of every timestamp).
pub fn now_ts() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Today's date in China (UTC+8), the date offices work by.
pub fn today_cn() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// The exclusive upper bound for a prefix range scan (`col >= p AND col < succ(p)`),
/// which uses a B-tree index on both backends (PostgreSQL columns are `COLLATE "C"`).
pub fn prefix_successor(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    "\u{10FFFF}".to_string()
}

/// Maps a unique-constraint violation to a clear message; passes other errors through.
pub(crate) fn unique_violation(err: sqlx::Error, message: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Invalid(message.to_string());
        }
    }
    StoreError::Db(err)
}

#[cfg(test)]
mod tests {
    use super::households::{QueryKind, classify_query};
    use super::prefix_successor;

    #[test]
    fn prefix_ranges_cover_exactly_the_prefix() {
        assert_eq!(prefix_successor("12"), "13");
        assert_eq!(prefix_successor("王"), "\u{738C}");
        let (lo, hi) = ("王小", prefix_successor("王小"));
        for s in ["王小", "王小明", "王小\u{10FFFF}"] {
            assert!(s >= lo && s < hi.as_str(), "{s} in range");
        }
        for s in ["王", "王大明", "汪小明"] {
            assert!(!(s >= lo && s < hi.as_str()), "{s} out of range");
        }
    }

    #[test]
    fn queries_are_classified() {
        assert_eq!(
            classify_query("11010519491231002x"),
            QueryKind::IdNumber("11010519491231002X".into())
        );
        assert_eq!(
            classify_query("110105491231002"),
            QueryKind::IdNumber("11010519491231002X".into()),
            "old 15-digit numbers are converted"
        );
        assert_eq!(
            classify_query("13812345678"),
            QueryKind::Phone("13812345678".into())
        );
        assert_eq!(classify_query("002x"), QueryKind::IdTail("002X".into()));
        assert_eq!(
            classify_query("0021"),
            QueryKind::Number("0021".into()),
            "digits: a household number, an ID tail or a phone tail"
        );
        assert_eq!(classify_query(" 张三 "), QueryKind::Name("张三".into()));
        assert_eq!(
            classify_query("123"),
            QueryKind::Number("123".into()),
            "three digits: a household number only"
        );
    }
}
