//! API: department feed push, warnings (list, read, close), assessments and visits.

use axum::Json;
use axum::extract::{Path, Query, State};
use doudi_app::monitoring::{AssessInput, CloseWarning, VisitInput};
use doudi_app::{access, audit};
use doudi_store::monitoring::{self as mon, BatchRow, WarningRow};
use doudi_store::today_cn;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiErrorBody, Paging};
use crate::AppState;
use crate::auth::Actor;
use crate::error::ApiError;

/// What became of a pushed batch.
#[derive(Serialize, ToSchema)]
pub struct FeedReceipt {
    pub batch: i64,
    pub received: i64,
    /// Records taken in (a record of a person not yet registered is kept and
    /// matched when they are; the receipt does not say which).
    pub accepted: i64,
    pub duplicates: i64,
    pub rejected: i64,
    /// One line per refused record: its position and the reason (ID numbers masked).
    pub report: Vec<FeedReportLine>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedReportLine {
    pub line: usize,
    pub reason: String,
}

impl From<BatchRow> for FeedReceipt {
    fn from(b: BatchRow) -> Self {
        FeedReceipt {
            batch: b.id,
            received: b.total_rows,
            accepted: b.accepted,
            duplicates: b.duplicates,
            rejected: b.rejected,
            report: b
                .report
                .into_iter()
                .map(|r| FeedReportLine {
                    line: r.line,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}

/// Push a department's records of one kind (medical, unemployment, death,
/// disability, property, vehicle, business, housing fund, utility arrears,
/// school, disaster; see docs/feeds.md). Records are idempotent by record key.
#[utoipa::path(post, path = "/api/v1/feeds/{kind}", params(("kind" = String, Path)), request_body = Vec<serde_json::Value>, responses((status = 200, body = FeedReceipt), (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn push_feed(
    State(state): State<AppState>,
    actor: Actor,
    Path(kind): Path<String>,
    Json(records): Json<Vec<serde_json::Value>>,
) -> Result<Json<FeedReceipt>, ApiError> {
    let batch = doudi_app::monitoring::push_feed(&state.db, &actor, &kind, &records).await?;
    Ok(Json(FeedReceipt::from(batch)))
}

/// A warning for the village or town that verifies it.
#[derive(Serialize, ToSchema)]
pub struct Warning {
    pub id: i64,
    pub household_id: i64,
    /// Head of household.
    pub household: String,
    pub village: String,
    pub rule: String,
    /// high, medium, low.
    pub severity: String,
    pub reason: String,
    pub raised_on: String,
    pub due_date: String,
    /// open or closed.
    pub status: String,
    pub check_method: String,
    pub check_findings: String,
    pub outcome: Option<String>,
    pub closed_on: Option<String>,
    pub lead_id: Option<i64>,
}

impl From<WarningRow> for Warning {
    fn from(w: WarningRow) -> Self {
        Warning {
            id: w.id,
            household_id: w.household_id,
            household: w.head_name,
            village: w.village_name,
            rule: w.rule_name,
            severity: w.severity,
            reason: w.reason,
            raised_on: w.raised_on,
            due_date: w.due_date,
            status: w.status,
            check_method: w.check_method,
            check_findings: w.check_findings,
            outcome: w.outcome,
            closed_on: w.closed_on,
            lead_id: w.lead_id,
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct WarningFilter {
    /// open, overdue, closed; all when empty.
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WarningPage {
    pub items: Vec<Warning>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// Warnings of the caller's jurisdiction, newest first.
#[utoipa::path(get, path = "/api/v1/warnings", params(WarningFilter, Paging), responses((status = 200, body = WarningPage), (status = 403, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_warnings(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<WarningFilter>,
    Query(p): Query<Paging>,
) -> Result<Json<WarningPage>, ApiError> {
    let scope = access::household_scope(&state.db, &actor).await?;
    let status = f.status.unwrap_or_default();
    let (rows, total) = mon::warnings(
        &state.db,
        &scope,
        &status,
        &today_cn().to_string(),
        p.offset(),
        p.per_page(),
    )
    .await?;
    Ok(Json(WarningPage {
        items: rows.into_iter().map(Warning::from).collect(),
        page: p.page(),
        per_page: p.per_page(),
        total,
    }))
}

/// One warning. Audited.
#[utoipa::path(get, path = "/api/v1/warnings/{id}", params(("id" = i64, Path)), responses((status = 200, body = Warning), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn get_warning(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Warning>, ApiError> {
    let w = access::warning(&state.db, &actor, id).await?;
    audit::event(
        &state.db,
        &actor,
        "view",
        "warning",
        id.to_string(),
        Some(w.household_id),
        &w.village_code,
        "API 查看预警".into(),
    )
    .await?;
    Ok(Json(Warning::from(w)))
}

/// Close a warning after the offline check, with one of the four outcomes;
/// outcomes other than policy_not_applied create the follow-up lead.
#[utoipa::path(post, path = "/api/v1/warnings/{id}/close", params(("id" = i64, Path)), request_body = CloseWarning, responses((status = 200, body = Warning), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn close_warning(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(f): Json<CloseWarning>,
) -> Result<Json<Warning>, ApiError> {
    doudi_app::monitoring::close_warning(&state.db, &actor, id, &f).await?;
    Ok(Json(Warning::from(
        access::warning(&state.db, &actor, id).await?,
    )))
}

/// What an assessment decided.
#[derive(Serialize, ToSchema)]
pub struct Assessment {
    pub id: i64,
    /// red, yellow or green.
    pub colour: String,
    pub score: u32,
    pub next_visit_due: String,
}

/// Assess a household (three colours); its visit plan restarts today.
#[utoipa::path(post, path = "/api/v1/households/{id}/assessments", params(("id" = i64, Path)), request_body = AssessInput, responses((status = 201, body = Assessment), (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn assess(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(f): Json<AssessInput>,
) -> Result<(axum::http::StatusCode, Json<Assessment>), ApiError> {
    use doudi_domain::Coded;
    let a = doudi_app::monitoring::assess(&state.db, &actor, id, &f).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Assessment {
            id: a.id,
            colour: a.colour.code().to_string(),
            score: a.score,
            next_visit_due: a.next_visit_due.to_string(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct VisitRecorded {
    pub id: i64,
}

/// Record a visit (date, kind, findings, needs, follow-up).
#[utoipa::path(post, path = "/api/v1/households/{id}/visits", params(("id" = i64, Path)), request_body = VisitInput, responses((status = 201, body = VisitRecorded), (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn record_visit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(f): Json<VisitInput>,
) -> Result<(axum::http::StatusCode, Json<VisitRecorded>), ApiError> {
    let id = doudi_app::monitoring::record_visit(&state.db, &actor, id, &f).await?;
    Ok((axum::http::StatusCode::CREATED, Json(VisitRecorded { id })))
}
