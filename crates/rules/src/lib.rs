//! Rules in CEL (Common Expression Language) over the household model of
//! docs/rules-model.md: eligibility conditions, amount formulas and warning
//! rules. Pure: no HTTP, no SQL. The store builds [`facts::HouseholdInput`]s,
//! this crate turns them into [`facts::Facts`] and evaluates compiled
//! [`Rule`]s against them.
//!
//! CEL was chosen for being safe for administrators to edit (no loops, no
//! side effects, always terminates) — see docs/decisions.md.

pub mod catalogue;
pub mod check;
pub mod describe;
pub mod facts;
pub mod finder;
pub mod standards;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program, Value};

pub use facts::{Facts, HouseholdInput, MemberInput};

// A scope is shared across the threads of a parallel run only through `Env`
// and `Prepared`, both plain data.

/// What a rule computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// A yes/no condition (eligibility, warning).
    Condition,
    /// An amount in integer fen.
    Amount,
}

/// A rule that compiled and passed the check against the sample household.
#[derive(Debug)]
pub struct Rule {
    pub source: String,
    pub kind: RuleKind,
    program: Program,
    /// The top-level `&&` parts, each compiled on its own, for explanations.
    conditions: Vec<(String, Program)>,
}

/// Why a rule could not be saved or evaluated; shown to users as-is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("规则为空：请填写表达式")]
    Empty,
    #[error("语法错误：{0}")]
    Syntax(String),
    #[error("规则无法在样例家庭上求值：{0}")]
    Check(String),
    #[error("计算出错：{0}")]
    Eval(String),
    #[error("结果类型不对：{expected}，实际得到 {got}")]
    Type { expected: &'static str, got: String },
}

/// One condition of a rule and its outcome on one household.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionOutcome {
    pub text: String,
    /// `Ok(true)` passed, `Ok(false)` failed, `Err` could not be evaluated.
    pub result: Result<bool, String>,
}

impl Rule {
    /// Compiles `source` and evaluates it on a fully populated sample
    /// household, so that misspelt fields and wrong result types are caught
    /// when the rule is saved, not during a run over the registry.
    pub fn compile(source: &str, kind: RuleKind) -> Result<Rule, RuleError> {
        let source = source.trim();
        if source.is_empty() {
            return Err(RuleError::Empty);
        }
        let program = Program::compile(source)
            .map_err(|e| RuleError::Syntax(syntax_message(&e.to_string())))?;
        let parts = split_conjuncts(source);
        let mut conditions = Vec::new();
        if kind == RuleKind::Condition && parts.len() > 1 {
            for p in parts {
                let prog = Program::compile(&p)
                    .map_err(|e| RuleError::Syntax(syntax_message(&e.to_string())))?;
                conditions.push((p, prog));
            }
        }
        let rule = Rule {
            source: source.to_string(),
            kind,
            program,
            conditions,
        };
        let env = Env::new(&sample_standards());
        for facts in sample_households() {
            let scope = env.scope(&facts);
            let check = match kind {
                RuleKind::Condition => rule.eval_bool_in(&scope).map(|_| ()),
                RuleKind::Amount => rule.eval_amount_in(&scope).map(|_| ()),
            };
            match check {
                Ok(()) => {}
                Err(RuleError::Eval(m)) => return Err(RuleError::Check(m)),
                Err(e) => return Err(e),
            }
            for (text, prog) in &rule.conditions {
                if let Err(e) = prog.execute(&scope.ctx) {
                    return Err(RuleError::Check(format!(
                        "条件“{text}”：{}",
                        eval_message(&e.to_string())
                    )));
                }
            }
        }
        Ok(rule)
    }

    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, RuleError> {
        self.eval_bool_in(scope)
    }

    pub fn eval_amount(&self, scope: &Scope) -> Result<i64, RuleError> {
        self.eval_amount_in(scope)
    }

    fn eval_bool_in(&self, scope: &Scope) -> Result<bool, RuleError> {
        match self.program.execute(&scope.ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(RuleError::Type {
                expected: "条件规则应得到 true/false",
                got: type_name(&other),
            }),
            Err(e) => Err(RuleError::Eval(eval_message(&e.to_string()))),
        }
    }

