//! API: household files and members.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use doudi_domain::access::Action;
use doudi_domain::household::HouseholdRecord;
use doudi_store::households::{self as hh, HouseholdRow, PersonRow, SearchFilter};
use doudi_store::today_cn;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, AppError};
use crate::forms::{FieldError, HouseholdForm, MemberForm};
use doudi_app::households::{AssistanceQuery, AssistanceStatus};
use doudi_app::{access, audit};

#[derive(Serialize, ToSchema)]
pub struct HouseholdSummary {
    pub id: i64,
    pub village_code: String,
    pub village_name: String,
    pub head_name: String,
    pub size: i64,
    /// Active category codes (dibao, tekun, dibian, rigid, monitor, other).
    pub categories: Vec<String>,
    pub registration_address: String,
    pub residence_address: String,
    /// Masked phone.
    pub phone: Option<String>,
    pub status: String,
    pub version: i64,
}

impl From<HouseholdRow> for HouseholdSummary {
    fn from(h: HouseholdRow) -> Self {
        HouseholdSummary {
            id: h.id,
            village_code: h.village_code,
            village_name: h.village_name,
            head_name: h.head_name,
            size: h.size,
            categories: h
                .categories
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            registration_address: h.registration_address,
            residence_address: h.residence_address,
            phone: h.phone.as_deref().map(doudi_domain::mask::mask_phone),
            status: h.status,
            version: h.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    pub id: i64,
    pub household_id: i64,
    pub name: String,
    pub relation: String,
    /// Masked: first 6 and last 4 characters.
    pub id_number: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: Option<String>,
    pub disability_type: Option<String>,
    pub disability_grade: Option<i64>,
    pub illnesses: String,
    /// Bitmask of the six daily-living items the person cannot do.
    pub self_care_unable: i64,
    pub employment: String,
    pub schooling: String,
    pub status: String,
    pub death_date: Option<String>,
    pub version: i64,
}

impl From<PersonRow> for Member {
    fn from(p: PersonRow) -> Self {
        Member {
            id: p.id,
            household_id: p.household_id,
            name: p.name,
            relation: p.relation,
            id_number: crate::views::mask_id(&p.id_number),
            sex: p.sex,
            birth_date: p.birth_date,
            phone: p.phone.as_deref().map(doudi_domain::mask::mask_phone),
            disability_type: p.disability_type,
            disability_grade: p.disability_grade,
            illnesses: p.illnesses,
            self_care_unable: p.self_care_unable,
            employment: p.employment,
            schooling: p.schooling,
            status: p.status,
            death_date: p.death_date,
            version: p.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdDetail {
    pub household: HouseholdSummary,
    pub members: Vec<Member>,
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdPage {
    pub items: Vec<HouseholdSummary>,
    pub page: i64,
    pub per_page: i64,
    /// Matching households, counted up to 10,000.
    pub total: i64,
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
pub struct ListParams {
    /// Name prefix, full ID number, last 4–8 digits of an ID, or a mobile number.
    pub q: Option<String>,
    pub village: Option<String>,
    pub category: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ValidationErrors {
    pub error: String,
    pub fields: Vec<FieldError>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateHousehold {
    pub household: HouseholdForm,
    /// Exactly one member with relation "head".
    pub members: Vec<MemberForm>,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

fn invalid(fields: Vec<FieldError>) -> axum::response::Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ValidationErrors {
            error: "提交的数据未通过校验".into(),
            fields,
        }),
    )
        .into_response()
}

/// Search households in the caller's jurisdiction.
#[utoipa::path(get, path = "/api/v1/households", params(ListParams), responses((status = 200, body = HouseholdPage), (status = 401), (status = 403)), security(("bearer" = [])))]
pub async fn list_households(
    State(state): State<AppState>,
    actor: Actor,
    Query(p): Query<ListParams>,
) -> Result<Json<HouseholdPage>, ApiError> {
    let scope = access::household_scope(&state.db, &actor).await?;
    if let Some(v) = p.village.as_deref().filter(|v| !v.is_empty()) {
        if !scope.covers(v) {
            audit::denied(&state.db, &actor, "region", 0, v).await;
            return Err(AppError::forbidden().into());
        }
    }
    let per_page = p.per_page.unwrap_or(50).clamp(1, 500);
    let page = p.page.unwrap_or(1).max(1);
    let f = SearchFilter {
        q: p.q,
        village: p.village,
        category: p.category,
        page,
        per_page,
        ..Default::default()
    };
    let (rows, total) = hh::search(&state.db, &scope, &f, 10_000).await?;
    Ok(Json(HouseholdPage {
        items: rows.into_iter().map(Into::into).collect(),
        page,
        per_page,
        total,
    }))
}

/// One household file (members with masked ID numbers). The read is audited.
#[utoipa::path(get, path = "/api/v1/households/{id}", params(("id" = i64, Path)), responses((status = 200, body = HouseholdDetail), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_household(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<HouseholdDetail>, ApiError> {
    let file = doudi_app::households::open_file(&state.db, &actor, id, "API 查看家庭档案").await?;
    Ok(Json(HouseholdDetail {
        household: file.household.into(),
        members: file.members.into_iter().map(Into::into).collect(),
    }))
}

/// One person (masked). The read is audited.
#[utoipa::path(get, path = "/api/v1/persons/{id}", params(("id" = i64, Path)), responses((status = 200, body = Member), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_person(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<Member>, ApiError> {
    let (_, p) = access::person(&state.db, &actor, id).await?;
    audit::event(
        &state.db,
        &actor,
        "view",
        "person",
        id.to_string(),
        Some(p.household_id),
        &p.village_code,
        "API 查看成员".into(),
    )
    .await?;
    Ok(Json(p.into()))
}

/// Create a household with its members.
#[utoipa::path(post, path = "/api/v1/households", request_body = CreateHousehold, responses((status = 201, body = Created), (status = 422, body = ValidationErrors), (status = 403)), security(("bearer" = [])))]
pub async fn create_household(
    State(state): State<AppState>,
    actor: Actor,
    Json(req): Json<CreateHousehold>,
) -> Result<axum::response::Response, ApiError> {
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let today = today_cn();
    let mut errors = vec![];
    let fields = req.household.parse().map_err(|e| errors.extend(e)).ok();
    let mut members = vec![];
    for (i, m) in req.members.iter().enumerate() {
        match m.parse(today) {
            Ok(r) => members.push(r),
            Err(e) => errors.extend(e.into_iter().map(|fe| FieldError {
                field: format!("members[{i}].{}", fe.field),
                message: fe.message,
            })),
        }
    }
    if !errors.is_empty() {
        return Ok(invalid(errors));
    }
    let f = fields.expect("parsed");
    // The head goes first (the store expects members[0] to be the head);
    // `order[k]` is the request position of stored member k, for refusals.
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| doudi_domain::Coded::code(&members[i].relation) != "head");
    let mut slots: Vec<Option<_>> = members.into_iter().map(Some).collect();
    let members = order
        .iter()
        .map(|&i| slots[i].take().expect("each once"))
        .collect();
    let rec = HouseholdRecord {
        village_code: f.village_code,
        registration_address: f.registration_address,
        residence_address: f.residence_address,
        residence_village_code: f.residence_village_code,
        phone: f.phone,
        note: f.note,
        members,
        incomes: vec![],
        assets: vec![],
        categories: vec![],
    };
    let id = match doudi_app::households::create(&state.db, &actor, &rec, today).await {
        Ok(id) => id,
        Err(doudi_app::Error::Invalid(fields)) => {
            let renumbered = fields
                .into_iter()
                .map(|fe| {
                    let field = (0..order.len())
                        .find_map(|k| {
                            fe.field
                                .strip_prefix(&format!("members[{k}]."))
                                .map(|rest| format!("members[{}].{rest}", order[k]))
                        })
                        .unwrap_or(fe.field);
                    FieldError {
                        field,
                        message: fe.message,
                    }
                })
                .collect();
            return Ok(invalid(renumbered));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(Created { id })).into_response())
}

/// Add a member; `version` in the body must match the household's current version.
#[utoipa::path(post, path = "/api/v1/households/{id}/members", params(("id" = i64, Path)), request_body = MemberForm, responses((status = 201, body = Created), (status = 403, body = super::ApiErrorBody), (status = 409, body = super::ApiErrorBody), (status = 422, body = ValidationErrors)), security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(m): Json<MemberForm>,
) -> Result<axum::response::Response, ApiError> {
    access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = crate::forms::parse_version(&m.version)?;
    let rec = match m.parse(today_cn()) {
        Ok(r) => r,
        Err(e) => return Ok(invalid(e)),
    };
    let pid =
        doudi_app::households::add_member(&state.db, &actor, id, version, &rec, today_cn()).await?;
    Ok((StatusCode::CREATED, Json(Created { id: pid })).into_response())
}

/// Assistance status of one person by ID number, within the caller's
/// jurisdiction: categories and ledger only. A stated purpose is required;
/// who asked, why and what was answered is audited.
#[utoipa::path(post, path = "/api/v1/assistance-status", request_body = AssistanceQuery, responses((status = 200, body = AssistanceStatus), (status = 403, body = super::ApiErrorBody), (status = 422, body = super::ApiErrorBody)), security(("bearer" = [])))]
pub async fn assistance_status(
    State(state): State<AppState>,
    actor: Actor,
    Json(q): Json<AssistanceQuery>,
) -> Result<Json<AssistanceStatus>, ApiError> {
    Ok(Json(
        doudi_app::households::assistance_status(&state.db, &actor, &q).await?,
    ))
}
