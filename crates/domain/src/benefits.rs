//! Benefit formulas (domain-rules.md: 低保, 特困, other benefit rules).
//!
//! Pure functions over integer fen (`i64`, 1 yuan = 100 fen) and integer
//! percentages (`50` = 50 %). No floating point anywhere. Every local number
//! (standards, percentages, caps) is a parameter: callers pass the values in
//! force for the region and date; nothing here hard-codes a default.
//!
//! Rounding: wherever a division is needed the result is rounded to the
//! nearest fen, ties away from zero (四舍五入; for the non-negative amounts
//! that occur in practice this is "half up": 0.5 fen → 1 fen). Intermediates
//! are computed in `i128` and results saturate at the `i64` range, so no
//! input can overflow or panic.

use crate::person::{SelfCare, SelfCareLevel, disability_is_severe};

/// `num / den` rounded to the nearest integer, ties away from zero.
/// `den` must be positive.
fn div_round(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `amount_fen × pct / 100`, rounded to the fen, ties away from zero
/// (half up for non-negative amounts).
pub fn pct_of(amount_fen: i64, pct: u32) -> i64 {
    saturate(div_round(amount_fen as i128 * pct as i128, 100))
}

/// `amount_fen × permille / 1000`, rounded to the fen, ties away from zero
/// (half up for non-negative amounts). For rates with one decimal, e.g.
/// 12.5 % = 125 ‰.
pub fn pct_of_permille(amount_fen: i64, permille: u32) -> i64 {
    saturate(div_round(amount_fen as i128 * permille as i128, 1000))
}

/// Verified per-capita monthly income: `total_monthly_fen / members`, rounded
/// to the fen, ties away from zero (half up for non-negative totals).
/// 0 members → 0.
pub fn per_capita_income(total_monthly_fen: i64, members: u32) -> i64 {
    if members == 0 {
        return 0;
    }
    saturate(div_round(total_monthly_fen as i128, members as i128))
}

/// Monthly 低保 amount (差额救助): `(standard − per-capita income) × covered
/// members`, never below 0. Exact integer arithmetic, no rounding; income
/// exactly at the standard gives 0.
pub fn dibao_amount(standard_fen: i64, per_capita_income_fen: i64, covered_members: u32) -> i64 {
    let gap = (standard_fen as i128 - per_capita_income_fen as i128).max(0);
    saturate(gap * covered_members as i128)
}

/// One band of a tiered (分档) 低保 scheme: households whose per-capita income
/// is at most `max_income_pct` % of the standard receive `pay_pct` % of the
/// standard per covered member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DibaoTier {
    pub max_income_pct: u32,
    pub pay_pct: u32,
}

/// Checks a tier table: non-empty, `max_income_pct` strictly ascending and at
/// most 100 (income above the standard is not 低保), `pay_pct` at most 100 and
/// never rising from one tier to the next (a poorer household never receives
/// less).
pub fn validate_dibao_tiers(tiers: &[DibaoTier]) -> Result<(), String> {
    if tiers.is_empty() {
        return Err("分档标准至少需要一档".to_string());
    }
    for (i, t) in tiers.iter().enumerate() {
        let n = i + 1;
        if t.max_income_pct > 100 {
            return Err(format!(
                "第{n}档的收入上限不能超过低保标准的100%，实为 {}%",
                t.max_income_pct
            ));
        }
        if t.pay_pct > 100 {
            return Err(format!(
                "第{n}档的救助比例不能超过低保标准的100%，实为 {}%",
                t.pay_pct
            ));
        }
        if i > 0 {
            let prev = tiers[i - 1];
            if t.max_income_pct <= prev.max_income_pct {
                return Err(format!(
                    "分档收入上限必须严格递增：第{n}档 {}% 不高于第{i}档 {}%",
                    t.max_income_pct, prev.max_income_pct
                ));
            }
            if t.pay_pct > prev.pay_pct {
                return Err(format!(
                    "收入越高的档次救助比例不能越高：第{n}档 {}% 高于第{i}档 {}%",
                    t.pay_pct, prev.pay_pct
                ));
            }
        }
    }
    Ok(())
}

