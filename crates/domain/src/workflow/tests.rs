use std::sync::OnceLock;

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::access::Role::{self, *};
use crate::calendar::{CalendarError, WorkCalendar};
use crate::person::Coded;
use ActionKind::*;

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn cal() -> &'static WorkCalendar {
    static CAL: OnceLock<WorkCalendar> = OnceLock::new();
    CAL.get_or_init(WorkCalendar::builtin)
}

fn cmd(action: ActionKind, role: Role, on: NaiveDate) -> Command {
    Command::new(action, role, on)
}

/// Applies a command that must succeed.
#[track_caller]
fn ok(state: &ItemState, c: Command) -> ItemState {
    match apply(state, &c, cal()) {
        Ok(next) => next,
        Err(e) => panic!("{:?} refused at {:?}: {e}", c.action, state.step),
    }
}

/// Applies a command that must fail, checking the state is untouched.
#[track_caller]
fn err(state: &ItemState, c: Command) -> WorkflowError {
    let before = state.clone();
    let e = apply(state, &c, cal()).expect_err("command should be refused");
    assert_eq!(*state, before);
    e
}

fn two() -> [&'static str; 2] {
    ["张三", "李四"]
}

/// A 低保 item accepted on 2026-09-28, walked to the notice step (notice
/// entered 2026-10-19, not yet posted).
fn dibao_at_notice(separate: bool) -> ItemState {
    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), separate, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 9, 30)));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 10, 12)).signed(&two()),
    );
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 13)));
    let s = ok(&s, cmd(Complete, DistrictApprover, ymd(2026, 10, 16)));
    ok(&s, cmd(Complete, TownReviewer, ymd(2026, 10, 19)))
}

// ---------------------------------------------------------------- definitions

#[test]
fn every_builtin_definition_is_valid() {
    let defs = all_definitions();
    assert_eq!(defs.len(), ItemKind::all().len());
    for (def, kind) in defs.iter().zip(ItemKind::all()) {
        assert_eq!(def.kind, *kind);
        assert_eq!(def.validate(), Ok(()), "{}", def.name);
        for step in &def.steps {
            assert!(!step.evidence.is_empty(), "{} {}", def.name, step.code);
            assert_eq!(step_code(step.code), Some(step.code));
        }
    }
    // Renderable for the administrator page.
    let json = serde_json::to_value(&defs).unwrap();
    assert_eq!(json[0]["kind"], "dibao");
    assert_eq!(json[0]["steps"][1]["role"], "town_caseworker");
    assert_eq!(json[0]["steps"][0]["actions"][0][1]["step"], "investigate");
}

#[test]
fn dibao_definition_follows_the_rules() {
    let def = definition(ItemKind::Dibao);
    let codes: Vec<_> = def.steps.iter().map(|s| s.code).collect();
    assert_eq!(
        codes,
        [
            "accept",
            "investigate",
            "check_request",
            "check_result",
            "town_review",
            "notice",
            "objection",
            "re_investigation",
            "democratic_review",
            "county_visit",
            "county_decision",
            "refusal_notice",
            "county_review",
        ]
    );
    assert_eq!((def.total_limit, def.extended_limit), (Some(30), Some(45)));
    let inv = def.step("investigate").unwrap();
    assert_eq!(inv.min_signatures, 2);
    assert_eq!(inv.evidence, ["入户调查表", "邻里走访记录"]);
    assert_eq!(def.step("accept").unwrap().deadline_working_days, 3);
    assert_eq!(def.step("check_result").unwrap().role, DistrictApprover);
    assert_eq!(
        def.step("county_decision").unwrap().deadline_working_days,
        10
    );
    assert_eq!(def.step("refusal_notice").unwrap().deadline_working_days, 3);
    assert!(def.step("notice").unwrap().is_notice);
    let tekun = definition(ItemKind::Tekun);
    assert_eq!(tekun.step("investigate").unwrap().deadline_working_days, 15);
    assert_eq!(
        tekun.step("county_decision").unwrap().deadline_working_days,
        15
    );
    let aid = definition(ItemKind::MutualAid);
    assert_eq!(aid.steps[0].role, VillageAssistant);
    assert_eq!(aid.steps[0].deadline_working_days, 1);
    assert_eq!(aid.step("pay").unwrap().deadline_working_days, 1);
    assert_eq!(aid.step("notice").unwrap().deadline_working_days, 2);
    assert_eq!(
        definition(ItemKind::DeptItem)
            .step("dept_handle")
            .unwrap()
            .deadline_working_days,
        10
    );
    assert_eq!(
        dept_definition(20)
            .step("dept_handle")
            .unwrap()
            .deadline_working_days,
        20
    );
}

#[test]
fn validate_reports_broken_definitions() {
    let mut def = definition(ItemKind::DeptItem);
    def.steps[0].actions[0].1 = Target::Step("nowhere");
    def.steps[1].deadline_working_days = 0;
    def.steps[1]
        .actions
        .push((Extend, Target::End(Outcome::Closed)));
    let problems = def.validate().unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("nowhere"));
    let e = start_with(&def, ymd(2026, 3, 2), false, cal()).unwrap_err();
    assert!(e.to_string().starts_with("流程定义有误："));
}

#[test]
fn codes_and_labels() {
    assert_eq!(ItemKind::TempEmergency.label(), "临时救助（急难型）");
    assert_eq!(ItemKind::from_code("mutual_aid"), Some(ItemKind::MutualAid));
    assert_eq!(Outcome::Referred.label(), "已转办");
    assert_eq!(ActionKind::from_label("民主评议"), Some(DemocraticReview));
    assert_eq!(ActionKind::ReInvestigate.code(), "re_investigate");
    assert_eq!(serde_json::to_string(&SpotCheck).unwrap(), "\"spot_check\"");
}

