//! Case workflows (办理流程): the official steps of each assistance item, who
//! handles each step, its deadline in working days, the evidence and
//! signatures it needs, and one explicit state machine that moves an item
//! from step to step.
//!
//! Why this shape:
//! - The definitions are plain Rust data ([`definition`], [`all_definitions`])
//!   so an administrator page can render them and tests can check them; they
//!   are not files, so the running system and its documentation cannot
//!   disagree.
//! - The state machine is one function, [`apply`], taking the current
//!   [`ItemState`] by reference and returning a new one: a refused command
//!   therefore cannot leave a half-changed state behind, and the status is
//!   never "computed on save" from scattered fields.
//! - Deadlines are counted on the official
//!   [`crate::calendar::WorkCalendar`]; a date in a year whose holiday
//!   arrangement is not loaded is an error, never a guess.

mod defs;
mod machine;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};

use crate::access::Role;
use crate::calendar::CalendarError;
use crate::money::Money;
use crate::person::{Coded, coded_enum};

pub use defs::{all_definitions, definition, dept_definition};
pub use machine::{
    allowed_actions, apply, apply_with, current_step, handling_days, is_overdue, notice_end,
    overdue_working_days, route_decision, start, start_with,
};

/// Length of a public notice (公示) in calendar days, fixed by the national
/// 低保/特困 rules and used by the village mutual-aid societies too.
pub const NOTICE_CALENDAR_DAYS: u32 = 7;

coded_enum! {
    /// Kinds of assistance item an application can name; each runs its own
    /// workflow.
    pub enum ItemKind {
        Dibao("dibao", "低保"),
        Tekun("tekun", "特困"),
        TempEmergency("temp_emergency", "临时救助（急难型）"),
        TempExpense("temp_expense", "临时救助（支出型）"),
        MutualAid("mutual_aid", "救急难互助社"),
        /// Any item handled by another department (housing, education,
        /// employment, disability subsidy, medical assistance …): one generic
        /// referral workflow.
        DeptItem("dept_item", "部门事项"),
    }
}

coded_enum! {
    /// How an item ended.
    pub enum Outcome {
        Approved("approved", "批准"),
        Refused("refused", "不予批准"),
        Paid("paid", "已发放"),
        Referred("referred", "已转办"),
        Withdrawn("withdrawn", "撤回"),
        Closed("closed", "办结"),
    }
}

coded_enum! {
    /// What a user does to an item. Each kind has one fixed meaning in
    /// [`apply`]; which kinds a step accepts is data ([`StepDef::actions`]).
    pub enum ActionKind {
        Complete("complete", "完成"),
        Approve("approve", "批准"),
        Refuse("refuse", "不予批准"),
        /// Start posting a public notice; the 7 days run from this date.
        Post("post", "张贴公示"),
        Object("object", "登记异议"),
        ReInvestigate("re_investigate", "重新调查"),
        DemocraticReview("democratic_review", "民主评议"),
        Extend("extend", "延期"),
        Escalate("escalate", "提级复审"),
        Withdraw("withdraw", "撤回"),
        Accept("accept", "接收"),
        Reject("reject", "退回"),
        SpotCheck("spot_check", "抽查"),
    }
}

impl ActionKind {
    /// Actions about the whole item rather than the current step: they are
    /// offered at every open step (when applicable) and are not listed in
    /// the step definitions.
    pub fn is_item_level(self) -> bool {
        matches!(
            self,
            ActionKind::Extend | ActionKind::Escalate | ActionKind::Withdraw
        )
    }

    /// Whether the action must carry a reason in `Command::note`: refusals
    /// and rejections are notified in writing with reasons, an extension
    /// must say why, an objection must say what.
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            ActionKind::Refuse
                | ActionKind::Reject
                | ActionKind::Object
                | ActionKind::Extend
                | ActionKind::Escalate
        )
    }
}

/// Where an action leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Another step of the same workflow (or the current one: the action is
    /// recorded and the item stays where it is).
    Step(&'static str),
    /// The item ends with this outcome.
    End(Outcome),
    /// Back to the step the item was escalated from (提级复审 done, the
    /// normal procedure continues with the county's opinion on file).
    Resume,
}

