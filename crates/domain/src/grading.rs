//! Three-colour grading (红黄绿三色分级) and the visit plan it sets.
//!
//! A scored assessment of a household's living conditions gives red, yellow
//! or green; a verified warning may raise the colour until the next
//! assessment; the colour sets the minimum visits: red 2 per week, yellow 1
//! per week, green 1 per 2 weeks, each expressed as "at least N visits in
//! any window of D days". Pure functions only; money is integer fen.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::person::{SelfCare, SelfCareLevel, coded_enum};

coded_enum! {
    /// Assessed colour. Declaration order is severity order, so the derived
    /// `Ord` makes `Red < Yellow < Green` (smaller = more severe).
    pub enum Colour {
        Red("red", "红"),
        Yellow("yellow", "黄"),
        Green("green", "绿"),
    }
}

coded_enum! {
    /// Support the household gets from relatives outside it.
    pub enum FamilySupport {
        None("none", "无"),
        Weak("weak", "薄弱"),
        Adequate("adequate", "充足"),
    }
}

/// Facts about one household that the assessment scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentInput {
    pub per_capita_income_fen: i64,
    /// Local 低保 standard per person; `<= 0` means unknown (no income points).
    pub dibao_standard_fen: i64,
    pub chronic_or_serious_illness_members: u32,
    /// Members with disability grade 1 or 2.
    pub severe_disability_members: u32,
    pub other_disability_members: u32,
    /// Most self-care items (0..=6) any one member is unable to perform.
    pub max_self_care_unable: u32,
    pub housing_unsafe: bool,
    pub lives_alone_elderly: bool,
    pub family_support: FamilySupport,
    /// Deaths, accidents, disasters, job losses in the last 3 months.
    pub recent_events: u32,
}

/// Points per factor and the colour thresholds. Defaults (max score 170):
/// income below the 低保 standard 30, below 1.5× the standard 15; each
/// illness member 10 (cap 20); each severely disabled member 20, each other
/// disabled member 10 (disability cap 30); self-care lost (≥4 items) 25,
/// partially lost (1–3) 10; unsafe housing 20; elderly living alone 10;
/// family support none 15, weak 8; each recent event 10 (cap 20);
/// red at score ≥ 60, yellow at ≥ 30, otherwise green.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradingConfig {
    pub income_below_standard: u32,
    pub income_below_1_5x_standard: u32,
    pub illness_per_member: u32,
    pub illness_cap: u32,
    pub severe_disability_per_member: u32,
    pub other_disability_per_member: u32,
    pub disability_cap: u32,
    pub self_care_lost: u32,
    pub self_care_partial: u32,
    pub housing_unsafe: u32,
    pub lives_alone_elderly: u32,
    pub support_none: u32,
    pub support_weak: u32,
    pub recent_event_each: u32,
    pub recent_events_cap: u32,
    pub red_threshold: u32,
    pub yellow_threshold: u32,
}

impl Default for GradingConfig {
    fn default() -> Self {
        GradingConfig {
            income_below_standard: 30,
            income_below_1_5x_standard: 15,
            illness_per_member: 10,
            illness_cap: 20,
            severe_disability_per_member: 20,
            other_disability_per_member: 10,
            disability_cap: 30,
            self_care_lost: 25,
            self_care_partial: 10,
            housing_unsafe: 20,
            lives_alone_elderly: 10,
            support_none: 15,
            support_weak: 8,
            recent_event_each: 10,
            recent_events_cap: 20,
            red_threshold: 60,
            yellow_threshold: 30,
        }
    }
}

impl GradingConfig {
    /// Highest score any household can reach under this configuration.
    pub fn max_score(&self) -> u32 {
        let capped = |per: u32, cap: u32| if per > 0 { cap } else { 0 };
        let disability = capped(
            self.severe_disability_per_member
                .max(self.other_disability_per_member),
            self.disability_cap,
        );
        [
            self.income_below_standard
                .max(self.income_below_1_5x_standard),
            capped(self.illness_per_member, self.illness_cap),
            disability,
            self.self_care_lost.max(self.self_care_partial),
            self.housing_unsafe,
            self.lives_alone_elderly,
            self.support_none.max(self.support_weak),
            capped(self.recent_event_each, self.recent_events_cap),
        ]
        .iter()
        .fold(0u32, |a, b| a.saturating_add(*b))
    }

