//! Policies and 政策找人: compiling a policy's rules, the demo catalogue,
//! whole-registry runs (findings and leads), the one-rule preview over a
//! prepared snapshot, and the simulation of a changed standard or rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use doudi_domain::access::Action;
use doudi_rules::catalogue;
use doudi_rules::facts::Facts;
use doudi_rules::finder::{CompiledPolicy, FindingKind, check_household};
use doudi_rules::{Env, Rule, RuleKind};
use doudi_store::households::Scope;
use doudi_store::policies::{self as pol, NewFinding, PolicyRow};
use doudi_store::{Db, today_cn};

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::jobs::{self, Kind};
use crate::registry::{self, Entry, Standards, Walk};
use crate::{access, audit, cases};

/// Field checks besides the rules; messages in Chinese, keyed by field.
pub fn validate_policy(p: &PolicyRow) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let mut need = |field: &str, value: &str, label: &str| {
        if value.trim().is_empty() {
            e.push((field.to_string(), format!("请填写{label}")));
        }
    };
    need("name", &p.name, "政策名称");
    need("department", &p.department, "主管部门");
    need("family", &p.family, "项目类别");
    need("conditions", &p.conditions, "申请条件");
    need("phone", &p.phone, "咨询电话");
    need("receipt_key", &p.receipt_key, "享受记录标识");
    if p.id == 0
        && !p
            .code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || p.code.is_empty()
    {
        e.push((
            "code".into(),
            "政策代码只能由小写英文字母、数字和下划线组成".into(),
        ));
    }
    if !catalogue::BENEFIT_FORMS
        .iter()
        .any(|(c, _)| *c == p.benefit_form)
    {
        e.push(("benefit_form".into(), "请选择待遇形式".into()));
    }
    if !["active", "suspended", "retired"].contains(&p.status.as_str()) {
        e.push(("status".into(), "状态无效".into()));
    }
    let date_ok = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
    if !date_ok(&p.effective_from) {
        e.push((
            "effective_from".into(),
            "生效日期格式应为 YYYY-MM-DD".into(),
        ));
    }
    if let Some(to) = &p.effective_to {
        if !date_ok(to) {
            e.push(("effective_to".into(), "失效日期格式应为 YYYY-MM-DD".into()));
        } else if to.as_str() < p.effective_from.as_str() {
            e.push(("effective_to".into(), "失效日期不能早于生效日期".into()));
        }
    }
    e
}