// ------------------------------------------------------------------- 低保

#[test]
fn dibao_end_to_end_across_national_day() {
    let c = cal();
    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), false, c).unwrap();
    assert_eq!(s.step, Some("accept"));
    assert_eq!(s.step_role, Some(TownCaseWorker));
    // Investigation must start within 3 working days: 29, 30 Sep, then the
    // National Day holiday (1–7 Oct) → 8 Oct.
    assert_eq!(s.step_due, ymd(2026, 10, 8));
    assert_eq!(s.item_due, Some(ymd(2026, 11, 13)));
    assert!(s.history.is_empty());

    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 9, 30)));
    assert_eq!(s.step, Some("investigate"));
    assert_eq!(s.step_due, ymd(2026, 10, 20));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 10, 12))
            .signed(&two())
            .note("家庭人均收入低于当地低保标准"),
    );
    assert_eq!(s.signatures, ["张三", "李四"]);
    assert_eq!(
        (s.step, s.step_due),
        (Some("check_request"), ymd(2026, 10, 14))
    );
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 13)));
    assert_eq!(s.step_role, Some(DistrictApprover));
    assert_eq!(
        (s.step, s.step_due),
        (Some("check_result"), ymd(2026, 10, 16))
    );
    let s = ok(&s, cmd(Complete, DistrictApprover, ymd(2026, 10, 16)));
    assert_eq!(
        (s.step, s.step_due),
        (Some("town_review"), ymd(2026, 10, 21))
    );
    let s = ok(&s, cmd(Complete, TownReviewer, ymd(2026, 10, 19)));
    assert_eq!((s.step, s.step_due), (Some("notice"), ymd(2026, 10, 21)));
    assert_eq!(
        allowed_actions(&definition(s.kind), &s),
        [Post, Extend, Escalate, Withdraw]
    );

    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 20)));
    assert_eq!(s.step, Some("notice"));
    assert_eq!(s.step_started, ymd(2026, 10, 19));
    assert_eq!(s.notice_start, Some(ymd(2026, 10, 20)));
    assert_eq!(notice_end(ymd(2026, 10, 20)), ymd(2026, 10, 27));
    assert_eq!(s.step_due, ymd(2026, 10, 27));
    assert_eq!(
        allowed_actions(&definition(s.kind), &s),
        [Complete, Object, Extend, Escalate, Withdraw]
    );
    let e = err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 26)));
    assert_eq!(
        e.to_string(),
        "公示期未满：2026-10-20 起公示 7 天，2026-10-27 起方可结束公示"
    );
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 27)));
    assert_eq!(
        (s.step, s.step_due),
        (Some("county_decision"), ymd(2026, 11, 10))
    );
    let s = ok(
        &s,
        cmd(Approve, DistrictApprover, ymd(2026, 11, 5)).amount(45_000),
    );
    assert_eq!(s.step, None);
    assert_eq!(s.step_role, None);
    assert_eq!(s.outcome, Some(Outcome::Approved));
    assert_eq!(s.ended_on, Some(ymd(2026, 11, 5)));
    assert_eq!(s.amount_fen, Some(45_000));
    assert_eq!(s.history.len(), 8);
    assert!(s.history.iter().all(|t| !t.late));
    assert_eq!(s.history[1].from, "investigate");
    assert_eq!(s.history[1].to, Target::Step("check_request"));
    assert_eq!(s.history[7].to, Target::End(Outcome::Approved));
    assert_eq!(handling_days(&s, cal()), Some(24));
    assert!(!is_overdue(&s, ymd(2026, 12, 31)));

    // Nothing more can happen to an ended item.
    let e = err(&s, cmd(Withdraw, TownCaseWorker, ymd(2026, 11, 6)));
    assert_eq!(e, WorkflowError::Ended(Outcome::Approved));
    assert_eq!(e.to_string(), "该事项已办结（批准），不能再办理");
    assert!(allowed_actions(&definition(s.kind), &s).is_empty());
    assert_eq!(
        handling_days(
            &start(ItemKind::Dibao, ymd(2026, 3, 2), false, c).unwrap(),
            c
        ),
        None
    );
}

#[test]
fn wrong_role_is_refused() {
    let s = dibao_at_notice(false);
    let e = err(&s, cmd(Post, TownReviewer, ymd(2026, 10, 20)));
    assert_eq!(e.to_string(), "当前步骤“公示”应由乡镇经办办理");

    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), false, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 9, 30)));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 10, 12)).signed(&two()),
    );
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 13)));
    let s = ok(&s, cmd(Complete, DistrictApprover, ymd(2026, 10, 16)));
    let e = err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 19)));
    assert_eq!(
        e,
        WorkflowError::WrongRole {
            step: "乡镇初审",
            expected: TownReviewer,
            actual: TownCaseWorker,
        }
    );
    assert_eq!(e.to_string(), "当前步骤“乡镇初审”应由乡镇审核办理");
    // Even the district cannot do the town's step actions …
    err(&s, cmd(Complete, DistrictApprover, ymd(2026, 10, 19)));
    // … but may take item-level actions anywhere.
    let w = ok(&s, cmd(Withdraw, DistrictApprover, ymd(2026, 10, 19)));
    assert_eq!(w.outcome, Some(Outcome::Withdrawn));
    err(&s, cmd(Withdraw, VillageAssistant, ymd(2026, 10, 19)));
}

