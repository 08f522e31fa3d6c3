//! The built-in workflow definitions, one function per item kind, following
//! `domain-rules.md`. Time limits the rules fix are cited; the others are
//! defaults chosen here (marked "default") that a region may change through
//! [`WorkflowDef::set_step_deadline`].

use super::{
    ActionKind::*, ItemKind, Outcome, StepDef, StepEntry, SupplementEffect, Target::*, WorkflowDef,
};
use crate::access::Role::{self, *};
use crate::person::Coded;

/// Working days allowed to start posting a notice once its step is entered
/// (救急难互助社: "救助完成的2个工作日内" posted; used for the others too,
/// where the national texts give no figure).
const NOTICE_POST_DAYS: u32 = 2;

/// Default time limit of a department for a referred item.
const DEPT_DEFAULT_DAYS: u32 = 10;

/// The built-in workflow of `kind`.
pub fn definition(kind: ItemKind) -> WorkflowDef {
    match kind {
        ItemKind::Dibao => dibao(),
        ItemKind::Tekun => tekun(),
        ItemKind::TempEmergency => temp_emergency(),
        ItemKind::TempExpense => temp_expense(),
        ItemKind::MutualAid => mutual_aid(),
        ItemKind::DeptItem => dept_definition(DEPT_DEFAULT_DAYS),
    }
}

/// Every built-in workflow, in [`ItemKind`] order.
pub fn all_definitions() -> Vec<WorkflowDef> {
    ItemKind::all().iter().map(|k| definition(*k)).collect()
}

/// The generic department workflow with the department's own time limit
/// (each department sets its own; 10 working days by default).
pub fn dept_definition(deadline_working_days: u32) -> WorkflowDef {
    WorkflowDef {
        kind: ItemKind::DeptItem,
        name: "部门事项转办",
        steps: vec![
            StepDef::new("refer", "转办", TownCaseWorker, 1)
                .evidence(&["转办单", "当事人同意书"])
                .on(Complete, Step("dept_handle")),
            // Accepting hands the item to the department (its result is then
            // tracked as a referral); rejecting closes it with the reason.
            StepDef::new(
                "dept_handle",
                "部门办理",
                DeptLiaison,
                deadline_working_days,
            )
            .evidence(&["部门办理意见"])
            .on(Accept, End(Outcome::Referred))
            .on(Reject, End(Outcome::Closed)),
        ],
        total_limit: None,
        extended_limit: None,
    }
}

/// 最低生活保障审核确认办法 (2021).
fn dibao() -> WorkflowDef {
    let mut steps = vec![
        // Completing acceptance = starting the household investigation,
        // which the rules require within 3 working days of acceptance.
        StepDef::new("accept", "受理", TownCaseWorker, 3)
            .evidence(&[
                "低保申请书",
                "户口簿及身份证件",
                "家庭收入和财产状况声明",
                "家庭经济状况核对授权书",
            ])
            .on(Complete, Step("investigate")),
        // Default 10: the rules only fix the start and the ≥ 2 investigators.
        StepDef::new("investigate", "入户调查", TownCaseWorker, 10)
            .evidence(&["入户调查表", "邻里走访记录"])
            .signatures(2)
            .on(Complete, Step("check_request")),
        // Default 2 to send the request.
        StepDef::new("check_request", "核对申请", TownCaseWorker, 2)
            .evidence(&["家庭经济状况核对申请"])
            .on(Complete, Step("check_result")),
        // The county starts the check within 3 working days.
        StepDef::new("check_result", "核对结果", DistrictApprover, 3)
            .evidence(&["家庭经济状况核对报告"])
            .on(Complete, Step("town_review")),
        // Default 3.
        StepDef::new("town_review", "乡镇初审", TownReviewer, 3)
            .evidence(&["乡镇初审意见"])
            .on(Complete, Step("notice")),
    ];
    steps.extend(notice_steps(TownCaseWorker, Step("county_decision"), 2));
    steps.push(county_visit());
    // The county decides within 10 working days of receiving the materials.
    steps.push(
        StepDef::new("county_decision", "区县确认", DistrictApprover, 10)
            .evidence(&["审核确认意见"])
            .on(Approve, End(Outcome::Approved))
            .on(Refuse, Step("refusal_notice")),
    );
    steps.push(refusal_notice());
    steps.push(county_review(Step("refusal_notice")));
    WorkflowDef {
        kind: ItemKind::Dibao,
        name: "最低生活保障审核确认",
        steps,
        total_limit: Some(30),
        extended_limit: Some(45),
    }
}

