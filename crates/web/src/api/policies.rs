//! API: the policy catalogue and standards (read), 政策找人 runs (start,
//! progress, findings).

use axum::Json;
use axum::extract::{Path, Query, State};
use doudi_app::access;
use doudi_domain::access::Action;
use doudi_rules::finder::FindingKind;
use doudi_rules::standards::{self, Unit};
use doudi_store::policies::{self as pol, FindingRow, PolicyRow, RunRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiErrorBody, Paging};
use crate::AppState;
use crate::auth::Actor;
use crate::error::ApiError;

/// A policy of the catalogue, in plain words.
#[derive(Serialize, ToSchema)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub department: String,
    pub family: String,
    pub conditions: String,
    pub phone: String,
    pub target_groups: String,
    pub benefit_form: String,
    /// active, suspended, retired.
    pub status: String,
    pub effective_from: String,
    pub effective_to: Option<String>,
}

impl From<&PolicyRow> for Policy {
    fn from(p: &PolicyRow) -> Self {
        Policy {
            id: p.id,
            name: p.name.clone(),
            department: p.department.clone(),
            family: p.family.clone(),
            conditions: p.conditions.clone(),
            phone: p.phone.clone(),
            target_groups: p.target_groups.clone(),
            benefit_form: doudi_rules::catalogue::BENEFIT_FORMS
                .iter()
                .find(|(c, _)| *c == p.benefit_form)
                .map_or_else(|| p.benefit_form.clone(), |(_, l)| l.to_string()),
            status: p.status.clone(),
            effective_from: p.effective_from.clone(),
            effective_to: p.effective_to.clone(),
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PolicyFilter {
    /// The department's name, e.g. 区医疗保障局.
    pub department: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyPage {
    pub items: Vec<Policy>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// The policy catalogue (every account with API access may read it).
#[utoipa::path(get, path = "/api/v1/policies", params(PolicyFilter, Paging), responses((status = 200, body = PolicyPage), (status = 403, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<PolicyFilter>,
    Query(p): Query<Paging>,
) -> Result<Json<PolicyPage>, ApiError> {
    access::role(&state.db, &actor, Action::UseApi).await?;
    let all = pol::policies(&state.db).await?;
    let wanted: Vec<&PolicyRow> = all
        .iter()
        .filter(|x| {
            f.department
                .as_deref()
                .is_none_or(|d| d.is_empty() || x.department == d)
        })
        .collect();
    Ok(Json(PolicyPage {
        total: wanted.len() as i64,
        items: wanted
            .into_iter()
            .skip(p.offset() as usize)
            .take(p.per_page() as usize)
            .map(Policy::from)
            .collect(),
        page: p.page(),
        per_page: p.per_page(),
    }))
}

/// A dated standard of a region.
#[derive(Serialize, ToSchema)]
pub struct Standard {
    pub key: String,
    pub name: String,
    pub region_code: String,
    /// As people read it: "1,000.00 元", "150%", "7".
    pub value: String,
    pub effective_from: String,
}

/// Every standard with its region and effective date.
#[utoipa::path(get, path = "/api/v1/standards", responses((status = 200, body = Vec<Standard>), (status = 403, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_standards(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<Standard>>, ApiError> {
    access::role(&state.db, &actor, Action::UseApi).await?;
    let rows = pol::standard_rows(&state.db).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                let def = standards::def(&r.key);
                Standard {
                    name: def.map_or_else(|| r.key.clone(), |d| d.label.to_string()),
                    value: match def.map(|d| d.unit) {
                        Some(Unit::Fen) => format!("{} 元", crate::views::money(r.value)),
                        Some(Unit::Percent) => format!("{}%", r.value),
                        _ => r.value.to_string(),
                    },
                    key: r.key,
                    region_code: r.region_code,
                    effective_from: r.effective_from,
                }
            })
            .collect(),
    ))
}

