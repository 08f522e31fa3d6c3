//! The standards a rule can read as `std.*`: their keys, labels, units and the
//! demo defaults, and how the value in force for one region on one date is
//! chosen from dated rows.

use std::collections::BTreeMap;

/// How a standard's integer value is to be read and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Integer fen (shown as yuan with 2 decimals).
    Fen,
    /// Integer percent (150 = 150 %).
    Percent,
    /// A plain count (days …).
    Count,
}

/// One standard known to the system.
#[derive(Clone, Copy, Debug)]
pub struct StandardDef {
    /// Key in the `standards` table.
    pub key: &'static str,
    /// Name under `std.` in rules.
    pub cel_name: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    /// The demo district's value (domain-rules.md); shipped as data rows in
    /// the demo, never read as a fallback at run time.
    pub demo_default: i64,
}

/// Every standard, in the order administrators see them.
pub const STANDARDS: &[StandardDef] = &[
    StandardDef {
        key: "dibao_standard",
        cel_name: "dibao",
        label: "低保标准（元/人·月）",
        unit: Unit::Fen,
        demo_default: 100_000,
    },
    StandardDef {
        key: "tekun_standard",
        cel_name: "tekun",
        label: "特困基本生活标准（元/人·月）",
        unit: Unit::Fen,
        demo_default: 130_000,
    },
    StandardDef {
        key: "dibian_multiplier_pct",
        cel_name: "dibian_multiplier_pct",
        label: "低保边缘收入线（低保标准的 %）",
        unit: Unit::Percent,
        demo_default: 150,
    },
    StandardDef {
        key: "disability_severe_pct",
        cel_name: "disability_severe_pct",
        label: "重度残疾人生活补贴（低保标准的 %，30–40）",
        unit: Unit::Percent,
        demo_default: 35,
    },
    StandardDef {
        key: "disability_other_pct",
        cel_name: "disability_other_pct",
        label: "非重度残疾人生活补贴（低保标准的 %，10–30）",
        unit: Unit::Percent,
        demo_default: 20,
    },
    StandardDef {
        key: "medical_ratio_pct",
        cel_name: "medical_ratio_pct",
        label: "支出型医疗救助比例（目录内自付的 %，40–60）",
        unit: Unit::Percent,
        demo_default: 50,
    },
    StandardDef {
        key: "medical_annual_cap",
        cel_name: "medical_annual_cap",
        label: "医疗救助年度封顶（元/人）",
        unit: Unit::Fen,
        demo_default: 5_000_000,
    },
    StandardDef {
        key: "charity_cap",
        cel_name: "charity_cap",
        label: "慈善救助上限（元/人）",
        unit: Unit::Fen,
        demo_default: 500_000,
    },
    StandardDef {
        key: "town_temp_aid_limit",
        cel_name: "town_temp_aid_limit",
        label: "乡镇临时救助审批限额（元）",
        unit: Unit::Fen,
        demo_default: 300_000,
    },
    StandardDef {
        key: "disposable_income_last_year",
        cel_name: "disposable_income_last_year",
        label: "上年度人均可支配收入（元/年）",
        unit: Unit::Fen,
        demo_default: 7_800_000,
    },
    StandardDef {
        key: "rigid_spending_share_pct",
        cel_name: "rigid_spending_share_pct",
        label: "刚性支出占家庭收入比例（%）",
        unit: Unit::Percent,
        demo_default: 50,
    },
    StandardDef {
        key: "asset_limit_per_person",
        cel_name: "asset_limit_per_person",
        label: "人均财产限额（元）",
        unit: Unit::Fen,
        demo_default: 4_800_000,
    },
    StandardDef {
        key: "nursing_home_gov_pct",
        cel_name: "nursing_home_gov_pct",
        label: "养老机构入住政府承担比例（%）",
        unit: Unit::Percent,
        demo_default: 80,
    },
    StandardDef {
        key: "tekun_care_partial_pct",
        cel_name: "tekun_care_partial_pct",
        label: "特困照料护理（部分丧失自理，基本标准的 %）",
        unit: Unit::Percent,
        demo_default: 30,
    },
    StandardDef {
        key: "tekun_care_lost_pct",
        cel_name: "tekun_care_lost_pct",
        label: "特困照料护理（完全丧失自理，基本标准的 %）",
        unit: Unit::Percent,
        demo_default: 60,
    },
    StandardDef {
        key: "referral_days",
        cel_name: "referral_days",
        label: "转介答复时限（工作日）",
        unit: Unit::Count,
        demo_default: 5,
    },
    StandardDef {
        key: "grading_reassess_months",
        cel_name: "grading_reassess_months",
        label: "三色评估复评周期（月）",
        unit: Unit::Count,
        demo_default: 12,
    },
];

