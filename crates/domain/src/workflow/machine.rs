//! The state machine: [`start`] an item, [`apply`] a command, ask what is
//! allowed and what is overdue.

use chrono::{Days, NaiveDate};

use super::{
    ActionKind, Command, ItemKind, ItemState, NOTICE_CALENDAR_DAYS, Outcome, ResumePoint, StepDef,
    StepEntry, SupplementEffect, Target, Transition, WorkflowDef, WorkflowError, definition,
};
use crate::access::Role;
use crate::calendar::{CalendarError, WorkCalendar};
use crate::region::RegionLevel;

/// Who decides an amount: the town within its approval limit, the district
/// above it (the limit is a regional setting passed in by the caller).
pub fn route_decision(amount_fen: i64, town_limit_fen: i64) -> Role {
    if amount_fen <= town_limit_fen {
        Role::TownReviewer
    } else {
        Role::DistrictApprover
    }
}

/// The day a notice posted on `start` has run its [`NOTICE_CALENDAR_DAYS`]
/// full calendar days (posted 1 March → runs 1–7 March → ends 8 March);
/// from this day the procedure may move on.
pub fn notice_end(start: NaiveDate) -> NaiveDate {
    start
        .checked_add_days(Days::new(u64::from(NOTICE_CALENDAR_DAYS)))
        .unwrap_or(NaiveDate::MAX)
}

/// Starts an item of `kind` with its built-in workflow on `today`.
pub fn start(
    kind: ItemKind,
    today: NaiveDate,
    separate_registration: bool,
    cal: &WorkCalendar,
) -> Result<ItemState, WorkflowError> {
    start_with(&definition(kind), today, separate_registration, cal)
}

/// Starts an item with a (possibly locally adjusted) definition, which is
/// validated first.
pub fn start_with(
    def: &WorkflowDef,
    today: NaiveDate,
    separate_registration: bool,
    cal: &WorkCalendar,
) -> Result<ItemState, WorkflowError> {
    def.validate().map_err(WorkflowError::InvalidDefinition)?;
    let first = &def.steps[0];
    let (step_due, p1) = cal.add_working_days_provisional(today, first.deadline_working_days);
    let item_due = def
        .total_limit
        .map(|n| cal.add_working_days_provisional(today, n));
    let provisional_due = p1 || item_due.is_some_and(|(_, p)| p);
    let item_due = item_due.map(|(d, _)| d);
    Ok(ItemState {
        kind: def.kind,
        step: Some(first.code),
        step_role: Some(first.role),
        outcome: None,
        step_started: today,
        step_due,
        notice_start: None,
        item_started: today,
        item_due,
        ended_on: None,
        extended: false,
        escalated: false,
        escalated_from: None,
        separate_registration,
        pending_supplement: false,
        provisional_due,
        spot_check: false,
        amount_fen: None,
        signatures: Vec::new(),
        history: Vec::new(),
    })
}

/// Applies `cmd` to `state` with the built-in workflow of its kind.
pub fn apply(
    state: &ItemState,
    cmd: &Command,
    cal: &WorkCalendar,
) -> Result<ItemState, WorkflowError> {
    apply_with(&definition(state.kind), state, cmd, cal)
}