/// 特困人员认定办法 (2021).
fn tekun() -> WorkflowDef {
    let mut steps = vec![
        // Default 3, as for 低保.
        StepDef::new("accept", "受理", TownCaseWorker, 3)
            .evidence(&[
                "特困人员供养申请书",
                "户口簿及身份证件",
                "收入和财产状况声明",
            ])
            .on(Complete, Step("investigate")),
        // The town investigates within 15 working days.
        StepDef::new("investigate", "入户调查", TownCaseWorker, 15)
            .evidence(&["入户调查表", "邻里走访记录", "生活自理能力评估表"])
            .signatures(2)
            .on(Complete, Step("town_review")),
        StepDef::new("town_review", "乡镇初审", TownReviewer, 3)
            .evidence(&["乡镇初审意见"])
            .on(Complete, Step("notice")),
    ];
    steps.extend(notice_steps(TownCaseWorker, Step("county_decision"), 2));
    steps.push(county_visit());
    // 15 working days; the county spot-checks at least 30 % of cases and
    // records here whether this one was checked.
    steps.push(
        StepDef::new("county_decision", "区县确认", DistrictApprover, 15)
            .evidence(&["认定意见", "抽查记录（如抽查）"])
            .on(SpotCheck, Step("county_decision"))
            .on(Approve, End(Outcome::Approved))
            .on(Refuse, Step("refusal_notice")),
    );
    // 特困 refusals are also notified in writing with reasons.
    steps.push(refusal_notice());
    steps.push(county_review(Step("refusal_notice")));
    WorkflowDef {
        kind: ItemKind::Tekun,
        name: "特困人员认定",
        steps,
        total_limit: None,
        extended_limit: None,
    }
}

/// 临时救助 急难型: pay first (先行救助), complete the paperwork afterwards.
fn temp_emergency() -> WorkflowDef {
    WorkflowDef {
        kind: ItemKind::TempEmergency,
        name: "临时救助（急难型）先行救助",
        steps: vec![
            StepDef::new("accept", "受理", TownCaseWorker, 1)
                .evidence(&["临时救助申请或主动发现记录", "急难情况说明"])
                .on(Complete, Step("prepay")),
            StepDef::new("prepay", "先行救助", TownCaseWorker, 1)
                .evidence(&["先行救助发放记录"])
                .needs_amount()
                .with_supplement(SupplementEffect::Opens)
                .on(Complete, Step("supplement"))
                .on(Refuse, End(Outcome::Refused)),
            // Default 10 working days for the after-the-fact paperwork.
            StepDef::new("supplement", "补充调查、公示、签字", TownCaseWorker, 10)
                .evidence(&["入户调查表", "公示记录", "临时救助审批表"])
                .signatures(2)
                .with_supplement(SupplementEffect::Closes)
                .on(Complete, End(Outcome::Paid)),
            county_review(End(Outcome::Refused)),
        ],
        total_limit: None,
        extended_limit: None,
    }
}

/// 临时救助 支出型: the town approves within its limit, the district above it.
fn temp_expense() -> WorkflowDef {
    let mut steps = vec![
        StepDef::new("accept", "受理", TownCaseWorker, 3)
            .evidence(&["临时救助申请书", "户口簿或居住证明"])
            .on(Complete, Step("investigate")),
        StepDef::new("investigate", "入户调查", TownCaseWorker, 5)
            .evidence(&["入户调查表", "刚性支出凭证"])
            .signatures(2)
            .on(Complete, Step("town_review")),
        // The proposed amount is fixed here; it decides who approves next.
        StepDef::new("town_review", "乡镇审核", TownReviewer, 3)
            .evidence(&["乡镇审核意见", "救助金额测算"])
            .needs_amount()
            .on(Complete, Step("decision")),
        StepDef::new("decision", "审批", TownReviewer, 5)
            .evidence(&["审批意见"])
            .routed_by_amount()
            .on(Approve, Step("notice"))
            .on(Refuse, End(Outcome::Refused)),
    ];
    steps.extend(notice_steps(TownCaseWorker, End(Outcome::Paid), 2));
    steps.push(county_review(End(Outcome::Refused)));
    WorkflowDef {
        kind: ItemKind::TempExpense,
        name: "临时救助（支出型）审核审批",
        steps,
        total_limit: None,
        extended_limit: None,
    }
}

