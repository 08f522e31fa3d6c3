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

fn login_from(addr: &str, username: &str, password: &str) -> Request<Body> {
    let mut req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(format!(
            "username={username}&password={}&next=/households",
            support::enc(password)
        )))
        .unwrap();
    let peer: std::net::SocketAddr = addr.parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    req
}

/// Twenty concurrent wrong passwords on the administrator from one address: exactly the
/// configured five are evaluated, the rest are told when to retry; that address waits,
/// even with the right password, while the owner signs in from another address and is
/// told of the failures; everything is in the audit log. `X-Forwarded-For` is ignored
/// unless the server is configured to be behind a proxy.
async fn login_throttle_is_per_source_and_exact(backend: Backend) {
    use tower::ServiceExt;
    let mut app = TestApp::new(backend, 10).await;
    let limit = doudi_app::accounts::THROTTLE.per_account_and_source;
    let attacker = "203.0.113.9:40000";
    let mut burst = Vec::new();
    for _ in 0..20 {
        let state = app.state.clone();
        burst.push(tokio::spawn(async move {
            doudi_web::router(state)
                .oneshot(login_from(attacker, "admin", "wrong-pass-123"))
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for b in burst {
        statuses.push(b.await.unwrap());
    }
    let evaluated = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        evaluated as i64, limit,
        "exactly {limit} evaluated: {statuses:?}"
    );
    assert_eq!(throttled as i64, 20 - limit);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM login_attempts WHERE username = 'admin' AND success = 0")
            .await,
        limit
    );

    // The attacker's address waits, even with the right password, and is told until when.
    let (s, h, body) = app
        .request(login_from(attacker, "admin", support::PASSWORD))
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains("登录失败次数过多") && html.contains("后再试"),
        "{html}"
    );
    assert!(header_of(&h, "retry-after").is_some());

    // The owner, from the office, gets in and is told.
    let (s, h, body) = app
        .request(login_from("198.51.100.7:50000", "admin", support::PASSWORD))
        .await;
    assert_eq!(s, StatusCode::OK, "the notice page");
    assert!(header_of(&h, "set-cookie").is_some_and(|c| c.starts_with("doudi_session=")));
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains(&format!("最近有 {limit} 次来自其他地址的失败登录")),
        "{html}"
    );
    assert!(html.contains("href=\"/households\""));
    // Told once: the next sign-in goes straight on.
    let (s, _, _) = app
        .request(login_from("198.51.100.7:50001", "admin", support::PASSWORD))
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let failed = app
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed' AND username = 'admin'",
        )
        .await;
    assert_eq!(failed, limit);
    let refused = app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login_throttled' AND username = 'admin'").await;
    assert_eq!(refused, 20 - limit + 1);

    // Not behind a proxy: a forged X-Forwarded-For does not give new chances.
    let mut fresh = 0;
    for i in 0..(limit + 1) {
        let mut req = login_from("203.0.113.10:1", "zhen_jingban", "wrong-pass-123");
        req.headers_mut()
            .insert("x-forwarded-for", format!("10.0.0.{i}").parse().unwrap());
        let (s, _, _) = app.request(req).await;
        if s == StatusCode::UNAUTHORIZED {
            fresh += 1;
        }
    }
    assert_eq!(fresh, limit);
    // Behind a proxy: the last entry (added by the proxy) is the address.
    app.state = AppState::new(
        app.db.clone(),
        Config {
            behind_proxy: true,
            ..Config::default()
        },
    );
    let mut req = login_from("127.0.0.1:1", "zhen_jingban", support::PASSWORD);
    req.headers_mut().insert(
        "x-forwarded-for",
        "203.0.113.10, 192.0.2.44".parse().unwrap(),
    );
    let (s, _, _) = app.request(req).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "another address: signs in (with the notice)"
    );
    let mut req = login_from("127.0.0.1:1", "zhen_jingban", support::PASSWORD);
    req.headers_mut().insert(
        "x-forwarded-for",
        "192.0.2.44, 203.0.113.10".parse().unwrap(),
    );
    let (s, _, _) = app.request(req).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "the proxy saw 203.0.113.10"
    );
    app.finish().await;
}

on_both_backends!(login_throttle_is_per_source_and_exact);

fn assert_chinese(body: &[u8], what: &str) -> String {
    let text = String::from_utf8_lossy(body).to_string();
    for english in [
        "Invalid URL",
        "Cannot parse",
        "Failed to",
        "Invalid `boundary`",
        "Error parsing",
        "Expected request",
        "length limit",
    ] {
        assert!(!text.contains(english), "{what}: English left in {text}");
    }
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{what}: no Chinese in {text:?}"
    );
    text
}