/// Monthly tiered (分档) 低保 amount. The first tier (tiers are ascending by
/// `max_income_pct`) with `per_capita_income × 100 ≤ standard ×
/// max_income_pct` (compared exactly, no rounding of the threshold) pays
/// `standard × pay_pct / 100` per covered member, rounded to the fen (ties
/// away from zero) per member before multiplying. Income above every tier
/// → 0. Errors (in Chinese) if the tiers fail [`validate_dibao_tiers`].
pub fn tiered_dibao_amount(
    standard_fen: i64,
    per_capita_income_fen: i64,
    covered_members: u32,
    tiers: &[DibaoTier],
) -> Result<i64, String> {
    validate_dibao_tiers(tiers)?;
    let income = per_capita_income_fen as i128 * 100;
    let tier = tiers
        .iter()
        .find(|t| income <= standard_fen as i128 * t.max_income_pct as i128);
    Ok(match tier {
        Some(t) => saturate(pct_of(standard_fen, t.pay_pct) as i128 * covered_members as i128),
        None => 0,
    })
}

/// Checks disability living subsidy percentages against the official ranges:
/// severe (grade 1–2) 30–40 %, non-severe 10–30 % of the 低保 standard.
pub fn validate_disability_pcts(severe_pct: u32, other_pct: u32) -> Result<(), String> {
    if !(30..=40).contains(&severe_pct) {
        return Err(format!(
            "重度残疾人生活补贴比例应为低保标准的30%至40%，实为 {severe_pct}%"
        ));
    }
    if !(10..=30).contains(&other_pct) {
        return Err(format!(
            "非重度残疾人生活补贴比例应为低保标准的10%至30%，实为 {other_pct}%"
        ));
    }
    Ok(())
}

/// Monthly disability living subsidy for one person: grade 1–2 (severe) →
/// `severe_pct` % of the 低保 standard, grade 3–4 → `other_pct` %, rounded to
/// the fen (ties away from zero). No disability (`None`) or a grade outside
/// 1–4 → 0.
pub fn disability_subsidy(
    standard_fen: i64,
    grade: Option<u8>,
    severe_pct: u32,
    other_pct: u32,
) -> i64 {
    match grade {
        Some(g) if disability_is_severe(g) => pct_of(standard_fen, severe_pct),
        Some(3 | 4) => pct_of(standard_fen, other_pct),
        _ => 0,
    }
}

/// Checks the 支出型 medical assistance ratio against the 40–60 % range.
pub fn validate_medical_ratio(ratio_pct: u32) -> Result<(), String> {
    if (40..=60).contains(&ratio_pct) {
        Ok(())
    } else {
        Err(format!(
            "医疗救助比例应为目录内自付费用的40%至60%，实为 {ratio_pct}%"
        ))
    }
}

/// 支出型 medical assistance: `ratio_pct` % of the in-catalogue self-pay,
/// rounded to the fen (half up), limited to what is left of the annual cap
/// (`annual_cap − already paid this year`). Never below 0; a negative
/// self-pay counts as 0.
pub fn medical_assistance(
    in_catalogue_selfpay_fen: i64,
    ratio_pct: u32,
    annual_cap_fen: i64,
    already_paid_this_year_fen: i64,
) -> i64 {
    let share = pct_of(in_catalogue_selfpay_fen.max(0), ratio_pct);
    let left = annual_cap_fen.saturating_sub(already_paid_this_year_fen);
    share.min(left).max(0)
}

/// Checks a government share for [`nursing_home_split`]: at most 100 %.
pub fn validate_nursing_home_pct(government_pct: u32) -> Result<(), String> {
    if government_pct <= 100 {
        Ok(())
    } else {
        Err(format!("政府承担比例不能超过100%，实为 {government_pct}%"))
    }
}

/// Splits a monthly nursing-home cost into (government, charity). The
/// government share is `cost × government_pct / 100` rounded to the fen
/// (ties away from zero); charity pays the rest, so the two always sum to
/// the cost exactly. `government_pct` above 100 is treated as 100.
pub fn nursing_home_split(monthly_cost_fen: i64, government_pct: u32) -> (i64, i64) {
    let government = pct_of(monthly_cost_fen, government_pct.min(100));
    (government, monthly_cost_fen - government)
}