/// When a step is entered other than by an ordinary transition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEntry {
    /// Reached by the actions of other steps.
    #[default]
    Normal,
    /// Only for items registered separately (单独登记备案, applicant related
    /// to a case worker or committee member): entered instead of the step
    /// its `complete` action leads to, once per item.
    SeparateRegistration,
    /// Only by [`ActionKind::Escalate`] (提级复审).
    Escalation,
}

/// Effect of completing a step on the 先行救助 paperwork flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplementEffect {
    #[default]
    None,
    /// Money is paid before investigation, notice and signatures: the item
    /// becomes `pending_supplement`.
    Opens,
    /// The missing investigation, notice and signatures are done.
    Closes,
}

/// One step of a workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepDef {
    /// Stable ASCII code stored with the item.
    pub code: &'static str,
    /// Chinese name shown to users.
    pub name: &'static str,
    /// Who handles the step (see `role_by_amount`).
    pub role: Role,
    /// Working days from entering the step until it is due. For a notice
    /// step: the working days allowed to start posting.
    pub deadline_working_days: u32,
    /// What must be attached or recorded (Chinese).
    pub evidence: Vec<&'static str>,
    /// Distinct named signers needed to leave the step (e.g. 2 investigators).
    pub min_signatures: u8,
    /// A public notice: posted by [`ActionKind::Post`], then runs
    /// [`NOTICE_CALENDAR_DAYS`] calendar days before it can be completed.
    pub is_notice: bool,
    /// The step-level actions accepted here and where each leads.
    pub actions: Vec<(ActionKind, Target)>,
    pub entry: StepEntry,
    /// The handling role is chosen on entry by [`route_decision`] from the
    /// amount and the town's approval limit (`role` is the town-level
    /// default shown on the administrator page).
    pub role_by_amount: bool,
    /// `complete`/`approve` need an amount (from the command or recorded
    /// earlier).
    pub requires_amount: bool,
    pub supplement: SupplementEffect,
}

impl StepDef {
    /// A plain step; refine with the builder methods below.
    pub fn new(
        code: &'static str,
        name: &'static str,
        role: Role,
        deadline_working_days: u32,
    ) -> Self {
        StepDef {
            code,
            name,
            role,
            deadline_working_days,
            evidence: Vec::new(),
            min_signatures: 0,
            is_notice: false,
            actions: Vec::new(),
            entry: StepEntry::Normal,
            role_by_amount: false,
            requires_amount: false,
            supplement: SupplementEffect::None,
        }
    }

    pub fn evidence(mut self, items: &[&'static str]) -> Self {
        self.evidence.extend_from_slice(items);
        self
    }

    pub fn signatures(mut self, n: u8) -> Self {
        self.min_signatures = n;
        self
    }

    pub fn notice(mut self) -> Self {
        self.is_notice = true;
        self
    }

    /// Adds an accepted action.
    pub fn on(mut self, action: ActionKind, target: Target) -> Self {
        self.actions.push((action, target));
        self
    }

    pub fn entered_by(mut self, entry: StepEntry) -> Self {
        self.entry = entry;
        self
    }

    pub fn routed_by_amount(mut self) -> Self {
        self.role_by_amount = true;
        self
    }

    pub fn needs_amount(mut self) -> Self {
        self.requires_amount = true;
        self
    }

    pub fn with_supplement(mut self, effect: SupplementEffect) -> Self {
        self.supplement = effect;
        self
    }

    /// Where `action` leads from this step, if the step accepts it.
    pub fn target_of(&self, action: ActionKind) -> Option<Target> {
        self.actions
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, t)| *t)
    }
}

/// A whole workflow: its steps (the first is where every item starts; the
/// order is otherwise for display) and the overall time limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkflowDef {
    pub kind: ItemKind,
    pub name: &'static str,
    pub steps: Vec<StepDef>,
    /// Working days for the whole procedure (低保: 30), if the rules set one.
    pub total_limit: Option<u32>,
    /// Working days once extended with a reason (低保: 45); None: no
    /// extension exists for this item.
    pub extended_limit: Option<u32>,
}

