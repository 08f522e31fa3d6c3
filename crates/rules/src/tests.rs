use super::*;
use crate::finder::{CompiledPolicy, FindingKind, check_household};
use chrono::NaiveDate;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
}

fn adult(year: i32) -> MemberInput {
    MemberInput {
        birth_date: NaiveDate::from_ymd_opt(year, 1, 1),
        sex: "male".into(),
        relation: "head".into(),
        employment: "unemployed".into(),
        schooling: "graduated".into(),
        alive: true,
        ..Default::default()
    }
}

fn household(income: i64, members: Vec<MemberInput>, categories: &[&str]) -> HouseholdInput {
    HouseholdInput {
        village_code: "330106001001".into(),
        members,
        income_monthly_fen: income,
        categories: categories.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

const DIBAO: &str = "hh.size > 0 && hh.per_capita_income < std.dibao && hh.vehicles == 0";

#[test]
fn a_valid_rule_compiles_and_evaluates() {
    let rule = Rule::compile(DIBAO, RuleKind::Condition).unwrap();
    let std = sample_standards();
    let env = Env::new(&std);
    // 3 people, 2,400.00 yuan a month: 800.00 per person, below 1,000.00.
    let poor = Facts::build(
        &household(240_000, vec![adult(1980), adult(1982), adult(2010)], &[]),
        &std,
        today(),
    );
    assert!(rule.eval_bool(&env.scope(&poor)).unwrap());
    // Exactly at the standard is not below it.
    let at = Facts::build(
        &household(300_000, vec![adult(1980), adult(1982), adult(2010)], &[]),
        &std,
        today(),
    );
    assert!(!rule.eval_bool(&env.scope(&at)).unwrap());
}

#[test]
fn syntax_errors_are_rejected_with_a_position() {
    let err = Rule::compile("hh.size > && true", RuleKind::Condition).unwrap_err();
    assert!(matches!(err, RuleError::Syntax(_)), "{err:?}");
    assert!(err.to_string().starts_with("语法错误"), "{err}");
    assert_eq!(
        Rule::compile("   ", RuleKind::Condition).unwrap_err(),
        RuleError::Empty
    );
}

#[test]
fn misspelt_fields_and_variables_are_rejected_when_saved() {
    let err = Rule::compile("hh.per_capita_incom < std.dibao", RuleKind::Condition).unwrap_err();
    assert!(matches!(err, RuleError::Check(_)), "{err:?}");
    let err = Rule::compile("household.size > 0", RuleKind::Condition).unwrap_err();
    assert!(err.to_string().contains("household"), "{err}");
    // A misspelt field in the second condition is caught too.
    let err = Rule::compile("hh.size > 0 && std.dibaoo > 0", RuleKind::Condition).unwrap_err();
    assert!(matches!(err, RuleError::Check(_)), "{err:?}");
}

#[test]
fn wrong_result_types_are_rejected() {
    let err = Rule::compile("hh.size", RuleKind::Condition).unwrap_err();
    assert!(matches!(err, RuleError::Type { .. }), "{err:?}");
    let err = Rule::compile("hh.size > 1", RuleKind::Amount).unwrap_err();
    assert!(matches!(err, RuleError::Type { .. }), "{err:?}");
    let err = Rule::compile("std.dibao * 1.5", RuleKind::Amount).unwrap_err();
    assert!(err.to_string().contains("小数"), "{err}");
    assert!(
        Rule::compile(
            "std.dibao * std.dibian_multiplier_pct / 100",
            RuleKind::Amount
        )
        .is_ok()
    );
}

#[test]
fn explain_names_the_failed_condition() {
    let rule = Rule::compile(DIBAO, RuleKind::Condition).unwrap();
    let std = sample_standards();
    let env = Env::new(&std);
    let mut input = household(50_000, vec![adult(1980)], &[]);
    input.assets.push(("vehicle".into(), 8_000_000));
    let facts = Facts::build(&input, &std, today());
    let scope = env.scope(&facts);
    let outcomes = rule.explain(&scope);
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].result, Ok(true));
    assert_eq!(outcomes[2].result, Ok(false));
    assert_eq!(rule.first_failed(&scope).unwrap().text, "hh.vehicles == 0");
}

