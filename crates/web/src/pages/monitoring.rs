//! Dynamic monitoring and early warning: department feeds (upload and API),
//! warning rules, the sweep, verification of warnings with the four
//! outcomes, the 核对 report, three-colour grading, visits and helpers, and
//! the monitoring dashboard.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::NaiveDate;
use doudi_domain::Coded;
use doudi_domain::access::Action;
use doudi_domain::grading::{
    self, AssessmentInput, Colour, FamilySupport, GradingConfig, VisitPlanConfig,
};
use doudi_rules::facts::Facts;
use doudi_rules::standards;
use doudi_rules::{Env, Rule, RuleKind};
use doudi_sheets::feeds::{self as feeds, FeedKind, FeedRecord};
use doudi_store::households::Scope;
use doudi_store::monitoring::{
    self as mon, FeedInput, NewWarning, ReportLine, SweepRow, WarningRuleRow,
};
use doudi_store::policies::{self as pol, HouseholdPlace};
use doudi_store::{Db, today_cn};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Actor;
use crate::error::{ApiError, AppError};
use crate::ui_households::{audit_denied, audit_event};
use crate::views::{Page, Pager, money};

fn render<T: Template>(t: &T) -> Result<Response, AppError> {
    Ok(Html(t.render()?).into_response())
}

fn with_status(mut r: Response, code: u16) -> Response {
    *r.status_mut() = axum::http::StatusCode::from_u16(code).expect("status");
    r
}

/// The four outcomes of a verified warning (domain-rules.md).
pub const OUTCOMES: &[(&str, &str)] = &[
    ("policy_not_applied", "政策未落实：督促落实或请部门办理"),
    (
        "possibly_eligible",
        "可能符合救助条件：生成主动发现线索、申请或转介",
    ),
    ("complex", "情况复杂：提交一事一议"),
    ("no_longer_eligible", "可能不再符合条件：启动复核"),
];

fn outcome_label(code: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, l)| l)
}

pub const SEVERITIES: &[(&str, &str)] = &[("high", "高"), ("medium", "中"), ("low", "低")];

fn severity_label(code: &str) -> &'static str {
    SEVERITIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, l)| l)
}

/// The department an account reports for (its department, or its name).
fn source_of(actor: &Actor) -> String {
    actor
        .user
        .department
        .clone()
        .unwrap_or_else(|| actor.user.display_name.clone())
}

// ------------------------------------------------------------------ feeds ---

