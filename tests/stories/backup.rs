//! Backup and restore (issue 10): a backup taken from either backend restores
//! into a fresh database of each backend with every household, person, item,
//! ledger line and audit row, ids included, and the restored database goes on
//! working (new ids after the restored ones). A target with data, a damaged
//! file and a backup of another schema version are refused and change nothing.

use crate::support;

use axum::http::StatusCode;
use doudi_store::backup::{self, RestoreOptions, Summary};
use doudi_store::sqlx::{self, Row, ValueRef};
use support::{Backend, TestApp, apply};

/// A temporary backup file name (removed by `Cleanup`).
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "doudi-backup-{tag}-{}-{}.sqlite",
            std::process::id(),
            support::rand_suffix()
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn quiet() -> impl Fn(&str, i64) + Sync {
    |_: &str, _: i64| {}
}

/// A source with cases, a ledger line and audit rows written through the
/// normal paths (the intake form and an item's steps).
async fn source(backend: Backend) -> TestApp {
    let app = TestApp::new(backend, 30).await;
    let town = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let (s, html) = app.get(&format!("/households/{hid}"), &town).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let (s, html, loc) = apply(
        &app,
        &town,
        hid,
        &[
            ("channel", "window"),
            ("proxy_name", "户主之子"),
            ("situation", "户主突发重病，家庭无力负担医疗费用"),
            ("kind_temp_emergency", "1"),
            ("kind_dibao", "1"),
        ],
        Some((
            "住院证明.png",
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0scan",
        )),
    )
    .await;
    let at = html.find("error-summary").unwrap_or(0);
    assert_eq!(
        s,
        StatusCode::SEE_OTHER,
        "{}",
        &html[at..(at + 600).min(html.len())]
    );
    let app_id: i64 = loc
        .unwrap()
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let emergency: i64 = sqlx::query_scalar(
        "SELECT id FROM case_items WHERE application_id = $1 AND kind = 'temp_emergency'",
    )
    .bind(app_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    for extra in [
        vec![],
        vec![("amount", "3000"), ("opinion", "先行发放")],
        vec![
            ("signatures", "李经办、王调查员"),
            ("opinion", "补充调查、公示完毕"),
        ],
    ] {
        let v: i64 = sqlx::query_scalar("SELECT version FROM case_items WHERE id = $1")
            .bind(emergency)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        let v = v.to_string();
        let mut form = vec![("version", v.as_str()), ("action", "complete")];
        form.extend_from_slice(&extra);
        let (s, html, _) = app
            .post(&format!("/items/{emergency}/act"), &town, &form)
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM ledger").await, 1);
    assert!(app.scalar("SELECT COUNT(*) FROM audit_log").await >= 5);
    assert!(app.scalar("SELECT COUNT(*) FROM attachments").await >= 1);
    app
}

/// Every data table of a database (the catalogue, not a list).
async fn tables(app: &TestApp) -> Vec<String> {
    let sql = match app.db.backend {
        doudi_store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'schema_migrations' ORDER BY name"
        }
        doudi_store::Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name"
        }
    };
    sqlx::query_scalar(sql)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in tables(app).await {
        let n = count(app, &t).await;
        out.push((t, n));
    }
    out
}

/// A table's rows in id order, each as (column, value) pairs sorted by column
/// name, values rendered with their type, so rows compare across backends.
async fn rows(app: &TestApp, table: &str, key: &str) -> Vec<Vec<(String, String)>> {
    let all = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM {table} ORDER BY {key}"
    )))
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    all.iter()
        .map(|r| {
            let mut row: Vec<(String, String)> = (0..r.len())
                .map(|i| {
                    let name = sqlx::Column::name(&r.columns()[i]).to_string();
                    let v = if r.try_get_raw(i).unwrap().is_null() {
                        "NULL".to_string()
                    } else if let Ok(n) = r.try_get::<i64, _>(i) {
                        format!("i:{n}")
                    } else if let Ok(s) = r.try_get::<String, _>(i) {
                        format!("s:{s}")
                    } else {
                        format!("b:{:?}", r.try_get::<Vec<u8>, _>(i).unwrap())
                    };
                    (name, v)
                })
                .collect();
            row.sort();
            row
        })
        .collect()
}