/// axum's own refusals (path, query, form, JSON, multipart, body limit, no route, wrong
/// method) reach people as a Chinese page and API clients as Chinese JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_in_chinese_and_say_what_to_do() {
    let mut app = TestApp::new(Backend::Sqlite, 10).await;
    let cookie = app.login("admin").await;
    let token = app.token_for("admin").await;

    let page = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap()
    };
    for (path, status, says) in [
        ("/households/abc", StatusCode::BAD_REQUEST, "网址中的编号"),
        (
            "/audit?before=abc",
            StatusCode::BAD_REQUEST,
            "查询参数有误：字段 before 应为数字",
        ),
        ("/no-such-page", StatusCode::NOT_FOUND, "页面或记录不存在"),
    ] {
        let (s, h, body) = app.request(page(path)).await;
        assert_eq!(s, status, "{path}");
        assert!(
            header_of(&h, "content-type")
                .unwrap()
                .starts_with("text/html")
        );
        let text = assert_chinese(&body, path);
        assert!(text.contains(says), "{path}: {text}");
    }
    let req = Request::delete("/households")
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = app.request(req).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_chinese(&body, "DELETE /households");

    // A form field of the wrong type.
    let (s, html, _) = app
        .post("/warning-rules/new", &cookie, &[("version", "abc")])
        .await;
    assert!(s.is_client_error(), "{s}");
    let html = assert_chinese(html.as_bytes(), "form");
    assert!(
        html.contains("提交的表单内容有误") || html.contains("请"),
        "{html}"
    );

    // The API: JSON with the Chinese message.
    let api = |method: &str, path: &str, ct: Option<&str>, body: &'static str| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = ct {
            r = r.header(header::CONTENT_TYPE, ct);
        }
        r.body(Body::from(body)).unwrap()
    };
    for (req, status, says) in [
        (
            api("GET", "/api/v1/households/abc", None, ""),
            StatusCode::BAD_REQUEST,
            "网址中的编号",
        ),
        (
            api("GET", "/api/v1/households?per_page=x", None, ""),
            StatusCode::BAD_REQUEST,
            "字段 per_page 应为数字",
        ),
        (
            api("POST", "/api/v1/households", Some("application/json"), "{"),
            StatusCode::BAD_REQUEST,
            "不是有效的 JSON",
        ),
        (
            api("POST", "/api/v1/households", Some("application/json"), "{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "缺少必填项 household",
        ),
        (
            api("POST", "/api/v1/households", None, "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: application/json",
        ),
    ] {
        let path = req.uri().to_string();
        let (s, h, body) = app.request(req).await;
        assert_eq!(s, status, "{path}");
        assert!(
            header_of(&h, "content-type")
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let error = json["error"].as_str().unwrap();
        assert_chinese(error.as_bytes(), &path);
        assert!(error.contains(says), "{path}: {error}");
        assert!(json["fields"].is_array(), "{path}");
    }

    // Uploads: no boundary, a truncated body, and one over the size limit.
    let village = app.login("cun_xieli").await;
    let upload = |ct: &str, body: Vec<u8>, length: bool| {
        let mut r = Request::post("/imports")
            .header(header::COOKIE, &village)
            .header(header::CONTENT_TYPE, ct)
            .header("sec-fetch-site", "same-origin");
        if length {
            r = r.header(header::CONTENT_LENGTH, body.len());
        }
        r.body(Body::from(body)).unwrap()
    };
    let (s, _, body) = app
        .request(upload("multipart/form-data", b"x".to_vec(), false))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(assert_chinese(&body, "no boundary").contains("重新选择文件上传"));
    let (s, _, body) = app
        .request(upload(
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nabc".to_vec(),
            false,
        ))
        .await;
    assert!(s.is_client_error(), "{s}");
    let text = assert_chinese(&body, "truncated");
    assert!(text.contains("上传") || text.contains("文件"), "{text}");
    app.state = AppState::new(
        app.db.clone(),
        Config {
            max_upload_bytes: 1024 * 1024,
            ..Config::default()
        },
    );
    let (ct, big) = support::multipart(
        &[("mode", "insert")],
        Some(("big.csv", &vec![b'a'; 2 * 1024 * 1024])),
    );
    let (s, _, body) = app.request(upload(&ct, big.clone(), true)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(assert_chinese(&body, "too large").contains("超过大小上限（1 MB）"));
    let (s, _, body) = app.request(upload(&ct, big, false)).await;
    assert!(s.is_client_error(), "{s}");
    let text = assert_chinese(&body, "too large, no length");
    assert!(text.contains("超过大小上限"), "{text}");
    app.finish().await;
}

/// An office behind one address signing in together is not slowed down: the
/// source's limit counts failures only. Password spraying from one address
/// (wrong passwords on many accounts) is still stopped after the limit.
async fn an_office_signs_in_together(backend: Backend) {
    use tower::ServiceExt;
    let app = TestApp::new(backend, 10).await;
    let per_source = doudi_app::accounts::THROTTLE.per_source;
    let village = app.region_of("cun_xieli").await;
    let staff = per_source as usize + 10;
    for i in 0..staff {
        doudi_app::demo::create_user(
            &app.db,
            &doudi_app::demo::DemoAccount {
                username: format!("office{i}"),
                role: doudi_domain::access::Role::VillageAssistant,
                region_code: village.clone(),
                region_name: "测试社区".into(),
                display_name: format!("协理员{i}"),
                department: None,
            },
            support::PASSWORD,
        )
        .await
        .unwrap();
    }
    let office = "198.51.100.20:40000";
    let mut burst = Vec::new();
    for i in 0..staff {
        let state = app.state.clone();
        burst.push(tokio::spawn(async move {
            doudi_web::router(state)
                .oneshot(login_from(office, &format!("office{i}"), support::PASSWORD))
                .await
                .unwrap()
                .status()
        }));
    }
    for b in burst {
        assert_eq!(
            b.await.unwrap(),
            StatusCode::SEE_OTHER,
            "every colleague gets in"
        );
    }

    // Spraying: one wrong password on each of many accounts from one address.
    let sprayer = "203.0.113.50:1";
    let mut evaluated = 0;
    for i in 0..(per_source + 5) {
        let (s, _, _) = app
            .request(login_from(
                sprayer,
                &format!("office{}", i % staff as i64),
                "wrong-pass-123",
            ))
            .await;
        if s == StatusCode::UNAUTHORIZED {
            evaluated += 1;
        } else {
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    assert_eq!(
        evaluated, per_source,
        "the address is stopped after {per_source} failures"
    );
    app.finish().await;
}

on_both_backends!(an_office_signs_in_together);