impl WorkflowDef {
    pub fn step(&self, code: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.code == code)
    }

    /// The step entered by 提级复审, if this workflow has one.
    pub fn escalation_step(&self) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.entry == StepEntry::Escalation)
    }

    /// Changes one step's deadline (e.g. a department's own time limit).
    /// Returns false if there is no such step.
    pub fn set_step_deadline(&mut self, code: &str, working_days: u32) -> bool {
        match self.steps.iter_mut().find(|s| s.code == code) {
            Some(step) => {
                step.deadline_working_days = working_days;
                true
            }
            None => false,
        }
    }

    /// Checks that the definition can run: unique codes, every target
    /// exists, deadlines are at least one working day (so a due date is
    /// always a working day), notices can be posted and completed.
    /// Returns the problems in Chinese, for the administrator page.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        match self.steps.first() {
            None => problems.push("流程没有任何步骤".to_string()),
            Some(first) => {
                if first.entry != StepEntry::Normal || first.role_by_amount {
                    problems.push(format!("第一个步骤“{}”必须是普通步骤", first.name));
                }
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            if self.steps[..i].iter().any(|s| s.code == step.code) {
                problems.push(format!("步骤代码“{}”重复", step.code));
            }
            if step.deadline_working_days == 0 {
                problems.push(format!("步骤“{}”的期限至少为 1 个工作日", step.name));
            }
            if step.actions.is_empty() {
                problems.push(format!("步骤“{}”没有任何可执行的操作", step.name));
            }
            for (j, (action, target)) in step.actions.iter().enumerate() {
                if action.is_item_level() {
                    problems.push(format!(
                        "“{}”是事项级操作，不应列在步骤“{}”中",
                        action, step.name
                    ));
                }
                if step.actions[..j].iter().any(|(a, _)| a == action) {
                    problems.push(format!("步骤“{}”的操作“{}”重复", step.name, action));
                }
                match target {
                    Target::Step(code) => {
                        if self.step(code).is_none() {
                            problems.push(format!(
                                "步骤“{}”的操作“{}”指向不存在的步骤“{}”",
                                step.name, action, code
                            ));
                        }
                    }
                    Target::Resume => {
                        if step.entry != StepEntry::Escalation {
                            problems.push(format!(
                                "只有提级复审步骤可以退回原步骤（步骤“{}”）",
                                step.name
                            ));
                        }
                    }
                    Target::End(_) => {}
                }
            }
            if step.is_notice
                && (step.target_of(ActionKind::Post) != Some(Target::Step(step.code))
                    || step.target_of(ActionKind::Complete).is_none())
            {
                problems.push(format!("公示步骤“{}”须能张贴公示并结束公示", step.name));
            }
            if step.entry == StepEntry::SeparateRegistration
                && !matches!(step.target_of(ActionKind::Complete), Some(Target::Step(_)))
            {
                problems.push(format!(
                    "单独登记备案步骤“{}”完成后须进入另一个步骤",
                    step.name
                ));
            }
        }
        if self
            .steps
            .iter()
            .filter(|s| s.entry == StepEntry::Escalation)
            .count()
            > 1
        {
            problems.push("提级复审步骤只能有一个".to_string());
        }
        if self.extended_limit.is_some() && self.total_limit.is_none() {
            problems.push("有延期时限却没有办理时限".to_string());
        }
        if let (Some(total), Some(ext)) = (self.total_limit, self.extended_limit)
            && ext < total
        {
            problems.push("延期后的时限不能短于原时限".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// What a user asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub action: ActionKind,
    pub actor_role: Role,
    /// The date the action happened (not necessarily today: records may be
    /// entered the next day), never before the current step started.
    pub on: NaiveDate,
    /// Names of the people signing (e.g. the two investigators).
    pub signatures: Vec<String>,
    /// Opinion, reason or objection text.
    pub note: String,
    pub amount_fen: Option<i64>,
    /// The town's approval limit in force for this item (a regional
    /// setting), needed when an amount decides who approves.
    pub town_limit_fen: Option<i64>,
}

impl Command {
    pub fn new(action: ActionKind, actor_role: Role, on: NaiveDate) -> Self {
        Command {
            action,
            actor_role,
            on,
            signatures: Vec::new(),
            note: String::new(),
            amount_fen: None,
            town_limit_fen: None,
        }
    }

    pub fn signed(mut self, names: &[&str]) -> Self {
        self.signatures = names.iter().map(|n| n.to_string()).collect();
        self
    }

    pub fn note(mut self, note: &str) -> Self {
        self.note = note.to_string();
        self
    }

    pub fn amount(mut self, fen: i64) -> Self {
        self.amount_fen = Some(fen);
        self
    }

    pub fn town_limit(mut self, fen: i64) -> Self {
        self.town_limit_fen = Some(fen);
        self
    }
}

/// A step code (`&'static str`: only codes the definitions know). Fields
/// use this alias so serde does not try to borrow them from the input; they
/// are re-interned with [`step_code`] when read back.
pub type StepCode = &'static str;

/// One recorded action (the item's history is the list of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    #[serde(deserialize_with = "de_step")]
    pub from: StepCode,
    pub action: ActionKind,
    /// Where the item went; `Step(from)` when it stayed (posting a notice,
    /// spot check, extension).
    pub to: Target,
    pub on: NaiveDate,
    pub actor_role: Role,
    pub note: String,
    pub signatures: Vec<String>,
    pub amount_fen: Option<i64>,
    /// The action happened after the step's due date.
    pub late: bool,
}