#[test]
fn an_error_on_one_household_is_an_error_for_that_household_only() {
    // Division by the number of employed members: fine for the samples
    // (which have none employed? then it would fail on save) — use a
    // rule that only divides when someone is employed.
    let rule = Rule::compile(
        "hh.employed == 0 || hh.income_monthly / (hh.employed - 1) > 0",
        RuleKind::Condition,
    )
    .unwrap();
    let std = sample_standards();
    let env = Env::new(&std);
    let mut one = adult(1980);
    one.employment = "employed".into();
    let facts = Facts::build(&household(100_000, vec![one], &[]), &std, today());
    assert!(matches!(
        rule.eval_bool(&env.scope(&facts)),
        Err(RuleError::Eval(_))
    ));
    let fine = Facts::build(&household(100_000, vec![adult(1980)], &[]), &std, today());
    assert!(rule.eval_bool(&env.scope(&fine)).unwrap());
}

#[test]
fn conjuncts_split_only_at_top_level() {
    assert_eq!(split_conjuncts("a && b"), vec!["a", "b"]);
    assert_eq!(split_conjuncts("(a && b) || c"), vec!["(a && b) || c"]);
    assert_eq!(
        split_conjuncts("members.exists(m, m.age > 60 && m.ill) && 'a&&b' != hh.town"),
        vec![
            "members.exists(m, m.age > 60 && m.ill)",
            "'a&&b' != hh.town"
        ]
    );
}

#[test]
fn macros_and_lists_work_over_members() {
    let rule = Rule::compile(
        "members.exists(m, m.age >= 60) && members.filter(m, m.severe_disability).size() == 1 && 'dibao' in hh.categories",
        RuleKind::Condition,
    )
    .unwrap();
    let std = sample_standards();
    let env = Env::new(&std);
    let mut disabled = adult(1950);
    disabled.disability = "physical".into();
    disabled.disability_grade = 1;
    let facts = Facts::build(
        &household(0, vec![disabled, adult(1990)], &["dibao"]),
        &std,
        today(),
    );
    assert!(rule.eval_bool(&env.scope(&facts)).unwrap());
    assert!(facts.members[0].no_work_capacity);
    assert!(!facts.members[1].no_work_capacity);
}

#[test]
fn deceased_members_are_not_counted() {
    let std = sample_standards();
    let mut gone = adult(1940);
    gone.alive = false;
    let facts = Facts::build(
        &household(100_000, vec![adult(1980), gone], &[]),
        &std,
        today(),
    );
    assert_eq!(facts.hh.size, 1);
    assert_eq!(facts.hh.per_capita_income, 100_000);
}

#[test]
fn ages_turn_on_the_birthday() {
    let std = sample_standards();
    let mut m = adult(1966);
    m.birth_date = NaiveDate::from_ymd_opt(1966, 3, 1);
    let on = Facts::build(&household(0, vec![m.clone()], &[]), &std, today());
    assert_eq!(on.members[0].age, 60);
    m.birth_date = NaiveDate::from_ymd_opt(1966, 3, 2);
    let before = Facts::build(&household(0, vec![m], &[]), &std, today());
    assert_eq!(before.members[0].age, 59);
}

fn policy(id: i64, key: &str, rule: &str, excludes: &[&str]) -> CompiledPolicy {
    CompiledPolicy {
        id,
        code: key.into(),
        name: key.into(),
        receipt_key: key.into(),
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
        eligibility: Rule::compile(rule, RuleKind::Condition).unwrap(),
        amount: Some(Rule::compile("calc.dibao_amount", RuleKind::Amount).unwrap()),
    }
}

