//! Sign-in and account pages, the audit log, and administration of regions and accounts.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use doudi_domain::access::{Action, Role};
use doudi_domain::{Coded, RegionCode, RegionLevel};
use doudi_store::audit::{self, AuditEntry, AuditFilter};
use doudi_store::regions::{self, RegionRow};
use doudi_store::users::{self, NewUser};
use doudi_store::{StoreError, now_ts};
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
    let mut errors = vec![];
    if !auth::verify_password(&actor.user.password_hash, &f.current) {
        errors.push(err("current", "当前密码不正确"));
    }
    if let Err(m) = auth::check_password_strength(&f.new) {
        errors.push(err("new", m));
    }
    if f.new != f.repeat {
        errors.push(err("repeat", "两次输入的新密码不一致"));
    }
    if !errors.is_empty() {
        return Ok(with_status(
            render(&PasswordPage {
                page: Page::new(&state, &actor, "修改密码", "").await,
                errors,
            })?,
            422,
        ));
    }
    let mut tx = state.db.begin_write().await?;
    users::set_password(&mut tx, actor.user.id, &auth::hash_password(&f.new)).await?;
    audit::record(
        &mut *tx,
        &actor.audit(),
        AuditEntry {
            action: "password",
            entity: "user",
            entity_id: actor.user.id.to_string(),
            household_id: None,
            region_code: actor.region.as_str(),
            before: None,
            after: None,
            detail: "修改本人密码".into(),
        },
    )
    .await?;
    tx.commit().await?;
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
    pub household_id: Option<i64>,
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
    let rows = list
        .into_iter()
        .map(|a| {
            let changes = match (&a.before_json, &a.after_json) {
                (Some(b), Some(af)) => format!("前：{b}\n后：{af}"),
                (None, Some(af)) => af.clone(),
                (Some(b), None) => format!("前：{b}"),
                _ => String::new(),
            };
            AuditView {
                id: a.id,
                at: local_time(&a.at),
                who: a.username,
                role: views::label::<Role>(&a.role),
                action: action_label(&a.action).to_string(),
                target: format!("{} #{}", a.entity, a.entity_id),
                detail: a.detail,
                household_id: a.household_id,
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
    rows: Vec<(RegionRow, String)>,
    parents: Vec<(String, String)>,
    errors: Vec<FieldError>,
    form: RegionForm,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RegionForm {
    pub parent: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub active: String,
}

async fn regions_page(
    state: &AppState,
    actor: &Actor,
    form: RegionForm,
    errors: Vec<FieldError>,
    msg: Option<&str>,
) -> Result<Response, AppError> {
    let all = regions::subtree(&state.db, actor.region.as_str()).await?;
    let parents = all
        .iter()
        .filter(|r| r.level != "village")
        .map(|r| (r.code.clone(), r.name.clone()))
        .collect();
    let rows = all
        .into_iter()
        .map(|r| {
            let indent = match r.level.as_str() {
                "town" => "　　",
                "village" => "　　　　",
                _ => "",
            };
            (r, indent.to_string())
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
        })?,
        status,
    ))
}

pub async fn regions(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<crate::render::ShowQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageRegions).await?;
    regions_page(
        &state,
        &actor,
        RegionForm::default(),
        vec![],
        q.msg.as_deref(),
    )
    .await
}