/// Charity aid for someone no policy covers: the amount requested, at most
/// `cap_fen`, never below 0. No rounding.
pub fn charity_aid(requested_fen: i64, cap_fen: i64) -> i64 {
    requested_fen.min(cap_fen).max(0)
}

/// 特困 care level from the six-item self-care assessment: all able → full
/// self-care, 1–3 unable → partially lost, 4 or more → lost (same rule as
/// [`SelfCare::level`]).
pub fn tekun_care_level(self_care: SelfCare) -> SelfCareLevel {
    self_care.level()
}

/// Monthly 特困 support: basic standard plus a care supplement of
/// `care_supplement_pct_partial` % (partially lost) or
/// `care_supplement_pct_lost` % (lost) of the basic standard, rounded to the
/// fen (ties away from zero); full self-care gets no supplement.
pub fn tekun_monthly(
    basic_standard_fen: i64,
    care_level: SelfCareLevel,
    care_supplement_pct_partial: u32,
    care_supplement_pct_lost: u32,
) -> i64 {
    let supplement = match care_level {
        SelfCareLevel::Full => 0,
        SelfCareLevel::Partial => pct_of(basic_standard_fen, care_supplement_pct_partial),
        SelfCareLevel::Lost => pct_of(basic_standard_fen, care_supplement_pct_lost),
    };
    basic_standard_fen.saturating_add(supplement)
}