#[test]
fn finder_reports_missed_excessive_and_duplicate() {
    let std = sample_standards();
    let env = Env::new(&std);
    let policies = vec![
        policy(1, "dibao", DIBAO, &["tekun"]),
        policy(
            2,
            "tekun",
            "hh.size == 1 && members.all(m, m.no_work_capacity)",
            &["dibao"],
        ),
    ];
    // Missed: 2 people, 600.00 yuan a month in all → 300.00 per person;
    // (1,000.00 − 300.00) × 2 = 1,400.00 a month.
    let missed = Facts::build(
        &household(60_000, vec![adult(1980), adult(1985)], &[]),
        &std,
        today(),
    );
    let f = check_household(&policies, &env.scope(&missed), &missed.hh.receives);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Missed);
    assert_eq!(f[0].amount_fen, Some(140_000));
    // Excessive: receives 低保 with 2,000.00 per person.
    let rich = Facts::build(
        &household(400_000, vec![adult(1980), adult(1985)], &["dibao"]),
        &std,
        today(),
    );
    let f = check_household(&policies, &env.scope(&rich), &rich.hh.receives);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Excessive);
    assert!(
        f[0].reason
            .starts_with("家庭人均月收入 2,000.00 元，不低于低保标准"),
        "{}",
        f[0].reason
    );
    // Duplicate: an elder alone holding both, reported once.
    let both = Facts::build(
        &household(0, vec![adult(1940)], &["dibao", "tekun"]),
        &std,
        today(),
    );
    let f = check_household(&policies, &env.scope(&both), &both.hh.receives);
    let dups: Vec<_> = f
        .iter()
        .filter(|x| x.kind == FindingKind::Duplicate)
        .collect();
    assert_eq!(dups.len(), 1, "{f:?}");
}

#[test]
fn finder_reports_an_erroring_rule_and_goes_on() {
    let std = sample_standards();
    let env = Env::new(&std);
    let bad = CompiledPolicy {
        eligibility: Rule::compile(
            "hh.employed == 0 || hh.income_monthly / (hh.employed - 1) > 0",
            RuleKind::Condition,
        )
        .unwrap(),
        ..policy(7, "odd", "true", &[])
    };
    let policies = vec![bad, policy(1, "dibao", DIBAO, &[])];
    let mut one = adult(1980);
    one.employment = "employed".into();
    let facts = Facts::build(&household(0, vec![one], &[]), &std, today());
    let f = check_household(&policies, &env.scope(&facts), &facts.hh.receives);
    assert_eq!(
        f.iter().find(|x| x.policy_id == 7).unwrap().kind,
        FindingKind::Error
    );
    assert_eq!(
        f.iter().find(|x| x.policy_id == 1).unwrap().kind,
        FindingKind::Missed
    );
}

#[test]
fn a_missing_standard_fails_visibly() {
    let rule = Rule::compile("hh.per_capita_income < std.dibao", RuleKind::Condition).unwrap();
    let env = Env::new(&BTreeMap::new());
    let facts = Facts::build(
        &household(0, vec![adult(1980)], &[]),
        &BTreeMap::new(),
        today(),
    );
    assert!(rule.eval_bool(&env.scope(&facts)).is_err());
}

#[test]
fn the_demo_catalogue_is_complete_and_every_rule_compiles() {
    let c = catalogue::Catalogue::demo();
    assert_eq!(c.families.len(), 15);
    assert!(c.policies.len() >= 30);
    let mut departments: Vec<&str> = c.policies.iter().map(|p| p.department.as_str()).collect();
    departments.sort();
    departments.dedup();
    assert!(departments.len() >= 13, "{departments:?}");
    for p in &c.policies {
        Rule::compile(&p.eligibility, RuleKind::Condition)
            .unwrap_or_else(|e| panic!("{}: {e}", p.code));
        if !p.amount.is_empty() {
            Rule::compile(&p.amount, RuleKind::Amount)
                .unwrap_or_else(|e| panic!("{} amount: {e}", p.code));
        }
        assert!(c.families.iter().any(|f| f.code == p.family), "{}", p.code);
    }
    for (code, _) in catalogue::SITUATIONS {
        assert!(
            c.policies
                .iter()
                .filter(|p| p.situations.iter().any(|s| s == code))
                .count()
                >= 2,
            "{code}"
        );
    }
}