pub async fn region_create(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<RegionForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageRegions).await?;
    let mut errors = vec![];
    let code = RegionCode::parse(f.code.trim());
    let parent = RegionCode::parse(f.parent.trim());
    match (&code, &parent) {
        (Ok(c), Ok(p)) => {
            if c.parent().as_ref().map(|x| x.as_str()) != Some(p.as_str()) {
                errors.push(err(
                    "code",
                    format!(
                        "代码 {} 不属于上级 {}：乡镇/街道为上级代码后加 3 位，村/社区再加 3 位",
                        c.as_str(),
                        p.as_str()
                    ),
                ));
            }
            if !actor.region.contains(p.as_str()) {
                doudi_app::audit::denied(&state.db, &actor, "region", 0, p.as_str()).await;
                errors.push(err("parent", "上级区划不在您的管辖范围内"));
            }
        }
        (Err(e), _) => errors.push(err("code", format!("区划代码：{e}"))),
        (_, Err(_)) => errors.push(err("parent", "请选择上级区划")),
    }
    let name = f.name.trim().to_string();
    if name.is_empty() {
        errors.push(err("name", "请填写名称"));
    }
    let kind = match (&code, f.kind.trim()) {
        (Ok(c), "") => match c.level() {
            RegionLevel::Town => c
                .town_kind()
                .map(|k| k.label().to_string())
                .unwrap_or_else(|| "街道".into()),
            RegionLevel::Village => {
                if name.ends_with('村') {
                    "村".into()
                } else {
                    "社区".into()
                }
            }
            RegionLevel::County => "区".into(),
        },
        (_, k) => k.to_string(),
    };
    if errors.is_empty() {
        let c = code.expect("checked");
        let row = RegionRow {
            code: c.as_str().into(),
            name,
            level: c.level().code().into(),
            kind,
            parent_code: Some(parent.expect("checked").as_str().into()),
            active: true,
        };
        let mut tx = state.db.begin_write().await?;
        match regions::insert(&mut tx, &row).await {
            Ok(()) => {
                audit::record(
                    &mut *tx,
                    &actor.audit(),
                    AuditEntry {
                        action: "admin",
                        entity: "region",
                        entity_id: row.code.clone(),
                        household_id: None,
                        region_code: &row.code,
                        before: None,
                        after: Some(serde_json::to_value(&row).unwrap_or_default()),
                        detail: format!("新增区划 {}", row.name),
                    },
                )
                .await?;
                tx.commit().await?;
                return Ok(Redirect::to("/admin/regions?msg=created").into_response());
            }
            Err(StoreError::Invalid(m)) => errors.push(err("code", m)),
            Err(e) => return Err(e.into()),
        }
    }
    regions_page(&state, &actor, f, errors, None).await
}

pub async fn region_update(
    State(state): State<AppState>,
    actor: Actor,
    Path(code): Path<String>,
    Form(f): Form<RegionForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageRegions).await?;
    if !actor.region.contains(&code) {
        return Err(access::refuse(&state.db, &actor, "region", &code)
            .await
            .into());
    }
    let before = regions::get(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let name = if f.name.trim().is_empty() {
        before.name.clone()
    } else {
        f.name.trim().to_string()
    };
    let active = f.active == "1";
    let mut tx = state.db.begin_write().await?;
    regions::rename(&mut tx, &code, &name, active).await?;
    audit::record(
        &mut *tx,
        &actor.audit(),
        AuditEntry {
            action: "admin",
            entity: "region",
            entity_id: code.clone(),
            household_id: None,
            region_code: &code,
            before: Some(serde_json::json!({"name": before.name, "active": before.active})),
            after: Some(serde_json::json!({"name": name, "active": active})),
            detail: format!("修改区划 {name}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/regions?msg=saved").into_response())
}

// ---------------------------------------------------------------- users

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    page: Page,
    rows: Vec<(users::UserRow, String, String)>,
}

