//! One error type for handlers. Pages get a Chinese error page; the API gets JSON.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use doudi_store::StoreError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    /// The refused fields, when the input was refused (422).
    pub fields: Vec<doudi_app::FieldError>,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AppError {
            status,
            message: message.into(),
            fields: Vec::new(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, doudi_app::error::FORBIDDEN)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "未找到该记录")
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, m)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "请先登录")
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "系统内部错误，请稍后重试；如持续出现请联系管理员",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AppError::conflict(m),
            StoreError::Invalid(m) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            StoreError::NotFound => AppError::not_found(),
            StoreError::Db(e) => AppError::internal(e),
        }
    }
}

impl From<doudi_store::sqlx::Error> for AppError {
    fn from(e: doudi_store::sqlx::Error) -> Self {
        AppError::from(StoreError::Db(e))
    }
}

impl From<doudi_app::Error> for AppError {
    fn from(e: doudi_app::Error) -> Self {
        use doudi_app::Error as E;
        match e {
            E::Forbidden(m) => AppError::new(StatusCode::FORBIDDEN, m),
            E::NotFound => AppError::not_found(),
            E::Invalid(ref fields) => {
                let mut a = AppError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
                a.fields = fields.clone();
                a
            }
            E::Conflict(m) => AppError::conflict(m),
            E::Storage(m) => AppError::internal(m),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>出错了 - 兜底</title>\
             <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"narrow\">\
             <h1>{}</h1><p class=\"error-text\">{}</p><p><a href=\"javascript:history.back()\">返回上一页</a> · <a href=\"/\">回到首页</a></p></main></body></html>",
            match self.status.as_u16() {
                401 => "需要登录",
                403 => "无权访问",
                404 => "未找到",
                409 => "内容已被他人修改",
                422 | 400 => "提交的内容有误",
                _ => "出错了",
            },
            askama_escape(&self.message)
        );
        (self.status, Html(body)).into_response()
    }
}

/// The API's error body: `{"error": "...", "fields": [{"field", "message"}]}`
/// with the same status (`fields` is empty unless the input was refused).
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.0.message, "fields": self.0.fields});
        (self.0.status, axum::Json(body)).into_response()
    }
}

pub fn askama_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
