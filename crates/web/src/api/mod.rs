//! REST API under /api/v1 for departments' systems (machine tokens,
//! `Authorization: Bearer`). The same use cases, permissions and
//! jurisdiction rules as the pages (they are the same `doudi_app`
//! functions); ID numbers and phones are masked; errors are JSON with the
//! field and a Chinese message.
//!
//! Routes and the OpenAPI document come from one declaration ([`router`]):
//! a handler is routed only through `routes!`, which also adds its
//! `#[utoipa::path]` to the document, so a route cannot exist without its
//! entry. The document is snapshot-tested (`docs/openapi.json`).

pub mod cases;
pub mod households;
pub mod monitoring;
pub mod policies;

use std::sync::OnceLock;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "doudi 兜底 API",
        description = "社会救助平台对外接口：家庭档案、申请事项、转介、公示、预警、评估与走访、政策与标准、政策找人、部门数据推送、救助状态查询。所有请求须携带机器令牌（Authorization: Bearer），只能访问令牌所属账号管辖范围内的数据；身份证号、电话均脱敏。出错时返回 JSON：{\"error\": 说明, \"fields\": [{\"field\", \"message\"}]}。"
    ),
    components(schemas(ApiErrorBody, doudi_app::FieldError)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The error body of every refusal.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// What went wrong, in Chinese.
    pub error: String,
    /// The refused fields (empty unless the input was refused).
    pub fields: Vec<doudi_app::FieldError>,
}

/// Paging of every list: `page` from 1, `per_page` 1–500 (default 50).
#[derive(Deserialize, IntoParams, Default, Clone, Copy)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl Paging {
    /// Pages past 1,000,000 are clamped (no list is that long).
    pub fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 1_000_000)
    }
    pub fn per_page(&self) -> i64 {
        self.per_page.unwrap_or(50).clamp(1, 500)
    }
    pub fn offset(&self) -> i64 {
        (self.page() - 1) * self.per_page()
    }
}

/// The one declaration of the API: routes and their documentation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            households::list_households,
            households::create_household
        ))
        .routes(routes!(households::get_household))
        .routes(routes!(households::add_member))
        .routes(routes!(households::get_person))
        .routes(routes!(households::assistance_status))
        .routes(routes!(cases::open_application))
        .routes(routes!(cases::get_application))
        .routes(routes!(cases::get_item))
        .routes(routes!(cases::act))
        .routes(routes!(cases::list_referrals))
        .routes(routes!(cases::act_on_referral))
        .routes(routes!(cases::public_notices))
        .routes(routes!(monitoring::push_feed))
        .routes(routes!(monitoring::list_warnings))
        .routes(routes!(monitoring::get_warning))
        .routes(routes!(monitoring::close_warning))
        .routes(routes!(monitoring::assess))
        .routes(routes!(monitoring::record_visit))
        .routes(routes!(policies::list_policies))
        .routes(routes!(policies::list_standards))
        .routes(routes!(policies::start_run))
        .routes(routes!(policies::get_run))
        .routes(routes!(policies::list_findings))
}

/// The OpenAPI document, built once from [`router`].
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| router().into_openapi())
}

/// The API's routes plus `/api/openapi.json`.
pub fn routes() -> Router<AppState> {
    let (r, _) = router().split_for_parts();
    r.route("/api/openapi.json", get(openapi_json))
}

async fn openapi_json() -> impl IntoResponse {
    Json(openapi().clone())
}