/// 救急难互助社 (seed 004): the village approves itself, 1 + 1 working days,
/// notice started within 2 working days, one file per person.
fn mutual_aid() -> WorkflowDef {
    let mut steps = vec![
        StepDef::new("investigate", "入户调查与审核意见", VillageAssistant, 1)
            .evidence(&["入户调查记录", "审核意见"])
            // "谁调查、谁审核、谁负责": the responsible person signs.
            .signatures(1)
            .on(Complete, Step("pay"))
            .on(Refuse, End(Outcome::Refused)),
        StepDef::new("pay", "发放或上报服务需求", VillageAssistant, 1)
            .evidence(&["救助资金（实物）发放记录或服务需求上报单"])
            .on(Complete, Step("notice")),
    ];
    steps.extend(notice_steps(VillageAssistant, Step("archive"), 1));
    steps.push(
        // Default 5 working days to file.
        StepDef::new("archive", "归档", VillageAssistant, 5)
            .evidence(&["救助档案（一人一档）"])
            .on(Complete, End(Outcome::Paid)),
    );
    steps.push(county_review(End(Outcome::Refused)));
    WorkflowDef {
        kind: ItemKind::MutualAid,
        name: "救急难互助社救助",
        steps,
        total_limit: None,
        extended_limit: None,
    }
}

/// The public notice and its objection handling: notice → (objection) →
/// re-investigation or 民主评议 → notice again. `investigators` is the
/// signature count a re-investigation needs (as the first investigation).
fn notice_steps(role: Role, next: super::Target, investigators: u8) -> Vec<StepDef> {
    vec![
        StepDef::new("notice", "公示", role, NOTICE_POST_DAYS)
            .evidence(&["公示材料", "公示照片"])
            .notice()
            .on(Post, Step("notice"))
            .on(Complete, next)
            .on(Object, Step("objection")),
        // Default 3 working days to decide how to handle an objection.
        StepDef::new("objection", "异议处理", role, 3)
            .evidence(&["异议登记表"])
            .on(ReInvestigate, Step("re_investigation"))
            .on(DemocraticReview, Step("democratic_review")),
        StepDef::new("re_investigation", "重新调查", role, 5)
            .evidence(&["入户调查表", "异议核实情况"])
            .signatures(investigators)
            .on(Complete, Step("notice")),
        StepDef::new("democratic_review", "民主评议", role, 5)
            .evidence(&["民主评议记录", "参会人员名单"])
            .on(Complete, Step("notice")),
    ]
}

/// 单独登记备案: the county visits the household itself before deciding.
fn county_visit() -> StepDef {
    StepDef::new("county_visit", "区县入户核查", DistrictApprover, 5)
        .evidence(&["区县入户核查记录"])
        .signatures(2)
        .entered_by(StepEntry::SeparateRegistration)
        .on(Complete, Step("county_decision"))
}

/// Written refusal with reasons within 3 working days.
fn refusal_notice() -> StepDef {
    StepDef::new("refusal_notice", "书面告知不予批准理由", TownCaseWorker, 3)
        .evidence(&["不予批准通知书（载明理由）", "送达回证"])
        .on(Complete, End(Outcome::Refused))
}

/// 提级复审: the district reviews a case the town or village could not
/// settle; either the procedure resumes with the county's opinion on file,
/// or the district refuses.
fn county_review(refusal: super::Target) -> StepDef {
    StepDef::new("county_review", "提级复审", DistrictApprover, 10)
        .evidence(&["提级复审意见"])
        .entered_by(StepEntry::Escalation)
        .on(Complete, Resume)
        .on(Refuse, refusal)
}
