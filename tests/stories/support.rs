//! Test harness: a real database (SQLite file or a fresh PostgreSQL schema), the demo
//! district with a few hundred households, and the router called in-process.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use doudi_store::Db;
use doudi_web::{AppState, Config};
use tower::ServiceExt;

pub const PASSWORD: &str = doudi::setup::DEMO_PASSWORD;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub state: AppState,
    pub db: Db,
    cleanup_schema: Option<(String, String)>,
    cleanup_file: Option<String>,
}

pub fn pg_url() -> String {
    std::env::var("DOUDI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl TestApp {
    /// A fresh database with the demo regions, accounts and `households` households.
    pub async fn new(backend: Backend, households: usize) -> TestApp {
        let app = TestApp::empty(backend).await;
        let today = doudi_store::today_cn();
        doudi::setup::demo(&app.db, 2026, households, today, &|_| {})
            .await
            .expect("demo");
        app
    }

    /// A fresh, migrated database without any data (a SQLite temp file or a
    /// new PostgreSQL schema).
    pub async fn empty(backend: Backend) -> TestApp {
        let unique = format!("t{}_{}", std::process::id(), rand_suffix());
        let mut cleanup_file = None;
        let (db, cleanup_schema) = match backend {
            Backend::Sqlite => {
                let path = format!("{}/doudi-test-{unique}.db", std::env::temp_dir().display());
                cleanup_file = Some(path.clone());
                (
                    Db::connect(&format!("sqlite://{path}"), None)
                        .await
                        .expect("sqlite"),
                    None,
                )
            }
            Backend::Postgres => {
                // Failing here (PostgreSQL unreachable) fails the test: CI must not skip it.
                let admin = Db::connect(&pg_url(), None)
                    .await
                    .expect("PostgreSQL must be reachable at DOUDI_TEST_PG_URL / 127.0.0.1:5432");
                doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA {unique}"
                )))
                .execute(&admin.pool)
                .await
                .expect("create schema");
                admin.close().await;
                (
                    Db::connect(&pg_url(), Some(&unique)).await.expect("pg"),
                    Some((pg_url(), unique.clone())),
                )
            }
        };
        db.migrate().await.expect("migrate");
        let state = AppState::new(db.clone(), Config::default());
        TestApp {
            state,
            db,
            cleanup_schema,
            cleanup_file,
        }
    }

    pub async fn request(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let resp = doudi_web::router(self.state.clone())
            .oneshot(req)
            .await
            .expect("router");
        let status = resp.status();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        (status, headers, body)
    }

    /// Signs in through the login form and returns the session cookie.
    pub async fn login(&self, username: &str) -> String {
        let body = format!("username={username}&password={PASSWORD}&next=/");
        let (status, headers, _) = self
            .request(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header("sec-fetch-site", "same-origin")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "login of {username} should redirect"
        );
        let cookie = headers
            .iter()
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .expect("cookie");
        cookie.split(';').next().unwrap().to_string()
    }

    pub async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let (s, _, b) = self
            .request(
                Request::get(path)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (s, String::from_utf8_lossy(&b).to_string())
    }

    pub async fn get_bytes(&self, path: &str, cookie: &str) -> (StatusCode, Vec<u8>) {
        let (s, _, b) = self
            .request(
                Request::get(path)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (s, b)
    }

    /// A same-origin form post, as a browser sends it.
    pub async fn post(
        &self,
        path: &str,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (s, h, b) = self
            .request(
                Request::post(path)
                    .header(header::COOKIE, cookie)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header("sec-fetch-site", "same-origin")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        let location = h
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone());
        (s, String::from_utf8_lossy(&b).to_string(), location)
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        json: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match json {
            Some(j) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        let (s, _, b) = self.request(req.body(body).unwrap()).await;
        (
            s,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A token of a machine account with the same role and node as `username`.
    pub async fn token_for(&self, username: &str) -> String {
        let u = doudi_store::users::by_username(&self.db, username)
            .await
            .unwrap()
            .unwrap();
        let token = doudi_app::accounts::new_secret();
        let mut tx = self.db.begin_write().await.unwrap();
        let machine = doudi_store::users::NewUser {
            username: format!("api_{}_{}", username, rand_suffix()),
            display_name: format!("{} 接口", u.display_name),
            password_hash: doudi_app::accounts::hash_password(&doudi_app::accounts::new_secret()),
            role: u.role.clone(),
            region_code: u.region_code.clone(),
            department: u.department.clone(),
            phone: None,
            is_machine: true,
        };
        let id = doudi_store::users::insert(&mut tx, &machine).await.unwrap();
        doudi_store::users::create_token(
            &mut tx,
            id,
            "test",
            &doudi_app::accounts::secret_hash(&token),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        token
    }

    /// How many audit entries of `action` the account `username` has caused.
    pub async fn audit_count(&self, action: &str, username: &str) -> i64 {
        doudi_store::sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1 AND username = $2",
        )
        .bind(action.to_string())
        .bind(username.to_string())
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        doudi_store::sqlx::query_scalar(sql)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// The id of some active household in `village_prefix` (a region code prefix).
    pub async fn household_in(&self, prefix: &str) -> i64 {
        doudi_store::sqlx::query_scalar("SELECT id FROM households WHERE village_code LIKE $1 AND status = 'active' AND size >= 2 ORDER BY id LIMIT 1")
            .bind(format!("{prefix}%"))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    pub async fn household_outside(&self, prefix: &str) -> i64 {
        doudi_store::sqlx::query_scalar("SELECT id FROM households WHERE village_code NOT LIKE $1 AND status = 'active' AND size >= 2 ORDER BY id LIMIT 1")
            .bind(format!("{prefix}%"))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    pub async fn region_of(&self, username: &str) -> String {
        doudi_store::users::by_username(&self.db, username)
            .await
            .unwrap()
            .unwrap()
            .region_code
    }

    pub async fn finish(self) {
        self.db.close().await;
        if let Some(path) = &self.cleanup_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        if let Some((url, schema)) = self.cleanup_schema {
            if let Ok(admin) = Db::connect(&url, None).await {
                let _ = doudi_store::sqlx::query(doudi_store::sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA {schema} CASCADE"
                )))
                .execute(&admin.pool)
                .await;
            }
        }
    }
}

/// Reloads `path` (a job's page, which refreshes itself) until it contains
/// `text`; panics after 60 s.
pub async fn wait_for_page(app: &TestApp, path: &str, cookie: &str, text: &str) -> String {
    for _ in 0..600 {
        let (s, html) = app.get(path, cookie).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        if html.contains(text) {
            return html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never showed {text:?}");
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        chrono::Utc::now().timestamp_micros() % 1_000_000_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Percent-encodes a form value (application/x-www-form-urlencoded).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Runs a story against SQLite and against PostgreSQL as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() { super::$name(super::support::Backend::Sqlite).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() { super::$name(super::support::Backend::Postgres).await }
            }
        )*
    };
}

/// A multipart/form-data body of text fields and at most one file (`attachment`).
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let b = "----doudiCaseBoundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend(format!("--{b}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

/// Posts the intake form of a household (fields as on the page).
pub async fn apply(
    app: &TestApp,
    cookie: &str,
    hid: i64,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (StatusCode, String, Option<String>) {
    let (ct, body) = multipart(fields, file);
    let req = Request::post(format!("/households/{hid}/apply"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, ct)
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    let (s, h, b) = app.request(req).await;
    (
        s,
        String::from_utf8_lossy(&b).to_string(),
        h.iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone()),
    )
}

/// The item of a one-item application, from the `/applications/{id}`
/// address the intake redirected to.
pub async fn item_of_application(app: &TestApp, location: &str) -> i64 {
    let app_id: i64 = location
        .trim_start_matches("/applications/")
        .parse()
        .unwrap();
    doudi_store::sqlx::query_scalar("SELECT id FROM case_items WHERE application_id = $1")
        .bind(app_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// A 支出型临时救助 item for household `hid`, opened by the signed-in town
/// case worker through the intake form (a proxy applies for the household).
pub async fn temp_expense_item(app: &TestApp, cookie: &str, hid: i64) -> i64 {
    let (s, html, loc) = apply(
        app,
        cookie,
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
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    item_of_application(app, &loc.unwrap()).await
}