const KEY_TABLES: &[(&str, &str)] = &[
    ("regions", "code"),
    ("users", "id"),
    ("households", "id"),
    ("persons", "id"),
    ("memberships", "id"),
    ("applications", "id"),
    ("case_items", "id"),
    ("case_steps", "id"),
    ("attachments", "id"),
    ("ledger", "id"),
    ("audit_log", "id"),
];

/// The target holds exactly the source's rows (plus the one audit row of the
/// restore itself).
async fn assert_same(from: &TestApp, to: &TestApp, summary: &Summary, what: &str) {
    let source_counts = counts(from).await;
    assert_eq!(
        summary.tables.len(),
        source_counts.len(),
        "{what}: every table of the catalogue is restored"
    );
    for (t, n) in &source_counts {
        let restored = count(to, t).await;
        let expected = if t == "audit_log" { n + 1 } else { *n };
        assert_eq!(restored, expected, "{what}: rows of {t}");
        assert!(
            summary.tables.iter().any(|(name, m)| name == t && m == n),
            "{what}: {t} in the summary with {n} rows"
        );
    }
    for (t, key) in KEY_TABLES {
        let a = rows(from, t, key).await;
        let mut b = rows(to, t, key).await;
        assert!(!a.is_empty(), "{what}: the fixture has rows in {t}");
        if *t == "audit_log" {
            let last = b.pop().unwrap();
            assert!(
                last.contains(&("action".into(), "s:restore".into())),
                "{what}: the restore is audited: {last:?}"
            );
        }
        assert_eq!(a, b, "{what}: rows of {t}, ids included");
    }
}

