//! The demo district a year on (`doudi demo` only): applications of every
//! kind opened on days of the past year and driven through their workflows
//! by the demo accounts with dated steps — most decided, some refused, some
//! still open (and so overdue), one notice with an objection; referrals
//! answered and unanswered; warnings verified with each of the four
//! outcomes; and 政策找人 leads. Everything goes through the same use cases
//! as the pages, so the history is what the office would have produced.
//! Deterministic from the seed. A step the workflow refuses ends that
//! item's story where it is, as it would in an office.

use chrono::{Days, NaiveDate};
use doudi_domain::Coded;
use doudi_domain::access::Role;
use doudi_domain::workflow::{self, ActionKind};
use doudi_store::Db;
use rand::{Rng, SeedableRng};

use crate::caller::Caller;
use crate::cases::{self, ActInput, NewIntake, NewReferralInput};
use crate::error::Result;

/// What the history holds, for the demo's start-up message.
#[derive(Debug, Default)]
pub struct History {
    pub applications: usize,
    pub decided: usize,
    pub open: usize,
    pub referrals: usize,
    pub warnings_closed: usize,
    pub leads: usize,
}

async fn caller(db: &Db, username: &str) -> Result<Option<Caller>> {
    Ok(doudi_store::users::by_username(db, username)
        .await?
        .and_then(Caller::from_user))
}

/// The demo account that takes a step of `role` for a household of `village`.
fn actor_for<'a>(callers: &'a [Caller], role: Role, village: &str) -> Option<&'a Caller> {
    callers.iter().find(|c| c.role == role && c.covers(village))
}

