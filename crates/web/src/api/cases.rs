//! API: assistance items (read, act), referrals for departments' systems,
//! public notices.

use axum::Json;
use axum::extract::{Path, Query, State};
use doudi_app::cases::{ActInput, ReferralAction};
use doudi_app::{access, audit};
use doudi_domain::Money;
use doudi_domain::access::{Action, Role};
use doudi_domain::workflow::{ItemKind, Outcome};
use doudi_store::cases::{self, ItemRow, NoticeRow, ReferralRow};
use doudi_store::today_cn;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiErrorBody, Paging};
use crate::AppState;
use crate::auth::Actor;
use crate::error::ApiError;
use crate::views::{label, step_name};

/// What opening an application created.
#[derive(Serialize, ToSchema)]
pub struct OpenedApplication {
    pub application_id: i64,
}

/// Open an application for a household (一门受理): one or more items, each
/// starting its own workflow with its working-day deadline. Evidence files
/// are added on the intake page (the API takes none).
#[utoipa::path(post, path = "/api/v1/households/{id}/applications", params(("id" = i64, Path)), request_body = doudi_app::cases::NewIntake, responses((status = 201, body = OpenedApplication), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn open_application(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(intake): Json<doudi_app::cases::NewIntake>,
) -> Result<(axum::http::StatusCode, Json<OpenedApplication>), ApiError> {
    let application_id =
        doudi_app::cases::open_application(&state.db, &actor, id, &intake, &[], today_cn()).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(OpenedApplication { application_id }),
    ))
}

/// An application as people see it, with its items.
#[derive(Serialize, ToSchema)]
pub struct Application {
    pub id: i64,
    pub household_id: i64,
    /// 窗口申请, 网上申请, 主动发现 or 预警核查.
    pub channel: String,
    pub proxy_name: String,
    pub situation: String,
    pub separate_registration: bool,
    pub created_at: String,
    pub items: Vec<Item>,
}

/// One application of the caller's jurisdiction with its items (case handlers). Audited.
#[utoipa::path(get, path = "/api/v1/applications/{id}", params(("id" = i64, Path)), responses((status = 200, body = Application), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn get_application(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Application>, ApiError> {
    let (a, items) = doudi_app::cases::read_application(&state.db, &actor, id).await?;
    let channel = match a.channel.as_str() {
        "window" => "窗口申请",
        "online" => "网上申请",
        "discovery" => "主动发现",
        "warning" => "预警核查",
        other => other,
    }
    .to_string();
    Ok(Json(Application {
        id: a.id,
        household_id: a.household_id,
        channel,
        proxy_name: a.proxy_name,
        situation: a.situation,
        separate_registration: a.separate_registration,
        created_at: a.created_at,
        items: items.iter().map(Item::from).collect(),
    }))
}

fn yuan(fen: Option<i64>) -> Option<String> {
    fen.map(|f| Money::from_fen(f).to_string())
}

/// An assistance item as people see it: names and labels, money in yuan.
#[derive(Serialize, ToSchema)]
pub struct Item {
    pub id: i64,
    pub application_id: i64,
    pub household_id: i64,
    /// Head of household.
    pub household: String,
    pub village: String,
    /// 低保, 特困, 临时救助 …
    pub kind: String,
    pub department: String,
    /// The current step's name; empty when the item has ended.
    pub step: String,
    /// Who acts at this step.
    pub step_role: String,
    pub step_due: String,
    /// 批准, 不予批准 … when ended.
    pub outcome: String,
    pub amount_yuan: Option<String>,
    /// Send this back when acting (optimistic lock).
    pub version: i64,
}

impl From<&ItemRow> for Item {
    fn from(i: &ItemRow) -> Self {
        Item {
            id: i.id,
            application_id: i.application_id,
            household_id: i.household_id,
            household: i.head_name.clone(),
            village: i.village_name.clone(),
            kind: label::<ItemKind>(&i.cols.kind),
            department: i.cols.department.clone(),
            step: i
                .cols
                .step
                .as_deref()
                .map(|s| step_name(&i.cols.kind, s))
                .unwrap_or_default(),
            step_role: i
                .cols
                .step_role
                .as_deref()
                .map(label::<Role>)
                .unwrap_or_default(),
            step_due: i.cols.step_due.clone(),
            outcome: i
                .cols
                .outcome
                .as_deref()
                .map(label::<Outcome>)
                .unwrap_or_default(),
            amount_yuan: yuan(i.cols.amount_fen),
            version: i.version,
        }
    }
}

/// One assistance item of the caller's jurisdiction (case handlers). Audited.
#[utoipa::path(get, path = "/api/v1/items/{id}", params(("id" = i64, Path)), responses((status = 200, body = Item), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn get_item(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Item>, ApiError> {
    let i = access::item(&state.db, &actor, id).await?;
    access::require(
        &state.db,
        &actor,
        Action::HandleCase,
        "case_item",
        id,
        &i.village_code,
    )
    .await?;
    audit::event(
        &state.db,
        &actor,
        "view",
        "case_item",
        id.to_string(),
        Some(i.household_id),
        &i.village_code,
        "API 查看救助事项".into(),
    )
    .await?;
    Ok(Json(Item::from(&i)))
}

