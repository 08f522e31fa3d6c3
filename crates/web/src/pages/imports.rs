//! Importing households from .xlsx / .csv. Two modes: all-or-nothing, or accepted rows
//! only; in both, a household is written whole or not at all, inside one transaction,
//! and every rejected row is reported with its reason (page and downloadable file).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use doudi_domain::access::Action;
use doudi_sheets::{ParsedHousehold, Rejected};
use doudi_store::audit::{self, AuditActor, AuditEntry};
use doudi_store::households::{self as hh, Scope};
use doudi_store::{Db, imports, today_cn};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::views::{Page, local_time};

pub const MAX_ROWS: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Any rejected row → nothing is written.
    AllOrNothing,
    /// Valid households are written; rejected ones are reported.
    AcceptedOnly,
}

impl ImportMode {
    pub fn code(self) -> &'static str {
        match self {
            ImportMode::AllOrNothing => "all",
            ImportMode::AcceptedOnly => "accepted",
        }
    }
    pub fn parse(s: &str) -> Option<ImportMode> {
        match s {
            "all" => Some(ImportMode::AllOrNothing),
            "accepted" => Some(ImportMode::AcceptedOnly),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RejectedRow {
    pub line: usize,
    pub household_key: String,
    pub name: String,
    pub id_number_masked: String,
    pub reason: String,
}

impl From<&Rejected> for RejectedRow {
    fn from(r: &Rejected) -> Self {
        RejectedRow {
            line: r.line,
            household_key: r.household_key.clone(),
            name: r.name.clone(),
            id_number_masked: r.id_number_masked.clone(),
            reason: r.reason.clone(),
        }
    }
}

#[derive(Debug)]
pub struct ImportOutcome {
    pub total_rows: usize,
    pub accepted_rows: usize,
    pub households_created: usize,
    pub rejected: Vec<RejectedRow>,
    /// True when rows were rejected in all-or-nothing mode, so nothing was written.
    pub nothing_written: bool,
}

/// Progress of running imports, kept in memory so that the writing transaction is never
/// interrupted by progress updates (SQLite allows one writer).
pub type ProgressMap = Arc<Mutex<HashMap<i64, (usize, usize)>>>;

/// Parses, validates and writes an import. `progress(done, total)` is called as rows
/// are written. On any write error the transaction rolls back and nothing is kept.
pub async fn run_import(
    db: &Db,
    actor: &AuditActor,
    scope: &Scope,
    filename: &str,
    bytes: &[u8],
    mode: ImportMode,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportOutcome, String> {
    let rows = doudi_sheets::read_table(filename, bytes, MAX_ROWS).map_err(|e| e.to_string())?;
    let total = rows.len();
    progress(0, total);
    let villages: HashSet<String> = doudi_store::regions::subtree(db, scope.0.as_str())
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.level == "village" && r.active)
        .map(|r| r.code)
        .collect();
    let village_ok = |code: &str| -> Result<(), String> {
        if villages.contains(code) {
            Ok(())
        } else {
            Err(format!(
                "村社区代码：{code} 不存在、已停用或不在您的管辖范围内"
            ))
        }
    };
    let today = today_cn();
    let (parsed, rejected) = doudi_sheets::validate_rows(&rows, today, &village_ok);
    let mut rejected: Vec<RejectedRow> = rejected.iter().map(RejectedRow::from).collect();
    let (parsed, conflicts) = split_registered(db, parsed)
        .await
        .map_err(|e| e.to_string())?;
    rejected.extend(conflicts);
    rejected.sort_by_key(|r| r.line);
    if mode == ImportMode::AllOrNothing && !rejected.is_empty() {
        return Ok(ImportOutcome {
            total_rows: total,
            accepted_rows: 0,
            households_created: 0,
            rejected,
            nothing_written: true,
        });
    }
    let (done, created) = match mode {
        ImportMode::AllOrNothing => {
            // One transaction: either every household is written or none is.
            let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
            let mut done = 0;
            for p in &parsed {
                hh::create(&mut tx, actor, scope, &p.record, today)
                    .await
                    .map_err(|e| {
                        format!(
                            "写入第 {} 行所在家庭时出错，已全部回滚，未导入任何数据：{e}",
                            p.lines.first().copied().unwrap_or(0)
                        )
                    })?;
                done += p.lines.len();
                progress(done, total);
            }
            import_audit(
                &mut tx,
                actor,
                scope,
                filename,
                parsed.len(),
                done,
                rejected.len(),
            )
            .await?;
            tx.commit().await.map_err(|e| e.to_string())?;
            (done, parsed.len())
        }
        ImportMode::AcceptedOnly => {
            // Batches keep each write transaction short (SQLite has one writer). A
            // household that fails to write (e.g. registered meanwhile by someone else)
            // is retried alone and reported; the rest of its batch is kept.
            let mut done = 0;
            let mut created = 0;
            for batch in parsed.chunks(IMPORT_BATCH) {
                let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
                let mut failed = false;
                for p in batch {
                    if hh::create(&mut tx, actor, scope, &p.record, today)
                        .await
                        .is_err()
                    {
                        failed = true;
                        break;
                    }
                }
                if !failed {
                    tx.commit().await.map_err(|e| e.to_string())?;
                    created += batch.len();
                    done += batch.iter().map(|p| p.lines.len()).sum::<usize>();
                } else {
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    for p in batch {
                        let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
                        match hh::create(&mut tx, actor, scope, &p.record, today).await {
                            Ok(_) => {
                                tx.commit().await.map_err(|e| e.to_string())?;
                                created += 1;
                                done += p.lines.len();
                            }
                            Err(e) => {
                                tx.rollback().await.map_err(|e| e.to_string())?;
                                for (i, m) in p.record.members.iter().enumerate() {
                                    rejected.push(RejectedRow {
                                        line: p.member_lines.get(i).copied().unwrap_or(0),
                                        household_key: p.key.clone(),
                                        name: m.name.clone(),
                                        id_number_masked: m.id_number.masked(),
                                        reason: format!("写入时出错，整户未导入：{e}"),
                                    });
                                }
                            }
                        }
                    }
                }
                progress(done, total);
            }
            rejected.sort_by_key(|r| r.line);
            let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
            import_audit(
                &mut tx,
                actor,
                scope,
                filename,
                created,
                done,
                rejected.len(),
            )
            .await?;
            tx.commit().await.map_err(|e| e.to_string())?;
            (done, created)
        }
    };
    Ok(ImportOutcome {
        total_rows: total,
        accepted_rows: done,
        households_created: created,
        rejected,
        nothing_written: false,
    })
}

/// Households written per transaction in "accepted only" mode.
const IMPORT_BATCH: usize = 500;

async fn import_audit(
    tx: &mut doudi_store::Tx,
    actor: &AuditActor,
    scope: &Scope,
    filename: &str,
    households: usize,
    rows: usize,
    rejected: usize,
) -> Result<(), String> {
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "import",
            entity: "household",
            entity_id: "-".into(),
            household_id: None,
            region_code: scope.0.as_str(),
            before: None,
            after: None,
            detail: format!("导入 {filename}：新建 {households} 户 {rows} 行，拒绝 {rejected} 行"),
        },
    )
    .await
    .map_err(|e| e.to_string())
}