    /// Checks the configuration is coherent; the error is a Chinese message.
    pub fn validate(&self) -> Result<(), String> {
        if self.yellow_threshold == 0 {
            return Err("黄色阈值必须大于0，否则没有家庭会被评为绿色".into());
        }
        if self.red_threshold <= self.yellow_threshold {
            return Err(format!(
                "红色阈值（{}）必须高于黄色阈值（{}）",
                self.red_threshold, self.yellow_threshold
            ));
        }
        let max = self.max_score();
        if self.red_threshold > max {
            return Err(format!(
                "红色阈值（{}）超过最高可得分（{max}），没有家庭会被评为红色",
                self.red_threshold
            ));
        }
        if self.income_below_standard < self.income_below_1_5x_standard {
            return Err("收入低于低保标准的分值不得低于收入低于1.5倍标准的分值".into());
        }
        if self.self_care_lost < self.self_care_partial {
            return Err("生活完全不能自理的分值不得低于部分不能自理的分值".into());
        }
        if self.support_none < self.support_weak {
            return Err("无家庭支持的分值不得低于家庭支持薄弱的分值".into());
        }
        Ok(())
    }

    /// Colour for a score: `>= red_threshold` red, `>= yellow_threshold`
    /// yellow, otherwise green.
    pub fn colour_for(&self, score: u32) -> Colour {
        if score >= self.red_threshold {
            Colour::Red
        } else if score >= self.yellow_threshold {
            Colour::Yellow
        } else {
            Colour::Green
        }
    }
}

/// One scored factor; only factors that scored points appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ScoreLine {
    /// Chinese label of the factor.
    pub factor: &'static str,
    pub points: u32,
}

/// Result of [`assess`]; `breakdown` points always sum to `score`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub score: u32,
    pub colour: Colour,
    pub breakdown: Vec<ScoreLine>,
}

/// Scores a household and grades it (see [`GradingConfig`] for the points).
pub fn assess(input: &AssessmentInput, config: &GradingConfig) -> Assessment {
    let c = config;
    let mut lines: Vec<ScoreLine> = Vec::new();
    let mut add = |factor: &'static str, points: u32| {
        if points > 0 {
            lines.push(ScoreLine { factor, points });
        }
    };
    if input.dibao_standard_fen > 0 {
        let income = i128::from(input.per_capita_income_fen);
        let standard = i128::from(input.dibao_standard_fen);
        if income < standard {
            add("人均收入低于低保标准", c.income_below_standard);
        } else if income * 2 < standard * 3 {
            add("人均收入低于低保标准1.5倍", c.income_below_1_5x_standard);
        }
    }
    let per = |weight: u32, n: u32| weight.saturating_mul(n);
    let (i, ill) = (input, input.chronic_or_serious_illness_members);
    add(
        "重病或慢性病成员",
        per(c.illness_per_member, ill).min(c.illness_cap),
    );
    let severe = per(c.severe_disability_per_member, i.severe_disability_members);
    let disability = severe.saturating_add(per(
        c.other_disability_per_member,
        i.other_disability_members,
    ));
    add("残疾成员", disability.min(c.disability_cap));
    // Same 0 / 1–3 / ≥4 rule as `SelfCare::level`, by construction.
    let unable = SelfCare::from_bits(((1u16 << input.max_self_care_unable.min(6)) - 1) as u8);
    match unable.level() {
        SelfCareLevel::Lost => add("生活完全不能自理", c.self_care_lost),
        SelfCareLevel::Partial => add("生活部分不能自理", c.self_care_partial),
        SelfCareLevel::Full => {}
    }
    if input.housing_unsafe {
        add("住房不安全", c.housing_unsafe);
    }
    if input.lives_alone_elderly {
        add("独居老人", c.lives_alone_elderly);
    }
    match input.family_support {
        FamilySupport::None => add("无家庭支持", c.support_none),
        FamilySupport::Weak => add("家庭支持薄弱", c.support_weak),
        FamilySupport::Adequate => {}
    }
    add(
        "近三个月突发事件",
        per(c.recent_event_each, input.recent_events).min(c.recent_events_cap),
    );
    let score = lines.iter().fold(0u32, |a, l| a.saturating_add(l.points));
    Assessment {
        score,
        colour: c.colour_for(score),
        breakdown: lines,
    }
}

