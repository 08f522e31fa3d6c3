//! The household model rules read (docs/rules-model.md), built from plain
//! inputs so that the store, the self-check and tests all produce the same
//! facts the same way.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use doudi_domain::person::{SelfCare, SelfCareLevel};

/// One member as recorded (the store maps its rows to this).
#[derive(Clone, Debug, Default)]
pub struct MemberInput {
    pub birth_date: Option<NaiveDate>,
    pub sex: String,
    pub relation: String,
    /// Disability type code, "" when none.
    pub disability: String,
    /// 1–4, 0 when none.
    pub disability_grade: u8,
    pub illnesses: Vec<String>,
    /// Bitmask of the 6 self-care items the member cannot do.
    pub self_care_unable: u8,
    pub employment: String,
    pub schooling: String,
    pub alive: bool,
}

/// One household as recorded, plus what it receives and the feed aggregates.
#[derive(Clone, Debug, Default)]
pub struct HouseholdInput {
    pub village_code: String,
    pub separated: bool,
    pub members: Vec<MemberInput>,
    pub income_monthly_fen: i64,
    pub assets: Vec<(String, i64)>,
    /// Category codes held now.
    pub categories: Vec<String>,
    /// Ledger kinds still running.
    pub ledger_kinds: Vec<String>,
    pub essential_spending_12m: i64,
    pub medical_selfpay_12m: i64,
    /// Medical assistance already paid this calendar year, fen.
    pub medical_assistance_paid_this_year: i64,
    /// Feed aggregates by name (`feeds.*`), zero when absent.
    pub feeds: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberFacts {
    pub age: i64,
    pub sex: String,
    pub relation: String,
    pub disability: String,
    pub disability_grade: i64,
    pub severe_disability: bool,
    pub self_care: String,
    pub self_care_unable: i64,
    pub employment: String,
    pub schooling: String,
    pub ill: bool,
    pub illnesses: Vec<String>,
    pub no_work_capacity: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HouseholdFacts {
    pub size: i64,
    pub income_monthly: i64,
    pub per_capita_income: i64,
    pub annual_income: i64,
    pub assets_total: i64,
    pub deposits: i64,
    pub houses: i64,
    pub vehicles: i64,
    pub business_assets: i64,
    pub categories: Vec<String>,
    pub receives: Vec<String>,
    pub essential_spending_12m: i64,
    pub medical_selfpay_12m: i64,
    pub separated: bool,
    pub town: String,
    pub village: String,
    pub working_age_able: i64,
    pub employed: i64,
}

/// Everything a rule can read about one household (besides `std`).
#[derive(Clone, Debug, Serialize)]
pub struct Facts {
    pub hh: HouseholdFacts,
    pub members: Vec<MemberFacts>,
    pub calc: BTreeMap<String, serde_json::Value>,
    pub feeds: BTreeMap<String, i64>,
    pub today: String,
}

/// Feed aggregate names always present in `feeds` (zero when no records).
pub const FEED_AGGREGATES: &[&str] = &[
    "medical_selfpay_12m",
    "deaths_90d",
    "unemployed_registered_90d",
    "new_severe_disability_90d",
    "vehicles_new_90d",
    "properties_12m",
    "business_12m",
    "utility_arrears",
    "dropouts_12m",
    "disaster_12m",
    "hukou_out_90d",
];

/// Every feed aggregate at zero (a household without records).
pub fn no_feeds() -> BTreeMap<String, i64> {
    FEED_AGGREGATES.iter().map(|k| (k.to_string(), 0)).collect()
}

/// One department feed record matched to a member of the household.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    pub kind: String,
    pub event_date: NaiveDate,
    pub amount_fen: Option<i64>,
    pub attributes: BTreeMap<String, String>,
}

/// The windows rules see, ending on `today` inclusive: "last N days" is
/// `(today − N days, today]`; "last 12 months" is `(today − 12 calendar
/// months, today]` (so 2026-02-28 looks back to 2025-02-28 exclusive, and
/// a leap day maps to the month's end). Records dated after `today` are
/// ignored (a feed cannot report the future).
pub fn feed_aggregates(events: &[FeedEvent], today: NaiveDate) -> BTreeMap<String, i64> {
    let days = |n: u64| today - chrono::Days::new(n);
    let year_ago = today
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(today);
    let in_days = |e: &FeedEvent, n: u64| e.event_date > days(n) && e.event_date <= today;
    let in_year = |e: &FeedEvent| e.event_date > year_ago && e.event_date <= today;
    fn attr<'a>(e: &'a FeedEvent, k: &str) -> &'a str {
        e.attributes.get(k).map(String::as_str).unwrap_or("")
    }
    let count =
        |pred: &dyn Fn(&FeedEvent) -> bool| events.iter().filter(|e| pred(e)).count() as i64;
    let mut out: BTreeMap<String, i64> =
        FEED_AGGREGATES.iter().map(|k| (k.to_string(), 0)).collect();
    out.insert(
        "medical_selfpay_12m".into(),
        events
            .iter()
            .filter(|e| e.kind == "medical" && in_year(e))
            .filter_map(|e| e.amount_fen)
            .sum(),
    );
    out.insert(
        "deaths_90d".into(),
        count(&|e| e.kind == "death" && in_days(e, 90)),
    );
    out.insert(
        "unemployed_registered_90d".into(),
        count(&|e| e.kind == "unemployment" && in_days(e, 90) && attr(e, "status") == "registered"),
    );
    out.insert(
        "new_severe_disability_90d".into(),
        count(&|e| {
            e.kind == "disability" && in_days(e, 90) && matches!(attr(e, "grade"), "1" | "2")
        }),
    );
    out.insert(
        "vehicles_new_90d".into(),
        count(&|e| e.kind == "vehicle" && in_days(e, 90)),
    );
    out.insert(
        "properties_12m".into(),
        count(&|e| e.kind == "property" && in_year(e)),
    );
    out.insert(
        "business_12m".into(),
        count(&|e| e.kind == "business" && in_year(e)),
    );
    // Arrears are a balance: the latest report counts, not the sum (two
    // reports on the same day: the larger, so the order rows arrive in
    // does not matter).
    let latest_arrears = events
        .iter()
        .filter(|e| e.kind == "utility" && in_year(e))
        .max_by_key(|e| (e.event_date, e.amount_fen.unwrap_or(0)))
        .and_then(|e| e.amount_fen)
        .unwrap_or(0);
    out.insert("utility_arrears".into(), latest_arrears);
    out.insert(
        "dropouts_12m".into(),
        count(&|e| e.kind == "education" && in_year(e) && attr(e, "status") == "dropped_out"),
    );
    out.insert(
        "disaster_12m".into(),
        count(&|e| e.kind == "disaster" && in_year(e)),
    );
    out.insert(
        "hukou_out_90d".into(),
        count(&|e| e.kind == "hukou" && in_days(e, 90) && attr(e, "change_type") == "move_out"),
    );
    out
}

