//! Case workflow stories on both databases: a 救急难互助社 grant from application to
//! public notice, archive and ledger; refused commands change nothing; public notices
//! expose nothing but what may be posted; the referral life cycle including overdue.

use crate::support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Days, NaiveDate};
use support::{Backend, TestApp, apply};

async fn item_state(app: &TestApp, id: i64) -> (Option<String>, Option<String>, i64) {
    doudi_store::sqlx::query_as("SELECT step, outcome, version FROM case_items WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn act(
    app: &TestApp,
    cookie: &str,
    id: i64,
    action: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    let v = item_state(app, id).await.2.to_string();
    let mut form = vec![("version", v.as_str()), ("action", action)];
    form.extend_from_slice(extra);
    let (s, html, _) = app.post(&format!("/items/{id}/act"), cookie, &form).await;
    (s, html)
}

/// Moves an item's dates `days` into the past, as if that time had gone by.
async fn time_passes(app: &TestApp, id: i64, days: u64) {
    let json: String =
        doudi_store::sqlx::query_scalar("SELECT state_json FROM case_items WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let shift = |x: &mut serde_json::Value| {
        if let Some(s) = x.as_str() {
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                *x = serde_json::Value::String((d - Days::new(days)).to_string());
            }
        }
    };
    for k in [
        "step_started",
        "step_due",
        "notice_start",
        "item_started",
        "item_due",
    ] {
        shift(&mut v[k]);
    }
    for h in v["history"].as_array_mut().unwrap() {
        shift(&mut h["on"]);
    }
    let sd = v["step_due"].as_str().unwrap().to_string();
    doudi_store::sqlx::query("UPDATE case_items SET state_json = $1, step_due = $2 WHERE id = $3")
        .bind(v.to_string())
        .bind(sd)
        .bind(id)
        .execute(app.db.writer())
        .await
        .unwrap();
    let notices: Vec<(i64, String, String)> = doudi_store::sqlx::query_as(
        "SELECT id, start_date, end_date FROM notices WHERE item_id = $1",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    for (nid, s, e) in notices {
        let back = |x: &str| {
            (NaiveDate::parse_from_str(x, "%Y-%m-%d").unwrap() - Days::new(days)).to_string()
        };
        doudi_store::sqlx::query("UPDATE notices SET start_date = $1, end_date = $2 WHERE id = $3")
            .bind(back(&s))
            .bind(back(&e))
            .bind(nid)
            .execute(app.db.writer())
            .await
            .unwrap();
    }
}

async fn mutual_aid_grant(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let cookie = app.login("cun_xieli").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let applicant: i64 = doudi_store::sqlx::query_scalar(
        "SELECT id FROM persons WHERE household_id = $1 AND relation = 'head'",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let applicant = applicant.to_string();

    // Bad input: nothing chosen, wrong attachment type → refused, nothing written.
    let (s, html, _) = apply(
        &app,
        &cookie,
        hid,
        &[
            ("channel", "discovery"),
            ("applicant", &applicant),
            ("situation", "家中失火，房屋受损"),
        ],
        Some(("virus.exe", b"MZ...")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请至少选择一项救助事项") && html.contains("类型不支持"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM applications").await, 0);

    // A page of HTML named like a photo is refused by its content (issue 10,
    // item 11); the form keeps what was typed.
    let (s, html, _) = apply(
        &app,
        &cookie,
        hid,
        &[
            ("channel", "discovery"),
            ("applicant", &applicant),
            ("situation", "家中失火，房屋受损，急需生活用品"),
            ("kind_mutual_aid", "1"),
        ],
        Some((
            "现场照片.png",
            b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
        )),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("不是有效的 PNG 文件"), "{html}");
    assert!(
        html.contains(">家中失火，房屋受损，急需生活用品</textarea>"),
        "situation kept"
    );
    assert!(
        html.contains("name=\"kind_mutual_aid\" value=\"1\" checked"),
        "kind kept"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM applications").await, 0);

    // A real PNG (signature and header chunk of a 1×1 image).
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let (s, _, loc) = apply(
        &app,
        &cookie,
        hid,
        &[
            ("channel", "discovery"),
            ("applicant", &applicant),
            ("situation", "家中失火，房屋受损，急需生活用品"),
            ("kind_mutual_aid", "1"),
        ],
        Some(("现场照片.png", png)),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let app_id: i64 = loc
        .unwrap()
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let id: i64 =
        doudi_store::sqlx::query_scalar("SELECT id FROM case_items WHERE application_id = $1")
            .bind(app_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(app.scalar("SELECT COUNT(*) FROM attachments").await, 1);
    let (s, html) = app.get(&format!("/applications/{app_id}"), &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("救急难互助社") && html.contains("现场照片.png"));
    // The inbox lists it with its 1-working-day deadline.
    let (_, html) = app.get("/inbox", &cookie).await;
    assert!(
        html.contains(&format!("/items/{id}")),
        "item in the village assistant's inbox"
    );

    // Illegal transition and missing signature: refused with a reason, nothing changes.
    let before = item_state(&app, id).await;
    let (s, html) = act(&app, &cookie, id, "approve", &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("不能执行"), "illegal transition explained");
    let (s, html) = act(&app, &cookie, id, "complete", &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("签字"), "signature rule explained");
    assert_eq!(
        item_state(&app, id).await,
        before,
        "refused commands change nothing"
    );
    // Another role in the same town, and an assistant of another village, cannot act.
    let reviewer = app.login("zhen_shenhe").await;
    let (s, html) = act(&app, &reviewer, id, "complete", &[("signatures", "赵审核")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("应由"), "wrong role explained");
    let other = app.login("cun_xieli2").await;
    let (s, _) = act(&app, &other, id, "complete", &[("signatures", "周")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.get(&format!("/items/{id}"), &other).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(item_state(&app, id).await, before);

    // Investigation → payment → notice.
    let (s, _) = act(
        &app,
        &cookie,
        id,
        "complete",
        &[
            ("signatures", "张协理员"),
            ("opinion", "情况属实，建议救助"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = act(
        &app,
        &cookie,
        id,
        "complete",
        &[("amount", "2000"), ("opinion", "已发放现金")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(item_state(&app, id).await.0.as_deref(), Some("notice"));
    let (s, _) = act(&app, &cookie, id, "post", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // The public page (no login) shows the masked name, size, item and amount — and
    // nothing else about the household.
    let (s, html) = app
        .get(&format!("/public/notices?village={village}"), "")
        .await;
    assert_eq!(s, StatusCode::OK);
    let head: (String, String, String) = doudi_store::sqlx::query_as(
        "SELECT head_name, registration_address, COALESCE(phone, '') FROM households WHERE id = $1",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(html.contains(&doudi_domain::mask::mask_name(&head.0)));
    assert!(html.contains("2,000.00"));
    assert!(!html.contains(&head.0), "full name not posted");
    assert!(!html.contains(&head.1), "address not posted");
    let members: Vec<(String, Option<String>)> =
        doudi_store::sqlx::query_as("SELECT id_number, phone FROM persons WHERE household_id = $1")
            .bind(hid)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    for (idn, phone) in members {
        assert!(!html.contains(&idn), "no ID number");
        if let Some(p) = phone {
            assert!(!html.contains(&p), "no phone");
        }
    }
    if !head.2.is_empty() {
        assert!(!html.contains(&head.2));
    }
    // The printable notice: a real PDF with the masked name, nothing more.
    let (nid, token): (i64, String) =
        doudi_store::sqlx::query_as("SELECT id, public_token FROM notices WHERE item_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    // Sequential ids are not an address (issue 10, item 4): only the token is.
    let (s, _) = app
        .get_bytes(&format!("/public/notices/{nid}.pdf"), "")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(token.len() >= 32);
    let (s, pdf) = app
        .get_bytes(&format!("/public/notices/{token}.pdf"), "")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(pdf.starts_with(b"%PDF"));
    // Unique per test run: the SQLite and PostgreSQL variants run concurrently in one
    // process and both number their first notice 1.
    let path = std::env::temp_dir().join(format!(
        "doudi-notice-{nid}-{}-{}.pdf",
        std::process::id(),
        support::rand_suffix()
    ));
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/install-test-deps.sh)");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&doudi_domain::mask::mask_name(&head.0)),
        "masked name in the PDF: {text}"
    );
    assert!(
        !text.contains(&head.0) && !text.contains(&head.1),
        "no full name or address in the PDF"
    );
    let ids: Vec<String> =
        doudi_store::sqlx::query_scalar("SELECT id_number FROM persons WHERE household_id = $1")
            .bind(hid)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert!(
        ids.iter().all(|i| !text.contains(i.as_str())),
        "no ID number in the PDF"
    );
    // Completing before the 7 days are over is refused.
    let (s, html) = act(&app, &cookie, id, "complete", &[]).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &html[..200.min(html.len())]
    );

    // Eight days later the notice has ended by itself and the item moved on.
    time_passes(&app, id, 8).await;
    let (s, _) = app.get("/inbox", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(item_state(&app, id).await.0.as_deref(), Some("archive"));
    let (_, html) = app
        .get(&format!("/public/notices?village={village}"), "")
        .await;
    assert!(
        !html.contains(&doudi_domain::mask::mask_name(&head.0))
            || html.contains("目前没有正在公示"),
        "ended notice no longer posted"
    );
    // Nor printable by its address once its posting period is over.
    let (s, _) = app
        .get_bytes(&format!("/public/notices/{token}.pdf"), "")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an ended notice is not public");
    let (s, _) = act(&app, &cookie, id, "complete", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(item_state(&app, id).await.1.as_deref(), Some("paid"));
    let ledger: i64 =
        doudi_store::sqlx::query_scalar("SELECT amount_fen FROM ledger WHERE item_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(ledger, 200_000, "the grant is in the household's ledger");
    let (s, pdf) = app
        .get_bytes(&format!("/items/{id}/letter.pdf"), &cookie)
        .await;
    assert_eq!(s, StatusCode::OK, "decision letter");
    assert!(pdf.starts_with(b"%PDF"));
    let signed: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM case_steps WHERE item_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(signed >= 5, "every step signed ({signed})");
    // The handling-time report counts it for the town, on the page and in Excel.
    let town = app.login("zhen_jingban").await;
    let (s, html) = app.get("/reports/cases", &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("救急难互助社") && html.contains("合计"));
    assert!(
        html.contains("救急难互助社月度汇总") && html.contains("2,000.00"),
        "monthly summary for the town"
    );
    let (s, bytes) = app.get_bytes("/reports/cases.xlsx", &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(bytes.starts_with(b"PK"), "a real .xlsx");

    // An administrator loads next year's calendar; a broken file changes nothing.
    let admin = app.login("admin").await;
    let upload = |bytes: Vec<u8>| {
        let b = "----calBoundary";
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"2027.json\"\r\n\r\n"
        )
        .into_bytes();
        body.extend(bytes);
        body.extend(format!("\r\n--{b}--\r\n").as_bytes());
        Request::post("/admin/calendar")
            .header(header::COOKIE, &admin)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}"),
            )
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, _, _) = app.request(upload(b"{not json".to_vec())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM calendar_years").await, 0);
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/holidays/2026.json"
    ))
    .unwrap()
    .replace("\"year\": 2026", "\"year\": 2027")
    .replace("2026-", "2027-");
    let (s, _, _) = app.request(upload(json.into_bytes())).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM calendar_years").await, 1);
    let cal = doudi_app::cases::calendar(&app.db).await.unwrap();
    assert!(cal.years().contains(&2027));
    app.finish().await;
}

async fn referral_life_cycle(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let cookie = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let id = support::temp_expense_item(&app, &cookie, hid).await;
    // Without consent: refused.
    let (s, html, _) = app
        .post(
            &format!("/items/{id}/refer"),
            &cookie,
            &[
                ("to_name", "区医疗保障局"),
                ("facts", "住院自付 4 万元，申请医疗救助"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("取得本人"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM referrals").await, 0);
    for _ in 0..2 {
        let (s, _, _) = app
            .post(
                &format!("/items/{id}/refer"),
                &cookie,
                &[
                    ("to_name", "区医疗保障局"),
                    ("facts", "住院自付 4 万元，申请医疗救助"),
                    ("consent_by", "户主本人"),
                    ("consent", "1"),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
    }
    let ids: Vec<i64> = doudi_store::sqlx::query_scalar("SELECT id FROM referrals ORDER BY id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    // The receiver sees both; rejecting needs a reason; accept → complete with an amount.
    let dept = app.login("yibao").await;
    let (_, html) = app.get("/inbox", &dept).await;
    assert!(
        html.contains(&format!("/referrals/{}", ids[0]))
            && html.contains(&format!("/referrals/{}", ids[1]))
    );
    let (s, html, _) = app
        .post(
            &format!("/referrals/{}/act", ids[1]),
            &dept,
            &[("op", "reject"), ("reason", "")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("退回须写明理由"));
    let (s, _, _) = app
        .post(
            &format!("/referrals/{}/act", ids[0]),
            &dept,
            &[("op", "accept")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = app
        .post(
            &format!("/referrals/{}/act", ids[0]),
            &dept,
            &[
                ("op", "complete"),
                ("outcome", "已按 60% 给予医疗救助"),
                ("amount", "24000"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let st: String = doudi_store::sqlx::query_scalar("SELECT status FROM referrals WHERE id = $1")
        .bind(ids[0])
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(st, "completed");
    let ledger: (String, i64) = doudi_store::sqlx::query_as(
        "SELECT department, amount_fen FROM ledger WHERE referral_id = $1",
    )
    .bind(ids[0])
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(ledger, ("区医疗保障局".to_string(), 2_400_000));
    // The sender and the household file see the state.
    let (_, html) = app.get(&format!("/households/{hid}"), &cookie).await;
    assert!(html.contains("区医疗保障局") && html.contains("已办结"));
    // An unanswered referral past its deadline surfaces as overdue for both sides.
    doudi_store::sqlx::query("UPDATE referrals SET due_on = '2020-01-01' WHERE id = $1")
        .bind(ids[1])
        .execute(app.db.writer())
        .await
        .unwrap();
    for c in [&cookie, &dept] {
        let (_, html) = app.get("/inbox", c).await;
        assert!(html.contains("已超期"), "overdue referral visible");
    }
    // Every workflow is readable as data.
    let (s, html) = app.get("/workflows", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("救急难互助社救助") && html.contains("入户调查") && html.contains("个工作日")
    );
    // Another department cannot see it.
    let charity = app.login("cishan").await;
    let (s, _) = app.get(&format!("/referrals/{}", ids[1]), &charity).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

on_both_backends!(mutual_aid_grant, referral_life_cycle);

/// 低保 through every branch that matters: two investigators, the county's check,
/// escalation to the district and back, a notice with an objection, re-investigation and
/// a second notice that ends by itself, extension 30 → 45, refusal with reasons and its
/// letter; and a 急难型 先行救助 whose paperwork is completed late.
async fn dibao_and_emergency(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let town = app.login("zhen_jingban").await;
    let reviewer = app.login("zhen_shenhe").await;
    let district = app.login("qu_shenpi").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let (s, _, loc) = apply(
        &app,
        &town,
        hid,
        &[
            ("channel", "window"),
            ("proxy_name", "户主之子"),
            ("situation", "户主失业，家庭无稳定收入"),
            ("kind_dibao", "1"),
            ("kind_temp_emergency", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let app_id: i64 = loc
        .unwrap()
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let items: Vec<(i64, String)> = doudi_store::sqlx::query_as(
        "SELECT id, kind FROM case_items WHERE application_id = $1 ORDER BY id",
    )
    .bind(app_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let dibao = items.iter().find(|i| i.1 == "dibao").unwrap().0;
    let emergency = items.iter().find(|i| i.1 == "temp_emergency").unwrap().0;
    let ok = |r: (StatusCode, String)| {
        assert_eq!(
            r.0,
            StatusCode::SEE_OTHER,
            "{}",
            &r.1[r.1.find("error-summary").unwrap_or(0)..]
                [..400.min(r.1.len() - r.1.find("error-summary").unwrap_or(0))]
        )
    };

    ok(act(&app, &town, dibao, "complete", &[]).await);
    // Two investigators are required.
    let (s, html) = act(&app, &town, dibao, "complete", &[("signatures", "李经办")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("至少 2 名"));
    ok(act(
        &app,
        &town,
        dibao,
        "complete",
        &[("signatures", "李经办、王调查员")],
    )
    .await);
    ok(act(&app, &town, dibao, "complete", &[]).await);
    assert_eq!(
        item_state(&app, dibao).await.0.as_deref(),
        Some("check_result")
    );
    ok(act(
        &app,
        &district,
        dibao,
        "complete",
        &[("opinion", "核对无异常")],
    )
    .await);
    // Escalation to the district and back.
    let (s, _) = act(&app, &reviewer, dibao, "escalate", &[]).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "escalation needs a reason"
    );
    ok(act(
        &app,
        &reviewer,
        dibao,
        "escalate",
        &[("opinion", "收入情况复杂，提请区级复审")],
    )
    .await);
    assert_eq!(
        item_state(&app, dibao).await.0.as_deref(),
        Some("county_review")
    );
    ok(act(
        &app,
        &district,
        dibao,
        "complete",
        &[("opinion", "复审同意继续办理")],
    )
    .await);
    assert_eq!(
        item_state(&app, dibao).await.0.as_deref(),
        Some("town_review")
    );
    ok(act(
        &app,
        &reviewer,
        dibao,
        "complete",
        &[("opinion", "初审同意")],
    )
    .await);
    ok(act(&app, &town, dibao, "post", &[]).await);
    // An objection holds the notice and leads to re-investigation.
    ok(act(
        &app,
        &town,
        dibao,
        "object",
        &[("opinion", "邻居反映家中有营运车辆")],
    )
    .await);
    let held: String = doudi_store::sqlx::query_scalar(
        "SELECT status FROM notices WHERE item_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(dibao)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(held, "held");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM objections").await, 1);
    ok(act(
        &app,
        &town,
        dibao,
        "re_investigate",
        &[("opinion", "重新入户核实车辆情况")],
    )
    .await);
    ok(act(
        &app,
        &town,
        dibao,
        "complete",
        &[
            ("signatures", "李经办、王调查员"),
            ("opinion", "车辆已于去年转让"),
        ],
    )
    .await);
    assert_eq!(item_state(&app, dibao).await.0.as_deref(), Some("notice"));
    ok(act(&app, &town, dibao, "post", &[]).await);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM notices").await,
        2,
        "posted again"
    );
    // Eight days later the second notice has ended by itself.
    time_passes(&app, dibao, 8).await;
    app.get("/inbox", &town).await;
    assert_eq!(
        item_state(&app, dibao).await.0.as_deref(),
        Some("county_decision")
    );
    // The county decision shows the amount the formula gives with today's
    // standard, prefilled and parseable as the approver would submit it.
    let (_, page) = app.get(&format!("/items/{dibao}"), &district).await;
    assert!(
        page.contains("id=\"amount-suggestion\""),
        "formula amount offered"
    );
    let prefilled = page
        .split("id=\"amount-input\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .expect("amount prefilled");
    assert!(
        doudi_domain::Money::parse_yuan(prefilled).is_ok(),
        "{prefilled}"
    );
    // Extension 30 → 45 working days needs a reason; then refusal with reasons.
    let due_before: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT item_due FROM case_items WHERE id = $1")
            .bind(dibao)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    ok(act(
        &app,
        &district,
        dibao,
        "extend",
        &[("opinion", "存在异议，延长办理期限")],
    )
    .await);
    let due_after: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT item_due FROM case_items WHERE id = $1")
            .bind(dibao)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        due_after > due_before,
        "limit extended: {due_before:?} -> {due_after:?}"
    );
    let (s, _) = act(&app, &district, dibao, "refuse", &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "refusal needs reasons");
    ok(act(
        &app,
        &district,
        dibao,
        "refuse",
        &[("opinion", "家庭人均收入高于当地低保标准")],
    )
    .await);
    assert_eq!(
        item_state(&app, dibao).await.0.as_deref(),
        Some("refusal_notice")
    );
    ok(act(
        &app,
        &town,
        dibao,
        "complete",
        &[("opinion", "已书面告知不予批准理由")],
    )
    .await);
    assert_eq!(item_state(&app, dibao).await.1.as_deref(), Some("refused"));
    let (s, pdf) = app
        .get_bytes(&format!("/items/{dibao}/letter.pdf"), &town)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(pdf.starts_with(b"%PDF"), "refusal letter");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM ledger").await,
        0,
        "a refusal puts nothing in the ledger"
    );

    // 急难型: pay first, complete the paperwork later; flagged until then.
    ok(act(&app, &town, emergency, "complete", &[]).await);
    ok(act(
        &app,
        &town,
        emergency,
        "complete",
        &[("amount", "3000"), ("opinion", "先行发放")],
    )
    .await);
    let flags: String =
        doudi_store::sqlx::query_scalar("SELECT flags FROM case_items WHERE id = $1")
            .bind(emergency)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        flags.contains("pending_supplement"),
        "flagged until the paperwork is done: {flags}"
    );
    time_passes(&app, emergency, 20).await;
    let (_, html) = app.get("/inbox", &town).await;
    assert!(
        html.contains("先行救助·待补充材料") && html.contains("已超期"),
        "late paperwork is visible"
    );
    ok(act(
        &app,
        &town,
        emergency,
        "complete",
        &[
            ("signatures", "李经办、王调查员"),
            ("opinion", "补充调查、公示完毕"),
        ],
    )
    .await);
    let (st, flags): (Option<String>, String) =
        doudi_store::sqlx::query_as("SELECT outcome, flags FROM case_items WHERE id = $1")
            .bind(emergency)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(st.as_deref(), Some("paid"));
    assert!(!flags.contains("pending_supplement"));
    let amount: i64 =
        doudi_store::sqlx::query_scalar("SELECT amount_fen FROM ledger WHERE item_id = $1")
            .bind(emergency)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(amount, 300_000);
    app.finish().await;
}

on_both_backends!(dibao_and_emergency);

/// 特困 with the district's spot check and approval (ledger from next month), and two
/// 支出型 items: one within the town's approval limit (town reviewer decides) and one
/// above it (routed to the district; the town reviewer is refused).
async fn tekun_and_expense(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let town = app.login("zhen_jingban").await;
    let reviewer = app.login("zhen_shenhe").await;
    let district = app.login("qu_shenpi").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let (s, _, loc) = apply(
        &app,
        &town,
        hid,
        &[
            ("channel", "window"),
            ("proxy_name", "村协理员"),
            ("situation", "独居老人，无劳动能力"),
            ("kind_tekun", "1"),
            ("kind_temp_expense", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let app_id: i64 = loc
        .unwrap()
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    let items: Vec<(i64, String)> = doudi_store::sqlx::query_as(
        "SELECT id, kind FROM case_items WHERE application_id = $1 ORDER BY id",
    )
    .bind(app_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let tekun = items.iter().find(|i| i.1 == "tekun").unwrap().0;
    let expense = items.iter().find(|i| i.1 == "temp_expense").unwrap().0;
    let ok = |r: (StatusCode, String)| {
        assert_eq!(
            r.0,
            StatusCode::SEE_OTHER,
            "{}",
            &r.1[r.1.find("error-summary").unwrap_or(0)..]
                [..400.min(r.1.len() - r.1.find("error-summary").unwrap_or(0))]
        )
    };

    ok(act(&app, &town, tekun, "complete", &[]).await);
    ok(act(
        &app,
        &town,
        tekun,
        "complete",
        &[("signatures", "李经办、王调查员")],
    )
    .await);
    ok(act(
        &app,
        &reviewer,
        tekun,
        "complete",
        &[("opinion", "符合特困条件")],
    )
    .await);
    ok(act(&app, &town, tekun, "post", &[]).await);
    time_passes(&app, tekun, 8).await;
    app.get("/inbox", &town).await;
    assert_eq!(
        item_state(&app, tekun).await.0.as_deref(),
        Some("county_decision")
    );
    ok(act(
        &app,
        &district,
        tekun,
        "spot_check",
        &[("opinion", "抽查入户，情况属实")],
    )
    .await);
    let flags: String =
        doudi_store::sqlx::query_scalar("SELECT flags FROM case_items WHERE id = $1")
            .bind(tekun)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        flags.contains("spot_check"),
        "the 30% spot check is recorded"
    );
    ok(act(
        &app,
        &district,
        tekun,
        "approve",
        &[("amount", "1300"), ("opinion", "批准分散供养")],
    )
    .await);
    assert_eq!(item_state(&app, tekun).await.1.as_deref(), Some("approved"));
    let (start, decided): (String, String) = doudi_store::sqlx::query_as(
        "SELECT period_start, decided_on FROM ledger WHERE item_id = $1",
    )
    .bind(tekun)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(
        start > decided && start.ends_with("-01"),
        "paid from the month after approval: {start} after {decided}"
    );
    // The decision registers the category (issue 11, defect 6), audited.
    let held: (String, Option<String>) = doudi_store::sqlx::query_as(
        "SELECT start_date, end_date FROM household_categories WHERE household_id = $1 AND category = 'tekun'",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(held, (decided.clone(), None));
    let (_, file) = app.get(&format!("/households/{hid}"), &town).await;
    assert!(file.contains("经审批登记，随审批决定终止"), "{file}");

    // 支出型 above the town's limit (3,000 yuan in the demo standards): the district decides.
    ok(act(&app, &town, expense, "complete", &[]).await);
    ok(act(
        &app,
        &town,
        expense,
        "complete",
        &[("signatures", "李经办、王调查员")],
    )
    .await);
    ok(act(
        &app,
        &reviewer,
        expense,
        "complete",
        &[("amount", "8000"), ("opinion", "建议救助 8000 元")],
    )
    .await);
    let role: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT step_role FROM case_items WHERE id = $1")
            .bind(expense)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        role.as_deref(),
        Some("district_approver"),
        "above the town limit the district decides"
    );
    // The flow table agrees with the header (issue 11, defect 9).
    let (_, page) = app.get(&format!("/items/{expense}"), &district).await;
    let current = page
        .split("<tr")
        .find(|r| r.contains("◀ 当前"))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(current.contains("区民政审批（按金额确定）"), "{current}");
    assert!(page.contains("（区民政审批办理）"), "header: {page}");
    let (s, _) = act(&app, &reviewer, expense, "approve", &[]).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the town reviewer cannot approve above its limit"
    );
    ok(act(&app, &district, expense, "approve", &[("opinion", "同意")]).await);
    ok(act(&app, &town, expense, "post", &[]).await);
    time_passes(&app, expense, 8).await;
    app.get("/inbox", &town).await;
    assert_eq!(item_state(&app, expense).await.1.as_deref(), Some("paid"));
    let amount: i64 =
        doudi_store::sqlx::query_scalar("SELECT amount_fen FROM ledger WHERE item_id = $1")
            .bind(expense)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(amount, 800_000);
    app.finish().await;
}

on_both_backends!(tekun_and_expense);

/// Opening an application through the API runs the same use case as the
/// intake page: the same refusals by field, nothing written when refused,
/// a foreign household refused and audited.
async fn intake_through_the_api(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let village = app.region_of("cun_xieli").await;
    let token = app.token_for("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let other = app.household_outside(&village[..9]).await;
    let stranger: i64 =
        doudi_store::sqlx::query_scalar("SELECT id FROM persons WHERE household_id = $1 LIMIT 1")
            .bind(other)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let path = format!("/api/v1/households/{hid}/applications");

    let (s, body) = app
        .api(
            "POST",
            &path,
            &token,
            Some(serde_json::json!({
                "channel": "window", "applicant_person_id": stranger,
                "situation": "短", "kinds": ["no_such_item"]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["applicant", "situation", "kinds"] {
        assert!(fields.contains(&f), "{f} refused: {body}");
    }
    assert!(
        body.to_string().contains("申请人须为本户在世成员"),
        "{body}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM applications").await, 0);

    let (s, body) = app
        .api(
            "POST",
            &path,
            &token,
            Some(serde_json::json!({
                "channel": "window", "proxy_name": "王五",
                "situation": "户主住院，家中无收入", "kinds": ["mutual_aid", "temp_emergency"]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let id = body["application_id"].as_i64().unwrap();
    let items: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM case_items WHERE application_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(items, 2, "one item per kind, each with its workflow");
    let (s, body) = app
        .api("GET", &format!("/api/v1/applications/{id}"), &token, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["channel"], "窗口申请");

    let denied = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'denied'")
        .await;
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/households/{other}/applications"),
            &token,
            Some(serde_json::json!({
                "channel": "window", "proxy_name": "王五",
                "situation": "户主住院，家中无收入", "kinds": ["mutual_aid"]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'denied'")
            .await,
        denied + 1
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM applications").await, 1);
    app.finish().await;
}
on_both_backends!(intake_through_the_api);

/// The calendar without JSON (issue 11, defect 10): next year's holidays
/// typed in a form, checked (a refused form keeps what was typed and stores
/// nothing), and from November on the page says next year is not loaded.
async fn calendar_by_form(backend: Backend) {
    use chrono::Datelike;
    let app = TestApp::new(backend, 5).await;
    let admin = app.login("admin").await;
    let today = doudi_store::today_cn();
    let next = today.year() + 1;
    let (s, page) = app.get("/admin/calendar", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let loaded = doudi_domain::calendar::WorkCalendar::builtin()
        .years()
        .contains(&next);
    assert_eq!(
        page.contains(&format!("{next} 年节假日安排尚未载入")),
        today.month() >= 11 && !loaded,
        "{page}"
    );
    let year = next.to_string();
    let off = format!("{next}-01-01 元旦\n{next}-13-02 春节");
    let (s, html, _) = app
        .post(
            "/admin/calendar/form",
            &admin,
            &[
                ("year", year.as_str()),
                ("off_days", off.as_str()),
                ("work_days", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("第 2 行") && html.contains("不是日期"),
        "{html}"
    );
    assert!(
        html.contains(&format!("{next}-01-01 元旦")),
        "typed text kept: {html}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM calendar_years").await, 0);
    let off = format!("{next}-01-01 元旦\n{next}-10-01 至 {next}-10-07 国庆节");
    let (s, _, loc) = app
        .post(
            "/admin/calendar/form",
            &admin,
            &[
                ("year", year.as_str()),
                ("off_days", off.as_str()),
                ("work_days", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &admin).await;
    assert!(page.contains("节假日安排已载入"), "{page}");
    assert!(!page.contains("尚未载入</h2>"), "{page}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM calendar_years").await, 1);
    assert!(app.audit_count("admin", "admin").await >= 1);
    app.finish().await;
}

on_both_backends!(calendar_by_form);

/// 一事一议 on an item (issue 11, defects 7 and 12): a refused record keeps
/// what was typed; a recorded one says so and reads field by field; the
/// login page links the public pages.
async fn conference_record(backend: Backend) {
    let app = TestApp::new(backend, 20).await;
    let cookie = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let id = support::temp_expense_item(&app, &cookie, hid).await;
    let form = |attendees: &'static str| {
        vec![
            ("attendees", attendees),
            ("facts", "住院自付 6 万元，超出常规救助"),
            ("decision", "给予临时救助并转介慈善"),
            ("reasons", "因病支出巨大，基本生活困难"),
        ]
    };
    let (s, html, _) = app
        .post(
            &format!("/items/{id}/conference"),
            &cookie,
            &form("李经办、王主任"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("至少 3 名"), "{html}");
    assert!(html.contains("value=\"李经办、王主任\""), "{html}");
    assert!(html.contains("给予临时救助并转介慈善</textarea>"), "{html}");
    let (s, _, loc) = app
        .post(
            &format!("/items/{id}/conference"),
            &cookie,
            &form("李经办、王主任、赵书记"),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &cookie).await;
    assert!(page.contains("一事一议结果已记录"), "{page}");
    assert!(
        page.contains("案情：住院自付 6 万元，超出常规救助\n决定：给予临时救助并转介慈善\n理由："),
        "{page}"
    );
    // The district approver, on the town's step, is offered only what it
    // may take there (defect 12).
    let district = app.login("qu_shenpi").await;
    let (_, page) = app.get(&format!("/items/{id}"), &district).await;
    let select = page
        .split("id=\"action-select\"")
        .nth(1)
        .unwrap_or("")
        .split("</select>")
        .next()
        .unwrap_or("");
    assert!(select.contains("value=\"withdraw\""), "{select}");
    assert!(!select.contains("value=\"complete\""), "{select}");
    let (_, page) = app.get(&format!("/items/{id}"), &cookie).await;
    assert!(
        page.contains("<option value=\"complete\""),
        "the town's own step: {page}"
    );
    let (_, login) = app.get("/login", "").await;
    assert!(
        login.contains("href=\"/public/policies\"") && login.contains("href=\"/public/notices\"")
    );
    // A notice says whom to call with an objection: the town's office
    // phone (never a member of staff's own), and the district bureau's.
    let office = format!("0571-87{}100", &village[6..9]);
    let worker_phone: String =
        doudi_store::sqlx::query_scalar("SELECT phone FROM users WHERE username = 'zhen_jingban'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let contact = doudi_app::cases::notice_objection_contact(&app.db, &village)
        .await
        .unwrap();
    assert!(
        contact.contains(&format!("（电话：{office}）"))
            && !contact.contains(&worker_phone)
            && contact.contains("区民政局反映（电话：0571-"),
        "{contact}"
    );
    app.finish().await;
}

on_both_backends!(conference_record);

/// The demo district a year on (issue 11): applications in every state —
/// decided, refused, still open and overdue — with notices, referrals
/// answered and not, ledger lines, warnings verified with each outcome and
/// 政策找人 leads, all made through the use cases.
async fn demo_district_has_a_year_of_history(backend: Backend) {
    let app = TestApp::new(backend, 400).await;
    let today = doudi_store::today_cn();
    doudi::setup::demo_feeds(&app.db, 1, today).await.unwrap();
    doudi_app::monitoring::sweep(&app.db, "demo", today)
        .await
        .unwrap();
    let h = doudi_app::demo_history::demo_history(&app.db, 1, today)
        .await
        .unwrap();
    assert!(h.applications >= 20, "{h:?}");
    assert!(h.decided > 0 && h.open > 0, "{h:?}");
    let outcomes: Vec<String> = doudi_store::sqlx::query_scalar(
        "SELECT DISTINCT outcome FROM case_items WHERE outcome IS NOT NULL ORDER BY outcome",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(outcomes.contains(&"refused".to_string()), "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| o == "approved" || o == "paid"),
        "{outcomes:?}"
    );
    assert!(app.scalar("SELECT COUNT(*) FROM ledger").await > 0);
    assert!(
        app.scalar("SELECT COUNT(*) FROM notices WHERE status = 'ended'")
            .await
            > 0
    );
    assert!(
        app.scalar("SELECT COUNT(*) FROM case_steps WHERE action = 'object'")
            .await
            > 0,
        "a notice drew an objection"
    );
    let earliest: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT MIN(acted_on) FROM case_steps")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        earliest.unwrap() < (today - Days::new(90)).to_string(),
        "steps spread over the year"
    );
    let outcomes: i64 = app
        .scalar("SELECT COUNT(DISTINCT outcome) FROM warnings WHERE status = 'closed'")
        .await;
    assert!(h.warnings_closed > 0, "{h:?}");
    assert_eq!(
        outcomes,
        h.warnings_closed.min(4) as i64,
        "warnings closed with each of the four outcomes in turn"
    );
    assert!(h.leads > 0 || app.scalar("SELECT COUNT(*) FROM leads").await > 0);
    // Cases escalated to the district and resumed after its review.
    assert!(
        app.scalar("SELECT COUNT(*) FROM case_steps WHERE action = 'escalate'")
            .await
            > 0,
        "a case was escalated"
    );
    assert!(
        app.scalar(
            "SELECT COUNT(*) FROM case_steps WHERE step = 'county_review' AND action = 'complete'"
        )
        .await
            > 0,
        "the district reviewed an escalated case and sent it back"
    );
    // A 先行救助 whose paperwork was completed after its deadline.
    let states: Vec<String> = doudi_store::sqlx::query_scalar(
        "SELECT state_json FROM case_items WHERE kind = 'temp_emergency'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let late_supplement = states.iter().any(|j| {
        let s: doudi_domain::workflow::ItemState = serde_json::from_str(j).unwrap();
        s.history.iter().any(|t| t.from == "supplement" && t.late)
    });
    assert!(
        late_supplement,
        "a 先行救助 was completed late: {states:#?}"
    );
    app.finish().await;
}

on_both_backends!(demo_district_has_a_year_of_history);

/// The inbox's case lists (my steps, overdue items) narrow to a street or a
/// village; a village is refused another village's list, audited.
async fn case_lists_filter_by_street_and_village(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let v1 = app.region_of("cun_xieli").await;
    // Another village of the same town, with households.
    let v2: String = doudi_store::sqlx::query_scalar(
        "SELECT village_code FROM households WHERE town_code = $1 AND village_code <> $2 AND status = 'active' AND size >= 2 ORDER BY id LIMIT 1",
    )
    .bind(v1[..9].to_string())
    .bind(v1.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let town = app.login("zhen_jingban").await;
    let in_v1 = support::temp_expense_item(&app, &town, app.household_in(&v1).await).await;
    let in_v2 = support::temp_expense_item(&app, &town, app.household_in(&v2).await).await;
    let link = |id: i64| format!("href=\"/items/{id}\"");

    let (s, page) = app.get("/inbox", &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("id=\"inbox-filter\""), "{page}");
    assert!(page.contains(&link(in_v1)) && page.contains(&link(in_v2)));
    let (s, page) = app.get(&format!("/inbox?region={v1}"), &town).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&link(in_v1)), "{page}");
    assert!(!page.contains(&link(in_v2)), "only the chosen village");

    // Both overdue: the district's overdue list narrows the same way.
    doudi_store::sqlx::query("UPDATE case_items SET step_due = '2020-01-06'")
        .execute(app.db.writer())
        .await
        .unwrap();
    let district = app.login("qu_shenpi").await;
    let (_, page) = app.get("/inbox", &district).await;
    assert!(page.contains(&link(in_v1)) && page.contains(&link(in_v2)));
    let (s, page) = app.get(&format!("/inbox?region={v2}"), &district).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&link(in_v2)), "{page}");
    assert!(!page.contains(&link(in_v1)));

    let village = app.login("cun_xieli").await;
    let (_, page) = app.get("/inbox", &village).await;
    assert!(
        !page.contains("id=\"inbox-filter\""),
        "a village has nothing to narrow"
    );
    let denied = app.audit_count("denied", "cun_xieli").await;
    let (s, _) = app.get(&format!("/inbox?region={v2}"), &village).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("denied", "cun_xieli").await, denied + 1);
    app.finish().await;
}

on_both_backends!(case_lists_filter_by_street_and_village);