/// Where 提级复审 returns to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    #[serde(deserialize_with = "de_step")]
    pub step: StepCode,
    pub role: Role,
}

/// The state of one assistance item. Produced only by [`start`] and
/// [`apply`]; serialises to JSON for storage (step codes are re-interned on
/// reading, so only codes of the built-in definitions can be read back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
    pub kind: ItemKind,
    /// Current step; None once ended.
    #[serde(deserialize_with = "de_opt_step")]
    pub step: Option<StepCode>,
    /// Who must act now (the step's role, or the role chosen by amount);
    /// None once ended. The inbox is a query on this.
    pub step_role: Option<Role>,
    pub outcome: Option<Outcome>,
    /// When the current step was entered (the end date once ended).
    pub step_started: NaiveDate,
    /// When the current step is due: always a working day while open.
    pub step_due: NaiveDate,
    /// For a notice step: the day posting started (None until posted).
    pub notice_start: Option<NaiveDate>,
    pub item_started: NaiveDate,
    /// Due date of the whole procedure, if the rules set one.
    pub item_due: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub extended: bool,
    pub escalated: bool,
    /// Set while the item is in 提级复审.
    pub escalated_from: Option<ResumePoint>,
    /// 单独登记备案: a county home visit is added before the county decision.
    pub separate_registration: bool,
    /// Paid by 先行救助; investigation, notice and signatures still owed.
    pub pending_supplement: bool,
    /// A deadline was counted Monday–Friday because its year's holiday arrangement is
    /// not loaded yet: shown as provisional, never silently trusted.
    #[serde(default)]
    pub provisional_due: bool,
    /// The county recorded a spot check (特困: ≥ 30 % of cases).
    pub spot_check: bool,
    /// Latest amount recorded on the item.
    pub amount_fen: Option<i64>,
    /// Signers of the latest transition that left a step.
    pub signatures: Vec<String>,
    pub history: Vec<Transition>,
}

impl ItemState {
    pub fn is_open(&self) -> bool {
        self.step.is_some()
    }

    /// Codes of the flags that are set, for list filters and the store's
    /// flags column.
    pub fn flags(&self) -> Vec<&'static str> {
        [
            (self.extended, "extended"),
            (self.escalated, "escalated"),
            (self.separate_registration, "separate_registration"),
            (self.pending_supplement, "pending_supplement"),
            (self.spot_check, "spot_check"),
            (self.provisional_due, "provisional_due"),
        ]
        .into_iter()
        .filter_map(|(set, code)| set.then_some(code))
        .collect()
    }
}

