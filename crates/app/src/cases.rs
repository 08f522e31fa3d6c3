//! Cases: the working-day calendar, one step of an item with its side
//! effects (notices, objections, the ledger, benefit start dates), notices
//! that end by themselves, the household's case history and the
//! handling-time report. Where the 低保 amount is decided: the approver's
//! step ([`act`]), prefilled by the policy's amount formula.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use doudi_domain::access::Action;
use doudi_domain::calendar::WorkCalendar;
use doudi_domain::workflow::{self, ActionKind, Command, ItemKind, ItemState, Outcome};
use doudi_domain::{Coded, Money, RegionCode};
use doudi_store::audit::AuditActor;
use doudi_store::cases::{self, ItemColumns, ItemRow, NewNotice, NoticeRow, StepRecord};
use doudi_store::households::{self as hh, HouseholdRow, Scope, Scoped};
use doudi_store::{Db, StoreError, today_cn};
use serde::Deserialize;

use crate::access;
use crate::caller::Caller;
use crate::error::{Error, Result};

/// The working-day calendar: the shipped years plus any loaded by an administrator.
pub async fn calendar(db: &Db) -> Result<WorkCalendar> {
    let mut cal = WorkCalendar::builtin();
    for (_, json) in cases::calendar_years(db).await? {
        cal.load_year_json(&json)
            .map_err(|e| Error::Storage(format!("calendar: {e}")))?;
    }
    Ok(cal)
}

/// Loads a year's holiday arrangement (the State Council notice as JSON, same format as
/// data/holidays/*.json). Validated before it is stored; deadlines use it at once.
pub async fn load_calendar_year(db: &Db, json: &str, who: &str) -> Result<i32> {
    let mut probe = WorkCalendar::new();
    let year = probe
        .load_year_json(json)
        .map_err(|e| Error::invalid("file", e.to_string()))?;
    let mut tx = db.begin_write().await?;
    cases::save_calendar_year(&mut tx, year as i64, json, who).await?;
    tx.commit().await?;
    Ok(year)
}

/// A year's holidays as typed in the calendar form (days off and adjusted
/// working days); checked, stored like an uploaded file and audited.
/// Refusals name `year`, `off_days` or `work_days`.
pub async fn load_calendar_form(
    db: &Db,
    caller: &Caller,
    year: &str,
    off_days: &str,
    work_days: &str,
) -> Result<i32> {
    access::role(db, caller, Action::ManageCalendar).await?;
    let json =
        doudi_domain::calendar::year_json_from_lists(year, off_days, work_days).map_err(|e| {
            Error::Invalid(
                e.into_iter()
                    .map(|(f, m)| crate::error::field(f, m))
                    .collect(),
            )
        })?;
    let year = load_calendar_year(db, &json, &caller.user.username).await?;
    crate::audit::event(
        db,
        caller,
        "admin",
        "calendar",
        year.to_string(),
        None,
        caller.region.as_str(),
        format!("按表单载入 {year} 年节假日安排"),
    )
    .await?;
    Ok(year)
}

/// How to object to a notice, with numbers to call: the town's social
/// assistance window (the town's office phone, set on the region) and the
/// district civil affairs bureau (from the list of departments). Never a
/// member of staff's own number: the notice is public.
pub async fn notice_objection_contact(db: &Db, village_code: &str) -> Result<String> {
    let town_code = village_code.get(..9).unwrap_or(village_code).to_string();
    let town = doudi_store::regions::get(db, &town_code)
        .await?
        .map(|r| r.name)
        .unwrap_or_default();
    let phone = doudi_store::regions::phone(db, &town_code).await?;
    let district = doudi_store::departments::by_name(db, "区民政局")
        .await?
        .filter(|d| d.active && !d.phone.is_empty());
    let mut text = format!("向{town}社会救助窗口当面、书面或电话反映");
    if let Some(p) = phone {
        text.push_str(&format!("（电话：{p}）"));
    }
    text.push_str("；也可向区民政局反映");
    if let Some(d) = district {
        text.push_str(&format!("（电话：{}）", d.phone));
    }
    text.push('。');
    Ok(text)
}

/// From November on: next year, when its holidays are not loaded yet
/// (deadlines running into it are then only provisional).
pub async fn next_year_missing(db: &Db, today: NaiveDate) -> Result<Option<i32>> {
    if today.month() < 11 {
        return Ok(None);
    }
    let next = today.year() + 1;
    Ok((!calendar(db).await?.years().contains(&next)).then_some(next))
}

