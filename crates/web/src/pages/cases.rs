//! One-window intake and the case workflow: applications with several assistance items,
//! each item run by the state machine in `doudi_domain::workflow`; the inbox; public
//! notices (no login); referrals to departments and charities; the household ledger.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use doudi_domain::Coded;
use doudi_domain::access::{Action, Role};
use doudi_domain::workflow::{self, ActionKind, ItemKind, Outcome};
use doudi_store::cases::{self, ItemRow};
use doudi_store::households::{self as hh, Scope};
use doudi_store::{Db, today_cn};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::forms::{FieldError, err};
use crate::render::{pdf_response, render, with_status as status, xlsx_response};
use crate::views::{ItemLine, Page, label, money};
use doudi_app::{access, audit};

use doudi_app::cases::{Evidence, NewIntake, calendar, parse_state};

// ---------------------------------------------------------------- intake

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage {
    page: Page,
    h: hh::HouseholdRow,
    members: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    /// Departments a department item can go to (the administrator's list).
    departments: Vec<String>,
    /// What was typed, shown back when the application is refused.
    f: NewIntake,
    applicant: String,
    errors: Vec<FieldError>,
}

pub async fn apply_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::OpenApplication).await?;
    let f = NewIntake {
        channel: "window".into(),
        ..Default::default()
    };
    apply_page(&state, &actor, h, f, vec![], 200).await
}

async fn apply_page(
    state: &AppState,
    actor: &Actor,
    h: hh::HouseholdRow,
    f: NewIntake,
    errors: Vec<FieldError>,
    code: u16,
) -> Result<Response, AppError> {
    let members = hh::file(&state.db, h.clone())
        .await?
        .members
        .into_iter()
        .filter(|m| m.status == "alive")
        .map(|m| (m.id.to_string(), m.name))
        .collect();
    let kinds = ItemKind::all()
        .iter()
        .map(|k| (k.code().to_string(), k.label().to_string()))
        .collect();
    Ok(status(
        render(&ApplyPage {
            page: Page::new(
                state,
                actor,
                format!("受理申请：{}户", h.head_name),
                "cases",
            )
            .await,
            h,
            members,
            kinds,
            departments: doudi_store::departments::list(&state.db)
                .await?
                .into_iter()
                .filter(|d| d.active && d.kind == "department")
                .map(|d| d.name)
                .collect(),
            applicant: f
                .applicant_person_id
                .map(|i| i.to_string())
                .unwrap_or_default(),
            f,
            errors,
        })?,
        code,
    ))
}