/// One step of an item, with signatures and opinion: the same state machine
/// and refusals as the page (422 with the field, 409 when the version is stale).
#[utoipa::path(post, path = "/api/v1/items/{id}/act", params(("id" = i64, Path)), request_body = ActInput, responses((status = 200, body = Item), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn act(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(f): Json<ActInput>,
) -> Result<Json<Item>, ApiError> {
    doudi_app::cases::act(&state.db, &actor, id, &f).await?;
    let i = access::item(&state.db, &actor, id).await?;
    Ok(Json(Item::from(&i)))
}

/// A referral as the receiving department sees it.
#[derive(Serialize, ToSchema)]
pub struct Referral {
    pub id: i64,
    pub to: String,
    /// Head of household (masked).
    pub household: String,
    pub village_code: String,
    /// The case's relevant facts, as sent.
    pub facts: String,
    pub consent_by: String,
    pub consent_on: String,
    /// sent, accepted, rejected, completed, revoked.
    pub status: String,
    pub due_on: String,
    pub reason: String,
    pub outcome: String,
    pub amount_yuan: Option<String>,
    pub sent_at: String,
    pub version: i64,
}

impl From<&ReferralRow> for Referral {
    fn from(r: &ReferralRow) -> Self {
        Referral {
            id: r.id,
            to: r.to_name.clone(),
            household: doudi_domain::mask::mask_name(&r.head_name),
            village_code: r.village_code.clone(),
            facts: r.facts.clone(),
            consent_by: r.consent_by.clone(),
            consent_on: r.consent_on.clone(),
            status: r.status.clone(),
            due_on: r.due_on.clone(),
            reason: r.reason.clone(),
            outcome: r.outcome.clone(),
            amount_yuan: yuan(r.amount_fen),
            sent_at: r.sent_at.clone(),
            version: r.version,
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ReferralFilter {
    /// sent, accepted, rejected, completed, revoked; all when empty.
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReferralPage {
    pub items: Vec<Referral>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// The referrals sent to the caller's department or organisation.
#[utoipa::path(get, path = "/api/v1/referrals", params(ReferralFilter, Paging), responses((status = 200, body = ReferralPage), (status = 403, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_referrals(
    State(state): State<AppState>,
    actor: Actor,
    Query(f): Query<ReferralFilter>,
    Query(p): Query<Paging>,
) -> Result<Json<ReferralPage>, ApiError> {
    let all = doudi_app::cases::referrals_for_me(&state.db, &actor, 10_000).await?;
    let wanted: Vec<&ReferralRow> = all
        .iter()
        .filter(|r| {
            f.status
                .as_deref()
                .is_none_or(|s| s.is_empty() || r.status == s)
        })
        .collect();
    let total = wanted.len() as i64;
    let items = wanted
        .into_iter()
        .skip(p.offset() as usize)
        .take(p.per_page() as usize)
        .map(Referral::from)
        .collect();
    Ok(Json(ReferralPage {
        items,
        page: p.page(),
        per_page: p.per_page(),
        total,
    }))
}

/// Accept, reject with a reason, complete with outcome and amount (goes into
/// the household's ledger), or revoke (the sender).
#[utoipa::path(post, path = "/api/v1/referrals/{id}/act", params(("id" = i64, Path)), request_body = ReferralAction, responses((status = 200, body = Referral), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn act_on_referral(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(f): Json<ReferralAction>,
) -> Result<Json<Referral>, ApiError> {
    let r = doudi_app::cases::act_on_referral(&state.db, &actor, id, &f).await?;
    Ok(Json(Referral::from(&r)))
}

/// A notice in its posting period, as the village board shows it.
#[derive(Serialize, ToSchema)]
pub struct Notice {
    pub village: String,
    pub title: String,
    /// Masked name of the head of household.
    pub name: String,
    pub household_size: i64,
    pub item: String,
    pub amount_yuan: Option<String>,
    pub reason: String,
    pub start_date: String,
    pub end_date: String,
}

impl From<&NoticeRow> for Notice {
    fn from(n: &NoticeRow) -> Self {
        Notice {
            village: n.village_name.clone(),
            title: n.title.clone(),
            name: n.masked_name.clone(),
            household_size: n.household_size,
            item: n.item_label.clone(),
            amount_yuan: yuan(n.amount_fen),
            reason: n.reason.clone(),
            start_date: n.start_date.clone(),
            end_date: n.end_date.clone(),
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct NoticeFilter {
    /// A village's 12-digit code; every village when empty.
    pub village: Option<String>,
}

/// Public notices in their posting period (no token needed).
#[utoipa::path(get, path = "/api/v1/notices", params(NoticeFilter), responses((status = 200, body = Vec<Notice>)))]
pub async fn public_notices(
    State(state): State<AppState>,
    Query(f): Query<NoticeFilter>,
) -> Result<Json<Vec<Notice>>, ApiError> {
    doudi_app::cases::end_expired_notices(&state.db).await?;
    let village = f.village.as_deref().filter(|v| !v.is_empty());
    let list = cases::public_notices(&state.db, village, &today_cn().to_string(), 500).await?;
    Ok(Json(list.iter().map(Notice::from).collect()))
}
