//! Policies, standards and eligibility: the catalogue with CEL rules and a
//! test panel, dated standards, 政策找人 runs with findings and leads, the
//! standard/rule simulation, and the public policy guide and self-check.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use doudi_domain::access::Action;
use doudi_rules::catalogue::{self, BENEFIT_FORMS, SITUATIONS};
use doudi_rules::facts::{Facts, HouseholdInput, MemberInput};
use doudi_rules::finder::FindingKind;
use doudi_rules::standards::{self, STANDARDS, Unit};
use doudi_rules::{Env, Rule, RuleKind};
use doudi_store::policies::{self as pol, PolicyRow};
use doudi_store::today_cn;
use serde::Deserialize;

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::render::{render, with_status};
use crate::views::{Page, Pager, money};
use doudi_app::{access, audit};

// -------------------------------------------------------------- catalogue ---

#[derive(Deserialize, Default)]
pub struct CatalogueQuery {
    #[serde(default)]
    department: String,
    #[serde(default)]
    situation: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    page: Page,
    policies: Vec<PolicyRow>,
    departments: Vec<(String, bool)>,
    situations: Vec<(&'static str, &'static str, bool)>,
    q: String,
    status: String,
    pager: Pager,
    can_edit: bool,
}

fn departments_of(all: &[PolicyRow], selected: &str) -> Vec<(String, bool)> {
    let mut d: Vec<String> = all.iter().map(|p| p.department.clone()).collect();
    d.sort();
    d.dedup();
    d.into_iter().map(|x| (x.clone(), x == selected)).collect()
}

fn matches_filters(p: &PolicyRow, q: &CatalogueQuery) -> bool {
    (q.department.is_empty() || p.department == q.department)
        && (q.situation.is_empty() || p.situations_list().contains(&q.situation))
        && (q.status.is_empty() || p.status == q.status)
        && (q.q.is_empty() || p.name.contains(q.q.trim()) || p.conditions.contains(q.q.trim()))
}

async fn staff_may_read_policies(state: &AppState, actor: &Actor) -> Result<(), AppError> {
    if actor.may(Action::ManagePolicies)
        || actor.may(Action::HandleCase)
        || actor.may(Action::ReadAudit)
        || actor.may(Action::HandleReferral)
    {
        Ok(())
    } else {
        Err(
            access::refuse(&state.db, actor, "policy", actor.region.as_str())
                .await
                .into(),
        )
    }
}

pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<CatalogueQuery>,
) -> Result<Response, AppError> {
    staff_may_read_policies(&state, &actor).await?;
    let all = pol::policies(&state.db).await?;
    let filtered: Vec<PolicyRow> = all
        .iter()
        .filter(|p| matches_filters(p, &q))
        .cloned()
        .collect();
    let per_page = 30;
    let page_no = q.page.unwrap_or(1).max(1);
    let base = format!(
        "department={}&situation={}&status={}&q={}",
        crate::auth::url_encode(&q.department),
        crate::auth::url_encode(&q.situation),
        crate::auth::url_encode(&q.status),
        crate::auth::url_encode(&q.q)
    );
    let pager = Pager::new(&base, page_no, per_page, filtered.len() as i64, 100_000);
    let policies = filtered
        .into_iter()
        .skip(((page_no - 1) * per_page) as usize)
        .take(per_page as usize)
        .collect();
    render(&PoliciesPage {
        page: Page::new(&state, &actor, "政策目录", "policies").await,
        policies,
        departments: departments_of(&all, &q.department),
        situations: SITUATIONS
            .iter()
            .map(|(c, l)| (*c, *l, *c == q.situation))
            .collect(),
        q: q.q.clone(),
        status: q.status.clone(),
        pager: pager.with_unit("项"),
        can_edit: actor.may(Action::ManagePolicies),
    })
}

#[derive(Template)]
#[template(path = "policy_form.html")]
struct PolicyFormPage {
    page: Page,
    p: PolicyRow,
    errors: Vec<(String, String)>,
    forms: Vec<(&'static str, &'static str)>,
    situations: Vec<(&'static str, &'static str, bool)>,
    can_edit: bool,
    test: Option<TestResult>,
    test_household: String,
    preview: Option<String>,
}