/// Opens an application with one or more items (一门受理): every item starts its own
/// workflow; all of it is written in one transaction or not at all.
pub async fn apply(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::OpenApplication).await?;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut kinds: Vec<String> = vec![];
    let mut evidence: Vec<Evidence> = vec![];
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "attachment" {
            let filename = field.file_name().unwrap_or("").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?;
            if !filename.is_empty() && !bytes.is_empty() {
                evidence.push(Evidence {
                    filename,
                    bytes: bytes.to_vec(),
                });
            }
        } else if let Some(k) = name.strip_prefix("kind_") {
            kinds.push(k.to_string());
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let intake = NewIntake {
        channel: get("channel"),
        applicant_person_id: get("applicant").trim().parse().ok(),
        proxy_name: get("proxy_name"),
        situation: get("situation"),
        kinds,
        department: get("department"),
        separate_registration: !get("separate_registration").is_empty(),
    };
    match doudi_app::cases::open_application(&state.db, &actor, id, &intake, &evidence, today_cn())
        .await
    {
        Ok(app_id) => Ok(Redirect::to(&format!("/applications/{app_id}")).into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            apply_page(&state, &actor, h, intake, errors, 422).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage {
    page: Page,
    /// "张*户（某村）".
    household: String,
    a: cases::ApplicationRow,
    channel: String,
    items: Vec<ItemLine>,
    attachments: Vec<cases::AttachmentMeta>,
}

pub async fn application(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let a = access::application(&state.db, &actor, id).await?;
    let today = today_cn().to_string();
    let items: Vec<ItemLine> = cases::items_of_application(&state.db, id)
        .await?
        .iter()
        .map(|i| crate::views::item_line(i, &today))
        .collect();
    let attachments = cases::attachments(&state.db, id).await?;
    let channel = channel_label(&a.channel).to_string();
    let household = items
        .first()
        .map(|i| format!("{}户（{}）", i.household, i.village))
        .unwrap_or_else(|| "查看家庭档案".into());
    render(&ApplicationPage {
        page: Page::new(&state, &actor, format!("申请 #{id}"), "cases").await,
        household,
        a,
        channel,
        items,
        attachments,
    })
}

fn channel_label(c: &str) -> &'static str {
    match c {
        "window" => "窗口申请",
        "online" => "网上申请",
        "discovery" => "主动发现",
        "warning" => "预警核查",
        _ => "其他",
    }
}

pub async fn attachment(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (meta, bytes) = access::attachment(&state.db, &actor, id).await?;
    let name = crate::auth::url_encode(&meta.filename);
    Ok((
        [
            (header::CONTENT_TYPE, meta.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{name}"),
            ),
        ],
        bytes,
    )
        .into_response())
}

// ---------------------------------------------------------------- items

pub struct StepView {
    pub name: String,
    pub role: String,
    pub days: String,
    pub evidence: String,
    pub current: bool,
}

pub struct HistoryView {
    pub on: String,
    pub step: String,
    pub action: String,
    pub who: String,
    pub signatures: String,
    pub opinion: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    page: Page,
    i: ItemLine,
    item_due: String,
    steps: Vec<StepView>,
    history: Vec<HistoryView>,
    actions: Vec<(String, String)>,
    can_act: bool,
    min_signatures: u8,
    needs_amount: bool,
    notices: Vec<cases::NoticeRow>,
    errors: Vec<FieldError>,
    today: String,
    version: i64,
    referral_targets: Vec<String>,
    /// Referrals sent from this item, newest first.
    referrals: Vec<ReferralLine>,
    /// Case handlers also record conferences and send referrals; a
    /// department's liaison only takes its step.
    handler: bool,
    /// What was typed, shown back when a form is refused.
    form: ItemForms,
    letter: bool,
    /// For 低保/特困: the amount by the built-in formula with today's standards.
    suggestion: Option<(String, String)>,
}

/// The monthly amount the rules give for a 低保 or 特困 item today, with the
/// basis shown to the approver. The approver still decides; the decided
/// amount is stored with the step, so a later standard change never alters it.
async fn suggested_amount(
    db: &Db,
    kind: ItemKind,
    household_id: i64,
) -> Result<Option<(String, String)>, AppError> {
    if !matches!(kind, ItemKind::Dibao | ItemKind::Tekun) {
        return Ok(None);
    }
    let today = today_cn();
    let Some((place, input, _)) =
        doudi_store::policies::household_input(db, household_id, today).await?
    else {
        return Ok(None);
    };
    let rows = doudi_store::policies::standard_rows(db).await?;
    let std = doudi_rules::standards::in_force(&rows, &place.village_code, &today.to_string());
    let facts = doudi_rules::Facts::build(&input, &std, today);
    Ok(match kind {
        ItemKind::Dibao => {
            let (Some(standard), Some(amount)) = (
                std.get("dibao_standard"),
                facts.calc.get("dibao_amount").and_then(|v| v.as_i64()),
            ) else {
                return Ok(None);
            };
            Some((
                money(amount),
                format!(
                    "按 {today} 执行的低保标准 {} 元/人·月：（{} − 人均月收入 {}）× {} 人",
                    money(*standard),
                    money(*standard),
                    money(facts.hh.per_capita_income),
                    facts.hh.size
                ),
            ))
        }
        _ => {
            let (Some(basic), Some(partial), Some(lost)) = (
                std.get("tekun_standard"),
                std.get("tekun_care_partial_pct"),
                std.get("tekun_care_lost_pct"),
            ) else {
                return Ok(None);
            };
            let care = facts
                .calc
                .get("tekun_care_level")
                .and_then(|v| v.as_str())
                .unwrap_or("full");
            let level = match care {
                "partial" => doudi_domain::person::SelfCareLevel::Partial,
                "lost" => doudi_domain::person::SelfCareLevel::Lost,
                _ => doudi_domain::person::SelfCareLevel::Full,
            };
            let amount = doudi_domain::benefits::tekun_monthly(
                *basic,
                level,
                (*partial).max(0) as u32,
                (*lost).max(0) as u32,
            );
            Some((
                money(amount),
                format!(
                    "按 {today} 执行的特困基本生活标准 {} 元/月，照料护理等级：{}",
                    money(*basic),
                    level.label()
                ),
            ))
        }
    })
}

pub async fn item(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<crate::render::ShowQuery>,
) -> Result<Response, AppError> {
    let i = doudi_app::cases::item_for_steps(&state.db, &actor, id).await?;
    item_page(
        &state,
        &actor,
        i,
        ItemForms::default(),
        vec![],
        200,
        q.msg.as_deref(),
    )
    .await
}

/// What was typed in the item page's three forms.
#[derive(Default)]
pub struct ItemForms {
    pub act: doudi_app::cases::ActInput,
    pub refer: ReferForm,
    pub conference: ConferenceForm,
}

async fn item_page(
    state: &AppState,
    actor: &Actor,
    i: ItemRow,
    form: ItemForms,
    errors: Vec<FieldError>,
    code: u16,
    msg: Option<&str>,
) -> Result<Response, AppError> {
    let s = parse_state(&i)?;
    let def = workflow::definition(s.kind);
    let today = today_cn().to_string();
    let current = workflow::current_step(&def, &s);
    let steps = def
        .steps
        .iter()
        .map(|st| StepView {
            name: st.name.to_string(),
            // A step routed by amount is the town's up to its approval
            // limit and the district's above it: the row says so, and the
            // current step names the role it was routed to, as the header does.
            role: match (st.role_by_amount, s.step == Some(st.code), s.step_role) {
                (true, true, Some(r)) => format!("{}（按金额确定）", r.label()),
                (true, _, _) => format!(
                    "{}；超过乡镇审批限额时为{}",
                    st.role.label(),
                    Role::DistrictApprover.label()
                ),
                _ => st.role.label().to_string(),
            },
            days: if st.is_notice {
                "公示 7 天".into()
            } else {
                format!("{} 个工作日", st.deadline_working_days)
            },
            evidence: st.evidence.join("、"),
            current: s.step == Some(st.code),
        })
        .collect();
    let history = cases::steps(&state.db, i.id)
        .await?
        .into_iter()
        .map(|h| HistoryView {
            on: h.acted_on,
            step: crate::views::step_name(&i.cols.kind, &h.step),
            action: if h.action == "conference" {
                "一事一议".to_string()
            } else {
                label::<ActionKind>(&h.action)
            },
            who: format!("{}（{}）", h.username, label::<Role>(&h.role)),
            signatures: h.signatures,
            // A conference is recorded as 案情/决定/理由: one line each.
            opinion: if h.action == "conference" {
                h.opinion
                    .replace("；决定：", "\n决定：")
                    .replace("；理由：", "\n理由：")
            } else {
                h.opinion
            },
            amount: h.amount_fen.map(money).unwrap_or_default(),
        })
        .collect();
    let can_act =
        s.step_role == Some(actor.role) || (s.is_open() && actor.role == Role::DistrictApprover);
    // Only what the signed-in role can take: the step's own role takes any
    // of its actions; the district approver, on another's step, only the
    // item-level ones (withdraw, extend, escalate …).
    let own_step = s.step_role == Some(actor.role);
    let actions = workflow::allowed_actions(&def, &s)
        .into_iter()
        .filter(|a| own_step || a.is_item_level())
        .map(|a| (a.code().to_string(), a.label().to_string()))
        .collect();
    let notices = cases::notices_of_item(&state.db, i.id).await?;
    let letter = matches!(
        s.outcome,
        Some(Outcome::Approved | Outcome::Refused | Outcome::Paid)
    );
    let page = Page::new(state, actor, format!("救助事项 #{}", i.id), "cases")
        .await
        .with_notice(msg);
    let handler = actor.may(Action::HandleCase);
    let referrals = if handler {
        cases::referrals_of_household(&state.db, i.household_id)
            .await?
            .iter()
            .filter(|r| r.item_id == Some(i.id))
            .map(|r| referral_line(r, &today))
            .collect()
    } else {
        vec![]
    };
    let referral_targets = if handler {
        doudi_app::departments::active_names(&state.db).await?
    } else {
        vec![]
    };
    Ok(status(
        render(&ItemPage {
            item_due: s.item_due.map(|d| d.to_string()).unwrap_or_default(),
            min_signatures: current.map(|c| c.min_signatures).unwrap_or(0),
            needs_amount: current.is_some_and(|c| c.requires_amount || c.role_by_amount)
                || s.kind == ItemKind::MutualAid
                || s.kind == ItemKind::TempEmergency
                // The approval of 低保/特困 decides the monthly amount.
                || (matches!(s.kind, ItemKind::Dibao | ItemKind::Tekun)
                    && workflow::allowed_actions(&def, &s).contains(&ActionKind::Approve)),
            i: crate::views::item_line(&i, &today),
            version: i.version,
            steps,
            history,
            actions,
            can_act,
            notices,
            errors,
            today,
            referral_targets,
            referrals,
            handler,
            form,
            letter,
            suggestion: if s.is_open() {
                suggested_amount(&state.db, s.kind, i.household_id).await?
            } else {
                None
            },
            page,
        })?,
        code,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActForm {
    pub version: String,
    pub action: String,
    pub signatures: String,
    pub opinion: String,
    pub amount: String,
    pub on: String,
}

/// One step of an item: the state machine decides; refused commands change
/// nothing and come back on the item's page with the reason.
pub async fn act(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<doudi_app::cases::ActInput>,
) -> Result<Response, AppError> {
    match doudi_app::cases::act(&state.db, &actor, id, &f).await {
        Ok(_) => Ok(Redirect::to(&format!("/items/{id}?msg=acted")).into_response()),
        Err(e @ (doudi_app::Error::Invalid(_) | doudi_app::Error::Conflict(_))) => {
            let code = if matches!(e, doudi_app::Error::Conflict(_)) {
                409
            } else {
                422
            };
            let errors = match e {
                doudi_app::Error::Invalid(fields) => fields,
                other => vec![err("action", other.to_string())],
            };
            let fresh = access::item(&state.db, &actor, id).await?;
            let mut form = ItemForms {
                act: f,
                ..Default::default()
            };
            if code == 409 {
                // Someone else moved the item: what was typed stays, but the
                // step shown (and its version) is the current one.
                form.act.version = String::new();
            }
            item_page(&state, &actor, fresh, form, errors, code, None).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- inbox

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    page: Page,
    mine: Vec<ItemLine>,
    overdue: Vec<ItemLine>,
    referrals: Vec<ReferralLine>,
    show_overdue: bool,
    warnings: Vec<(doudi_store::monitoring::WarningRow, bool)>,
    /// All open warnings of the jurisdiction (the list shows the first 100).
    open_warnings: i64,
    visits: Vec<(doudi_store::monitoring::MonitoringRow, String, String, bool)>,
    /// Street and village filter: (code, label, selected); empty for a village.
    regions: Vec<(String, String, bool)>,
    /// The most lines a case list shows (the filter narrows the rest).
    cap: usize,
}

/// The inbox's street / village filter.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InboxQuery {
    pub region: String,
}

/// The most lines each case list of the inbox shows.
const INBOX_CAP: i64 = 200;

pub struct ReferralLine {
    pub id: i64,
    pub to: String,
    pub household: String,
    pub status: String,
    pub due: String,
    pub overdue: bool,
}

fn referral_line(r: &cases::ReferralRow, today: &str) -> ReferralLine {
    ReferralLine {
        id: r.id,
        to: r.to_name.clone(),
        household: doudi_domain::mask::mask_name(&r.head_name),
        status: cases::referral_status_label(&r.status).into(),
        due: r.due_on.clone(),
        overdue: matches!(r.status.as_str(), "sent" | "accepted") && r.due_on.as_str() < today,
    }
}

/// 我的待办: the steps waiting for the actor's role in its jurisdiction, soonest first;
/// overdue steps anywhere below; referrals addressed to a department or charity.
/// A town or district narrows every list to a street or village.
pub async fn inbox(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<InboxQuery>,
) -> Result<Response, AppError> {
    doudi_app::cases::end_expired_notices(&state.db).await?;
    let today = today_cn().to_string();
    let scope = doudi_app::access::narrowed_scope(&state.db, &actor, &q.region).await?;
    let mut mine = vec![];
    let mut overdue = vec![];
    let mut referrals = vec![];
    if actor.may(Action::HandleCase) {
        mine = cases::inbox(&state.db, &scope, actor.role.code(), INBOX_CAP)
            .await?
            .iter()
            .map(|i| crate::views::item_line(i, &today))
            .collect();
        overdue = cases::overdue(&state.db, &scope, &today, INBOX_CAP)
            .await?
            .iter()
            .map(|i| crate::views::item_line(i, &today))
            .collect();
        referrals = cases::referrals_in(&state.db, &scope, 100)
            .await?
            .iter()
            .map(|r| referral_line(r, &today))
            .collect();
    }
    if actor.may(Action::HandleReferral) {
        let to = actor
            .user
            .department
            .clone()
            .unwrap_or_else(|| actor.user.display_name.clone());
        referrals = cases::referrals_to(&state.db, &to, 200)
            .await?
            .iter()
            .map(|r| referral_line(r, &today))
            .collect();
        if actor.role == Role::DeptLiaison {
            // Department items addressed to this department.
            mine = cases::inbox_of_department(&state.db, &scope, &to, INBOX_CAP)
                .await?
                .iter()
                .map(|i| crate::views::item_line(i, &today))
                .collect();
        }
    }
    let show_overdue = actor.role != Role::VillageAssistant;
    let (warnings, open_warnings, visits) = if actor.may(Action::HandleCase) {
        let l = doudi_app::monitoring::inbox_lines(&state.db, &scope).await?;
        (l.warnings, l.open_warnings, l.visits)
    } else {
        (vec![], 0, vec![])
    };
    render(&InboxPage {
        page: Page::new(&state, &actor, "我的待办", "inbox").await,
        mine,
        overdue,
        referrals,
        show_overdue,
        warnings,
        open_warnings,
        visits,
        regions: crate::pages::households::region_options(&state, &actor, &q.region).await?,
        cap: INBOX_CAP as usize,
    })
}

// ---------------------------------------------------------------- public notices

#[derive(Template)]
#[template(path = "public_notices.html")]
struct PublicNoticesPage {
    notices: Vec<(cases::NoticeRow, String)>,
    villages: Vec<(String, String, bool)>,
    today: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PublicQuery {
    pub village: String,
}

/// Public notices, no login: only the posted fields (masked name, household size, item,
/// amount, reason, dates) ever leave the database here.
pub async fn public_notices(
    State(state): State<AppState>,
    Query(q): Query<PublicQuery>,
) -> Result<Response, AppError> {
    doudi_app::cases::end_expired_notices(&state.db).await?;
    let today = today_cn().to_string();
    let village = (!q.village.is_empty()).then_some(q.village.as_str());
    let notices = cases::public_notices(&state.db, village, &today, 500)
        .await?
        .into_iter()
        .map(|n| {
            let amount = n
                .amount_fen
                .map(|a| format!("{} 元", money(a)))
                .unwrap_or_default();
            (n, amount)
        })
        .collect();
    let villages = doudi_store::regions::subtree(&state.db, "")
        .await?
        .into_iter()
        .filter(|r| r.level == "village" && r.active)
        .map(|r| (r.code.clone(), r.name, r.code == q.village))
        .collect();
    render(&PublicNoticesPage {
        notices,
        villages,
        today,
    })
}

// ---------------------------------------------------------------- referrals

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReferForm {
    pub to_name: String,
    pub facts: String,
    pub consent_by: String,
    pub consent: String,
}

pub async fn refer(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<ReferForm>,
) -> Result<Response, AppError> {
    let i = access::item(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::HandleCase).await?;
    let r = doudi_app::cases::NewReferralInput {
        to_name: f.to_name.clone(),
        facts: f.facts.clone(),
        consent_by: f.consent_by.clone(),
        consent: !f.consent.is_empty(),
    };
    match doudi_app::cases::send_referral(&state.db, &actor, id, &r, today_cn()).await {
        Ok(_) => Ok(Redirect::to(&format!("/items/{id}?msg=referred#referrals")).into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            let form = ItemForms {
                refer: f,
                ..Default::default()
            };
            item_page(&state, &actor, i, form, errors, 422, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    page: Page,
    contact: doudi_app::cases::ReferralContact,
    amount: String,
    r: cases::ReferralRow,
    status: String,
    household: String,
    receiver: bool,
    errors: Vec<FieldError>,
    overdue: bool,
}

pub async fn referral(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (r, receiver) = access::referral(&state.db, &actor, id).await?;
    referral_page(&state, &actor, r, receiver, vec![], 200).await
}

async fn referral_page(
    state: &AppState,
    actor: &Actor,
    r: cases::ReferralRow,
    receiver: bool,
    errors: Vec<FieldError>,
    code: u16,
) -> Result<Response, AppError> {
    let today = today_cn().to_string();
    let overdue =
        matches!(r.status.as_str(), "sent" | "accepted") && r.due_on.as_str() < today.as_str();
    let contact = doudi_app::cases::referral_contact(&state.db, actor, &r, receiver).await?;
    Ok(status(
        render(&ReferralPage {
            contact,
            page: Page::new(state, actor, format!("转介 #{}", r.id), "inbox").await,
            status: cases::referral_status_label(&r.status).into(),
            household: doudi_domain::mask::mask_name(&r.head_name),
            amount: r.amount_fen.map(money).unwrap_or_default(),
            receiver,
            errors,
            overdue,
            r,
        })?,
        code,
    ))
}

pub async fn referral_act(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<doudi_app::cases::ReferralAction>,
) -> Result<Response, AppError> {
    match doudi_app::cases::act_on_referral(&state.db, &actor, id, &f).await {
        Ok(_) => Ok(Redirect::to(&format!("/referrals/{id}")).into_response()),
        Err(e @ (doudi_app::Error::Invalid(_) | doudi_app::Error::Conflict(_))) => {
            let errors = match e {
                doudi_app::Error::Invalid(fields) => fields
                    .into_iter()
                    .map(|f| {
                        if f.field.is_empty() {
                            err("reason", f.message)
                        } else {
                            f
                        }
                    })
                    .collect(),
                other => vec![err("reason", other.to_string())],
            };
            let (fresh, receiver) = access::referral(&state.db, &actor, id).await?;
            referral_page(&state, &actor, fresh, receiver, errors, 422).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- calendar

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    page: Page,
    years: Vec<(i32, bool)>,
    error: String,
    /// From November: next year, if not loaded.
    missing: Option<i32>,
    form: CalendarForm,
    errors: Vec<FieldError>,
}

pub async fn calendar_page(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<crate::render::ShowQuery>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageCalendar).await?;
    let next = today_cn().year() + 1;
    let form = CalendarForm {
        year: next.to_string(),
        ..Default::default()
    };
    calendar_render(
        &state,
        &actor,
        q.msg.as_deref(),
        String::new(),
        form,
        vec![],
        200,
    )
    .await
}

async fn calendar_render(
    state: &AppState,
    actor: &Actor,
    msg: Option<&str>,
    error: String,
    form: CalendarForm,
    errors: Vec<FieldError>,
    code: u16,
) -> Result<Response, AppError> {
    let cal = calendar(&state.db).await?;
    let loaded: Vec<i64> = cases::calendar_years(&state.db)
        .await?
        .into_iter()
        .map(|(y, _)| y)
        .collect();
    let years = cal
        .years()
        .into_iter()
        .map(|y| (y, loaded.contains(&(y as i64))))
        .collect();
    Ok(status(
        render(&CalendarPage {
            page: Page::new(state, actor, "工作日历", "calendar")
                .await
                .with_notice(msg),
            years,
            error,
            missing: doudi_app::cases::next_year_missing(&state.db, today_cn()).await?,
            form,
            errors,
        })?,
        code,
    ))
}

/// The calendar form as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct CalendarForm {
    pub year: String,
    pub off_days: String,
    pub work_days: String,
}

/// A year's holidays typed in the form instead of a file.
pub async fn calendar_form(
    State(state): State<AppState>,
    actor: Actor,
    Form(f): Form<CalendarForm>,
) -> Result<Response, AppError> {
    match doudi_app::cases::load_calendar_form(
        &state.db,
        &actor,
        &f.year,
        &f.off_days,
        &f.work_days,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/admin/calendar?msg=calendar").into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            calendar_render(&state, &actor, None, String::new(), f, errors, 422).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn calendar_upload(
    State(state): State<AppState>,
    actor: Actor,
    mut mp: Multipart,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::ManageCalendar).await?;
    let mut json = String::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?
    {
        if field.name() == Some("file") {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| AppError::bad_request(format!("上传失败：{e}")))?;
            json = String::from_utf8_lossy(&bytes)
                .trim_start_matches('\u{feff}')
                .to_string();
        }
    }
    if json.trim().is_empty() {
        return calendar_render(
            &state,
            &actor,
            None,
            "请选择节假日安排文件（JSON）".into(),
            CalendarForm::default(),
            vec![],
            422,
        )
        .await;
    }
    match doudi_app::cases::load_calendar_year(&state.db, &json, &actor.user.username).await {
        Ok(year) => {
            audit::event(
                &state.db,
                &actor,
                "admin",
                "calendar",
                year.to_string(),
                None,
                actor.region.as_str(),
                format!("载入 {year} 年节假日安排"),
            )
            .await?;
            Ok(Redirect::to("/admin/calendar?msg=calendar").into_response())
        }
        Err(e) => {
            calendar_render(
                &state,
                &actor,
                None,
                format!("文件无效，未载入：{e}"),
                CalendarForm::default(),
                vec![],
                422,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- case conference

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConferenceForm {
    pub attendees: String,
    pub facts: String,
    pub decision: String,
    pub reasons: String,
}

/// 一事一议: a case conference recorded on the item (attendees, facts, decision,
/// reasons); it does not move the item by itself — the decision is then carried out
/// through the workflow's own steps.
pub async fn conference(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<ConferenceForm>,
) -> Result<Response, AppError> {
    let i = access::item(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::HandleCase).await?;
    let c = doudi_app::cases::Conference {
        attendees: f.attendees.clone(),
        facts: f.facts.clone(),
        decision: f.decision.clone(),
        reasons: f.reasons.clone(),
    };
    match doudi_app::cases::record_conference(&state.db, &actor, id, &c, today_cn()).await {
        Ok(()) => Ok(Redirect::to(&format!("/items/{id}?msg=conference")).into_response()),
        Err(doudi_app::Error::Invalid(errors)) => {
            let form = ItemForms {
                conference: f,
                ..Default::default()
            };
            item_page(&state, &actor, i, form, errors, 422, None).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- reports

use doudi_app::cases::{ReportLine, report_lines};

#[derive(Template)]
#[template(path = "report_cases.html")]
struct ReportPage {
    page: Page,
    lines: Vec<ReportLine>,
    mutual_aid: Vec<(String, String, i64, String)>,
    from: String,
    to: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReportQuery {
    pub from: String,
    pub to: String,
}

impl ReportQuery {
    fn range(&self) -> (String, String) {
        let today = today_cn();
        let from = NaiveDate::parse_from_str(&self.from, "%Y-%m-%d")
            .unwrap_or(NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("date"));
        let to = NaiveDate::parse_from_str(&self.to, "%Y-%m-%d").unwrap_or(today);
        (from.to_string(), to.to_string())
    }
}

async fn may_report(state: &AppState, actor: &Actor) -> Result<(), AppError> {
    if actor.may(Action::HandleCase) || actor.may(Action::ReadAudit) {
        Ok(())
    } else {
        Err(
            access::refuse(&state.db, actor, "report", actor.region.as_str())
                .await
                .into(),
        )
    }
}

/// Per item type and jurisdiction: counts, average and 90th-percentile handling time in
/// working days (items ended in the period), open and overdue steps.
pub async fn report(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    may_report(&state, &actor).await?;
    let (from, to) = q.range();
    let scope = Scope(actor.region.clone());
    let lines = report_lines(&state.db, &scope, &from, &to).await?;
    let names: HashMap<String, String> = doudi_store::regions::subtree(&state.db, scope.0.as_str())
        .await?
        .into_iter()
        .map(|r| (r.code, r.name))
        .collect();
    let mutual_aid = cases::mutual_aid_monthly(&state.db, &scope, &from, &to)
        .await?
        .into_iter()
        .map(|(v, m, n, a)| (names.get(&v).cloned().unwrap_or(v), m, n, money(a)))
        .collect();
    render(&ReportPage {
        page: Page::new(&state, &actor, "办理时效报表", "reports").await,
        lines,
        mutual_aid,
        from,
        to,
    })
}

pub async fn report_xlsx(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    may_report(&state, &actor).await?;
    let (from, to) = q.range();
    let lines = report_lines(&state.db, &Scope(actor.region.clone()), &from, &to).await?;
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                l.node.clone(),
                l.kind.clone(),
                l.total.to_string(),
                l.open.to_string(),
                l.ended.to_string(),
                l.overdue.to_string(),
                l.avg_days.clone(),
                l.p90_days.clone(),
            ]
        })
        .collect();
    let bytes = doudi_sheets::table_xlsx(
        "办理时效",
        &[
            "区划",
            "救助事项",
            "受理件数",
            "在办",
            "办结",
            "当前超期",
            "平均办理工作日",
            "90% 办理工作日",
        ],
        &rows,
    );
    Ok(xlsx_response(
        bytes,
        &format!("case-report-{from}-{to}.xlsx"),
    ))
}

// ---------------------------------------------------------------- workflow definitions

pub struct WorkflowView {
    pub name: String,
    pub limit: String,
    pub steps: Vec<(String, String, String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    page: Page,
    flows: Vec<WorkflowView>,
}

/// Every workflow as data: steps, who acts, time limits, evidence, signatures, and
/// where each action leads. Readable by all staff, so the rules are not hidden in code.
pub async fn workflows(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    let flows = workflow::all_definitions()
        .into_iter()
        .map(|d| {
            let names: HashMap<&str, &str> = d.steps.iter().map(|s| (s.code, s.name)).collect();
            WorkflowView {
                name: d.name.to_string(),
                limit: match (d.total_limit, d.extended_limit) {
                    (Some(t), Some(e)) => format!("全程 {t} 个工作日（延期后 {e} 个）"),
                    (Some(t), None) => format!("全程 {t} 个工作日"),
                    _ => "按各步骤时限".into(),
                },
                steps: d
                    .steps
                    .iter()
                    .map(|s| {
                        let next = s
                            .actions
                            .iter()
                            .map(|(a, t)| {
                                let to = match t {
                                    workflow::Target::Step(c) => {
                                        names.get(c).copied().unwrap_or(c).to_string()
                                    }
                                    workflow::Target::End(o) => format!("结束：{}", o.label()),
                                    workflow::Target::Resume => "回到原步骤".into(),
                                };
                                format!("{} → {}", a.label(), to)
                            })
                            .collect::<Vec<_>>()
                            .join("；");
                        (
                            s.name.to_string(),
                            s.role.label().to_string(),
                            if s.is_notice {
                                "公示 7 天".into()
                            } else {
                                format!("{} 个工作日", s.deadline_working_days)
                            },
                            s.evidence.join("、"),
                            if s.min_signatures > 0 {
                                format!("{} 人", s.min_signatures)
                            } else {
                                String::new()
                            },
                            next,
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    render(&WorkflowsPage {
        page: Page::new(&state, &actor, "办理流程", "workflows").await,
        flows,
    })
}

// ---------------------------------------------------------------- PDFs

async fn render_pdf<F>(f: F) -> Result<Vec<u8>, AppError>
where
    F: FnOnce() -> Result<Vec<u8>, doudi_pdf::PdfError> + Send + 'static,
{
    // Typesetting is CPU work: keep it off the async worker threads.
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// The printable notice (no login: it carries only what is posted anyway).
pub async fn notice_pdf(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    // Only a notice in its posting period is public, and only by its token.
    doudi_app::cases::end_expired_notices(&state.db).await?;
    let token = file.trim_end_matches(".pdf");
    let n = cases::public_notice_by_token(&state.db, token, &today_cn().to_string())
        .await?
        .ok_or_else(|| {
            AppError::new(
                axum::http::StatusCode::NOT_FOUND,
                "该公示不存在或已结束公示",
            )
        })?;
    let id = n.id;
    let town = doudi_store::regions::get(&state.db, &n.village_code[..9])
        .await?
        .map(|r| r.name)
        .unwrap_or_default();
    let doc = doudi_pdf::NoticeDoc {
        title: format!("{town}{} {}公示", n.village_name, n.item_label),
        village: n.village_name.clone(),
        intro: format!(
            "根据社会救助有关规定，经调查审核，现将{}救助对象情况公示如下：",
            n.item_label
        ),
        rows: vec![doudi_pdf::NoticeLine {
            name: n.masked_name.clone(),
            household_size: n.household_size,
            item: n.item_label.clone(),
            amount: n
                .amount_fen
                .map(|a| format!("{} 元", money(a)))
                .unwrap_or_default(),
            reason: n.reason.clone(),
        }],
        start: n.start_date.clone(),
        end: n.end_date.clone(),
        objection_contact: doudi_app::cases::notice_objection_contact(&state.db, &n.village_code)
            .await?,
        issuer: format!("{town}办事处"),
    };
    let bytes = render_pdf(move || doudi_pdf::notice_pdf(&doc)).await?;
    Ok(pdf_response(bytes, &format!("公示-{id}.pdf")))
}

/// The decision letter of an ended item: approval, or refusal with its reasons.
pub async fn letter_pdf(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let i = access::item(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::HandleCase).await?;
    let s = parse_state(&i)?;
    let Some(outcome) = s.outcome else {
        return Err(AppError::bad_request("事项尚未办结，暂无决定书"));
    };
    let kind = ItemKind::from_code(&i.cols.kind).unwrap_or(ItemKind::DeptItem);
    let last_note = s.history.last().map(|h| h.note.clone()).unwrap_or_default();
    let approved = matches!(outcome, Outcome::Approved | Outcome::Paid);
    let amount = s
        .amount_fen
        .map(|a| {
            format!(
                "{} 元{}",
                money(a),
                if matches!(kind, ItemKind::Dibao | ItemKind::Tekun) {
                    "/月"
                } else {
                    ""
                }
            )
        })
        .unwrap_or_else(|| "—".into());
    let ended = s.ended_on.unwrap_or_else(today_cn);
    let doc = doudi_pdf::LetterDoc {
        title: if approved { format!("{}审核确认决定书", kind.label()) } else { format!("{}不予批准告知书", kind.label()) },
        number: format!("西民救〔{}〕{} 号", ended.year(), i.id),
        addressee: format!("{}户", i.head_name),
        body_paragraphs: if approved {
            vec![
                format!("你户于 {} 提出的{}申请，经调查、审核、公示，符合条件，决定给予救助。", s.item_started, kind.label()),
                if matches!(kind, ItemKind::Dibao | ItemKind::Tekun) { format!("救助金自 {} 起按月发放。家庭人口、收入、财产状况发生变化的，请及时告知所在村（社区）或乡镇（街道）。", doudi_app::cases::first_of_next_month(ended)) } else { "救助款物已发放，请妥善使用。".into() },
            ]
        } else {
            vec![format!("你户于 {} 提出的{}申请，经审核，不符合条件，决定不予批准。", s.item_started, kind.label()), format!("理由：{}", if last_note.is_empty() { "见审核意见".to_string() } else { last_note.clone() })]
        },
        facts: vec![("救助事项".into(), kind.label().into()), ("决定".into(), outcome.label().into()), ("金额".into(), amount), ("决定日期".into(), ended.to_string())],
        issuer: "西湖区民政局".into(),
        date: ended.to_string(),
        appeal_note: "如对本决定不服，可以自收到之日起 60 日内向上一级民政部门或本级人民政府申请行政复议，或者在 6 个月内向人民法院提起行政诉讼。".into(),
    };
    audit_letter(&state, &actor, &i).await?;
    let bytes = render_pdf(move || doudi_pdf::letter_pdf(&doc)).await?;
    Ok(pdf_response(bytes, &format!("决定书-{id}.pdf")))
}

async fn audit_letter(state: &AppState, actor: &Actor, i: &ItemRow) -> Result<(), AppError> {
    audit::event(
        &state.db,
        actor,
        "view",
        "case_item",
        i.id.to_string(),
        Some(i.household_id),
        &i.village_code,
        format!("生成事项 #{} 的决定书", i.id),
    )
    .await?;
    Ok(())
}