#[test]
fn investigation_needs_two_signatures() {
    let s = start(ItemKind::Dibao, ymd(2026, 3, 2), false, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 3, 3)));
    let e = err(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 3, 6)).signed(&["张三"]),
    );
    assert_eq!(e.to_string(), "入户调查须至少 2 名调查人签字，当前 1 名");
    // The same person twice, or blank names, do not count.
    let e = err(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 3, 6)).signed(&["张三", " 张三 ", "  "]),
    );
    assert_eq!(
        e,
        WorkflowError::NotEnoughSignatures {
            step: "入户调查",
            required: 2,
            given: 1,
        }
    );
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 3, 6)).signed(&[" 张三", "李四", "王五"]),
    );
    assert_eq!(s.signatures, ["张三", "李四", "王五"]);
    assert_eq!(s.history[1].signatures, s.signatures);
}

#[test]
fn objection_leads_to_reinvestigation_and_a_second_notice() {
    let def = definition(ItemKind::Dibao);
    let s = dibao_at_notice(false);
    // Nothing but posting before the notice is up.
    let e = err(&s, cmd(Object, TownCaseWorker, ymd(2026, 10, 20)).note("x"));
    assert_eq!(
        e.to_string(),
        "当前步骤“公示”不能执行“登记异议”，可执行：张贴公示、延期、提级复审、撤回"
    );
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 20)));
    let e = err(&s, cmd(Object, TownCaseWorker, ymd(2026, 10, 22)));
    assert_eq!(e.to_string(), "登记异议须说明理由");
    let s = ok(
        &s,
        cmd(Object, TownCaseWorker, ymd(2026, 10, 22)).note("邻居反映申请人有一辆营运货车"),
    );
    assert_eq!((s.step, s.step_due), (Some("objection"), ymd(2026, 10, 27)));
    assert_eq!(s.notice_start, None);
    assert_eq!(
        allowed_actions(&def, &s),
        [ReInvestigate, DemocraticReview, Extend, Escalate, Withdraw]
    );
    let s = ok(&s, cmd(ReInvestigate, TownCaseWorker, ymd(2026, 10, 23)));
    assert_eq!(s.step, Some("re_investigation"));
    err(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 10, 26)).signed(&["张三"]),
    );
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 10, 26))
            .signed(&two())
            .note("货车已于2025年转让，异议不成立"),
    );
    // Back to the notice, to be posted again.
    assert_eq!((s.step, s.notice_start), (Some("notice"), None));
    assert_eq!(s.step_due, ymd(2026, 10, 28));
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 27)));
    assert_eq!(s.step_due, ymd(2026, 11, 3));
    // A second objection, this time settled by 民主评议.
    let s = ok(
        &s,
        cmd(Object, TownCaseWorker, ymd(2026, 10, 28)).note("再次有异议"),
    );
    let s = ok(&s, cmd(DemocraticReview, TownCaseWorker, ymd(2026, 10, 29)));
    assert_eq!(s.step, Some("democratic_review"));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 11, 2)));
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 11, 2)));
    err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 11, 8)));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 11, 9)));
    assert_eq!(s.step, Some("county_decision"));
    let posts = s.history.iter().filter(|t| t.action == Post).count();
    assert_eq!(posts, 3);
    // The whole procedure is now close to its 30-working-day limit.
    assert_eq!(s.item_due, Some(ymd(2026, 11, 13)));
    assert!(is_overdue(&s, ymd(2026, 11, 16)));
}

#[test]
fn refusal_needs_reasons_and_a_written_notice() {
    let s = dibao_at_notice(false);
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 20)));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 27)));
    let e = err(
        &s,
        cmd(Refuse, DistrictApprover, ymd(2026, 11, 5)).note("   "),
    );
    assert_eq!(e, WorkflowError::ReasonRequired(Refuse));
    assert_eq!(e.to_string(), "不予批准须说明理由");
    let s = ok(
        &s,
        cmd(Refuse, DistrictApprover, ymd(2026, 11, 5)).note("家庭人均收入高于当地低保标准"),
    );
    assert_eq!(s.step, Some("refusal_notice"));
    assert_eq!(s.step_role, Some(TownCaseWorker));
    assert_eq!(s.step_due, ymd(2026, 11, 10));
    assert_eq!(s.outcome, None);
    assert_eq!(
        s.history.last().unwrap().note,
        "家庭人均收入高于当地低保标准"
    );
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 11, 6)));
    assert_eq!(s.outcome, Some(Outcome::Refused));
    assert_eq!(s.ended_on, Some(ymd(2026, 11, 6)));
}

#[test]
fn extension_from_30_to_45_working_days_once_with_a_reason() {
    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), false, cal()).unwrap();
    assert_eq!(s.item_due, Some(ymd(2026, 11, 13)));
    let e = err(&s, cmd(Extend, TownCaseWorker, ymd(2026, 9, 29)));
    assert_eq!(e.to_string(), "延期须说明理由");
    let s = ok(
        &s,
        cmd(Extend, TownCaseWorker, ymd(2026, 9, 29)).note("人户分离，需跨区域调查"),
    );
    assert!(s.extended);
    assert_eq!(s.item_due, Some(ymd(2026, 12, 4)));
    // The step itself is unchanged.
    assert_eq!((s.step, s.step_due), (Some("accept"), ymd(2026, 10, 8)));
    assert_eq!(s.history[0].to, Target::Step("accept"));
    let e = err(
        &s,
        cmd(Extend, DistrictApprover, ymd(2026, 9, 30)).note("再延"),
    );
    assert_eq!(e, WorkflowError::AlreadyExtended);
    assert_eq!(e.to_string(), "该事项已延期一次，不能再次延期");
    assert!(!allowed_actions(&definition(s.kind), &s).contains(&Extend));
    assert_eq!(s.flags(), ["extended"]);
    // Items without an extension rule.
    let t = start(ItemKind::Tekun, ymd(2026, 3, 2), false, cal()).unwrap();
    let e = err(&t, cmd(Extend, TownCaseWorker, ymd(2026, 3, 2)).note("x"));
    assert_eq!(e.to_string(), "“特困”没有延期规定");
}

