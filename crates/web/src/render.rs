//! One place for turning results into responses: pages, status codes,
//! downloads. Every page module renders through here.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::error::AppError;

/// A page, 200.
pub fn render<T: Template>(t: &T) -> Result<Response, AppError> {
    Ok(Html(t.render()?).into_response())
}

/// A response with another status (a form shown again with its errors: 422, 409).
pub fn with_status(mut r: Response, code: u16) -> Response {
    *r.status_mut() = StatusCode::from_u16(code).expect("status");
    r
}

/// An .xlsx download.
pub fn xlsx_response(bytes: Vec<u8>, filename: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A PDF shown in the browser.
pub fn pdf_response(bytes: Vec<u8>, filename: &str) -> Response {
    let name = crate::auth::url_encode(filename);
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename*=UTF-8''{name}"),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The `?msg=` a page shows after a redirect.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ShowQuery {
    pub msg: Option<String>,
}
