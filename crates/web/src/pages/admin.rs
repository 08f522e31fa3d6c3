//! Sign-in and account pages, the audit log, and administration of regions and accounts.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use doudi_domain::access::{Action, Role};
use doudi_store::audit::{self, AuditFilter};
use doudi_store::regions::{self, RegionRow};
use doudi_store::users;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{self, Actor};
use crate::error::AppError;
use crate::forms::{FieldError, err};
use crate::render::{render, with_status};
use crate::views::{self, Page, local_time};
use doudi_app::access;

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    username: String,
    next: String,
    error: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    pub next: String,
}

pub async fn login_form(Query(q): Query<LoginQuery>) -> Result<Response, AppError> {
    render(&LoginPage {
        username: String::new(),
        next: q.next,
        error: String::new(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: String,
}

/// Only plain local paths: never redirect to another site after login (`//host`,
/// `/\host` and control characters are all refused).
fn safe_next(next: &str) -> String {
    let plain = next
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-.?=&%".contains(c));
    if plain && next.starts_with('/') && !next.starts_with("//") {
        next.to_string()
    } else {
        "/".into()
    }
}

#[derive(Template)]
#[template(path = "login_notice.html")]
struct LoginNoticePage {
    failures: i64,
    next: String,
}

/// Beijing time of day (and date when not today) for "try again after …".
fn retry_text(at: chrono::DateTime<chrono::Utc>) -> String {
    let cn = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let local = at.with_timezone(&cn);
    let today = chrono::Utc::now().with_timezone(&cn).date_naive();
    let minutes = (at - chrono::Utc::now()).num_minutes().max(0) + 1;
    if local.date_naive() == today {
        format!("{}（约 {minutes} 分钟后）", local.format("%H:%M"))
    } else {
        format!("{}（约 {minutes} 分钟后）", local.format("%m月%d日 %H:%M"))
    }
}

pub async fn login(
    State(state): State<AppState>,
    auth::ClientAddr(client): auth::ClientAddr,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    use doudi_app::accounts::SignIn;
    let username = f.username.trim().to_string();
    let fail = |msg: &str, code: u16| -> Result<Response, AppError> {
        Ok(with_status(
            render(&LoginPage {
                username: username.clone(),
                next: f.next.clone(),
                error: msg.to_string(),
            })?,
            code,
        ))
    };
    if username.is_empty() || f.password.is_empty() {
        return fail("请输入用户名和密码", 422);
    }
    let outcome =
        doudi_app::accounts::sign_in(&state.db, &username, &f.password, &client, &auth::THROTTLE)
            .await?;
    let (user, failures) = match outcome {
        SignIn::Ok {
            user,
            failures_elsewhere,
        } => (user, failures_elsewhere),
        SignIn::Refused => return fail("用户名或密码不正确", 401),
        SignIn::Throttled { retry_at } => {
            let mut resp = fail(
                &format!(
                    "登录失败次数过多，本设备的登录已暂缓，请于 {} 后再试；忘记密码请联系本级管理员重置",
                    retry_text(retry_at)
                ),
                429,
            )?;
            let secs = (retry_at - chrono::Utc::now()).num_seconds().max(1);
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(resp);
        }
    };
    let token = auth::new_secret();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(state.cfg.session_hours))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    users::create_session(&state.db, &auth::secret_hash(&token), user.id, &expires).await?;
    let cookie = auth::session_cookie(
        &token,
        state.cfg.secure_cookies,
        state.cfg.session_hours * 3600,
    );
    let next = safe_next(&f.next);
    if failures > 0 {
        // Tell the owner before going on.
        let page = render(&LoginNoticePage { failures, next })?;
        return Ok(([(header::SET_COOKIE, cookie)], page).into_response());
    }
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

pub async fn logout(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    if let Some(h) = &actor.session_hash {
        users::delete_session(&state.db, h).await?;
    }
    let cookie = auth::session_cookie("", state.cfg.secure_cookies, 0);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

// ---------------------------------------------------------------- password

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    page: Page,
    errors: Vec<FieldError>,
}

pub async fn password_form(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    render(&PasswordPage {
        page: Page::new(&state, &actor, "修改密码", "").await,
        errors: vec![],
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    pub current: String,
    pub new: String,
    pub repeat: String,
}

pub async fn password_change(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    match doudi_app::accounts::change_own_password(&state.db, &actor, &f.current, &f.new, &f.repeat)
        .await
    {
        Ok(()) => {}
        Err(doudi_app::Error::Invalid(errors)) => {
            return Ok(with_status(
                render(&PasswordPage {
                    page: Page::new(&state, &actor, "修改密码", "").await,
                    errors,
                })?,
                422,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // Every session of the account ended with the change; this browser gets a new one.
    let token = auth::new_secret();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(state.cfg.session_hours))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    users::create_session(
        &state.db,
        &auth::secret_hash(&token),
        actor.user.id,
        &expires,
    )
    .await?;
    let cookie = auth::session_cookie(
        &token,
        state.cfg.secure_cookies,
        state.cfg.session_hours * 3600,
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/?msg=password"),
    )
        .into_response())
}

// ---------------------------------------------------------------- audit

pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub who: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// The household (id, "head户（village）") the entry is about.
    pub household: Option<(i64, String)>,
    pub changes: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    rows: Vec<AuditView>,
    q: AuditQuery,
    next: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct AuditQuery {
    pub action: String,
    pub username: String,
    pub household: String,
    pub before: Option<i64>,
}

fn action_label(a: &str) -> &str {
    match a {
        "create" => "新建",
        "update" => "修改",
        "view" => "查看档案",
        "reveal_id" => "查看完整身份证号",
        "denied" => "越权访问被拒",
        "login" => "登录",
        "login_failed" => "登录失败",
        "login_throttled" => "登录被暂缓",
        "password" => "修改密码",
        "move_member" => "迁移成员",
        "split" => "分户",
        "death" => "登记死亡",
        "import" => "批量导入",
        "export" => "导出",
        "add_income" | "add_asset" | "add_category" => "新增",
        "remove_income" | "remove_asset" => "删除",
        "end_category" => "终止类别",
        "admin" => "系统管理",
        other => other,
    }
}

pub async fn audit(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ReadAudit).await?;
    let filter = AuditFilter {
        region_prefix: actor.region.as_str().to_string(),
        household_id: q.household.trim().parse().ok(),
        action: (!q.action.is_empty()).then(|| q.action.clone()),
        username: (!q.username.trim().is_empty()).then(|| q.username.trim().to_string()),
        before_id: q.before,
        writes_only: false,
        limit: 50,
    };
    let list = audit::list(&state.db.pool, &filter).await?;
    let next = (list.len() == 50).then(|| {
        let last = list.last().map(|a| a.id).unwrap_or(0);
        format!(
            "?action={}&username={}&household={}&before={last}",
            auth::url_encode(&q.action),
            auth::url_encode(&q.username),
            auth::url_encode(&q.household)
        )
    });
    // People by name, households by head and village, regions by name:
    // looked up once per page for the entries shown.
    let scope = actor.scope();
    let region_names: std::collections::HashMap<String, String> =
        doudi_store::regions::subtree(&state.db, actor.region.as_str())
            .await?
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect();
    let mut people: std::collections::HashMap<String, String> = Default::default();
    let mut households: std::collections::HashMap<i64, String> = Default::default();
    for a in &list {
        if !people.contains_key(&a.username) {
            let name = doudi_store::users::by_username(&state.db, &a.username)
                .await?
                .map_or_else(|| a.username.clone(), |u| u.display_name);
            people.insert(a.username.clone(), name);
        }
        if let Some(h) = a.household_id
            && !households.contains_key(&h)
        {
            let label = match doudi_store::households::get(&state.db, &scope, h).await? {
                doudi_store::households::Scoped::Found(row) => {
                    format!("{}户（{}）", row.head_name, row.village_name)
                }
                _ => "本辖区外的家庭".to_string(),
            };
            households.insert(h, label);
        }
    }
    let regions = |c: &str| region_names.get(c).cloned();
    let rows = list
        .into_iter()
        .map(|a| {
            let changes = crate::audit_view::describe_changes(
                a.before_json.as_deref(),
                a.after_json.as_deref(),
                &regions,
            )
            .join("\n");
            AuditView {
                id: a.id,
                at: local_time(&a.at),
                who: people.get(&a.username).cloned().unwrap_or_default(),
                role: views::label::<Role>(&a.role),
                action: action_label(&a.action).to_string(),
                target: crate::audit_view::entity_label(&a.entity).to_string(),
                detail: a.detail,
                household: a
                    .household_id
                    .map(|h| (h, households.get(&h).cloned().unwrap_or_default())),
                changes,
            }
        })
        .collect();
    render(&AuditPage {
        page: Page::new(&state, &actor, "审计日志", "audit").await,
        rows,
        q,
        next,
    })
}

// ---------------------------------------------------------------- regions

#[derive(Template)]
#[template(path = "regions.html")]
struct RegionsPage {
    page: Page,
    /// (region, indent, office phone).
    rows: Vec<(RegionRow, String, String)>,
    parents: Vec<(String, String)>,
    errors: Vec<FieldError>,
    form: RegionForm,
    /// The search typed (name or code).
    q: String,
    pager: crate::views::Pager,
}

/// The region list's search and page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegionsQuery {
    pub msg: Option<String>,
    pub q: String,
    pub page: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RegionForm {
    pub parent: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: String,
    /// Office phone (towns: the social assistance window).
    pub phone: String,
}

async fn regions_page(
    state: &AppState,
    actor: &Actor,
    form: RegionForm,
    errors: Vec<FieldError>,
    msg: Option<&str>,
    search: &RegionsQuery,
) -> Result<Response, AppError> {
    let all = regions::subtree(&state.db, actor.region.as_str()).await?;
    let q = search.q.trim().to_string();
    let parents = all
        .iter()
        .filter(|r| r.level != "village")
        .map(|r| (r.code.clone(), r.name.clone()))
        .collect();
    // A district has thousands of villages: the list is searched (name or
    // code) and paged.
    let matching: Vec<RegionRow> = all
        .into_iter()
        .filter(|r| q.is_empty() || r.name.contains(q.as_str()) || r.code.starts_with(q.as_str()))
        .collect();
    let per_page = 50;
    let page_no = search.page.unwrap_or(1).max(1);
    let pager = crate::views::Pager::new(
        &format!("q={}", crate::auth::url_encode(&q)),
        page_no,
        per_page,
        matching.len() as i64,
        1_000_000,
    )
    .with_unit("个");
    let phones = regions::phones(&state.db).await?;
    let rows = matching
        .into_iter()
        .skip(((page_no - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|r| {
            let indent = match r.level.as_str() {
                "town" => "　　",
                "village" => "　　　　",
                _ => "",
            };
            let phone = phones.get(&r.code).cloned().unwrap_or_default();
            (r, indent.to_string(), phone)
        })
        .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&RegionsPage {
            page: Page::new(state, actor, "区划管理", "regions")
                .await
                .with_notice(msg),
            rows,
            parents,
            errors,
            form,
            q,
            pager,
        })?,
        status,
    ))
}

pub async fn regions(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<RegionsQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageRegions).await?;
    regions_page(
        &state,
        &actor,
        RegionForm::default(),
        vec![],
        q.msg.as_deref(),
        &q,
    )
    .await
}

pub async fn region_create(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<RegionForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageRegions).await?;
    let r = doudi_app::regions::NewRegion {
        parent: f.parent.clone(),
        code: f.code.clone(),
        name: f.name.clone(),
        kind: f.kind.clone(),
    };
    match doudi_app::regions::create(&state.db, &actor, &r).await {
        Ok(_) => Ok(Redirect::to("/admin/regions?msg=created").into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            regions_page(&state, &actor, f, errors, None, &RegionsQuery::default()).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn region_update(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    Form(f): Form<RegionForm>,
) -> Result<Response, AppError> {
    doudi_app::regions::update(&state.db, &actor, &code, &f.name, f.active == "1", &f.phone)
        .await?;
    Ok(Redirect::to("/admin/regions?msg=saved").into_response())
}

// ---------------------------------------------------------------- users

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    page: Page,
    rows: Vec<(users::UserRow, String, String)>,
    q: String,
    pager: crate::views::Pager,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UsersQuery {
    pub msg: Option<String>,
    /// User name, person's name, department or region name.
    pub q: String,
    pub page: Option<i64>,
}

pub async fn users(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<UsersQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageUsers).await?;
    let all = regions::subtree(&state.db, actor.region.as_str()).await?;
    let names: std::collections::HashMap<_, _> =
        all.into_iter().map(|r| (r.code, r.name)).collect();
    let needle = q.q.trim().to_string();
    let matching: Vec<_> = users::list(&state.db, actor.region.as_str())
        .await?
        .into_iter()
        .map(|u| {
            let role = views::label::<Role>(&u.role);
            let region = names.get(&u.region_code).cloned().unwrap_or_default();
            (u, role, region)
        })
        .filter(|(u, role, region)| {
            needle.is_empty()
                || u.username.contains(needle.as_str())
                || u.display_name.contains(needle.as_str())
                || role.contains(needle.as_str())
                || region.contains(needle.as_str())
                || u.department
                    .as_deref()
                    .is_some_and(|d| d.contains(needle.as_str()))
        })
        .collect();
    let per_page = 50;
    let page_no = q.page.unwrap_or(1).max(1);
    let pager = crate::views::Pager::new(
        &format!("q={}", crate::auth::url_encode(&needle)),
        page_no,
        per_page,
        matching.len() as i64,
        1_000_000,
    )
    .with_unit("个");
    let rows = matching
        .into_iter()
        .skip(((page_no - 1) * per_page) as usize)
        .take(per_page as usize)
        .collect();
    render(&UsersPage {
        page: Page::new(&state, &actor, "账号管理", "users")
            .await
            .with_notice(q.msg.as_deref()),
        rows,
        q: needle,
        pager,
    })
}

#[derive(Template)]
#[template(path = "user_form.html")]
struct UserFormPage {
    page: Page,
    action: String,
    creating: bool,
    f: UserForm,
    roles: Vec<(String, String, bool)>,
    regions: Vec<(String, String, bool)>,
    /// The administrator's list of departments: (name, selected).
    departments: Vec<(String, bool)>,
    errors: Vec<FieldError>,
    tokens: Vec<users::TokenRow>,
    new_token: String,
    user_id: i64,
}

pub use doudi_app::accounts::AccountInput as UserForm;

async fn user_form_page(
    state: &AppState,
    actor: &Actor,
    action: String,
    creating: bool,
    f: UserForm,
    errors: Vec<FieldError>,
    user_id: i64,
    new_token: String,
) -> Result<Response, AppError> {
    let all = regions::subtree(&state.db, actor.region.as_str()).await?;
    let regions = all
        .iter()
        .map(|r| {
            (
                r.code.clone(),
                format!("{}（{}）", r.name, r.code),
                r.code == f.region_code,
            )
        })
        .collect();
    let tokens = if creating {
        vec![]
    } else {
        users::list_tokens(&state.db, user_id).await?
    };
    let departments = doudi_app::departments::active_names(&state.db)
        .await?
        .into_iter()
        .map(|d| {
            let selected = d == f.department.trim();
            (d, selected)
        })
        .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    let page = Page::new(
        state,
        actor,
        if creating {
            "新建账号".to_string()
        } else {
            format!("账号：{}", f.username)
        },
        "users",
    )
    .await;
    Ok(with_status(
        render(&UserFormPage {
            page,
            action,
            creating,
            roles: views::options::<Role>(&f.role),
            regions,
            departments,
            f,
            errors,
            tokens,
            new_token,
            user_id,
        })?,
        status,
    ))
}

pub async fn user_new_form(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageUsers).await?;
    let f = UserForm {
        active: "1".into(),
        ..Default::default()
    };
    user_form_page(
        &state,
        &actor,
        "/admin/users/new".into(),
        true,
        f,
        vec![],
        0,
        String::new(),
    )
    .await
}

pub async fn user_create(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    let errors = match doudi_app::accounts::create_account(&state.db, &actor, &f).await {
        Ok(id) => {
            return Ok(Redirect::to(&format!("/admin/users/{id}?msg=created")).into_response());
        }
        Err(doudi_app::Error::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let mut f = f;
    f.password.clear();
    user_form_page(
        &state,
        &actor,
        "/admin/users/new".into(),
        true,
        f,
        errors,
        0,
        String::new(),
    )
    .await
}

fn form_of(u: &users::UserRow) -> UserForm {
    UserForm {
        version: u.version.to_string(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role.clone(),
        region_code: u.region_code.clone(),
        department: u.department.clone().unwrap_or_default(),
        phone: u.phone.clone().unwrap_or_default(),
        password: String::new(),
        machine: if u.is_machine {
            "1".into()
        } else {
            String::new()
        },
        active: if u.active { "1".into() } else { String::new() },
    }
}

pub async fn user_edit_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let u = doudi_app::access::user(&state.db, &actor, id).await?;
    user_form_page(
        &state,
        &actor,
        format!("/admin/users/{id}"),
        false,
        form_of(&u),
        vec![],
        id,
        String::new(),
    )
    .await
}

pub async fn user_edit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    let u = doudi_app::access::user(&state.db, &actor, id).await?;
    let mut f = f;
    f.username = u.username.clone();
    let errors = match doudi_app::accounts::update_account(&state.db, &actor, id, &f).await {
        Ok(()) => return Ok(Redirect::to("/admin/users?msg=saved").into_response()),
        Err(doudi_app::Error::Invalid(errors)) => errors,
        Err(doudi_app::Error::Conflict(m)) => vec![err("display_name", m)],
        Err(e) => return Err(e.into()),
    };
    user_form_page(
        &state,
        &actor,
        format!("/admin/users/{id}"),
        false,
        f,
        errors,
        id,
        String::new(),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    pub password: String,
}

pub async fn user_reset_password(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<ResetForm>,
) -> Result<Response, AppError> {
    match doudi_app::accounts::reset_password(&state.db, &actor, id, &f.password).await {
        Ok(()) => Ok(Redirect::to("/admin/users?msg=saved").into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            let u = doudi_app::access::user(&state.db, &actor, id).await?;
            user_form_page(
                &state,
                &actor,
                format!("/admin/users/{id}"),
                false,
                form_of(&u),
                errors,
                id,
                String::new(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    pub name: String,
}

/// Creates an API token and shows it once; only its hash is stored.
pub async fn token_create(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<TokenForm>,
) -> Result<Response, AppError> {
    let u = doudi_app::access::user(&state.db, &actor, id).await?;
    let token = match doudi_app::accounts::create_token(&state.db, &actor, id, &f.name).await {
        Ok(t) => t,
        Err(doudi_app::Error::Invalid(fe)) => {
            return Err(AppError::bad_request(
                fe.into_iter()
                    .map(|e| e.message)
                    .collect::<Vec<_>>()
                    .join("；"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    user_form_page(
        &state,
        &actor,
        format!("/admin/users/{id}"),
        false,
        form_of(&u),
        vec![],
        id,
        token,
    )
    .await
}

pub async fn token_revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, tid)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    doudi_app::accounts::revoke_token(&state.db, &actor, id, tid).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?msg=token")).into_response())
}

// ---------------------------------------------------------------- departments

#[derive(Template)]
#[template(path = "departments.html")]
struct DepartmentsPage {
    page: Page,
    /// (department, type label, feeds sent, policies run).
    rows: Vec<(
        doudi_store::departments::DepartmentRow,
        String,
        String,
        String,
    )>,
    /// Set when editing one department.
    editing: Option<doudi_store::departments::DepartmentRow>,
    /// Every feed kind: (code, label, checked).
    feeds: Vec<(&'static str, &'static str, bool)>,
    form: doudi_app::departments::DepartmentInput,
    errors: Vec<FieldError>,
}

/// The form's fields, read from the pairs (feed kinds are one checkbox each).
fn department_input(pairs: &[(String, String)]) -> doudi_app::departments::DepartmentInput {
    let mut f = doudi_app::departments::DepartmentInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "version" => f.version = v.clone(),
            "code" => f.code = v.clone(),
            "name" => f.name = v.clone(),
            "kind" => f.kind = v.clone(),
            "phone" => f.phone = v.clone(),
            "active" => f.active = v.clone(),
            "feed" => f.feed_kinds.push(v.clone()),
            _ => {}
        }
    }
    f
}

async fn departments_page(
    state: &AppState,
    actor: &Actor,
    editing: Option<doudi_store::departments::DepartmentRow>,
    form: doudi_app::departments::DepartmentInput,
    errors: Vec<FieldError>,
    msg: Option<&str>,
) -> Result<Response, AppError> {
    let all = doudi_app::departments::list(&state.db, actor).await?;
    let policies = doudi_store::policies::policies(&state.db).await?;
    let rows = all
        .into_iter()
        .map(|d| {
            let feeds = d
                .feed_kinds
                .iter()
                .filter_map(|k| doudi_sheets::FeedKind::from_code(k))
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join("、");
            let runs = policies
                .iter()
                .filter(|p| {
                    (p.department == d.name || p.department == d.code) && p.status != "retired"
                })
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>();
            let runs = match runs.len() {
                0 => String::new(),
                n if n <= 3 => runs.join("、"),
                n => format!("{} 等 {n} 项", runs[..3].join("、")),
            };
            let kind = doudi_app::departments::kind_label(&d.kind).to_string();
            (d, kind, feeds, runs)
        })
        .collect();
    let feeds = doudi_sheets::FeedKind::all()
        .iter()
        .map(|k| {
            (
                k.code(),
                k.label(),
                form.feed_kinds.iter().any(|f| f == k.code()),
            )
        })
        .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&DepartmentsPage {
            page: Page::new(state, actor, "部门与机构", "departments")
                .await
                .with_notice(msg),
            rows,
            editing,
            feeds,
            form,
            errors,
        })?,
        status,
    ))
}

pub async fn departments(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<crate::render::ShowQuery>,
) -> Result<Response, AppError> {
    let form = doudi_app::departments::DepartmentInput {
        active: "1".into(),
        ..Default::default()
    };
    departments_page(&state, &actor, None, form, vec![], q.msg.as_deref()).await
}

pub async fn department_create(
    State(state): State<AppState>,
    actor: Actor,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let f = department_input(&pairs);
    match doudi_app::departments::create(&state.db, &actor, &f).await {
        Ok(_) => Ok(Redirect::to("/admin/departments?msg=department_created").into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            departments_page(&state, &actor, None, f, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn department_edit_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let d = doudi_app::departments::get(&state.db, &actor, id).await?;
    let form = doudi_app::departments::DepartmentInput {
        version: d.version.to_string(),
        code: d.code.clone(),
        name: d.name.clone(),
        kind: d.kind.clone(),
        phone: d.phone.clone(),
        feed_kinds: d.feed_kinds.clone(),
        active: if d.active { "1".into() } else { String::new() },
    };
    departments_page(&state, &actor, Some(d), form, vec![], None).await
}

pub async fn department_edit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let f = department_input(&pairs);
    match doudi_app::departments::update(&state.db, &actor, id, &f).await {
        Ok(()) => Ok(Redirect::to("/admin/departments?msg=saved").into_response()),
        Err(e @ (doudi_app::Error::Invalid(_) | doudi_app::Error::Conflict(_))) => {
            let d = doudi_app::departments::get(&state.db, &actor, id).await?;
            let errors = match e {
                doudi_app::Error::Invalid(fields) => fields,
                other => vec![FieldError {
                    field: "version".into(),
                    message: other.to_string(),
                }],
            };
            let mut f = f;
            f.version = d.version.to_string();
            f.code = d.code.clone();
            f.name = d.name.clone();
            departments_page(&state, &actor, Some(d), f, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}
