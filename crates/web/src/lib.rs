//! The web layer: axum routes, server-rendered pages (askama, Simplified Chinese),
//! the REST API and its OpenAPI document. Handlers stay thin: parse the request, check
//! the actor's permission and scope, call the store, render.

pub mod api;
pub mod audit_view;
pub mod auth;
pub mod error;
pub mod forms;
pub mod pages;
pub mod render;
pub mod views;

use pages::{admin as ui_admin, cases, households as ui_households, imports, monitoring, policies};

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use doudi_store::Db;

#[derive(Clone, Debug)]
pub struct Config {
    /// Mark the session cookie `Secure` (set when served behind HTTPS).
    pub secure_cookies: bool,
    pub session_hours: i64,
    /// Largest accepted upload (imports, attachments).
    pub max_upload_bytes: usize,
    /// Served behind a reverse proxy: the client address for login throttling is the last
    /// entry of `X-Forwarded-For` (the one the proxy added). Otherwise that header is
    /// ignored and the peer address is used. Default from `DOUDI_BEHIND_PROXY=1`.
    pub behind_proxy: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            session_hours: 12,
            max_upload_bytes: 50 * 1024 * 1024,
            behind_proxy: std::env::var("DOUDI_BEHIND_PROXY").is_ok_and(|v| v == "1"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub progress: doudi_app::imports::ProgressMap,
    /// Prepared registries for rule previews, by jurisdiction code.
    pub previews: doudi_app::policies::Previews,
    /// Names of the signed-in users' regions for the page header.
    pub region_names: Arc<views::RegionNames>,
}

impl AppState {
    pub fn new(db: Db, cfg: Config) -> AppState {
        AppState {
            db,
            cfg: Arc::new(cfg),
            progress: Default::default(),
            previews: Default::default(),
            region_names: Default::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let limit = state.cfg.max_upload_bytes;
    Router::new()
        .route("/", get(ui_households::dashboard))
        .route("/login", get(ui_admin::login_form).post(ui_admin::login))
        .route("/logout", post(ui_admin::logout))
        .route(
            "/account/password",
            get(ui_admin::password_form).post(ui_admin::password_change),
        )
        .route("/households", get(ui_households::list))
        .route("/households/export.xlsx", get(ui_households::export))
        .route(
            "/households/new",
            get(ui_households::new_form).post(ui_households::create),
        )
        .route("/households/{id}", get(ui_households::show))
        .route("/households/{id}/reveal", post(ui_households::reveal))
        .route(
            "/households/{id}/edit",
            get(ui_households::edit_form).post(ui_households::edit),
        )
        .route(
            "/households/{id}/members/new",
            get(ui_households::member_new_form).post(ui_households::member_create),
        )
        .route(
            "/households/{id}/split",
            get(ui_households::split_form).post(ui_households::split),
        )
        .route("/households/{id}/items", post(ui_households::item_change))
        .route(
            "/households/{id}/items/confirm",
            get(ui_households::item_confirm),
        )
        .route(
            "/persons/{id}/edit",
            get(ui_households::member_edit_form).post(ui_households::member_edit),
        )
        .route(
            "/persons/{id}/move",
            get(ui_households::move_form).post(ui_households::move_member),
        )
        .route(
            "/persons/{id}/death",
            get(ui_households::death_form).post(ui_households::death),
        )
        .route(
            "/households/{id}/apply",
            get(cases::apply_form).post(cases::apply),
        )
        .route("/applications/{id}", get(cases::application))
        .route("/attachments/{id}", get(cases::attachment))
        .route("/items/{id}", get(cases::item))
        .route("/items/{id}/act", post(cases::act))
        .route("/items/{id}/refer", post(cases::refer))
        .route("/items/{id}/conference", post(cases::conference))
        .route("/inbox", get(cases::inbox))
        .route("/workflows", get(cases::workflows))
        .route("/reports/cases", get(cases::report))
        .route("/reports/cases.xlsx", get(cases::report_xlsx))
        .route(
            "/admin/calendar",
            get(cases::calendar_page).post(cases::calendar_upload),
        )
        .route("/admin/calendar/form", post(cases::calendar_form))
        .route("/referrals/{id}", get(cases::referral))
        .route("/referrals/{id}/act", post(cases::referral_act))
        .route("/policies", get(policies::list))
        .route(
            "/policies/new",
            get(policies::new_form).post(policies::save_new),
        )
        .route("/policies/{id}", get(policies::show).post(policies::save))
        .route(
            "/standards",
            get(policies::standards_list).post(policies::standards_add),
        )
        .route(
            "/finder",
            get(policies::finder).post(policies::finder_start),
        )
        .route("/finder/{id}", get(policies::finder_run))
        .route("/finder/{id}/findings.xlsx", get(policies::finder_xlsx))
        .route("/findings/{id}/lead", post(policies::finding_lead))
        .route(
            "/finder/{id}/leads/confirm",
            get(policies::run_leads_confirm),
        )
        .route("/finder/{id}/leads", post(policies::run_leads))
        .route("/leads", get(policies::leads))
        .route("/leads/{id}/close", post(policies::lead_close))
        .route(
            "/simulate",
            get(policies::simulate_form).post(policies::simulate_run),
        )
        .route(
            "/feeds",
            get(monitoring::feeds_index).post(monitoring::feed_upload),
        )
        .route("/feeds/template/{file}", get(monitoring::feed_template))
        .route("/feeds/batches/{id}", get(monitoring::feed_batch))
        .route(
            "/feeds/batches/{id}/report.xlsx",
            get(monitoring::feed_batch_report),
        )
        .route("/warning-rules", get(monitoring::rules_list))
        .route(
            "/warning-rules/new",
            get(monitoring::rule_new).post(monitoring::rule_save_new),
        )
        .route(
            "/warning-rules/{id}",
            get(monitoring::rule_show).post(monitoring::rule_save),
        )
        .route(
            "/sweeps",
            get(monitoring::sweeps).post(monitoring::sweep_now),
        )
        .route("/sweeps/{id}", get(monitoring::sweep_show))
        .route("/warnings", get(monitoring::warnings))
        .route("/warnings/{id}", get(monitoring::warning))
        .route("/warnings/{id}/close", post(monitoring::warning_close))
        .route(
            "/households/{id}/monitoring",
            get(monitoring::household_monitoring),
        )
        .route("/households/{id}/assessment", post(monitoring::assess))
        .route("/households/{id}/visits", post(monitoring::add_visit))
        .route("/households/{id}/helpers", post(monitoring::add_helper))
        .route("/monitoring", get(monitoring::dashboard))
        .route("/monitoring/worklist", get(monitoring::worklist))
        .route(
            "/monitoring/worklist/assess",
            post(monitoring::worklist_assess),
        )
        .route("/public/policies", get(policies::public_policies))
        .route("/public/self-check", get(policies::public_self_check))
        .route("/public/notices", get(cases::public_notices))
        .route("/public/notices/{file}", get(cases::notice_pdf))
        .route("/items/{id}/letter.pdf", get(cases::letter_pdf))
        .route("/imports", get(imports::index).post(imports::upload))
        .route("/imports/template.xlsx", get(imports::template_xlsx))
        .route("/imports/template.csv", get(imports::template_csv))
        .route("/imports/{id}", get(imports::show))
        .route("/imports/{id}/report.xlsx", get(imports::report_xlsx))
        .route("/audit", get(ui_admin::audit))
        .route(
            "/admin/regions",
            get(ui_admin::regions).post(ui_admin::region_create),
        )
        .route("/admin/regions/{code}", post(ui_admin::region_update))
        .route(
            "/admin/departments",
            get(ui_admin::departments).post(ui_admin::department_create),
        )
        .route(
            "/admin/departments/{id}",
            get(ui_admin::department_edit_form).post(ui_admin::department_edit),
        )
        .route("/admin/users", get(ui_admin::users))
        .route(
            "/admin/users/new",
            get(ui_admin::user_new_form).post(ui_admin::user_create),
        )
        .route(
            "/admin/users/{id}",
            get(ui_admin::user_edit_form).post(ui_admin::user_edit),
        )
        .route(
            "/admin/users/{id}/password",
            post(ui_admin::user_reset_password),
        )
        .route("/admin/users/{id}/tokens", post(ui_admin::token_create))
        .route(
            "/admin/users/{id}/tokens/{tid}/revoke",
            post(ui_admin::token_revoke),
        )
        .merge(api::routes())
        .route("/static/app.css", get(stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::chinese_refusals,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers on every response: no MIME sniffing, never inside a frame; and
/// `Cache-Control: no-store` on everything but the stylesheet and the public pages, so
/// that no household page, export or API answer stays in a browser or proxy cache.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    let cacheable = path.starts_with("/static/") || path.starts_with("/public/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    if !cacheable {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
}

/// Serves until Ctrl-C, with the scheduled jobs ([`doudi_app::jobs`]) running beside.
pub async fn serve(state: AppState, listen: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    serve_on(state, listener).await
}

/// [`serve`] on a listener the caller bound (the load bench binds port 0).
pub async fn serve_on(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    doudi_app::jobs::spawn_all(&state.db);
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
