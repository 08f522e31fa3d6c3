//! Dynamic monitoring and early warning: department feeds (upload and API),
//! warning rules, the sweep, verification of warnings with the four
//! outcomes, the 核对 report, three-colour grading, visits and helpers, and
//! the monitoring dashboard.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use doudi_domain::Coded;
use doudi_domain::access::Action;
use doudi_domain::grading::{self, Colour};
use doudi_rules::{Env, Rule, RuleKind};
use doudi_sheets::feeds::{self as feeds, FeedKind};
use doudi_store::monitoring::{self as mon, SweepRow, WarningRuleRow};
use doudi_store::today_cn;
use serde::Deserialize;

use std::collections::HashMap;

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::forms::FieldError;
use crate::render::{render, with_status};
use crate::views::{Page, Pager, money};
use doudi_app::{access, audit};

/// The four outcomes of a verified warning (domain-rules.md).
use doudi_app::monitoring::{OUTCOMES, outcome_label};

pub const SEVERITIES: &[(&str, &str)] = &[("high", "高"), ("medium", "中"), ("low", "低")];

fn severity_label(code: &str) -> &'static str {
    SEVERITIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, l)| l)
}

/// The department an account reports for (its department, or its name).
use doudi_app::access::{feed_source as source_of, may_see_feeds};

// ------------------------------------------------------------------ feeds ---

#[derive(Template)]
#[template(path = "feeds.html")]
struct FeedsPage {
    page: Page,
    kinds: Vec<(&'static str, &'static str, String)>,
    /// The feeds the caller's department sends (the upload form offers only these).
    upload_kinds: Vec<(&'static str, &'static str)>,
    batches: Vec<mon::BatchRow>,
    pager: Pager,
    can_upload: bool,
    /// District staff see how many records wait for their person to be
    /// registered; the sending department never does (issue 10, item 5).
    registry_view: bool,
    pending: i64,
    error: String,
}

async fn feeds_page(
    state: &AppState,
    actor: &Actor,
    page_no: i64,
    error: String,
) -> Result<Response, AppError> {
    if !may_see_feeds(actor) {
        return Err(
            access::refuse(&state.db, actor, "feed_batch", actor.region.as_str())
                .await
                .into(),
        );
    }
    // A department sees its own batches; the district sees every batch.
    let source = actor.may(Action::UploadFeed).then(|| source_of(actor));
    let per_page = 30;
    let (batches, total) = mon::batches(
        &state.db,
        source.as_deref(),
        (page_no - 1) * per_page,
        per_page,
    )
    .await?;
    let code = if error.is_empty() { 200 } else { 422 };
    // Who sends each feed, from the administrator's list of departments.
    let departments = doudi_store::departments::list(&state.db).await?;
    let sender = |k: &FeedKind| {
        departments
            .iter()
            .find(|d| d.active && d.sends(k.code()))
            .map_or_else(|| k.department().to_string(), |d| d.name.clone())
    };
    let mine = actor.user.department.as_deref();
    let upload_kinds = FeedKind::all()
        .iter()
        .filter(|k| {
            departments
                .iter()
                .any(|d| d.active && Some(d.name.as_str()) == mine && d.sends(k.code()))
        })
        .map(|k| (k.code(), k.label()))
        .collect();
    Ok(with_status(
        render(&FeedsPage {
            page: Page::new(state, actor, "部门数据", "feeds").await,
            kinds: FeedKind::all()
                .iter()
                .map(|k| (k.code(), k.label(), sender(k)))
                .collect(),
            upload_kinds,
            batches,
            pager: Pager::new("", page_no, per_page, total, 1_000_000).with_unit("批"),
            can_upload: actor.may(Action::UploadFeed),
            registry_view: !actor.may(Action::UploadFeed),
            pending: if actor.may(Action::UploadFeed) {
                0
            } else {
                mon::pending_count(&state.db).await?
            },
            error,
        })?,
        code,
    ))
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    status: String,
    /// A town or village code of the caller's jurisdiction (list filter).
    #[serde(default)]
    region: String,
}

pub async fn feeds_index(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    feeds_page(&state, &actor, q.page.unwrap_or(1).max(1), String::new()).await
}

