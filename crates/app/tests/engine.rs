//! Engine tests of the application layer, on SQLite and PostgreSQL, without
//! HTTP: the one jurisdiction rule (lookup first, refusals audited), the one
//! registry walk, 政策找人 and the sweep through `doudi_app` alone.

use doudi_app::{Caller, Error, access, monitoring, policies, registry};
use doudi_store::Db;
use doudi_store::households::Scope;

struct TestDb {
    db: Db,
    schema: Option<String>,
    file: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{f}{suffix}"));
            }
        }
        if let Some(schema) = self.schema.clone() {
            // Best effort, on a runtime of its own (Drop is synchronous).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = Db::connect(&pg_url(), None).await {
                        let _ = doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(
                            format!("DROP SCHEMA {schema} CASCADE"),
                        ))
                        .execute(&admin.pool)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

fn pg_url() -> String {
    std::env::var("DOUDI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn fresh(postgres: bool, households: usize) -> TestDb {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "app{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let t = if postgres {
        let admin = Db::connect(&pg_url(), None)
            .await
            .expect("PostgreSQL must be reachable at DOUDI_TEST_PG_URL / 127.0.0.1:5432");
        doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA {unique}"
        )))
        .execute(&admin.pool)
        .await
        .expect("create schema");
        TestDb {
            db: Db::connect(&pg_url(), Some(&unique)).await.expect("pg"),
            schema: Some(unique),
            file: None,
        }
    } else {
        let path = format!("{}/doudi-app-{unique}.db", std::env::temp_dir().display());
        TestDb {
            db: Db::connect(&format!("sqlite://{path}"), None)
                .await
                .expect("sqlite"),
            schema: None,
            file: Some(path),
        }
    };
    doudi_app::demo::demo(&t.db, 2026, households, doudi_store::today_cn(), &|_| {})
        .await
        .expect("demo");
    t
}

async fn caller(db: &Db, username: &str) -> Caller {
    let u = doudi_store::users::by_username(db, username)
        .await
        .unwrap()
        .expect("demo account");
    Caller::from_user(u).expect("valid account")
}

async fn denied_count(db: &Db, entity: &str, id: i64) -> i64 {
    doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'denied' AND entity = $1 AND entity_id = $2",
    )
    .bind(entity.to_string())
    .bind(id.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// A household of the second street (outside 北山街道), and one inside the
/// first village assistant's village.
async fn households_of(db: &Db, c: &Caller) -> (i64, i64) {
    let ids: Vec<(i64, String)> = doudi_store::sqlx::query_as(
        "SELECT id, village_code FROM households WHERE status = 'active' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let inside = ids
        .iter()
        .find(|(_, v)| c.covers(v))
        .expect("own household")
        .0;
    let outside = ids
        .iter()
        .find(|(_, v)| !c.covers(v))
        .expect("foreign household")
        .0;
    (inside, outside)
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(false).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(true).await
            }
        }
    };
}