pub async fn users(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<crate::render::ShowQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageUsers).await?;
    let all = regions::subtree(&state.db, actor.region.as_str()).await?;
    let names: std::collections::HashMap<_, _> =
        all.into_iter().map(|r| (r.code, r.name)).collect();
    let rows = users::list(&state.db, actor.region.as_str())
        .await?
        .into_iter()
        .map(|u| {
            let role = views::label::<Role>(&u.role);
            let region = names.get(&u.region_code).cloned().unwrap_or_default();
            (u, role, region)
        })
        .collect();
    render(&UsersPage {
        page: Page::new(&state, &actor, "账号管理", "users")
            .await
            .with_notice(q.msg.as_deref()),
        rows,
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
    errors: Vec<FieldError>,
    tokens: Vec<users::TokenRow>,
    new_token: String,
    user_id: i64,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct UserForm {
    pub version: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub region_code: String,
    pub department: String,
    pub phone: String,
    pub password: String,
    pub machine: String,
    pub active: String,
}

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

const FOREIGN_REGION: &str = "所在区划不在您的管辖范围内";

/// An account placed outside the administrator's jurisdiction is a refusal
/// by jurisdiction: audited like every other.
async fn audit_foreign_region(
    state: &AppState,
    actor: &Actor,
    f: &UserForm,
    errors: &[FieldError],
) {
    if errors.iter().any(|e| e.message == FOREIGN_REGION) {
        doudi_app::audit::denied(&state.db, actor, "user", 0, f.region_code.trim()).await;
    }
}

fn validate_user(
    actor: &Actor,
    f: &UserForm,
    creating: bool,
) -> (Vec<FieldError>, Option<NewUser>) {
    let mut errors = vec![];
    let username = f.username.trim().to_string();
    if creating
        && (username.len() < 3
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    {
        errors.push(err("username", "用户名为 3 位以上的字母、数字、下划线或点"));
    }
    if f.display_name.trim().is_empty() {
        errors.push(err("display_name", "请填写姓名"));
    }
    let role = Role::from_code(&f.role);
    if role.is_none() {
        errors.push(err("role", "请选择角色"));
    }
    match RegionCode::parse(&f.region_code) {
        Ok(r) => {
            if !actor.region.contains(r.as_str()) {
                errors.push(err("region_code", FOREIGN_REGION));
            } else if let Some(level) = role.and_then(|ro| ro.home_level()) {
                if r.level() != level {
                    errors.push(err(
                        "region_code",
                        format!(
                            "{}应设在{}一级",
                            role.map(|r| r.label()).unwrap_or(""),
                            level.label()
                        ),
                    ));
                }
            }
        }
        Err(_) => errors.push(err("region_code", "请选择所在区划")),
    }
    let phone = crate::forms::check_phone(&f.phone).unwrap_or_else(|m| {
        errors.push(err("phone", m));
        None
    });
    let machine = !f.machine.is_empty();
    if creating && !machine {
        if let Err(m) = auth::check_password_strength(&f.password) {
            errors.push(err("password", format!("初始密码：{m}")));
        }
    }
    if !errors.is_empty() {
        return (errors, None);
    }
    let password = if machine {
        auth::new_secret()
    } else {
        f.password.clone()
    };
    (
        errors,
        Some(NewUser {
            username,
            display_name: f.display_name.trim().into(),
            password_hash: if creating {
                auth::hash_password(&password)
            } else {
                String::new()
            },
            role: role.expect("checked").code().into(),
            region_code: f.region_code.clone(),
            department: (!f.department.trim().is_empty()).then(|| f.department.trim().to_string()),
            phone,
            is_machine: machine,
        }),
    )
}

pub async fn user_create(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<UserForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageUsers).await?;
    let (mut errors, user) = validate_user(&actor, &f, true);
    audit_foreign_region(&state, &actor, &f, &errors).await;
    if let Some(u) = user {
        let mut tx = state.db.begin_write().await?;
        match users::insert(&mut tx, &u).await {
            Ok(id) => {
                audit::record(
                    &mut *tx,
                    &actor.audit(),
                    AuditEntry { action: "admin", entity: "user", entity_id: id.to_string(), household_id: None, region_code: &u.region_code, before: None, after: Some(serde_json::json!({"username": u.username, "role": u.role, "region": u.region_code})), detail: format!("新建账号 {}", u.username) },
                )
                .await?;
                tx.commit().await?;
                return Ok(Redirect::to(&format!("/admin/users/{id}?msg=created")).into_response());
            }
            Err(StoreError::Invalid(m)) => errors.push(err("username", m)),
            Err(e) => return Err(e.into()),
        }
    }
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
    f.machine = if u.is_machine {
        "1".into()
    } else {
        String::new()
    };
    let version = crate::forms::parse_version(&f.version)?;
    let (mut errors, nu) = validate_user(&actor, &f, false);
    audit_foreign_region(&state, &actor, &f, &errors).await;
    if id == actor.user.id && f.active.is_empty() {
        errors.push(err("active", "不能停用自己的账号"));
    }
    if let (Some(nu), true) = (nu, errors.is_empty()) {
        let mut tx = state.db.begin_write().await?;
        match users::update(&mut tx, id, version, &nu, !f.active.is_empty()).await {
            Ok(()) => {
                audit::record(
                    &mut *tx,
                    &actor.audit(),
                    AuditEntry {
                        action: "admin",
                        entity: "user",
                        entity_id: id.to_string(),
                        household_id: None,
                        region_code: &nu.region_code,
                        before: Some(serde_json::json!({"role": u.role, "region": u.region_code, "active": u.active})),
                        after: Some(serde_json::json!({"role": nu.role, "region": nu.region_code, "active": !f.active.is_empty()})),
                        detail: format!("修改账号 {}", u.username),
                    },
                )
                .await?;
                tx.commit().await?;
                return Ok(Redirect::to("/admin/users?msg=saved").into_response());
            }
            Err(StoreError::Conflict(m)) => errors.push(err("display_name", m)),
            Err(e) => return Err(e.into()),
        }
    }
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
    let u = doudi_app::access::user(&state.db, &actor, id).await?;
    if let Err(m) = auth::check_password_strength(&f.password) {
        return user_form_page(
            &state,
            &actor,
            format!("/admin/users/{id}"),
            false,
            form_of(&u),
            vec![err("password", m)],
            id,
            String::new(),
        )
        .await;
    }
    let mut tx = state.db.begin_write().await?;
    users::set_password(&mut tx, id, &auth::hash_password(&f.password)).await?;
    audit::record(
        &mut *tx,
        &actor.audit(),
        AuditEntry {
            action: "admin",
            entity: "user",
            entity_id: id.to_string(),
            household_id: None,
            region_code: &u.region_code,
            before: None,
            after: None,
            detail: format!("重置账号 {} 的密码", u.username),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/users?msg=saved").into_response())
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
    if !u.is_machine {
        return Err(AppError::bad_request(
            "只有接口账号可以生成 API 令牌；人员账号请用用户名和密码登录",
        ));
    }
    let name = if f.name.trim().is_empty() {
        format!("令牌 {}", now_ts())
    } else {
        f.name.trim().to_string()
    };
    let token = auth::new_secret();
    let mut tx = state.db.begin_write().await?;
    users::create_token(&mut tx, id, &name, &auth::secret_hash(&token)).await?;
    audit::record(
        &mut *tx,
        &actor.audit(),
        AuditEntry {
            action: "admin",
            entity: "api_token",
            entity_id: id.to_string(),
            household_id: None,
            region_code: &u.region_code,
            before: None,
            after: None,
            detail: format!("为账号 {} 创建 API 令牌“{name}”", u.username),
        },
    )
    .await?;
    tx.commit().await?;
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
    let u = doudi_app::access::user(&state.db, &actor, id).await?;
    let mut tx = state.db.begin_write().await?;
    users::revoke_token(&mut tx, id, tid).await?;
    audit::record(
        &mut *tx,
        &actor.audit(),
        AuditEntry {
            action: "admin",
            entity: "api_token",
            entity_id: tid.to_string(),
            household_id: None,
            region_code: &u.region_code,
            before: None,
            after: None,
            detail: format!("吊销账号 {} 的 API 令牌", u.username),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?msg=token")).into_response())
}