struct TestResult {
    household: String,
    conditions: Vec<(String, String, &'static str)>,
    eligible: String,
    amount: String,
}

async fn form_page(
    state: &AppState,
    actor: &Actor,
    p: PolicyRow,
    errors: Vec<(String, String)>,
    test: Option<TestResult>,
    test_household: String,
) -> Result<Response, AppError> {
    form_page_with(state, actor, p, errors, test, test_household, None).await
}

async fn form_page_with(
    state: &AppState,
    actor: &Actor,
    p: PolicyRow,
    errors: Vec<(String, String)>,
    test: Option<TestResult>,
    test_household: String,
    preview: Option<String>,
) -> Result<Response, AppError> {
    let title = if p.id == 0 {
        "新增政策".to_string()
    } else {
        p.name.clone()
    };
    let situations = SITUATIONS
        .iter()
        .map(|(c, l)| (*c, *l, p.situations_list().iter().any(|s| s == c)))
        .collect();
    let code = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&PolicyFormPage {
            page: Page::new(state, actor, title, "policies").await,
            p,
            errors,
            forms: BENEFIT_FORMS.to_vec(),
            situations,
            can_edit: actor.may(Action::ManagePolicies),
            test,
            test_household,
            preview,
        })?,
        code,
    ))
}

/// Counts the households of the actor's jurisdiction that satisfy the
/// (possibly unsaved) eligibility rule. Reads a prepared snapshot.
async fn preview(
    state: &AppState,
    actor: &Actor,
    row: &PolicyRow,
) -> Result<(Option<String>, Vec<(String, String)>), AppError> {
    match doudi_app::policies::preview(&state.db, &state.previews, actor, &row.eligibility).await {
        Ok(p) => Ok((
            Some(format!(
                "辖区 {} 户中符合资格规则的有 {} 户{}（数据快照 {}，计数用时 {:.2} 秒）",
                p.households,
                p.eligible,
                if p.errors > 0 {
                    format!("，{} 户计算出错", p.errors)
                } else {
                    String::new()
                },
                crate::views::local_time(&p.snapshot_built_at),
                p.count_seconds
            )),
            vec![],
        )),
        Err(doudi_app::Error::Invalid(fields)) => Ok((None, crate::views::pairs(fields))),
        Err(e) => Err(e.into()),
    }
}

pub async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    staff_may_read_policies(&state, &actor).await?;
    let p = pol::policy(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    form_page(&state, &actor, p, vec![], None, String::new()).await
}

pub async fn new_form(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    let p = PolicyRow {
        status: "active".into(),
        benefit_form: "monthly_cash".into(),
        effective_from: today_cn().to_string(),
        eligibility: "hh.size > 0 && hh.per_capita_income < std.dibao".into(),
        self_check: true,
        ..Default::default()
    };
    form_page(&state, &actor, p, vec![], None, String::new()).await
}

#[derive(Deserialize, Default)]
pub struct PolicyForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    family: String,
    #[serde(default)]
    conditions: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    target_groups: String,
    #[serde(default)]
    situations: Vec<String>,
    #[serde(default)]
    benefit_form: String,
    #[serde(default)]
    receipt_key: String,
    #[serde(default)]
    excludes: String,
    #[serde(default)]
    eligibility: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    self_check: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    effective_from: String,
    #[serde(default)]
    effective_to: String,
    #[serde(default)]
    version: i64,
    /// "save" or "test"
    #[serde(default)]
    intent: String,
    #[serde(default)]
    test_household: String,
}

impl PolicyForm {
    fn to_row(&self, id: i64) -> PolicyRow {
        PolicyRow {
            id,
            code: self.code.trim().to_string(),
            name: self.name.trim().to_string(),
            department: self.department.trim().to_string(),
            family: self.family.trim().to_string(),
            conditions: self.conditions.trim().to_string(),
            phone: self.phone.trim().to_string(),
            target_groups: self.target_groups.trim().to_string(),
            situations: self.situations.join(","),
            benefit_form: self.benefit_form.clone(),
            receipt_key: self.receipt_key.trim().to_string(),
            excludes: self.excludes.trim().to_string(),
            eligibility: self.eligibility.trim().to_string(),
            amount: self.amount.trim().to_string(),
            self_check: self.self_check.is_some(),
            status: if self.status.is_empty() {
                "active".into()
            } else {
                self.status.clone()
            },
            effective_from: self.effective_from.trim().to_string(),
            effective_to: Some(self.effective_to.trim().to_string()).filter(|s| !s.is_empty()),
            version: self.version,
        }
    }
}

pub async fn save_new(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<PolicyForm>,
) -> Result<Response, AppError> {
    save_policy(state, actor, 0, f).await
}

pub async fn save(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<PolicyForm>,
) -> Result<Response, AppError> {
    save_policy(state, actor, id, f).await
}

