//! Importing households from .xlsx / .csv. Two modes: all-or-nothing, or accepted rows
//! only; in both, a household is written whole or not at all, inside one transaction,
//! and every rejected row is reported with its reason (page and downloadable file).

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use doudi_domain::access::Action;
use doudi_sheets::Rejected;
use doudi_store::imports;

use doudi_app::access;

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::render::{render, xlsx_response};
use crate::views::{Page, local_time};

pub use doudi_app::imports::{ImportMode, ProgressMap, RejectedRow};

// ---------------------------------------------------------------- pages

#[derive(Template)]
#[template(path = "imports.html")]
struct IndexPage {
    page: Page,
    jobs: Vec<imports::ImportJob>,
    error: String,
}

pub async fn index(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ImportHouseholds).await?;
    let jobs = imports::list_for_user(&state.db, actor.user.id).await?;
    render(&IndexPage {
        page: Page::new(&state, &actor, "批量导入家庭档案", "imports").await,
        jobs,
        error: String::new(),
    })
}

pub async fn upload(
    State(state): State<AppState>,
    actor: Actor,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ImportHouseholds).await?;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut mode = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?;
                if !bytes.is_empty() {
                    file = Some((name, bytes.to_vec()));
                }
            }
            Some("mode") => mode = ImportMode::parse(&field.text().await.unwrap_or_default()),
            _ => {}
        }
    }
    let error = match (&file, mode) {
        (None, _) => Some("请选择要导入的 .xlsx 或 .csv 文件"),
        (_, None) => Some("请选择导入方式"),
        (Some((name, _)), _)
            if !(name.to_lowercase().ends_with(".xlsx")
                || name.to_lowercase().ends_with(".csv")) =>
        {
            Some(
                "仅支持 .xlsx 或 .csv 文件，请使用下载的模板（旧版 .xls 请在 Excel 或 WPS 中另存为 .xlsx）",
            )
        }
        _ => None,
    };
    if let Some(e) = error {
        let jobs = imports::list_for_user(&state.db, actor.user.id).await?;
        let mut r = render(&IndexPage {
            page: Page::new(&state, &actor, "批量导入家庭档案", "imports").await,
            jobs,
            error: e.into(),
        })?;
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    let (filename, bytes) = file.expect("checked");
    let mode = mode.expect("checked");
    match doudi_app::imports::start(&state.db, &state.progress, &actor, filename, bytes, mode).await
    {
        Ok(job) => Ok(Redirect::to(&format!("/imports/{job}")).into_response()),
        // Another import is running (one at a time): say so on the page.
        Err(doudi_app::Error::Conflict(m)) => {
            let jobs = imports::list_for_user(&state.db, actor.user.id).await?;
            let mut r = render(&IndexPage {
                page: Page::new(&state, &actor, "批量导入家庭档案", "imports").await,
                jobs,
                error: m,
            })?;
            *r.status_mut() = axum::http::StatusCode::CONFLICT;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "import_job.html")]
struct JobPage {
    page: Page,
    job: imports::ImportJob,
    running: bool,
    done: usize,
    total: usize,
    percent: usize,
    rejected: Vec<RejectedRow>,
    more: usize,
    created: String,
}

pub async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let job = access::import_job(&state.db, &actor, id).await?;
    let running = job.status == "running";
    let (done, total) = state
        .progress
        .lock()
        .expect("progress lock")
        .get(&id)
        .copied()
        // Run by another process (the command line): the stored counters.
        .unwrap_or((job.processed_rows as usize, job.total_rows as usize));
    let percent = if total > 0 { done * 100 / total } else { 0 };
    let all: Vec<RejectedRow> = serde_json::from_str(&job.report_json).unwrap_or_default();
    let more = all.len().saturating_sub(200);
    let rejected = all.into_iter().take(200).collect();
    render(&JobPage {
        page: Page::new(&state, &actor, "导入结果", "imports").await,
        created: local_time(&job.created_at),
        job,
        running,
        done,
        total,
        percent,
        rejected,
        more,
    })
}

pub async fn report_xlsx(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let job = access::import_job(&state.db, &actor, id).await?;
    let rows: Vec<RejectedRow> = serde_json::from_str(&job.report_json).unwrap_or_default();
    let rejected: Vec<Rejected> = rows
        .into_iter()
        .map(|r| Rejected {
            line: r.line,
            household_key: r.household_key,
            name: r.name,
            id_number_masked: r.id_number_masked,
            reason: r.reason,
        })
        .collect();
    let bytes = doudi_sheets::rejected_report_xlsx(&rejected);
    Ok(xlsx_response(bytes, &format!("import-{id}-rejected.xlsx")))
}

pub async fn template_xlsx(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ImportHouseholds).await?;
    Ok(xlsx_response(
        doudi_sheets::template_xlsx(),
        "household-import-template.xlsx",
    ))
}

pub async fn template_csv(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ImportHouseholds).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"household-import-template.csv\"".to_string(),
            ),
        ],
        doudi_sheets::template_csv(),
    )
        .into_response())
}
