//! Dynamic monitoring: the warning sweep, closing a warning with one of the
//! four outcomes, three-colour assessments, visits and helpers, and the demo
//! warning rules. A warning is raised in [`sweep`] (per household:
//! [`raise_for_batch`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use doudi_domain::access::Action;
use doudi_domain::calendar::WorkCalendar;
use doudi_domain::grading::{
    self, AssessmentInput, Colour, FamilySupport, GradingConfig, VisitPlanConfig,
};
use doudi_domain::{Coded, RegionCode, RegionLevel};
use doudi_rules::facts::Facts;
use doudi_rules::standards;
use doudi_rules::{Env, Rule, RuleKind};
use doudi_store::households::Scope;
use doudi_store::monitoring::{self as mon, NewWarning, SweepCounts, SweepRow, WarningRuleRow};
use doudi_store::policies::{self as pol, HouseholdPlace};
use doudi_store::{Db, today_cn};
use serde::Deserialize;

use crate::caller::Caller;
use crate::error::{Error, Result, field};
use crate::jobs::{self, Kind};
use crate::registry::{self, Entry, Standards, Walk};
use crate::{access, audit, cases, households};

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

pub fn outcome_label(code: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, l)| l)
}

// ------------------------------------------------------------------ sweep ---

/// Evaluates every active warning rule and raises warnings: at most one
/// open warning per household and rule, none during the cooling period
/// after one was closed. Deadlines in working days. Evaluates only the
/// households that changed since the previous sweep when that gives the
/// same result as a full sweep ([`changed_since_previous`]), every active
/// household otherwise. Runs in the caller's task (command line, demo
/// loader, daily job) and returns the stored sweep; [`start_sweep`] runs
/// one in the background. Refused with `Conflict` while another sweep
/// runs, in any process.
pub async fn sweep(db: &Db, who: &str, today: NaiveDate) -> Result<SweepRow> {
    let id = begin_sweep(db, who).await?;
    run_sweep(db, id, today, false).await
}

/// A sweep of every active household, whatever changed.
pub async fn sweep_full(db: &Db, who: &str, today: NaiveDate) -> Result<SweepRow> {
    let id = begin_sweep(db, who).await?;
    run_sweep(db, id, today, true).await
}

/// The running row of a new sweep (refused while one runs).
async fn begin_sweep(db: &Db, who: &str) -> Result<i64> {
    let mut total = 0;
    for county in pol::counties(db).await? {
        if let Ok(code) = RegionCode::parse(&county) {
            total += pol::count_households(db, &Scope(code)).await?;
        }
    }
    Ok(mon::create_sweep(db, who, crate::jobs::owner(), total).await?)
}

/// Walks the registry for sweep `id`, storing each batch with its counters,
/// and ends it `done` or `failed`; returns the row as stored.
async fn run_sweep(db: &Db, id: i64, today: NaiveDate, full: bool) -> Result<SweepRow> {
    let result = sweep_all(db, id, today, full).await;
    let (status, message) = match &result {
        Ok(()) => ("done", String::new()),
        Err(e) => ("failed", e.to_string()),
    };
    mon::finish_sweep(db, id, status, &message).await?;
    result?;
    mon::sweep(db, id).await?.ok_or(Error::NotFound)
}
/// What the sweep knows before it walks: the compiled rules, the calendar,
/// the open warnings and the recently closed ones (for cooling).
struct SweepContext {
    rules: Vec<(WarningRuleRow, Rule)>,
    calendar: WorkCalendar,
    open: HashSet<(i64, i64)>,
    closed: HashMap<(i64, i64), String>,
    today: NaiveDate,
}

/// The longest a "changed only" sweep trusts the last full one: a full
/// sweep at least monthly bounds what a missed change could cost.
const FULL_SWEEP_EVERY_DAYS: i64 = 31;