#[test]
fn escalation_to_county_review_and_back() {
    let def = definition(ItemKind::Dibao);
    let s = start(ItemKind::Dibao, ymd(2026, 3, 2), false, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 3, 3)));
    let e = err(&s, cmd(Escalate, TownCaseWorker, ymd(2026, 3, 4)));
    assert_eq!(e.to_string(), "提级复审须说明理由");
    let s = ok(
        &s,
        cmd(Escalate, TownCaseWorker, ymd(2026, 3, 4)).note("家庭情况复杂，街道难以认定"),
    );
    assert_eq!(s.step, Some("county_review"));
    assert_eq!(s.step_role, Some(DistrictApprover));
    assert_eq!(s.step_due, ymd(2026, 3, 18));
    assert!(s.escalated);
    assert_eq!(
        s.escalated_from,
        Some(ResumePoint {
            step: "investigate",
            role: TownCaseWorker
        })
    );
    // Already at county level: cannot escalate again from here.
    assert_eq!(
        allowed_actions(&def, &s),
        [Complete, Refuse, Extend, Withdraw]
    );
    err(
        &s,
        cmd(Escalate, DistrictApprover, ymd(2026, 3, 5)).note("x"),
    );
    err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 3, 5)));

    // Review done: back to the investigation with a fresh deadline.
    let back = ok(
        &s,
        cmd(Complete, DistrictApprover, ymd(2026, 3, 10)).note("符合条件，继续办理"),
    );
    assert_eq!(back.step, Some("investigate"));
    assert_eq!(back.step_role, Some(TownCaseWorker));
    assert_eq!(back.step_due, ymd(2026, 3, 24));
    assert!(back.escalated);
    assert_eq!(back.escalated_from, None);
    assert_eq!(back.history.last().unwrap().to, Target::Step("investigate"));

    // Or the district refuses: written notice with reasons.
    let refused = ok(
        &s,
        cmd(Refuse, DistrictApprover, ymd(2026, 3, 10)).note("不符合条件"),
    );
    assert_eq!(refused.step, Some("refusal_notice"));
    assert_eq!(refused.escalated_from, None);

    // A department's item has no 提级复审.
    let d = start(ItemKind::DeptItem, ymd(2026, 3, 2), false, cal()).unwrap();
    let e = err(&d, cmd(Escalate, TownCaseWorker, ymd(2026, 3, 2)).note("x"));
    assert_eq!(
        e.to_string(),
        "当前步骤“转办”不能执行“提级复审”，可执行：完成、撤回"
    );
}

#[test]
fn separate_registration_adds_the_county_visit() {
    let s = dibao_at_notice(true);
    assert!(s.separate_registration);
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 20)));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 10, 27)));
    assert_eq!(s.step, Some("county_visit"));
    assert_eq!(s.step_role, Some(DistrictApprover));
    assert_eq!(s.step_due, ymd(2026, 11, 3));
    err(
        &s,
        cmd(Complete, DistrictApprover, ymd(2026, 10, 29)).signed(&["赵六"]),
    );
    let s = ok(
        &s,
        cmd(Complete, DistrictApprover, ymd(2026, 10, 29)).signed(&["赵六", "钱七"]),
    );
    assert_eq!(s.step, Some("county_decision"));
    // Without 单独登记备案 the notice leads straight to the decision.
    let plain = dibao_at_notice(false);
    let plain = ok(&plain, cmd(Post, TownCaseWorker, ymd(2026, 10, 20)));
    let plain = ok(&plain, cmd(Complete, TownCaseWorker, ymd(2026, 10, 27)));
    assert_eq!(plain.step, Some("county_decision"));
    assert_eq!(s.flags(), ["separate_registration"]);
}

// ------------------------------------------------------------------- 特困

#[test]
fn tekun_end_to_end_with_spot_check() {
    let def = definition(ItemKind::Tekun);
    let s = start(ItemKind::Tekun, ymd(2025, 3, 3), false, cal()).unwrap();
    assert_eq!(s.item_due, None);
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2025, 3, 4)));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2025, 3, 14)).signed(&two()),
    );
    assert_eq!(s.step, Some("town_review"));
    let s = ok(&s, cmd(Complete, TownReviewer, ymd(2025, 3, 17)));
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2025, 3, 18)));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2025, 3, 25)));
    assert_eq!(s.step, Some("county_decision"));
    assert_eq!(s.step_due, ymd(2025, 4, 16));
    assert_eq!(
        allowed_actions(&def, &s),
        [SpotCheck, Approve, Refuse, Withdraw]
    );
    let s = ok(
        &s,
        cmd(SpotCheck, DistrictApprover, ymd(2025, 3, 27)).note("入户抽查属实"),
    );
    assert!(s.spot_check);
    assert_eq!(s.step, Some("county_decision"));
    assert_eq!(s.step_started, ymd(2025, 3, 25));
    let e = err(&s, cmd(SpotCheck, DistrictApprover, ymd(2025, 3, 28)));
    assert!(matches!(e, WorkflowError::NotAllowed { .. }));
    let s = ok(&s, cmd(Approve, DistrictApprover, ymd(2025, 4, 7)));
    assert_eq!(s.outcome, Some(Outcome::Approved));
    assert!(s.spot_check);
    assert_eq!(s.flags(), ["spot_check"]);
    assert_eq!(handling_days(&s, cal()), Some(24));
}