/// Saves a policy: new when `id` is 0 (its code must be free), else an edit
/// whose `version` must be current (the code stays). Field checks and the
/// rules' compilation refuse it by field; audited with before and after.
pub async fn save_policy(db: &Db, caller: &Caller, id: i64, mut row: PolicyRow) -> Result<i64> {
    access::role(db, caller, Action::ManagePolicies).await?;
    let before = if id == 0 {
        None
    } else {
        let b = pol::policy(db, id).await?.ok_or(Error::NotFound)?;
        row.code = b.code.clone();
        Some(b)
    };
    row.id = id;
    let mut errors = validate_policy(&row);
    if let Err(mut rule_errors) = compile_policy(&row) {
        errors.append(&mut rule_errors);
    }
    if !errors.is_empty() {
        return Err(Error::invalid_pairs(errors));
    }
    let mut tx = db.begin_write().await?;
    let saved_id = if id == 0 {
        match pol::insert_policy(&mut tx, &row, &caller.user.username).await {
            Ok(new_id) => new_id,
            Err(e)
                if e.to_string().contains("UNIQUE")
                    || e.to_string().contains("unique")
                    || e.to_string().contains("duplicate") =>
            {
                return Err(Error::invalid("code", "政策代码已存在，请换一个"));
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        if !pol::update_policy(&mut tx, &row, &caller.user.username).await? {
            return Err(Error::Conflict(
                "该政策已被他人修改，请刷新后重新编辑".into(),
            ));
        }
        id
    };
    audit::write(
        &mut tx,
        caller,
        if id == 0 { "create" } else { "update" },
        "policy",
        saved_id.to_string(),
        None,
        caller.region.as_str(),
        before.map(|b| serde_json::to_value(b).unwrap_or_default()),
        Some(serde_json::to_value(&row).unwrap_or_default()),
        format!("政策“{}”", row.name),
    )
    .await?;
    tx.commit().await?;
    Ok(saved_id)
}

/// Parses a standard's value as the user types it: yuan for money, whole
/// numbers otherwise. Range checks for the percentages the rules bound.
pub fn parse_standard(key: &str, raw: &str) -> Result<i64, String> {
    let def = doudi_rules::standards::def(key).ok_or("未知的标准")?;
    let raw = raw.trim();
    let v = match def.unit {
        doudi_rules::standards::Unit::Fen => doudi_domain::Money::parse_yuan(raw)
            .map_err(|e| e.to_string())?
            .fen(),
        _ => raw.parse::<i64>().map_err(|_| "请输入整数".to_string())?,
    };
    if v < 0 {
        return Err("不能为负数".into());
    }
    match key {
        "disability_severe_pct" | "disability_other_pct" => {
            let (s, o) = if key == "disability_severe_pct" {
                (v, 20)
            } else {
                (35, v)
            };
            let r = if key == "disability_severe_pct" {
                doudi_domain::benefits::validate_disability_pcts(s as u32, o as u32)
            } else {
                doudi_domain::benefits::validate_disability_pcts(s as u32, o as u32)
            };
            r?;
        }
        "medical_ratio_pct" => doudi_domain::benefits::validate_medical_ratio(v as u32)?,
        "nursing_home_gov_pct" => doudi_domain::benefits::validate_nursing_home_pct(v as u32)?,
        "dibian_multiplier_pct" if !(100..=300).contains(&v) => {
            return Err("低保边缘收入线应在低保标准的 100% 至 300% 之间".into());
        }
        _ => {}
    }
    Ok(v)
}

/// A new value of a locally set standard, as typed.
#[derive(Clone, Debug, Default)]
pub struct NewStandard {
    pub key: String,
    /// The county, a town or a village of the caller's jurisdiction.
    pub region: String,
    /// Yuan for money, whole numbers otherwise.
    pub value: String,
    pub effective_from: String,
}

/// Sets a standard from a date on: decisions already made keep the value
/// they were made with. A region outside the caller's jurisdiction is
/// refused by field and audited. Refusals name `value`, `region` or
/// `effective_from`.
pub async fn set_standard(db: &Db, caller: &Caller, s: &NewStandard) -> Result<()> {
    access::role(db, caller, Action::ManagePolicies).await?;
    let mut errors = Vec::new();
    let value = parse_standard(&s.key, &s.value)
        .map_err(|e| errors.push(("value".to_string(), e)))
        .ok();
    let region = s.region.trim().to_string();
    let parsed = doudi_domain::region::RegionCode::parse(&region);
    if parsed.is_err() || !caller.covers(&region) {
        if parsed.is_ok() {
            audit::denied(db, caller, "standard", 0, &region).await;
        }
        errors.push((
            "region".into(),
            "地区代码应为本区或下辖乡镇（街道）、村（社区）代码".into(),
        ));
    }
    let from = NaiveDate::parse_from_str(s.effective_from.trim(), "%Y-%m-%d")
        .map_err(|_| {
            errors.push((
                "effective_from".into(),
                "生效日期格式应为 YYYY-MM-DD".into(),
            ))
        })
        .ok();
    let (Some(value), Some(from), true) = (value, from, errors.is_empty()) else {
        return Err(Error::invalid_pairs(errors));
    };
    let mut tx = db.begin_write().await?;
    doudi_store::cases::set_standard(
        &mut tx,
        &s.key,
        &region,
        value,
        &from.to_string(),
        &caller.user.username,
    )
    .await?;
    audit::write(
        &mut tx,
        caller,
        "create",
        "standard",
        s.key.clone(),
        None,
        &region,
        None,
        Some(serde_json::json!({"key": s.key, "region": region, "value": value, "effective_from": from.to_string()})),
        format!("新标准自 {from} 起生效（已作出的决定不受影响）"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Closes a lead with what the check found (a note is required).
pub async fn close_lead(db: &Db, caller: &Caller, id: i64, note: &str) -> Result<()> {
    let (village_code, household_id, status) = access::lead(db, caller, id).await?;
    if status != "open" {
        return Err(Error::Conflict("该线索已办结".into()));
    }
    if note.trim().is_empty() {
        return Err(Error::invalid("note", "请填写核实情况后再办结"));
    }
    let mut tx = db.begin_write().await?;
    if !pol::close_lead(&mut tx, id, note.trim()).await? {
        return Err(Error::Conflict("该线索已被他人办结".into()));
    }
    audit::write(
        &mut tx,
        caller,
        "update",
        "lead",
        id.to_string(),
        Some(household_id),
        &village_code,
        Some(serde_json::json!({"status": "open"})),
        Some(serde_json::json!({"status": "closed", "note": note.trim()})),
        "线索办结".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The household a rule is tried out on in a test panel (policies and
/// warning rules alike), with its facts and the standards in force there.
/// `household` is the number typed; refusals are field errors on
/// `test_household`; a household outside the caller's jurisdiction is
/// refused and audited, and the view is audited with `what`.
pub async fn rule_test_subject(
    db: &Db,
    caller: &Caller,
    household: &str,
    what: &str,
) -> Result<(
    pol::HouseholdPlace,
    Facts,
    doudi_rules::standards::StandardValues,
)> {
    let today = today_cn();
    let Ok(hid) = household.trim().parse::<i64>() else {
        return Err(Error::invalid(
            "test_household",
            "请输入要测试的家庭编号（家庭档案页地址中的数字）",
        ));
    };
    let Some((place, input, _)) = pol::household_input(db, hid, today).await? else {
        return Err(Error::invalid("test_household", "没有这个家庭编号"));
    };
    if !caller.covers(&place.village_code) {
        audit::denied(db, caller, "household", hid, &place.village_code).await;
        return Err(Error::invalid("test_household", "该家庭不在您的管辖范围内"));
    }
    audit::event(
        db,
        caller,
        "view",
        "household",
        hid.to_string(),
        Some(hid),
        &place.village_code,
        what.to_string(),
    )
    .await?;
    let rows = pol::standard_rows(db).await?;
    let std = doudi_rules::standards::in_force(&rows, &place.village_code, &today.to_string());
    let facts = Facts::build(&input, &std, today);
    Ok((place, facts, std))
}

/// Compiles a policy's rules; errors are keyed by form field.
pub fn compile_policy(p: &PolicyRow) -> Result<CompiledPolicy, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let eligibility = Rule::compile(&p.eligibility, RuleKind::Condition)
        .map_err(|e| errors.push(("eligibility".to_string(), format!("资格规则：{e}"))))
        .ok();
    let amount = if p.amount.trim().is_empty() {
        None
    } else {
        Rule::compile(&p.amount, RuleKind::Amount)
            .map_err(|e| errors.push(("amount".to_string(), format!("金额公式：{e}"))))
            .ok()
    };
    match eligibility {
        Some(eligibility) if errors.is_empty() => Ok(CompiledPolicy {
            id: p.id,
            code: p.code.clone(),
            name: p.name.clone(),
            receipt_key: p.receipt_key.clone(),
            excludes: p.excludes_list(),
            eligibility,
            amount,
        }),
        _ => Err(errors),
    }
}

/// Loads the demo catalogue into an empty `policies` table.
pub async fn seed_catalogue(db: &Db, who: &str) -> Result<usize> {
    let c = catalogue::Catalogue::demo();
    let mut tx = db.begin_write().await?;
    for p in &c.policies {
        let row = PolicyRow {
            code: p.code.clone(),
            name: p.name.clone(),
            department: c.department_name(&p.department),
            family: c.family_name(&p.family),
            conditions: p.conditions.clone(),
            phone: p.phone.clone(),
            target_groups: p.target_groups.join("、"),
            situations: p.situations.join(","),
            benefit_form: p.benefit_form.clone(),
            receipt_key: p.receipt_key.clone(),
            excludes: p.excludes.join(","),
            eligibility: p.eligibility.clone(),
            amount: p.amount.clone(),
            self_check: p.self_check,
            status: "active".into(),
            effective_from: "2024-01-01".into(),
            ..Default::default()
        };
        pol::insert_policy(&mut tx, &row, who).await?;
    }
    tx.commit().await?;
    Ok(c.policies.len())
}

// ----------------------------------------------------------------- finder ---

/// Everything a run over many households needs, prepared once.
pub struct RunContext {
    pub policies: Vec<CompiledPolicy>,
    pub standards: Arc<Standards>,
    pub today: NaiveDate,
}

impl RunContext {
    /// The policies in force today (one, or all), compiled.
    pub async fn load(
        db: &Db,
        policy_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Arc<RunContext>> {
        let mut policies = Vec::new();
        for p in pol::policies(db).await? {
            if !p.in_force(&today.to_string()) || policy_id.is_some_and(|id| id != p.id) {
                continue;
            }
            // A stored rule always compiled when it was saved; a failure here
            // means the engine changed, and the run must say so, not skip it.
            let c = compile_policy(&p).map_err(|e| {
                Error::invalid(
                    "policy",
                    format!(
                        "政策“{}”的规则无法编译：{}",
                        p.name,
                        e.iter().map(|x| x.1.clone()).collect::<Vec<_>>().join("；")
                    ),
                )
            })?;
            policies.push(c);
        }
        Ok(Arc::new(RunContext {
            policies,
            standards: Standards::load(db, today).await?,
            today,
        }))
    }

    fn findings(
        &self,
        (place, input, _): &Entry,
        (std, env): &(BTreeMap<String, i64>, Env),
    ) -> Vec<NewFinding> {
        let facts = Facts::build(input, std, self.today);
        let scope = env.scope(&facts);
        check_household(&self.policies, &scope, &facts.hh.receives)
            .into_iter()
            .map(|f| NewFinding {
                place: place.clone(),
                policy_id: f.policy_id,
                kind: f.kind.code().to_string(),
                reason: f.reason,
                amount_fen: f.amount_fen,
            })
            .collect()
    }

    /// Findings for a batch of households, evaluated off the async threads
    /// on every core.
    pub async fn evaluate(
        self: &Arc<Self>,
        batch: Vec<Entry>,
    ) -> Result<(Vec<Entry>, Vec<NewFinding>)> {
        let ctx = self.clone();
        let (batch, out) = registry::evaluate(
            batch,
            self.standards.clone(),
            |_, std| {
                let env = Env::new(&std);
                (std, env)
            },
            move |e, v| ctx.findings(e, v),
        )
        .await?;
        Ok((batch, out.into_iter().flatten().collect()))
    }
}

/// Runs 政策找人 over `scope`, storing findings batch by batch (progress is
/// visible while it runs); writing one batch's findings overlaps the
/// evaluation of the next.
pub async fn run_finder(db: &Db, run_id: i64, scope: &Scope, ctx: &Arc<RunContext>) -> Result<()> {
    let mut walk = Walk::start(db, scope, ctx.today);
    let mut writing: Option<tokio::task::JoinHandle<doudi_store::Result<bool>>> = None;
    while let Some(batch) = walk.next().await? {
        let n = batch.len() as i64;
        let (_, findings) = ctx.evaluate(batch).await?;
        if let Some(w) = writing.take() {
            stored(w.await??)?;
        }
        let db2 = db.clone();
        writing = Some(tokio::spawn(async move {
            pol::record_batch(&db2, run_id, n, &findings).await
        }));
    }
    if let Some(w) = writing.take() {
        stored(w.await??)?;
    }
    pol::finish_run(db, run_id, "done", "").await?;
    Ok(())
}

/// A batch that found its run no longer running (marked interrupted) stops the run.
fn stored(recorded: bool) -> Result<()> {
    if recorded {
        Ok(())
    } else {
        Err(Error::Conflict(
            "该次运行已被标记为中断，已停止；请重新运行".into(),
        ))
    }
}

/// Starts a 政策找人 run over the caller's jurisdiction (one policy or all)
/// in the background; returns the run's id at once.
pub async fn start_run(db: &Db, caller: &Caller, policy_id: Option<i64>) -> Result<i64> {
    crate::access::role(db, caller, Action::RunFinder).await?;
    let scope = crate::access::household_scope(db, caller).await?;
    let ctx = RunContext::load(db, policy_id, today_cn()).await?;
    if ctx.policies.is_empty() {
        return Err(Error::invalid("policy", "没有可运行的有效政策"));
    }
    let total = pol::count_households(db, &scope).await?;
    let run_id = pol::create_run(
        db,
        &scope,
        policy_id,
        total,
        caller.user.id,
        crate::jobs::owner(),
    )
    .await?;
    if let Err(e) = audit::event(
        db,
        caller,
        "run",
        "finder_run",
        run_id.to_string(),
        None,
        caller.region.as_str(),
        format!("政策找人：{} 项政策，{} 户", ctx.policies.len(), total),
    )
    .await
    {
        jobs::fail(db, Kind::Finder, run_id, &e.to_string()).await?;
        return Err(e);
    }
    let db2 = db.clone();
    jobs::spawn(db, Kind::Finder, run_id, async move {
        run_finder(&db2, run_id, &scope, &ctx).await
    });
    Ok(run_id)
}

/// Turns the findings of a finished run (of one kind, or all) that have no
/// lead yet into leads, each as [`lead_from_finding`] does (checked, written
/// and audited one by one, so a stop half-way leaves whole leads only), at
/// most [`BULK_LEADS`] per call so that a request stays short; the caller
/// runs it again for the rest. Findings of a rule error are skipped.
/// Returns (made, skipped).
/// How many leads one bulk request makes.
pub const BULK_LEADS: usize = 300;

pub async fn leads_from_run(
    db: &Db,
    caller: &Caller,
    run_id: i64,
    kind: &str,
) -> Result<(usize, usize)> {
    let (run, scope) = access::run(db, caller, run_id).await?;
    access::role(db, caller, Action::RunFinder).await?;
    if run.status != "done" {
        return Err(Error::Conflict(
            "该次政策找人未完成，结果不完整，不能生成线索".into(),
        ));
    }
    let kind = FindingKind::from_code(kind).map(|k| k.code());
    let (mut made, mut skipped) = (0, 0);
    let mut offset = 0;
    loop {
        let (page, _) = pol::findings(db, run_id, &scope, kind, offset, 500).await?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as i64;
        for f in page {
            if f.lead_id.is_some() || f.kind == "error" {
                skipped += 1;
                continue;
            }
            if made >= BULK_LEADS {
                return Ok((made, skipped));
            }
            match lead_from_finding(db, caller, f.id).await {
                Ok(_) => made += 1,
                Err(Error::Conflict(_)) => skipped += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok((made, skipped))
}

/// Turns a finding into a lead for the responsible village: a missed
/// benefit becomes an active-discovery lead, an excessive or duplicate one a
/// re-check. Deadline: 5 working days. Returns the lead's id.
pub async fn lead_from_finding(db: &Db, caller: &Caller, id: i64) -> Result<i64> {
    let (f, existing) = access::finding(db, caller, id).await?;
    if existing.is_some() {
        return Err(Error::Conflict("该结果已生成线索".into()));
    }
    if f.kind == "error" {
        return Err(Error::invalid(
            "finding",
            "规则出错的结果不能生成线索：请先修正规则",
        ));
    }
    // Only a finished run's findings are a result: a run that is still
    // running, failed or was interrupted has looked at part of the registry.
    match pol::finding_run_status(db, id).await?.as_deref() {
        Some("done") => {}
        Some("running") => {
            return Err(Error::Conflict(
                "该次政策找人仍在运行，结果尚不完整：请待运行完成后再生成线索".into(),
            ));
        }
        _ => {
            return Err(Error::Conflict(
                "该次政策找人未完成（已中断或失败），结果不完整，不能生成线索：请重新运行后使用新结果".into(),
            ));
        }
    }
    let kind = if f.kind == "missed" {
        "discovery"
    } else {
        "recheck"
    };
    let cal = cases::calendar(db).await?;
    let due = cal.add_working_days_provisional(today_cn(), 5).0;
    let policy = pol::policy(db, f.policy_id)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    let reason = format!(
        "{}：{}（{}）",
        FindingKind::from_code(&f.kind).map_or("", |k| k.label()),
        policy,
        f.reason
    );
    let mut tx = db.begin_write().await?;
    let lead = pol::create_lead(
        &mut tx,
        &f.place,
        "finder",
        kind,
        Some(f.policy_id),
        &reason,
        Some(&due.to_string()),
        caller.user.id,
    )
    .await?;
    if !pol::link_finding_lead(&mut tx, id, lead).await? {
        return Err(Error::Conflict(
            "该结果已生成线索，或其所属运行已不再是完成状态".into(),
        ));
    }
    audit::write(
        &mut tx,
        caller,
        "create",
        "lead",
        lead.to_string(),
        Some(f.place.id),
        &f.place.village_code,
        None,
        Some(serde_json::json!({"kind": kind, "reason": reason, "due": due.to_string()})),
        "由政策找人结果生成线索".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(lead)
}

// ---------------------------------------------------------------- preview ---

/// The registry of one jurisdiction, prepared for rule previews: every
/// household's CEL variables, grouped by village with that village's
/// standards. Built once (it reads the whole registry), then each preview
/// only evaluates the rule.
pub struct Snapshot {
    pub scope_code: String,
    pub today: NaiveDate,
    pub built_at: String,
    pub build_seconds: f64,
    pub households: usize,
    /// Per village: its standards and its households (id, variables).
    villages: Vec<(BTreeMap<String, i64>, Vec<(i64, doudi_rules::Prepared)>)>,
}

impl std::fmt::Debug for Snapshot {
    // By hand: the prepared values are large.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Snapshot({} households of {} on {})",
            self.households, self.scope_code, self.today
        )
    }
}

impl Snapshot {
    pub async fn build(db: &Db, scope: &Scope, today: NaiveDate) -> Result<Snapshot> {
        let started = std::time::Instant::now();
        let standards = Standards::load(db, today).await?;
        let mut by_village: BTreeMap<
            String,
            (BTreeMap<String, i64>, Vec<(i64, doudi_rules::Prepared)>),
        > = BTreeMap::new();
        let mut households = 0;
        let mut walk = Walk::start(db, scope, today);
        while let Some(batch) = walk.next().await? {
            households += batch.len();
            let (batch, prepared) = registry::evaluate(
                batch,
                standards.clone(),
                |_, std| std,
                move |(_, input, _), std| {
                    let facts = Facts::build(input, std, today);
                    doudi_rules::Prepared::new(&facts)
                },
            )
            .await?;
            for ((place, _, _), p) in batch.iter().zip(prepared) {
                by_village
                    .entry(place.village_code.clone())
                    .or_insert_with(|| (standards.in_force(&place.village_code), Vec::new()))
                    .1
                    .push((place.id, p));
            }
        }
        Ok(Snapshot {
            scope_code: scope.0.as_str().to_string(),
            today,
            built_at: doudi_store::now_ts(),
            build_seconds: started.elapsed().as_secs_f64(),
            households,
            villages: by_village.into_values().collect(),
        })
    }

    /// How many households satisfy `rule`, and on how many it failed.
    pub fn count(&self, rule: &Rule) -> (usize, usize) {
        self.evaluate(rule)
            .into_iter()
            .fold((0, 0), |(yes, errors), (_, r)| match r {
                Ok(true) => (yes + 1, errors),
                Ok(false) => (yes, errors),
                Err(()) => (yes, errors + 1),
            })
    }

    /// The households that satisfy `rule` (ids, ascending).
    pub fn matching(&self, rule: &Rule) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .evaluate(rule)
            .into_iter()
            .filter(|(_, r)| *r == Ok(true))
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn evaluate(&self, rule: &Rule) -> Vec<(i64, std::result::Result<bool, ()>)> {
        let envs: Vec<Env> = self.villages.iter().map(|(std, _)| Env::new(std)).collect();
        let items: Vec<(usize, &(i64, doudi_rules::Prepared))> = self
            .villages
            .iter()
            .enumerate()
            .flat_map(|(i, (_, list))| list.iter().map(move |p| (i, p)))
            .collect();
        registry::par_map(&items, |(i, (id, p))| {
            (
                *id,
                rule.eval_bool(&envs[*i].scope_prepared(p)).map_err(|_| ()),
            )
        })
    }
}

/// Prepared registries for rule previews, by jurisdiction code; a snapshot
/// is rebuilt when older than 10 minutes or from another day.
#[derive(Clone, Debug, Default)]
pub struct Previews(Arc<tokio::sync::Mutex<HashMap<String, Arc<Snapshot>>>>);

impl Previews {
    pub async fn snapshot(&self, db: &Db, scope: &Scope) -> Result<Arc<Snapshot>> {
        let mut cache = self.0.lock().await;
        let today = today_cn();
        let fresh = |s: &Snapshot| {
            s.today == today
                && chrono::DateTime::parse_from_rfc3339(&s.built_at).is_ok_and(|t| {
                    chrono::Utc::now().signed_duration_since(t) < chrono::Duration::minutes(10)
                })
        };
        if let Some(s) = cache.get(scope.0.as_str()).filter(|s| fresh(s)) {
            return Ok(s.clone());
        }
        let snap = Arc::new(Snapshot::build(db, scope, today).await?);
        cache.insert(scope.0.as_str().to_string(), snap.clone());
        Ok(snap)
    }
}

/// What a preview of an eligibility rule found in the caller's jurisdiction.
pub struct Preview {
    pub households: usize,
    pub eligible: usize,
    pub errors: usize,
    pub snapshot_built_at: String,
    pub count_seconds: f64,
}

/// Counts the households of the caller's jurisdiction that satisfy the
/// (possibly unsaved) eligibility rule.
pub async fn preview(
    db: &Db,
    previews: &Previews,
    caller: &Caller,
    eligibility: &str,
) -> Result<Preview> {
    let scope = crate::access::household_scope(db, caller).await?;
    let rule = Rule::compile(eligibility, RuleKind::Condition)
        .map_err(|e| Error::invalid("eligibility", format!("资格规则：{e}")))?;
    let snap = previews.snapshot(db, &scope).await?;
    let started = std::time::Instant::now();
    let (eligible, errors) = snap.count(&rule);
    Ok(Preview {
        households: snap.households,
        eligible,
        errors,
        snapshot_built_at: snap.built_at.clone(),
        count_seconds: started.elapsed().as_secs_f64(),
    })
}

// ------------------------------------------------------------- simulation ---

/// What a change would do, per town, without touching live data.
pub struct SimulationResult {
    pub policy: String,
    pub households: i64,
    pub rows: Vec<SimTown>,
    pub enter: i64,
    pub leave: i64,
    pub cost_before: i64,
    pub cost_after: i64,
}

pub struct SimTown {
    pub town: String,
    pub enter: i64,
    pub leave: i64,
    pub cost_before: i64,
    pub cost_after: i64,
}

/// Evaluates `policy` twice over `scope`: as it stands, and with the
/// standard `key` set to `value` and/or the rule replaced. Reads only.
pub async fn simulate(
    db: &Db,
    scope: &Scope,
    policy: &PolicyRow,
    change: Option<(&str, i64)>,
    rule: Option<&str>,
    today: NaiveDate,
) -> Result<SimulationResult> {
    let refused = |e: Vec<(String, String)>| Error::invalid_pairs(e);
    let before = Arc::new(compile_policy(policy).map_err(refused)?);
    let mut changed_row = policy.clone();
    if let Some(r) = rule.filter(|r| !r.trim().is_empty()) {
        changed_row.eligibility = r.to_string();
    }
    let after = Arc::new(compile_policy(&changed_row).map_err(refused)?);
    let change = change.map(|(k, v)| (k.to_string(), v));
    let standards = Standards::load(db, today).await?;
    let mut towns: BTreeMap<String, SimTown> = BTreeMap::new();
    let mut households = 0;
    let mut walk = Walk::start(db, scope, today);
    while let Some(batch) = walk.next().await? {
        households += batch.len() as i64;
        let (before, after, change) = (before.clone(), after.clone(), change.clone());
        // (eligible before, eligible after, amount before, amount after)
        let (batch, results) = registry::evaluate(
            batch,
            standards.clone(),
            move |_, std_a| {
                let mut std_b = std_a.clone();
                if let Some((k, v)) = &change {
                    std_b.insert(k.clone(), *v);
                }
                let (env_a, env_b) = (Env::new(&std_a), Env::new(&std_b));
                (std_a, env_a, std_b, env_b)
            },
            move |(_, input, _), (std_a, env_a, std_b, env_b)| {
                let fa = Facts::build(input, std_a, today);
                let fb = Facts::build(input, std_b, today);
                let sa = env_a.scope(&fa);
                let sb = env_b.scope(&fb);
                let ea = before.eligibility.eval_bool(&sa).unwrap_or(false);
                let eb = after.eligibility.eval_bool(&sb).unwrap_or(false);
                let amount = |p: &CompiledPolicy, s: &doudi_rules::Scope| {
                    p.amount
                        .as_ref()
                        .and_then(|r| r.eval_amount(s).ok())
                        .unwrap_or(0)
                };
                let aa = if ea { amount(&before, &sa) } else { 0 };
                let ab = if eb { amount(&after, &sb) } else { 0 };
                (ea, eb, aa, ab)
            },
        )
        .await?;
        for ((place, _, _), (ea, eb, aa, ab)) in batch.iter().zip(results) {
            let t = towns
                .entry(place.town_code.clone())
                .or_insert_with(|| SimTown {
                    town: place.town_code.clone(),
                    enter: 0,
                    leave: 0,
                    cost_before: 0,
                    cost_after: 0,
                });
            t.cost_before += aa;
            t.cost_after += ab;
            match (ea, eb) {
                (false, true) => t.enter += 1,
                (true, false) => t.leave += 1,
                _ => {}
            }
        }
    }
    let rows: Vec<SimTown> = towns.into_values().collect();
    Ok(SimulationResult {
        policy: policy.name.clone(),
        households,
        enter: rows.iter().map(|r| r.enter).sum(),
        leave: rows.iter().map(|r| r.leave).sum(),
        cost_before: rows.iter().map(|r| r.cost_before).sum(),
        cost_after: rows.iter().map(|r| r.cost_after).sum(),
        rows,
    })
}