async fn backup_restores_everything(backend: Backend) {
    let from = source(backend).await;
    let file = TempFile::new("all");
    let taken = backup::backup(&from.db, &file.0, &quiet()).await.unwrap();
    assert!(taken.bytes > 0 && file.0.exists());
    assert!(taken.rows() > 100, "{taken:?}");
    let again = backup::backup(&from.db, &file.0, &quiet()).await;
    assert!(
        again.unwrap_err().to_string().contains("已存在"),
        "an existing file is never overwritten"
    );

    for target in [Backend::Sqlite, Backend::Postgres] {
        let what = format!("{backend:?} → {target:?}");
        let to = TestApp::empty(target).await;
        let restored = backup::restore(&to.db, &file.0, &RestoreOptions::default(), &quiet())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(restored.rows(), taken.rows(), "{what}");
        assert_same(&from, &to, &restored, &what).await;

        // The restored database works through the normal paths: new rows get
        // ids after the restored ones (PostgreSQL sequences were moved on).
        let max_item: i64 = to.scalar("SELECT MAX(id) FROM case_items").await;
        let max_audit: i64 = to.scalar("SELECT MAX(id) FROM audit_log").await;
        let town = to.login("zhen_jingban").await;
        let village = to.region_of("cun_xieli").await;
        let hid = to.household_in(&village).await;
        let (s, html, _) = apply(
            &to,
            &town,
            hid,
            &[
                ("channel", "window"),
                ("proxy_name", "户主之女"),
                ("situation", "恢复后新的申请"),
                ("kind_dibao", "1"),
            ],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{what}: {html}");
        assert!(to.scalar("SELECT MAX(id) FROM case_items").await > max_item);
        assert!(to.scalar("SELECT MAX(id) FROM audit_log").await > max_audit);
        to.finish().await;
    }
    from.finish().await;
}

async fn restore_refuses_a_target_with_data(backend: Backend) {
    let from = source(backend).await;
    let file = TempFile::new("busy");
    backup::backup(&from.db, &file.0, &quiet()).await.unwrap();

    // A target with other data, in use a moment ago (a login).
    let to = TestApp::new(backend, 5).await;
    let _ = to.login("qu_jiandu").await;
    let before = counts(&to).await;
    let households = rows(&to, "households", "id").await;
    let err = backup::restore(&to.db, &file.0, &RestoreOptions::default(), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("不是空的") && err.contains("--force"), "{err}");
    assert_eq!(counts(&to).await, before, "nothing changed");

    // --force still refuses while the target was written to recently.
    let force = RestoreOptions {
        force: true,
        ..Default::default()
    };
    let err = backup::restore(&to.db, &file.0, &force, &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("仍有写入") && err.contains("停止"), "{err}");
    assert_eq!(counts(&to).await, before, "nothing changed");
    assert_eq!(rows(&to, "households", "id").await, households);

    // Quiet long enough: --force replaces everything, audit log included.
    let force = RestoreOptions {
        force: true,
        quiet_for: chrono::Duration::zero(),
    };
    let restored = backup::restore(&to.db, &file.0, &force, &quiet())
        .await
        .unwrap();
    assert_same(&from, &to, &restored, "--force").await;
    // The audit log is append-only again after the wipe.
    let deleted = sqlx::query("DELETE FROM audit_log")
        .execute(to.db.writer())
        .await;
    assert!(deleted.is_err(), "the audit triggers are back");
    to.finish().await;
    from.finish().await;
}

async fn restore_refuses_a_damaged_backup(backend: Backend) {
    let from = source(backend).await;
    let file = TempFile::new("whole");
    backup::backup(&from.db, &file.0, &quiet()).await.unwrap();
    let bytes = std::fs::read(&file.0).unwrap();
    from.finish().await;

    let to = TestApp::empty(backend).await;
    let truncated = TempFile::new("truncated");
    std::fs::write(&truncated.0, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = TempFile::new("garbage");
    std::fs::write(
        &garbage.0,
        "户主,身份证号\n张三,110105194912310021\n".repeat(200),
    )
    .unwrap();
    let missing = TempFile::new("missing");
    for (f, why) in [
        (&truncated, "无法使用"),
        (&garbage, "无法使用"),
        (&missing, "找不到"),
    ] {
        let err = backup::restore(&to.db, &f.0, &RestoreOptions::default(), &quiet())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{}: {err}", f.0.display());
        assert!(
            counts(&to).await.iter().all(|(_, n)| *n == 0),
            "{}: the target stays empty",
            f.0.display()
        );
    }
    // The whole file still restores into the same target.
    backup::restore(&to.db, &file.0, &RestoreOptions::default(), &quiet())
        .await
        .unwrap();
    assert!(count(&to, "households").await > 0);
    to.finish().await;
}

async fn restore_refuses_another_schema_version(backend: Backend) {
    let from = source(backend).await;
    let file = TempFile::new("old");
    backup::backup(&from.db, &file.0, &quiet()).await.unwrap();
    from.finish().await;
    // Make it a backup of an older schema: its last migration not applied.
    {
        use doudi_store::sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(&format!("sqlite://{}", file.0.display()))
            .await
            .unwrap();
        let last: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        sqlx::query("DELETE FROM schema_migrations WHERE version = $1")
            .bind(last)
            .execute(&mut c)
            .await
            .unwrap();
        let rest: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .unwrap();
        let list = rest
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        for (k, v) in [
            ("schema_version", rest.last().unwrap().to_string()),
            ("migrations", list),
        ] {
            sqlx::query("UPDATE backup_meta SET value = $1 WHERE key = $2")
                .bind(v)
                .bind(k)
                .execute(&mut c)
                .await
                .unwrap();
        }
        c.close().await.unwrap();
    }
    let to = TestApp::empty(backend).await;
    let err = backup::restore(&to.db, &file.0, &RestoreOptions::default(), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("结构版本") && err.contains("不能恢复"),
        "{err}"
    );
    assert!(counts(&to).await.iter().all(|(_, n)| *n == 0));
    to.finish().await;
}

/// The file is self-contained and self-describing: `backup_meta` says what
/// it holds and where it came from.
async fn the_backup_file_describes_itself(backend: Backend) {
    let from = source(backend).await;
    let file = TempFile::new("meta");
    let taken = backup::backup(&from.db, &file.0, &quiet()).await.unwrap();
    let households = count(&from, "households").await;
    from.finish().await;
    use doudi_store::sqlx::Connection;
    let mut c = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=ro", file.0.display()))
        .await
        .unwrap();
    let meta: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM backup_meta")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} in backup_meta"))
    };
    assert_eq!(get("format_version"), "1");
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    assert_eq!(get("source_backend"), name);
    assert_eq!(get("schema_version"), taken.schema_version.to_string());
    assert_eq!(get("rows:households"), households.to_string());
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(
        journal, "delete",
        "one self-contained file, no -wal beside it"
    );
    let row = sqlx::query("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let n: i64 = row.try_get(0).unwrap();
    assert_eq!(get("rows:audit_log"), n.to_string());
    c.close().await.unwrap();
}

on_both_backends!(
    backup_restores_everything,
    restore_refuses_a_target_with_data,
    restore_refuses_a_damaged_backup,
    restore_refuses_another_schema_version,
    the_backup_file_describes_itself,
);
