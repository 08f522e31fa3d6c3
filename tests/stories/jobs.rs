//! Long jobs on both databases (issue 10, item 3): a sweep, an import and a
//! 政策找人 run each run off the request, one at a time per kind whichever
//! process asks (the database refuses a second running row, with a Chinese
//! message, not a 500); a job whose process died is marked interrupted,
//! shown as 已中断 with a way to run it again, and its counters equal what it
//! stored; a job marked interrupted that is still alive stores nothing more;
//! the daily sweep runs again on a day whose sweep was interrupted; findings
//! of a run that did not finish never become leads and are marked incomplete.

use crate::support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doudi_app::Error;
use doudi_app::jobs::{self, Kind};
use doudi_store::households::Scope;
use doudi_store::{imports, monitoring as mon, policies as pol};
use serde_json::json;
use support::{Backend, TestApp};

/// An owner on this host and boot whose process does not exist (a process
/// that was killed).
fn dead_owner() -> String {
    let me = jobs::owner();
    let mut parts: Vec<&str> = me.split('/').collect();
    assert_eq!(parts.len(), 4, "owner is host/boot/pid/start: {me}");
    parts[2] = "999999999";
    parts.join("/")
}

async fn set_owner(app: &TestApp, table: &str, id: i64, owner: &str, heartbeat: &str) {
    doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET owner = $1, heartbeat_at = $2 WHERE id = $3"
    )))
    .bind(owner.to_string())
    .bind(heartbeat.to_string())
    .bind(id)
    .execute(app.db.writer())
    .await
    .unwrap();
}