impl HouseholdInput {
    /// Sets the feed aggregates and the spending figures derived from them.
    pub fn with_feeds(self, events: &[FeedEvent], today: NaiveDate) -> Self {
        self.with_aggregates(feed_aggregates(events, today))
    }

    /// Sets feed aggregates computed elsewhere (by the database, for a
    /// whole batch; they must equal [`feed_aggregates`] of the records).
    pub fn with_aggregates(mut self, aggs: BTreeMap<String, i64>) -> Self {
        self.medical_selfpay_12m = aggs.get("medical_selfpay_12m").copied().unwrap_or(0);
        self.essential_spending_12m = self.essential_spending_12m.max(self.medical_selfpay_12m);
        self.feeds = aggs;
        self
    }
}

fn age_on(birth: NaiveDate, today: NaiveDate) -> i64 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age as i64
}

/// 特困 "no work capacity" (特困人员认定办法 2021): age ≥ 60 or < 16,
/// intellectual/mental grade 1–3, physical grade 1–2, visual grade 1.
fn no_work_capacity(age: i64, disability: &str, grade: u8) -> bool {
    age >= 60
        || age < 16
        || (matches!(disability, "intellectual" | "mental") && (1..=3).contains(&grade))
        || (disability == "physical" && (1..=2).contains(&grade))
        || (disability == "visual" && grade == 1)
}