/// Households any of whose ID numbers are already registered are rejected whole.
async fn split_registered(
    db: &Db,
    parsed: Vec<ParsedHousehold>,
) -> doudi_store::Result<(Vec<ParsedHousehold>, Vec<RejectedRow>)> {
    let all: Vec<String> = parsed
        .iter()
        .flat_map(|p| {
            p.record
                .members
                .iter()
                .map(|m| m.id_number.as_str().to_string())
        })
        .collect();
    let mut taken = HashSet::new();
    for chunk in all.chunks(500) {
        let marks = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT id_number FROM persons WHERE id_number IN ({marks})");
        let mut q = sqlx_query_scalar(&sql);
        for id in chunk {
            q = q.bind(id.clone());
        }
        taken.extend(q.fetch_all(&db.pool).await?);
    }
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for p in parsed {
        let clash: Vec<&str> = p
            .record
            .members
            .iter()
            .map(|m| m.id_number.as_str())
            .filter(|id| taken.contains(*id))
            .collect();
        if clash.is_empty() {
            ok.push(p);
            continue;
        }
        for (i, m) in p.record.members.iter().enumerate() {
            let mine = taken.contains(m.id_number.as_str());
            bad.push(RejectedRow {
                line: p.member_lines.get(i).copied().unwrap_or(0),
                household_key: p.key.clone(),
                name: m.name.clone(),
                id_number_masked: m.id_number.masked(),
                reason: if mine { "身份证号：已登记在系统中的另一户（一人只能属于一个家庭），如需迁移请使用“迁移成员”".into() } else { "同户其他成员已在系统中登记，整户未导入".into() },
            });
        }
    }
    Ok((ok, bad))
}

