//! API stories on both databases, one per capability, through `/api/v1`
//! with machine tokens: items (read, act, the same refusals as the page),
//! referrals from a department's system, warnings, assessments and visits,
//! policies and 政策找人, public notices, and the purpose-bound assistance
//! status query.

use crate::support;

use axum::http::StatusCode;
use serde_json::json;
use support::{Backend, TestApp, apply};

async fn denied(app: &TestApp, entity: &str, id: i64) -> i64 {
    doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'denied' AND entity = $1 AND entity_id = $2",
    )
    .bind(entity.to_string())
    .bind(id.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// An application with one 支出型临时救助 item in the first village; its id.
async fn an_item(app: &TestApp) -> (i64, i64) {
    let cookie = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let (s, _, loc) = apply(
        app,
        &cookie,
        hid,
        &[
            ("channel", "window"),
            ("proxy_name", "邻居王某"),
            ("situation", "大病住院，医疗费负担重"),
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
    let id = doudi_store::sqlx::query_scalar("SELECT id FROM case_items WHERE application_id = $1")
        .bind(app_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    (id, hid)
}

async fn items_and_referrals(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let (id, _) = an_item(&app).await;
    let town = app.token_for("zhen_jingban").await;
    let (s, item) = app
        .api("GET", &format!("/api/v1/items/{id}"), &town, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{item}");
    assert_eq!(item["kind"], "临时救助（支出型）");
    assert!(
        item["step"].as_str().is_some_and(|s| !s.is_empty()),
        "a step name for people"
    );
    let version = item["version"].as_i64().unwrap();

    // A stale version is refused with 409 and changes nothing.
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/items/{id}/act"),
            &town,
            Some(json!({"version": (version + 7).to_string(), "action": "complete"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("已被他人办理"));
    // An unknown action is refused by field (422, JSON with the field).
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/items/{id}/act"),
            &town,
            Some(json!({"version": version.to_string(), "action": "fly"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "action");
    let (_, again) = app
        .api("GET", &format!("/api/v1/items/{id}"), &town, None)
        .await;
    assert_eq!(again["version"], version, "a refused step changes nothing");

    // A village assistant of another street: 403, audited.
    let other = app.token_for("cun_xieli2").await;
    let before = denied(&app, "case_item", id).await;
    let (s, _) = app
        .api("GET", &format!("/api/v1/items/{id}"), &other, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(denied(&app, "case_item", id).await, before + 1);

    // A referral to 区医疗保障局, handled by the department's system.
    let cookie = app.login("zhen_jingban").await;
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
    let dept = app.token_for("yibao").await;
    let (s, page) = app
        .api("GET", "/api/v1/referrals?status=sent", &dept, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    let rid = page["items"][0]["id"].as_i64().unwrap();
    assert!(!page["items"][0]["household"].as_str().unwrap().is_empty());
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/referrals/{rid}/act"),
            &dept,
            Some(json!({"op": "reject"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "reason");
    let (s, r) = app
        .api(
            "POST",
            &format!("/api/v1/referrals/{rid}/act"),
            &dept,
            Some(json!({"op": "accept"})),
        )
        .await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    let (s, r) = app
        .api(
            "POST",
            &format!("/api/v1/referrals/{rid}/act"),
            &dept,
            Some(json!({"op": "complete", "outcome": "已按 60% 给予医疗救助", "amount": "24000"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["amount_yuan"], "24,000.00");
    let ledger: i64 =
        doudi_store::sqlx::query_scalar("SELECT amount_fen FROM ledger WHERE referral_id = $1")
            .bind(rid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(ledger, 2_400_000);
    // The sender's side may not accept on the department's behalf.
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/referrals/{rid}/act"),
            &town,
            Some(json!({"op": "accept"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

async fn monitoring_over_the_api(backend: Backend) {
    let app = TestApp::new(backend, 120).await;
    doudi_app::monitoring::sweep(&app.db, "test", doudi_store::today_cn())
        .await
        .unwrap();
    let village = app.token_for("cun_xieli").await;
    let hid = app.household_in(&app.region_of("cun_xieli").await).await;

    // Visits and assessments: refused by field, then recorded.
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/households/{hid}/visits"),
            &village,
            Some(json!({"date": "2026-13-01", "kind": "home"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"date") && fields.contains(&"findings"),
        "{body}"
    );
    let today = doudi_store::today_cn().to_string();
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/households/{hid}/assessments"),
            &village,
            Some(json!({"family_support": "none", "recent_events": "1", "housing_unsafe": "1"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(["red", "yellow", "green"].contains(&body["colour"].as_str().unwrap()));
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/households/{hid}/visits"),
            &village,
            Some(json!({"date": today, "kind": "home", "findings": "家中无人照料，已联系亲属"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let visits: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE household_id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(visits, 1);

    // A household of another street: 403 and audited, nothing written.
    let foreign = app
        .household_outside(&app.region_of("cun_xieli").await)
        .await;
    let before = denied(&app, "household", foreign).await;
    let (s, _) = app
        .api(
            "POST",
            &format!("/api/v1/households/{foreign}/visits"),
            &village,
            Some(json!({"date": today, "kind": "home", "findings": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(denied(&app, "household", foreign).await, before + 1);

    // Warnings: the list is paginated and scoped; closing needs the fields.
    let town = app.token_for("zhen_jingban").await;
    let (s, page) = app
        .api(
            "GET",
            "/api/v1/warnings?status=open&per_page=2",
            &town,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page["items"].as_array().unwrap().len() <= 2);
    let open_total = page["total"].as_i64().unwrap();
    if open_total > 0 {
        let wid = page["items"][0]["id"].as_i64().unwrap();
        let (s, body) = app
            .api(
                "POST",
                &format!("/api/v1/warnings/{wid}/close"),
                &town,
                Some(json!({"method": "visit"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, w) = app
            .api(
                "POST",
                &format!("/api/v1/warnings/{wid}/close"),
                &town,
                Some(json!({"method": "visit", "findings": "入户核实，情况属实", "outcome": "possibly_eligible"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{w}");
        assert_eq!(w["status"], "closed");
        assert!(
            w["lead_id"].as_i64().is_some(),
            "the follow-up lead is made"
        );
        let (_, page) = app
            .api("GET", "/api/v1/warnings?status=open", &town, None)
            .await;
        assert_eq!(page["total"].as_i64().unwrap(), open_total - 1);
    }
    app.finish().await;
}

async fn policies_finder_notices_and_status(backend: Backend) {
    let app = TestApp::new(backend, 80).await;
    let approver = app.token_for("qu_shenpi").await;
    let (s, page) = app
        .api("GET", "/api/v1/policies?per_page=5", &approver, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(page["total"].as_i64().unwrap() >= 40);
    assert!(
        !page["items"][0]["benefit_form"]
            .as_str()
            .unwrap()
            .contains('_'),
        "labels, not codes"
    );
    let (s, list) = app.api("GET", "/api/v1/standards", &approver, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|x| x["value"] == "1,000.00 元"),
        "{list}"
    );

    let (s, run) = app
        .api("POST", "/api/v1/finder-runs", &approver, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    let rid = run["id"].as_i64().unwrap();
    let mut done = json!(null);
    for _ in 0..300 {
        let (_, r) = app
            .api(
                "GET",
                &format!("/api/v1/finder-runs/{rid}"),
                &approver,
                None,
            )
            .await;
        if r["status"] != "running" {
            done = r;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["processed"], done["total"]);
    let (s, f) = app
        .api(
            "GET",
            &format!("/api/v1/finder-runs/{rid}/findings?kind=missed&per_page=3"),
            &approver,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(f["items"].as_array().unwrap().len() <= 3);
    assert_eq!(f["total"], done["missed"]);
    // A village assistant cannot start a run.
    let village = app.token_for("cun_xieli").await;
    let (s, _) = app
        .api("POST", "/api/v1/finder-runs", &village, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Public notices need no token and show no id number or code.
    let (s, notices) = app.api("GET", "/api/v1/notices", "", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(notices.is_array());

    // Assistance status: purpose required; the answer and the purpose are audited.
    let dept = app.token_for("yibao").await;
    let id_number: String = doudi_store::sqlx::query_scalar("SELECT p.id_number FROM persons p JOIN households h ON h.id = p.household_id WHERE h.categories LIKE '%dibao%' ORDER BY p.id LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (s, body) = app
        .api(
            "POST",
            "/api/v1/assistance-status",
            &dept,
            Some(json!({"id_number": id_number, "purpose": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"][0]["field"], "purpose");
    let (s, st) = app
        .api(
            "POST",
            "/api/v1/assistance-status",
            &dept,
            Some(json!({"id_number": id_number, "purpose": "医疗救助一站式结算资格核验"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["registered"], true);
    assert!(
        st["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "低保"),
        "{st}"
    );
    assert!(
        !st.to_string().contains(&id_number),
        "no full ID number in the answer"
    );
    let detail: String = doudi_store::sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE entity = 'assistance_status' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(
        detail.contains("医疗救助一站式结算资格核验") && detail.contains("低保"),
        "{detail}"
    );
    // The same person asked by a village assistant of another street reads as not registered.
    let other = app.token_for("cun_xieli2").await;
    let (s, st) = app
        .api(
            "POST",
            "/api/v1/assistance-status",
            &other,
            Some(json!({"id_number": id_number, "purpose": "核对救助情况"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let covered = doudi_app::Caller::from_user(
        doudi_store::users::by_username(&app.db, "cun_xieli2")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let village_of: String = doudi_store::sqlx::query_scalar("SELECT h.village_code FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_number = $1")
        .bind(id_number.clone())
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(st["registered"], covered.covers(&village_of));
    // One audit entry either way (a foreign person and an unknown number
    // cost the same): a denial with the purpose for the foreign one.
    let entries = |app: &TestApp| {
        let pool = app.db.pool.clone();
        async move {
            doudi_store::sqlx::query_as::<_, (String, String)>(
                "SELECT action, detail FROM audit_log WHERE entity = 'assistance_status' AND username LIKE 'api_cun_xieli2_%' ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let rows = entries(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    if !covered.covers(&village_of) {
        assert_eq!(rows[0].0, "denied");
        assert!(rows[0].1.contains("核对救助情况"), "{rows:?}");
    }
    let unknown = doudi_domain::IdNumber::from_parts(
        "330106",
        chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        995,
    )
    .unwrap();
    let (s, st) = app
        .api(
            "POST",
            "/api/v1/assistance-status",
            &other,
            Some(json!({"id_number": unknown.as_str(), "purpose": "核对救助情况"})),
        )
        .await;
    assert_eq!(
        (s, st["registered"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(
        entries(&app).await.len(),
        2,
        "one entry for the unknown number too"
    );
    // Admins hold no household data: refused.
    let admin = app.token_for("admin").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/assistance-status",
            &admin,
            Some(json!({"id_number": id_number, "purpose": "核对救助情况"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

on_both_backends!(
    items_and_referrals,
    monitoring_over_the_api,
    policies_finder_notices_and_status
);