#[derive(Template)]
#[template(path = "feeds.html")]
struct FeedsPage {
    page: Page,
    kinds: Vec<(&'static str, &'static str, &'static str)>,
    batches: Vec<mon::BatchRow>,
    pager: Pager,
    can_upload: bool,
    error: String,
}

/// Department data are seen by the sending department and by district-level
/// staff who run rules or supervise; not by towns or villages.
fn may_see_feeds(actor: &Actor) -> bool {
    let district = actor.region.level() == doudi_domain::RegionLevel::County;
    actor.may(Action::UploadFeed)
        || actor.may(Action::ManagePolicies)
        || (district && (actor.may(Action::RunFinder) || actor.may(Action::ReadAudit)))
}

async fn feeds_page(
    state: &AppState,
    actor: &Actor,
    page_no: i64,
    error: String,
) -> Result<Response, AppError> {
    if !may_see_feeds(actor) {
        return Err(AppError::forbidden());
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
    Ok(with_status(
        render(&FeedsPage {
            page: Page::new(state, actor, "部门数据", "feeds").await,
            kinds: FeedKind::all()
                .iter()
                .map(|k| (k.code(), k.label(), k.department()))
                .collect(),
            batches,
            pager: Pager::new("", page_no, per_page, total, 1_000_000).with_unit("批"),
            can_upload: actor.may(Action::UploadFeed),
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

fn to_input(line: usize, r: &FeedRecord) -> FeedInput {
    FeedInput {
        line,
        kind: r.kind.code().to_string(),
        record_key: r.record_key.clone(),
        id_number: r.id_number.clone(),
        name: r.name.clone(),
        event_date: r.event_date.to_string(),
        amount_fen: r.amount_fen,
        attributes_json: serde_json::to_string(&r.attributes).unwrap_or_else(|_| "{}".into()),
    }
}

fn report_lines(rejected: &[doudi_sheets::Rejected]) -> Vec<ReportLine> {
    rejected
        .iter()
        .map(|r| ReportLine {
            line: r.line,
            key: doudi_store::monitoring::mask_ids_in(&r.household_key),
            id_masked: r.id_number_masked.clone(),
            reason: doudi_store::monitoring::mask_ids_in(&r.reason),
        })
        .collect()
}

/// Rows per uploaded file.
pub const FEED_MAX_ROWS: usize = 200_000;

pub async fn feed_upload(
    State(state): State<AppState>,
    actor: Actor,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    actor.require(Action::UploadFeed)?;
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
    let rows = match feeds::read_feed_table(kind, &filename, &bytes, FEED_MAX_ROWS) {
        Ok(r) => r,
        Err(e) => {
            return feeds_page(
                &state,
                &actor,
                1,
                format!("{}（{}）：{e}", filename, kind.label()),
            )
            .await;
        }
    };
    let (valid, rejected) = feeds::validate_feed_rows(kind, &rows);
    let inputs: Vec<FeedInput> = valid.iter().map(|(line, r)| to_input(*line, r)).collect();
    let batch = mon::store_batch(
        &state.db,
        kind.code(),
        &source_of(&actor),
        "upload",
        &filename,
        actor.user.id,
        rows.len(),
        &inputs,
        report_lines(&rejected),
    )
    .await?;
    audit_event(
        &state,
        &actor,
        "import",
        "feed_batch",
        batch.id.to_string(),
        None,
        actor.region.as_str(),
        format!(
            "{}：{} 行，入库 {}，重复 {}，未匹配 {}，有误 {}",
            kind.label(),
            batch.total_rows,
            batch.accepted,
            batch.duplicates,
            batch.unmatched,
            batch.rejected
        ),
    )
    .await?;
    Ok(Redirect::to(&format!("/feeds/batches/{}", batch.id)).into_response())
}

#[derive(Template)]
#[template(path = "feed_batch.html")]
struct BatchPage {
    page: Page,
    b: mon::BatchRow,
    kind_label: String,
}

async fn batch_for(state: &AppState, actor: &Actor, id: i64) -> Result<mon::BatchRow, AppError> {
    if !may_see_feeds(actor) {
        return Err(AppError::forbidden());
    }
    let b = mon::batch(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if actor.may(Action::UploadFeed) && b.source != source_of(actor) {
        return Err(AppError::forbidden());
    }
    Ok(b)
}

pub async fn feed_batch(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let b = batch_for(&state, &actor, id).await?;
    let kind_label = FeedKind::from_code(&b.kind).map_or(b.kind.clone(), |k| k.label().to_string());
    render(&BatchPage {
        page: Page::new(&state, &actor, format!("数据批次 #{id}"), "feeds").await,
        b,
        kind_label,
    })
}

pub async fn feed_batch_report(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let b = batch_for(&state, &actor, id).await?;
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

/// `POST /api/v1/feeds/{kind}`: a department system pushes records (a JSON
/// array of FeedRecord) with a machine token. Same validation, matching and
/// idempotency as an upload; the answer lists what was not stored.
pub async fn api_push(
    State(state): State<AppState>,
    actor: Actor,
    Path(kind): Path<String>,
    Json(records): Json<Vec<serde_json::Value>>,
) -> Result<Response, ApiError> {
    actor.require(Action::UploadFeed)?;
    let kind = FeedKind::from_code(&kind)
        .ok_or_else(|| AppError::bad_request(format!("未知的数据类型：{kind}")))?;
    if records.len() > FEED_MAX_ROWS {
        return Err(AppError::bad_request(format!("一次最多推送 {FEED_MAX_ROWS} 条")).into());
    }
    let mut valid = Vec::new();
    let mut report = Vec::new();
    for (i, raw) in records.iter().enumerate() {
        let line = i + 1;
        let mut raw = raw.clone();
        if let Some(o) = raw.as_object_mut() {
            o.entry("kind")
                .or_insert(serde_json::Value::from(kind.code()));
        }
        let parsed = serde_json::from_value::<FeedRecord>(raw)
            .map_err(|e| {
                format!(
                    "格式错误：{}",
                    doudi_store::monitoring::mask_ids_in(&e.to_string())
                )
            })
            .and_then(|r| {
                if r.kind != kind {
                    return Err(format!(
                        "记录类型 {} 与接口地址 {} 不一致",
                        r.kind.code(),
                        kind.code()
                    ));
                }
                feeds::validate_feed_record(&r)
            });
        match parsed {
            Ok(r) => valid.push(to_input(line, &r)),
            Err(reason) => report.push(ReportLine {
                line,
                key: String::new(),
                id_masked: String::new(),
                reason,
            }),
        }
    }
    let batch = mon::store_batch(
        &state.db,
        kind.code(),
        &source_of(&actor),
        "api",
        "",
        actor.user.id,
        records.len(),
        &valid,
        report,
    )
    .await?;
    audit_event(
        &state,
        &actor,
        "import",
        "feed_batch",
        batch.id.to_string(),
        None,
        actor.region.as_str(),
        format!(
            "API 推送 {}：{} 条，入库 {}",
            kind.label(),
            batch.total_rows,
            batch.accepted
        ),
    )
    .await?;
    Ok((
        axum::http::StatusCode::OK,
        Json(serde_json::json!({
            "batch": batch.id,
            "received": batch.total_rows,
            "accepted": batch.accepted,
            "duplicates": batch.duplicates,
            "unmatched": batch.unmatched,
            "rejected": batch.rejected,
            "report": batch.report,
        })),
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
        return Err(AppError::forbidden());
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
    actor.require(Action::ManagePolicies)?;
    let r = mon::warning_rule(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    rule_form(&state, &actor, r, vec![], None, String::new()).await
}

pub async fn rule_new(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    actor.require(Action::ManagePolicies)?;
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
    if r.name.is_empty() {
        e.push(("name".into(), "请填写规则名称".into()));
    }
    if r.code.is_empty()
        || !r
            .code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        e.push((
            "code".into(),
            "规则代码只能由小写英文字母、数字和下划线组成".into(),
        ));
    }
    if !SEVERITIES.iter().any(|(c, _)| *c == r.severity) {
        e.push(("severity".into(), "请选择预警等级".into()));
    }
    if let Err(err) = Rule::compile(&r.expression, RuleKind::Condition) {
        e.push(("expression".into(), format!("预警条件：{err}")));
    }
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
    actor.require(Action::ManagePolicies)?;
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
    let before = if id == 0 {
        None
    } else {
        mon::warning_rule(&state.db, id).await?
    };
    let mut tx = state.db.begin_write().await?;
    let saved = if id == 0 {
        match mon::insert_warning_rule(&mut tx, &r, &actor.user.username).await {
            Ok(i) => i,
            Err(e)
                if e.to_string().to_lowercase().contains("unique")
                    || e.to_string().contains("duplicate") =>
            {
                drop(tx);
                return rule_form(
                    &state,
                    &actor,
                    r,
                    vec![("code".into(), "规则代码已存在，请换一个".into())],
                    None,
                    String::new(),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        if !mon::update_warning_rule(&mut tx, &r, &actor.user.username).await? {
            drop(tx);
            return rule_form(
                &state,
                &actor,
                r,
                vec![(
                    "version".into(),
                    "该规则已被他人修改，请刷新后重新编辑".into(),
                )],
                None,
                String::new(),
            )
            .await;
        }
        id
    };
    crate::ui_households::audit_write(
        &mut tx,
        &actor,
        if id == 0 { "create" } else { "update" },
        "warning_rule",
        saved.to_string(),
        None,
        actor.region.as_str(),
        before.map(|b| serde_json::to_value(b).unwrap_or_default()),
        Some(serde_json::to_value(&r).unwrap_or_default()),
        format!("预警规则“{}”", r.name),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/warning-rules?notice=saved").into_response())
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
    let Ok(hid) = household.trim().parse::<i64>() else {
        return Ok((
            None,
            vec![("test_household".into(), "请输入要测试的家庭编号".into())],
        ));
    };
    let today = today_cn();
    let Some((place, input, events)) = pol::household_input(&state.db, hid, today).await? else {
        return Ok((
            None,
            vec![("test_household".into(), "没有这个家庭编号".into())],
        ));
    };
    if !actor.region.contains(&place.village_code) {
        audit_denied(state, actor, "household", hid, &place.village_code).await;
        return Ok((
            None,
            vec![("test_household".into(), "该家庭不在您的管辖范围内".into())],
        ));
    }
    audit_event(
        state,
        actor,
        "view",
        "household",
        hid.to_string(),
        Some(hid),
        &place.village_code,
        format!("预警规则测试：{}", r.name),
    )
    .await?;
    let rows = pol::standard_rows(&state.db).await?;
    let std = standards::in_force(&rows, &place.village_code, &today.to_string());
    let facts = Facts::build(&input.with_feeds(&events, today), &std, today);
    let env = Env::new(&std);
    let scope = env.scope(&facts);
    let conditions = rule
        .explain(&scope)
        .into_iter()
        .map(|c| match c.result {
            Ok(true) => (c.text, "满足".to_string(), "ok"),
            Ok(false) => (c.text, "不满足".to_string(), "fail"),
            Err(e) => (c.text, format!("无法计算：{e}"), "error"),
        })
        .collect();
    let verdict = match rule.eval_bool(&scope) {
        Ok(true) => "会触发预警",
        Ok(false) => "不会触发预警",
        Err(_) => "计算出错",
    };
    Ok((
        Some((
            format!("家庭 {hid}（{} 人）", facts.hh.size),
            conditions,
            verdict.to_string(),
        )),
        vec![],
    ))
}

// ------------------------------------------------------------------ sweep ---

/// Evaluates every active warning rule over the whole registry and raises
/// warnings: at most one open warning per household and rule, none during
/// the cooling period after one was closed. Deadlines in working days.
pub async fn run_sweep(db: &Db, who: &str, today: NaiveDate) -> Result<SweepRow, AppError> {
    // One sweep at a time in this process (a button press during the daily
    // sweep waits for it; the open-warning index refuses duplicates anyway).
    static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = RUNNING.lock().await;
    let sweep_id = mon::create_sweep(db, who).await?;
    let mut summary = SweepRow {
        id: sweep_id,
        status: "done".into(),
        ..Default::default()
    };
    let result = sweep_inner(db, sweep_id, today, &mut summary).await;
    if let Err(e) = &result {
        summary.status = "failed".into();
        summary.message = e.message.clone();
    }
    mon::finish_sweep(db, &summary).await?;
    result.map(|_| summary)
}

async fn sweep_inner(
    db: &Db,
    sweep_id: i64,
    today: NaiveDate,
    s: &mut SweepRow,
) -> Result<(), AppError> {
    let mut rules = Vec::new();
    for r in mon::warning_rules(db)
        .await?
        .into_iter()
        .filter(|r| r.active)
    {
        let compiled = Rule::compile(&r.expression, RuleKind::Condition)
            .map_err(|e| AppError::bad_request(format!("预警规则“{}”无法编译：{e}", r.name)))?;
        rules.push((r, compiled));
    }
    let cal = crate::cases::calendar(db).await?;
    let max_cooling = rules.iter().map(|(r, _)| r.cooling_days).max().unwrap_or(0);
    let since = (today - chrono::Days::new(max_cooling as u64)).to_string();
    let (open, closed) = mon::warning_state(db, &since).await?;
    let standard_rows = pol::standard_rows(db).await?;
    for county in pol::counties(db).await? {
        let Ok(code) = doudi_domain::region::RegionCode::parse(&county) else {
            continue;
        };
        sweep_county(
            db,
            sweep_id,
            today,
            &Scope(code),
            &rules,
            &cal,
            &open,
            &closed,
            &standard_rows,
            s,
        )
        .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn sweep_county(
    db: &Db,
    sweep_id: i64,
    today: NaiveDate,
    scope: &Scope,
    rules: &[(WarningRuleRow, Rule)],
    cal: &doudi_domain::calendar::WorkCalendar,
    open: &std::collections::HashSet<(i64, i64)>,
    closed: &std::collections::HashMap<(i64, i64), String>,
    standard_rows: &[doudi_rules::standards::StandardRow],
    s: &mut SweepRow,
) -> Result<(), AppError> {
    let today_s = today.to_string();
    // The next batch loads while this one is evaluated.
    let load = |after: i64| {
        let (db, scope) = (db.clone(), scope.clone());
        tokio::spawn(async move {
            pol::household_inputs(&db, &scope, after, crate::policies::FINDER_BATCH, today).await
        })
    };
    let mut next = load(0);
    loop {
        let batch = next.await.map_err(AppError::internal)??;
        let Some(last) = batch.last() else { break };
        next = load(last.0.id);
        s.households += batch.len() as i64;
        let envs = crate::policies::envs_for(
            standard_rows,
            batch.iter().map(|b| b.0.village_code.as_str()),
            today,
        );
        // Evaluate in parallel; decide what to raise in order, below.
        let hits = crate::policies::par_map(&batch, |(place, input, events)| {
            let (std, env) = &envs[&place.village_code];
            let facts = Facts::build(&input.clone().with_feeds(events, today), std, today);
            let scope = env.scope(&facts);
            let mut held = Vec::new();
            let mut errors = 0;
            for (i, (_, rule)) in rules.iter().enumerate() {
                match rule.eval_bool(&scope) {
                    Ok(true) => held.push(i),
                    Ok(false) => {}
                    Err(_) => errors += 1,
                }
            }
            (held, errors)
        });
        let mut raise = Vec::new();
        for ((place, _, _), (held, errors)) in batch.iter().zip(hits) {
            s.errors += errors;
            for i in held {
                let r = &rules[i].0;
                let key = (place.id, r.id);
                if open.contains(&key) {
                    s.already_open += 1;
                    continue;
                }
                if let Some(closed_on) = closed.get(&key) {
                    let until = NaiveDate::parse_from_str(closed_on, "%Y-%m-%d")
                        .map(|d| d + chrono::Days::new(r.cooling_days as u64))
                        .unwrap_or(today);
                    if today < until {
                        s.cooling += 1;
                        continue;
                    }
                }
                let due = cal
                    .add_working_days_provisional(today, r.deadline_days as u32)
                    .0;
                raise.push(NewWarning {
                    place: place.clone(),
                    rule_id: r.id,
                    severity: r.severity.clone(),
                    reason: if r.description.is_empty() {
                        r.name.clone()
                    } else {
                        format!("{}：{}", r.name, r.description)
                    },
                    raised_on: today_s.clone(),
                    due_date: due.to_string(),
                    raises_colour: r.raises_colour.clone(),
                });
            }
        }
        s.raised += raise.len() as i64;
        mon::insert_warnings(db, sweep_id, &raise).await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "sweeps.html")]
struct SweepsPage {
    page: Page,
    sweeps: Vec<SweepRow>,
    can_run: bool,
}

fn may_sweep(actor: &Actor) -> bool {
    actor.may(Action::ManagePolicies)
        || (actor.may(Action::RunFinder)
            && actor.region.level() == doudi_domain::RegionLevel::County)
}

pub async fn sweeps(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    if !may_see_feeds(&actor) {
        return Err(AppError::forbidden());
    }
    render(&SweepsPage {
        page: Page::new(&state, &actor, "预警排查", "warnings").await,
        sweeps: mon::sweeps(&state.db, 50).await?,
        can_run: may_sweep(&actor),
    })
}

pub async fn sweep_now(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    if !may_sweep(&actor) {
        return Err(AppError::forbidden());
    }
    let s = run_sweep(&state.db, &actor.user.username, today_cn()).await?;
    audit_event(
        &state,
        &actor,
        "run",
        "sweep",
        s.id.to_string(),
        None,
        actor.region.as_str(),
        format!("预警排查：{} 户，新预警 {}", s.households, s.raised),
    )
    .await?;
    Ok(Redirect::to("/sweeps?notice=saved").into_response())
}

/// Runs the sweep once a day: at start when today's has not run, then
/// whenever the date changes.
pub async fn daily_sweeps(db: Db) {
    loop {
        let today = today_cn();
        // started_at is UTC: compare the China-time date. A sweep left
        // "running" by a crash does not count.
        let ran_today = mon::sweeps(&db, 5).await.ok().is_some_and(|list| {
            list.iter().any(|s| {
                s.status == "done"
                    && chrono::DateTime::parse_from_rfc3339(&s.started_at)
                        .is_ok_and(|t| (t + chrono::Duration::hours(8)).date_naive() == today)
            })
        });
        if !ran_today {
            if let Err(e) = run_sweep(&db, "定时任务", today).await {
                tracing::warn!("daily sweep failed: {}", e.message);
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

// --------------------------------------------------------------- warnings ---

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    page: Page,
    warnings: Vec<(mon::WarningRow, &'static str, bool)>,
    status: String,
    pager: Pager,
}

pub async fn warnings(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let scope = actor.household_scope()?;
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
            &format!("status={status}"),
            page_no,
            per_page,
            total,
            1_000_000,
        )
        .with_unit("条"),
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

async fn warning_in_scope(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<mon::WarningRow, AppError> {
    actor.household_scope()?;
    let w = mon::warning(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !actor.region.contains(&w.village_code) {
        audit_denied(state, actor, "warning", id, &w.village_code).await;
        return Err(AppError::forbidden());
    }
    Ok(w)
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
    let w = warning_in_scope(&state, &actor, id).await?;
    audit_event(
        &state,
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

#[derive(Deserialize, Default)]
pub struct CloseForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    findings: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// Closes a warning with the offline check and one of the four outcomes;
/// outcomes 2–4 create the follow-up (lead, conference, re-check) in the
/// same transaction, so a warning never closes without its next step.
pub async fn warning_close(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Result<Response, AppError> {
    actor.require(Action::HandleCase)?;
    let w = warning_in_scope(&state, &actor, id).await?;
    let mut errors = Vec::new();
    if !["visit", "phone", "data"].contains(&f.method.as_str()) {
        errors.push(("method".to_string(), "请选择核实方式".to_string()));
    }
    if f.findings.trim().is_empty() {
        errors.push(("findings".into(), "请填写核实情况".into()));
    }
    if !OUTCOMES.iter().any(|(c, _)| *c == f.outcome) {
        errors.push(("outcome".into(), "请选择处置结果".into()));
    }
    if w.status != "open" {
        errors.push(("outcome".into(), "该预警已办结".into()));
    }
    let level = mon::warning_rule(&state.db, w.rule_id)
        .await?
        .map(|r| r.verify_level)
        .unwrap_or_default();
    if level == "town" && actor.region.level() == doudi_domain::RegionLevel::Village {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "该预警须由乡镇（街道）核实办结",
        ));
    }
    if !errors.is_empty() {
        return warning_page(&state, &actor, w, errors).await;
    }
    let today = today_cn();
    let place = HouseholdPlace {
        id: w.household_id,
        county_code: w.village_code[..6].to_string(),
        town_code: w.village_code[..9].to_string(),
        village_code: w.village_code.clone(),
        head_name: w.head_name.clone(),
    };
    let cal = crate::cases::calendar(&state.db).await?;
    let due = cal.add_working_days_provisional(today, 10).0.to_string();
    let mut tx = state.db.begin_write().await?;
    let reason = format!("预警“{}”核实：{}", w.rule_name, f.findings.trim());
    let lead = match f.outcome.as_str() {
        "possibly_eligible" => Some(
            pol::create_lead(
                &mut tx,
                &place,
                "warning",
                "discovery",
                None,
                &reason,
                Some(&due),
                actor.user.id,
            )
            .await?,
        ),
        "no_longer_eligible" => Some(
            pol::create_lead(
                &mut tx,
                &place,
                "warning",
                "recheck",
                None,
                &reason,
                Some(&due),
                actor.user.id,
            )
            .await?,
        ),
        "complex" => Some(
            pol::create_lead(
                &mut tx,
                &place,
                "warning",
                "conference",
                None,
                &reason,
                Some(&due),
                actor.user.id,
            )
            .await?,
        ),
        _ => None,
    };
    if !mon::close_warning(
        &mut tx,
        id,
        &f.method,
        f.findings.trim(),
        &f.outcome,
        f.note.trim(),
        actor.user.id,
        &today.to_string(),
        lead,
    )
    .await?
    {
        return Err(AppError::conflict("该预警已被他人办结"));
    }
    crate::ui_households::audit_write(&mut tx, &actor, "update", "warning", id.to_string(), Some(w.household_id), &w.village_code, Some(serde_json::json!({"status": "open"})), Some(serde_json::json!({"status": "closed", "method": f.method, "findings": f.findings.trim(), "outcome": f.outcome, "lead": lead})), format!("预警核实办结：{}", outcome_label(&f.outcome))).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/warnings/{id}?notice=saved")).into_response())
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
    check: Vec<(String, String, String, bool)>,
    records: Vec<(String, String, String, String, String)>,
    today: String,
    can_edit: bool,
    errors: Vec<(String, String)>,
}

async fn household_place(
    state: &AppState,
    actor: &Actor,
    hid: i64,
) -> Result<
    (
        HouseholdPlace,
        doudi_rules::HouseholdInput,
        Vec<doudi_rules::facts::FeedEvent>,
    ),
    AppError,
> {
    actor.household_scope()?;
    let today = today_cn();
    let (place, input, events) = pol::household_input(&state.db, hid, today)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !actor.region.contains(&place.village_code) {
        audit_denied(state, actor, "household", hid, &place.village_code).await;
        return Err(AppError::forbidden());
    }
    Ok((place, input, events))
}

fn colour_label(code: &str) -> String {
    Colour::from_code(code).map_or(String::from("未评估"), |c| format!("{}色", c.label()))
}

/// 核对: declared facts against what the departments reported.
fn check_lines(
    input: &doudi_rules::HouseholdInput,
    events: &[doudi_rules::facts::FeedEvent],
    today: NaiveDate,
) -> Vec<(String, String, String, bool)> {
    let aggs = doudi_rules::facts::feed_aggregates(events, today);
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    let declared = |kind: &str| input.assets.iter().filter(|(k, _)| k == kind).count();
    let mut lines = Vec::new();
    let houses = (declared("house"), count("property"));
    lines.push((
        "房产（套）".to_string(),
        houses.0.to_string(),
        houses.1.to_string(),
        houses.1 > houses.0,
    ));
    let cars = (declared("vehicle"), count("vehicle"));
    lines.push((
        "车辆（辆）".into(),
        cars.0.to_string(),
        cars.1.to_string(),
        cars.1 > cars.0,
    ));
    let business = (declared("business"), count("business"));
    lines.push((
        "经营主体".into(),
        business.0.to_string(),
        business.1.to_string(),
        business.1 > business.0,
    ));
    let fund: i64 = events
        .iter()
        .filter(|e| e.kind == "housing_fund")
        .filter_map(|e| e.amount_fen)
        .max()
        .unwrap_or(0);
    // A housing-fund deposit of X a month implies a wage of at least X
    // (deposits are a share of wages): more than all declared income is a gap.
    lines.push((
        "月收入（元）/ 公积金月缴存".into(),
        money(input.income_monthly_fen),
        money(fund),
        fund > input.income_monthly_fen,
    ));
    // Medical self-pay is not declared in the household file: shown for the
    // check, not compared.
    lines.push((
        "近12个月医疗自付（元）".into(),
        "—".into(),
        money(aggs["medical_selfpay_12m"]),
        false,
    ));
    let recorded_deaths = input.members.iter().filter(|m| !m.alive).count();
    lines.push((
        "死亡注销（人）".into(),
        recorded_deaths.to_string(),
        count("death").to_string(),
        count("death") > recorded_deaths,
    ));
    let disabled = input
        .members
        .iter()
        .filter(|m| m.disability_grade > 0)
        .count();
    lines.push((
        "残疾证（人）".into(),
        disabled.to_string(),
        count("disability").to_string(),
        count("disability") != disabled && count("disability") > 0,
    ));
    lines.push((
        "失业登记（近90天）".into(),
        input
            .members
            .iter()
            .filter(|m| m.employment == "unemployed")
            .count()
            .to_string(),
        aggs["unemployed_registered_90d"].to_string(),
        aggs["unemployed_registered_90d"] > 0
            && !input.members.iter().any(|m| m.employment == "unemployed"),
    ));
    lines
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
    let (place, input, events) = household_place(state, actor, hid).await?;
    audit_event(
        state,
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
    let last: Option<(i64, String)> = doudi_store::sqlx::query_as("SELECT score, breakdown FROM assessments WHERE household_id = $1 ORDER BY assessed_on DESC, id DESC LIMIT 1")
        .bind(hid)
        .fetch_optional(&state.db.pool)
        .await?;
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
            let rule =
                grading::visit_rule(colour, &plan_config(&state.db, &place.village_code).await?);
            let dates = visit_dates(&visits);
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
    let records = mon::household_feed_records(&state.db, hid)
        .await?
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
    Ok(with_status(
        render(&HouseholdMonitoringPage {
            page: Page::new(
                state,
                actor,
                format!("监测与走访 · 家庭 {hid}"),
                "households",
            )
            .await,
            hid,
            head: doudi_domain::mask::mask_name(&place.head_name),
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
            check: check_lines(&input, &events, today),
            records,
            today: today.to_string(),
            can_edit: actor.may(Action::HandleCase),
            errors,
        })?,
        code,
    ))
}

#[derive(Deserialize, Default)]
pub struct AssessForm {
    #[serde(default)]
    housing_unsafe: Option<String>,
    #[serde(default)]
    lives_alone_elderly: Option<String>,
    #[serde(default)]
    family_support: String,
    #[serde(default)]
    recent_events: String,
}

/// Builds the assessment input from the household file plus the answers
/// only a visit can give (housing, support, recent events).
pub fn assessment_input(
    facts: &Facts,
    dibao_standard: i64,
    f: &AssessForm,
) -> Result<AssessmentInput, Vec<(String, String)>> {
    let mut e = Vec::new();
    let support = FamilySupport::from_code(&f.family_support);
    if support.is_none() {
        e.push((
            "family_support".to_string(),
            "请选择家庭支持情况".to_string(),
        ));
    }
    let events = match f.recent_events.trim() {
        "" => 0,
        s => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 20)
            .unwrap_or_else(|| {
                e.push((
                    "recent_events".into(),
                    "近三个月突发事件数应为 0–20 的整数".into(),
                ));
                0
            }),
    };
    if !e.is_empty() {
        return Err(e);
    }
    Ok(AssessmentInput {
        per_capita_income_fen: facts.hh.per_capita_income,
        dibao_standard_fen: dibao_standard,
        chronic_or_serious_illness_members: facts.members.iter().filter(|m| m.ill).count() as u32,
        severe_disability_members: facts.members.iter().filter(|m| m.severe_disability).count()
            as u32,
        other_disability_members: facts
            .members
            .iter()
            .filter(|m| m.disability_grade > 2)
            .count() as u32,
        max_self_care_unable: facts
            .members
            .iter()
            .map(|m| m.self_care_unable as u32)
            .max()
            .unwrap_or(0),
        housing_unsafe: f.housing_unsafe.is_some(),
        lives_alone_elderly: f.lives_alone_elderly.is_some(),
        family_support: support.expect("checked"),
        recent_events: events,
    })
}

pub async fn assess(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<AssessForm>,
) -> Result<Response, AppError> {
    actor.require(Action::HandleCase)?;
    let (place, input, events) = household_place(&state, &actor, hid).await?;
    let today = today_cn();
    let rows = pol::standard_rows(&state.db).await?;
    let std = standards::in_force(&rows, &place.village_code, &today.to_string());
    let facts = Facts::build(&input.with_feeds(&events, today), &std, today);
    let ai = match assessment_input(&facts, std.get("dibao_standard").copied().unwrap_or(0), &f) {
        Ok(a) => a,
        Err(e) => return monitoring_page(&state, &actor, hid, e).await,
    };
    let a = grading::assess(&ai, &grading_config(&std));
    let rule = grading::visit_rule(a.colour, &visit_config(&std));
    let visits = visit_dates(&mon::visits(&state.db, hid).await?);
    // The plan starts today: earlier visits do not count toward it.
    let due = grading::next_visit_due(rule, &visits, today);
    let breakdown = serde_json::to_string(&a.breakdown).unwrap_or_else(|_| "[]".into());
    let mut tx = state.db.begin_write().await?;
    let id = mon::record_assessment(
        &mut tx,
        &place,
        &today.to_string(),
        actor.user.id,
        a.score as i64,
        a.colour.code(),
        &breakdown,
        &serde_json::to_string(&ai).unwrap_or_default(),
        &due.to_string(),
    )
    .await?;
    crate::ui_households::audit_write(&mut tx, &actor, "create", "assessment", id.to_string(), Some(hid), &place.village_code, None, Some(serde_json::json!({"score": a.score, "colour": a.colour.code(), "next_visit_due": due.to_string()})), format!("三色评估：{}色，{} 分", a.colour.label(), a.score)).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/households/{hid}/monitoring?notice=saved")).into_response())
}

#[derive(Deserialize, Default)]
pub struct VisitForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    findings: String,
    #[serde(default)]
    needs: String,
    #[serde(default)]
    follow_up: String,
}

pub async fn add_visit(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<VisitForm>,
) -> Result<Response, AppError> {
    actor.require(Action::HandleCase)?;
    let (place, _, _) = household_place(&state, &actor, hid).await?;
    let today = today_cn();
    let mut errors = Vec::new();
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d").ok();
    match date {
        None => errors.push((
            "date".to_string(),
            "走访日期格式应为 YYYY-MM-DD".to_string(),
        )),
        Some(d) if d > today => errors.push(("date".into(), "走访日期不能晚于今天".into())),
        _ => {}
    }
    if !["home", "phone", "video"].contains(&f.kind.as_str()) {
        errors.push(("kind".into(), "请选择走访方式".into()));
    }
    if f.findings.trim().is_empty() {
        errors.push(("findings".into(), "请填写走访发现".into()));
    }
    if !errors.is_empty() {
        return monitoring_page(&state, &actor, hid, errors).await;
    }
    let date = date.expect("checked");
    let st = mon::monitoring(&state.db, hid).await?;
    let mut tx = state.db.begin_write().await?;
    let id = mon::add_visit(
        &mut tx,
        &place,
        &date.to_string(),
        actor.user.id,
        &actor.user.display_name,
        &f.kind,
        f.findings.trim(),
        f.needs.trim(),
        f.follow_up.trim(),
    )
    .await?;
    if let Some(m) = &st {
        let mut dates = visit_dates(&mon::visits(&state.db, hid).await?);
        dates.push(date);
        let colour = Colour::from_code(&m.colour).unwrap_or(Colour::Green);
        let start = NaiveDate::parse_from_str(&m.plan_start, "%Y-%m-%d").unwrap_or(today);
        let due = grading::next_visit_due(
            grading::visit_rule(colour, &plan_config(&state.db, &place.village_code).await?),
            &dates,
            start,
        );
        let last = dates.iter().max().map(|d| d.to_string());
        mon::set_plan(&mut tx, hid, last.as_deref(), &due.to_string()).await?;
    }
    crate::ui_households::audit_write(&mut tx, &actor, "create", "visit", id.to_string(), Some(hid), &place.village_code, None, Some(serde_json::json!({"date": date.to_string(), "kind": f.kind, "findings": f.findings.trim()})), "走访记录".into()).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/households/{hid}/monitoring?notice=saved")).into_response())
}

#[derive(Deserialize, Default)]
pub struct HelperForm {
    #[serde(default)]
    level: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

pub async fn add_helper(
    State(state): State<AppState>,
    actor: Actor,
    Path(hid): Path<i64>,
    Form(f): Form<HelperForm>,
) -> Result<Response, AppError> {
    actor.require(Action::HandleCase)?;
    let (place, _, _) = household_place(&state, &actor, hid).await?;
    let mut errors = Vec::new();
    if !["town", "village"].contains(&f.level.as_str()) {
        errors.push(("level".to_string(), "请选择帮扶人层级".to_string()));
    }
    if f.name.trim().is_empty() {
        errors.push(("name".into(), "请填写帮扶人姓名".into()));
    }
    let phone = match crate::forms::check_phone(&f.phone) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            errors.push(("phone".into(), e));
            String::new()
        }
    };
    if !errors.is_empty() {
        return monitoring_page(&state, &actor, hid, errors).await;
    }
    let mut tx = state.db.begin_write().await?;
    let id = mon::add_helper(
        &mut tx,
        &place,
        &f.level,
        f.name.trim(),
        &phone,
        &today_cn().to_string(),
    )
    .await?;
    crate::ui_households::audit_write(
        &mut tx,
        &actor,
        "create",
        "helper",
        id.to_string(),
        Some(hid),
        &place.village_code,
        None,
        Some(serde_json::json!({"level": f.level, "name": f.name.trim()})),
        "指定责任帮扶人".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/households/{hid}/monitoring?notice=saved")).into_response())
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
    let scope = actor.household_scope()?;
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

/// Inbox lines: open warnings and visits due, for the inbox page.
pub async fn inbox_lines(
    db: &Db,
    scope: &Scope,
) -> Result<
    (
        Vec<(mon::WarningRow, bool)>,
        Vec<(mon::MonitoringRow, String, String, bool)>,
    ),
    AppError,
> {
    let today = today_cn().to_string();
    let (warnings, _) = mon::warnings(db, scope, "open", &today, 0, 100).await?;
    let warnings = warnings
        .into_iter()
        .map(|w| {
            let overdue = w.due_date < today;
            (w, overdue)
        })
        .collect();
    let until = (today_cn() + chrono::Days::new(2)).to_string();
    let visits = mon::visits_due(db, scope, &until, 100)
        .await?
        .into_iter()
        .map(|(m, head, village)| {
            let missed = m.next_visit_due < today;
            (m, doudi_domain::mask::mask_name(&head), village, missed)
        })
        .collect();
    Ok((warnings, visits))
}

/// "红色" / "黄色" / "绿色" for templates.
pub fn colour_name(code: &str) -> String {
    colour_label(code)
}

/// The warning rules the demo ships with: the signals of domain-rules.md.
/// (code, name, description, expression, severity, verify level, deadline, cooling, raises colour)
#[allow(clippy::type_complexity)]
pub const DEMO_RULES: &[(&str, &str, &str, &str, &str, &str, i64, i64, Option<&str>)] = &[
    (
        "medical_burden",
        "大额医疗支出",
        "近12个月医疗自付超过2万元或超过家庭年收入的50%",
        "feeds.medical_selfpay_12m > 2000000 || (feeds.medical_selfpay_12m > 0 && feeds.medical_selfpay_12m * 2 > hh.annual_income)",
        "high",
        "village",
        5,
        90,
        Some("yellow"),
    ),
    (
        "member_died",
        "家庭成员死亡",
        "公安死亡注销：3个月内复核家庭情况",
        "feeds.deaths_90d > 0",
        "medium",
        "village",
        10,
        180,
        None,
    ),
    (
        "unemployed",
        "劳动年龄成员失业登记",
        "人社失业登记",
        "feeds.unemployed_registered_90d > 0 && hh.working_age_able > 0",
        "medium",
        "village",
        10,
        180,
        None,
    ),
    (
        "new_severe_disability",
        "新增重度残疾",
        "残联新发一、二级残疾证",
        "feeds.new_severe_disability_90d > 0",
        "medium",
        "village",
        10,
        365,
        Some("yellow"),
    ),
    (
        "assets_while_dibao",
        "低保户新增车辆或第二套房产",
        "享受低保期间新增车辆，或房产合计两套及以上",
        "'dibao' in hh.categories && (feeds.vehicles_new_90d > 0 || feeds.properties_12m + hh.houses >= 2)",
        "high",
        "town",
        10,
        180,
        None,
    ),
    (
        "school_dropout",
        "学生辍学",
        "教育部门辍学记录",
        "feeds.dropouts_12m > 0",
        "medium",
        "village",
        5,
        180,
        None,
    ),
    (
        "disaster",
        "受灾",
        "应急部门受灾人员记录",
        "feeds.disaster_12m > 0",
        "high",
        "village",
        2,
        90,
        Some("red"),
    ),
    (
        "utility_arrears",
        "水电燃气欠费",
        "欠费500元以上",
        "feeds.utility_arrears >= 50000",
        "low",
        "village",
        10,
        90,
        None,
    ),
];

/// Loads [`DEMO_RULES`]; every rule is compiled first (a broken one is a bug).
pub async fn seed_warning_rules(db: &Db, who: &str) -> doudi_store::Result<usize> {
    let mut tx = db.begin_write().await?;
    for (code, name, description, expression, severity, level, deadline, cooling, colour) in
        DEMO_RULES
    {
        Rule::compile(expression, RuleKind::Condition)
            .unwrap_or_else(|e| panic!("demo warning rule {code}: {e}"));
        let r = WarningRuleRow {
            code: code.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            expression: expression.to_string(),
            severity: severity.to_string(),
            verify_level: level.to_string(),
            deadline_days: *deadline,
            cooling_days: *cooling,
            raises_colour: colour.map(str::to_string),
            active: true,
            ..Default::default()
        };
        mon::insert_warning_rule(&mut tx, &r, who).await?;
    }
    tx.commit().await?;
    Ok(DEMO_RULES.len())
}

/// The grading thresholds in force for a place (standards with effective
/// dates; the domain defaults where none is set).
pub fn grading_config(std: &std::collections::BTreeMap<String, i64>) -> GradingConfig {
    let mut c = GradingConfig::default();
    let get = |k: &str, d: u32| std.get(k).map_or(d, |v| (*v).clamp(0, 10_000) as u32);
    c.red_threshold = get("grading_red_threshold", c.red_threshold);
    c.yellow_threshold = get("grading_yellow_threshold", c.yellow_threshold);
    // A configuration that does not validate (red below yellow…) falls back
    // to the defaults rather than mis-grading households.
    if c.validate().is_err() {
        GradingConfig::default()
    } else {
        c
    }
}

/// The visit plan in force for a place.
pub fn visit_config(std: &std::collections::BTreeMap<String, i64>) -> VisitPlanConfig {
    let d = VisitPlanConfig::default();
    let get = |k: &str, v: u32| std.get(k).map_or(v, |x| (*x).clamp(1, 365) as u32);
    let c = VisitPlanConfig {
        red_per_week: get("visits_red_per_week", d.red_per_week),
        yellow_per_week: get("visits_yellow_per_week", d.yellow_per_week),
        green_every_days: get("visits_green_every_days", d.green_every_days),
    };
    if c.validate().is_err() { d } else { c }
}

async fn plan_config(db: &Db, village: &str) -> Result<VisitPlanConfig, AppError> {
    let rows = pol::standard_rows(db).await?;
    Ok(visit_config(&standards::in_force(
        &rows,
        village,
        &today_cn().to_string(),
    )))
}

/// The dates of recorded visits, for the visit-plan rules.
fn visit_dates(visits: &[mon::VisitRow]) -> Vec<NaiveDate> {
    visits
        .iter()
        .filter_map(|v| NaiveDate::parse_from_str(&v.visit_date, "%Y-%m-%d").ok())
        .collect()
}