impl Facts {
    /// Builds the facts of `input` on `today`, with `standards` (by key) used
    /// for the built-in calculations. Missing standards leave the matching
    /// `calc` entries out (a rule reading them then fails visibly).
    pub fn build(
        input: &HouseholdInput,
        standards: &BTreeMap<String, i64>,
        today: NaiveDate,
    ) -> Facts {
        let members: Vec<MemberFacts> = input
            .members
            .iter()
            .filter(|m| m.alive)
            .map(|m| {
                let age = m.birth_date.map(|b| age_on(b, today)).unwrap_or(0);
                let care = SelfCare::from_bits(m.self_care_unable);
                MemberFacts {
                    age,
                    sex: m.sex.clone(),
                    relation: m.relation.clone(),
                    disability: m.disability.clone(),
                    disability_grade: m.disability_grade as i64,
                    severe_disability: (1..=2).contains(&m.disability_grade),
                    self_care: care_code(care.level()).to_string(),
                    self_care_unable: care.unable_count() as i64,
                    employment: m.employment.clone(),
                    schooling: m.schooling.clone(),
                    ill: !m.illnesses.is_empty(),
                    illnesses: m.illnesses.clone(),
                    no_work_capacity: no_work_capacity(age, &m.disability, m.disability_grade),
                }
            })
            .collect();
        let size = members.len() as i64;
        let per_capita =
            doudi_domain::benefits::per_capita_income(input.income_monthly_fen, size as u32);
        let sum = |kinds: &[&str]| -> i64 {
            input
                .assets
                .iter()
                .filter(|(k, _)| kinds.contains(&k.as_str()))
                .map(|(_, v)| *v)
                .sum()
        };
        let count = |kind: &str| input.assets.iter().filter(|(k, _)| k == kind).count() as i64;
        let mut receives: Vec<String> = input.categories.clone();
        for k in &input.ledger_kinds {
            if !receives.contains(k) {
                receives.push(k.clone());
            }
        }
        let hh = HouseholdFacts {
            size,
            income_monthly: input.income_monthly_fen,
            per_capita_income: per_capita,
            annual_income: input.income_monthly_fen * 12,
            assets_total: input.assets.iter().map(|(_, v)| *v).sum(),
            deposits: sum(&["deposit", "securities"]),
            houses: count("house"),
            vehicles: count("vehicle"),
            business_assets: sum(&["business"]),
            categories: input.categories.clone(),
            receives,
            essential_spending_12m: input.essential_spending_12m,
            medical_selfpay_12m: input.medical_selfpay_12m,
            separated: input.separated,
            town: input.village_code.chars().take(9).collect(),
            village: input.village_code.clone(),
            working_age_able: members
                .iter()
                .filter(|m| {
                    (16..60).contains(&m.age) && !m.severe_disability && m.self_care != "lost"
                })
                .count() as i64,
            employed: members
                .iter()
                .filter(|m| matches!(m.employment.as_str(), "employed" | "flexible" | "farming"))
                .count() as i64,
        };
        let calc = calculations(input, &hh, &members, standards);
        let mut feeds: BTreeMap<String, i64> =
            FEED_AGGREGATES.iter().map(|k| (k.to_string(), 0)).collect();
        for (k, v) in &input.feeds {
            feeds.insert(k.clone(), *v);
        }
        Facts {
            hh,
            members,
            calc,
            feeds,
            today: today.format("%Y-%m-%d").to_string(),
        }
    }
}

fn care_code(level: SelfCareLevel) -> &'static str {
    match level {
        SelfCareLevel::Full => "full",
        SelfCareLevel::Partial => "partial",
        SelfCareLevel::Lost => "lost",
    }
}

/// `calc.*`: the built-in formulas of domain-rules.md, in Rust.
fn calculations(
    input: &HouseholdInput,
    hh: &HouseholdFacts,
    members: &[MemberFacts],
    standards: &BTreeMap<String, i64>,
) -> BTreeMap<String, serde_json::Value> {
    use doudi_domain::benefits as b;
    let mut calc = BTreeMap::new();
    let head_care = members
        .first()
        .map(|m| m.self_care.clone())
        .unwrap_or_else(|| "full".into());
    calc.insert(
        "tekun_care_level".into(),
        serde_json::Value::from(head_care),
    );
    if let Some(&standard) = standards.get("dibao_standard") {
        calc.insert(
            "dibao_amount".into(),
            b::dibao_amount(standard, hh.per_capita_income, hh.size as u32).into(),
        );
        if let (Some(&severe), Some(&other)) = (
            standards.get("disability_severe_pct"),
            standards.get("disability_other_pct"),
        ) {
            let total: i64 = members
                .iter()
                .filter(|m| m.disability_grade > 0)
                .map(|m| {
                    b::disability_subsidy(
                        standard,
                        Some(m.disability_grade as u8),
                        pct(severe),
                        pct(other),
                    )
                })
                .sum();
            calc.insert("disability_subsidy".into(), total.into());
        }
    }
    if let (Some(&ratio), Some(&cap)) = (
        standards.get("medical_ratio_pct"),
        standards.get("medical_annual_cap"),
    ) {
        calc.insert(
            "medical_assistance".into(),
            b::medical_assistance(
                input.medical_selfpay_12m,
                pct(ratio),
                cap,
                input.medical_assistance_paid_this_year,
            )
            .into(),
        );
    }
    calc
}

/// Percent standards are stored as integers; negative values cannot be saved
/// (validated at entry), so clamping here only guards the conversion.
fn pct(v: i64) -> u32 {
    v.clamp(0, u32::MAX as i64) as u32
}
