//! Every refusal is audited, once (issue 10, item 6): refusals by role on
//! pages and the API, as well as refusals by jurisdiction.

use axum::http::StatusCode;

use crate::support;
use support::{Backend, TestApp};

async fn denied_total(app: &TestApp, username: &str) -> i64 {
    doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'denied' AND username = $1",
    )
    .bind(username.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
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