/// The stored columns of an item's state.
pub fn columns(state: &ItemState, department: &str) -> ItemColumns {
    ItemColumns {
        kind: state.kind.code().to_string(),
        department: department.to_string(),
        step: state.step.map(str::to_string),
        step_role: state.step_role.map(|r| r.code().to_string()),
        outcome: state.outcome.map(|o| o.code().to_string()),
        step_started: state.step_started.to_string(),
        step_due: state.step_due.to_string(),
        item_started: state.item_started.to_string(),
        item_due: state.item_due.map(|d| d.to_string()),
        ended_on: state.ended_on.map(|d| d.to_string()),
        flags: state.flags().join(","),
        amount_fen: state.amount_fen,
        state_json: serde_json::to_string(state).expect("state serialises"),
    }
}

pub fn parse_state(item: &ItemRow) -> Result<ItemState> {
    serde_json::from_str(&item.cols.state_json)
        .map_err(|e| Error::Storage(format!("item {} state: {e}", item.id)))
}

// ----------------------------------------------------------------- intake ---

/// An application as taken at the window (一门受理): one or more items for
/// one household. The same input from the intake page and the API.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewIntake {
    /// `window` (窗口受理), `online`, `discovery` (主动发现) or `warning` (预警转入).
    pub channel: String,
    /// The member who applies; or leave empty and give `proxy_name`.
    pub applicant_person_id: Option<i64>,
    /// 代办人 when the application is made on the household's behalf.
    pub proxy_name: String,
    /// The hardship in the applicant's words (at least 4 characters).
    pub situation: String,
    /// Item kinds: `dibao`, `tekun`, `temp_emergency`, `temp_expense`, `mutual_aid`, `dept_item`.
    pub kinds: Vec<String>,
    /// The handling department of a `dept_item`, e.g. 区住建局.
    pub department: String,
    /// 单独登记备案 (adds a county visit step).
    pub separate_registration: bool,
}

