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
            askama_escape(&translate_inline(&self.message))
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
        let body = serde_json::json!({"error": translate_inline(&self.0.message), "fields": self.0.fields});
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

// ---------------------------------------------------------------- axum's refusals

/// Replaces the plain-text English refusals of axum's extractors (path, query, form,
/// JSON, multipart, body limit) and the empty 404/405 answers with Chinese ones that
/// say what to do: an error page for people, `{"error", "fields"}` under `/api/`.
/// Requests whose declared length is over the upload limit are refused before a
/// handler reads them. Responses the application made itself (HTML, JSON) pass as
/// they are.
pub async fn chinese_refusals(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let limit = state.cfg.max_upload_bytes;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return refusal(api, StatusCode::PAYLOAD_TOO_LARGE, too_large(limit), vec![]);
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type.is_empty() && !content_type.starts_with("text/plain") {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return refusal(api, status, generic(status), vec![]);
    };
    let text = String::from_utf8_lossy(&bytes);
    let (message, fields) = translate(status, &text, limit);
    let mut out = refusal(api, status, message, fields);
    if let Some(allow) = parts.headers.get(axum::http::header::ALLOW) {
        out.headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    out
}

fn refusal(
    api: bool,
    status: StatusCode,
    message: String,
    fields: Vec<doudi_app::FieldError>,
) -> Response {
    let mut e = AppError::new(status, message);
    e.fields = fields;
    if api {
        ApiError(e).into_response()
    } else {
        e.into_response()
    }
}

fn too_large(limit: usize) -> String {
    format!(
        "提交的内容超过大小上限（{} MB），请缩小或拆分文件后重新上传",
        limit.div_ceil(1024 * 1024)
    )
}

fn generic(status: StatusCode) -> String {
    match status.as_u16() {
        404 => "页面或记录不存在，请检查网址，或回到首页重新进入".into(),
        405 => "不支持这种请求方式，请从系统页面操作；接口用法见 /api/v1/openapi.json".into(),
        413 => "提交的内容超过大小上限，请缩小或拆分文件后重新上传".into(),
        415 => "请求的内容类型不正确，请从系统页面提交；接口请以 JSON 发送".into(),
        s if s >= 500 => "系统内部错误，请稍后重试；如持续出现请联系管理员".into(),
        _ => "请求无法处理，请检查填写的内容后重试".into(),
    }
}

/// The field a serde message is about (`page: invalid digit …` → `page`), and the
/// message in Chinese.
fn field_detail(detail: &str) -> (Option<String>, String) {
    let detail = detail.trim();
    let (field, rest) = match detail.split_once(": ") {
        Some((f, r)) if !f.is_empty() && !f.contains(' ') => (Some(f.to_string()), r),
        _ => (None, detail),
    };
    let between = |s: &str| s.split('`').nth(1).unwrap_or("").to_string();
    let what = if rest.starts_with("missing field") {
        format!("缺少必填项 {}", between(rest))
    } else if rest.starts_with("unknown variant") {
        format!("取值 {} 不在允许的范围内", between(rest))
    } else if rest.starts_with("unknown field") {
        format!("不认识的字段 {}", between(rest))
    } else if rest.contains("invalid digit")
        || rest.contains("invalid type") && rest.contains("integer")
    {
        "应为数字".to_string()
    } else if rest.contains("too large")
        || rest.contains("too small")
        || rest.contains("out of range")
    {
        "数值超出允许范围".to_string()
    } else if rest.contains("invalid type") {
        "类型不正确".to_string()
    } else if rest.contains("EOF") || rest.contains("expected") {
        "格式不正确".to_string()
    } else {
        "格式不正确".to_string()
    };
    (field, what)
}

fn with_field(prefix: &str, detail: &str, suffix: &str) -> (String, Vec<doudi_app::FieldError>) {
    let (field, what) = field_detail(detail);
    match field {
        Some(f) => (
            format!("{prefix}：字段 {f} {what}，{suffix}"),
            vec![doudi_app::FieldError {
                field: f,
                message: what,
            }],
        ),
        None => (format!("{prefix}：{what}，{suffix}"), vec![]),
    }
}

fn translate(status: StatusCode, text: &str, limit: usize) -> (String, Vec<doudi_app::FieldError>) {
    let after = |p: &str| {
        text.strip_prefix(p)
            .map(|r| r.trim_start_matches(':').trim().to_string())
    };
    if text.starts_with("Invalid URL")
        || text.starts_with("Cannot parse")
        || text.starts_with("Wrong number of path")
    {
        return (
            "网址中的编号或参数格式不正确，请从页面上的链接进入，或检查网址后重试".into(),
            vec![],
        );
    }
    if let Some(d) = after("Failed to deserialize query string") {
        return with_field("网址中的查询参数有误", &d, "请检查后重试");
    }
    if let Some(d) =
        after("Failed to deserialize form body").or_else(|| after("Failed to deserialize form"))
    {
        return with_field("提交的表单内容有误", &d, "请检查填写的内容后重新提交");
    }
    if text.starts_with("Form requests must have") {
        return (
            "请求格式不正确：表单须以 application/x-www-form-urlencoded 提交，请从系统页面提交"
                .into(),
            vec![],
        );
    }
    if text.starts_with("Expected request with `Content-Type: application/json`") {
        return (
            "请求格式不正确：请设置 Content-Type: application/json 并发送 JSON".into(),
            vec![],
        );
    }
    if text.starts_with("Failed to parse the request body as JSON") {
        return (
            "请求内容不是有效的 JSON，请检查括号、引号和逗号后重试".into(),
            vec![],
        );
    }
    if let Some(d) = after("Failed to deserialize the JSON body into the target type") {
        return with_field(
            "JSON 内容与接口要求不符",
            &d,
            "请对照接口文档 /api/v1/openapi.json 修改",
        );
    }
    if text.starts_with("Invalid `boundary`") || text.contains("multipart/form-data") {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return (too_large(limit), vec![]);
        }
        return (
            "上传请求不完整或格式不正确，请从系统页面重新选择文件上传".into(),
            vec![],
        );
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit exceeded") {
        return (too_large(limit), vec![]);
    }
    if text.starts_with("Request body didn't contain valid UTF-8") {
        return (
            "提交的内容不是有效的 UTF-8 文本，请以 UTF-8 编码提交".into(),
            vec![],
        );
    }
    if text.starts_with("Failed to buffer the request body") {
        return ("提交的内容未能完整接收，请检查网络后重试".into(), vec![]);
    }
    (generic(status), vec![])
}

/// English texts of axum that handlers may have put into a message of their own
/// (`上传失败：{multipart error}`), in Chinese.
fn translate_inline(message: &str) -> String {
    message.replace(
        "Error parsing `multipart/form-data` request",
        "上传的内容不完整、格式不正确或超过大小上限，请检查文件后重新上传",
    )
}