/// The one transition function. Checks everything first, then builds the
/// new state; on error nothing changes (the input is borrowed immutably).
pub fn apply_with(
    def: &WorkflowDef,
    state: &ItemState,
    cmd: &Command,
    cal: &WorkCalendar,
) -> Result<ItemState, WorkflowError> {
    use ActionKind::*;

    if def.kind != state.kind {
        return Err(WorkflowError::DefinitionMismatch {
            def: def.kind,
            item: state.kind,
        });
    }
    let Some(code) = state.step else {
        return Err(WorkflowError::Ended(
            state.outcome.unwrap_or(Outcome::Closed),
        ));
    };
    let step = def
        .step(code)
        .ok_or_else(|| WorkflowError::UnknownStep(code.to_string()))?;
    if cmd.on < state.step_started {
        return Err(WorkflowError::DateBeforeStep {
            step: step.name,
            on: cmd.on,
            started: state.step_started,
        });
    }
    // History stays chronological, so reports can trust it.
    if let Some(last) = state.history.last()
        && cmd.on < last.on
    {
        return Err(WorkflowError::DateBeforeLastAction {
            on: cmd.on,
            last: last.on,
        });
    }
    if cmd.action == Extend {
        if def.extended_limit.is_none() {
            return Err(WorkflowError::NoExtension(def.kind));
        }
        if state.extended {
            return Err(WorkflowError::AlreadyExtended);
        }
    }
    let allowed = allowed_actions(def, state);
    if !allowed.contains(&cmd.action) {
        return Err(WorkflowError::NotAllowed {
            step: step.name,
            action: cmd.action,
            allowed,
        });
    }
    let step_role = state.step_role.unwrap_or(step.role);
    // Item-level actions may also be taken by the district, which
    // supervises every item in its jurisdiction.
    let role_ok = cmd.actor_role == step_role
        || (cmd.action.is_item_level() && cmd.actor_role == Role::DistrictApprover);
    if !role_ok {
        return Err(WorkflowError::WrongRole {
            step: step.name,
            expected: step_role,
            actual: cmd.actor_role,
        });
    }
    if cmd.action.needs_reason() && cmd.note.trim().is_empty() {
        return Err(WorkflowError::ReasonRequired(cmd.action));
    }
    if cmd.amount_fen.is_some_and(|a| a <= 0) || cmd.town_limit_fen.is_some_and(|l| l < 0) {
        return Err(WorkflowError::InvalidAmount);
    }

    // Where the action leads.
    let mut resume_role = None;
    let target = match cmd.action {
        Extend => Target::Step(code),
        Withdraw => Target::End(Outcome::Withdrawn),
        Escalate => Target::Step(
            def.escalation_step()
                .map(|s| s.code)
                .ok_or_else(|| WorkflowError::UnknownStep("提级复审".to_string()))?,
        ),
        action => step
            .target_of(action)
            .ok_or_else(|| WorkflowError::UnknownStep(code.to_string()))?,
    };
    let target = match target {
        Target::Resume => {
            let back = state
                .escalated_from
                .ok_or_else(|| WorkflowError::UnknownStep("提级复审前的步骤".to_string()))?;
            resume_role = Some(back.role);
            Target::Step(back.step)
        }
        Target::Step(to) if to != code => {
            Target::Step(divert_for_separate_registration(def, state, code, to))
        }
        other => other,
    };
    let moves = target != Target::Step(code);
    let signatures = normalized(&cmd.signatures);

    if moves && !cmd.action.is_item_level() {
        if signatures.len() < usize::from(step.min_signatures) {
            return Err(WorkflowError::NotEnoughSignatures {
                step: step.name,
                required: step.min_signatures,
                given: signatures.len(),
            });
        }
        if step.requires_amount
            && matches!(cmd.action, Complete | Approve)
            && cmd.amount_fen.or(state.amount_fen).is_none()
        {
            return Err(WorkflowError::MissingAmount { step: step.name });
        }
        if step.is_notice
            && cmd.action == Complete
            && let Some(posted) = state.notice_start
            && cmd.on < notice_end(posted)
        {
            return Err(WorkflowError::NoticeNotOver {
                started: posted,
                ends: notice_end(posted),
            });
        }
    }
    // A town approver cannot approve an amount above the town's limit.
    if step.role_by_amount
        && let Some(amount) = cmd.amount_fen
    {
        let limit = cmd.town_limit_fen.ok_or(WorkflowError::MissingTownLimit)?;
        if route_decision(amount, limit) == Role::DistrictApprover
            && step_role != Role::DistrictApprover
        {
            return Err(WorkflowError::AboveTownLimit {
                amount_fen: amount,
                limit_fen: limit,
            });
        }
    }

    // All checks passed: build the new state.
    let mut next = state.clone();
    if let Some(amount) = cmd.amount_fen {
        next.amount_fen = Some(amount);
    }
    match cmd.action {
        Extend => {
            next.extended = true;
            let due = def
                .extended_limit
                .map(|n| cal.add_working_days_provisional(state.item_started, n));
            next.provisional_due |= due.is_some_and(|(_, p)| p);
            next.item_due = due.map(|(d, _)| d);
        }
        SpotCheck => next.spot_check = true,
        Post => {
            next.notice_start = Some(cmd.on);
            let (due, provisional) = first_working_day_from(cal, notice_end(cmd.on));
            next.step_due = due;
            next.provisional_due |= provisional;
        }
        Escalate => {
            next.escalated = true;
            next.escalated_from = Some(ResumePoint {
                step: code,
                role: step_role,
            });
        }
        Complete => match step.supplement {
            SupplementEffect::Opens => next.pending_supplement = true,
            SupplementEffect::Closes => next.pending_supplement = false,
            SupplementEffect::None => {}
        },
        _ => {}
    }
    if moves && !cmd.action.is_item_level() {
        next.signatures = signatures.clone();
    }
    match target {
        Target::Step(to) if to == code => {}
        Target::Step(to) => {
            let dest = def
                .step(to)
                .ok_or_else(|| WorkflowError::UnknownStep(to.to_string()))?;
            let role = match resume_role {
                Some(role) => role,
                None if dest.role_by_amount => {
                    let amount = next
                        .amount_fen
                        .ok_or(WorkflowError::MissingAmount { step: step.name })?;
                    let limit = cmd.town_limit_fen.ok_or(WorkflowError::MissingTownLimit)?;
                    route_decision(amount, limit)
                }
                None => dest.role,
            };
            if step.entry == StepEntry::Escalation {
                next.escalated_from = None;
            }
            enter(&mut next, dest, role, cmd.on, cal)?;
        }
        Target::End(outcome) => {
            next.step = None;
            next.step_role = None;
            next.outcome = Some(outcome);
            next.ended_on = Some(cmd.on);
            next.step_started = cmd.on;
            next.step_due = cmd.on;
            next.notice_start = None;
            next.escalated_from = None;
        }
        Target::Resume => unreachable!("resolved above"),
    }
    next.history.push(Transition {
        from: code,
        action: cmd.action,
        to: match next.step {
            Some(s) => Target::Step(s),
            None => Target::End(next.outcome.unwrap_or(Outcome::Closed)),
        },
        on: cmd.on,
        actor_role: cmd.actor_role,
        note: cmd.note.trim().to_string(),
        signatures,
        amount_fen: cmd.amount_fen,
        late: cmd.on > state.step_due,
    });
    Ok(next)
}

