//! Policies, standards and 政策找人 on both databases: rules that do not
//! compile are refused and change nothing; the test panel names the failed
//! condition; a run finds missed, excessive and duplicate aid with reasons,
//! reports an erroring rule per household and goes on; findings become
//! leads for the right village only; standards are effective-dated; the
//! public guide and self-check expose nothing from the registry.

use crate::support;

use axum::http::StatusCode;
use chrono::NaiveDate;
use doudi_rules::facts::Facts;
use doudi_rules::standards;
use support::{Backend, TestApp};

async fn exec(app: &TestApp, sql: &str, id: i64) {
    doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(sql.to_string()))
        .bind(id)
        .execute(app.db.writer())
        .await
        .unwrap();
}

async fn policy_id(app: &TestApp, code: &str) -> i64 {
    doudi_store::sqlx::query_scalar("SELECT id FROM policies WHERE code = $1")
        .bind(code.to_string())
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Makes a household look a certain way to the rules: `income` fen a month
/// in all, the given categories, and optionally one vehicle.
async fn shape(app: &TestApp, hid: i64, income: i64, categories: &str, vehicle: bool) {
    exec(app, "DELETE FROM income_items WHERE household_id = $1", hid).await;
    exec(app, "DELETE FROM assets WHERE household_id = $1", hid).await;
    exec(app, "DELETE FROM ledger WHERE household_id = $1", hid).await;
    doudi_store::sqlx::query("UPDATE households SET categories = $1 WHERE id = $2")
        .bind(categories.to_string())
        .bind(hid)
        .execute(app.db.writer())
        .await
        .unwrap();
    let county: String =
        doudi_store::sqlx::query_scalar("SELECT county_code FROM households WHERE id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    if income > 0 {
        doudi_store::sqlx::query("INSERT INTO income_items (county_code, household_id, kind, description, monthly_fen, created_at) VALUES ($1,$2,'wage','工资',$3,'2026-01-01T00:00:00Z')")
            .bind(county.clone())
            .bind(hid)
            .bind(income)
            .execute(app.db.writer())
            .await
            .unwrap();
    }
    if vehicle {
        doudi_store::sqlx::query("INSERT INTO assets (county_code, household_id, kind, description, value_fen, created_at) VALUES ($1,$2,'vehicle','小汽车',8000000,'2026-01-01T00:00:00Z')")
            .bind(county)
            .bind(hid)
            .execute(app.db.writer())
            .await
            .unwrap();
    }
}

async fn wait_for_run(app: &TestApp, run_id: i64) -> doudi_store::policies::RunRow {
    for _ in 0..600 {
        let run = doudi_store::policies::run(&app.db, run_id)
            .await
            .unwrap()
            .unwrap();
        if run.status != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not finish");
}

async fn start_run(app: &TestApp, cookie: &str, policy: i64) -> i64 {
    let (s, body, loc) = app
        .post("/finder", cookie, &[("policy", &policy.to_string())])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    loc.unwrap().trim_start_matches("/finder/").parse().unwrap()
}

async fn finding_of(
    app: &TestApp,
    run: i64,
    hid: i64,
) -> Option<(i64, String, String, Option<i64>)> {
    doudi_store::sqlx::query_as("SELECT id, kind, reason, amount_fen FROM findings WHERE run_id = $1 AND household_id = $2 ORDER BY id")
        .bind(run)
        .bind(hid)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

async fn finder_story(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let village = app.region_of("cun_xieli").await;
    let other_village = app.region_of("cun_xieli2").await;
    assert_ne!(village, other_village);
    let ids: Vec<i64> = doudi_store::sqlx::query_scalar("SELECT id FROM households WHERE village_code = $1 AND status = 'active' ORDER BY id LIMIT 3")
        .bind(village.clone())
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        ids.len(),
        3,
        "the demo puts households in the assistant's village"
    );
    let (missed, excessive, duplicate) = (ids[0], ids[1], ids[2]);
    shape(&app, missed, 0, "", false).await;
    shape(&app, excessive, 5_000_000, "dibao", true).await;
    shape(&app, duplicate, 0, "dibao,tekun", false).await;

    let town = app.login("zhen_jingban").await;
    let dibao = policy_id(&app, "dibao").await;
    let run_id = start_run(&app, &town, dibao).await;
    let run = wait_for_run(&app, run_id).await;
    assert_eq!(run.status, "done", "{}", run.message);
    assert_eq!(run.processed, run.total);
    assert!(run.total > 0);

    let m = finding_of(&app, run_id, missed)
        .await
        .expect("missed household found");
    assert_eq!(m.1, "missed");
    // No income at all: (1,000.00 − 0) × members.
    let size: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons WHERE household_id = $1 AND status = 'alive'",
    )
    .bind(missed)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(m.3, Some(100_000 * size));
    let e = finding_of(&app, run_id, excessive)
        .await
        .expect("excessive household found");
    assert_eq!(e.1, "excessive");
    // The failed condition in plain Chinese with the household's figures
    // (issue 11, defect 4), not the rule's expression.
    assert!(
        e.2.contains("家庭人均月收入") && e.2.contains("元，不低于低保标准 1,000.00 元"),
        "reason names the failed condition with its values: {}",
        e.2
    );
    assert!(!e.2.contains("hh.") && !e.2.contains("std."), "{}", e.2);
    let d = finding_of(&app, run_id, duplicate)
        .await
        .expect("duplicate household found");
    assert_eq!(d.1, "duplicate");
    assert!(d.2.contains("特困"), "{}", d.2);

    // The run page shows the counts; the export is a real workbook.
    let (s, page) = app
        .get(&format!("/finder/{run_id}?kind=missed"), &town)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("疑似应享未享"));
    let (s, xlsx) = app
        .get_bytes(&format!("/finder/{run_id}/findings.xlsx"), &town)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(xlsx.starts_with(b"PK"));

    // A finding becomes a lead for the responsible village, once.
    let (s, _, loc) = app
        .post(&format!("/findings/{}/lead", m.0), &town, &[])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.unwrap().starts_with("/leads"));
    let (s, _, _) = app
        .post(&format!("/findings/{}/lead", m.0), &town, &[])
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a second lead for the same finding is refused"
    );
    let assistant = app.login("cun_xieli").await;
    let (_, leads) = app.get("/leads", &assistant).await;
    assert!(
        leads.contains(&format!("/households/{missed}/apply")),
        "the village sees the lead with a way to apply"
    );
    let head: String =
        doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
            .bind(missed)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        leads.contains(&format!(">{}户</a>", doudi_domain::mask::mask_name(&head))),
        "the lead names the household by its head: {leads}"
    );
    let other = app.login("cun_xieli2").await;
    let (_, other_leads) = app.get("/leads", &other).await;
    assert!(
        !other_leads.contains(&format!("/households/{missed}\"")),
        "another village does not see it"
    );
    let lead: i64 = doudi_store::sqlx::query_scalar("SELECT id FROM leads WHERE household_id = $1")
        .bind(missed)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (s, _, _) = app
        .post(
            &format!("/leads/{lead}/close"),
            &other,
            &[("note", "不是我村的")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another village cannot close it");
    let (s, _, _) = app
        .post(&format!("/leads/{lead}/close"), &assistant, &[("note", "")])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "closing needs a note");
    let (s, _, _) = app
        .post(
            &format!("/leads/{lead}/close"),
            &assistant,
            &[("note", "已上门，协助申请低保")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // A rule that fails on one household (division by zero when it has a
    // vehicle) is reported for that household; the run finishes.
    let admin = app.login("admin").await;
    let form = [
        ("code", "vehicle_ratio"),
        ("name", "测试：车辆比例"),
        ("department", "区民政局"),
        ("family", "测试"),
        ("conditions", "测试规则"),
        ("phone", "12345"),
        ("benefit_form", "service"),
        ("receipt_key", "vehicle_ratio"),
        (
            "eligibility",
            "hh.vehicles == 0 || hh.income_monthly / (hh.vehicles - hh.vehicles) > 0",
        ),
        ("status", "active"),
        ("effective_from", "2024-01-01"),
        ("intent", "save"),
    ];
    let (s, body, _) = app.post("/policies/new", &admin, &form).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let erroring = policy_id(&app, "vehicle_ratio").await;
    let run2 = start_run(&app, &town, erroring).await;
    let run = wait_for_run(&app, run2).await;
    assert_eq!(run.status, "done");
    assert_eq!(run.processed, run.total, "the run went on past the error");
    assert!(run.errors >= 1);
    let f = finding_of(&app, run2, excessive)
        .await
        .expect("the erroring household is reported");
    assert_eq!(f.1, "error");
    assert!(f.2.contains("除数为零"), "{}", f.2);
    app.finish().await;
}

async fn rules_and_standards(backend: Backend) {
    let app = TestApp::new(backend, 20).await;
    let admin = app.login("admin").await;
    let dibao = policy_id(&app, "dibao").await;
    let (s, page) = app.get(&format!("/policies/{dibao}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("std.dibao"));
    let before: (String, i64) =
        doudi_store::sqlx::query_as("SELECT eligibility, version FROM policies WHERE id = $1")
            .bind(dibao)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let base = |eligibility: &'static str| {
        vec![
            ("name", "最低生活保障"),
            ("department", "区民政局"),
            ("family", "最低生活保障"),
            ("conditions", "收入低于标准"),
            ("phone", "12345"),
            ("benefit_form", "monthly_cash"),
            ("receipt_key", "dibao"),
            ("eligibility", eligibility),
            ("amount", "calc.dibao_amount"),
            ("status", "active"),
            ("effective_from", "2024-01-01"),
            ("intent", "save"),
        ]
    };
    let mut version = before.1.to_string();
    for (bad, message) in [
        ("hh.size > && true", "语法错误"),
        (
            "hh.per_capita_incom < std.dibao",
            "规则无法在样例家庭上求值",
        ),
        ("hh.size", "条件规则应得到 true/false"),
    ] {
        let mut form = base(bad);
        form.push(("version", &version));
        let (s, body, _) = app.post(&format!("/policies/{dibao}"), &admin, &form).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(body.contains(message), "{bad}: {message}");
        let now: (String, i64) =
            doudi_store::sqlx::query_as("SELECT eligibility, version FROM policies WHERE id = $1")
                .bind(dibao)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(now, before, "a refused rule changes nothing");
    }
    // A staff member without the right cannot save, even a valid rule.
    let town = app.login("zhen_jingban").await;
    let mut form = base("hh.size > 0");
    form.push(("version", &version));
    let (s, _, _) = app.post(&format!("/policies/{dibao}"), &town, &form).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The test panel names the failed condition on a chosen household.
    let hid = app.household_in(&app.region_of("cun_xieli").await).await;
    shape(&app, hid, 9_000_000, "", false).await;
    let mut form = base("hh.size > 0 && hh.per_capita_income < std.dibao && hh.vehicles == 0");
    form.retain(|(k, _)| *k != "intent");
    let hid_s = hid.to_string();
    form.push(("intent", "test"));
    form.push(("test_household", &hid_s));
    form.push(("version", &version));
    let (s, body, _) = app.post(&format!("/policies/{dibao}"), &town, &form).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("id=\"test-eligible\">不符合"), "{body}");
    let row = body
        .split("class=\"fail\"")
        .nth(1)
        .expect("a failed condition row");
    assert!(
        row.contains("hh.per_capita_income &#60; std.dibao"),
        "{row}"
    );
    // Audited as a view of the household file.
    let audited: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'view' AND household_id = $1",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(audited >= 1);

    // A valid change saves and bumps the version.
    let mut form = base("hh.size > 0 && hh.per_capita_income < std.dibao");
    form.push(("version", &version));
    let (s, body, _) = app.post(&format!("/policies/{dibao}"), &admin, &form).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    version = (before.1 + 1).to_string();
    let now: i64 = doudi_store::sqlx::query_scalar("SELECT version FROM policies WHERE id = $1")
        .bind(dibao)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(now.to_string(), version);

    // Standards: an out-of-range percentage is refused and adds nothing.
    let rows_before = app.scalar("SELECT COUNT(*) FROM standards").await;
    let (s, body, _) = app
        .post(
            "/standards",
            &admin,
            &[
                ("key", "medical_ratio_pct"),
                ("region", "330106"),
                ("value", "75"),
                ("effective_from", "2026-07-01"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("40%至60%"), "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM standards").await,
        rows_before
    );

    // Preview: the number of households the rule matches in the actor's
    // jurisdiction (every active household has at least one living member).
    let mut form = base("hh.size > 0");
    form.retain(|(k, _)| *k != "intent");
    form.push(("intent", "preview"));
    form.push(("version", &version));
    let (s, body, _) = app.post(&format!("/policies/{dibao}"), &town, &form).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let town_code = app.region_of("zhen_jingban").await;
    let in_town: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM households WHERE town_code = $1 AND status = 'active' AND size > 0",
    )
    .bind(town_code)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(
        body.contains(&format!("中符合资格规则的有 {in_town} 户")),
        "{body}"
    );

    // Effective dating: a new 低保 standard from 2026-07-01. A decision on
    // 2026-06-30 uses 1,000.00, one on 2026-07-01 uses 1,200.00; the
    // earlier amount stays what it was.
    let (s, _, _) = app
        .post(
            "/standards",
            &admin,
            &[
                ("key", "dibao_standard"),
                ("region", "330106"),
                ("value", "1200"),
                ("effective_from", "2026-07-01"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    shape(&app, hid, 0, "", false).await;
    let amount_on = |date: NaiveDate| {
        let app = &app;
        async move {
            let rows = doudi_store::policies::standard_rows(&app.db).await.unwrap();
            let (place, input, feeds) = doudi_store::policies::household_input(&app.db, hid, date)
                .await
                .unwrap()
                .unwrap();
            let std = standards::in_force(&rows, &place.village_code, &date.to_string());
            let facts = Facts::build(&input.with_feeds(&feeds, date), &std, date);
            (
                std["dibao_standard"],
                facts.calc["dibao_amount"].as_i64().unwrap(),
                facts.hh.size,
            )
        }
    };
    let (std_before, amount_before, size) =
        amount_on(NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()).await;
    let (std_after, amount_after, _) =
        amount_on(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()).await;
    assert_eq!((std_before, std_after), (100_000, 120_000));
    assert_eq!(amount_before, 100_000 * size);
    assert_eq!(amount_after, 120_000 * size);
    app.finish().await;
}

async fn public_pages(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let audit_before = app.scalar("SELECT COUNT(*) FROM audit_log").await;
    let (s, guide) = app.get("/public/policies", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(guide.contains("最低生活保障"));
    assert!(guide.contains("咨询电话"));
    let (s, by_situation) = app.get("/public/policies?situation=disability", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(by_situation.contains("残疾"));
    // Self-check: 3 people, 600 yuan a month, no house, no car.
    let (s, check) = app
        .get("/public/self-check?size=3&income=600&deposits=0", "")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(check.contains("可能适用的政策"));
    assert!(check.contains("最低生活保障"), "low income suggests 低保");
    // Disaster aid only when a disaster is ticked (issue 11, defect 12).
    assert!(
        !check.contains("受灾群众冬春生活救助"),
        "no disaster ticked"
    );
    let (_, hit) = app
        .get(
            "/public/self-check?size=3&income=600&deposits=0&disaster=1",
            "",
        )
        .await;
    assert!(hit.contains("受灾群众冬春生活救助"), "{hit}");
    // An amount in words is refused, with the field named.
    let (s, words) = app
        .get("/public/self-check?size=3&income=%E4%B8%A4%E5%8D%83", "")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(words.contains("家庭月收入请填写金额"), "{words}");
    let (s, rich) = app
        .get(
            "/public/self-check?size=1&income=20000&deposits=900000&house=1&car=1",
            "",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!rich.contains("<h3>最低生活保障</h3>"));
    let (s, bad) = app.get("/public/self-check?size=abc&income=x", "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("请填写家庭人数"));
    // Nothing from the registry on any public page, and nothing stored.
    let people: Vec<(String, String, Option<String>)> =
        doudi_store::sqlx::query_as("SELECT name, id_number, phone FROM persons")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    for html in [&guide, &by_situation, &check, &rich] {
        for (name, id, phone) in &people {
            assert!(!html.contains(id.as_str()));
            if let Some(p) = phone {
                assert!(!html.contains(p.as_str()));
            }
            if name.chars().count() >= 3 {
                assert!(!html.contains(name.as_str()), "{name}");
            }
        }
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log").await,
        audit_before,
        "the public pages store nothing"
    );
    app.finish().await;
}

on_both_backends!(finder_story, rules_and_standards, public_pages);

/// Every page of policies and monitoring renders for the roles that use it,
/// and refuses the roles that do not.
async fn pages_render(backend: Backend) {
    let app = TestApp::new(backend, 30).await;
    let admin = app.login("admin").await;
    let town = app.login("zhen_jingban").await;
    let village = app.login("cun_xieli").await;
    let liaison = app.login("yibao").await;
    let charity = app.login("cishan").await;
    let rule: i64 = app.scalar("SELECT MIN(id) FROM warning_rules").await;
    for (path, cookie) in [
        ("/policies", &admin),
        ("/policies?situation=disability&q=残疾", &town),
        ("/policies/new", &admin),
        ("/standards", &admin),
        ("/finder", &town),
        ("/simulate", &town),
        ("/leads", &village),
        ("/warnings", &village),
        ("/warnings?status=overdue", &town),
        ("/monitoring", &town),
        ("/feeds", &liaison),
        ("/feeds", &admin),
        ("/warning-rules", &admin),
        ("/warning-rules/new", &admin),
        (&format!("/warning-rules/{rule}") as &str, &admin),
        ("/sweeps", &admin),
        ("/feeds/template/medical.xlsx", &liaison),
        ("/feeds/template/disability.csv", &liaison),
    ] {
        let (s, body) = app.get(path, cookie).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
    }
    for (path, cookie) in [
        ("/finder", &charity),
        ("/feeds", &charity),
        ("/policies/new", &town),
        ("/warning-rules/new", &town),
        ("/simulate", &village),
    ] {
        let (s, _) = app.get(path, cookie).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    // Simulation: raising the 低保 standard to 1,500 yuan lets households in
    // and raises the monthly cost; nothing is written.
    let dibao = policy_id(&app, "dibao").await;
    // One household at 1,200.00 yuan per person: out at 1,000, in at 1,500.
    let hid = app.household_in(&app.region_of("cun_xieli").await).await;
    let size: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons WHERE household_id = $1 AND status = 'alive'",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    shape(&app, hid, 120_000 * size, "", false).await;
    let findings_before = app.scalar("SELECT COUNT(*) FROM findings").await;
    let standards_before = app.scalar("SELECT COUNT(*) FROM standards").await;
    let (s, body, _) = app
        .post(
            "/simulate",
            &town,
            &[
                ("policy", &dibao.to_string()),
                ("key", "dibao_standard"),
                ("value", "1500"),
                ("rule", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("id=\"sim-enter\""), "{body}");
    let enter: i64 = body
        .split("id=\"sim-enter\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let leave: i64 = body
        .split("id=\"sim-leave\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(leave, 0, "a higher standard removes nobody");
    assert!(enter >= 1, "the household at 1,200 yuan per person enters");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM findings").await,
        findings_before
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM standards").await,
        standards_before
    );
    let (s, body, _) = app
        .post(
            "/simulate",
            &town,
            &[
                ("policy", &dibao.to_string()),
                ("key", "dibao_standard"),
                ("value", "abc"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("金额"), "{body}");
    app.finish().await;
}

on_both_backends!(pages_render);

/// Codes shown to people (issue 11, defect 4): the catalogue and the
/// standards speak Chinese; the rule name of a standard is shown only to the
/// administrator who writes rules, and regions appear by name.
async fn catalogue_without_codes(backend: Backend) {
    let app = TestApp::new(backend, 5).await;
    let town = app.login("zhen_jingban").await;
    let (s, page) = app.get("/policies?per_page=100", &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("<td>按月发放现金</td>") || page.contains("<td>一次性"),
        "{page}"
    );
    for code in ["monthly_cash", "one_off", "in_kind", ">service<"] {
        assert!(!page.contains(code), "{code} on /policies");
    }
    let (s, page) = app.get("/standards", &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("低保标准"));
    assert!(!page.contains("std."), "rule names shown to a case worker");
    assert!(!page.contains(">330106<"), "a region shown by its code");
    let admin = app.login("admin").await;
    let (_, page) = app.get("/standards", &admin).await;
    assert!(
        page.contains("std.dibao"),
        "the administrator writing rules sees the name"
    );
    assert!(
        page.contains("<select id=\"region\""),
        "regions are chosen, not typed"
    );
    app.finish().await;
}

on_both_backends!(catalogue_without_codes);

/// District volume (issue 11, defect 9): a run's findings become leads in
/// bulk after a confirmation, each once; warnings filter by street and
/// village (a foreign one refused and audited); the inbox says how many
/// warnings are open; the region list is searched.
async fn lists_at_district_volume(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let town = app.login("zhen_jingban").await;
    let dibao = policy_id(&app, "dibao").await;
    let run_id = start_run(&app, &town, dibao).await;
    wait_for_run(&app, run_id).await;
    let open: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM findings WHERE run_id = $1 AND kind <> 'error' AND lead_id IS NULL",
    )
    .bind(run_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(open > 1, "the run found several households ({open})");
    let (s, page) = app.get(&format!("/finder/{run_id}"), &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("id=\"bulk-leads\""), "{page}");
    let (s, page) = app
        .get(&format!("/finder/{run_id}/leads/confirm?kind="), &town)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("确定吗") && page.contains("逐条生成线索"),
        "{page}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM leads").await,
        0,
        "nothing before confirming"
    );
    let (s, _, loc) = app
        .post(&format!("/finder/{run_id}/leads"), &town, &[("kind", "")])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &town).await;
    assert!(page.contains(&format!("已生成线索 {open} 条")), "{page}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM leads").await, open);
    // Twice: nothing more.
    let (s, _, _) = app
        .post(&format!("/finder/{run_id}/leads"), &town, &[("kind", "")])
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM leads").await, open);
    let village = app.login("cun_xieli").await;
    let (s, _, _) = app
        .post(
            &format!("/finder/{run_id}/leads"),
            &village,
            &[("kind", "")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a village does not run 政策找人");

    // Warnings by street and village.
    let v1 = app.region_of("cun_xieli").await;
    let v2 = app.region_of("cun_xieli2").await;
    let district = app.login("qu_shenpi").await;
    let (s, page) = app.get("/warnings", &district).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("id=\"region\""),
        "a street and village filter: {page}"
    );
    let (s, _) = app.get(&format!("/warnings?region={v1}"), &district).await;
    assert_eq!(s, StatusCode::OK);
    let denied = app.audit_count("denied", "cun_xieli").await;
    let (s, _) = app.get(&format!("/warnings?region={v2}"), &village).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another village's warnings");
    assert_eq!(app.audit_count("denied", "cun_xieli").await, denied + 1);
    let (_, inbox) = app.get("/inbox", &village).await;
    let open_warnings: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM warnings WHERE village_code = $1 AND status = 'open'",
    )
    .bind(v1.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    if open_warnings > 0 {
        assert!(
            inbox.contains(&format!("待核实 {open_warnings} 条")),
            "{inbox}"
        );
    }

    // The region list is searched and paged.
    let admin = app.login("admin").await;
    let name: String = doudi_store::sqlx::query_scalar("SELECT name FROM regions WHERE code = $1")
        .bind(v2.clone())
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (s, page) = app
        .get(&format!("/admin/regions?q={}", support::enc(&name)), &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(&format!("action=\"/admin/regions/{v2}\"")),
        "{page}"
    );
    assert!(
        !page.contains(&format!("action=\"/admin/regions/{v1}\"")),
        "only the match"
    );
    // A run's findings by village.
    let in_v1: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM findings WHERE run_id = $1 AND village_code = $2",
    )
    .bind(run_id)
    .bind(v1.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (s, page) = app
        .get(&format!("/finder/{run_id}?region={v1}"), &town)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&format!("共 {in_v1} 条")), "{page}");
    // Accounts are searched too.
    let (s, page) = app
        .get(&format!("/admin/users?q={}", support::enc("医保")), &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(">yibao<") && !page.contains(">cun_xieli<"),
        "{page}"
    );
    // Leads by street and village; another village's refused.
    let (s, page) = app.get(&format!("/leads?region={v1}"), &village).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let (s, _) = app.get(&format!("/leads?region={v2}"), &village).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, page) = app.get("/leads", &town).await;
    assert!(
        page.contains("id=\"region\""),
        "the town filters its leads by village: {page}"
    );
    app.finish().await;
}

on_both_backends!(lists_at_district_volume);
