//! Authentication (argon2 passwords, server-side sessions, API tokens), the signed-in
//! [`Actor`], login throttling and the CSRF guard.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use doudi_app::Caller;
use doudi_store::users::{self, UserRow};

use crate::AppState;
use crate::error::AppError;

pub const SESSION_COOKIE: &str = "doudi_session";

pub use doudi_app::accounts::{
    THROTTLE, check_password_strength, hash_password, new_secret, secret_hash, verify_password,
};

/// The client's address for login throttling: the last `X-Forwarded-For` entry when
/// `Config.behind_proxy`, else the peer address (present when served by
/// [`crate::serve`]), else `unknown` (in-process calls such as tests).
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.cfg.behind_proxy {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .last();
            if let Some(addr) = forwarded {
                return Ok(ClientAddr(addr.chars().take(64).collect()));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientAddr(peer.unwrap_or_else(|| "unknown".into())))
    }
}

/// The signed-in user: the application's [`Caller`] plus the session it came with.
#[derive(Clone, Debug)]
pub struct Actor {
    pub caller: Caller,
    pub session_hash: Option<String>,
}

impl Actor {
    pub fn from_user(user: UserRow, session_hash: Option<String>) -> Option<Actor> {
        Some(Actor {
            caller: Caller::from_user(user)?,
            session_hash,
        })
    }
}

impl std::ops::Deref for Actor {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// Rejection: pages redirect to the login form, the API answers 401 JSON.
pub struct AuthRejection {
    api: bool,
    next: String,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        if self.api {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    serde_json::json!({"error": "缺少或无效的访问令牌（Authorization: Bearer …）"}),
                ),
            )
                .into_response()
        } else {
            let next: String = url_encode(&self.next);
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
    }
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/");
        let reject = || AuthRejection {
            api,
            next: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        };
        if api {
            // The API takes machine tokens only, so cookies can never be replayed cross-site.
            let token = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let Some(token) = token else {
                return Err(reject());
            };
            let user = users::token_user(&state.db, &secret_hash(token))
                .await
                .ok()
                .flatten();
            return user
                .and_then(|u| Actor::from_user(u, None))
                .ok_or_else(reject);
        }
        let Some(cookie) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(reject());
        };
        let hash = secret_hash(&cookie);
        let user = users::session_user(&state.db, &hash).await.ok().flatten();
        user.and_then(|u| Actor::from_user(u, Some(hash)))
            .ok_or_else(reject)
    }
}

/// CSRF guard for state-changing requests from browsers (besides SameSite=Strict
/// cookies): an unsafe method outside `/api/` must carry `Sec-Fetch-Site: same-origin`
/// (or `none`, a navigation the user started), or, from browsers that do not send it, an
/// `Origin` equal to this very site: scheme (https when `Config.secure_cookies`, else
/// http), host and port. A request with neither header is refused. `/api/` takes bearer
/// tokens only (never cookies) and is exempt.
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !req.uri().path().starts_with("/api/") && !same_site(&req, &state) {
        return AppError::new(
            StatusCode::FORBIDDEN,
            "跨站请求被拒绝（CSRF 防护）：请从本系统的页面提交表单；如使用脚本，请改用 /api/ 接口和访问令牌",
        )
        .into_response();
    }
    next.run(req).await
}

fn same_site(req: &Request, state: &AppState) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let scheme = if state.cfg.secure_cookies {
        "https"
    } else {
        "http"
    };
    expected_origin(scheme, host).eq_ignore_ascii_case(origin)
}

/// `scheme://host[:port]`, without the scheme's default port (browsers omit it in `Origin`).
fn expected_origin(scheme: &str, host: &str) -> String {
    let default = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default).unwrap_or(host);
    format!("{scheme}://{host}")
}

pub fn session_cookie(value: &str, secure: bool, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}