/// A 政策找人 run and its progress.
#[derive(Serialize, ToSchema)]
pub struct Run {
    pub id: i64,
    pub scope_code: String,
    pub policy_id: Option<i64>,
    /// running, done, failed, interrupted (its process died; the findings
    /// are incomplete).
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub missed: i64,
    pub excessive: i64,
    pub duplicate: i64,
    pub errors: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub message: String,
}

impl From<RunRow> for Run {
    fn from(r: RunRow) -> Self {
        Run {
            id: r.id,
            scope_code: r.scope_code,
            policy_id: r.policy_id,
            status: r.status,
            total: r.total,
            processed: r.processed,
            missed: r.missed,
            excessive: r.excessive,
            duplicate: r.duplicate,
            errors: r.errors,
            started_at: r.started_at,
            finished_at: r.finished_at,
            message: r.message,
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct StartRun {
    /// One policy's id; every policy in force when absent.
    pub policy_id: Option<i64>,
}

/// Start 政策找人 over the caller's jurisdiction; poll the run for progress.
/// One run at a time: while one runs, 409.
#[utoipa::path(post, path = "/api/v1/finder-runs", request_body = StartRun, responses((status = 202, body = Run), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody, description = "已有一个政策找人正在运行"), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn start_run(
    State(state): State<AppState>,
    actor: Actor,
    Json(f): Json<StartRun>,
) -> Result<(axum::http::StatusCode, Json<Run>), ApiError> {
    let id = doudi_app::policies::start_run(&state.db, &actor, f.policy_id).await?;
    let (run, _) = access::run(&state.db, &actor, id).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(Run::from(run))))
}

/// A run's progress and counts.
#[utoipa::path(get, path = "/api/v1/finder-runs/{id}", params(("id" = i64, Path)), responses((status = 200, body = Run), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Run>, ApiError> {
    let (run, _) = access::run(&state.db, &actor, id).await?;
    Ok(Json(Run::from(run)))
}

/// One finding: a household that may miss a policy, hold it in excess, or
/// hold two that exclude each other.
#[derive(Serialize, ToSchema)]
pub struct Finding {
    pub id: i64,
    pub household_id: i64,
    pub household: String,
    pub village: String,
    pub policy: String,
    /// 可能漏保, 可能不再符合, 重复享受, 规则出错.
    pub kind: String,
    pub reason: String,
    pub amount_yuan: Option<String>,
    pub lead_id: Option<i64>,
}

impl From<FindingRow> for Finding {
    fn from(f: FindingRow) -> Self {
        Finding {
            id: f.id,
            household_id: f.household_id,
            household: f.head_name,
            village: f.village_name,
            policy: f.policy_name,
            kind: FindingKind::from_code(&f.kind)
                .map_or_else(|| f.kind.clone(), |k| k.label().to_string()),
            reason: f.reason,
            amount_yuan: f
                .amount_fen
                .map(|a| doudi_domain::Money::from_fen(a).to_string()),
            lead_id: f.lead_id,
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct FindingFilter {
    /// missed, excessive, duplicate, error; all when empty.
    pub kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FindingPage {
    /// True only when the run is done; the findings of a running, failed or
    /// interrupted run are part of an incomplete result and cannot become leads.
    pub complete: bool,
    pub items: Vec<Finding>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// The findings of a run within the caller's jurisdiction.
#[utoipa::path(get, path = "/api/v1/finder-runs/{id}/findings", params(("id" = i64, Path), FindingFilter, Paging), responses((status = 200, body = FindingPage), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_findings(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(f): Query<FindingFilter>,
    Query(p): Query<Paging>,
) -> Result<Json<FindingPage>, ApiError> {
    let (run, scope) = access::run(&state.db, &actor, id).await?;
    let kind = f.kind.as_deref().filter(|k| !k.is_empty());
    let (rows, total) =
        pol::findings(&state.db, id, &scope, kind, p.offset(), p.per_page()).await?;
    Ok(Json(FindingPage {
        complete: run.status == "done",
        items: rows.into_iter().map(Finding::from).collect(),
        page: p.page(),
        per_page: p.per_page(),
        total,
    }))
}