/// The colour in force: the more severe of the assessed colour and the one a
/// verified warning raised it to (valid until the next assessment). A
/// warning never lowers the colour.
pub fn effective_colour(assessed: Colour, raised_by_warning: Option<Colour>) -> Colour {
    raised_by_warning.map_or(assessed, |w| assessed.min(w))
}

/// Minimum visit frequency per colour (defaults 2/week, 1/week, 1 per 14 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitPlanConfig {
    pub red_per_week: u32,
    pub yellow_per_week: u32,
    pub green_every_days: u32,
}

impl Default for VisitPlanConfig {
    fn default() -> Self {
        VisitPlanConfig {
            red_per_week: 2,
            yellow_per_week: 1,
            green_every_days: 14,
        }
    }
}

impl VisitPlanConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.red_per_week == 0 || self.yellow_per_week == 0 || self.green_every_days == 0 {
            return Err("走访频次必须大于0".into());
        }
        if self.red_per_week < self.yellow_per_week {
            return Err("红色家庭的走访频次不得低于黄色家庭".into());
        }
        if u64::from(self.yellow_per_week) * u64::from(self.green_every_days) < 7 {
            return Err("黄色家庭的走访频次不得低于绿色家庭".into());
        }
        Ok(())
    }
}

/// "At least `visits` visits in any window of `window_days` days". Zero in
/// either field is treated as 1 by the functions below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRule {
    pub visits: u32,
    pub window_days: u32,
}

impl VisitRule {
    fn n(self) -> usize {
        self.visits.max(1) as usize
    }
    fn d(self) -> u64 {
        u64::from(self.window_days.max(1))
    }
}

/// Red: `red_per_week` per 7 days; yellow: `yellow_per_week` per 7 days;
/// green: 1 per `green_every_days` days.
pub fn visit_rule(colour: Colour, cfg: &VisitPlanConfig) -> VisitRule {
    let (visits, window_days) = match colour {
        Colour::Red => (cfg.red_per_week, 7),
        Colour::Yellow => (cfg.yellow_per_week, 7),
        Colour::Green => (1, cfg.green_every_days),
    };
    VisitRule {
        visits,
        window_days,
    }
}