pub async fn demo_history(db: &Db, seed: u64, today: NaiveDate) -> Result<History> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x4157);
    let mut callers = Vec::new();
    for u in [
        "cun_xieli",
        "cun_xieli2",
        "zhen_jingban",
        "zhen_shenhe",
        "qu_shenpi",
        "yibao",
        "cishan",
    ] {
        if let Some(c) = caller(db, u).await? {
            callers.push(c);
        }
    }
    let villages: Vec<String> = callers
        .iter()
        .filter(|c| c.role == Role::VillageAssistant)
        .map(|c| c.region.as_str().to_string())
        .collect();
    let mut history = History::default();
    let mut objection_made = false;
    // Two cases the town could not settle go to the district (提级复审).
    let mut escalations = 0;
    for village in &villages {
        // Households of the village with a living head, in id order.
        let households: Vec<(i64, i64)> = doudi_store::sqlx::query_as(
            "SELECT h.id, p.id FROM households h JOIN persons p ON p.household_id = h.id AND p.relation = 'head' AND p.status = 'alive' \
             WHERE h.village_code = $1 AND h.status = 'active' ORDER BY h.id LIMIT 120",
        )
        .bind(village.clone())
        .fetch_all(&db.pool)
        .await?;
        if households.is_empty() {
            continue;
        }
        // About forty applications a village over the year; a household
        // may come more than once.
        let count = 40.min(households.len() * 3);
        for n in 0..count {
            let (hid, head) = &households[(n * 7) % households.len()];
            let kind = match rng.random_range(0..10) {
                0..=2 => "mutual_aid",
                3..=4 => "dibao",
                5 => "tekun",
                6 => "temp_emergency",
                7 => "temp_expense",
                _ => "dept_item",
            };
            let started = today - Days::new(rng.random_range(4..330));
            let opener_role = if kind == "mutual_aid" {
                Role::VillageAssistant
            } else {
                Role::TownCaseWorker
            };
            let Some(opener) = actor_for(&callers, opener_role, village) else {
                continue;
            };
            let channel = ["window", "discovery", "online"][rng.random_range(0..3)];
            let Some(item_id) = open_item(db, opener, *hid, *head, kind, channel, started).await?
            else {
                continue;
            };
            history.applications += 1;
            // Most are decided; one in ten refused; one in five left where
            // the office is (recent ones still running, older ones overdue).
            let mut ending = match history.applications % 10 {
                3 | 7 => Ending::Refuse,
                1 | 5 => Ending::StopAfter((history.applications % 3) as u32),
                _ => Ending::Decide,
            };
            if matches!(ending, Ending::Decide) {
                if matches!(kind, "dibao" | "tekun" | "temp_expense") && escalations < 2 {
                    escalations += 1;
                    ending = Ending::Escalate;
                }
            }
            // The first 低保 notice that runs to its end draws an objection.
            let object = kind == "dibao" && matches!(ending, Ending::Decide) && !objection_made;
            objection_made |= object;
            let decided = drive(
                db, &callers, village, item_id, started, today, ending, object, &mut rng,
            )
            .await?;
            if decided {
                history.decided += 1;
            } else {
                history.open += 1;
            }
            // Referrals from some temporary-aid cases: answered or not.
            if matches!(kind, "temp_expense" | "temp_emergency") {
                if let Some(town) = actor_for(&callers, Role::TownCaseWorker, village) {
                    let to = if rng.random_range(0..2) == 0 {
                        "区医疗保障局"
                    } else {
                        "区慈善总会"
                    };
                    let sent_on = (started + Days::new(2)).min(today);
                    let r = NewReferralInput {
                        to_name: to.into(),
                        facts: "大病住院自付费用高，请按规定给予医疗救助或慈善帮扶".into(),
                        consent_by: "户主本人".into(),
                        consent: true,
                    };
                    if let Ok(rid) = cases::send_referral(db, town, item_id, &r, sent_on).await {
                        history.referrals += 1;
                        let receiver = callers
                            .iter()
                            .find(|c| c.user.department.as_deref() == Some(to));
                        if let (Some(rc), true) = (receiver, rng.random_range(0..3) > 0) {
                            let accept = cases::ReferralAction {
                                op: "accept".into(),
                                ..Default::default()
                            };
                            if cases::act_on_referral(db, rc, rid, &accept).await.is_ok()
                                && rng.random_range(0..2) == 0
                            {
                                let done = cases::ReferralAction {
                                    op: "complete".into(),
                                    outcome: "已按规定给予救助".into(),
                                    amount: "3000".into(),
                                    ..Default::default()
                                };
                                let _ = cases::act_on_referral(db, rc, rid, &done).await;
                            }
                        }
                    }
                }
            }
        }
    }
    // A 先行救助 whose paperwork was completed weeks after its deadline.
    if let Some(village) = villages.first() {
        if let Some(town) = actor_for(&callers, Role::TownCaseWorker, village) {
            let head: Option<(i64, i64)> = doudi_store::sqlx::query_as(
                "SELECT h.id, p.id FROM households h JOIN persons p ON p.household_id = h.id AND p.relation = 'head' AND p.status = 'alive' \
                 WHERE h.village_code = $1 AND h.status = 'active' ORDER BY h.id DESC LIMIT 1",
            )
            .bind(village.clone())
            .fetch_optional(&db.pool)
            .await?;
            if let Some((hid, head)) = head {
                let started = today - Days::new(100);
                let opened =
                    open_item(db, town, hid, head, "temp_emergency", "discovery", started).await?;
                if let Some(item_id) = opened {
                    history.applications += 1;
                    let ending = Ending::LateSupplement;
                    if drive(
                        db, &callers, village, item_id, started, today, ending, false, &mut rng,
                    )
                    .await?
                    {
                        history.decided += 1;
                    } else {
                        history.open += 1;
                    }
                }
            }
        }
    }
    history.warnings_closed = close_some_warnings(db, &callers, &villages).await?;
    history.leads = finder_with_leads(db, &callers).await?;
    Ok(history)
}