pub fn def(key: &str) -> Option<&'static StandardDef> {
    STANDARDS.iter().find(|d| d.key == key)
}

/// One dated value of one standard for one region, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandardRow {
    pub region_code: String,
    pub key: String,
    pub value: i64,
    /// `YYYY-MM-DD`
    pub effective_from: String,
}

/// The standards in force for one place on one date, by key.
pub type StandardValues = BTreeMap<String, i64>;

/// The values in force on `date` for a place with division code `region`
/// (usually a 12-digit village code). A row applies when its region code is a
/// prefix of `region` (`330106` = the district, `330106001` = a town); for each
/// key the longest matching prefix wins, then the latest effective date not
/// after `date`. A key no row sets is absent, and a rule reading it fails for
/// that household with a clear error (no silent zero).
pub fn in_force(rows: &[StandardRow], region: &str, date: &str) -> StandardValues {
    let mut best: BTreeMap<&str, (usize, &str, i64)> = BTreeMap::new();
    for r in rows {
        if r.effective_from.as_str() > date || !region.starts_with(r.region_code.as_str()) {
            continue;
        }
        let rank = r.region_code.len();
        match best.get(r.key.as_str()) {
            Some(&(b_rank, b_from, _))
                if b_rank > rank || (b_rank == rank && b_from > r.effective_from.as_str()) => {}
            _ => {
                best.insert(r.key.as_str(), (rank, r.effective_from.as_str(), r.value));
            }
        }
    }
    best.into_iter()
        .map(|(k, (_, _, v))| (k.to_string(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(region: &str, key: &str, value: i64, from: &str) -> StandardRow {
        StandardRow {
            region_code: region.into(),
            key: key.into(),
            value,
            effective_from: from.into(),
        }
    }

    #[test]
    fn latest_effective_row_on_or_before_the_date_wins() {
        let rows = vec![
            row("330106", "dibao_standard", 100_000, "2025-01-01"),
            row("330106", "dibao_standard", 110_000, "2026-07-01"),
        ];
        let v = "330106001001";
        assert_eq!(in_force(&rows, v, "2026-06-30")["dibao_standard"], 100_000);
        assert_eq!(in_force(&rows, v, "2026-07-01")["dibao_standard"], 110_000);
        assert!(in_force(&rows, v, "2024-12-31").is_empty());
    }

    #[test]
    fn a_more_specific_region_overrides_the_district() {
        let rows = vec![
            row("330106", "town_temp_aid_limit", 300_000, "2025-01-01"),
            row("330106001", "town_temp_aid_limit", 500_000, "2025-06-01"),
        ];
        let v = "330106001001";
        assert_eq!(
            in_force(&rows, v, "2025-05-31")["town_temp_aid_limit"],
            300_000
        );
        assert_eq!(
            in_force(&rows, v, "2025-06-01")["town_temp_aid_limit"],
            500_000
        );
        assert_eq!(
            in_force(&rows, "330106002001", "2025-06-01")["town_temp_aid_limit"],
            300_000
        );
    }

    #[test]
    fn every_standard_key_is_unique() {
        for (i, a) in STANDARDS.iter().enumerate() {
            for b in &STANDARDS[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.cel_name, b.cel_name);
            }
        }
    }
}