fn plus(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// Visits on or after `plan_start` (and on or before `until`), sorted.
fn relevant(visits: &[NaiveDate], plan_start: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
    let mut v: Vec<NaiveDate> = visits
        .iter()
        .copied()
        .filter(|d| *d >= plan_start && *d <= until)
        .collect();
    v.sort_unstable();
    v
}

/// The last day by which the next visit must happen so that every window of
/// D consecutive days starting on or after `plan_start` holds at least N
/// visits (N = `rule.visits`, D = `rule.window_days`).
///
/// Rule: with visits v₁ ≤ … ≤ vₖ (those before `plan_start` ignored; order
/// of the slice does not matter), if k < N the due date is
/// `plan_start + D − 1` (the last day of the first window); otherwise it is
/// `v₍ₖ₋ₙ₊₁₎ + D`, the N-th most recent visit plus D days. So 1-per-D is
/// "last visit + D", and 2-per-7 is "second-to-last visit + 7". Visiting by
/// every due date satisfies the rule for every sliding window, hence also
/// for the fixed windows of [`missed_visits`].
pub fn next_visit_due(rule: VisitRule, visits: &[NaiveDate], plan_start: NaiveDate) -> NaiveDate {
    let v = relevant(visits, plan_start, NaiveDate::MAX);
    let (n, d) = (rule.n(), rule.d());
    if v.len() < n {
        plus(plan_start, d - 1)
    } else {
        plus(v[v.len() - n], d)
    }
}

/// Fixed windows `[plan_start + mD, plan_start + (m+1)D − 1]` (m = 0, 1, …)
/// that ended before `today` with fewer than N visits, as (first day, last
/// day) pairs in date order. A window ending on `today` is still open.
pub fn missed_visits(
    rule: VisitRule,
    visits: &[NaiveDate],
    plan_start: NaiveDate,
    today: NaiveDate,
) -> Vec<(NaiveDate, NaiveDate)> {
    let v = relevant(visits, plan_start, today);
    let (n, d) = (rule.n(), rule.d());
    let mut missed = Vec::new();
    let (mut start, mut i) = (plan_start, 0usize);
    loop {
        let end = plus(start, d - 1);
        if end >= today || end == NaiveDate::MAX {
            return missed;
        }
        let first = i;
        while i < v.len() && v[i] <= end {
            i += 1;
        }
        if i - first < n {
            missed.push((start, end));
        }
        start = plus(end, 1);
    }
}

/// Where a household stands on its visit plan today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitStatus {
    /// See [`next_visit_due`].
    pub due: NaiveDate,
    /// `today > due`: a visit on the due date itself is on time.
    pub overdue: bool,
    /// Number of windows reported by [`missed_visits`].
    pub missed_windows: usize,
}

