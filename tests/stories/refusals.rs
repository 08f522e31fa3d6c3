//! Every refusal is audited, once (issue 10, item 6): refusals by role on
//! pages and the API, as well as refusals by jurisdiction.

use axum::http::StatusCode;

use crate::support;
use support::{Backend, TestApp};

async fn denied_total(app: &TestApp, username: &str) -> i64 {
    app.audit_count("denied", username).await
}

async fn refusals_by_role_are_audited(backend: Backend) {
    let app = TestApp::new(backend, 30).await;
    // Pages a role may not use: each refusal leaves exactly one entry.
    let cases = [
        ("cun_xieli", "/admin/users"),
        ("cun_xieli", "/audit"),
        ("cun_xieli", "/feeds"),
        ("cun_xieli", "/sweeps"),
        ("yibao", "/households"),
        ("yibao", "/finder"),
        ("zhen_shenhe", "/imports"),
        ("admin", "/households"),
    ];
    for (user, path) in cases {
        let cookie = app.login(user).await;
        let before = denied_total(&app, user).await;
        let (s, _) = app.get(path, &cookie).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{user} {path}");
        let rows: Vec<(String, String, String)> = doudi_store::sqlx::query_as(
            "SELECT username, action, entity FROM audit_log ORDER BY id DESC LIMIT 3",
        )
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(
            denied_total(&app, user).await,
            before + 1,
            "{user} {path}: audited once; last entries {rows:?}"
        );
    }
    // The same through the API.
    let token = app.token_for("yibao").await;
    let username: String = doudi_store::sqlx::query_scalar(
        "SELECT username FROM users WHERE username LIKE 'api_yibao_%' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let before = denied_total(&app, &username).await;
    let (s, _) = app.api("GET", "/api/v1/warnings", &token, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/finder-runs",
            &token,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(denied_total(&app, &username).await, before + 2);
    app.finish().await;
}

on_both_backends!(refusals_by_role_are_audited);

/// Refusals by jurisdiction that are answered as a field error (422, the form
/// keeps what was typed) are audited like a 403: moving a person into a
/// foreign household, creating a household in a foreign village (page and
/// API). A missing target gets the same answer and no denial.
async fn jurisdiction_field_refusals_are_audited(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let mine = app.region_of("cun_xieli").await;
    let foreign_village = app.region_of("cun_xieli2").await;
    let cookie = app.login("cun_xieli").await;
    let person: i64 = doudi_store::sqlx::query_scalar(
        "SELECT id FROM persons WHERE village_code = $1 AND relation <> 'head' AND status = 'alive' ORDER BY id LIMIT 1",
    )
    .bind(mine.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let foreign_household = app.household_outside(&mine[..9]).await;
    let memberships = app.scalar("SELECT COUNT(*) FROM memberships").await;

    let before = denied_total(&app, "cun_xieli").await;
    let target = foreign_household.to_string();
    let (s, foreign_answer, _) = app
        .post(
            &format!("/persons/{person}/move"),
            &cookie,
            &[
                ("target", &target),
                ("relation", "other"),
                ("reason", "投靠亲属"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(foreign_answer.contains("目标家庭不存在或不在您的管辖范围内"));
    assert!(
        foreign_answer.contains("投靠亲属"),
        "the form keeps the reason"
    );
    assert_eq!(
        denied_total(&app, "cun_xieli").await,
        before + 1,
        "audited once"
    );
    let (s, missing_answer, _) = app
        .post(
            &format!("/persons/{person}/move"),
            &cookie,
            &[
                ("target", "999999999"),
                ("relation", "other"),
                ("reason", "投靠亲属"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing_answer.contains("目标家庭不存在或不在您的管辖范围内"));
    assert_eq!(
        denied_total(&app, "cun_xieli").await,
        before + 1,
        "a missing target is no denial"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM memberships").await,
        memberships,
        "nothing moved"
    );

    // Creating a household in a foreign village: the page …
    let households = app.scalar("SELECT COUNT(*) FROM households").await;
    let (s, html, _) = app
        .post(
            "/households/new",
            &cookie,
            &[
                ("village_code", &foreign_village),
                ("registration_address", "西溪路2号"),
                ("head_name", "越权建档"),
                ("head_id_number", "11010519491231002X"),
                ("head_employment", "unemployed"),
                ("head_schooling", "graduated"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("所选村（社区）不在您的管辖范围内"), "{html}");
    assert_eq!(denied_total(&app, "cun_xieli").await, before + 2);
    // … and the API.
    let token = app.token_for("cun_xieli").await;
    let (s, body) = app
        .api(
            "POST",
            "/api/v1/households",
            &token,
            Some(serde_json::json!({
                "household": {"village_code": foreign_village, "registration_address": "西溪路2号"},
                "members": [{"name": "越权建档", "id_number": "11010519491231002X", "relation": "head",
                             "employment": "unemployed", "schooling": "graduated"}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "village_code", "{body}");
    let api_denied: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'denied' AND username LIKE 'api_cun_xieli_%'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(api_denied, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM households").await,
        households
    );
    app.finish().await;
}
on_both_backends!(jurisdiction_field_refusals_are_audited);