/// 低保边缘 income line: `standard × multiplier_pct / 100` (150 → 1.5 ×),
/// rounded to the fen (ties away from zero). A household qualifies when its
/// per-capita income is strictly below the line.
pub fn dibian_line(standard_fen: i64, multiplier_pct: u32) -> i64 {
    pct_of(standard_fen, multiplier_pct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::{Coded, SelfCareItem};
    use proptest::prelude::*;

    const STD: i64 = 100_000; // 1,000.00 yuan

    #[test]
    fn rounding_helpers() {
        // 10.01 yuan × 50 % = 5.005 yuan = 500.5 fen → 501 (half up).
        assert_eq!(pct_of(1_001, 50), 501);
        // 10.03 yuan × 50 % = 501.5 fen → 502; 0.01 yuan × 49 % = 0.49 fen → 0.
        assert_eq!(pct_of(1_003, 50), 502);
        assert_eq!(pct_of(1, 49), 0);
        assert_eq!(pct_of(1, 50), 1);
        assert_eq!(pct_of(-1_001, 50), -501); // symmetric: ties away from zero
        assert_eq!(pct_of(i64::MAX, 200), i64::MAX); // saturates, no panic
        // 12.5 % of 0.04 yuan = 0.5 fen → 1; of 0.03 yuan = 0.375 fen → 0.
        assert_eq!(pct_of_permille(4, 125), 1);
        assert_eq!(pct_of_permille(3, 125), 0);
        assert_eq!(pct_of_permille(100_000, 125), 12_500);
    }

    #[test]
    fn per_capita_income_examples() {
        // 1,500.00 yuan for 3 people → 500.00 each.
        assert_eq!(per_capita_income(150_000, 3), 50_000);
        // 1,000.00 / 3 = 333.333… → 333.33; 2,000.00 / 3 = 666.666… → 666.67.
        assert_eq!(per_capita_income(100_000, 3), 33_333);
        assert_eq!(per_capita_income(200_000, 3), 66_667);
        // 0.05 yuan / 2 = 2.5 fen → 3 (half up); 0.07 / 2 = 3.5 → 4.
        assert_eq!(per_capita_income(5, 2), 3);
        assert_eq!(per_capita_income(7, 2), 4);
        assert_eq!(per_capita_income(150_000, 0), 0);
    }

    #[test]
    fn dibao_amount_examples() {
        // Standard 1,000.00, income 1,500.00 for 3 → per-capita 500.00,
        // amount (1,000.00 − 500.00) × 3 = 1,500.00.
        let pc = per_capita_income(150_000, 3);
        assert_eq!(dibao_amount(STD, pc, 3), 150_000);
        // Only 2 of the 3 covered (e.g. one member's share stopped): 1,000.00.
        assert_eq!(dibao_amount(STD, pc, 2), 100_000);
        // Income exactly at the standard → 0; one fen below → 1 fen each.
        assert_eq!(dibao_amount(STD, STD, 3), 0);
        assert_eq!(dibao_amount(STD, STD - 1, 3), 3);
        // Above the standard: floored at 0, never negative.
        assert_eq!(dibao_amount(STD, STD + 1, 3), 0);
        // No income: the full standard per member.
        assert_eq!(dibao_amount(STD, 0, 4), 400_000);
        assert_eq!(dibao_amount(STD, 0, 0), 0);
    }

    fn tier(max_income_pct: u32, pay_pct: u32) -> DibaoTier {
        DibaoTier {
            max_income_pct,
            pay_pct,
        }
    }

    /// ≤ 30 % of standard → 100 %; ≤ 60 % → 60 %; ≤ 100 % → 30 %.
    fn tiers() -> Vec<DibaoTier> {
        vec![tier(30, 100), tier(60, 60), tier(100, 30)]
    }

    #[test]
    fn tiered_dibao_examples() {
        let t = tiers();
        // Per-capita 300.00 = exactly 30 % → first tier: 1,000.00 × 2 = 2,000.00.
        assert_eq!(tiered_dibao_amount(STD, 30_000, 2, &t), Ok(200_000));
        // 300.01 → second tier: 600.00 × 2 = 1,200.00.
        assert_eq!(tiered_dibao_amount(STD, 30_001, 2, &t), Ok(120_000));
        // Exactly at the standard → last tier: 300.00 × 3 = 900.00.
        assert_eq!(tiered_dibao_amount(STD, STD, 3, &t), Ok(90_000));
        // One fen above every tier → 0.
        assert_eq!(tiered_dibao_amount(STD, STD + 1, 3, &t), Ok(0));
        // Threshold compared exactly: standard 10.01 yuan, 30 % = 300.3 fen;
        // 300 fen is in tier 1, 301 fen is not (no rounding up to 300.3 → 300).
        assert_eq!(tiered_dibao_amount(1_001, 300, 1, &t), Ok(1_001));
        assert_eq!(tiered_dibao_amount(1_001, 301, 1, &t), Ok(601)); // 600.6 → 601
        // Pay rounded per member: 30 % of 10.05 yuan = 301.5 fen → 302, × 2 = 604.
        assert_eq!(tiered_dibao_amount(1_005, 1_000, 2, &t), Ok(604));
    }

    #[test]
    fn tier_validation() {
        assert!(validate_dibao_tiers(&tiers()).is_ok());
        assert_eq!(
            tiered_dibao_amount(STD, 0, 1, &[]),
            Err("分档标准至少需要一档".to_string())
        );
        assert_eq!(
            validate_dibao_tiers(&[tier(50, 50), tier(50, 40)]).unwrap_err(),
            "分档收入上限必须严格递增：第2档 50% 不高于第1档 50%"
        );
        assert!(validate_dibao_tiers(&[tier(60, 50), tier(30, 40)]).is_err());
        assert_eq!(
            validate_dibao_tiers(&[tier(101, 10)]).unwrap_err(),
            "第1档的收入上限不能超过低保标准的100%，实为 101%"
        );
        assert!(validate_dibao_tiers(&[tier(100, 100)]).is_ok());
        assert!(validate_dibao_tiers(&[tier(50, 101)]).is_err());
        assert!(validate_dibao_tiers(&[tier(30, 40), tier(60, 50)]).is_err());
        assert!(tiered_dibao_amount(STD, 0, 1, &[tier(30, 40), tier(60, 50)]).is_err());
    }

    #[test]
    fn disability_subsidy_examples() {
        // Standard 1,000.00: severe at 35 % → 350.00; grade 3 at 20 % → 200.00.
        assert_eq!(disability_subsidy(STD, Some(1), 35, 20), 35_000);
        assert_eq!(disability_subsidy(STD, Some(2), 35, 20), 35_000);
        assert_eq!(disability_subsidy(STD, Some(3), 35, 20), 20_000);
        assert_eq!(disability_subsidy(STD, Some(4), 35, 20), 20_000);
        assert_eq!(disability_subsidy(STD, None, 35, 20), 0);
        assert_eq!(disability_subsidy(STD, Some(0), 35, 20), 0);
        assert_eq!(disability_subsidy(STD, Some(5), 35, 20), 0);
        // Standard 10.01 yuan × 35 % = 350.35 fen → 350; × 15 % = 150.15 → 150;
        // 10.10 yuan × 35 % = 353.5 fen → 354 (half up).
        assert_eq!(disability_subsidy(1_001, Some(1), 35, 15), 350);
        assert_eq!(disability_subsidy(1_010, Some(2), 35, 15), 354);
    }

    #[test]
    fn disability_pct_ranges() {
        for (s, o) in [(30, 10), (40, 30), (35, 20)] {
            assert!(validate_disability_pcts(s, o).is_ok(), "{s} {o}");
        }
        for (s, o) in [(29, 20), (41, 20), (35, 9), (35, 31)] {
            assert!(validate_disability_pcts(s, o).is_err(), "{s} {o}");
        }
        assert_eq!(
            validate_disability_pcts(41, 20).unwrap_err(),
            "重度残疾人生活补贴比例应为低保标准的30%至40%，实为 41%"
        );
        assert_eq!(
            validate_disability_pcts(35, 9).unwrap_err(),
            "非重度残疾人生活补贴比例应为低保标准的10%至30%，实为 9%"
        );
    }

    #[test]
    fn medical_assistance_examples() {
        const CAP: i64 = 5_000_000; // 50,000.00 yuan per year
        // Self-pay 8,000.00 at 50 % → 4,000.00, nothing paid yet.
        assert_eq!(medical_assistance(800_000, 50, CAP, 0), 400_000);
        // Odd fen: 1,000.01 yuan × 50 % = 50,000.5 fen → 50,001; × 45 % =
        // 45,000.45 fen → 45,000.
        assert_eq!(medical_assistance(100_001, 50, CAP, 0), 50_001);
        assert_eq!(medical_assistance(100_001, 45, CAP, 0), 45_000);
        // 46,000.00 already paid: 4,000.00 left, share 4,000.00 → hits the cap exactly.
        assert_eq!(medical_assistance(800_000, 50, CAP, 4_600_000), 400_000);
        // 47,000.00 already paid: share exceeds what is left → 3,000.00.
        assert_eq!(medical_assistance(800_000, 50, CAP, 4_700_000), 300_000);
        // Cap used up or overrun → 0, never negative.
        assert_eq!(medical_assistance(800_000, 50, CAP, CAP), 0);
        assert_eq!(medical_assistance(800_000, 50, CAP, CAP + 1), 0);
        assert_eq!(medical_assistance(-100, 50, CAP, 0), 0);
    }

    #[test]
    fn medical_ratio_range() {
        assert!(validate_medical_ratio(40).is_ok());
        assert!(validate_medical_ratio(60).is_ok());
        assert!(validate_medical_ratio(39).is_err());
        assert_eq!(
            validate_medical_ratio(61).unwrap_err(),
            "医疗救助比例应为目录内自付费用的40%至60%，实为 61%"
        );
    }

    #[test]
    fn nursing_home_split_examples() {
        // 3,000.00 yuan at 80 % → government 2,400.00, charity 600.00.
        assert_eq!(nursing_home_split(300_000, 80), (240_000, 60_000));
        // 0.03 yuan: 80 % = 2.4 fen → 2, charity 1. 0.05 yuan at 50 %: 2.5 → 3 + 2.
        assert_eq!(nursing_home_split(3, 80), (2, 1));
        assert_eq!(nursing_home_split(5, 50), (3, 2));
        // 2,999.99 yuan: 80 % = 239,999.2 fen → 239,999; charity 60,000; sum exact.
        assert_eq!(nursing_home_split(299_999, 80), (239_999, 60_000));
        assert_eq!(nursing_home_split(300_000, 100), (300_000, 0));
        assert_eq!(nursing_home_split(300_000, 0), (0, 300_000));
        assert_eq!(nursing_home_split(300_000, 150), (300_000, 0));
        assert!(validate_nursing_home_pct(100).is_ok());
        assert!(validate_nursing_home_pct(101).is_err());
    }

    #[test]
    fn charity_aid_examples() {
        const CAP: i64 = 500_000; // 5,000.00 yuan
        assert_eq!(charity_aid(300_000, CAP), 300_000);
        assert_eq!(charity_aid(CAP, CAP), CAP);
        assert_eq!(charity_aid(CAP + 1, CAP), CAP);
        assert_eq!(charity_aid(-5, CAP), 0);
    }

    #[test]
    fn tekun_examples() {
        let items = SelfCareItem::all();
        let unable = |n: usize| {
            items[..n]
                .iter()
                .fold(SelfCare::default(), |s, i| s.with(*i, true))
        };
        assert_eq!(tekun_care_level(unable(0)), SelfCareLevel::Full);
        assert_eq!(tekun_care_level(unable(1)), SelfCareLevel::Partial);
        assert_eq!(tekun_care_level(unable(3)), SelfCareLevel::Partial);
        assert_eq!(tekun_care_level(unable(4)), SelfCareLevel::Lost);
        assert_eq!(tekun_care_level(unable(6)), SelfCareLevel::Lost);
        // Basic 1,300.00: full → 1,300.00; partial +10 % → 1,430.00;
        // lost +30 % → 1,690.00.
        const BASIC: i64 = 130_000;
        assert_eq!(tekun_monthly(BASIC, SelfCareLevel::Full, 10, 30), 130_000);
        assert_eq!(
            tekun_monthly(BASIC, SelfCareLevel::Partial, 10, 30),
            143_000
        );
        assert_eq!(tekun_monthly(BASIC, SelfCareLevel::Lost, 10, 30), 169_000);
        // 10.05 yuan + 10 % = 1,005 + 100.5 → 1,005 + 101 = 1,106 (half up).
        assert_eq!(tekun_monthly(1_005, SelfCareLevel::Partial, 10, 30), 1_106);
    }

    #[test]
    fn dibian_line_examples() {
        // 1,000.00 × 150 % = 1,500.00; 10.01 yuan × 150 % = 1,501.5 fen → 1,502.
        assert_eq!(dibian_line(STD, 150), 150_000);
        assert_eq!(dibian_line(1_001, 150), 1_502);
        assert_eq!(dibian_line(STD, 100), STD);
    }

    proptest! {
        #[test]
        fn split_always_sums(cost in 0i64..1_000_000_000, pct in 0u32..=100) {
            let (g, c) = nursing_home_split(cost, pct);
            prop_assert_eq!(g + c, cost);
            prop_assert!(g >= 0 && c >= 0);
            // Within half a fen of the exact share.
            prop_assert!((g as i128 * 100 - cost as i128 * pct as i128).abs() <= 50);
        }

        #[test]
        fn dibao_never_negative_and_monotone(
            std in 0i64..10_000_000,
            a in -1_000_000i64..20_000_000,
            b in -1_000_000i64..20_000_000,
            n in 0u32..20,
        ) {
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(dibao_amount(std, hi, n) >= 0);
            prop_assert!(dibao_amount(std, lo, n) >= dibao_amount(std, hi, n));
            let t = tiers();
            let tl = tiered_dibao_amount(std, lo, n, &t).unwrap();
            let th = tiered_dibao_amount(std, hi, n, &t).unwrap();
            prop_assert!(th >= 0 && tl >= th);
        }

        #[test]
        fn per_capita_within_half_a_fen(total in 0i64..1_000_000_000, n in 1u32..50) {
            let pc = per_capita_income(total, n);
            // |pc × n − total| ≤ n / 2
            prop_assert!(2 * (pc as i128 * n as i128 - total as i128).abs() <= n as i128);
        }

        #[test]
        fn medical_within_cap(
            selfpay in 0i64..100_000_000,
            ratio in 40u32..=60,
            cap in 0i64..10_000_000,
            paid in 0i64..10_000_000,
        ) {
            let m = medical_assistance(selfpay, ratio, cap, paid);
            prop_assert!(m >= 0);
            prop_assert!(m <= (cap - paid).max(0));
            prop_assert!(m <= pct_of(selfpay, ratio));
        }
    }
}