/// One file of evidence.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Opens an application: every item starts its own workflow; the
/// application, its items and its evidence are written in one transaction
/// or not at all. Refusals name `channel`, `applicant`, `situation`,
/// `kinds`, `department` or `attachment`.
pub async fn open_application(
    db: &Db,
    caller: &Caller,
    household_id: i64,
    intake: &NewIntake,
    evidence: &[Evidence],
    today: NaiveDate,
) -> Result<i64> {
    let (_, h) = access::household(db, caller, household_id).await?;
    access::require(
        db,
        caller,
        Action::OpenApplication,
        "household",
        household_id,
        &h.village_code,
    )
    .await?;
    let mut errors = Vec::new();
    if !["window", "online", "discovery", "warning"].contains(&intake.channel.trim()) {
        errors.push(crate::error::field("channel", "请选择申请渠道"));
    }
    let proxy = intake.proxy_name.trim().to_string();
    match intake.applicant_person_id {
        None if proxy.is_empty() => errors.push(crate::error::field(
            "applicant",
            "请选择申请人，或填写代办人姓名",
        )),
        None => {}
        Some(pid) => {
            let member = hh::file(db, h.clone())
                .await?
                .members
                .iter()
                .any(|m| m.id == pid && m.status == "alive");
            if !member {
                errors.push(crate::error::field("applicant", "申请人须为本户在世成员"));
            }
        }
    }
    let situation = intake.situation.trim().to_string();
    if situation.chars().count() < 4 {
        errors.push(crate::error::field("situation", "请用几句话说明困难情况"));
    }
    let mut kinds: Vec<ItemKind> = Vec::new();
    for code in &intake.kinds {
        match ItemKind::from_code(code.trim()) {
            Some(k) if !kinds.contains(&k) => kinds.push(k),
            Some(_) => {}
            None => errors.push(crate::error::field(
                "kinds",
                format!("未知的救助事项：{code}"),
            )),
        }
    }
    if kinds.is_empty() {
        errors.push(crate::error::field("kinds", "请至少选择一项救助事项"));
    }
    let department = intake.department.trim().to_string();
    if kinds.contains(&ItemKind::DeptItem) {
        if department.is_empty() {
            errors.push(crate::error::field("department", "部门事项请选择承办部门"));
        } else if crate::departments::active_named(db, &department)
            .await?
            .is_none_or(|d| d.kind != "department")
        {
            errors.push(crate::departments::not_listed("department"));
        }
    }
    if kinds.contains(&ItemKind::MutualAid)
        && !matches!(
            caller.role,
            doudi_domain::access::Role::VillageAssistant
                | doudi_domain::access::Role::TownCaseWorker
        )
    {
        errors.push(crate::error::field(
            "kinds",
            "救急难互助社事项由村（社区）协理员受理",
        ));
    }
    let mut files = Vec::with_capacity(evidence.len());
    for e in evidence {
        match doudi_domain::attachment::check(&e.filename, &e.bytes) {
            Ok(t) => files.push((e, t.content_type())),
            Err(m) => errors.push(crate::error::field("attachment", m)),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let cal = calendar(db).await?;
    let mut states = Vec::with_capacity(kinds.len());
    for k in &kinds {
        let s = workflow::start(*k, today, intake.separate_registration, &cal)
            .map_err(|e| Error::invalid("kinds", e.to_string()))?;
        states.push(s);
    }
    let who = caller.audit();
    let mut tx = db.begin_write().await?;
    let app_id = cases::create_application(
        &mut tx,
        &who,
        &cases::NewApplication {
            household_id: h.id,
            village_code: h.village_code.clone(),
            applicant_person_id: intake.applicant_person_id,
            proxy_name: proxy,
            channel: intake.channel.trim().to_string(),
            situation,
            separate_registration: intake.separate_registration,
            created_by: caller.user.id,
        },
    )
    .await?;
    for s in &states {
        let dept = if s.kind == ItemKind::DeptItem {
            department.as_str()
        } else {
            ""
        };
        cases::insert_item(
            &mut tx,
            &who,
            app_id,
            h.id,
            &h.village_code,
            &columns(s, dept),
        )
        .await?;
    }
    for (e, content_type) in &files {
        cases::add_attachment(
            &mut tx,
            app_id,
            &h.village_code,
            &e.filename,
            content_type,
            &e.bytes,
            caller.user.id,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(app_id)
}

/// An application with its items, for case handlers; audited as a view.
pub async fn read_application(
    db: &Db,
    caller: &Caller,
    id: i64,
) -> Result<(cases::ApplicationRow, Vec<ItemRow>)> {
    let a = access::application(db, caller, id).await?;
    let items = cases::items_of_application(db, id).await?;
    crate::audit::event(
        db,
        caller,
        "view",
        "application",
        id.to_string(),
        Some(a.household_id),
        &a.village_code,
        format!("查看申请 #{id}"),
    )
    .await?;
    Ok((a, items))
}

// ------------------------------------------------------------ one step ---

/// One step of an item, as typed by the person acting.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ActInput {
    /// The item's version the person saw (optimistic lock).
    pub version: String,
    /// An action code of the workflow (complete, approve, refuse, post …).
    pub action: String,
    /// Names of the investigators or signers, separated by 、 or commas.
    pub signatures: String,
    pub opinion: String,
    /// Yuan, two decimals at most.
    pub amount: String,
    /// YYYY-MM-DD, today when blank; not after today.
    pub on: String,
}

/// An item the caller handles: looked up in scope, then the case handler's
/// role (both refusals audited).
async fn handled_item(db: &Db, caller: &Caller, id: i64) -> Result<ItemRow> {
    item_where(db, caller, id, false).await
}

/// An item whose steps the caller may take: a case handler's item in
/// scope, or a department item addressed to the caller's department (its
/// liaison takes the 部门办理 step). Refusals audited.
pub async fn item_for_steps(db: &Db, caller: &Caller, id: i64) -> Result<ItemRow> {
    item_where(db, caller, id, true).await
}

async fn item_where(db: &Db, caller: &Caller, id: i64, department_may: bool) -> Result<ItemRow> {
    let i = access::item(db, caller, id).await?;
    if department_may && crate::departments::handles_department_item(caller, &i.cols.department) {
        return Ok(i);
    }
    access::require(
        db,
        caller,
        Action::HandleCase,
        "case_item",
        id,
        &i.village_code,
    )
    .await?;
    Ok(i)
}

/// One step of an item: the state machine decides; a refused command
/// changes nothing (the error says why, by field).
pub async fn act(db: &Db, caller: &Caller, id: i64, f: &ActInput) -> Result<ItemRow> {
    let i = item_for_steps(db, caller, id).await?;
    if f.version.trim() != i.version.to_string() {
        return Err(Error::Conflict(
            "该事项已被他人办理，页面已刷新为最新进度，请核对后再办理".into(),
        ));
    }
    let Some(action) = ActionKind::from_code(&f.action) else {
        return Err(Error::invalid("action", "请选择办理操作"));
    };
    let today = today_cn();
    let on = if f.on.trim().is_empty() {
        Ok(today)
    } else {
        NaiveDate::parse_from_str(f.on.trim(), "%Y-%m-%d")
    };
    let Ok(on) = on else {
        return Err(Error::invalid("on", "办理日期格式应为 YYYY-MM-DD"));
    };
    if on > today {
        return Err(Error::invalid("on", "办理日期不能晚于今天"));
    }
    let amount = if f.amount.trim().is_empty() {
        None
    } else {
        match Money::parse_yuan(&f.amount) {
            Ok(m) => Some(m.fen()),
            Err(e) => return Err(Error::invalid("amount", format!("金额：{e}"))),
        }
    };
    let signatures: Vec<String> = f
        .signatures
        .split(['，', ',', '、', ' ', ';', '；'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let s = parse_state(&i)?;
    let limit =
        cases::standard(db, "town_temp_aid_limit", &i.village_code, &on.to_string()).await?;
    let mut cmd = Command::new(action, caller.role, on).note(f.opinion.trim());
    cmd.signatures = signatures.clone();
    cmd.amount_fen = amount;
    cmd.town_limit_fen = limit;
    let cal = calendar(db).await?;
    let next =
        workflow::apply(&s, &cmd, &cal).map_err(|e| Error::invalid("action", e.to_string()))?;
    let effects = EffectInputs::load(db, &i).await?;
    let mut tx = db.begin_write().await?;
    side_effects(
        &mut tx,
        &effects,
        &i,
        &s,
        &next,
        action,
        f.opinion.trim(),
        &caller.audit(),
    )
    .await?;
    let record = StepRecord {
        step: s.step.unwrap_or("").to_string(),
        action: action.code().to_string(),
        to_step: next.step.map(str::to_string),
        acted_on: on.to_string(),
        signatures: signatures.join("、"),
        opinion: f.opinion.trim().to_string(),
        amount_fen: amount,
    };
    match cases::advance_item(
        &mut tx,
        &caller.audit(),
        &i,
        &columns(&next, &i.cols.department),
        &record,
    )
    .await
    {
        Ok(()) => tx.commit().await?,
        Err(StoreError::Conflict(m)) => return Err(Error::Conflict(m)),
        Err(e) => return Err(e.into()),
    }
    Ok(i)
}

/// What the side effects of a step read, loaded before the write
/// transaction opens (a write transaction never waits for another
/// connection).
pub struct EffectInputs {
    notices: Vec<NoticeRow>,
    household: Option<HouseholdRow>,
}

impl EffectInputs {
    pub async fn load(db: &Db, i: &ItemRow) -> Result<EffectInputs> {
        let scope = Scope(RegionCode::parse(&i.village_code).map_err(Error::storage)?);
        let household = match hh::get(db, &scope, i.household_id).await? {
            Scoped::Found(h) => Some(h),
            _ => None,
        };
        Ok(EffectInputs {
            notices: cases::notices_of_item(db, i.id).await?,
            household,
        })
    }
}

/// What a transition does outside the item: notices, objections, the ledger.
#[allow(clippy::too_many_arguments)]
async fn side_effects(
    tx: &mut doudi_store::Tx,
    inputs: &EffectInputs,
    i: &ItemRow,
    before: &ItemState,
    next: &ItemState,
    action: ActionKind,
    note: &str,
    who: &AuditActor,
) -> Result<()> {
    let user_id = who.user_id.unwrap_or(0);
    let notices = &inputs.notices;
    match action {
        ActionKind::Post => {
            let start = next.notice_start.unwrap_or(next.step_started);
            let Some(h) = &inputs.household else {
                return Err(Error::NotFound);
            };
            let kind = ItemKind::from_code(&i.cols.kind).unwrap_or(ItemKind::DeptItem);
            let decision = before
                .step
                .is_some_and(|s| s.contains("final") || s == "notice_final");
            cases::create_notice(
                tx,
                &NewNotice {
                    village_code: i.village_code.clone(),
                    item_id: i.id,
                    kind: if decision { "decision" } else { "review" }.into(),
                    title: format!("{} {}公示", i.village_name, kind.label()),
                    masked_name: doudi_domain::mask::mask_name(&h.head_name),
                    household_size: h.size,
                    item_label: kind.label().to_string(),
                    amount_fen: next.amount_fen,
                    reason: notice_reason(kind),
                    start_date: start.to_string(),
                    end_date: workflow::notice_end(start).to_string(),
                    public_token: crate::accounts::new_secret()[..32].to_string(),
                },
            )
            .await?;
        }
        ActionKind::Object => {
            // An objection holds the posting until it is handled.
            for n in notices.iter().filter(|n| n.status == "active") {
                cases::set_notice_status(tx, n.id, "held").await?;
                cases::add_objection(tx, n, note, "", user_id).await?;
            }
        }
        ActionKind::ReInvestigate | ActionKind::DemocraticReview => {
            for n in notices.iter().filter(|n| n.status == "held") {
                cases::resolve_objections(tx, n.id, &format!("{}：{note}", action.label())).await?;
                cases::set_notice_status(tx, n.id, "ended").await?;
            }
        }
        _ => {}
    }
    // Leaving a notice step ends its posting (an objection holds it instead).
    if before.step != next.step && before.notice_start.is_some() && action != ActionKind::Object {
        for n in notices.iter().filter(|n| n.status == "active") {
            cases::set_notice_status(tx, n.id, "ended").await?;
        }
    }
    // Every granted item goes into the household's ledger, across departments.
    if before.outcome.is_none() && matches!(next.outcome, Some(Outcome::Approved | Outcome::Paid)) {
        let kind = ItemKind::from_code(&i.cols.kind).unwrap_or(ItemKind::DeptItem);
        let decided = next.ended_on.unwrap_or_else(today_cn);
        let monthly = matches!(kind, ItemKind::Dibao | ItemKind::Tekun);
        // Monthly benefits are paid from the month after approval.
        let start = if monthly {
            first_of_next_month(decided)
        } else {
            decided
        };
        let dept = if i.cols.department.is_empty() {
            "民政"
        } else {
            i.cols.department.as_str()
        };
        cases::add_ledger(
            tx,
            i.household_id,
            &i.village_code,
            Some(i.id),
            None,
            kind.code(),
            dept,
            next.amount_fen.unwrap_or(0),
            &start.to_string(),
            None,
            &decided.to_string(),
            if monthly { "按月发放" } else { "一次性" },
        )
        .await?;
        // The decision is what makes a household 低保 or 特困: the category is
        // registered here, never typed into the file by hand.
        let category = match kind {
            ItemKind::Dibao => Some(doudi_domain::household::Category::Dibao),
            ItemKind::Tekun => Some(doudi_domain::household::Category::Tekun),
            _ => None,
        };
        if let Some(category) = category {
            let scope = Scope(RegionCode::parse(&i.village_code).map_err(|_| Error::NotFound)?);
            hh::grant_category(
                tx,
                who,
                &scope,
                i.household_id,
                category,
                decided,
                today_cn(),
                format!(
                    "经审批登记救助类别：{}（自 {decided}，事项 #{}）",
                    category.label(),
                    i.id
                ),
            )
            .await?;
        }
    }
    Ok(())
}

/// The first day of the month after `d` (monthly benefits start then).
pub fn first_of_next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid date")
}

fn notice_reason(kind: ItemKind) -> String {
    match kind {
        ItemKind::Dibao => "家庭人均收入低于当地最低生活保障标准".into(),
        ItemKind::Tekun => "无劳动能力、无生活来源、无法定赡养抚养扶养义务人或其无履行能力".into(),
        ItemKind::TempEmergency => "遭遇突发事件，基本生活暂时陷入困境".into(),
        ItemKind::TempExpense => "刚性支出较大，超出家庭承受能力".into(),
        ItemKind::MutualAid => "遭遇急难，经村（社区）互助社评议给予救助".into(),
        ItemKind::DeptItem => "经审核符合条件".into(),
    }
}

/// Ends notices whose 7 days are over and moves their items on (a notice
/// ends by itself). Returns how many items moved.
pub async fn end_expired_notices(db: &Db) -> Result<usize> {
    let today = today_cn();
    let cal = calendar(db).await?;
    let mut moved = 0;
    for n in cases::expired_notices(db, &today.to_string()).await? {
        let county = RegionCode::parse(&n.village_code[..6]).map_err(Error::storage)?;
        let Scoped::Found(i) = cases::get_item(db, &Scope(county), n.item_id).await? else {
            continue;
        };
        let s = parse_state(&i)?;
        let effects = EffectInputs::load(db, &i).await?;
        let mut tx = db.begin_write().await?;
        cases::set_notice_status(&mut tx, n.id, "ended").await?;
        if let (Some(role), Some(_)) = (s.step_role, s.notice_start) {
            let cmd = Command::new(ActionKind::Complete, role, today)
                .note("公示期满无异议，自动进入下一步");
            if let Ok(next) = workflow::apply(&s, &cmd, &cal) {
                let system = AuditActor {
                    user_id: None,
                    username: "system".into(),
                    role: role.code().into(),
                };
                let record = StepRecord {
                    step: s.step.unwrap_or("").into(),
                    action: "complete".into(),
                    to_step: next.step.map(str::to_string),
                    acted_on: today.to_string(),
                    signatures: String::new(),
                    opinion: "公示期满无异议，系统自动流转".into(),
                    amount_fen: None,
                };
                // All or nothing per notice: if a side effect or the step
                // fails, the transaction is dropped (rolled back) and the
                // notice is tried again next time, rather than half-applied.
                if side_effects(
                    &mut tx,
                    &effects,
                    &i,
                    &s,
                    &next,
                    ActionKind::Complete,
                    "",
                    &system,
                )
                .await
                .is_err()
                {
                    continue;
                }
                if cases::advance_item(
                    &mut tx,
                    &system,
                    &i,
                    &columns(&next, &i.cols.department),
                    &record,
                )
                .await
                .is_err()
                {
                    continue;
                }
                moved += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(moved)
}

// -------------------------------------------------------------- referrals

/// A referral as the sender types it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewReferralInput {
    /// The receiving department or organisation (an active one of the list
    /// the administrator keeps, see [`crate::departments`]).
    pub to_name: String,
    /// Only what the receiver needs to handle it.
    pub facts: String,
    /// Who consented (the person or their guardian).
    pub consent_by: String,
    pub consent: bool,
}

/// Sends an item's household to a department or charity, with the person's
/// consent; due in the locally set number of working days. Refusals name
/// `to_name`, `facts` or `consent`.
pub async fn send_referral(
    db: &Db,
    caller: &Caller,
    item_id: i64,
    r: &NewReferralInput,
    today: NaiveDate,
) -> Result<i64> {
    let i = handled_item(db, caller, item_id).await?;
    let mut errors = vec![];
    let target = crate::departments::active_named(db, &r.to_name).await?;
    if target.is_none() {
        errors.push(crate::departments::not_listed("to_name"));
    }
    if r.facts.trim().chars().count() < 4 {
        errors.push(crate::error::field(
            "facts",
            "请写明转介需要的情况（只写办理所需的信息）",
        ));
    }
    if !r.consent || r.consent_by.trim().is_empty() {
        errors.push(crate::error::field(
            "consent",
            "转介前须取得本人（或监护人）同意：请勾选并填写同意人",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let days = cases::standard(db, "referral_days", &i.village_code, &today.to_string())
        .await?
        .unwrap_or(5) as u32;
    let (due, _) = calendar(db)
        .await?
        .add_working_days_provisional(today, days);
    let to_kind = target.map_or_else(|| "department".to_string(), |t| t.kind);
    let mut tx = db.begin_write().await?;
    let id = cases::create_referral(
        &mut tx,
        &caller.audit(),
        &cases::NewReferral {
            village_code: i.village_code.clone(),
            household_id: i.household_id,
            item_id: Some(i.id),
            to_kind: to_kind.into(),
            to_name: r.to_name.clone(),
            facts: r.facts.trim().into(),
            consent_by: r.consent_by.trim().into(),
            consent_on: today.to_string(),
            due_on: due.to_string(),
            sent_by: caller.user.id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// 一事一议: a case conference as recorded.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Conference {
    /// Names separated by 、 or commas; at least three.
    pub attendees: String,
    pub facts: String,
    pub decision: String,
    pub reasons: String,
}

/// Records a case conference on an item. It does not move the item by
/// itself: the decision is carried out through the workflow's own steps.
/// Refusals name `attendees` or `decision`.
pub async fn record_conference(
    db: &Db,
    caller: &Caller,
    item_id: i64,
    c: &Conference,
    today: NaiveDate,
) -> Result<()> {
    let i = handled_item(db, caller, item_id).await?;
    let attendees: Vec<&str> = c
        .attendees
        .split(['，', ',', '、', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut errors = vec![];
    if attendees.len() < 3 {
        errors.push(crate::error::field(
            "attendees",
            "一事一议须至少 3 名参会人员",
        ));
    }
    if c.facts.trim().is_empty() || c.decision.trim().is_empty() || c.reasons.trim().is_empty() {
        errors.push(crate::error::field("decision", "请填写案情、决定和理由"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    cases::record_conference(
        &mut tx,
        &caller.audit(),
        &i,
        &attendees.join("、"),
        c.facts.trim(),
        c.decision.trim(),
        c.reasons.trim(),
        &today.to_string(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the receiver (or the sender) does with a referral.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReferralAction {
    /// accept | reject | complete (the receiving department) or revoke (the sender).
    pub op: String,
    /// Required when rejecting.
    pub reason: String,
    /// Required when completing: what was done.
    pub outcome: String,
    /// Yuan granted, when completing (optional).
    pub amount: String,
}

/// Referrals waiting for the caller's department (or organisation), newest first.
pub async fn referrals_for_me(
    db: &Db,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<cases::ReferralRow>> {
    crate::access::role(db, caller, Action::HandleReferral).await?;
    let Some(dept) = caller.user.department.as_deref() else {
        return Ok(Vec::new());
    };
    Ok(cases::referrals_to(db, dept, limit).await?)
}

/// What a referral's receiver needs to act on it: whom to contact in the
/// household and who sent it. Shown to the receiver (the person consented to
/// the referral) and the sender's side.
#[derive(Clone, Debug, Default)]
pub struct ReferralContact {
    /// "张三户（某村）".
    pub household: String,
    /// The household's phone (or the head's), in full: the receiver calls it.
    pub household_phone: String,
    /// "李经办（乡镇经办）".
    pub sender: String,
    pub sender_phone: String,
}

/// The contact details of a referral the caller may see (see
/// [`access::referral`]); the receiver's reading is audited as a view of
/// household data.
pub async fn referral_contact(
    db: &Db,
    caller: &Caller,
    r: &cases::ReferralRow,
    receiver: bool,
) -> Result<ReferralContact> {
    let scope = Scope(RegionCode::parse(r.village_code.as_str()).map_err(|_| Error::NotFound)?);
    let h = match hh::get(db, &scope, r.household_id).await? {
        Scoped::Found(h) => Some(h),
        _ => None,
    };
    let sender = doudi_store::users::by_id(db, r.sent_by).await?;
    let mut c = ReferralContact::default();
    // The receiver reaches the household while the referral is open; after
    // it is answered, withdrawn or refused, the contact is no longer needed.
    let open = matches!(r.status.as_str(), "sent" | "accepted");
    if let (Some(h), true) = (&h, open || !receiver) {
        c.household = format!("{}户（{}）", h.head_name, h.village_name);
        c.household_phone = h.phone.clone().unwrap_or_default();
    }
    if let Some(u) = sender {
        let role = doudi_domain::access::Role::from_code(&u.role)
            .map(|r| r.label())
            .unwrap_or("");
        c.sender = format!("{}（{}）", u.display_name, role);
        c.sender_phone = u.phone.unwrap_or_default();
    }
    if receiver && open {
        crate::audit::event(
            db,
            caller,
            "view",
            "referral",
            r.id.to_string(),
            Some(r.household_id),
            &r.village_code,
            format!("查看转介 #{} 及联系方式", r.id),
        )
        .await?;
    }
    Ok(c)
}

/// Accept, reject (with a reason), complete (with outcome and amount, which
/// goes into the household's ledger) or revoke a referral.
pub async fn act_on_referral(
    db: &Db,
    caller: &Caller,
    id: i64,
    f: &ReferralAction,
) -> Result<cases::ReferralRow> {
    let (r, receiver) = access::referral(db, caller, id).await?;
    let who = caller.audit();
    let amount = match (f.op.as_str(), f.amount.trim()) {
        ("complete", a) if !a.is_empty() => Some(
            Money::parse_yuan(a)
                .map_err(|e| Error::invalid("amount", format!("金额：{e}")))?
                .fen(),
        ),
        _ => None,
    };
    match (f.op.as_str(), receiver) {
        ("reject", true) if f.reason.trim().is_empty() => {
            return Err(Error::invalid("reason", "退回须写明理由"));
        }
        ("complete", true) if f.outcome.trim().is_empty() => {
            return Err(Error::invalid("outcome", "办结须填写办理结果"));
        }
        ("accept" | "reject" | "complete", true) | ("revoke", false) => {}
        ("accept" | "reject" | "complete" | "revoke", _) => {
            crate::audit::denied(db, caller, "referral", id, &r.village_code).await;
            return Err(Error::Forbidden(
                "无权执行此操作：受理、退回、办结由接收部门办理，撤回由发起方办理".into(),
            ));
        }
        _ => return Err(Error::invalid("op", "请选择操作：受理、退回、办结或撤回")),
    }
    let mut tx = db.begin_write().await?;
    match f.op.as_str() {
        "accept" => {
            cases::update_referral(&mut tx, &who, &r, &["sent"], "accepted", "", "", None).await?
        }
        "reject" => {
            cases::update_referral(
                &mut tx,
                &who,
                &r,
                &["sent", "accepted"],
                "rejected",
                f.reason.trim(),
                "",
                None,
            )
            .await?
        }
        "complete" => {
            cases::update_referral(
                &mut tx,
                &who,
                &r,
                &["accepted"],
                "completed",
                "",
                f.outcome.trim(),
                amount,
            )
            .await?;
            if let Some(a) = amount.filter(|a| *a > 0) {
                let today = today_cn().to_string();
                cases::add_ledger(
                    &mut tx,
                    r.household_id,
                    &r.village_code,
                    r.item_id,
                    Some(r.id),
                    "referral",
                    &r.to_name,
                    a,
                    &today,
                    None,
                    &today,
                    f.outcome.trim(),
                )
                .await?;
            }
        }
        _ => {
            cases::update_referral(
                &mut tx,
                &who,
                &r,
                &["sent", "accepted"],
                "revoked",
                f.reason.trim(),
                "",
                None,
            )
            .await?
        }
    }
    tx.commit().await?;
    Ok(cases::get_referral(db, id).await?.ok_or(Error::NotFound)?)
}

/// A household's items, ledger and referrals, for its file.
pub async fn household_cases(
    db: &Db,
    household_id: i64,
) -> Result<(Vec<ItemRow>, Vec<cases::LedgerRow>, Vec<cases::ReferralRow>)> {
    let (items, ledger, referrals) = cases::household_case_presence(db, household_id).await?;
    Ok((
        if items {
            cases::items_of_household(db, household_id).await?
        } else {
            vec![]
        },
        if ledger {
            cases::ledger(db, household_id).await?
        } else {
            vec![]
        },
        if referrals {
            cases::referrals_of_household(db, household_id).await?
        } else {
            vec![]
        },
    ))
}

// ---------------------------------------------------------------- reports

fn label<T: Coded>(code: &str) -> String {
    T::from_code(code)
        .map(|v| v.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// One line of the handling-time report.
pub struct ReportLine {
    pub node: String,
    pub kind: String,
    pub total: usize,
    pub open: usize,
    pub ended: usize,
    pub overdue: usize,
    pub avg_days: String,
    pub p90_days: String,
}

/// Nearest-rank 90th percentile (the value at or below which 90% of items fall).
pub fn p90(sorted: &[i64]) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * 0.9).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub async fn report_lines(db: &Db, scope: &Scope, from: &str, to: &str) -> Result<Vec<ReportLine>> {
    let cal = calendar(db).await?;
    let today = today_cn().to_string();
    let names: HashMap<String, String> = doudi_store::regions::subtree(db, scope.0.as_str())
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let items = cases::report_items(db, scope, from, to).await?;
    // Group by the node one level below the scope (towns for the district, villages for a town).
    let node_of = |i: &cases::ReportItem| match scope.0.level() {
        doudi_domain::RegionLevel::County => i.town_code.clone(),
        _ => i.village_code.clone(),
    };
    let mut groups: std::collections::BTreeMap<(String, String), Vec<&cases::ReportItem>> =
        Default::default();
    for i in &items {
        groups
            .entry((node_of(i), i.kind.clone()))
            .or_default()
            .push(i);
        groups
            .entry(("合计".into(), i.kind.clone()))
            .or_default()
            .push(i);
    }
    let mut out = vec![];
    for ((node, kind), list) in groups {
        let mut days: Vec<i64> = list
            .iter()
            .filter_map(|i| {
                let s = NaiveDate::parse_from_str(&i.item_started, "%Y-%m-%d").ok()?;
                let e = NaiveDate::parse_from_str(i.ended_on.as_deref()?, "%Y-%m-%d").ok()?;
                cal.working_days_between(s, e).ok()
            })
            .collect();
        days.sort();
        let avg = if days.is_empty() {
            String::new()
        } else {
            format!("{:.1}", days.iter().sum::<i64>() as f64 / days.len() as f64)
        };
        out.push(ReportLine {
            node: if node == "合计" {
                node
            } else {
                names.get(&node).cloned().unwrap_or(node)
            },
            kind: label::<ItemKind>(&kind),
            total: list.len(),
            open: list.iter().filter(|i| i.open).count(),
            ended: list.iter().filter(|i| !i.open).count(),
            overdue: list
                .iter()
                .filter(|i| i.open && i.step_due.as_str() < today.as_str())
                .count(),
            avg_days: avg,
            p90_days: p90(&days).map(|d| d.to_string()).unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p90_is_nearest_rank() {
        assert_eq!(p90(&[]), None);
        assert_eq!(p90(&[5]), Some(5));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(p90(&v), Some(9));
    }

    #[test]
    fn monthly_benefits_start_the_month_after() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(first_of_next_month(d("2026-12-02")), d("2027-01-01"));
        assert_eq!(first_of_next_month(d("2026-01-31")), d("2026-02-01"));
    }
}