    fn eval_amount_in(&self, scope: &Scope) -> Result<i64, RuleError> {
        match self.program.execute(&scope.ctx) {
            Ok(Value::Int(i)) => Ok(i),
            Ok(Value::UInt(u)) => {
                i64::try_from(u).map_err(|_| RuleError::Eval("金额超出范围".into()))
            }
            Ok(other) => Err(RuleError::Type {
                expected: "金额公式应得到整数（分）",
                got: type_name(&other),
            }),
            Err(e) => Err(RuleError::Eval(eval_message(&e.to_string()))),
        }
    }

    /// Each top-level condition and its outcome (the whole rule when it is
    /// not a conjunction), for the test panel and the finder's reasons.
    pub fn explain(&self, scope: &Scope) -> Vec<ConditionOutcome> {
        if self.conditions.is_empty() {
            return vec![ConditionOutcome {
                text: self.source.clone(),
                result: self.eval_bool_in(scope).map_err(|e| e.to_string()),
            }];
        }
        self.conditions
            .iter()
            .map(|(text, prog)| ConditionOutcome {
                text: text.clone(),
                result: match prog.execute(&scope.ctx) {
                    Ok(Value::Bool(b)) => Ok(b),
                    Ok(other) => Err(format!("不是 true/false，而是 {}", type_name(&other))),
                    Err(e) => Err(eval_message(&e.to_string())),
                },
            })
            .collect()
    }

    /// Each condition with its verdict in Chinese (a failed one says why,
    /// with the household's values) and a class for the page: `ok`, `fail`
    /// or `error`. The rule test panels show these.
    pub fn verdicts(&self, scope: &Scope) -> Vec<(String, String, &'static str)> {
        self.explain(scope)
            .into_iter()
            .map(|c| match c.result {
                Ok(true) => (c.text, "满足".to_string(), "ok"),
                Ok(false) => {
                    let why = describe::failed_condition(&c.text, scope, &|_| None);
                    (c.text, format!("不满足：{why}"), "fail")
                }
                Err(e) => (c.text, format!("无法计算：{e}"), "error"),
            })
            .collect()
    }

    /// The first condition that is not true on this household, if any.
    pub fn first_failed(&self, scope: &Scope) -> Option<ConditionOutcome> {
        self.explain(scope)
            .into_iter()
            .find(|c| c.result != Ok(true))
    }
}

/// The evaluation environment for one set of standards: the CEL built-in
/// functions and `std`. Households are evaluated in child scopes, so the
/// functions and standards are set up once per region, not per household.
pub struct Env {
    root: Context<'static>,
}

/// One household's variables on top of an [`Env`].
pub struct Scope<'a> {
    ctx: Context<'a>,
}

impl Scope<'_> {
    /// The value of an expression on this household (compiled on the spot:
    /// for explanations, not for runs).
    pub fn value_of(&self, expr: &str) -> Option<Value> {
        Program::compile(expr).ok()?.execute(&self.ctx).ok()
    }
}

impl Env {
    /// `standards` by key (the `standards` table's keys); exposed under
    /// their `std.` names.
    pub fn new(standards: &BTreeMap<String, i64>) -> Env {
        let mut root = Context::default();
        let mut std_map: HashMap<Key, Value> = HashMap::new();
        for (key, value) in standards {
            let name = standards::def(key)
                .map(|d| d.cel_name)
                .unwrap_or(key.as_str());
            std_map.insert(Key::String(Arc::new(name.to_string())), Value::Int(*value));
        }
        root.add_variable_from_value(
            "std",
            Value::Map(Map {
                map: Arc::new(std_map),
            }),
        );
        Env { root }
    }

    pub fn scope(&self, facts: &Facts) -> Scope<'_> {
        self.scope_prepared(&Prepared::new(facts))
    }

    /// A scope over variables built earlier (cheap: the values are shared).
    pub fn scope_prepared(&self, p: &Prepared) -> Scope<'_> {
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("hh", p.hh.clone());
        ctx.add_variable_from_value("members", p.members.clone());
        ctx.add_variable_from_value("calc", p.calc.clone());
        ctx.add_variable_from_value("feeds", p.feeds.clone());
        ctx.add_variable_from_value("today", p.today.clone());
        Scope { ctx }
    }
}