#[test]
fn tekun_investigation_deadline() {
    let s = start(ItemKind::Tekun, ymd(2025, 3, 24), false, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2025, 3, 25)));
    // 26–28 Mar, 31 Mar–3 Apr, (4–6 Apr off), 7–11 Apr, 14–16 Apr.
    assert_eq!(s.step_due, ymd(2025, 4, 16));
}

// ----------------------------------------------------------- 临时救助 急难型

#[test]
fn emergency_prepay_completed_late_keeps_supplement_pending() {
    let def = definition(ItemKind::TempEmergency);
    // Friday 2026-04-03; Qingming 4–6 April is off.
    let s = start(ItemKind::TempEmergency, ymd(2026, 4, 3), false, cal()).unwrap();
    assert_eq!(s.step_due, ymd(2026, 4, 7));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 4, 3)).note("火灾"),
    );
    assert_eq!((s.step, s.step_due), (Some("prepay"), ymd(2026, 4, 7)));
    assert!(!is_overdue(&s, ymd(2026, 4, 7)));
    assert!(is_overdue(&s, ymd(2026, 4, 8)));
    assert_eq!(overdue_working_days(&s, ymd(2026, 4, 9), cal()), Ok(2));
    let e = err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 4, 9)));
    assert_eq!(e.to_string(), "“先行救助”须填写金额");
    let e = err(&s, cmd(Complete, TownCaseWorker, ymd(2026, 4, 9)).amount(0));
    assert_eq!(e, WorkflowError::InvalidAmount);
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 4, 9)).amount(300_000),
    );
    assert!(s.history.last().unwrap().late);
    assert!(s.pending_supplement);
    assert_eq!(s.flags(), ["pending_supplement"]);
    assert_eq!((s.step, s.step_due), (Some("supplement"), ymd(2026, 4, 23)));
    assert_eq!(s.amount_fen, Some(300_000));
    // Still pending whatever else happens until the supplement is done.
    let s = ok(
        &s,
        cmd(Escalate, TownCaseWorker, ymd(2026, 4, 10)).note("金额较大，请区里复审"),
    );
    assert!(s.pending_supplement);
    let s = ok(&s, cmd(Complete, DistrictApprover, ymd(2026, 4, 13)));
    assert_eq!(s.step, Some("supplement"));
    assert!(s.pending_supplement);
    err(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 4, 20)).signed(&["张三"]),
    );
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 4, 20)).signed(&two()),
    );
    assert!(!s.pending_supplement);
    assert_eq!(s.outcome, Some(Outcome::Paid));
    assert!(allowed_actions(&def, &s).is_empty());
}

// ----------------------------------------------------------- 临时救助 支出型

#[test]
fn route_decision_by_town_limit() {
    assert_eq!(route_decision(100_000, 100_000), TownReviewer);
    assert_eq!(route_decision(99_999, 100_000), TownReviewer);
    assert_eq!(route_decision(100_001, 100_000), DistrictApprover);
}

fn expense_at_town_review() -> ItemState {
    let s = start(ItemKind::TempExpense, ymd(2026, 5, 6), false, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 5, 6)));
    ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 5, 8)).signed(&two()),
    )
}

#[test]
fn expense_within_town_limit_is_decided_by_the_town() {
    let s = expense_at_town_review();
    assert_eq!(s.step, Some("town_review"));
    let e = err(
        &s,
        cmd(Complete, TownReviewer, ymd(2026, 5, 11)).town_limit(500_000),
    );
    assert_eq!(e.to_string(), "“乡镇审核”须填写金额");
    let e = err(
        &s,
        cmd(Complete, TownReviewer, ymd(2026, 5, 11)).amount(200_000),
    );
    assert_eq!(e, WorkflowError::MissingTownLimit);
    let s = ok(
        &s,
        cmd(Complete, TownReviewer, ymd(2026, 5, 11))
            .amount(200_000)
            .town_limit(500_000),
    );
    assert_eq!(s.step, Some("decision"));
    assert_eq!(s.step_role, Some(TownReviewer));
    // The town cannot raise the amount above its own limit.
    let e = err(
        &s,
        cmd(Approve, TownReviewer, ymd(2026, 5, 12))
            .amount(600_000)
            .town_limit(500_000),
    );
    assert_eq!(
        e.to_string(),
        "金额 6,000.00 元超过乡镇审批限额 5,000.00 元，应由区民政审批"
    );
    let s = ok(&s, cmd(Approve, TownReviewer, ymd(2026, 5, 12)));
    assert_eq!(s.step, Some("notice"));
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 5, 13)));
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 5, 20)));
    assert_eq!(s.outcome, Some(Outcome::Paid));
    assert_eq!(s.amount_fen, Some(200_000));
}

#[test]
fn expense_above_town_limit_goes_to_the_district() {
    let s = expense_at_town_review();
    let s = ok(
        &s,
        cmd(Complete, TownReviewer, ymd(2026, 5, 11))
            .amount(800_000)
            .town_limit(500_000),
    );
    assert_eq!(s.step, Some("decision"));
    assert_eq!(s.step_role, Some(DistrictApprover));
    let e = err(&s, cmd(Approve, TownReviewer, ymd(2026, 5, 12)));
    assert_eq!(e.to_string(), "当前步骤“审批”应由区民政审批办理");
    // Escalation is for town-level steps only; this one is now the district's.
    assert!(!allowed_actions(&definition(s.kind), &s).contains(&Escalate));
    let s = ok(
        &s,
        cmd(Refuse, DistrictApprover, ymd(2026, 5, 14)).note("支出已由医保报销"),
    );
    assert_eq!(s.outcome, Some(Outcome::Refused));
}