async fn status(app: &TestApp, table: &str, id: i64) -> String {
    doudi_store::sqlx::query_scalar(doudi_store::sqlx::AssertSqlSafe(format!(
        "SELECT status FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn warnings_of(app: &TestApp, sweep: i64) -> i64 {
    doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM warnings WHERE sweep_id = $1")
        .bind(sweep)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

fn minutes_ago(m: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(m))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn sweeps_run_off_the_request_one_at_a_time(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let admin = app.login("admin").await;
    let today = doudi_store::today_cn();

    // The button starts a sweep in the background and shows its progress page.
    let (s, _, loc) = app.post("/sweeps", &admin, &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    let first: i64 = loc.trim_start_matches("/sweeps/").parse().unwrap();
    let page = support::wait_for_page(&app, &loc, &admin, "已完成").await;
    assert!(page.contains("id=\"count-raised\""));
    let done = mon::sweep(&app.db, first).await.unwrap().unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(done.households, done.total, "every household swept");
    assert_eq!(done.raised, warnings_of(&app, first).await);

    // A sweep running in another process (say `doudi sweep`): the button and
    // the command line are refused in Chinese, nothing is started.
    let other = mon::create_sweep(&app.db, "cli", jobs::owner(), 60)
        .await
        .unwrap();
    let before = app.scalar("SELECT COUNT(*) FROM sweeps").await;
    let (s, body, _) = app.post("/sweeps", &admin, &[]).await;
    assert_eq!(s, StatusCode::CONFLICT, "a refusal, not a 500");
    assert!(
        body.contains("已有一个预警排查正在运行，请等待其完成"),
        "{body}"
    );
    assert!(
        body.contains(&format!("/sweeps/{other}")),
        "links the running one"
    );
    match doudi_app::monitoring::sweep(&app.db, "cli", today).await {
        Err(Error::Conflict(m)) => assert!(m.contains("已有一个预警排查正在运行"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM sweeps").await, before);

    // It stores one batch — a warning and its counters together — then its
    // process dies. A live owner is left alone; a dead one is interrupted.
    let hid = app.household_in("").await;
    let place = pol::household_input(&app.db, hid, today)
        .await
        .unwrap()
        .unwrap()
        .0;
    doudi_store::sqlx::query("DELETE FROM warnings WHERE household_id = $1")
        .bind(hid)
        .execute(app.db.writer())
        .await
        .unwrap();
    let rule: i64 = app.scalar("SELECT MIN(id) FROM warning_rules").await;
    let warning = mon::NewWarning {
        place,
        rule_id: rule,
        severity: "low".into(),
        reason: "测试".into(),
        raised_on: today.to_string(),
        due_date: today.to_string(),
        raises_colour: None,
    };
    let counts = mon::SweepCounts {
        households: 30,
        ..Default::default()
    };
    assert!(
        mon::record_sweep_batch(&app.db, other, &counts, std::slice::from_ref(&warning))
            .await
            .unwrap()
    );
    assert!(jobs::recover_interrupted(&app.db).await.unwrap().is_empty());
    assert_eq!(status(&app, "sweeps", other).await, "running");
    set_owner(&app, "sweeps", other, &dead_owner(), &minutes_ago(0)).await;
    let found = jobs::recover_interrupted(&app.db).await.unwrap();
    assert_eq!(
        found,
        vec![jobs::Interrupted {
            kind: Kind::Sweep,
            id: other
        }]
    );
    let row = mon::sweep(&app.db, other).await.unwrap().unwrap();
    assert_eq!(row.status, "interrupted");
    assert_eq!((row.households, row.raised), (30, 1));
    assert_eq!(
        row.raised,
        warnings_of(&app, other).await,
        "counter = stored"
    );
    // Had it still been alive, its next batch would store nothing.
    assert!(
        !mon::record_sweep_batch(&app.db, other, &counts, &[])
            .await
            .unwrap()
    );
    assert_eq!(
        mon::sweep(&app.db, other)
            .await
            .unwrap()
            .unwrap()
            .households,
        30
    );
    // Shown as 已中断, with the way to run it again.
    let (_, page) = app.get(&format!("/sweeps/{other}"), &admin).await;
    assert!(
        page.contains("已中断") && page.contains("重新排查"),
        "{page}"
    );
    let (_, list) = app.get("/sweeps", &admin).await;
    assert!(list.contains("已中断"));

    // The daily job runs again today: the last sweep today was interrupted.
    // (Today's first sweep is done, so make it yesterday's.)
    doudi_store::sqlx::query("UPDATE sweeps SET started_at = $1 WHERE id = $2")
        .bind(minutes_ago(60 * 30))
        .bind(first)
        .execute(app.db.writer())
        .await
        .unwrap();
    assert!(
        !doudi_app::monitoring::swept_today(&app.db, today)
            .await
            .unwrap()
    );
    jobs::daily_sweep(app.db.clone()).await;
    let latest = &mon::sweeps(&app.db, 1).await.unwrap()[0];
    assert!(latest.id > other);
    assert_eq!(latest.status, "done", "{}", latest.message);
    assert_eq!(latest.raised, warnings_of(&app, latest.id).await);
    // Once done, it does not run again that day.
    jobs::daily_sweep(app.db.clone()).await;
    assert_eq!(mon::sweeps(&app.db, 1).await.unwrap()[0].id, latest.id);

    // A job of another host is interrupted only once it has been silent long.
    let far = mon::create_sweep(&app.db, "elsewhere", "otherhost/x/1/1", 60)
        .await
        .unwrap();
    assert!(jobs::recover_interrupted(&app.db).await.unwrap().is_empty());
    set_owner(&app, "sweeps", far, "otherhost/x/1/1", &minutes_ago(20)).await;
    assert_eq!(jobs::recover_interrupted(&app.db).await.unwrap().len(), 1);
    assert_eq!(status(&app, "sweeps", far).await, "interrupted");
    app.finish().await;
}

async fn imports_one_at_a_time_and_interrupted(backend: Backend) {
    let app = TestApp::new(backend, 20).await;
    let cookie = app.login("zhen_jingban").await;
    let user = doudi_store::users::by_username(&app.db, "zhen_jingban")
        .await
        .unwrap()
        .unwrap();
    let busy = imports::create(
        &app.db,
        user.id,
        &user.region_code,
        "big.csv",
        "accepted",
        jobs::owner(),
    )
    .await
    .unwrap();
    let upload = || {
        let b = "----doudiJobsBoundary";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nall\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n户编号\r\n--{b}--\r\n"
        );
        Request::post("/imports")
            .header(header::COOKIE, cookie.clone())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}"),
            )
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, _, b) = app.request(upload()).await;
    let html = String::from_utf8_lossy(&b);
    assert_eq!(s, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("已有一个导入正在运行，请等待其完成"),
        "{html}"
    );
    // Counters advance only inside the writing transaction; then the process dies.
    let mut tx = app.db.begin_write().await.unwrap();
    assert!(imports::advance(&mut tx, busy, 4, 2).await.unwrap());
    tx.commit().await.unwrap();
    set_owner(&app, "import_jobs", busy, &dead_owner(), &minutes_ago(0)).await;
    let found = jobs::recover_interrupted(&app.db).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, Kind::Import);
    let job = imports::get(&app.db, busy).await.unwrap().unwrap();
    assert_eq!(job.status, "interrupted");
    assert_eq!((job.accepted_rows, job.households_created), (4, 2));
    let (_, page) = app.get(&format!("/imports/{busy}"), &cookie).await;
    assert!(
        page.contains("已中断") && page.contains("重新上传导入"),
        "{page}"
    );
    let (_, list) = app.get("/imports", &cookie).await;
    assert!(list.contains("已中断"));
    // A job marked interrupted takes no more rows.
    let mut tx = app.db.begin_write().await.unwrap();
    assert!(!imports::advance(&mut tx, busy, 1, 1).await.unwrap());
    tx.rollback().await.unwrap();
    // The same action starts again.
    let (s, _, _) = app.request(upload()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    app.finish().await;
}

async fn finder_runs_one_at_a_time_and_incomplete(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let town = app.login("zhen_jingban").await;
    let token = app.token_for("zhen_jingban").await;
    let user = doudi_store::users::by_username(&app.db, "zhen_jingban")
        .await
        .unwrap()
        .unwrap();
    let scope = Scope(doudi_domain::RegionCode::parse(&user.region_code).unwrap());
    let busy = pol::create_run(&app.db, &scope, None, 60, user.id, jobs::owner())
        .await
        .unwrap();
    let (s, body, _) = app.post("/finder", &town, &[("policy", "")]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("已有一个政策找人正在运行，请等待其完成"));
    let (s, v) = app
        .api("POST", "/api/v1/finder-runs", &token, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("已有一个政策找人正在运行")
    );

    // It stores part of its findings, then its process dies.
    let hid = app.household_in(&user.region_code).await;
    let place = pol::household_input(&app.db, hid, doudi_store::today_cn())
        .await
        .unwrap()
        .unwrap()
        .0;
    let policy: i64 = app.scalar("SELECT MIN(id) FROM policies").await;
    let finding = pol::NewFinding {
        place,
        policy_id: policy,
        kind: "missed".into(),
        reason: "测试".into(),
        amount_fen: Some(100),
    };
    assert!(
        pol::record_batch(&app.db, busy, 20, std::slice::from_ref(&finding))
            .await
            .unwrap()
    );
    let fid: i64 = doudi_store::sqlx::query_scalar("SELECT id FROM findings WHERE run_id = $1")
        .bind(busy)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    // While it runs, its findings are not a result yet.
    let (s, body, _) = app.post(&format!("/findings/{fid}/lead"), &town, &[]).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("仍在运行"), "{body}");
    set_owner(&app, "finder_runs", busy, &dead_owner(), &minutes_ago(0)).await;
    let found = jobs::recover_interrupted(&app.db).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, Kind::Finder);
    let run = pol::run(&app.db, busy).await.unwrap().unwrap();
    assert_eq!(run.status, "interrupted");
    assert_eq!((run.processed, run.missed), (20, 1), "counters = stored");

    // Partial findings never become leads, and are marked as incomplete.
    let leads = app.scalar("SELECT COUNT(*) FROM leads").await;
    let (s, body, _) = app.post(&format!("/findings/{fid}/lead"), &town, &[]).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("结果不完整"), "{body}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM leads").await, leads);
    let mut tx = app.db.begin_write().await.unwrap();
    assert!(
        !pol::link_finding_lead(&mut tx, fid, 1).await.unwrap(),
        "the store refuses too"
    );
    tx.rollback().await.unwrap();
    let (_, page) = app.get(&format!("/finder/{busy}"), &town).await;
    assert!(page.contains("已中断") && page.contains("不能据此生成线索"));
    assert!(page.contains("重新运行"));
    assert!(
        !page.contains(&format!("/findings/{fid}/lead")),
        "no lead button"
    );
    let (_, list) = app.get("/finder", &town).await;
    assert!(list.contains("已中断（结果不完整）"));
    let (s, v) = app
        .api(
            "GET",
            &format!("/api/v1/finder-runs/{busy}/findings"),
            &token,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["complete"], false, "{v}");

    // The same action runs it again; a finished run's findings are complete.
    let (s, _, loc) = app.post("/finder", &town, &[("policy", "")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let loc = loc.unwrap();
    support::wait_for_page(&app, &loc, &town, "已完成").await;
    let rid: i64 = loc.trim_start_matches("/finder/").parse().unwrap();
    let (_, v) = app
        .api(
            "GET",
            &format!("/api/v1/finder-runs/{rid}/findings"),
            &token,
            None,
        )
        .await;
    assert_eq!(v["complete"], true, "{v}");
    app.finish().await;
}

on_both_backends!(
    sweeps_run_off_the_request_one_at_a_time,
    imports_one_at_a_time_and_interrupted,
    finder_runs_one_at_a_time_and_incomplete
);