/// The actions that may be taken now, in display order (step actions,
/// then extension, escalation, withdrawal). Empty once ended.
pub fn allowed_actions(def: &WorkflowDef, state: &ItemState) -> Vec<ActionKind> {
    use ActionKind::*;
    let Some(step) = current_step(def, state) else {
        return Vec::new();
    };
    let mut out: Vec<ActionKind> = Vec::new();
    for (action, _) in &step.actions {
        let ok = match action {
            // A notice is posted once; everything else waits for the posting.
            Post => state.notice_start.is_none(),
            SpotCheck => !state.spot_check,
            _ if step.is_notice => state.notice_start.is_some(),
            _ => true,
        };
        if ok && !out.contains(action) {
            out.push(*action);
        }
    }
    if def.extended_limit.is_some() && !state.extended {
        out.push(Extend);
    }
    let role = state.step_role.unwrap_or(step.role);
    let below_county = matches!(
        role.home_level(),
        Some(RegionLevel::Town | RegionLevel::Village)
    );
    if below_county && step.entry != StepEntry::Escalation && def.escalation_step().is_some() {
        out.push(Escalate);
    }
    out.push(Withdraw);
    out
}

/// The definition of the step the item is at (None once ended).
pub fn current_step<'d>(def: &'d WorkflowDef, state: &ItemState) -> Option<&'d StepDef> {
    state.step.and_then(|code| def.step(code))
}

/// Whether an open item is past its step's due date or the whole
/// procedure's time limit on `today`.
pub fn is_overdue(state: &ItemState, today: NaiveDate) -> bool {
    state.is_open() && (today > state.step_due || state.item_due.is_some_and(|d| today > d))
}

/// How many working days an open item is overdue on `today` (the larger of
/// step and procedure lateness; 0 if not overdue, including the non-working
/// days right after a due date).
pub fn overdue_working_days(
    state: &ItemState,
    today: NaiveDate,
    cal: &WorkCalendar,
) -> Result<i64, CalendarError> {
    if !state.is_open() {
        return Ok(0);
    }
    let late = |due: NaiveDate| -> Result<i64, CalendarError> {
        if today > due {
            cal.working_days_between(due, today)
        } else {
            Ok(0)
        }
    };
    let step = late(state.step_due)?;
    let item = match state.item_due {
        Some(due) => late(due)?,
        None => 0,
    };
    Ok(step.max(item))
}

/// Working days from the item's start to its end, for the handling-time
/// report (average, 90th percentile). None while open, or if the calendar
/// lacks one of the years (the item is then left out, not guessed).
pub fn handling_days(state: &ItemState, cal: &WorkCalendar) -> Option<i64> {
    let end = state.ended_on?;
    cal.working_days_between(state.item_started, end).ok()
}

fn enter(
    next: &mut ItemState,
    dest: &StepDef,
    role: Role,
    on: NaiveDate,
    cal: &WorkCalendar,
) -> Result<(), WorkflowError> {
    next.step = Some(dest.code);
    next.step_role = Some(role);
    next.step_started = on;
    let (due, provisional) = cal.add_working_days_provisional(on, dest.deadline_working_days);
    next.step_due = due;
    next.provisional_due |= provisional;
    next.notice_start = None;
    Ok(())
}

/// A separately registered item goes through the county's own home visit
/// once, just before the step that visit leads to.
fn divert_for_separate_registration(
    def: &WorkflowDef,
    state: &ItemState,
    from: &'static str,
    to: &'static str,
) -> &'static str {
    if !state.separate_registration {
        return to;
    }
    let visit = def.steps.iter().find(|s| {
        s.entry == StepEntry::SeparateRegistration
            && s.target_of(ActionKind::Complete) == Some(Target::Step(to))
            && s.code != from
    });
    match visit {
        Some(visit)
            if !state
                .history
                .iter()
                .any(|t| t.from == visit.code && t.action == ActionKind::Complete) =>
        {
            visit.code
        }
        _ => to,
    }
}

/// Trimmed, non-empty, distinct names in the order given: the same person
/// signing twice counts once.
fn normalized(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

fn first_working_day_from(cal: &WorkCalendar, mut d: NaiveDate) -> (NaiveDate, bool) {
    let provisional = cal.is_working_day(d).is_err();
    while !cal.is_working_day_provisional(d) {
        match d.succ_opt() {
            Some(next) => d = next,
            None => break,
        }
    }
    (d, provisional || cal.is_working_day(d).is_err())
}
