//! Issue 10, security items: the CSRF rule, response headers, password strength,
//! login throttling by account and source address, and Chinese refusals.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doudi_web::{AppState, Config};

use super::support::{self, Backend, TestApp};

fn header_of<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn logout(cookie: &str) -> axum::http::request::Builder {
    Request::post("/logout")
        .header(header::COOKIE, cookie)
        .header(header::HOST, "127.0.0.1:18090")
}

/// An unsafe request needs `Sec-Fetch-Site` or an `Origin` naming this site exactly
/// (scheme, host and port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_needs_a_header_and_the_whole_origin() {
    let mut app = TestApp::new(Backend::Sqlite, 10).await;
    let cookie = app.login("zhen_jingban").await;
    let (s, _, body) = app
        .request(logout(&cookie).body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "neither Origin nor Sec-Fetch-Site"
    );
    assert!(String::from_utf8_lossy(&body).contains("跨站请求被拒绝"));
    for origin in [
        "https://127.0.0.1:18090",
        "http://127.0.0.1:18091",
        "http://127.0.0.1",
        "null",
        "http://127.0.0.1:18090.evil.example",
    ] {
        let req = logout(&cookie).header(header::ORIGIN, origin);
        let (s, _, _) = app.request(req.body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "Origin {origin} refused");
    }
    let req = logout(&cookie).header("sec-fetch-site", "same-site");
    let (s, _, _) = app.request(req.body(Body::empty()).unwrap()).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a sibling subdomain is not this site"
    );
    // Still signed in: nothing above logged out.
    let (s, _) = app.get("/households", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    let req = logout(&cookie).header(header::ORIGIN, "http://127.0.0.1:18090");
    let (s, _, _) = app.request(req.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "this very origin accepted");

    // Behind HTTPS the scheme is https.
    app.state = AppState::new(
        app.db.clone(),
        Config {
            secure_cookies: true,
            ..Config::default()
        },
    );
    let cookie = app.login("zhen_jingban").await;
    let req = logout(&cookie).header(header::ORIGIN, "http://127.0.0.1:18090");
    let (s, _, _) = app.request(req.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "http origin on an https site");
    let req = logout(&cookie).header(header::ORIGIN, "https://127.0.0.1:18090");
    let (s, _, _) = app.request(req.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // The API takes bearer tokens and needs neither header.
    let token = app.token_for("zhen_jingban").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/v1/households",
            &token,
            Some(serde_json::json!({})),
        )
        .await;
    assert_ne!(s, StatusCode::FORBIDDEN);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers_and_private_pages_are_not_cached() {
    let app = TestApp::new(Backend::Sqlite, 10).await;
    let cookie = app.login("zhen_jingban").await;
    let id = app.household_in(&app.region_of("zhen_jingban").await).await;
    let token = app.token_for("zhen_jingban").await;
    let private = [
        Request::get(format!("/households/{id}")).header(header::COOKIE, &cookie),
        Request::get("/households").header(header::COOKIE, &cookie),
        Request::get("/api/v1/households").header(header::AUTHORIZATION, format!("Bearer {token}")),
        Request::get("/login"),
    ];
    for req in private {
        let req = req.body(Body::empty()).unwrap();
        let path = req.uri().to_string();
        let (s, h, _) = app.request(req).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&h, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header_of(&h, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header_of(&h, "content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(header_of(&h, "cache-control"), Some("no-store"), "{path}");
    }
    let (_, h, _) = app
        .request(Request::get("/static/app.css").body(Body::empty()).unwrap())
        .await;
    assert_eq!(header_of(&h, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header_of(&h, "cache-control"), Some("max-age=3600"));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_and_common_passwords_are_refused_on_the_password_page() {
    let app = TestApp::new(Backend::Sqlite, 10).await;
    let cookie = app.login("cun_xieli").await;
    for (pw, msg) in [
        ("passw0rd", "密码至少 10 位"),
        ("password2026", "过于常见"),
        ("Qwerty123456", "过于常见"),
        ("abcdefghijk", "字母和数字"),
    ] {
        let (s, html, _) = app
            .post(
                "/account/password",
                &cookie,
                &[("current", support::PASSWORD), ("new", pw), ("repeat", pw)],
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{pw}");
        assert!(html.contains(msg), "{pw}: {msg}");
    }
    let (s, _, _) = app
        .post(
            "/account/password",
            &cookie,
            &[
                ("current", support::PASSWORD),
                ("new", "hz7kq2mw9x"),
                ("repeat", "hz7kq2mw9x"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    app.finish().await;
}