/// Lookup first: a foreign household is refused as out of scope and
/// audited, for a role that may not touch households at all as much as for
/// one that may; a role refusal on an own record is audited too.
async fn foreign_records_are_refused_and_audited(pg: bool) {
    let t = fresh(pg, 120).await;
    let db = &t.db;
    let village = caller(db, "cun_xieli").await;
    let (own, foreign) = households_of(db, &village).await;

    assert!(access::household(db, &village, own).await.is_ok());
    assert!(matches!(
        access::household(db, &village, foreign).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(denied_count(db, "household", foreign).await, 1);
    assert!(matches!(
        access::household(db, &village, 99_999_999).await,
        Err(Error::NotFound)
    ));

    // A visit on a foreign household: refused before any field is checked,
    // and audited as denied (it used to be refused by role, unaudited).
    let visit = monitoring::VisitInput {
        date: "not a date".into(),
        ..Default::default()
    };
    let before = denied_count(db, "household", foreign).await;
    let r = monitoring::record_visit(db, &village, foreign, &visit).await;
    assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    assert_eq!(denied_count(db, "household", foreign).await, before + 1);

    // On its own household the same input is refused by field, nothing written.
    let r = monitoring::record_visit(db, &village, own, &visit).await;
    let Err(Error::Invalid(fields)) = r else {
        panic!("{r:?}")
    };
    assert!(fields.iter().any(|f| f.field == "date"));
    assert!(fields.iter().any(|f| f.field == "kind"));
    let visits: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE household_id = $1")
            .bind(own)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(visits, 0);

    // The department liaison may not view household files: refused and audited.
    let liaison = caller(db, "yibao").await;
    let before = denied_count(db, "household", own).await;
    assert!(matches!(
        access::household(db, &liaison, own).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(denied_count(db, "household", own).await, before + 1);
}
both!(foreign_records_are_refused_and_audited);

/// The walk visits every active household of the scope exactly once, in
/// batches, whatever the batch boundary.
async fn the_walk_covers_the_registry_once(pg: bool) {
    let t = fresh(pg, 2_300).await;
    let db = &t.db;
    let county = Scope(doudi_domain::RegionCode::parse("330106").unwrap());
    let mut walk = registry::Walk::start(db, &county, doudi_store::today_cn());
    let mut seen = std::collections::HashSet::new();
    let mut batches = 0;
    while let Some(batch) = walk.next().await.unwrap() {
        batches += 1;
        assert!(batch.len() as i64 <= registry::BATCH);
        for (place, _, _) in &batch {
            assert!(seen.insert(place.id), "household {} seen twice", place.id);
        }
    }
    let total = doudi_store::policies::count_households(db, &county)
        .await
        .unwrap();
    assert_eq!(seen.len() as i64, total);
    assert!(
        total > registry::BATCH,
        "the demo spans more than one batch"
    );
    assert!(batches >= 2);
}
both!(the_walk_covers_the_registry_once);

/// 政策找人 and the sweep through the application layer alone: a run's
/// counters equal what is stored, a finding out of scope is refused and
/// audited (it used to read as "not found"), and a second sweep raises
/// nothing new.
async fn finder_and_sweep_without_http(pg: bool) {
    let t = fresh(pg, 200).await;
    let db = &t.db;
    let approver = caller(db, "qu_shenpi").await;
    let run = policies::start_run(db, &approver, None).await.unwrap();
    let mut status = String::new();
    for _ in 0..600 {
        let r = doudi_store::policies::run(db, run).await.unwrap().unwrap();
        status = r.status.clone();
        if status != "running" {
            assert_eq!(r.processed, r.total, "every household evaluated");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "done");
    let findings: Vec<(i64, String)> = doudi_store::sqlx::query_as(
        "SELECT id, village_code FROM findings WHERE run_id = $1 ORDER BY id",
    )
    .bind(run)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    // A village assistant of another street asks for a finding of 北山街道.
    let other = caller(db, "cun_xieli2").await;
    let foreign = findings
        .iter()
        .find(|(_, v)| !other.covers(v))
        .expect("the demo has findings outside the second street");
    let r = access::finding(db, &other, foreign.0).await;
    assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    assert_eq!(denied_count(db, "finding", foreign.0).await, 1);
    // The approver of the district reaches it.
    assert!(access::finding(db, &approver, foreign.0).await.is_ok());

    let today = doudi_store::today_cn();
    let first = monitoring::sweep(db, "test", today).await.unwrap();
    let stored: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM warnings WHERE sweep_id = $1")
            .bind(first.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(first.raised, stored, "counters equal what is stored");
    assert_eq!(
        first.households,
        doudi_store::policies::count_households(
            db,
            &Scope(doudi_domain::RegionCode::parse("330106").unwrap())
        )
        .await
        .unwrap()
    );
    let second = monitoring::sweep(db, "test", today).await.unwrap();
    assert_eq!(second.raised, 0);
    assert_eq!(second.already_open, first.raised);
}
both!(finder_and_sweep_without_http);

/// Writes queue on one writer instead of failing: 20 assistants each record
/// 5 visits while 20 others open 10 household files each (every view writes
/// an audit row). Nothing fails and everything is stored. On SQLite a write
/// that slipped onto the read pool is refused, so no code path can bypass
/// the writer.
async fn writes_queue_on_one_writer(pg: bool) {
    let t = fresh(pg, 300).await;
    let db = &t.db;
    let c = caller(db, "cun_xieli").await;
    let (own, _) = households_of(db, &c).await;
    let views_before: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'view' AND entity = 'household_file'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (db, c) = (db.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..if i % 2 == 0 { 5 } else { 10 } {
                if i % 2 == 0 {
                    let input = monitoring::VisitInput {
                        date: doudi_store::today_cn().to_string(),
                        kind: "home".into(),
                        findings: format!("并发走访 {i}"),
                        needs: String::new(),
                        follow_up: String::new(),
                    };
                    monitoring::record_visit(&db, &c, own, &input).await?;
                } else {
                    let (_, h) = access::household(&db, &c, own).await?;
                    doudi_app::audit::event(
                        &db,
                        &c,
                        "view",
                        "household_file",
                        h.id.to_string(),
                        Some(h.id),
                        &h.village_code,
                        "查看家庭档案".into(),
                    )
                    .await?;
                }
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("no write fails under concurrency");
    }
    let visits: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM visits WHERE household_id = $1 AND findings LIKE '并发走访%'",
    )
    .bind(own)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(visits, 100);
    let views: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'view' AND entity = 'household_file'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(views - views_before, 200);
    if !pg {
        let direct = doudi_store::sqlx::query("DELETE FROM visits")
            .execute(&db.pool)
            .await;
        assert!(direct.is_err(), "the read pool refuses writes on SQLite");
    }
}
both!(writes_queue_on_one_writer);

/// The command line's account acts (`doudi user passwd|token|add`) are
/// audited as the operator, and a weak password changes nothing.
async fn operator_acts_are_audited(pg: bool) {
    let t = fresh(pg, 10).await;
    let db = &t.db;
    let count = || async {
        doudi_store::sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_log WHERE username = 'system' AND action = 'admin'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    let hash = || async {
        doudi_store::users::by_username(db, "cun_xieli")
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    let (before, old_hash) = (count().await, hash().await);
    let weak = doudi_app::accounts::operator_set_password(db, "cun_xieli", "123").await;
    assert!(matches!(weak, Err(Error::Invalid(_))));
    assert_eq!((count().await, hash().await), (before, old_hash.clone()));
    doudi_app::accounts::operator_set_password(db, "cun_xieli", "Xihu-Beishan-2027")
        .await
        .unwrap();
    assert_ne!(hash().await, old_hash);
    // Tokens are for machine accounts only, from the command line as well.
    let human = doudi_app::accounts::operator_create_token(db, "yibao", "医保结算系统").await;
    assert!(matches!(human, Err(Error::Invalid(_))));
    assert_eq!(
        count().await,
        before + 1,
        "the password change audited once, the refusal wrote nothing"
    );
}
both!(operator_acts_are_audited);
