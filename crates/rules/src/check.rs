//! 核对: what a household declared, line by line, against what the
//! departments reported. A pure function so that the report page, a PDF and
//! a test all see the same comparison.

use chrono::NaiveDate;
use doudi_domain::Money;

use crate::facts::{FeedEvent, HouseholdInput, feed_aggregates};

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckLine {
    /// What is compared, in Chinese with its unit.
    pub item: &'static str,
    /// The declared figure as shown ("1", "2,000.00"), "—" when not declared.
    pub declared: String,
    /// The departments' figure as shown.
    pub department: String,
    /// Whether the two disagree (a line that is not compared never differs).
    pub differs: bool,
    /// Whether the line is compared at all.
    pub compared: bool,
    /// The feed kinds whose records stand behind the department figure.
    pub feed_kind: &'static str,
}

/// The comparison. Counts compare both ways: a declared house the registry
/// does not know is as much a difference as an undeclared one, since either
/// means the file or the feed is wrong and someone must look.
pub fn check_report(
    input: &HouseholdInput,
    events: &[FeedEvent],
    today: NaiveDate,
) -> Vec<CheckLine> {
    let aggs = feed_aggregates(events, today);
    let count = |kind: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.event_date <= today)
            .count()
    };
    let declared_assets = |kind: &str| input.assets.iter().filter(|(k, _)| k == kind).count();
    let counted = |item, declared: usize, kind: &'static str, department: usize| CheckLine {
        item,
        declared: declared.to_string(),
        department: department.to_string(),
        differs: declared != department,
        compared: true,
        feed_kind: kind,
    };
    let mut lines = vec![
        counted(
            "房产（套）",
            declared_assets("house"),
            "property",
            count("property"),
        ),
        counted(
            "车辆（辆）",
            declared_assets("vehicle"),
            "vehicle",
            count("vehicle"),
        ),
        counted(
            "经营主体（个）",
            declared_assets("business"),
            "business",
            count("business"),
        ),
    ];
    // A housing-fund deposit of X a month implies a wage of at least X
    // (deposits are a share of wages), so only a deposit above all declared
    // income is a difference; a lower one is expected.
    let fund: i64 = events
        .iter()
        .filter(|e| e.kind == "housing_fund" && e.event_date <= today)
        .filter_map(|e| e.amount_fen)
        .max()
        .unwrap_or(0);
    lines.push(CheckLine {
        item: "月收入（元）/ 公积金月缴存（元）",
        declared: Money::from_fen(input.income_monthly_fen).to_string(),
        department: Money::from_fen(fund).to_string(),
        differs: fund > input.income_monthly_fen,
        compared: true,
        feed_kind: "housing_fund",
    });
    // Medical self-pay is not declared in the household file: shown so the
    // case worker sees it, not compared.
    lines.push(CheckLine {
        item: "近12个月医疗自付（元）",
        declared: "—".into(),
        department: Money::from_fen(aggs["medical_selfpay_12m"]).to_string(),
        differs: false,
        compared: false,
        feed_kind: "medical",
    });
    let recorded_deaths = input.members.iter().filter(|m| !m.alive).count();
    lines.push(counted(
        "死亡注销（人）",
        recorded_deaths,
        "death",
        count("death"),
    ));
    let disabled = input
        .members
        .iter()
        .filter(|m| m.disability_grade > 0)
        .count();
    lines.push(counted(
        "持残疾证（人）",
        disabled,
        "disability",
        count("disability"),
    ));
    let unemployed = input
        .members
        .iter()
        .filter(|m| m.alive && m.employment == "unemployed")
        .count();
    lines.push(counted(
        "失业登记（人，近90天）",
        unemployed,
        "unemployment",
        aggs["unemployed_registered_90d"] as usize,
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::MemberInput;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn member(employment: &str) -> MemberInput {
        MemberInput {
            birth_date: Some(day("1980-01-01")),
            sex: "male".into(),
            relation: "head".into(),
            disability: String::new(),
            disability_grade: 0,
            illnesses: vec![],
            self_care_unable: 0,
            employment: employment.into(),
            schooling: String::new(),
            alive: true,
        }
    }

    fn event(kind: &str, date: &str, amount: Option<i64>, attrs: &[(&str, &str)]) -> FeedEvent {
        FeedEvent {
            kind: kind.into(),
            event_date: day(date),
            amount_fen: amount,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn line<'a>(lines: &'a [CheckLine], item: &str) -> &'a CheckLine {
        lines.iter().find(|l| l.item.starts_with(item)).unwrap()
    }

    #[test]
    fn a_declared_house_the_registry_does_not_know_is_a_difference() {
        let input = HouseholdInput {
            members: vec![member("unemployed")],
            assets: vec![("house".into(), 20_000_000)],
            ..Default::default()
        };
        let lines = check_report(&input, &[], day("2026-12-01"));
        let house = line(&lines, "房产");
        assert_eq!(
            (house.declared.as_str(), house.department.as_str()),
            ("1", "0")
        );
        assert!(house.differs);
        let unemployed = line(&lines, "失业登记");
        assert_eq!(
            (unemployed.declared.as_str(), unemployed.department.as_str()),
            ("1", "0")
        );
        assert!(unemployed.differs);
        assert!(
            !line(&lines, "车辆").differs,
            "0 declared, 0 reported agree"
        );
    }

    #[test]
    fn matching_figures_agree_and_the_feed_kind_is_named() {
        let input = HouseholdInput {
            members: vec![member("unemployed")],
            assets: vec![("vehicle".into(), 3_000_000)],
            income_monthly_fen: 200_000,
            ..Default::default()
        };
        let events = [
            event("vehicle", "2026-03-01", None, &[]),
            event(
                "unemployment",
                "2026-11-01",
                None,
                &[("status", "registered")],
            ),
            event("housing_fund", "2026-11-01", Some(150_000), &[]),
        ];
        let lines = check_report(&input, &events, day("2026-12-01"));
        assert!(lines.iter().all(|l| !l.differs), "{lines:?}");
        assert_eq!(line(&lines, "车辆").feed_kind, "vehicle");
        assert_eq!(line(&lines, "月收入").department, "1,500.00");
    }

    #[test]
    fn a_housing_fund_deposit_above_declared_income_differs() {
        let input = HouseholdInput {
            members: vec![member("employed")],
            income_monthly_fen: 100_000,
            ..Default::default()
        };
        let events = [event("housing_fund", "2026-11-01", Some(150_000), &[])];
        let lines = check_report(&input, &events, day("2026-12-01"));
        assert!(line(&lines, "月收入").differs);
        assert!(!line(&lines, "近12个月医疗").compared);
    }
}