pub async fn feed_template(Path(file): Path<String>) -> Result<Response, AppError> {
    let (code, ext) = file.rsplit_once('.').ok_or_else(AppError::not_found)?;
    let kind = FeedKind::from_code(code).ok_or_else(AppError::not_found)?;
    let (ct, bytes) = match ext {
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            feeds::feed_template_xlsx(kind),
        ),
        "csv" => ("text/csv; charset=utf-8", feeds::feed_template_csv(kind)),
        _ => return Err(AppError::not_found()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"feed-{code}.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn feed_upload(
    State(state): State<AppState>,
    actor: Actor,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    access::require(
        &state.db,
        &actor,
        Action::UploadFeed,
        "feed_batch",
        0,
        actor.region.as_str(),
    )
    .await?;
    let mut kind = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?
    {
        match field.name() {
            Some("kind") => {
                kind = FeedKind::from_code(field.text().await.unwrap_or_default().trim())
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?;
                if !bytes.is_empty() {
                    file = Some((name, bytes.to_vec()));
                }
            }
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return feeds_page(&state, &actor, 1, "请选择数据类型".into()).await;
    };
    let Some((filename, bytes)) = file else {
        return feeds_page(&state, &actor, 1, "请选择要上传的文件".into()).await;
    };
    // Wrong columns, an unreadable file: nothing is stored.
    let batch = match doudi_app::monitoring::upload_feed(&state.db, &actor, kind, &filename, &bytes)
        .await
    {
        Ok(b) => b,
        Err(doudi_app::Error::Invalid(f)) => {
            let message = f
                .into_iter()
                .map(|f| f.message)
                .collect::<Vec<_>>()
                .join("；");
            return feeds_page(&state, &actor, 1, message).await;
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&format!("/feeds/batches/{}", batch.id)).into_response())
}

#[derive(Template)]
#[template(path = "feed_batch.html")]
struct BatchPage {
    page: Page,
    b: mon::BatchRow,
    kind_label: String,
    registry_view: bool,
}

pub async fn feed_batch(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let b = access::batch(&state.db, &actor, id).await?;
    let kind_label = FeedKind::from_code(&b.kind).map_or(b.kind.clone(), |k| k.label().to_string());
    render(&BatchPage {
        page: Page::new(&state, &actor, format!("数据批次 #{id}"), "feeds").await,
        b,
        kind_label,
        registry_view: !actor.may(Action::UploadFeed),
    })
}

pub async fn feed_batch_report(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let b = access::batch(&state.db, &actor, id).await?;
    let rows: Vec<Vec<String>> = b
        .report
        .iter()
        .map(|r| {
            vec![
                r.line.to_string(),
                r.key.clone(),
                r.id_masked.clone(),
                r.reason.clone(),
            ]
        })
        .collect();
    let bytes = doudi_sheets::table_xlsx(
        "未入库数据",
        &["行号", "记录编号", "身份证号（脱敏）", "原因"],
        &rows,
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"feed-batch-{id}-report.xlsx\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

// ---------------------------------------------------------- warning rules ---

#[derive(Template)]
#[template(path = "warning_rules.html")]
struct RulesPage {
    page: Page,
    rules: Vec<WarningRuleRow>,
    can_edit: bool,
}

pub async fn rules_list(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    if !may_see_feeds(&actor) && !actor.may(Action::HandleCase) {
        return Err(
            access::refuse(&state.db, &actor, "warning_rule", actor.region.as_str())
                .await
                .into(),
        );
    }
    render(&RulesPage {
        page: Page::new(&state, &actor, "预警规则", "warnings").await,
        rules: mon::warning_rules(&state.db).await?,
        can_edit: actor.may(Action::ManagePolicies),
    })
}

#[derive(Template)]
#[template(path = "warning_rule_form.html")]
struct RuleFormPage {
    page: Page,
    r: WarningRuleRow,
    errors: Vec<(String, String)>,
    severities: Vec<(&'static str, &'static str)>,
    test: Option<(String, Vec<(String, String, &'static str)>, String)>,
    test_household: String,
}

async fn rule_form(
    state: &AppState,
    actor: &Actor,
    r: WarningRuleRow,
    errors: Vec<(String, String)>,
    test: Option<(String, Vec<(String, String, &'static str)>, String)>,
    test_household: String,
) -> Result<Response, AppError> {
    let code = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&RuleFormPage {
            page: Page::new(
                state,
                actor,
                if r.id == 0 {
                    "新增预警规则".to_string()
                } else {
                    r.name.clone()
                },
                "warnings",
            )
            .await,
            r,
            errors,
            severities: SEVERITIES.to_vec(),
            test,
            test_household,
        })?,
        code,
    ))
}

pub async fn rule_show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    let r = mon::warning_rule(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    rule_form(&state, &actor, r, vec![], None, String::new()).await
}

pub async fn rule_new(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    let r = WarningRuleRow {
        severity: "medium".into(),
        verify_level: "village".into(),
        deadline_days: 5,
        cooling_days: 90,
        active: true,
        ..Default::default()
    };
    rule_form(&state, &actor, r, vec![], None, String::new()).await
}

#[derive(Deserialize, Default)]
pub struct RuleForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expression: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    verify_level: String,
    #[serde(default)]
    deadline_days: String,
    #[serde(default)]
    cooling_days: String,
    #[serde(default)]
    raises_colour: String,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    intent: String,
    #[serde(default)]
    test_household: String,
}

/// Field and rule checks; messages in Chinese, keyed by field.
pub fn parse_rule_form(f: &RuleForm, id: i64) -> (WarningRuleRow, Vec<(String, String)>) {
    let mut e = Vec::new();
    let num = |s: &str,
               field: &str,
               label: &str,
               range: std::ops::RangeInclusive<i64>,
               e: &mut Vec<(String, String)>|
     -> i64 {
        match s.trim().parse::<i64>() {
            Ok(v) if range.contains(&v) => v,
            _ => {
                e.push((
                    field.to_string(),
                    format!("{label}应为 {} 至 {} 的整数", range.start(), range.end()),
                ));
                0
            }
        }
    };
    let r = WarningRuleRow {
        id,
        code: f.code.trim().to_string(),
        name: f.name.trim().to_string(),
        description: f.description.trim().to_string(),
        expression: f.expression.trim().to_string(),
        severity: f.severity.clone(),
        verify_level: if f.verify_level == "town" {
            "town".into()
        } else {
            "village".into()
        },
        deadline_days: num(
            &f.deadline_days,
            "deadline_days",
            "核实时限（工作日）",
            1..=60,
            &mut e,
        ),
        cooling_days: num(
            &f.cooling_days,
            "cooling_days",
            "冷却期（天）",
            0..=730,
            &mut e,
        ),
        raises_colour: Colour::from_code(&f.raises_colour).map(|c| c.code().to_string()),
        active: f.active.is_some(),
        version: f.version,
    };
    e.extend(
        doudi_app::monitoring::check_warning_rule(&r)
            .into_iter()
            .map(|fe| (fe.field, fe.message)),
    );
    (r, e)
}

pub async fn rule_save_new(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<RuleForm>,
) -> Result<Response, AppError> {
    rule_save_inner(state, actor, 0, f).await
}

pub async fn rule_save(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<RuleForm>,
) -> Result<Response, AppError> {
    rule_save_inner(state, actor, id, f).await
}

async fn rule_save_inner(
    state: AppState,
    actor: Actor,
    id: i64,
    f: RuleForm,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    let (mut r, errors) = parse_rule_form(&f, id);
    if id != 0 {
        r.code = mon::warning_rule(&state.db, id)
            .await?
            .ok_or_else(AppError::not_found)?
            .code;
    }
    if f.intent == "test" {
        let (test, errs) = test_rule(&state, &actor, &r, &f.test_household).await?;
        return rule_form(&state, &actor, r, errs, test, f.test_household.clone()).await;
    }
    if !errors.is_empty() {
        return rule_form(&state, &actor, r, errors, None, f.test_household.clone()).await;
    }
    match doudi_app::monitoring::save_warning_rule(&state.db, &actor, id, r.clone()).await {
        Ok(_) => Ok(Redirect::to("/warning-rules?notice=saved").into_response()),
        Err(doudi_app::Error::Invalid(fe)) => {
            let errs = fe.into_iter().map(|e| (e.field, e.message)).collect();
            rule_form(&state, &actor, r, errs, None, String::new()).await
        }
        Err(doudi_app::Error::Conflict(m)) => {
            rule_form(
                &state,
                &actor,
                r,
                vec![("version".into(), m)],
                None,
                String::new(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

type TestOutcome = (String, Vec<(String, String, &'static str)>, String);

async fn test_rule(
    state: &AppState,
    actor: &Actor,
    r: &WarningRuleRow,
    household: &str,
) -> Result<(Option<TestOutcome>, Vec<(String, String)>), AppError> {
    let rule = match Rule::compile(&r.expression, RuleKind::Condition) {
        Ok(rule) => rule,
        Err(e) => return Ok((None, vec![("expression".into(), format!("预警条件：{e}"))])),
    };
    if !actor.may(Action::ViewHousehold) {
        return Ok((None, vec![("test_household".into(), "测试规则需要查看家庭档案的权限（管理员不查看家庭数据）；规则保存前已在样例家庭上检查".into())]));
    }
    let what = format!("预警规则测试：{}", r.name);
    let (place, facts, std) =
        match doudi_app::policies::rule_test_subject(&state.db, actor, household, &what).await {
            Ok(t) => t,
            Err(doudi_app::Error::Invalid(fe)) => {
                return Ok((None, fe.into_iter().map(|e| (e.field, e.message)).collect()));
            }
            Err(e) => return Err(e.into()),
        };
    let env = Env::new(&std);
    let scope = env.scope(&facts);
    let conditions = rule.verdicts(&scope);
    let verdict = match rule.eval_bool(&scope) {
        Ok(true) => "会触发预警",
        Ok(false) => "不会触发预警",
        Err(_) => "计算出错",
    };
    Ok((
        Some((
            format!(
                "{}户（{} 人）",
                doudi_domain::mask::mask_name(&place.head_name),
                facts.hh.size
            ),
            conditions,
            verdict.to_string(),
        )),
        vec![],
    ))
}

// ------------------------------------------------------------------ sweep ---

#[derive(Template)]
#[template(path = "sweeps.html")]
struct SweepsPage {
    page: Page,
    sweeps: Vec<SweepRow>,
    can_run: bool,
    /// The refusal of a start while a sweep runs, with the running one.
    error: String,
    running: Option<i64>,
}

use doudi_app::monitoring::may_sweep;

async fn sweeps_page(state: &AppState, actor: &Actor, error: String) -> Result<Response, AppError> {
    if !may_see_feeds(actor) {
        return Err(
            access::refuse(&state.db, actor, "sweep", actor.region.as_str())
                .await
                .into(),
        );
    }
    let sweeps = mon::sweeps(&state.db, 50).await?;
    render(&SweepsPage {
        page: Page::new(state, actor, "预警排查", "warnings").await,
        running: sweeps.iter().find(|s| s.status == "running").map(|s| s.id),
        sweeps,
        can_run: may_sweep(actor),
        error,
    })
}

pub async fn sweeps(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    sweeps_page(&state, &actor, String::new()).await
}

/// Starts a sweep in the background and shows its progress; while another
/// sweep runs, the list says so (409) instead.
pub async fn sweep_now(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    match doudi_app::monitoring::start_sweep(&state.db, &actor).await {
        Ok(id) => Ok(Redirect::to(&format!("/sweeps/{id}")).into_response()),
        Err(doudi_app::Error::Conflict(m)) => {
            Ok(with_status(sweeps_page(&state, &actor, m).await?, 409))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "sweep.html")]
struct SweepPage {
    page: Page,
    sweep: SweepRow,
    percent: i64,
    can_run: bool,
}

/// One sweep: its progress while it runs (the page refreshes itself), its
/// counts, and for an interrupted or failed one the way to run it again.
pub async fn sweep_show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !may_see_feeds(&actor) {
        return Err(
            access::refuse(&state.db, &actor, "sweep", actor.region.as_str())
                .await
                .into(),
        );
    }
    let sweep = mon::sweep(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let percent = if sweep.total > 0 {
        (sweep.households * 100 / sweep.total).min(100)
    } else if sweep.status == "running" {
        0
    } else {
        100
    };
    render(&SweepPage {
        page: Page::new(&state, &actor, format!("预警排查 #{id}"), "warnings").await,
        sweep,
        percent,
        can_run: may_sweep(&actor),
    })
}

// --------------------------------------------------------------- warnings ---

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    page: Page,
    warnings: Vec<(mon::WarningRow, &'static str, bool)>,
    status: String,
    pager: Pager,
    /// Street and village filter: (code, label, selected).
    regions: Vec<(String, String, bool)>,
    region: String,
}

pub async fn warnings(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    access::household_scope(&state.db, &actor).await?;
    let scope = access::narrowed_scope(&state.db, &actor, &q.region).await?;
    let today = today_cn().to_string();
    let status = if q.status.is_empty() {
        "open".to_string()
    } else {
        q.status.clone()
    };
    let per_page = 50;
    let page_no = q.page.unwrap_or(1).max(1);
    let (rows, total) = mon::warnings(
        &state.db,
        &scope,
        if status == "all" { "" } else { &status },
        &today,
        (page_no - 1) * per_page,
        per_page,
    )
    .await?;
    render(&WarningsPage {
        page: Page::new(&state, &actor, "预警核实", "warnings").await,
        warnings: rows
            .into_iter()
            .map(|w| {
                let overdue = w.status == "open" && w.due_date < today;
                let sev = severity_label(&w.severity);
                (w, sev, overdue)
            })
            .collect(),
        pager: Pager::new(
            &format!(
                "status={status}&region={}",
                crate::auth::url_encode(&q.region)
            ),
            page_no,
            per_page,
            total,
            1_000_000,
        )
        .with_unit("条"),
        regions: crate::pages::households::region_options(&state, &actor, &q.region).await?,
        region: q.region.clone(),
        status,
    })
}

#[derive(Template)]
#[template(path = "warning.html")]
struct WarningPage {
    page: Page,
    w: mon::WarningRow,
    severity: &'static str,
    outcome: &'static str,
    outcomes: Vec<(&'static str, &'static str)>,
    can_close: bool,
    overdue: bool,
    errors: Vec<(String, String)>,
}

async fn warning_page(
    state: &AppState,
    actor: &Actor,
    w: mon::WarningRow,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let today = today_cn().to_string();
    let code = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&WarningPage {
            page: Page::new(state, actor, format!("预警 #{}", w.id), "warnings").await,
            severity: severity_label(&w.severity),
            outcome: w.outcome.as_deref().map_or("", outcome_label),
            outcomes: OUTCOMES.to_vec(),
            can_close: actor.may(Action::HandleCase) && w.status == "open",
            overdue: w.status == "open" && w.due_date < today,
            w,
            errors,
        })?,
        code,
    ))
}

pub async fn warning(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let w = access::warning(&state.db, &actor, id).await?;
    audit::event(
        &state.db,
        &actor,
        "view",
        "warning",
        id.to_string(),
        Some(w.household_id),
        &w.village_code,
        "查看预警".into(),
    )
    .await?;
    warning_page(&state, &actor, w, vec![]).await
}

/// Closes a warning with the offline check and one of the four outcomes.
pub async fn warning_close(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<doudi_app::monitoring::CloseWarning>,
) -> Result<Response, AppError> {
    match doudi_app::monitoring::close_warning(&state.db, &actor, id, &f).await {
        Ok(_) => Ok(Redirect::to(&format!("/warnings/{id}?notice=saved")).into_response()),
        Err(doudi_app::Error::Invalid(fields)) => {
            let w = access::warning(&state.db, &actor, id).await?;
            warning_page(&state, &actor, w, crate::views::pairs(fields)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------- household monitoring ---

#[derive(Template)]
#[template(path = "household_monitoring.html")]
struct HouseholdMonitoringPage {
    page: Page,
    hid: i64,
    head: String,
    state: Option<mon::MonitoringRow>,
    colour_label: String,
    breakdown: Vec<(String, i64)>,
    score: Option<i64>,
    rule_text: String,
    overdue: bool,
    missed_windows: usize,
    visits: Vec<mon::VisitRow>,
    helpers: Vec<mon::HelperRow>,
    warnings: Vec<mon::WarningRow>,
    check: Vec<CheckView>,
    records: Vec<(String, String, String, String, String)>,
    today: String,
    can_edit: bool,
    errors: Vec<(String, String)>,
}

fn colour_label(code: &str) -> String {
    Colour::from_code(code).map_or(String::from("未评估"), |c| format!("{}色", c.label()))
}

/// One 核对 line as shown, with the department records behind it.
struct CheckView {
    line: doudi_rules::check::CheckLine,
    records: Vec<String>,
}

pub async fn household_monitoring(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
) -> Result<Response, AppError> {
    monitoring_page(&state, &actor, hid, vec![]).await
}

async fn monitoring_page(
    state: &AppState,
    actor: &Actor,
    hid: i64,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (place, input, events) = access::household_input(&state.db, actor, hid, today_cn()).await?;
    audit::event(
        &state.db,
        actor,
        "view",
        "household",
        hid.to_string(),
        Some(hid),
        &place.village_code,
        "查看监测与走访".into(),
    )
    .await?;
    let today = today_cn();
    let st = mon::monitoring(&state.db, hid).await?;
    let last = mon::last_assessment(&state.db, hid).await?;
    let breakdown: Vec<(String, i64)> = last
        .as_ref()
        .and_then(|(_, b)| serde_json::from_str::<Vec<serde_json::Value>>(b).ok())
        .unwrap_or_default()
        .iter()
        .map(|v| {
            (
                v["factor"].as_str().unwrap_or("").to_string(),
                v["points"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let visits = mon::visits(&state.db, hid).await?;
    let (rule_text, overdue, missed) = match &st {
        Some(m) => {
            let colour = Colour::from_code(&m.colour).unwrap_or(Colour::Green);
            let rule = grading::visit_rule(
                colour,
                &doudi_app::monitoring::plan_config(&state.db, &place.village_code).await?,
            );
            let dates = doudi_app::monitoring::visit_dates(&visits);
            let start = NaiveDate::parse_from_str(&m.plan_start, "%Y-%m-%d").unwrap_or(today);
            let status = grading::visit_status(rule, &dates, start, today);
            (
                format!("每 {} 天至少走访 {} 次", rule.window_days, rule.visits),
                m.next_visit_due.as_str() < today.to_string().as_str(),
                status.missed_windows,
            )
        }
        None => (String::new(), false, 0),
    };
    let feed_rows = mon::household_feed_records(&state.db, hid).await?;
    let check = doudi_rules::check::check_report(&input, &events, today)
        .into_iter()
        .map(|line| CheckView {
            records: feed_rows
                .iter()
                .filter(|r| r.0 == line.feed_kind)
                .map(|(_, date, source, amount, _, name)| {
                    let mut s = format!("{date} {source}");
                    if !name.is_empty() {
                        s.push_str(&format!(" {}", doudi_domain::mask::mask_name(name)));
                    }
                    if let Some(a) = amount {
                        s.push_str(&format!(" {} 元", money(*a)));
                    }
                    s
                })
                .collect(),
            line,
        })
        .collect();
    let records = feed_rows
        .into_iter()
        .map(|(kind, date, source, amount, _attrs, name)| {
            (
                FeedKind::from_code(&kind).map_or(kind.clone(), |k| k.label().to_string()),
                date,
                source,
                doudi_domain::mask::mask_name(&name),
                amount.map(money).unwrap_or_default(),
            )
        })
        .collect();
    let code = if errors.is_empty() { 200 } else { 422 };
    let village = state
        .region_names
        .name(&state.db, &place.village_code)
        .await;
    Ok(with_status(
        render(&HouseholdMonitoringPage {
            page: Page::new(
                state,
                actor,
                format!("监测与走访 · {}户（{village}）", place.head_name),
                "households",
            )
            .await,
            hid,
            head: format!("{}户（{village}）", place.head_name),
            colour_label: st
                .as_ref()
                .map_or("未评估".into(), |m| colour_label(&m.colour)),
            state: st,
            breakdown,
            score: last.map(|l| l.0),
            rule_text,
            overdue,
            missed_windows: missed,
            visits,
            helpers: mon::helpers(&state.db, hid).await?,
            warnings: mon::warnings_of_household(&state.db, hid).await?,
            check,
            records,
            today: today.to_string(),
            can_edit: actor.may(Action::HandleCase),
            errors,
        })?,
        code,
    ))
}

/// The redirect after a monitoring form, or the page again with its errors.
async fn monitoring_result<T>(
    state: &AppState,
    actor: &Actor,
    hid: i64,
    result: doudi_app::Result<T>,
) -> Result<Response, AppError> {
    match result {
        Ok(_) => {
            Ok(Redirect::to(&format!("/households/{hid}/monitoring?notice=saved")).into_response())
        }
        Err(doudi_app::Error::Invalid(fields)) => {
            monitoring_page(state, actor, hid, crate::views::pairs(fields)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn assess(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<doudi_app::monitoring::AssessInput>,
) -> Result<Response, AppError> {
    let r = doudi_app::monitoring::assess(&state.db, &actor, hid, &f).await;
    monitoring_result(&state, &actor, hid, r).await
}

pub async fn add_visit(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<doudi_app::monitoring::VisitInput>,
) -> Result<Response, AppError> {
    let r = doudi_app::monitoring::record_visit(&state.db, &actor, hid, &f).await;
    monitoring_result(&state, &actor, hid, r).await
}

pub async fn add_helper(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<doudi_app::monitoring::HelperInput>,
) -> Result<Response, AppError> {
    let r = doudi_app::monitoring::add_helper(&state.db, &actor, hid, &f).await;
    monitoring_result(&state, &actor, hid, r).await
}

// -------------------------------------------------------------- dashboard ---

#[derive(Template)]
#[template(path = "monitoring.html")]
struct DashboardPage {
    page: Page,
    d: mon::Dashboard,
    colours: Vec<(String, i64)>,
    outcomes: Vec<(String, i64)>,
    feeds: Vec<(String, String, i64, String)>,
    due: Vec<(mon::MonitoringRow, String, String, bool)>,
}

pub async fn dashboard(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    let scope = access::household_scope(&state.db, &actor).await?;
    let today = today_cn();
    let since = (today - chrono::Days::new(30)).to_string();
    let d = mon::dashboard(&state.db, &scope, &today.to_string(), &since).await?;
    let colours = ["red", "yellow", "green"]
        .iter()
        .map(|c| {
            (
                colour_label(c),
                d.colours.iter().find(|x| x.0 == *c).map_or(0, |x| x.1),
            )
        })
        .collect();
    let outcomes = OUTCOMES
        .iter()
        .map(|(c, l)| {
            (
                l.to_string(),
                d.closed_by_outcome
                    .iter()
                    .find(|x| x.0 == *c)
                    .map_or(0, |x| x.1),
            )
        })
        .collect();
    let fresh = mon::feed_freshness(&state.db, &scope).await?;
    let feeds = FeedKind::all()
        .iter()
        .map(|k| {
            let f = fresh.iter().find(|x| x.0 == k.code());
            (
                k.label().to_string(),
                k.department().to_string(),
                f.map_or(0, |x| x.1),
                f.and_then(|x| x.2.clone())
                    .map(|t| crate::views::local_time(&t))
                    .unwrap_or_else(|| "从未报送".into()),
            )
        })
        .collect();
    let due = mon::visits_due(&state.db, &scope, &today.to_string(), 100)
        .await?
        .into_iter()
        .map(|(m, head, village)| {
            let missed = m.next_visit_due < today.to_string();
            (m, doudi_domain::mask::mask_name(&head), village, missed)
        })
        .collect();
    render(&DashboardPage {
        page: Page::new(&state, &actor, "动态监测", "monitoring").await,
        d,
        colours,
        outcomes,
        feeds,
        due,
    })
}

/// "红色" / "黄色" / "绿色" for templates.
pub fn colour_name(code: &str) -> String {
    colour_label(code)
}

// ------------------------------------------------------------ worklists ---

#[derive(Template)]
#[template(path = "worklist.html")]
struct WorklistPage {
    page: Page,
    tab: String,
    /// 待评估, each line with what was typed into it (kept on refusal).
    assess: Vec<AssessLine>,
    errors: Vec<FieldError>,
    page_no: i64,
    /// 待走访: (household id, "张*户", village, colour, due, missed).
    visits: Vec<(i64, String, String, String, String, bool)>,
    colour: String,
    missed: bool,
    pager: Pager,
}

/// A household of the 待评估 list and the answers typed for it.
pub struct AssessLine {
    id: i64,
    name: String,
    village: String,
    categories: String,
    last: String,
    picked: bool,
    input: doudi_app::monitoring::AssessInput,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct WorklistQuery {
    pub tab: String,
    pub colour: String,
    pub missed: String,
    pub page: Option<i64>,
    /// How many households the last bulk assessment graded.
    pub assessed: Option<usize>,
}

/// 评估与走访工作清单: households to assess (never or not recently) and
/// visit plans, for the village and the town, paged and filtered.
pub async fn worklist(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, AppError> {
    let notice = q
        .assessed
        .map(|n| format!("已完成 {n} 户三色评估，走访计划已按评估颜色生成。"));
    worklist_page(&state, &actor, &q, notice, HashMap::new(), vec![]).await
}

/// The worklist page; `typed` holds the bulk assessment's lines as typed
/// (household id → answers) when a submission was refused.
async fn worklist_page(
    state: &AppState,
    actor: &Actor,
    q: &WorklistQuery,
    notice: Option<String>,
    typed: HashMap<i64, doudi_app::monitoring::AssessInput>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let per_page = 50;
    let page_no = q.page.unwrap_or(1).max(1);
    let offset = (page_no - 1) * per_page;
    let today = today_cn().to_string();
    let tab = if q.tab == "visits" {
        "visits"
    } else {
        "assess"
    };
    let missed = !q.missed.is_empty();
    let (assess, visits, total, base) = if tab == "assess" {
        let (rows, total) =
            doudi_app::monitoring::assessment_worklist(&state.db, actor, offset, per_page).await?;
        let lines = rows
            .into_iter()
            .map(|r| {
                let last = r.last.map_or_else(
                    || "从未评估".to_string(),
                    |(d, c)| format!("{d}（{}色）", colour_name(&c)),
                );
                let input = typed.get(&r.household_id).cloned();
                AssessLine {
                    id: r.household_id,
                    name: crate::views::household_name(&r.head_name),
                    village: r.village_name,
                    categories: crate::views::categories_label(&r.categories),
                    last,
                    picked: input.is_some(),
                    input: input.unwrap_or_default(),
                }
            })
            .collect();
        (lines, vec![], total, "tab=assess".to_string())
    } else {
        let (rows, total) = doudi_app::monitoring::visit_worklist(
            &state.db, actor, &q.colour, missed, offset, per_page,
        )
        .await?;
        let lines = rows
            .into_iter()
            .map(|(m, head, village)| {
                let late = m.next_visit_due < today;
                (
                    m.household_id,
                    crate::views::household_name(&head),
                    village,
                    colour_name(&m.colour),
                    m.next_visit_due.clone(),
                    late,
                )
            })
            .collect();
        let base = format!(
            "tab=visits&colour={}{}",
            crate::auth::url_encode(&q.colour),
            if missed { "&missed=1" } else { "" }
        );
        (vec![], lines, total, base)
    };
    let mut page = Page::new(state, actor, "评估与走访清单", "monitoring").await;
    page.notice = notice;
    let code = if errors.is_empty() { 200 } else { 422 };
    Ok(crate::render::with_status(
        render(&WorklistPage {
            page,
            tab: tab.into(),
            assess,
            errors,
            page_no,
            visits,
            colour: q.colour.clone(),
            missed,
            pager: Pager::new(&base, page_no, per_page, total, 1_000_000),
        })?,
        code,
    ))
}

/// 批量评估: the ticked lines of the 待评估 list, each with its answers
/// (`pick` = household id; `fs.{id}`, `unsafe.{id}`, `alone.{id}`,
/// `ev.{id}`). All or nothing; a refusal shows the page again as typed.
pub async fn worklist_assess(
    State(state): State<AppState>,
    actor: Actor,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let value = |k: String| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let mut lines = Vec::new();
    for (n, v) in &fields {
        if n != "pick" {
            continue;
        }
        let Ok(id) = v.parse::<i64>() else { continue };
        lines.push((
            id,
            doudi_app::monitoring::AssessInput {
                housing_unsafe: value(format!("unsafe.{id}")),
                lives_alone_elderly: value(format!("alone.{id}")),
                family_support: value(format!("fs.{id}")).unwrap_or_default(),
                recent_events: value(format!("ev.{id}")).unwrap_or_default(),
            },
        ));
    }
    let page = value("page".into()).and_then(|p| p.parse().ok());
    match doudi_app::monitoring::assess_many(&state.db, &actor, &lines).await {
        Ok(done) => Ok(Redirect::to(&format!(
            "/monitoring/worklist?tab=assess&assessed={}",
            done.len()
        ))
        .into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            let q = WorklistQuery {
                tab: "assess".into(),
                page,
                ..Default::default()
            };
            worklist_page(
                &state,
                &actor,
                &q,
                None,
                lines.into_iter().collect(),
                errors,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