/// Why a command was refused. Display is shown to users as-is; the state
/// passed to [`apply`] is never changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("该事项已办结（{0}），不能再办理")]
    Ended(Outcome),
    #[error("当前步骤“{step}”不能执行“{action}”，可执行：{}", labels(.allowed))]
    NotAllowed {
        step: &'static str,
        action: ActionKind,
        allowed: Vec<ActionKind>,
    },
    #[error("当前步骤“{step}”应由{expected}办理")]
    WrongRole {
        step: &'static str,
        expected: Role,
        actual: Role,
    },
    #[error("{step}须至少 {required} 名调查人签字，当前 {given} 名")]
    NotEnoughSignatures {
        step: &'static str,
        required: u8,
        given: usize,
    },
    #[error("{0}须说明理由")]
    ReasonRequired(ActionKind),
    #[error("该事项已延期一次，不能再次延期")]
    AlreadyExtended,
    #[error("“{0}”没有延期规定")]
    NoExtension(ItemKind),
    #[error("办理日期 {on} 早于当前步骤“{step}”的开始日期 {started}")]
    DateBeforeStep {
        step: &'static str,
        on: NaiveDate,
        started: NaiveDate,
    },
    #[error("办理日期 {on} 早于上一次办理日期 {last}")]
    DateBeforeLastAction { on: NaiveDate, last: NaiveDate },
    #[error("公示期未满：{started} 起公示 {NOTICE_CALENDAR_DAYS} 天，{ends} 起方可结束公示")]
    NoticeNotOver { started: NaiveDate, ends: NaiveDate },
    #[error("“{step}”须填写金额")]
    MissingAmount { step: &'static str },
    #[error("金额必须大于零")]
    InvalidAmount,
    #[error("须提供乡镇审批限额，以确定由乡镇还是区县审批")]
    MissingTownLimit,
    #[error("金额 {} 元超过乡镇审批限额 {} 元，应由区民政审批", Money::from_fen(*.amount_fen), Money::from_fen(*.limit_fen))]
    AboveTownLimit { amount_fen: i64, limit_fen: i64 },
    #[error("流程定义“{def}”与事项类型“{item}”不符")]
    DefinitionMismatch { def: ItemKind, item: ItemKind },
    #[error("流程定义中没有步骤“{0}”")]
    UnknownStep(String),
    #[error("流程定义有误：{}", .0.join("；"))]
    InvalidDefinition(Vec<String>),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

fn labels(actions: &[ActionKind]) -> String {
    if actions.is_empty() {
        return "（无）".to_string();
    }
    actions
        .iter()
        .map(|a| a.label())
        .collect::<Vec<_>>()
        .join("、")
}

/// The `'static` code of a step of any built-in workflow, for reading
/// stored states back (the state keeps `&'static str` so that a code can
/// only be one the definitions know).
pub fn step_code(code: &str) -> Option<&'static str> {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CODES
        .get_or_init(|| {
            let mut codes: Vec<&'static str> = all_definitions()
                .iter()
                .flat_map(|d| d.steps.iter().map(|s| s.code))
                .collect();
            codes.sort_unstable();
            codes.dedup();
            codes
        })
        .iter()
        .copied()
        .find(|c| *c == code)
}

fn intern<E: serde::de::Error>(code: &str) -> Result<&'static str, E> {
    step_code(code).ok_or_else(|| E::custom(format!("无法识别的步骤代码“{code}”")))
}

fn de_step<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    intern(&s)
}

fn de_opt_step<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| intern(&s))
        .transpose()
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Repr {
            Step(String),
            End(Outcome),
            Resume,
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Step(code) => Target::Step(intern(&code)?),
            Repr::End(outcome) => Target::End(outcome),
            Repr::Resume => Target::Resume,
        })
    }
}