/// One household's CEL variables, built once. Building them is most of the
/// cost of evaluating a simple rule, so previews over the registry keep them
/// (values are reference-counted: a scope only clones pointers).
#[derive(Clone, Debug)]
pub struct Prepared {
    hh: Value,
    members: Value,
    calc: Value,
    feeds: Value,
    today: Value,
}

impl Prepared {
    pub fn new(facts: &Facts) -> Prepared {
        let calc: HashMap<Key, Value> = facts
            .calc
            .iter()
            .map(|(k, v)| (key(k), to_cel(v)))
            .collect();
        let feeds: HashMap<Key, Value> = facts
            .feeds
            .iter()
            .map(|(k, v)| (key(k), Value::Int(*v)))
            .collect();
        Prepared {
            hh: hh_value(&facts.hh),
            members: Value::List(Arc::new(facts.members.iter().map(member_value).collect())),
            calc: Value::Map(Map {
                map: Arc::new(calc),
            }),
            feeds: Value::Map(Map {
                map: Arc::new(feeds),
            }),
            today: Value::String(Arc::new(facts.today.clone())),
        }
    }
}

thread_local! {
    /// Field names and short code values repeat in every household: one
    /// shared copy per thread instead of an allocation per use (this halves
    /// the memory of a prepared registry).
    static INTERNED: std::cell::RefCell<HashMap<String, Arc<String>>> = std::cell::RefCell::new(HashMap::new());
}

fn intern(v: &str) -> Arc<String> {
    INTERNED.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(a) = m.get(v) {
            return a.clone();
        }
        let a = Arc::new(v.to_string());
        // Bounded: free text (illness names) is interned too, but a registry
        // has few distinct values; past this size new values are not kept.
        if m.len() < 10_000 {
            m.insert(v.to_string(), a.clone());
        }
        a
    })
}

fn key(k: &str) -> Key {
    Key::String(intern(k))
}

fn s(v: &str) -> Value {
    Value::String(intern(v))
}

fn strings(v: &[String]) -> Value {
    Value::List(Arc::new(v.iter().map(|x| s(x)).collect()))
}

/// Built field by field (not through serde): this runs once per household
/// in registry-wide runs.
fn hh_value(h: &facts::HouseholdFacts) -> Value {
    let fields: [(&str, Value); 18] = [
        ("size", Value::Int(h.size)),
        ("income_monthly", Value::Int(h.income_monthly)),
        ("per_capita_income", Value::Int(h.per_capita_income)),
        ("annual_income", Value::Int(h.annual_income)),
        ("assets_total", Value::Int(h.assets_total)),
        ("deposits", Value::Int(h.deposits)),
        ("houses", Value::Int(h.houses)),
        ("vehicles", Value::Int(h.vehicles)),
        ("business_assets", Value::Int(h.business_assets)),
        ("categories", strings(&h.categories)),
        ("receives", strings(&h.receives)),
        (
            "essential_spending_12m",
            Value::Int(h.essential_spending_12m),
        ),
        ("medical_selfpay_12m", Value::Int(h.medical_selfpay_12m)),
        ("separated", Value::Bool(h.separated)),
        ("town", s(&h.town)),
        ("village", s(&h.village)),
        ("working_age_able", Value::Int(h.working_age_able)),
        ("employed", Value::Int(h.employed)),
    ];
    let map: HashMap<Key, Value> = fields.into_iter().map(|(k, v)| (key(k), v)).collect();
    Value::Map(Map { map: Arc::new(map) })
}