/// Due date, overdue flag and missed windows as of `today`; visits recorded
/// after `today` are ignored.
pub fn visit_status(
    rule: VisitRule,
    visits: &[NaiveDate],
    plan_start: NaiveDate,
    today: NaiveDate,
) -> VisitStatus {
    let v = relevant(visits, plan_start, today);
    let due = next_visit_due(rule, &v, plan_start);
    VisitStatus {
        due,
        overdue: today > due,
        missed_windows: missed_visits(rule, &v, plan_start, today).len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Coded;
    use Colour::{Green, Red, Yellow};
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Default config on a household with income 2× the standard and no
    /// other factor, modified by `f`.
    fn graded(f: impl FnOnce(&mut AssessmentInput)) -> Assessment {
        let mut i = AssessmentInput {
            per_capita_income_fen: 200_000,
            dibao_standard_fen: 100_000,
            chronic_or_serious_illness_members: 0,
            severe_disability_members: 0,
            other_disability_members: 0,
            max_self_care_unable: 0,
            housing_unsafe: false,
            lives_alone_elderly: false,
            family_support: FamilySupport::Adequate,
            recent_events: 0,
        };
        f(&mut i);
        assess(&i, &GradingConfig::default())
    }

    fn lines(a: &Assessment) -> Vec<(&'static str, u32)> {
        a.breakdown.iter().map(|l| (l.factor, l.points)).collect()
    }

    fn rule(visits: u32, window_days: u32) -> VisitRule {
        VisitRule {
            visits,
            window_days,
        }
    }

    fn st(due: NaiveDate, overdue: bool, missed_windows: usize) -> VisitStatus {
        VisitStatus {
            due,
            overdue,
            missed_windows,
        }
    }

    #[test]
    fn colour_codes_labels_and_severity_order() {
        let got: Vec<_> = Colour::all()
            .iter()
            .map(|c| (c.code(), c.label()))
            .collect();
        assert_eq!(got, [("red", "红"), ("yellow", "黄"), ("green", "绿")]);
        assert!(Red < Yellow && Yellow < Green);
    }

    #[test]
    fn worked_examples_for_each_colour() {
        let red = graded(|i| {
            i.per_capita_income_fen = 30_000;
            i.chronic_or_serious_illness_members = 1;
            i.severe_disability_members = 1;
            i.housing_unsafe = true;
        });
        let want = [("人均收入低于低保标准", 30), ("重病或慢性病成员", 10)];
        assert_eq!(lines(&red)[..2], want);
        assert_eq!(lines(&red)[2..], [("残疾成员", 20), ("住房不安全", 20)]);
        assert_eq!((red.score, red.colour), (80, Red));
        let yellow = graded(|i| {
            i.per_capita_income_fen = 120_000;
            i.max_self_care_unable = 2;
            i.family_support = FamilySupport::Weak;
        });
        let want = [
            ("人均收入低于低保标准1.5倍", 15),
            ("生活部分不能自理", 10),
            ("家庭支持薄弱", 8),
        ];
        assert_eq!(lines(&yellow), want);
        assert_eq!((yellow.score, yellow.colour), (33, Yellow));
        let green = graded(|i| {
            i.lives_alone_elderly = true;
            i.recent_events = 1;
        });
        assert_eq!(lines(&green), [("独居老人", 10), ("近三个月突发事件", 10)]);
        assert_eq!((green.score, green.colour), (20, Green));
        assert_eq!(
            (graded(|_| {}).score, graded(|_| {}).breakdown.len()),
            (0, 0)
        );
    }

    #[test]
    fn threshold_boundaries() {
        // 30 + 20 + 10 = 60 = red threshold; the income line alone = 30 = yellow threshold.
        let sixty = graded(|i| {
            i.per_capita_income_fen = 0;
            i.housing_unsafe = true;
            i.lives_alone_elderly = true;
        });
        assert_eq!((sixty.score, sixty.colour), (60, Red));
        let thirty = graded(|i| i.per_capita_income_fen = 0);
        assert_eq!((thirty.score, thirty.colour), (30, Yellow));
        let cfg = GradingConfig::default();
        assert_eq!([cfg.colour_for(59), cfg.colour_for(29)], [Yellow, Green]);
        // Same scores, thresholds one point higher: one colour milder.
        let (mut red61, mut yellow31) = (cfg, cfg);
        (red61.red_threshold, yellow31.yellow_threshold) = (61, 31);
        assert_eq!(
            [red61.colour_for(60), yellow31.colour_for(30)],
            [Yellow, Green]
        );
    }

    #[test]
    fn income_boundaries() {
        let pts = |income: i64, standard: i64| {
            graded(|i| (i.per_capita_income_fen, i.dibao_standard_fen) = (income, standard)).score
        };
        let cases = [
            (99_999, 30),
            (100_000, 15),
            (149_999, 15),
            (150_000, 0),
            (-5_000, 30),
        ];
        for (income, want) in cases {
            assert_eq!(pts(income, 100_000), want, "income {income}");
        }
        assert_eq!(pts(0, 0), 0, "unknown standard gives no income points");
        assert_eq!(pts(i64::MAX, i64::MAX), 15, "no overflow");
    }

    #[test]
    fn caps_and_self_care_levels() {
        assert_eq!(
            graded(|i| i.chronic_or_serious_illness_members = 5).score,
            20
        );
        assert_eq!(graded(|i| i.recent_events = 3).score, 20);
        assert_eq!(graded(|i| i.other_disability_members = 2).score, 20);
        let dis = graded(|i| (i.severe_disability_members, i.other_disability_members) = (2, 1));
        assert_eq!(dis.score, 30);
        assert_eq!(graded(|i| i.family_support = FamilySupport::None).score, 15);
        let care = |n| graded(|i| i.max_self_care_unable = n).score;
        assert_eq!([0, 1, 3, 4, 6, 99].map(care), [0, 10, 10, 25, 25, 25]);
    }

    #[test]
    fn config_validation() {
        let ok = GradingConfig::default();
        assert_eq!((ok.validate(), ok.max_score()), (Ok(()), 170));
        let mut top = ok;
        top.red_threshold = 170;
        assert_eq!(top.validate(), Ok(()));
        let bad: [fn(&mut GradingConfig); 6] = [
            |c| c.red_threshold = 30,
            |c| c.yellow_threshold = 0,
            |c| c.red_threshold = 171,
            |c| c.income_below_1_5x_standard = 31,
            |c| c.self_care_partial = 26,
            |c| c.support_weak = 16,
        ];
        for (n, f) in bad.into_iter().enumerate() {
            let mut c = ok;
            f(&mut c);
            let err = c.validate().expect_err(&format!("case {n}"));
            assert!(!err.is_ascii(), "message should be Chinese: {err}");
        }
        let mut c = ok;
        c.red_threshold = 30;
        assert_eq!(
            c.validate().unwrap_err(),
            "红色阈值（30）必须高于黄色阈值（30）"
        );
    }

    #[test]
    fn warning_override_raises_never_lowers() {
        let cases = [
            (Green, Some(Red), Red),
            (Green, Some(Yellow), Yellow),
            (Red, Some(Green), Red),
            (Yellow, Some(Green), Yellow),
            (Yellow, None, Yellow),
        ];
        for (assessed, warning, want) in cases {
            assert_eq!(
                effective_colour(assessed, warning),
                want,
                "{assessed} {warning:?}"
            );
        }
    }

    #[test]
    fn visit_rules_per_colour() {
        let cfg = VisitPlanConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        let got = [Red, Yellow, Green].map(|c| visit_rule(c, &cfg));
        assert_eq!(got, [rule(2, 7), rule(1, 7), rule(1, 14)]);
        let custom = VisitPlanConfig {
            red_per_week: 3,
            yellow_per_week: 2,
            green_every_days: 10,
        };
        let got = [Red, Yellow, Green].map(|c| visit_rule(c, &custom));
        assert_eq!(got, [rule(3, 7), rule(2, 7), rule(1, 10)]);
        let bad: [fn(&mut VisitPlanConfig); 3] = [
            |c| c.red_per_week = 0,
            |c| c.yellow_per_week = 3,
            |c| c.green_every_days = 6,
        ];
        for f in bad {
            let mut c = cfg;
            f(&mut c);
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn next_due_per_colour() {
        let ps = ymd(2025, 3, 3);
        let (red, yellow, green) = (rule(2, 7), rule(1, 7), rule(1, 14));
        assert_eq!(next_visit_due(yellow, &[], ps), ymd(2025, 3, 9));
        assert_eq!(
            next_visit_due(yellow, &[ymd(2025, 3, 5)], ps),
            ymd(2025, 3, 12)
        );
        assert_eq!(next_visit_due(green, &[], ps), ymd(2025, 3, 16));
        assert_eq!(
            next_visit_due(green, &[ymd(2025, 3, 10)], ps),
            ymd(2025, 3, 24)
        );
        // Red: one visit is not enough for the first window.
        assert_eq!(next_visit_due(red, &[ymd(2025, 3, 4)], ps), ymd(2025, 3, 9));
        // Second-to-last + 7; slice order and pre-plan visits don't matter.
        let v = [ymd(2025, 3, 6), ymd(2025, 2, 1), ymd(2025, 3, 4)];
        assert_eq!(next_visit_due(red, &v, ps), ymd(2025, 3, 11));
    }

    #[test]
    fn missed_window_across_month_boundary() {
        let (ps, today) = (ymd(2025, 1, 27), ymd(2025, 2, 12));
        let missed = missed_visits(rule(1, 7), &[ymd(2025, 1, 29)], ps, today);
        assert_eq!(missed, [(ymd(2025, 2, 3), ymd(2025, 2, 9))]);
        let visits = [ymd(2025, 1, 29), ymd(2025, 2, 3)];
        assert_eq!(missed_visits(rule(1, 7), &visits, ps, today), []);
    }

    #[test]
    fn missed_red_window_across_year_boundary() {
        let (red, ps) = (rule(2, 7), ymd(2025, 12, 22));
        let (a, b, c, d) = (
            ymd(2025, 12, 22),
            ymd(2025, 12, 26),
            ymd(2025, 12, 30),
            ymd(2026, 1, 2),
        );
        assert_eq!(missed_visits(red, &[a, b, c, d], ps, ymd(2026, 1, 5)), []);
        let missed = [(ymd(2025, 12, 29), ymd(2026, 1, 4))];
        assert_eq!(missed_visits(red, &[a, b, d], ps, ymd(2026, 1, 5)), missed);
        // The window ending today is still open.
        assert_eq!(missed_visits(red, &[a, b, d], ps, ymd(2026, 1, 4)), []);
        assert_eq!(
            visit_status(red, &[a, b, d], ps, ymd(2026, 1, 5)).missed_windows,
            1
        );
    }

    #[test]
    fn visit_on_due_date_is_on_time_one_day_late_is_overdue() {
        let (yellow, ps, due, late) = (
            rule(1, 7),
            ymd(2025, 6, 2),
            ymd(2025, 6, 8),
            ymd(2025, 6, 9),
        );
        assert_eq!(visit_status(yellow, &[], ps, due), st(due, false, 0));
        assert_eq!(
            visit_status(yellow, &[due], ps, due),
            st(ymd(2025, 6, 15), false, 0)
        );
        assert_eq!(visit_status(yellow, &[], ps, late), st(due, true, 1));
        // Visiting a day late clears "overdue"; the first window stays missed.
        assert_eq!(
            visit_status(yellow, &[late], ps, late),
            st(ymd(2025, 6, 16), false, 1)
        );
        // Visits recorded after today are ignored.
        assert!(visit_status(yellow, &[ymd(2025, 6, 20)], ps, late).overdue);
    }

    proptest! {
        #[test]
        fn breakdown_sums_to_score(
            n in prop::collection::vec(0u32..9, 6),
            flags in prop::collection::vec(any::<bool>(), 2),
            (income, standard, support) in (-200_000i64..400_000, 0i64..200_000, 0usize..3),
            w in prop::collection::vec(0u32..50, 15),
        ) {
            let input = AssessmentInput {
                per_capita_income_fen: income, dibao_standard_fen: standard,
                chronic_or_serious_illness_members: n[0], severe_disability_members: n[1],
                other_disability_members: n[2], max_self_care_unable: n[3],
                housing_unsafe: flags[0], lives_alone_elderly: flags[1],
                family_support: FamilySupport::all()[support], recent_events: n[4],
            };
            let cfg = GradingConfig {
                income_below_standard: w[0], income_below_1_5x_standard: w[1],
                illness_per_member: w[2], illness_cap: w[3],
                severe_disability_per_member: w[4], other_disability_per_member: w[5],
                disability_cap: w[6], self_care_lost: w[7], self_care_partial: w[8],
                housing_unsafe: w[9], lives_alone_elderly: w[10], support_none: w[11],
                support_weak: w[12], recent_event_each: w[13], recent_events_cap: w[14],
                ..GradingConfig::default()
            };
            let a = assess(&input, &cfg);
            prop_assert_eq!(a.breakdown.iter().map(|l| l.points).sum::<u32>(), a.score);
            prop_assert!(a.breakdown.iter().all(|l| l.points > 0));
            prop_assert!(a.score <= cfg.max_score());
            prop_assert_eq!(a.colour, cfg.colour_for(a.score));
        }

        #[test]
        fn visiting_by_every_due_date_never_misses(
            colour in 0usize..3,
            start_offset in 0u64..800,
            early in prop::collection::vec(0u64..4, 1..40),
        ) {
            let rule = visit_rule(Colour::all()[colour], &VisitPlanConfig::default());
            let ps = plus(ymd(2024, 11, 1), start_offset);
            let mut visits: Vec<NaiveDate> = Vec::new();
            for e in early {
                let due = next_visit_due(rule, &visits, ps);
                let day = due.checked_sub_days(Days::new(e)).unwrap().max(ps);
                prop_assert!(!visit_status(rule, &visits, ps, day).overdue);
                visits.push(day);
            }
            let today = *visits.last().unwrap();
            prop_assert_eq!(missed_visits(rule, &visits, ps, today), vec![]);
        }
    }
}
