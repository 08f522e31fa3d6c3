//! Authentication (argon2 passwords, server-side sessions, API tokens), the signed-in
//! [`Actor`], login throttling and the CSRF guard.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use doudi_domain::access::{self, Action, Role};
use doudi_domain::{Coded, RegionCode};
use doudi_store::audit::AuditActor;
use doudi_store::households::Scope;
use doudi_store::users::{self, UserRow};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::AppError;

pub const SESSION_COOKIE: &str = "doudi_session";
/// Failed logins allowed per account within [`THROTTLE_MINUTES`] before refusing.
pub const MAX_FAILURES: i64 = 5;
pub const THROTTLE_MINUTES: i64 = 15;

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 hash")
        .to_string()
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password rule for people: at least 8 characters with letters and digits.
pub fn check_password_strength(pw: &str) -> Result<(), String> {
    if pw.chars().count() < 8 {
        return Err("密码至少 8 位".into());
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) || !pw.chars().any(|c| c.is_alphabetic()) {
        return Err("密码须同时包含字母和数字".into());
    }
    Ok(())
}

pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The signed-in user, with role and jurisdiction parsed once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: UserRow,
    pub role: Role,
    pub region: RegionCode,
    pub session_hash: Option<String>,
}

impl Actor {
    pub fn from_user(user: UserRow, session_hash: Option<String>) -> Option<Actor> {
        let role = Role::from_code(&user.role)?;
        let region = RegionCode::parse(&user.region_code).ok()?;
        Some(Actor {
            user,
            role,
            region,
            session_hash,
        })
    }
    pub fn may(&self, action: Action) -> bool {
        access::may(self.role, action)
    }
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }
    /// The household scope; only roles that may view household files get one.
    pub fn household_scope(&self) -> Result<Scope, AppError> {
        self.require(Action::ViewHousehold)?;
        Ok(Scope(self.region.clone()))
    }
    pub fn audit(&self) -> AuditActor {
        AuditActor {
            user_id: Some(self.user.id),
            username: self.user.username.clone(),
            role: self.user.role.clone(),
        }
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

/// CSRF guard for state-changing requests from browsers: SameSite=Strict cookies plus a
/// check that `Sec-Fetch-Site` / `Origin` name this very site.
pub async fn csrf_guard(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !req.uri().path().starts_with("/api/") {
        let h = req.headers();
        if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            if site != "same-origin" && site != "none" {
                return AppError::new(StatusCode::FORBIDDEN, "跨站请求被拒绝（CSRF 防护）")
                    .into_response();
            }
        } else if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = h
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let origin_host = origin.split("://").nth(1).unwrap_or("");
            if origin == "null" || origin_host != host {
                return AppError::new(StatusCode::FORBIDDEN, "跨站请求被拒绝（CSRF 防护）")
                    .into_response();
            }
        }
    }
    next.run(req).await
}

pub fn session_cookie(value: &str, secure: bool, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}