// ----------------------------------------------------------- 救急难互助社

#[test]
fn mutual_aid_one_one_two_chain() {
    // Monday 2026-03-02: investigation by Tuesday, payment by the next
    // working day, notice posted within 2 working days.
    let s = start(ItemKind::MutualAid, ymd(2026, 3, 2), false, cal()).unwrap();
    assert_eq!(
        (s.step, s.step_role),
        (Some("investigate"), Some(VillageAssistant))
    );
    assert_eq!(s.step_due, ymd(2026, 3, 3));
    let e = err(&s, cmd(Complete, VillageAssistant, ymd(2026, 3, 3)));
    assert_eq!(
        e.to_string(),
        "入户调查与审核意见须至少 1 名调查人签字，当前 0 名"
    );
    let s = ok(
        &s,
        cmd(Complete, VillageAssistant, ymd(2026, 3, 3)).signed(&["刘娟"]),
    );
    assert_eq!((s.step, s.step_due), (Some("pay"), ymd(2026, 3, 4)));
    let s = ok(
        &s,
        cmd(Complete, VillageAssistant, ymd(2026, 3, 4)).amount(80_000),
    );
    assert_eq!((s.step, s.step_due), (Some("notice"), ymd(2026, 3, 6)));
    let s = ok(&s, cmd(Post, VillageAssistant, ymd(2026, 3, 5)));
    assert_eq!(s.step_due, ymd(2026, 3, 12));
    let s = ok(&s, cmd(Complete, VillageAssistant, ymd(2026, 3, 12)));
    assert_eq!(s.step, Some("archive"));
    let s = ok(&s, cmd(Complete, VillageAssistant, ymd(2026, 3, 13)));
    assert_eq!(s.outcome, Some(Outcome::Paid));
    assert_eq!(handling_days(&s, cal()), Some(9));
    // The village's own steps, not the town's.
    let t = start(ItemKind::MutualAid, ymd(2026, 3, 2), false, cal()).unwrap();
    let e = err(
        &t,
        cmd(Complete, TownCaseWorker, ymd(2026, 3, 2)).signed(&["刘娟"]),
    );
    assert_eq!(
        e.to_string(),
        "当前步骤“入户调查与审核意见”应由村(社区)救助协理员办理"
    );
}

#[test]
fn mutual_aid_chain_across_national_day_2025() {
    // Friday 2025-09-26; Sunday 28 Sep is an adjusted working day; 1–8 Oct off.
    let s = start(ItemKind::MutualAid, ymd(2025, 9, 26), false, cal()).unwrap();
    assert_eq!(s.step_due, ymd(2025, 9, 28));
    let s = ok(
        &s,
        cmd(Complete, VillageAssistant, ymd(2025, 9, 28)).signed(&["刘娟"]),
    );
    assert_eq!(s.step_due, ymd(2025, 9, 29));
    let s = ok(&s, cmd(Complete, VillageAssistant, ymd(2025, 9, 29)));
    assert_eq!(s.step_due, ymd(2025, 10, 9));
    // Posted 30 Sep, runs to 6 Oct; the first working day after is 9 Oct.
    let s = ok(&s, cmd(Post, VillageAssistant, ymd(2025, 9, 30)));
    assert_eq!(notice_end(ymd(2025, 9, 30)), ymd(2025, 10, 7));
    assert_eq!(s.step_due, ymd(2025, 10, 9));
    // Completing on a holiday is allowed (people do work then) and on time.
    let s = ok(&s, cmd(Complete, VillageAssistant, ymd(2025, 10, 8)));
    assert!(!s.history.last().unwrap().late);
    // 9, 10, 11 (adjusted Saturday), 13, 14 Oct.
    assert_eq!((s.step, s.step_due), (Some("archive"), ymd(2025, 10, 14)));
    let s = ok(&s, cmd(Complete, VillageAssistant, ymd(2025, 10, 10)));
    assert_eq!(handling_days(&s, cal()), Some(5));
}

// ----------------------------------------------------------- 部门事项

#[test]
fn department_item_accept_or_reject() {
    let s = start(ItemKind::DeptItem, ymd(2026, 6, 15), false, cal()).unwrap();
    assert_eq!((s.step, s.step_due), (Some("refer"), ymd(2026, 6, 16)));
    let s = ok(
        &s,
        cmd(Complete, TownCaseWorker, ymd(2026, 6, 15)).note("转住建局：住房救助"),
    );
    // 10 working days, skipping the Dragon Boat holiday (19 June).
    assert_eq!(
        (s.step, s.step_role),
        (Some("dept_handle"), Some(DeptLiaison))
    );
    assert_eq!(s.step_due, ymd(2026, 6, 30));
    let e = err(&s, cmd(Reject, DeptLiaison, ymd(2026, 6, 17)));
    assert_eq!(e.to_string(), "退回须说明理由");
    let rejected = ok(
        &s,
        cmd(Reject, DeptLiaison, ymd(2026, 6, 17)).note("已享受公租房"),
    );
    assert_eq!(rejected.outcome, Some(Outcome::Closed));
    let accepted = ok(&s, cmd(Accept, DeptLiaison, ymd(2026, 6, 17)));
    assert_eq!(accepted.outcome, Some(Outcome::Referred));
}