async fn save_policy(
    state: AppState,
    actor: Actor,
    id: i64,
    f: PolicyForm,
) -> Result<Response, AppError> {
    let mut row = f.to_row(id);
    if id != 0 {
        let existing = pol::policy(&state.db, id)
            .await?
            .ok_or_else(AppError::not_found)?;
        row.code = existing.code;
    }
    if f.intent == "preview" {
        staff_may_read_policies(&state, &actor).await?;
        let (text, errors) = preview(&state, &actor, &row).await?;
        return form_page_with(
            &state,
            &actor,
            row,
            errors,
            None,
            f.test_household.clone(),
            text,
        )
        .await;
    }
    if f.intent == "test" {
        staff_may_read_policies(&state, &actor).await?;
        let (test, errors) = test_panel(&state, &actor, &row, &f.test_household).await?;
        return form_page(&state, &actor, row, errors, test, f.test_household.clone()).await;
    }
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    match doudi_app::policies::save_policy(&state.db, &actor, id, row.clone()).await {
        Ok(saved_id) => {
            Ok(Redirect::to(&format!("/policies/{saved_id}?notice=saved")).into_response())
        }
        Err(doudi_app::Error::Invalid(fe)) => {
            let errors = fe.into_iter().map(|e| (e.field, e.message)).collect();
            form_page(&state, &actor, row, errors, None, f.test_household.clone()).await
        }
        Err(doudi_app::Error::Conflict(m)) => {
            form_page(
                &state,
                &actor,
                row,
                vec![("version".into(), m)],
                None,
                String::new(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Evaluates the (possibly unsaved) rules on one household in the actor's
/// jurisdiction and shows each condition's outcome. Audited as a view.
async fn test_panel(
    state: &AppState,
    actor: &Actor,
    row: &PolicyRow,
    household: &str,
) -> Result<(Option<TestResult>, Vec<(String, String)>), AppError> {
    if !actor.may(Action::ViewHousehold) {
        return Ok((None, vec![("test_household".into(), "测试规则需要查看家庭档案的权限（管理员不查看家庭数据）：请由乡镇或区审批人员测试，或使用“预览人数”".into())]));
    }
    let compiled = match doudi_app::policies::compile_policy(row) {
        Ok(c) => c,
        Err(e) => return Ok((None, e)),
    };
    let what = format!("政策规则测试：{}", row.name);
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
    let conditions = compiled.eligibility.verdicts(&scope);
    let eligible = match compiled.eligibility.eval_bool(&scope) {
        Ok(true) => "符合".to_string(),
        Ok(false) => "不符合".to_string(),
        Err(e) => format!("出错：{e}"),
    };
    let amount = match &compiled.amount {
        None => "（非现金待遇）".to_string(),
        Some(r) => match r.eval_amount(&scope) {
            Ok(v) => format!("{} 元", money(v)),
            Err(e) => format!("出错：{e}"),
        },
    };
    Ok((
        Some(TestResult {
            household: format!(
                "{}（户主 {}，{} 人，人均月收入 {} 元）",
                place.id,
                doudi_domain::mask::mask_name(&place.head_name),
                facts.hh.size,
                money(facts.hh.per_capita_income)
            ),
            conditions,
            eligible,
            amount,
        }),
        vec![],
    ))
}

// -------------------------------------------------------------- standards ---

#[derive(Template)]
#[template(path = "standards.html")]
struct StandardsPage {
    page: Page,
    rows: Vec<(String, String, String, String, String)>,
    keys: Vec<(&'static str, &'static str)>,
    /// Regions a standard may be set for, by name (indented by level).
    regions: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    can_edit: bool,
}

fn show_value(key: &str, v: i64) -> String {
    match standards::def(key).map(|d| d.unit) {
        Some(Unit::Fen) => format!("{} 元", money(v)),
        Some(Unit::Percent) => format!("{v}%"),
        _ => v.to_string(),
    }
}

async fn standards_page(
    state: &AppState,
    actor: &Actor,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let mut rows = pol::standard_rows(&state.db).await?;
    rows.sort_by(|a, b| {
        (
            a.key.as_str(),
            a.region_code.as_str(),
            b.effective_from.as_str(),
        )
            .cmp(&(
                b.key.as_str(),
                b.region_code.as_str(),
                a.effective_from.as_str(),
            ))
    });
    let code = if errors.is_empty() { 200 } else { 422 };
    let tree = doudi_store::regions::subtree(&state.db, actor.region.county()).await?;
    let name_of = |c: &str| {
        tree.iter()
            .find(|r| r.code == c)
            .map_or_else(|| c.to_string(), |r| r.name.clone())
    };
    let regions = tree
        .iter()
        .map(|r| {
            let indent = match r.level.as_str() {
                "town" => "　",
                "village" => "　　",
                _ => "",
            };
            (r.code.clone(), format!("{indent}{}", r.name))
        })
        .collect();
    Ok(with_status(
        render(&StandardsPage {
            page: Page::new(state, actor, "救助标准", "policies").await,
            rows: rows
                .iter()
                .map(|r| {
                    (
                        standards::def(&r.key).map_or(r.key.clone(), |d| d.label.to_string()),
                        name_of(&r.region_code),
                        show_value(&r.key, r.value),
                        r.effective_from.clone(),
                        standards::def(&r.key)
                            .map_or(r.key.clone(), |d| format!("std.{}", d.cel_name)),
                    )
                })
                .collect(),
            keys: STANDARDS.iter().map(|d| (d.key, d.label)).collect(),
            regions,
            errors,
            can_edit: actor.may(Action::ManagePolicies),
        })?,
        code,
    ))
}

pub async fn standards_list(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    staff_may_read_policies(&state, &actor).await?;
    standards_page(&state, &actor, vec![]).await
}

#[derive(Deserialize)]
pub struct StandardForm {
    key: String,
    region: String,
    value: String,
    effective_from: String,
}

pub async fn standards_add(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<StandardForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManagePolicies).await?;
    let input = doudi_app::policies::NewStandard {
        key: f.key.clone(),
        region: f.region.clone(),
        value: f.value.clone(),
        effective_from: f.effective_from.clone(),
    };
    match doudi_app::policies::set_standard(&state.db, &actor, &input).await {
        Ok(()) => Ok(Redirect::to("/standards?notice=saved").into_response()),
        Err(doudi_app::Error::Invalid(fe)) => {
            let errors = fe.into_iter().map(|e| (e.field, e.message)).collect();
            standards_page(&state, &actor, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

// ----------------------------------------------------------------- finder ---

#[derive(Template)]
#[template(path = "finder.html")]
struct FinderPage {
    page: Page,
    runs: Vec<pol::RunRow>,
    policies: Vec<(i64, String)>,
    can_run: bool,
    /// The refusal of a start while a run is running, with that run when the
    /// caller may see it.
    error: String,
    running: Option<i64>,
}

async fn finder_page(state: &AppState, actor: &Actor, error: String) -> Result<Response, AppError> {
    let scope = access::household_scope(&state.db, actor).await?;
    let runs = pol::runs(&state.db, &scope, 50).await?;
    let policies = pol::policies(&state.db)
        .await?
        .into_iter()
        .filter(|p| p.status == "active")
        .map(|p| (p.id, format!("{} · {}", p.department, p.name)))
        .collect();
    render(&FinderPage {
        page: Page::new(state, actor, "政策找人", "finder").await,
        running: runs.iter().find(|r| r.status == "running").map(|r| r.id),
        runs,
        policies,
        can_run: actor.may(Action::RunFinder),
        error,
    })
}

pub async fn finder(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    finder_page(&state, &actor, String::new()).await
}

#[derive(Deserialize)]
pub struct StartRun {
    #[serde(default)]
    policy: String,
}

/// Starts a run in the background and shows its progress; while another
/// run is running, the finder page says so (409) instead.
pub async fn finder_start(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<StartRun>,
) -> Result<Response, AppError> {
    let policy_id = f.policy.trim().parse::<i64>().ok();
    match doudi_app::policies::start_run(&state.db, &actor, policy_id).await {
        Ok(run_id) => Ok(Redirect::to(&format!("/finder/{run_id}")).into_response()),
        Err(doudi_app::Error::Conflict(m)) => {
            let mut r = finder_page(&state, &actor, m).await?;
            *r.status_mut() = axum::http::StatusCode::CONFLICT;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct FindingsQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    page: Option<i64>,
    /// A town or village of the caller's jurisdiction (list filter).
    #[serde(default)]
    region: String,
    /// After a bulk conversion: how many leads were made and skipped.
    #[serde(default)]
    made: Option<usize>,
    #[serde(default)]
    skipped: Option<usize>,
}

#[derive(Template)]
#[template(path = "finder_run.html")]
struct RunPage {
    page: Page,
    run: pol::RunRow,
    kind: String,
    kinds: Vec<(&'static str, &'static str, bool)>,
    findings: Vec<pol::FindingRow>,
    pager: Pager,
    can_lead: bool,
    can_run: bool,
    percent: i64,
    /// Street and village filter: (code, label, selected).
    regions: Vec<(String, String, bool)>,
}

pub async fn finder_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<FindingsQuery>,
) -> Result<Response, AppError> {
    let (run, _) = access::run(&state.db, &actor, id).await?;
    let scope = access::narrowed_scope(&state.db, &actor, &q.region).await?;
    let kind = FindingKind::from_code(&q.kind)
        .map(|k| k.code().to_string())
        .unwrap_or_default();
    let per_page = 50;
    let page_no = q.page.unwrap_or(1).max(1);
    let (findings, total) = pol::findings(
        &state.db,
        id,
        &scope,
        Some(kind.as_str()).filter(|k| !k.is_empty()),
        (page_no - 1) * per_page,
        per_page,
    )
    .await?;
    let pager = Pager::new(
        &format!("kind={kind}&region={}", crate::auth::url_encode(&q.region)),
        page_no,
        per_page,
        total,
        1_000_000,
    )
    .with_unit("条");
    let percent = if run.total > 0 {
        run.processed * 100 / run.total
    } else {
        100
    };
    let run_done = run.status == "done";
    let mut page = Page::new(&state, &actor, format!("政策找人 #{id}"), "finder").await;
    if let Some(made) = q.made {
        let rest = if made >= doudi_app::policies::BULK_LEADS {
            "；还有结果未生成线索，请再次点击“全部生成线索”继续"
        } else {
            ""
        };
        page.notice = Some(format!(
            "已生成线索 {made} 条{}，已交各村（社区）核实{rest}。",
            q.skipped
                .filter(|n| *n > 0)
                .map(|n| format!("（{n} 条已有线索或规则出错，未重复生成）"))
                .unwrap_or_default()
        ));
    }
    render(&RunPage {
        page,
        kinds: [
            FindingKind::Missed,
            FindingKind::Excessive,
            FindingKind::Duplicate,
            FindingKind::Error,
        ]
        .iter()
        .map(|k| (k.code(), k.label(), k.code() == kind))
        .collect(),
        run,
        kind,
        findings,
        pager,
        // Only a finished run's findings become leads.
        can_lead: actor.may(Action::RunFinder) && run_done,
        can_run: actor.may(Action::RunFinder),
        percent,
        regions: crate::pages::households::region_options(&state, &actor, &q.region).await?,
    })
}

pub async fn finder_xlsx(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<FindingsQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ExportHouseholds).await?;
    let (run, scope) = access::run(&state.db, &actor, id).await?;
    // The findings of a run that did not finish are marked as incomplete.
    let complete = run.status == "done";
    let kind = FindingKind::from_code(&q.kind).map(|k| k.code());
    let (findings, _) = pol::findings(&state.db, id, &scope, kind, 0, 100_000).await?;
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                f.village_name.clone(),
                f.household_id.to_string(),
                doudi_domain::mask::mask_name(&f.head_name),
                f.policy_name.clone(),
                FindingKind::from_code(&f.kind)
                    .map_or("", |k| k.label())
                    .to_string(),
                f.reason.clone(),
                f.amount_fen.map(money).unwrap_or_default(),
            ]
        })
        .collect();
    audit::event(
        &state.db,
        &actor,
        "export",
        "finder_run",
        id.to_string(),
        None,
        actor.region.as_str(),
        format!("导出政策找人结果 {} 条", rows.len()),
    )
    .await?;
    let bytes = doudi_sheets::table_xlsx(
        if complete {
            "政策找人"
        } else {
            "政策找人（未完成，结果不完整）"
        },
        &[
            "村（社区）",
            "家庭编号",
            "户主",
            "政策",
            "类型",
            "原因",
            "测算金额（元）",
        ],
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
                format!(
                    "attachment; filename=\"finder-{id}{}.xlsx\"",
                    if complete { "" } else { "-incomplete" }
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Turns a finding into a lead for the responsible village.
pub async fn finding_lead(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let lead = doudi_app::policies::lead_from_finding(&state.db, &actor, id).await?;
    Ok(Redirect::to(&format!("/leads?notice=saved#lead-{lead}")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BulkLeadQuery {
    pub kind: String,
}

pub async fn run_leads_confirm(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<BulkLeadQuery>,
) -> Result<Response, AppError> {
    let (_, scope) = access::run(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::RunFinder).await?;
    let kind = FindingKind::from_code(&q.kind).map(|k| k.code());
    let (_, total) = pol::findings(&state.db, id, &scope, kind, 0, 1).await?;
    let what = kind
        .and_then(FindingKind::from_code)
        .map_or("全部".to_string(), |k| format!("“{}”", k.label()));
    // Confirmation before turning a run's findings into leads in bulk.
    render(&crate::pages::households::ConfirmPage {
        page: Page::new(&state, &actor, "请确认", "finder").await,
        message: format!(
            "将本次政策找人{what}结果中尚未生成线索的（共 {total} 条结果，已生成线索和规则出错的除外）逐条生成线索，交各村（社区）在 5 个工作日内核实。确定吗？"
        ),
        action: format!("/finder/{id}/leads"),
        back: format!("/finder/{id}?kind={}", kind.unwrap_or("")),
        fields: vec![("kind".into(), kind.unwrap_or("").to_string())],
        needs_date: false,
        needs_reason: false,
        today: String::new(),
    })
}

pub async fn run_leads(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(q): Form<BulkLeadQuery>,
) -> Result<Response, AppError> {
    let (made, skipped) =
        doudi_app::policies::leads_from_run(&state.db, &actor, id, &q.kind).await?;
    Ok(Redirect::to(&format!(
        "/finder/{id}?kind={}&made={made}&skipped={skipped}",
        crate::auth::url_encode(&q.kind)
    ))
    .into_response())
}

// ------------------------------------------------------------------ leads ---

#[derive(Deserialize, Default)]
pub struct LeadsQuery {
    #[serde(default)]
    status: String,
    /// A town or village of the caller's jurisdiction.
    #[serde(default)]
    region: String,
    #[serde(default)]
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    page: Page,
    leads: Vec<pol::LeadRow>,
    status: String,
    pager: Pager,
    today: String,
    /// Street and village filter: (code, label, selected).
    regions: Vec<(String, String, bool)>,
    region: String,
}

pub async fn leads(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<LeadsQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::HandleCase).await?;
    access::household_scope(&state.db, &actor).await?;
    let scope = access::narrowed_scope(&state.db, &actor, &q.region).await?;
    let status = if q.status.is_empty() {
        "open".to_string()
    } else {
        q.status.clone()
    };
    let filter = if status == "all" {
        None
    } else {
        Some(status.as_str())
    };
    let per_page = 50;
    let page_no = q.page.unwrap_or(1).max(1);
    let (leads, total) = pol::leads(
        &state.db,
        &scope,
        filter,
        (page_no - 1) * per_page,
        per_page,
    )
    .await?;
    render(&LeadsPage {
        page: Page::new(&state, &actor, "线索与复核", "leads").await,
        leads,
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
        status,
        today: today_cn().to_string(),
        regions: crate::pages::households::region_options(&state, &actor, &q.region).await?,
        region: q.region.clone(),
    })
}

#[derive(Deserialize)]
pub struct CloseLead {
    #[serde(default)]
    note: String,
}

pub async fn lead_close(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<CloseLead>,
) -> Result<Response, AppError> {
    doudi_app::policies::close_lead(&state.db, &actor, id, &f.note).await?;
    Ok(Redirect::to("/leads?notice=saved").into_response())
}

// ------------------------------------------------------------- simulation ---

#[derive(Deserialize, Default)]
pub struct SimulateForm {
    #[serde(default)]
    policy: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    rule: String,
}

#[derive(Template)]
#[template(path = "simulate.html")]
struct SimulatePage {
    page: Page,
    policies: Vec<(i64, String, bool)>,
    keys: Vec<(&'static str, &'static str, bool)>,
    form_value: String,
    form_rule: String,
    errors: Vec<(String, String)>,
    result: Option<doudi_app::policies::SimulationResult>,
}

async fn simulate_page(
    state: &AppState,
    actor: &Actor,
    f: SimulateForm,
    errors: Vec<(String, String)>,
    result: Option<doudi_app::policies::SimulationResult>,
) -> Result<Response, AppError> {
    let policy_id = f.policy.parse::<i64>().unwrap_or(0);
    let policies = pol::policies(&state.db)
        .await?
        .into_iter()
        .filter(|p| !p.amount.is_empty() || p.id == policy_id)
        .map(|p| (p.id, p.name.clone(), p.id == policy_id))
        .collect();
    let mut result = result;
    if let Some(r) = result.as_mut() {
        for t in r.rows.iter_mut() {
            if let Ok(Some(region)) = doudi_store::regions::get(&state.db, &t.town).await {
                t.town = region.name;
            }
        }
    }
    let code = if errors.is_empty() { 200 } else { 422 };
    Ok(with_status(
        render(&SimulatePage {
            page: Page::new(state, actor, "标准调整测算", "finder").await,
            policies,
            keys: STANDARDS
                .iter()
                .map(|d| (d.key, d.label, d.key == f.key))
                .collect(),
            form_value: f.value.clone(),
            form_rule: f.rule.clone(),
            errors,
            result,
        })?,
        code,
    ))
}

pub async fn simulate_form(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::RunFinder).await?;
    simulate_page(
        &state,
        &actor,
        SimulateForm {
            key: "dibao_standard".into(),
            ..Default::default()
        },
        vec![],
        None,
    )
    .await
}

pub async fn simulate_run(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<SimulateForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::RunFinder).await?;
    let scope = access::household_scope(&state.db, &actor).await?;
    let mut errors = Vec::new();
    let policy = match f.policy.parse::<i64>() {
        Ok(id) => pol::policy(&state.db, id).await?,
        Err(_) => None,
    };
    if policy.is_none() {
        errors.push(("policy".to_string(), "请选择要测算的政策".to_string()));
    }
    let change = if f.value.trim().is_empty() {
        None
    } else {
        match doudi_app::policies::parse_standard(&f.key, &f.value) {
            Ok(v) => Some((f.key.as_str(), v)),
            Err(e) => {
                errors.push(("value".into(), e));
                None
            }
        }
    };
    if !f.rule.trim().is_empty() {
        if let Err(e) = Rule::compile(&f.rule, RuleKind::Condition) {
            errors.push(("rule".into(), format!("资格规则：{e}")));
        }
    }
    if change.is_none() && f.rule.trim().is_empty() && errors.is_empty() {
        errors.push(("value".into(), "请填写新的标准值，或新的资格规则".into()));
    }
    if !errors.is_empty() {
        return simulate_page(&state, &actor, f, errors, None).await;
    }
    let policy = policy.expect("checked");
    let result = doudi_app::policies::simulate(
        &state.db,
        &scope,
        &policy,
        change,
        Some(f.rule.as_str()),
        today_cn(),
    )
    .await?;
    audit::event(
        &state.db,
        &actor,
        "run",
        "simulation",
        policy.id.to_string(),
        None,
        actor.region.as_str(),
        format!("测算：{}，{} 户", policy.name, result.households),
    )
    .await?;
    let f2 = SimulateForm {
        policy: f.policy.clone(),
        key: f.key.clone(),
        value: f.value.clone(),
        rule: f.rule.clone(),
    };
    simulate_page(&state, &actor, f2, vec![], Some(result)).await
}

// ----------------------------------------------------------------- public ---

#[derive(Template)]
#[template(path = "public_policies.html")]
struct PublicPolicies {
    groups: Vec<(String, Vec<PublicPolicy>)>,
    departments: Vec<(String, bool)>,
    situations: Vec<(&'static str, &'static str, bool)>,
}

/// Only what the public guide shows: name, conditions, phone, department.
pub struct PublicPolicy {
    pub name: String,
    pub department: String,
    pub conditions: String,
    pub phone: String,
    pub form: &'static str,
}

fn public_policy(p: &PolicyRow) -> PublicPolicy {
    PublicPolicy {
        name: p.name.clone(),
        department: p.department.clone(),
        conditions: p.conditions.clone(),
        phone: p.phone.clone(),
        form: catalogue::benefit_form_label(&p.benefit_form),
    }
}

#[derive(Deserialize, Default)]
pub struct PublicQuery {
    #[serde(default)]
    department: String,
    #[serde(default)]
    situation: String,
}

pub async fn public_policies(
    State(state): State<AppState>,
    Query(q): Query<PublicQuery>,
) -> Result<Response, AppError> {
    let today = today_cn().to_string();
    let all: Vec<PolicyRow> = pol::policies(&state.db)
        .await?
        .into_iter()
        .filter(|p| p.in_force(&today))
        .collect();
    let by = if q.situation.is_empty() {
        "department"
    } else {
        "situation"
    };
    let mut groups: Vec<(String, Vec<PublicPolicy>)> = Vec::new();
    if by == "situation" {
        let label = catalogue::situation_label(&q.situation).to_string();
        groups.push((
            label,
            all.iter()
                .filter(|p| p.situations_list().contains(&q.situation))
                .map(public_policy)
                .collect(),
        ));
    } else {
        for p in all
            .iter()
            .filter(|p| q.department.is_empty() || p.department == q.department)
        {
            match groups.iter_mut().find(|g| g.0 == p.department) {
                Some(g) => g.1.push(public_policy(p)),
                None => groups.push((p.department.clone(), vec![public_policy(p)])),
            }
        }
    }
    render(&PublicPolicies {
        groups,
        departments: departments_of(&all, &q.department),
        situations: SITUATIONS
            .iter()
            .map(|(c, l)| (*c, *l, *c == q.situation))
            .collect(),
    })
}

#[derive(Deserialize, Default)]
pub struct SelfCheckForm {
    #[serde(default)]
    size: String,
    #[serde(default)]
    income: String,
    #[serde(default)]
    deposits: String,
    #[serde(default)]
    house: String,
    #[serde(default)]
    car: String,
    #[serde(default)]
    elderly: String,
    #[serde(default)]
    children: String,
    #[serde(default)]
    students: String,
    #[serde(default)]
    disability: String,
    #[serde(default)]
    illness: String,
    #[serde(default)]
    unemployed: String,
    #[serde(default)]
    disaster: String,
    #[serde(default)]
    medical: String,
}

#[derive(Template)]
#[template(path = "public_self_check.html")]
struct SelfCheckPage {
    f: SelfCheckForm,
    errors: Vec<(String, String)>,
    checked: bool,
    results: Vec<PublicPolicy>,
}

fn yes(s: &str) -> bool {
    s == "1"
}

/// Builds a household from the self-check answers: `size` members, the
/// answers spread over them. Nothing is stored or logged.
pub fn self_check_household(f: &SelfCheckForm) -> Result<HouseholdInput, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let size: i64 = match f.size.trim().parse() {
        Ok(n) if (1..=20).contains(&n) => n,
        _ => {
            errors.push(("size".into(), "请填写家庭人数（1–20）".into()));
            1
        }
    };
    let yuan = |s: &str, field: &str, label: &str, errors: &mut Vec<(String, String)>| -> i64 {
        if s.trim().is_empty() {
            return 0;
        }
        match doudi_domain::Money::parse_yuan(s.trim()) {
            Ok(m) if m.fen() >= 0 => m.fen(),
            _ => {
                errors.push((
                    field.into(),
                    format!("{label}请填写金额（元），如 2500 或 2500.50"),
                ));
                0
            }
        }
    };
    let income = yuan(&f.income, "income", "家庭月收入", &mut errors);
    let deposits = yuan(&f.deposits, "deposits", "存款", &mut errors);
    let medical = yuan(&f.medical, "medical", "近一年医疗自付费用", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let today = today_cn();
    let born = |age: i32| NaiveDate::from_ymd_opt(chrono::Datelike::year(&today) - age, 1, 1);
    let mut members: Vec<MemberInput> = (0..size)
        .map(|i| MemberInput {
            birth_date: born(40),
            sex: if i % 2 == 0 {
                "male".into()
            } else {
                "female".into()
            },
            relation: if i == 0 {
                "head".into()
            } else {
                "other".into()
            },
            employment: "employed".into(),
            schooling: "graduated".into(),
            alive: true,
            ..Default::default()
        })
        .collect();
    let mut slot = members.len().saturating_sub(1);
    let mut next = |members: &mut Vec<MemberInput>| -> usize {
        let i = slot;
        slot = slot.saturating_sub(1);
        let _ = members;
        i
    };
    if yes(&f.elderly) {
        let i = next(&mut members);
        members[i].birth_date = born(70);
        members[i].employment = "retired".into();
    }
    if yes(&f.children) {
        let i = next(&mut members);
        members[i].birth_date = born(8);
        members[i].relation = "child".into();
        members[i].employment = "student".into();
        members[i].schooling = "primary".into();
    }
    if yes(&f.students) {
        let i = next(&mut members);
        members[i].birth_date = born(19);
        members[i].relation = "child".into();
        members[i].employment = "student".into();
        members[i].schooling = "college".into();
    }
    if yes(&f.disability) {
        members[0].disability = "physical".into();
        members[0].disability_grade = 2;
        members[0].employment = "no_capacity".into();
    }
    if yes(&f.illness) {
        members[0].illnesses = vec!["重大疾病".into()];
    }
    if yes(&f.unemployed) {
        members[0].employment = "unemployed".into();
    }
    let mut assets = vec![("deposit".to_string(), deposits)];
    if yes(&f.house) {
        assets.push(("house".into(), 0));
    }
    if yes(&f.car) {
        assets.push(("vehicle".into(), 0));
    }
    let mut feeds = BTreeMap::new();
    if yes(&f.disaster) {
        feeds.insert("disaster_12m".to_string(), 1);
    }
    Ok(HouseholdInput {
        village_code: String::new(),
        members,
        income_monthly_fen: income,
        assets,
        essential_spending_12m: medical,
        medical_selfpay_12m: medical,
        feeds,
        ..Default::default()
    })
}

pub async fn public_self_check(
    Query(f): Query<SelfCheckForm>,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let checked = !f.size.is_empty();
    if !checked {
        return render(&SelfCheckPage {
            f,
            errors: vec![],
            checked: false,
            results: vec![],
        });
    }
    let input = match self_check_household(&f) {
        Ok(i) => i,
        Err(errors) => {
            return Ok(with_status(
                render(&SelfCheckPage {
                    f,
                    errors,
                    checked: false,
                    results: vec![],
                })?,
                422,
            ));
        }
    };
    let today = today_cn();
    let rows = pol::standard_rows(&state.db).await?;
    // The district's standards: the self-check does not ask where people live.
    let county = rows
        .iter()
        .map(|r| r.region_code.clone())
        .min_by_key(|c| c.len())
        .unwrap_or_default();
    let std = standards::in_force(&rows, &county, &today.to_string());
    let env = Env::new(&std);
    let facts = Facts::build(&input, &std, today);
    let scope = env.scope(&facts);
    let mut results = Vec::new();
    for p in pol::policies(&state.db).await? {
        if !p.self_check || !p.in_force(&today.to_string()) {
            continue;
        }
        if let Ok(c) = doudi_app::policies::compile_policy(&p) {
            if c.eligibility.eval_bool(&scope).unwrap_or(false) {
                results.push(public_policy(&p));
            }
        }
    }
    render(&SelfCheckPage {
        f,
        errors: vec![],
        checked: true,
        results,
    })
}