/// Opens an application of one item of `kind` for household `hid` (its head
/// applying) on `started`; the item's id, or None when the intake refused.
#[allow(clippy::too_many_arguments)]
async fn open_item(
    db: &Db,
    opener: &Caller,
    hid: i64,
    head: i64,
    kind: &str,
    channel: &str,
    started: NaiveDate,
) -> Result<Option<i64>> {
    let intake = NewIntake {
        channel: channel.into(),
        applicant_person_id: Some(head),
        proxy_name: String::new(),
        situation: situation(kind).into(),
        kinds: vec![kind.into()],
        department: if kind == "dept_item" {
            "区医疗保障局".into()
        } else {
            String::new()
        },
        separate_registration: false,
    };
    let Ok(app_id) = cases::open_application(db, opener, hid, &intake, &[], started).await else {
        return Ok(None);
    };
    Ok(Some(
        doudi_store::sqlx::query_scalar("SELECT id FROM case_items WHERE application_id = $1")
            .bind(app_id)
            .fetch_one(&db.pool)
            .await?,
    ))
}

/// A 低保 政策找人 run by the town, waited for, its "missed" findings
/// turned into leads for the villages.
async fn finder_with_leads(db: &Db, callers: &[Caller]) -> Result<usize> {
    let Some(town) = callers.iter().find(|c| c.role == Role::TownCaseWorker) else {
        return Ok(0);
    };
    let policy: Option<i64> =
        doudi_store::sqlx::query_scalar("SELECT id FROM policies WHERE code = 'dibao'")
            .fetch_optional(&db.pool)
            .await?;
    let run_id = crate::policies::start_run(db, town, policy).await?;
    for _ in 0..600 {
        let status: String =
            doudi_store::sqlx::query_scalar("SELECT status FROM finder_runs WHERE id = $1")
                .bind(run_id)
                .fetch_one(&db.pool)
                .await?;
        if status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    match crate::policies::leads_from_run(db, town, run_id, "missed").await {
        Ok((made, _)) => Ok(made),
        Err(_) => Ok(0),
    }
}

#[derive(Clone, Copy)]
enum Ending {
    Decide,
    Refuse,
    StopAfter(u32),
    /// Decided after the district's 提级复审 of the first town step.
    Escalate,
    /// Decided, with the 先行救助 paperwork (补办) done weeks late.
    LateSupplement,
}

fn situation(kind: &str) -> &'static str {
    match kind {
        "mutual_aid" => "家中突发火灾，衣物被褥烧毁，生活暂时困难",
        "dibao" => "户主患慢性病不能务工，家庭收入低于低保标准",
        "tekun" => "老人无劳动能力、无生活来源，无赡养人",
        "temp_emergency" => "交通事故住院，家庭基本生活陷入困境",
        "temp_expense" => "子女大病住院，医疗支出远超家庭承受能力",
        _ => "申请城乡居民医保参保资助",
    }
}