#[test]
fn department_deadline_is_configurable() {
    let def = dept_definition(3);
    let s = start_with(&def, ymd(2026, 6, 15), false, cal()).unwrap();
    let c = cmd(Complete, TownCaseWorker, ymd(2026, 6, 15));
    let s = apply_with(&def, &s, &c, cal()).unwrap();
    assert_eq!(s.step_due, ymd(2026, 6, 18));
    let mut other = definition(ItemKind::DeptItem);
    assert!(other.set_step_deadline("dept_handle", 20));
    assert!(!other.set_step_deadline("nope", 20));
    let e = apply_with(&definition(ItemKind::Dibao), &s, &c, cal()).unwrap_err();
    assert_eq!(e.to_string(), "流程定义“低保”与事项类型“部门事项”不符");
}

// ----------------------------------------------------------- refusals in general

#[test]
fn every_illegal_action_is_refused_without_change() {
    let c = cal();
    for def in all_definitions() {
        let s = start_with(&def, ymd(2026, 3, 2), false, c).unwrap();
        let allowed = allowed_actions(&def, &s);
        for action in ActionKind::all() {
            if allowed.contains(action) {
                continue;
            }
            let role = s.step_role.unwrap();
            let c = cmd(*action, role, ymd(2026, 3, 3))
                .note("理由")
                .signed(&two())
                .amount(100);
            let e = err(&s, c);
            match e {
                WorkflowError::NotAllowed {
                    step,
                    action: a,
                    allowed: listed,
                } => {
                    assert_eq!(step, def.steps[0].name);
                    assert_eq!(a, *action);
                    assert_eq!(listed, allowed);
                }
                WorkflowError::NoExtension(_) | WorkflowError::AlreadyExtended => {
                    assert_eq!(*action, Extend)
                }
                other => panic!("{}: {action:?} gave {other:?}", def.name),
            }
        }
    }
    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), false, c).unwrap();
    let e = err(&s, cmd(Approve, TownCaseWorker, ymd(2026, 9, 29)));
    assert_eq!(
        e.to_string(),
        "当前步骤“受理”不能执行“批准”，可执行：完成、延期、提级复审、撤回"
    );
}

#[test]
fn dates_must_not_go_backwards() {
    let s = dibao_at_notice(false);
    let e = err(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 18)));
    assert_eq!(
        e.to_string(),
        "办理日期 2026-10-18 早于当前步骤“公示”的开始日期 2026-10-19"
    );
    let s = ok(&s, cmd(Post, TownCaseWorker, ymd(2026, 10, 21)));
    let e = err(&s, cmd(Object, TownCaseWorker, ymd(2026, 10, 20)).note("x"));
    assert_eq!(
        e.to_string(),
        "办理日期 2026-10-20 早于上一次办理日期 2026-10-21"
    );
}

#[test]
fn unloaded_year_is_flagged_not_silently_guessed() {
    let c = cal();
    // Work goes on in 2027 before its arrangement is loaded: deadlines are counted
    // Monday–Friday and flagged as provisional.
    let s = start(ItemKind::Dibao, ymd(2027, 1, 4), false, c).unwrap();
    assert!(s.provisional_due);
    assert!(s.flags().contains(&"provisional_due"));
    assert_eq!(s.step_due, ymd(2027, 1, 7), "Mon 4 Jan + 3 weekdays");
    // The 30-working-day limit of an item accepted in December runs into 2027.
    let s = start(ItemKind::Dibao, ymd(2026, 12, 1), false, c).unwrap();
    assert!(s.provisional_due, "item limit runs into 2027");
    // Well inside a loaded year nothing is provisional.
    let s = start(ItemKind::Tekun, ymd(2026, 3, 2), false, c).unwrap();
    assert!(!s.provisional_due);
    // A deadline that would fall in 2027.
    let s = start(ItemKind::Tekun, ymd(2026, 12, 28), false, c).unwrap();
    let next = apply(&s, &cmd(Complete, TownCaseWorker, ymd(2026, 12, 29)), c).unwrap();
    assert!(next.provisional_due);
    // Reports that need exact counts still refuse to guess.
    assert_eq!(
        overdue_working_days(&s, ymd(2027, 1, 5), c),
        Err(CalendarError::YearNotLoaded(2027))
    );
    // An empty calendar knows nothing: everything it computes is provisional.
    assert!(
        start(
            ItemKind::MutualAid,
            ymd(2026, 3, 2),
            false,
            &WorkCalendar::new()
        )
        .unwrap()
        .provisional_due
    );
}

#[test]
fn overdue_counts_working_days() {
    let c = cal();
    let s = start(ItemKind::Dibao, ymd(2026, 9, 28), false, c).unwrap();
    assert!(!is_overdue(&s, ymd(2026, 10, 8)));
    assert_eq!(overdue_working_days(&s, ymd(2026, 10, 8), c), Ok(0));
    assert!(is_overdue(&s, ymd(2026, 10, 9)));
    assert_eq!(overdue_working_days(&s, ymd(2026, 10, 9), c), Ok(1));
    // 9 Oct (Fri) and 10 Oct (adjusted Saturday); Sunday 11 adds nothing.
    assert_eq!(overdue_working_days(&s, ymd(2026, 10, 11), c), Ok(2));
    // The whole procedure's limit counts too.
    let mut late = s.clone();
    late.step_due = ymd(2026, 12, 31);
    assert!(is_overdue(&late, ymd(2026, 11, 16)));
    assert_eq!(overdue_working_days(&late, ymd(2026, 11, 16), c), Ok(1));
}

