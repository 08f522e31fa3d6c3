//! The one application error.
//!
//! The layer rule: `doudi_store` returns `StoreError` (SQL and data-model
//! refusals); every use case in this crate returns [`Error`]; `doudi_web`
//! maps [`Error`] to a status code and a Chinese page or JSON body, and
//! nothing else. A refusal is audited where it is decided (see
//! [`crate::access`]), never by the layer that renders it.

use doudi_store::StoreError;

/// A refusal of one field, in Chinese, for the form's error summary or the
/// API's error body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Outside the caller's jurisdiction or role. Already audited.
    #[error("{0}")]
    Forbidden(String),
    #[error("未找到该记录")]
    NotFound,
    /// The input was refused; nothing was changed.
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
    /// Someone else saved first (stale version) or the state no longer allows it.
    #[error("{0}")]
    Conflict(String),
    /// The database or another component failed; the detail is for the log.
    #[error("存储错误：{0}")]
    Storage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message shown for a refusal by jurisdiction or role.
pub const FORBIDDEN: &str = "您无权访问此内容（超出您的管辖范围或角色权限）";

impl Error {
    pub fn forbidden() -> Error {
        Error::Forbidden(FORBIDDEN.into())
    }
    /// One refused field.
    pub fn invalid(field_name: &str, message: impl Into<String>) -> Error {
        Error::Invalid(vec![field(field_name, message)])
    }
    /// Field errors given as (field, message) pairs.
    pub fn invalid_pairs(pairs: Vec<(String, String)>) -> Error {
        Error::Invalid(
            pairs
                .into_iter()
                .map(|(f, m)| FieldError {
                    field: f,
                    message: m,
                })
                .collect(),
        )
    }
    pub fn storage(e: impl std::fmt::Display) -> Error {
        Error::Storage(e.to_string())
    }
    /// The field errors, if this is a refusal of the input.
    pub fn fields(&self) -> Option<&[FieldError]> {
        match self {
            Error::Invalid(f) => Some(f),
            _ => None,
        }
    }
}

fn join(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join("；")
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::Invalid(m) => Error::invalid("", m),
            StoreError::NotFound => Error::NotFound,
            StoreError::Db(e) => Error::Storage(e.to_string()),
        }
    }
}

impl From<doudi_store::sqlx::Error> for Error {
    fn from(e: doudi_store::sqlx::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Storage(format!("后台任务失败：{e}"))
    }
}