/// Takes the item's steps, each a few days after the last, by the account
/// of the step's role, until it ends, the story stops, or today is reached.
/// Returns whether the item was decided.
#[allow(clippy::too_many_arguments)]
async fn drive(
    db: &Db,
    callers: &[Caller],
    village: &str,
    item_id: i64,
    started: NaiveDate,
    today: NaiveDate,
    ending: Ending,
    object: bool,
    rng: &mut rand::rngs::StdRng,
) -> Result<bool> {
    let mut on = started;
    let mut objected = false;
    let mut escalated = false;
    for step_no in 0..16u32 {
        if let Ending::StopAfter(n) = ending {
            if step_no >= n {
                return Ok(false);
            }
        }
        let scope = doudi_store::households::Scope(
            doudi_domain::RegionCode::parse(village).map_err(|_| crate::error::Error::NotFound)?,
        );
        let doudi_store::households::Scoped::Found(i) =
            doudi_store::cases::get_item(db, &scope, item_id).await?
        else {
            return Ok(false);
        };
        let s = cases::parse_state(&i)?;
        if !s.is_open() {
            return Ok(true);
        }
        let def = workflow::definition(s.kind);
        let Some(step) = workflow::current_step(&def, &s) else {
            return Ok(false);
        };
        let role = s.step_role.unwrap_or(step.role);
        let allowed = workflow::allowed_actions(&def, &s);
        let posted = s.notice_start;
        // The next step's date: a few days on; a notice runs its 7 days.
        on = match posted {
            Some(p) if step.is_notice => (p + Days::new(8)).max(on),
            _ if step.code == "supplement" && matches!(ending, Ending::LateSupplement) => {
                on + Days::new(rng.random_range(25..35))
            }
            _ => on + Days::new(rng.random_range(1..4)),
        };
        if on > today {
            return Ok(false);
        }
        let action = if matches!(ending, Ending::Escalate)
            && !escalated
            && allowed.contains(&ActionKind::Escalate)
        {
            escalated = true;
            ActionKind::Escalate
        } else if allowed.contains(&ActionKind::Post) {
            ActionKind::Post
        } else if step.is_notice && object && !objected && allowed.contains(&ActionKind::Object) {
            objected = true;
            ActionKind::Object
        } else if matches!(ending, Ending::Refuse) && allowed.contains(&ActionKind::Refuse) {
            ActionKind::Refuse
        } else if allowed.contains(&ActionKind::Approve) {
            ActionKind::Approve
        } else if allowed.contains(&ActionKind::Accept) {
            ActionKind::Accept
        } else if allowed.contains(&ActionKind::Complete) {
            ActionKind::Complete
        } else {
            return Ok(false);
        };
        let Some(actor) = actor_for(callers, role, village) else {
            return Ok(false);
        };
        let amount =
            if step.requires_amount || step.role_by_amount || matches!(action, ActionKind::Approve)
            {
                match s.kind {
                    workflow::ItemKind::MutualAid => "2000",
                    workflow::ItemKind::Tekun => "1300",
                    workflow::ItemKind::Dibao => "850",
                    _ => "2500",
                }
            } else {
                ""
            };
        let opinion = match action {
            ActionKind::Refuse => "经调查，家庭人均收入高于当地低保标准，不符合条件",
            ActionKind::Object => "群众反映该户有经营收入，已登记，重新核实",
            ActionKind::Escalate => "家庭成员户籍分属两地，收入难以认定，提请区级复审",
            ActionKind::Complete if step.code == "county_review" => {
                "经区级复审，收入认定依据充分，同意继续办理"
            }
            _ => "经核实情况属实，同意",
        };
        let input = ActInput {
            version: i.version.to_string(),
            action: action.code().into(),
            signatures: format!(
                "{}、{}",
                actor
                    .user
                    .display_name
                    .split('（')
                    .next()
                    .unwrap_or("经办人"),
                "王调查员"
            ),
            opinion: opinion.into(),
            amount: amount.into(),
            on: on.to_string(),
        };
        if cases::act(db, actor, item_id, &input).await.is_err() {
            return Ok(false);
        }
    }
    Ok(false)
}

/// Closes a few of the demo villages' open warnings, each outcome at least
/// once, as their village assistants would after checking.
async fn close_some_warnings(db: &Db, callers: &[Caller], villages: &[String]) -> Result<usize> {
    let mut closed = 0;
    let mut n = 0;
    for village in villages {
        let Some(assistant) = actor_for(callers, Role::VillageAssistant, village) else {
            continue;
        };
        let open: Vec<i64> = doudi_store::sqlx::query_scalar(
            "SELECT id FROM warnings WHERE village_code = $1 AND status = 'open' ORDER BY id LIMIT 8",
        )
        .bind(village.clone())
        .fetch_all(&db.pool)
        .await?;
        for id in open.iter().take(6) {
            let (outcome, _) = crate::monitoring::OUTCOMES[n % crate::monitoring::OUTCOMES.len()];
            n += 1;
            let f = crate::monitoring::CloseWarning {
                method: ["visit", "phone", "data"][n % 3].into(),
                findings: "已入户核实，情况已记录".into(),
                outcome: outcome.into(),
                note: "按规定跟进".into(),
            };
            if crate::monitoring::close_warning(db, assistant, *id, &f)
                .await
                .is_ok()
            {
                closed += 1;
            }
        }
    }
    Ok(closed)
}