#[test]
fn state_round_trips_through_json() {
    let s = start(ItemKind::Dibao, ymd(2026, 3, 2), true, cal()).unwrap();
    let s = ok(&s, cmd(Complete, TownCaseWorker, ymd(2026, 3, 3)));
    let s = ok(
        &s,
        cmd(Escalate, TownCaseWorker, ymd(2026, 3, 4)).note("复杂"),
    );
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"step\":\"county_review\""));
    assert!(json.contains("\"to\":{\"step\":\"county_review\"}"));
    let back: ItemState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    // Applying to the restored state works the same.
    let c = cmd(Complete, DistrictApprover, ymd(2026, 3, 5));
    assert_eq!(apply(&back, &c, cal()), apply(&s, &c, cal()));
    let ended = ok(&s, cmd(Withdraw, DistrictApprover, ymd(2026, 3, 5)));
    let json = serde_json::to_string(&ended).unwrap();
    assert!(json.contains("\"to\":{\"end\":\"withdrawn\"}"));
    assert_eq!(serde_json::from_str::<ItemState>(&json).unwrap(), ended);
    let bad = json.replace("\"from\":\"county_review\"", "\"from\":\"nowhere\"");
    let e = serde_json::from_str::<ItemState>(&bad).unwrap_err();
    assert!(e.to_string().contains("无法识别的步骤代码“nowhere”"));
    assert_eq!(
        serde_json::from_str::<Target>("\"resume\"").unwrap(),
        Target::Resume
    );
}

// ----------------------------------------------------------- property

fn any_role() -> impl Strategy<Value = Role> {
    (0..Role::all().len()).prop_map(|i| Role::all()[i])
}

/// One random step: mostly a plausible command (an allowed action by the
/// responsible role), sometimes anything at all.
#[derive(Debug, Clone)]
struct Move {
    pick_allowed: bool,
    action_index: usize,
    right_role: bool,
    role: Role,
    days_later: u64,
    signers: usize,
    note: bool,
    amount: Option<i64>,
    limit: Option<i64>,
}

fn a_move() -> impl Strategy<Value = Move> {
    (
        prop::bool::weighted(0.85),
        0usize..64,
        prop::bool::weighted(0.85),
        any_role(),
        prop_oneof![Just(0u64), 0u64..12, 0u64..60],
        0usize..4,
        prop::bool::weighted(0.8),
        prop::option::of(-100i64..2_000_000),
        prop::option::of(0i64..1_000_000),
    )
        .prop_map(
            |(
                pick_allowed,
                action_index,
                right_role,
                role,
                days_later,
                signers,
                note,
                amount,
                limit,
            )| {
                Move {
                    pick_allowed,
                    action_index,
                    right_role,
                    role,
                    days_later,
                    signers,
                    note,
                    amount,
                    limit,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_commands_never_panic_and_deadlines_are_working_days(
        kind_index in 0usize..6,
        start_offset in 0u64..680,
        separate in any::<bool>(),
        moves in prop::collection::vec(a_move(), 0..40),
    ) {
        let c = cal();
        let kind = ItemKind::all()[kind_index];
        let def = definition(kind);
        let day0 = ymd(2025, 1, 1) + chrono::Days::new(start_offset);
        let Ok(mut state) = start(kind, day0, separate, c) else {
            // Only a limit running into 2027 may refuse a start.
            prop_assert!(start_offset > 600);
            return Ok(());
        };
        let names = ["张三", "李四", "王五"];
        for m in moves {
            // Actions that end or divert an item are picked rarely, so that
            // items get deep into their workflows.
            let allowed: Vec<ActionKind> = allowed_actions(&def, &state)
                .into_iter()
                .filter(|a| {
                    !matches!(a, Withdraw | Refuse | Reject | Escalate) || m.action_index < 4
                })
                .collect();
            let action = if m.pick_allowed && !allowed.is_empty() {
                allowed[m.action_index % allowed.len()]
            } else {
                ActionKind::all()[m.action_index % ActionKind::all().len()]
            };
            let role = match (m.right_role, state.step_role) {
                (true, Some(r)) => r,
                _ => m.role,
            };
            let on = state.history.last().map_or(state.step_started, |t| t.on.max(state.step_started))
                + chrono::Days::new(m.days_later);
            let command = Command {
                action,
                actor_role: role,
                on,
                signatures: names[..m.signers.min(names.len())].iter().map(|s| s.to_string()).collect(),
                note: if m.note { "理由".to_string() } else { String::new() },
                amount_fen: m.amount,
                town_limit_fen: m.limit,
            };
            let before = state.clone();
            match apply(&state, &command, c) {
                Ok(next) => {
                    prop_assert_eq!(next.history.len(), before.history.len() + 1);
                    match next.step {
                        Some(code) => {
                            prop_assert!(def.step(code).is_some());
                            prop_assert!(next.outcome.is_none());
                            prop_assert!(next.step_role.is_some());
                            prop_assert!(c.is_working_day_provisional(next.step_due));
                            prop_assert!(next.step_due >= next.step_started);
                            if !next.provisional_due {
                                prop_assert_eq!(c.is_working_day(next.step_due), Ok(true));
                                if let Some(due) = next.item_due {
                                    prop_assert_eq!(c.is_working_day(due), Ok(true));
                                }
                            }
                        }
                        None => {
                            prop_assert!(next.outcome.is_some());
                            prop_assert_eq!(next.ended_on, Some(on));
                            // Exact counts exist only within loaded years.
                            if c.is_working_day(on).is_ok() {
                                prop_assert!(handling_days(&next, c).is_some_and(|d| d >= 0));
                            }
                        }
                    }
                    state = next;
                }
                Err(_) => prop_assert_eq!(&state, &before),
            }
        }
    }
}