fn event(
    kind: &str,
    date: (i32, u32, u32),
    amount: i64,
    attrs: &[(&str, &str)],
) -> facts::FeedEvent {
    facts::FeedEvent {
        kind: kind.into(),
        event_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
        amount_fen: Some(amount),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn twelve_month_windows_cross_the_year_boundary() {
    let events = vec![
        event("medical", (2025, 1, 15), 1_000_000, &[]), // exactly 12 months before: outside
        event("medical", (2025, 1, 16), 2_000_000, &[]), // inside
        event("medical", (2025, 12, 31), 300_000, &[]),  // inside, across the year end
        event("medical", (2026, 1, 15), 50_000, &[]),    // today: inside
        event("medical", (2026, 1, 16), 70_000, &[]),    // future: ignored
    ];
    let a = facts::feed_aggregates(&events, NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
    assert_eq!(a["medical_selfpay_12m"], 2_350_000);
}

#[test]
fn day_windows_cross_month_ends_and_leap_days() {
    // 90 days back from 2024-03-31 (leap year) is 2024-01-01: excluded; 01-02 included.
    let today = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
    let events = vec![
        event("death", (2024, 1, 1), 0, &[]),
        event("death", (2024, 1, 2), 0, &[]),
        event(
            "unemployment",
            (2024, 2, 29),
            0,
            &[("status", "registered")],
        ),
        event("unemployment", (2024, 3, 1), 0, &[("status", "cancelled")]),
        event("disability", (2024, 3, 31), 0, &[("grade", "2")]),
        event("disability", (2024, 3, 30), 0, &[("grade", "3")]),
    ];
    let a = facts::feed_aggregates(&events, today);
    assert_eq!(a["deaths_90d"], 1);
    assert_eq!(a["unemployed_registered_90d"], 1);
    assert_eq!(a["new_severe_disability_90d"], 1);
    // A 12-month window ending on a leap day starts after 2023-02-28.
    let leap = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let b = facts::feed_aggregates(
        &[
            event("medical", (2023, 2, 28), 5, &[]),
            event("medical", (2023, 3, 1), 7, &[]),
        ],
        leap,
    );
    assert_eq!(b["medical_selfpay_12m"], 7);
}

#[test]
fn utility_arrears_take_the_latest_balance() {
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let events = vec![
        event("utility", (2026, 3, 1), 80_000, &[]),
        event("utility", (2026, 5, 1), 20_000, &[]),
    ];
    assert_eq!(
        facts::feed_aggregates(&events, today)["utility_arrears"],
        20_000
    );
}

#[test]
fn every_documented_household_field_reaches_the_rules() {
    // The direct CEL conversion must carry the same fields as the serde
    // view of the facts (the documented model).
    let std = sample_standards();
    let env = Env::new(&std);
    let facts = &sample_households()[0];
    let json = serde_json::to_value(&facts.hh).unwrap();
    for field in json.as_object().unwrap().keys() {
        let rule = format!("has(hh.{field})");
        let p = cel::Program::compile(&rule).unwrap();
        assert_eq!(
            p.execute(&env.scope(facts).ctx).unwrap(),
            cel::Value::Bool(true),
            "hh.{field}"
        );
    }
    let json = serde_json::to_value(&facts.members[0]).unwrap();
    for field in json.as_object().unwrap().keys() {
        let rule = format!("has(members[0].{field})");
        let p = cel::Program::compile(&rule).unwrap();
        assert_eq!(
            p.execute(&env.scope(facts).ctx).unwrap(),
            cel::Value::Bool(true),
            "members[0].{field}"
        );
    }
}

#[test]
fn receiving_an_excluding_benefit_is_not_a_missed_one() {
    let std = sample_standards();
    let env = Env::new(&std);
    let policies = vec![
        policy(1, "dibao", DIBAO, &["tekun"]),
        policy(
            2,
            "tekun",
            "hh.size == 1 && members.all(m, m.no_work_capacity)",
            &["dibao"],
        ),
    ];
    // An elder alone on 特困 also passes the 低保 rule: not "missed 低保".
    let elder = Facts::build(&household(0, vec![adult(1940)], &["tekun"]), &std, today());
    let f = check_household(&policies, &env.scope(&elder), &elder.hh.receives);
    assert!(f.is_empty(), "{f:?}");
}