async fn sweep_all(db: &Db, sweep_id: i64, today: NaiveDate, full: bool) -> Result<()> {
    let mut rules = Vec::new();
    for r in mon::warning_rules(db)
        .await?
        .into_iter()
        .filter(|r| r.active)
    {
        let compiled = Rule::compile(&r.expression, RuleKind::Condition)
            .map_err(|e| Error::invalid("rule", format!("预警规则“{}”无法编译：{e}", r.name)))?;
        rules.push((r, compiled));
    }
    let standards = Standards::load(db, today).await?;
    let print = fingerprint(&rules, &standards.rows);
    // The marks come first: anything written from here on is after them,
    // and the next sweep looks at it again.
    let marks = mon::current_marks(db, &today.to_string(), &print).await?;
    // Department records received before their person was registered.
    mon::claim_pending(db).await?;
    mon::refresh_feed_statistics(db).await?;
    let changed = if full {
        None
    } else {
        changed_since_previous(db, &rules, &standards.rows, &print, today).await?
    };
    mon::set_sweep_marks(
        db,
        sweep_id,
        if changed.is_some() { "changed" } else { "full" },
        &marks,
        changed.as_ref().map(|ids| ids.len() as i64),
    )
    .await?;
    let max_cooling = rules.iter().map(|(r, _)| r.cooling_days).max().unwrap_or(0);
    let since = (today - chrono::Days::new(max_cooling as u64)).to_string();
    let (open, closed) = mon::warning_state(db, &since).await?;
    let ctx = Arc::new(SweepContext {
        rules,
        calendar: cases::calendar(db).await?,
        open,
        closed,
        today,
    });
    let mut walks = Vec::new();
    match changed {
        Some(ids) => walks.push(Walk::of_ids(db, ids, today)),
        None => {
            for county in pol::counties(db).await? {
                if let Ok(code) = RegionCode::parse(&county) {
                    walks.push(Walk::start(db, &Scope(code), today));
                }
            }
        }
    }
    for mut walk in walks {
        while let Some(batch) = walk.next().await? {
            let mut counts = SweepCounts {
                households: batch.len() as i64,
                ..Default::default()
            };
            let raise = raise_for_batch(&ctx, &standards, batch, &mut counts).await?;
            // The batch's warnings and its counters in one transaction.
            if !mon::record_sweep_batch(db, sweep_id, &counts, &raise).await? {
                return Err(Error::Conflict(
                    "该排查已被标记为中断，已停止；请重新排查".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The rules and standards a sweep evaluates, as one stable string hash
/// (FNV-1a): a sweep under other rules or standards is not comparable.
fn fingerprint(rules: &[(WarningRuleRow, Rule)], standards: &[standards::StandardRow]) -> String {
    let mut text = String::new();
    for (r, _) in rules {
        text.push_str(&format!(
            "r{}|{}|{}|{}\n",
            r.id, r.expression, r.cooling_days, r.deadline_days
        ));
    }
    for s in standards {
        text.push_str(&format!(
            "s{}|{}|{}|{}\n",
            s.region_code, s.key, s.value, s.effective_from
        ));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The households a sweep on `today` must evaluate to raise exactly what a
/// full sweep would, given the previous finished sweep; `None` when only a
/// full sweep will do (no previous sweep, other rules or standards, a
/// standard taking effect, a rule reading `today`, no full sweep in the
/// last [`FULL_SWEEP_EVERY_DAYS`] days). A household's facts change only
/// through an audited write, a new household, a new feed record, a record
/// entering or leaving a window, or a member's birthday; a rule that held
/// may also raise again when its cooling period ends. See
/// docs/decisions.md, "A sweep evaluates what changed".
async fn changed_since_previous(
    db: &Db,
    rules: &[(WarningRuleRow, Rule)],
    standard_rows: &[standards::StandardRow],
    print: &str,
    today: NaiveDate,
) -> Result<Option<Vec<i64>>> {
    let (Some(prev), Some(last_full)) = mon::previous_sweep(db).await? else {
        return Ok(None);
    };
    let (Ok(prev_day), Ok(last_full)) = (
        NaiveDate::parse_from_str(&prev.swept_on, "%Y-%m-%d"),
        NaiveDate::parse_from_str(&last_full, "%Y-%m-%d"),
    ) else {
        return Ok(None);
    };
    let standard_starts = standard_rows.iter().any(|s| {
        NaiveDate::parse_from_str(&s.effective_from, "%Y-%m-%d")
            .is_ok_and(|d| d > prev_day && d <= today)
    });
    if prev.fingerprint != print
        || prev_day > today
        || (today - last_full).num_days() > FULL_SWEEP_EVERY_DAYS
        || standard_starts
        || rules.iter().any(|(r, _)| r.expression.contains("today"))
    {
        return Ok(None);
    }
    let windows = changed_windows(prev_day, today);
    let birthdays = birthdays_between(prev_day, today);
    // Cooling periods that ended since the previous sweep.
    let cooling: HashMap<i64, i64> = rules.iter().map(|(r, _)| (r.id, r.cooling_days)).collect();
    let max_cooling = cooling.values().copied().max().unwrap_or(0).max(0);
    let since = (prev_day - chrono::Days::new(max_cooling as u64)).to_string();
    let mut extra = Vec::new();
    for (hid, rule, closed_on) in mon::closed_since(db, &since).await? {
        let (Some(days), Ok(closed)) = (
            cooling.get(&rule),
            NaiveDate::parse_from_str(&closed_on, "%Y-%m-%d"),
        ) else {
            continue;
        };
        let ends = closed + chrono::Days::new((*days).max(0) as u64);
        if ends > prev_day && ends <= today {
            extra.push(hid);
        }
    }
    Ok(Some(
        mon::changed_households(db, &prev, &windows, &birthdays, &extra).await?,
    ))
}

/// Event-date ranges `(from, to]` of the records whose place in a rule
/// window changed between two sweep days: those leaving the 90-day and
/// 12-month windows, and those dated after the earlier day (entering).
pub fn changed_windows(prev: NaiveDate, today: NaiveDate) -> Vec<(String, String)> {
    let days90 = |d: NaiveDate| d - chrono::Days::new(90);
    let year = |d: NaiveDate| d.checked_sub_months(chrono::Months::new(12)).unwrap_or(d);
    [
        (days90(prev), days90(today)),
        (year(prev), year(today)),
        (prev, today),
    ]
    .into_iter()
    .filter(|(a, b)| a < b)
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// The birthdays (MM-DD) on which someone's age changes in `(prev, today]`:
/// each day's own, and 02-29 on 1 March of a common year.
pub fn birthdays_between(prev: NaiveDate, today: NaiveDate) -> Vec<String> {
    use chrono::Datelike;
    let mut out = Vec::new();
    let mut d = prev;
    while d < today && out.len() < 367 {
        d = d.succ_opt().unwrap_or(today);
        out.push(d.format("%m-%d").to_string());
        let leap = NaiveDate::from_ymd_opt(d.year(), 2, 29).is_some();
        if d.month() == 3 && d.day() == 1 && !leap {
            out.push("02-29".to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The warnings a batch of households raises: every rule evaluated on every
/// household (in parallel), then open warnings and cooling periods applied.
async fn raise_for_batch(
    ctx: &Arc<SweepContext>,
    standards: &Arc<Standards>,
    batch: Vec<Entry>,
    s: &mut SweepCounts,
) -> Result<Vec<NewWarning>> {
    let today = ctx.today;
    let eval_ctx = ctx.clone();
    let (batch, hits) = registry::evaluate(
        batch,
        standards.clone(),
        |_, std| {
            let env = Env::new(&std);
            (std, env)
        },
        move |(_, input, _), (std, env)| {
            let facts = Facts::build(input, std, today);
            let scope = env.scope(&facts);
            let mut held = Vec::new();
            let mut errors = 0;
            for (i, (_, rule)) in eval_ctx.rules.iter().enumerate() {
                match rule.eval_bool(&scope) {
                    Ok(true) => held.push(i),
                    Ok(false) => {}
                    Err(_) => errors += 1,
                }
            }
            (held, errors)
        },
    )
    .await?;
    let today_s = today.to_string();
    let mut raise = Vec::new();
    for ((place, _, _), (held, errors)) in batch.iter().zip(hits) {
        s.errors += errors;
        for i in held {
            let r = &ctx.rules[i].0;
            let key = (place.id, r.id);
            if ctx.open.contains(&key) {
                s.already_open += 1;
                continue;
            }
            if let Some(closed_on) = ctx.closed.get(&key) {
                let until = NaiveDate::parse_from_str(closed_on, "%Y-%m-%d")
                    .map(|d| d + chrono::Days::new(r.cooling_days as u64))
                    .unwrap_or(today);
                if today < until {
                    s.cooling += 1;
                    continue;
                }
            }
            let due = ctx
                .calendar
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
    Ok(raise)
}

/// Who may start a sweep: rule administrators, or district staff who run 政策找人.
pub fn may_sweep(caller: &Caller) -> bool {
    caller.may(Action::ManagePolicies)
        || (caller.may(Action::RunFinder) && caller.region.level() == RegionLevel::County)
}

/// A sweep started by a person (the button): refused while another runs,
/// audited, run in the background; returns its id at once (its page shows
/// the progress). Closing the page does not stop it.
pub async fn start_sweep(db: &Db, caller: &Caller) -> Result<i64> {
    if !may_sweep(caller) {
        audit::denied(db, caller, "sweep", 0, caller.region.as_str()).await;
        return Err(Error::forbidden());
    }
    let id = begin_sweep(db, &caller.user.username).await?;
    if let Err(e) = audit::event(
        db,
        caller,
        "run",
        "sweep",
        id.to_string(),
        None,
        caller.region.as_str(),
        format!("启动预警排查 #{id}"),
    )
    .await
    {
        jobs::fail(db, Kind::Sweep, id, &e.to_string()).await?;
        return Err(e);
    }
    let db2 = db.clone();
    jobs::spawn(db, Kind::Sweep, id, async move {
        run_sweep(&db2, id, today_cn(), false).await.map(|_| ())
    });
    Ok(id)
}

/// True when a sweep started today (China time) finished. A sweep that
/// failed or was interrupted does not count, so the daily job runs again.
pub async fn swept_today(db: &Db, today: NaiveDate) -> Result<bool> {
    // Midnight in China is 16:00 UTC the day before.
    let since = (today.and_hms_opt(0, 0, 0).expect("midnight") - chrono::Duration::hours(8))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    Ok(mon::done_sweep_since(db, &since).await?)
}

// --------------------------------------------------------------- warnings ---

/// How a warning was verified and what follows.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CloseWarning {
    /// visit | phone | data
    pub method: String,
    pub findings: String,
    /// One of [`OUTCOMES`].
    pub outcome: String,
    pub note: String,
}

/// Closes a warning with the offline check and one of the four outcomes;
/// outcomes 2–4 create the follow-up lead (discovery, re-check, conference)
/// in the same transaction, so a warning never closes without its next step.
/// Returns the lead's id, if one was made.
pub async fn close_warning(
    db: &Db,
    caller: &Caller,
    id: i64,
    f: &CloseWarning,
) -> Result<Option<i64>> {
    let w = access::warning(db, caller, id).await?;
    access::require(
        db,
        caller,
        Action::HandleCase,
        "warning",
        id,
        &w.village_code,
    )
    .await?;
    let level = mon::warning_rule(db, w.rule_id)
        .await?
        .map(|r| r.verify_level)
        .unwrap_or_default();
    if level == "town" && caller.region.level() == RegionLevel::Village {
        audit::denied(db, caller, "warning", id, &w.village_code).await;
        return Err(Error::Forbidden("该预警须由乡镇（街道）核实办结".into()));
    }
    let mut errors = Vec::new();
    if !["visit", "phone", "data"].contains(&f.method.as_str()) {
        errors.push(field("method", "请选择核实方式"));
    }
    if f.findings.trim().is_empty() {
        errors.push(field("findings", "请填写核实情况"));
    }
    if !OUTCOMES.iter().any(|(c, _)| *c == f.outcome) {
        errors.push(field("outcome", "请选择处置结果"));
    }
    if w.status != "open" {
        errors.push(field("outcome", "该预警已办结"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let today = today_cn();
    let place = HouseholdPlace {
        id: w.household_id,
        county_code: w.village_code[..6].to_string(),
        town_code: w.village_code[..9].to_string(),
        village_code: w.village_code.clone(),
        head_name: w.head_name.clone(),
    };
    let cal = cases::calendar(db).await?;
    let due = cal.add_working_days_provisional(today, 10).0.to_string();
    let reason = format!("预警“{}”核实：{}", w.rule_name, f.findings.trim());
    let lead_kind = match f.outcome.as_str() {
        "possibly_eligible" => Some("discovery"),
        "no_longer_eligible" => Some("recheck"),
        "complex" => Some("conference"),
        _ => None,
    };
    let mut tx = db.begin_write().await?;
    let lead = match lead_kind {
        Some(kind) => Some(
            pol::create_lead(
                &mut tx,
                &place,
                "warning",
                kind,
                None,
                &reason,
                Some(&due),
                caller.user.id,
            )
            .await?,
        ),
        None => None,
    };
    if !mon::close_warning(
        &mut tx,
        id,
        &f.method,
        f.findings.trim(),
        &f.outcome,
        f.note.trim(),
        caller.user.id,
        &today.to_string(),
        lead,
    )
    .await?
    {
        return Err(Error::Conflict("该预警已被他人办结".into()));
    }
    audit::write(
        &mut tx,
        caller,
        "update",
        "warning",
        id.to_string(),
        Some(w.household_id),
        &w.village_code,
        Some(serde_json::json!({"status": "open"})),
        Some(serde_json::json!({"status": "closed", "method": f.method, "findings": f.findings.trim(), "outcome": f.outcome, "lead": lead})),
        format!("预警核实办结：{}", outcome_label(&f.outcome)),
    )
    .await?;
    tx.commit().await?;
    Ok(lead)
}

// ------------------------------------------------ grading, visits, helpers ---

/// The answers only a visit can give (housing, support, recent events); the
/// rest of an assessment comes from the household file.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AssessInput {
    pub housing_unsafe: Option<String>,
    pub lives_alone_elderly: Option<String>,
    pub family_support: String,
    pub recent_events: String,
}

/// Builds the assessment input from the household's facts plus the visit's answers.
pub fn assessment_input(
    facts: &Facts,
    dibao_standard: i64,
    f: &AssessInput,
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

/// What an assessment decided.
pub struct Assessed {
    pub id: i64,
    pub colour: Colour,
    pub score: u32,
    pub next_visit_due: NaiveDate,
}

/// An assessment computed and checked, ready to be written.
struct PreparedAssessment {
    hid: i64,
    place: HouseholdPlace,
    input: AssessmentInput,
    colour: Colour,
    score: u32,
    breakdown: String,
    due: NaiveDate,
}

/// Reads the household, checks the caller and the answers, scores it and
/// plans its visits from `today`. Writes nothing.
async fn prepare_assessment(
    db: &Db,
    caller: &Caller,
    standard_rows: &[standards::StandardRow],
    hid: i64,
    f: &AssessInput,
    today: NaiveDate,
) -> Result<PreparedAssessment> {
    let (place, input, _) = access::household_input(db, caller, hid, today).await?;
    access::require(
        db,
        caller,
        Action::HandleCase,
        "household",
        hid,
        &place.village_code,
    )
    .await?;
    let std = standards::in_force(standard_rows, &place.village_code, &today.to_string());
    let facts = Facts::build(&input, &std, today);
    let ai = assessment_input(&facts, std.get("dibao_standard").copied().unwrap_or(0), f)
        .map_err(Error::invalid_pairs)?;
    let a = grading::assess(&ai, &grading_config(&std));
    let rule = grading::visit_rule(a.colour, &visit_config(&std));
    let visits = visit_dates(&mon::visits(db, hid).await?);
    // The plan starts today: earlier visits do not count toward it.
    let due = grading::next_visit_due(rule, &visits, today);
    Ok(PreparedAssessment {
        hid,
        place,
        breakdown: serde_json::to_string(&a.breakdown).unwrap_or_else(|_| "[]".into()),
        input: ai,
        colour: a.colour,
        score: a.score,
        due,
    })
}

async fn write_assessment(
    tx: &mut doudi_store::Tx,
    caller: &Caller,
    p: &PreparedAssessment,
    today: NaiveDate,
) -> Result<Assessed> {
    let id = mon::record_assessment(
        tx,
        &p.place,
        &today.to_string(),
        caller.user.id,
        p.score as i64,
        p.colour.code(),
        &p.breakdown,
        &serde_json::to_string(&p.input).unwrap_or_default(),
        &p.due.to_string(),
    )
    .await?;
    audit::write(
        tx,
        caller,
        "create",
        "assessment",
        id.to_string(),
        Some(p.hid),
        &p.place.village_code,
        None,
        Some(serde_json::json!({"score": p.score, "colour": p.colour.code(), "next_visit_due": p.due.to_string()})),
        format!("三色评估：{}色，{} 分", p.colour.label(), p.score),
    )
    .await?;
    Ok(Assessed {
        id,
        colour: p.colour,
        score: p.score,
        next_visit_due: p.due,
    })
}

/// Scores a household (red / yellow / green) and restarts its visit plan today.
pub async fn assess(db: &Db, caller: &Caller, hid: i64, f: &AssessInput) -> Result<Assessed> {
    let today = today_cn();
    let rows = pol::standard_rows(db).await?;
    let p = prepare_assessment(db, caller, &rows, hid, f, today).await?;
    let mut tx = db.begin_write().await?;
    let done = write_assessment(&mut tx, caller, &p, today).await?;
    tx.commit().await?;
    Ok(done)
}

/// The most households one worklist submission assesses.
pub const ASSESS_MANY_CAP: usize = 50;

/// Several households assessed at once from the 待评估 worklist, each with
/// its own visit answers. Every line is checked first: one refused line
/// refuses the whole submission (field names `{household id}.{field}`,
/// messages naming the household) and nothing is written; otherwise all
/// are written in one transaction.
pub async fn assess_many(
    db: &Db,
    caller: &Caller,
    lines: &[(i64, AssessInput)],
) -> Result<Vec<Assessed>> {
    access::role(db, caller, Action::HandleCase).await?;
    if lines.is_empty() {
        return Err(Error::invalid("households", "请至少勾选一户家庭再提交评估"));
    }
    if lines.len() > ASSESS_MANY_CAP {
        return Err(Error::invalid(
            "households",
            format!("一次最多评估 {ASSESS_MANY_CAP} 户，请分批提交"),
        ));
    }
    let today = today_cn();
    let rows = pol::standard_rows(db).await?;
    let mut prepared = Vec::with_capacity(lines.len());
    let mut refused = Vec::new();
    for (hid, f) in lines {
        match prepare_assessment(db, caller, &rows, *hid, f, today).await {
            Ok(p) => prepared.push(p),
            Err(Error::Invalid(fields)) => {
                let who = household_label(db, *hid).await;
                refused.extend(fields.into_iter().map(|e| {
                    field(
                        &format!("{hid}.{}", e.field),
                        format!("{who}：{}", e.message),
                    )
                }));
            }
            Err(e) => return Err(e),
        }
    }
    if !refused.is_empty() {
        return Err(Error::Invalid(refused));
    }
    let mut tx = db.begin_write().await?;
    let mut done = Vec::with_capacity(prepared.len());
    for p in &prepared {
        done.push(write_assessment(&mut tx, caller, p, today).await?);
    }
    tx.commit().await?;
    Ok(done)
}

/// "张*户" for a household the caller has already been allowed to read.
async fn household_label(db: &Db, hid: i64) -> String {
    // The same head name the worklist line shows.
    let head: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
            .bind(hid)
            .fetch_optional(&db.pool)
            .await
            .ok()
            .flatten();
    match head {
        Some(n) => format!("{}户", doudi_domain::mask::mask_name(&n)),
        None => format!("家庭 {hid}"),
    }
}

/// A visit as recorded by the village assistant.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct VisitInput {
    /// YYYY-MM-DD, not after today.
    pub date: String,
    /// home | phone | video
    pub kind: String,
    pub findings: String,
    pub needs: String,
    pub follow_up: String,
}

/// Records a visit and moves the visit plan on. Everything the write needs
/// is read before the write transaction opens, so the transaction never
/// waits for another connection while it holds the write lock.
pub async fn record_visit(db: &Db, caller: &Caller, hid: i64, f: &VisitInput) -> Result<i64> {
    let today = today_cn();
    let (place, _, _) = access::household_input(db, caller, hid, today).await?;
    access::require(
        db,
        caller,
        Action::HandleCase,
        "household",
        hid,
        &place.village_code,
    )
    .await?;
    let mut errors = Vec::new();
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d").ok();
    match date {
        None => errors.push(field("date", "走访日期格式应为 YYYY-MM-DD")),
        Some(d) if d > today => errors.push(field("date", "走访日期不能晚于今天")),
        _ => {}
    }
    if !["home", "phone", "video"].contains(&f.kind.as_str()) {
        errors.push(field("kind", "请选择走访方式"));
    }
    if f.findings.trim().is_empty() {
        errors.push(field("findings", "请填写走访发现"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let date = date.expect("checked");
    let plan = match mon::monitoring(db, hid).await? {
        Some(m) => {
            let mut dates = visit_dates(&mon::visits(db, hid).await?);
            dates.push(date);
            let colour = Colour::from_code(&m.colour).unwrap_or(Colour::Green);
            let start = NaiveDate::parse_from_str(&m.plan_start, "%Y-%m-%d").unwrap_or(today);
            let due = grading::next_visit_due(
                grading::visit_rule(colour, &plan_config(db, &place.village_code).await?),
                &dates,
                start,
            );
            let last = dates.iter().max().map(|d| d.to_string());
            Some((last, due))
        }
        None => None,
    };
    let mut tx = db.begin_write().await?;
    let id = mon::add_visit(
        &mut tx,
        &place,
        &date.to_string(),
        caller.user.id,
        &caller.user.display_name,
        &f.kind,
        f.findings.trim(),
        f.needs.trim(),
        f.follow_up.trim(),
    )
    .await?;
    if let Some((last, due)) = plan {
        mon::set_plan(&mut tx, hid, last.as_deref(), &due.to_string()).await?;
    }
    audit::write(
        &mut tx,
        caller,
        "create",
        "visit",
        id.to_string(),
        Some(hid),
        &place.village_code,
        None,
        Some(serde_json::json!({"date": date.to_string(), "kind": f.kind, "findings": f.findings.trim()})),
        "走访记录".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A named helper for a key household.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct HelperInput {
    /// town | village
    pub level: String,
    pub name: String,
    pub phone: String,
}

pub async fn add_helper(db: &Db, caller: &Caller, hid: i64, f: &HelperInput) -> Result<i64> {
    let (place, _, _) = access::household_input(db, caller, hid, today_cn()).await?;
    access::require(
        db,
        caller,
        Action::HandleCase,
        "household",
        hid,
        &place.village_code,
    )
    .await?;
    let mut errors = Vec::new();
    if !["town", "village"].contains(&f.level.as_str()) {
        errors.push(field("level", "请选择帮扶人层级"));
    }
    if f.name.trim().is_empty() {
        errors.push(field("name", "请填写帮扶人姓名"));
    }
    let phone = match households::check_phone(&f.phone) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            errors.push(field("phone", e));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    let id = mon::add_helper(
        &mut tx,
        &place,
        &f.level,
        f.name.trim(),
        &phone,
        &today_cn().to_string(),
    )
    .await?;
    audit::write(
        &mut tx,
        caller,
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
    Ok(id)
}

/// Inbox lines: open warnings (with an overdue flag) and visits due within
/// two days (masked head name, village, missed flag).
#[allow(clippy::type_complexity)]
pub async fn inbox_lines(db: &Db, scope: &Scope) -> Result<InboxLines> {
    let today = today_cn().to_string();
    let (warnings, open_warnings) = mon::warnings(db, scope, "open", &today, 0, 100).await?;
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
    Ok(InboxLines {
        warnings,
        open_warnings,
        visits,
    })
}

/// The monitoring part of an inbox: the first 100 open warnings (soonest
/// due first) and how many are open in all; visits due within two days.
pub struct InboxLines {
    pub warnings: Vec<(mon::WarningRow, bool)>,
    pub open_warnings: i64,
    pub visits: Vec<(mon::MonitoringRow, String, String, bool)>,
}

/// 待评估: key households of the caller's jurisdiction never assessed or
/// assessed longer ago than the re-assessment period (a standard,
/// `grading_reassess_months`). Page of `per_page` from `offset`, and the total.
pub async fn assessment_worklist(
    db: &Db,
    caller: &Caller,
    offset: i64,
    per_page: i64,
) -> Result<(Vec<mon::AssessmentDue>, i64)> {
    access::role(db, caller, Action::HandleCase).await?;
    let today = today_cn();
    let rows = pol::standard_rows(db).await?;
    let std = standards::in_force(&rows, caller.region.as_str(), &today.to_string());
    let months = std
        .get("grading_reassess_months")
        .copied()
        .unwrap_or(12)
        .clamp(1, 60) as u32;
    let cutoff = today
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(today);
    Ok(mon::assessments_due(db, &caller.scope(), &cutoff.to_string(), offset, per_page).await?)
}

/// 待走访: visit plans of the caller's jurisdiction, soonest due first;
/// `colour` (red/yellow/green) and `missed_only` filter.
pub async fn visit_worklist(
    db: &Db,
    caller: &Caller,
    colour: &str,
    missed_only: bool,
    offset: i64,
    per_page: i64,
) -> Result<(Vec<(mon::MonitoringRow, String, String)>, i64)> {
    access::role(db, caller, Action::HandleCase).await?;
    let colour = Colour::from_code(colour).map(|c| c.code());
    let today = today_cn().to_string();
    Ok(mon::visit_plans(
        db,
        &caller.scope(),
        colour,
        missed_only.then_some(today.as_str()),
        offset,
        per_page,
    )
    .await?)
}

/// The grading thresholds in force for a place (standards with effective
/// dates; the domain defaults where none is set).
pub fn grading_config(std: &BTreeMap<String, i64>) -> GradingConfig {
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
pub fn visit_config(std: &BTreeMap<String, i64>) -> VisitPlanConfig {
    let d = VisitPlanConfig::default();
    let get = |k: &str, v: u32| std.get(k).map_or(v, |x| (*x).clamp(1, 365) as u32);
    let c = VisitPlanConfig {
        red_per_week: get("visits_red_per_week", d.red_per_week),
        yellow_per_week: get("visits_yellow_per_week", d.yellow_per_week),
        green_every_days: get("visits_green_every_days", d.green_every_days),
    };
    if c.validate().is_err() { d } else { c }
}

/// The visit plan in force in a village today.
pub async fn plan_config(db: &Db, village: &str) -> Result<VisitPlanConfig> {
    let rows = pol::standard_rows(db).await?;
    Ok(visit_config(&standards::in_force(
        &rows,
        village,
        &today_cn().to_string(),
    )))
}

/// The dates of recorded visits, for the visit-plan rules.
pub fn visit_dates(visits: &[mon::VisitRow]) -> Vec<NaiveDate> {
    visits
        .iter()
        .filter_map(|v| NaiveDate::parse_from_str(&v.visit_date, "%Y-%m-%d").ok())
        .collect()
}

/// The warning rules the demo ships with: the signals of domain-rules.md.
/// (code, name, description, expression, severity, verify level, deadline, cooling, raises colour)
#[allow(clippy::type_complexity)]
pub const DEMO_RULES: &[(&str, &str, &str, &str, &str, &str, i64, i64, Option<&str>)] = &[
    (
        "medical_burden",
        "大额医疗支出",
        "近12个月医疗自付超过2万元，或超过5000元且超过家庭年收入的50%",
        "feeds.medical_selfpay_12m > 2000000 || (feeds.medical_selfpay_12m > 500000 && feeds.medical_selfpay_12m * 2 > hh.annual_income)",
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
pub async fn seed_warning_rules(db: &Db, who: &str) -> Result<usize> {
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

// ------------------------------------------------------------------ feeds ---

/// Rows per uploaded file or records per push.
pub const FEED_MAX_ROWS: usize = 200_000;

use doudi_sheets::feeds::{self as feeds, FeedKind, FeedRecord};
use doudi_store::monitoring::{BatchRow, FeedInput, ReportLine};

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
            key: mon::mask_ids_in(&r.household_key),
            id_masked: r.id_number_masked.clone(),
            reason: mon::mask_ids_in(&r.reason),
        })
        .collect()
}

/// A department's uploaded file (.xlsx / .csv): read, checked row by row,
/// stored as one batch (idempotent by record key), audited. A file that
/// cannot be read stores nothing.
pub async fn upload_feed(
    db: &Db,
    caller: &Caller,
    kind: FeedKind,
    filename: &str,
    bytes: &[u8],
) -> Result<BatchRow> {
    access::role(db, caller, Action::UploadFeed).await?;
    crate::departments::require_feed(db, caller, kind).await?;
    let rows = feeds::read_feed_table(kind, filename, bytes, FEED_MAX_ROWS)
        .map_err(|e| Error::invalid("file", format!("{}（{}）：{e}", filename, kind.label())))?;
    let (valid, rejected) = feeds::validate_feed_rows(kind, &rows);
    let inputs: Vec<FeedInput> = valid.iter().map(|(line, r)| to_input(*line, r)).collect();
    store_feed(
        db,
        caller,
        kind,
        "upload",
        filename,
        rows.len(),
        &inputs,
        report_lines(&rejected),
    )
    .await
}

/// Records pushed by a department's system (JSON), checked one by one and
/// stored as one batch, like an upload.
pub async fn push_feed(
    db: &Db,
    caller: &Caller,
    kind: &str,
    records: &[serde_json::Value],
) -> Result<BatchRow> {
    access::role(db, caller, Action::UploadFeed).await?;
    let kind = FeedKind::from_code(kind)
        .ok_or_else(|| Error::invalid("kind", format!("未知的数据类型：{kind}")))?;
    crate::departments::require_feed(db, caller, kind).await?;
    if records.len() > FEED_MAX_ROWS {
        return Err(Error::invalid(
            "records",
            format!("一次最多推送 {FEED_MAX_ROWS} 条"),
        ));
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
            .map_err(|e| format!("格式错误：{}", mon::mask_ids_in(&e.to_string())))
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
    store_feed(db, caller, kind, "api", "", records.len(), &valid, report).await
}

#[allow(clippy::too_many_arguments)]
async fn store_feed(
    db: &Db,
    caller: &Caller,
    kind: FeedKind,
    channel: &str,
    filename: &str,
    total: usize,
    inputs: &[FeedInput],
    report: Vec<ReportLine>,
) -> Result<BatchRow> {
    let batch = mon::store_batch(
        db,
        kind.code(),
        &access::feed_source(caller),
        channel,
        filename,
        caller.user.id,
        total,
        inputs,
        report,
    )
    .await?;
    audit::event(
        db,
        caller,
        "import",
        "feed_batch",
        batch.id.to_string(),
        None,
        caller.region.as_str(),
        format!(
            "{}{}：{} 行，接收 {}（待匹配 {}），重复 {}，有误 {}",
            if channel == "api" { "API 推送 " } else { "" },
            kind.label(),
            batch.total_rows,
            batch.accepted,
            batch.unmatched,
            batch.duplicates,
            batch.rejected
        ),
    )
    .await?;
    Ok(batch)
}

// ----------------------------------------------------------- warning rules

/// The checks of a warning rule that do not depend on how it was typed:
/// name, code, severity, and a condition that compiles.
pub fn check_warning_rule(r: &WarningRuleRow) -> Vec<crate::error::FieldError> {
    let mut e = Vec::new();
    if r.name.trim().is_empty() {
        e.push(field("name", "请填写规则名称"));
    }
    if r.code.is_empty()
        || !r
            .code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        e.push(field(
            "code",
            "规则代码只能由小写英文字母、数字和下划线组成",
        ));
    }
    if !["high", "medium", "low"].contains(&r.severity.as_str()) {
        e.push(field("severity", "请选择预警等级"));
    }
    if let Err(err) = Rule::compile(&r.expression, RuleKind::Condition) {
        e.push(field("expression", format!("预警条件：{err}")));
    }
    e
}

/// Saves a warning rule: new when `id` is 0, else an edit (its code stays,
/// its `version` must be current). Audited with before and after.
pub async fn save_warning_rule(
    db: &Db,
    caller: &Caller,
    id: i64,
    mut r: WarningRuleRow,
) -> Result<i64> {
    access::role(db, caller, Action::ManagePolicies).await?;
    let before = if id == 0 {
        None
    } else {
        let b = mon::warning_rule(db, id).await?.ok_or(Error::NotFound)?;
        r.code = b.code.clone();
        Some(b)
    };
    r.id = id;
    let errors = check_warning_rule(&r);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    let saved = if id == 0 {
        match mon::insert_warning_rule(&mut tx, &r, &caller.user.username).await {
            Ok(i) => i,
            Err(e)
                if e.to_string().to_lowercase().contains("unique")
                    || e.to_string().contains("duplicate") =>
            {
                return Err(Error::invalid("code", "规则代码已存在，请换一个"));
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        if !mon::update_warning_rule(&mut tx, &r, &caller.user.username).await? {
            return Err(Error::Conflict(
                "该规则已被他人修改，请刷新后重新编辑".into(),
            ));
        }
        id
    };
    audit::write(
        &mut tx,
        caller,
        if id == 0 { "create" } else { "update" },
        "warning_rule",
        saved.to_string(),
        None,
        caller.region.as_str(),
        before.map(|b| serde_json::to_value(b).unwrap_or_default()),
        Some(serde_json::to_value(&r).unwrap_or_default()),
        format!("预警规则“{}”", r.name),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

/// The demo's grading (only `doudi demo`): most key households (those holding
/// a category) assessed by the real engine at some day of the past year,
/// with the answers a visit would give drawn at random, and their latest
/// visit recorded, so that red, yellow and green plans, due and missed
/// visits and households due for re-assessment all exist. About one in ten
/// is left unassessed. Returns (red, yellow, green).
pub async fn demo_grading(db: &Db, seed: u64, today: NaiveDate) -> Result<(usize, usize, usize)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6EAD);
    let rows = pol::standard_rows(db).await?;
    let county: String = doudi_store::sqlx::query_scalar(
        "SELECT code FROM regions WHERE level = 'county' ORDER BY code LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await?;
    let scope = Scope(RegionCode::parse(&county).map_err(|_| Error::NotFound)?);
    let assessor: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COALESCE(MIN(id), 0) FROM users WHERE role = 'village_assistant'",
    )
    .fetch_one(&db.pool)
    .await?;
    let (mut red, mut yellow, mut green) = (0, 0, 0);
    let mut after = 0;
    loop {
        let page = pol::household_inputs(db, &scope, after, 2000, today).await?;
        let Some(last) = page.last() else { break };
        after = last.0.id;
        let page: Vec<_> = page;
        let mut graded = Vec::new();
        for (place, input, _) in page {
            if input.categories.is_empty() || rng.random_range(0..10) == 0 {
                continue;
            }
            let std = standards::in_force(&rows, &place.village_code, &today.to_string());
            let facts = Facts::build(&input, &std, today);
            // Most households have some family support and no recent
            // event; the household file's facts (income, illness,
            // disability) do the rest.
            let events = match rng.random_range(0..20) {
                0 => 2,
                1..=3 => 1,
                _ => 0,
            };
            let answers = AssessInput {
                housing_unsafe: (rng.random_range(0..25) == 0).then(|| "1".into()),
                lives_alone_elderly: (rng.random_range(0..12) == 0).then(|| "1".into()),
                family_support: match rng.random_range(0..10) {
                    0 => "none",
                    1..=3 => "weak",
                    _ => "adequate",
                }
                .into(),
                recent_events: events.to_string(),
            };
            let Ok(ai) = assessment_input(
                &facts,
                std.get("dibao_standard").copied().unwrap_or(0),
                &answers,
            ) else {
                continue;
            };
            let a = grading::assess(&ai, &grading_config(&std));
            // Assessed at some day of the past 14 months: a few are due for
            // re-assessment.
            let assessed = today - chrono::Days::new(rng.random_range(20..425));
            // Most are visited on plan; about one in seven has fallen behind.
            let behind = rng.random_range(0..7) == 0;
            let visited =
                today - chrono::Days::new(rng.random_range(if behind { 8..30 } else { 0..4 }));
            let rule = grading::visit_rule(a.colour, &visit_config(&std));
            let due = grading::next_visit_due(rule, &[visited], assessed);
            match a.colour {
                Colour::Red => red += 1,
                Colour::Yellow => yellow += 1,
                Colour::Green => green += 1,
            }
            graded.push((place, a, ai, assessed, visited, due));
        }
        let mut tx = db.begin_write().await?;
        for (place, a, ai, assessed, visited, due) in &graded {
            mon::add_visit(
                &mut tx,
                place,
                &visited.to_string(),
                assessor,
                "村协理员",
                "home",
                "入户走访，了解生活情况（演示数据）",
                "",
                "",
            )
            .await?;
            mon::record_assessment(
                &mut tx,
                place,
                &assessed.to_string(),
                assessor,
                a.score as i64,
                a.colour.code(),
                &serde_json::to_string(&a.breakdown).unwrap_or_else(|_| "[]".into()),
                &serde_json::to_string(ai).unwrap_or_default(),
                &due.to_string(),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok((red, yellow, green))
}

#[cfg(test)]
mod changed_sweep_tests {
    use super::{birthdays_between, changed_windows};
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn windows_between_two_sweep_days() {
        let w = changed_windows(d("2026-12-01"), d("2026-12-03"));
        assert_eq!(
            w,
            vec![
                ("2026-09-02".to_string(), "2026-09-04".to_string()),
                ("2025-12-01".to_string(), "2025-12-03".to_string()),
                ("2026-12-01".to_string(), "2026-12-03".to_string()),
            ]
        );
        assert!(changed_windows(d("2026-12-03"), d("2026-12-03")).is_empty());
    }

    #[test]
    fn birthdays_on_which_an_age_changes() {
        assert_eq!(
            birthdays_between(d("2026-12-30"), d("2027-01-02")),
            vec!["01-01", "01-02", "12-31"]
        );
        // In a common year someone born on 29 February ages on 1 March.
        assert_eq!(
            birthdays_between(d("2027-02-28"), d("2027-03-01")),
            vec!["02-29", "03-01"]
        );
        assert_eq!(
            birthdays_between(d("2028-02-28"), d("2028-03-01")),
            vec!["02-29", "03-01"]
        );
        assert!(birthdays_between(d("2026-12-03"), d("2026-12-03")).is_empty());
    }
}