fn sqlx_query_scalar(
    sql: &str,
) -> doudi_store::sqlx::query::QueryScalar<
    'static,
    doudi_store::sqlx::Any,
    String,
    doudi_store::sqlx::any::AnyArguments,
> {
    doudi_store::sqlx::query_scalar(doudi_store::sqlx::AssertSqlSafe(sql.to_string()))
}

// ---------------------------------------------------------------- pages

#[derive(Template)]
#[template(path = "imports.html")]
struct IndexPage {
    page: Page,
    jobs: Vec<imports::ImportJob>,
    error: String,
}

fn render<T: Template>(t: &T) -> Result<Response, AppError> {
    Ok(Html(t.render()?).into_response())
}

pub async fn index(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    actor.require(Action::ImportHouseholds)?;
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
    actor.require(Action::ImportHouseholds)?;
    let scope = actor.household_scope()?;
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
                || name.to_lowercase().ends_with(".xls")
                || name.to_lowercase().ends_with(".csv")) =>
        {
            Some("仅支持 .xlsx、.xls 或 .csv 文件，请使用下载的模板")
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
    let job = imports::create(
        &state.db,
        actor.user.id,
        actor.region.as_str(),
        &filename,
        mode.code(),
    )
    .await?;
    let progress = state.progress.clone();
    let db = state.db.clone();
    let who = actor.audit();
    tokio::spawn(async move {
        let p = progress.clone();
        let report = move |done: usize, total: usize| {
            p.lock().expect("progress lock").insert(job, (done, total));
        };
        let outcome = run_import(&db, &who, &scope, &filename, &bytes, mode, &report).await;
        let result = match outcome {
            Ok(o) => {
                let json = serde_json::to_string(&o.rejected).unwrap_or_else(|_| "[]".into());
                let (status, msg) = if o.nothing_written {
                    (
                        "rejected",
                        format!(
                            "有 {} 行未通过校验；按“全部成功才导入”方式，本次未导入任何数据。请修改后重新上传。",
                            o.rejected.len()
                        ),
                    )
                } else if o.rejected.is_empty() {
                    (
                        "done",
                        format!(
                            "全部导入成功：新建 {} 户，{} 行。",
                            o.households_created, o.accepted_rows
                        ),
                    )
                } else {
                    (
                        "done",
                        format!(
                            "已导入通过校验的 {} 户（{} 行）；{} 行未导入，见下表或下载报告。",
                            o.households_created,
                            o.accepted_rows,
                            o.rejected.len()
                        ),
                    )
                };
                imports::finish(
                    &db,
                    job,
                    status,
                    o.total_rows as i64,
                    o.accepted_rows as i64,
                    o.rejected.len() as i64,
                    o.households_created as i64,
                    &msg,
                    &json,
                )
                .await
            }
            Err(e) => imports::finish(&db, job, "failed", 0, 0, 0, 0, &e, "[]").await,
        };
        if let Err(e) = result {
            tracing::error!("import job {job}: could not record the result: {e}");
        }
        progress.lock().expect("progress lock").remove(&job);
    });
    Ok(Redirect::to(&format!("/imports/{job}")).into_response())
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

async fn own_job(state: &AppState, actor: &Actor, id: i64) -> Result<imports::ImportJob, AppError> {
    actor.require(Action::ImportHouseholds)?;
    let job = imports::get(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if job.user_id != actor.user.id {
        return Err(AppError::forbidden());
    }
    Ok(job)
}

pub async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let job = own_job(&state, &actor, id).await?;
    let running = job.status == "running";
    let (done, total) = state
        .progress
        .lock()
        .expect("progress lock")
        .get(&id)
        .copied()
        .unwrap_or((0, 0));
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
    let job = own_job(&state, &actor, id).await?;
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

pub async fn template_xlsx(actor: Actor) -> Result<Response, AppError> {
    actor.require(Action::ImportHouseholds)?;
    Ok(xlsx_response(
        doudi_sheets::template_xlsx(),
        "household-import-template.xlsx",
    ))
}

pub async fn template_csv(actor: Actor) -> Result<Response, AppError> {
    actor.require(Action::ImportHouseholds)?;
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