fn member_value(m: &facts::MemberFacts) -> Value {
    let fields: [(&str, Value); 13] = [
        ("age", Value::Int(m.age)),
        ("sex", s(&m.sex)),
        ("relation", s(&m.relation)),
        ("disability", s(&m.disability)),
        ("disability_grade", Value::Int(m.disability_grade)),
        ("severe_disability", Value::Bool(m.severe_disability)),
        ("self_care", s(&m.self_care)),
        ("self_care_unable", Value::Int(m.self_care_unable)),
        ("employment", s(&m.employment)),
        ("schooling", s(&m.schooling)),
        ("ill", Value::Bool(m.ill)),
        ("illnesses", strings(&m.illnesses)),
        ("no_work_capacity", Value::Bool(m.no_work_capacity)),
    ];
    let map: HashMap<Key, Value> = fields.into_iter().map(|(k, v)| (key(k), v)).collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// JSON → CEL, keeping integers as `int` (CEL does not compare int with
/// uint, and every number in the model is a signed integer).
fn to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(to_cel).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Bool(_) => "布尔值",
        Value::Int(_) | Value::UInt(_) => "整数",
        Value::Float(_) => "小数（请用整数分计算）",
        Value::String(_) => "文字",
        Value::List(_) => "列表",
        Value::Map(_) => "映射",
        Value::Null => "空值",
        _ => "其他类型",
    }
    .to_string()
}

/// The parser's message, with its position kept and the noise removed.
fn syntax_message(raw: &str) -> String {
    raw.replace("ERROR: <input>:", "第 ")
        .lines()
        .next()
        .unwrap_or(raw)
        .replacen(": ", " 处：", 1)
}

/// Runtime errors in Chinese where we know the cause.
fn eval_message(raw: &str) -> String {
    if let Some(rest) = raw.strip_prefix("Undeclared reference to '") {
        let name = rest.trim_end_matches('\'');
        return format!("未知的变量 {name}（可用：hh、members、std、calc、feeds、today）");
    }
    if raw.starts_with("No such key") {
        return format!(
            "字段不存在：{}（见 docs/rules-model.md）",
            raw.trim_start_matches("No such key: ")
        );
    }
    if raw.starts_with("Unsupported binary operator") && raw.contains("Float") {
        return format!("不能用小数计算，请用整数（如 x * 15 / 10 代替 x * 1.5）：{raw}");
    }
    if raw.to_lowercase().contains("division by zero") || raw.contains("divide by zero") {
        return "除数为零".into();
    }
    raw.to_string()
}

/// Splits at top-level `&&` (outside parentheses, brackets and strings).
pub fn split_conjuncts(source: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            current.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            '&' if depth == 0 && chars.peek() == Some(&'&') => {
                chars.next();
                parts.push(current.trim().to_string());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Standards for checking rules when they are saved: every known key.
pub fn sample_standards() -> BTreeMap<String, i64> {
    standards::STANDARDS
        .iter()
        .map(|d| (d.key.to_string(), d.demo_default))
        .collect()
}

/// Households that exercise every field (members with and without
/// disability, an empty-income household, a single elder), so that rules
/// reading a misspelt field fail when saved.
pub fn sample_households() -> Vec<Facts> {
    use chrono::NaiveDate;
    let today = NaiveDate::from_ymd_opt(2026, 1, 15).expect("date");
    let std = sample_standards();
    let member = |y: i32, disability: &str, grade: u8, employment: &str| MemberInput {
        birth_date: NaiveDate::from_ymd_opt(y, 6, 1),
        sex: "female".into(),
        relation: "head".into(),
        disability: disability.into(),
        disability_grade: grade,
        illnesses: if grade > 0 {
            vec!["高血压".into()]
        } else {
            vec![]
        },
        self_care_unable: if grade > 0 { 0b1111 } else { 0 },
        employment: employment.into(),
        schooling: "graduated".into(),
        alive: true,
    };
    let family = HouseholdInput {
        village_code: "330106001001".into(),
        members: vec![
            member(1980, "", 0, "unemployed"),
            member(1982, "physical", 2, "no_capacity"),
            member(2012, "", 0, "student"),
        ],
        income_monthly_fen: 150_000,
        assets: vec![("deposit".into(), 1_000_000), ("house".into(), 50_000_000)],
        categories: vec!["dibao".into()],
        ledger_kinds: vec!["disability_living".into()],
        essential_spending_12m: 2_000_000,
        medical_selfpay_12m: 1_500_000,
        ..Default::default()
    };
    let elder = HouseholdInput {
        village_code: "330106101201".into(),
        members: vec![member(1940, "visual", 1, "no_capacity")],
        ..Default::default()
    };
    vec![
        Facts::build(&family, &std, today),
        Facts::build(&elder, &std, today),
    ]
}

#[cfg(test)]
mod tests;
