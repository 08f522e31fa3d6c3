//! Working-day calendar for statutory time limits (e.g. "审核确认 within 10
//! working days").
//!
//! China moves weekends around public holidays (调休): some Saturdays and
//! Sundays are working days and some weekdays are not, so deadlines cannot
//! be computed from weekdays alone. The arrangement is published each year
//! by the State Council; we read it from holiday-cn JSON files and refuse to
//! guess for years whose arrangement is not loaded, because a silently
//! wrong deadline is worse than an explicit error.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// Why a working-day question could not be answered. Display is shown to
/// users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("尚未载入 {0} 年的节假日安排，无法计算工作日")]
    YearNotLoaded(i32),
    #[error("节假日数据文件格式错误：{0}")]
    BadFile(String),
}

/// Holiday arrangements for the loaded years.
#[derive(Clone, Debug, Default)]
pub struct WorkCalendar {
    years: BTreeSet<i32>,
    /// Dates whose status differs from (or is confirmed against) the plain
    /// Monday–Friday rule: value is `isOffDay`.
    overrides: HashMap<NaiveDate, bool>,
}

/// holiday-cn file format: `{year, papers[], days[{name, date, isOffDay}]}`.
#[derive(Deserialize)]
struct YearFile {
    year: i32,
    #[allow(dead_code)]
    papers: Vec<String>,
    days: Vec<DayEntry>,
}

#[derive(Deserialize)]
struct DayEntry {
    #[allow(dead_code)]
    name: String,
    date: String,
    #[serde(rename = "isOffDay")]
    is_off_day: bool,
}

const BUILTIN_YEARS: [&str; 3] = [
    include_str!("../../../data/holidays/2024.json"),
    include_str!("../../../data/holidays/2025.json"),
    include_str!("../../../data/holidays/2026.json"),
];

impl WorkCalendar {
    /// An empty calendar: every date errors until its year is loaded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads one year's arrangement (holiday-cn JSON) and returns the year.
    /// The whole file is validated before anything is applied.
    pub fn load_year_json(&mut self, json: &str) -> Result<i32, CalendarError> {
        let file: YearFile =
            serde_json::from_str(json).map_err(|e| CalendarError::BadFile(e.to_string()))?;
        let mut days = Vec::with_capacity(file.days.len());
        for day in &file.days {
            let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d")
                .map_err(|_| CalendarError::BadFile(format!("日期“{}”无法识别", day.date)))?;
            days.push((date, day.is_off_day));
        }
        self.overrides.extend(days);
        self.years.insert(file.year);
        Ok(file.year)
    }

    /// The calendar for the years shipped with the application (2024–2026).
    pub fn builtin() -> Self {
        let mut cal = Self::new();
        for json in BUILTIN_YEARS {
            cal.load_year_json(json)
                .expect("embedded holiday data is valid");
        }
        cal
    }

    /// Loaded years, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.iter().copied().collect()
    }

    fn ensure_loaded(&self, d: NaiveDate) -> Result<(), CalendarError> {
        if self.years.contains(&d.year()) {
            Ok(())
        } else {
            Err(CalendarError::YearNotLoaded(d.year()))
        }
    }

    /// Monday–Friday unless listed as a day off; any listed date that is not
    /// a day off (an adjusted weekend working day) is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool, CalendarError> {
        self.ensure_loaded(d)?;
        Ok(match self.overrides.get(&d) {
            Some(is_off) => !is_off,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        })
    }

    /// The `n`-th working day strictly after `start` (`start` itself for
    /// n = 0). E.g. a 10-working-day limit starting on the day of receipt.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.ensure_loaded(start)?;
        let mut d = start;
        let mut remaining = n;
        while remaining > 0 {
            d = d
                .succ_opt()
                .ok_or(CalendarError::YearNotLoaded(d.year().saturating_add(1)))?;
            if self.is_working_day(d)? {
                remaining -= 1;
            }
        }
        Ok(d)
    }

    /// Like [`WorkCalendar::add_working_days`], but a year without a loaded calendar
    /// does not stop the work: its days are counted Monday–Friday and the result is
    /// marked provisional (`true`), so it can be shown as such and recomputed once the
    /// State Council's arrangement for that year is loaded.
    pub fn add_working_days_provisional(&self, start: NaiveDate, n: u32) -> (NaiveDate, bool) {
        if let Ok(d) = self.add_working_days(start, n) {
            return (d, false);
        }
        let mut d = start;
        let mut remaining = n;
        while remaining > 0 {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            if self.is_working_day_provisional(d) {
                remaining -= 1;
            }
        }
        (d, true)
    }

    /// Working day per the loaded calendar, or Monday–Friday for a year not loaded.
    pub fn is_working_day_provisional(&self, d: NaiveDate) -> bool {
        self.is_working_day(d)
            .unwrap_or(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// Number of working days in `(from, to]`; negative (the count in
    /// `(to, from]`) when `to` is before `from`, so it inverts
    /// [`WorkCalendar::add_working_days`].
    pub fn working_days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<i64, CalendarError> {
        self.ensure_loaded(from)?;
        self.ensure_loaded(to)?;
        let (lo, hi, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut count = 0i64;
        for d in lo.iter_days().skip(1).take_while(|d| *d <= hi) {
            if self.is_working_day(d)? {
                count += 1;
            }
        }
        Ok(sign * count)
    }
}

/// A year's arrangement as an administrator types it in a form: the days
/// off and the adjusted working days (调休上班), one per line, each a date
/// (`2027-02-16`) or a range (`2027-02-15 至 2027-02-21`), optionally
/// followed by the holiday's name. Returns the holiday-cn JSON to store, or
/// refusals by field (`year`, `off_days`, `work_days`) in Chinese.
pub fn year_json_from_lists(
    year: &str,
    off_days: &str,
    work_days: &str,
) -> Result<String, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let year: i32 = match year.trim().parse() {
        Ok(y) if (2000..=2100).contains(&y) => y,
        _ => {
            errors.push(("year", "请填写年份，如 2027".to_string()));
            return Err(errors);
        }
    };
    let mut days: Vec<(NaiveDate, bool, String)> = Vec::new();
    for (field, text, off) in [
        ("off_days", off_days, true),
        ("work_days", work_days, false),
    ] {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match parse_day_line(line) {
                Ok((from, to, name)) => {
                    let mut d = from;
                    while d <= to {
                        if d.year() != year {
                            errors.push((field, format!("第 {} 行：{d} 不在 {year} 年", n + 1)));
                            break;
                        }
                        if !off && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                            errors.push((
                                field,
                                format!(
                                    "第 {} 行：{d} 本来就是工作日，调休上班日应为周六或周日",
                                    n + 1
                                ),
                            ));
                        }
                        if days.iter().any(|x| x.0 == d) {
                            errors.push((field, format!("第 {} 行：{d} 重复填写", n + 1)));
                        }
                        days.push((d, off, name.clone()));
                        d = d.succ_opt().expect("date in range");
                    }
                }
                Err(m) => errors.push((field, format!("第 {} 行：{m}", n + 1))),
            }
        }
    }
    if !days.iter().any(|d| d.1) {
        errors.push(("off_days", "请至少填写一个放假日期".to_string()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    days.sort_by_key(|d| d.0);
    let entries: Vec<serde_json::Value> = days
        .iter()
        .map(|(d, off, name)| {
            serde_json::json!({"name": name, "date": d.to_string(), "isOffDay": off})
        })
        .collect();
    Ok(serde_json::json!({"year": year, "papers": [], "days": entries}).to_string())
}

/// `2027-02-16 春节` or `2027-02-15 至 2027-02-21 春节` (also `~`, `到`,
/// with or without spaces around the separator).
fn parse_day_line(line: &str) -> Result<(NaiveDate, NaiveDate, String), String> {
    let date = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("“{}”不是日期，应写成 2027-02-16", s.trim()))
    };
    // Put spaces around a range separator, so that every form splits alike.
    let spaced = line.replace(['至', '~', '到'], " 至 ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Err("空行".into());
    };
    let from = date(first)?;
    let (to, rest) = match words.get(1) {
        Some(&"至") => match words.get(2) {
            Some(second) => (date(second)?, &words[3..]),
            None => return Err("日期范围缺少结束日期".into()),
        },
        _ => (from, &words[1..]),
    };
    // A second date in the name is a range typed another way: refuse it
    // rather than guess.
    if rest
        .iter()
        .any(|w| w.chars().filter(|c| c.is_ascii_digit()).count() >= 6)
    {
        return Err("日期范围请写成“2027-02-06 至 2027-02-12”".into());
    }
    if to < from {
        return Err("结束日期早于开始日期".into());
    }
    if (to - from).num_days() > 31 {
        return Err("一个范围最长 31 天".into());
    }
    Ok((from, to, rest.join(" ")))
}

#[cfg(test)]
mod form_tests {
    use super::*;

    #[test]
    fn a_typed_year_loads_like_the_file() {
        let json = year_json_from_lists(
            "2027",
            "2027-01-01 元旦\n2027-02-06 至 2027-02-12 春节\n",
            "2027-02-14 春节调休",
        )
        .unwrap();
        let mut c = WorkCalendar::new();
        assert_eq!(c.load_year_json(&json), Ok(2027));
        let d = |m, day| NaiveDate::from_ymd_opt(2027, m, day).unwrap();
        assert!(
            !c.is_working_day(d(2, 8)).unwrap(),
            "a Monday of the Spring Festival is off"
        );
        assert!(
            c.is_working_day(d(2, 14)).unwrap(),
            "the adjusted Sunday is worked"
        );
        assert!(c.is_working_day(d(3, 1)).unwrap());
    }

    #[test]
    fn typed_years_are_checked() {
        let e = year_json_from_lists("2027", "2026-12-31", "").unwrap_err();
        assert!(e[0].1.contains("不在 2027 年"), "{e:?}");
        let e = year_json_from_lists("2027", "2027-01-01", "2027-02-10").unwrap_err();
        assert!(e[0].1.contains("本来就是工作日"), "{e:?}");
        let e = year_json_from_lists("2027", "2027-13-01", "").unwrap_err();
        assert!(e[0].1.contains("不是日期"), "{e:?}");
        let e = year_json_from_lists("2027", "2027-01-01\n2027-01-01", "").unwrap_err();
        assert!(e[0].1.contains("重复"), "{e:?}");
        for bad in ["2027-02-06至", "2027-02-06 至", "2027-02-06 - 2027-02-12"] {
            let e = year_json_from_lists("2027", bad, "").unwrap_err();
            assert!(e[0].1.contains("日期"), "{bad}: {e:?}");
        }
        for good in [
            "2027-02-06至2027-02-12 春节",
            "2027-02-06 至2027-02-12",
            "2027-02-06~2027-02-12",
        ] {
            let json = year_json_from_lists("2027", good, "").unwrap();
            assert_eq!(json.matches("isOffDay").count(), 7, "{good}");
        }
        let e = year_json_from_lists("27", "", "").unwrap_err();
        assert_eq!(e[0].0, "year");
        assert!(
            year_json_from_lists("2027", "", "").is_err(),
            "no day off at all"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cal() -> WorkCalendar {
        WorkCalendar::builtin()
    }

    #[test]
    fn builtin_years() {
        assert_eq!(cal().years(), vec![2024, 2025, 2026]);
        assert!(WorkCalendar::new().years().is_empty());
    }

    #[test]
    fn adjusted_saturday_is_a_working_day() {
        let c = cal();
        // Friday 2026-02-13, then Saturday 2026-02-14 is an adjusted working day.
        assert_eq!(
            c.add_working_days(ymd(2026, 2, 13), 1),
            Ok(ymd(2026, 2, 14))
        );
        assert_eq!(c.is_working_day(ymd(2026, 2, 14)), Ok(true));
        // An ordinary Saturday is not.
        assert_eq!(c.is_working_day(ymd(2026, 3, 7)), Ok(false));
        assert_eq!(c.is_working_day(ymd(2026, 3, 9)), Ok(true));
    }

    #[test]
    fn spring_festival_2026_skipped() {
        let c = cal();
        // Off 02-15 .. 02-23 (Sun..Mon); next working day is Tue 02-24.
        assert_eq!(
            c.add_working_days(ymd(2026, 2, 14), 1),
            Ok(ymd(2026, 2, 24))
        );
        assert_eq!(c.is_working_day(ymd(2026, 2, 16)), Ok(false)); // a Monday
        assert_eq!(c.is_working_day(ymd(2026, 2, 23)), Ok(false)); // a Monday
        // Saturday 2026-02-28 is adjusted: Thu 26, Fri 27, Sat 28.
        assert_eq!(
            c.add_working_days(ymd(2026, 2, 25), 3),
            Ok(ymd(2026, 2, 28))
        );
        assert_eq!(
            c.working_days_between(ymd(2026, 2, 13), ymd(2026, 2, 28)),
            Ok(6) // 14, 24, 25, 26, 27, 28
        );
    }

    #[test]
    fn spring_festival_2025_skipped() {
        let c = cal();
        // Sunday 2025-01-26 is adjusted; 01-28 .. 02-04 off; Sat 02-08 adjusted.
        assert_eq!(
            c.add_working_days(ymd(2025, 1, 24), 1),
            Ok(ymd(2025, 1, 26))
        );
        assert_eq!(
            c.add_working_days(ymd(2025, 1, 26), 1),
            Ok(ymd(2025, 1, 27))
        );
        assert_eq!(c.add_working_days(ymd(2025, 1, 27), 1), Ok(ymd(2025, 2, 5)));
        assert_eq!(c.add_working_days(ymd(2025, 2, 7), 1), Ok(ymd(2025, 2, 8)));
    }

    #[test]
    fn national_day_skipped() {
        let c = cal();
        // 2025: Sun 09-28 worked, 10-01 .. 10-08 off, Sat 10-11 worked.
        assert_eq!(
            c.add_working_days(ymd(2025, 9, 26), 1),
            Ok(ymd(2025, 9, 28))
        );
        assert_eq!(
            c.add_working_days(ymd(2025, 9, 30), 1),
            Ok(ymd(2025, 10, 9))
        );
        assert_eq!(
            c.add_working_days(ymd(2025, 10, 10), 1),
            Ok(ymd(2025, 10, 11))
        );
        // 2026: 10-01 .. 10-07 off, Sat 10-10 worked.
        assert_eq!(
            c.add_working_days(ymd(2026, 9, 30), 1),
            Ok(ymd(2026, 10, 8))
        );
        assert_eq!(
            c.add_working_days(ymd(2026, 9, 30), 3),
            Ok(ymd(2026, 10, 10))
        );
        assert_eq!(
            c.working_days_between(ymd(2026, 9, 30), ymd(2026, 10, 12)),
            Ok(4) // 8, 9, 10, 12
        );
    }

    #[test]
    fn ten_working_days_across_new_year() {
        let c = cal();
        // 2025-12-31 (Wed) + 1: 2026-01-01..03 off, Sun 01-04 worked.
        assert_eq!(
            c.add_working_days(ymd(2025, 12, 31), 1),
            Ok(ymd(2026, 1, 4))
        );
        assert_eq!(
            c.add_working_days(ymd(2025, 12, 31), 2),
            Ok(ymd(2026, 1, 5))
        );
    }

    #[test]
    fn unloaded_year_is_an_error() {
        let c = cal();
        assert_eq!(
            c.is_working_day(ymd(2027, 1, 4)),
            Err(CalendarError::YearNotLoaded(2027))
        );
        assert_eq!(
            c.add_working_days(ymd(2027, 3, 1), 0),
            Err(CalendarError::YearNotLoaded(2027))
        );
        assert_eq!(
            c.add_working_days(ymd(2026, 12, 30), 5),
            Err(CalendarError::YearNotLoaded(2027))
        );
        assert_eq!(
            c.working_days_between(ymd(2023, 12, 1), ymd(2024, 1, 5)),
            Err(CalendarError::YearNotLoaded(2023))
        );
        assert_eq!(
            CalendarError::YearNotLoaded(2027).to_string(),
            "尚未载入 2027 年的节假日安排，无法计算工作日"
        );
    }

    #[test]
    fn between_is_signed_and_zero_for_same_day() {
        let c = cal();
        let d = ymd(2024, 5, 6);
        assert_eq!(c.working_days_between(d, d), Ok(0));
        assert_eq!(c.add_working_days(d, 0), Ok(d));
        let later = c.add_working_days(d, 7).unwrap();
        assert_eq!(c.working_days_between(later, d), Ok(-7));
    }

    #[test]
    fn load_year_json_validates() {
        let mut c = WorkCalendar::new();
        assert!(matches!(
            c.load_year_json("not json"),
            Err(CalendarError::BadFile(_))
        ));
        assert!(matches!(
            c.load_year_json(r#"{"year": 2030, "papers": [], "days": [{"name": "x", "date": "2030-13-01", "isOffDay": true}]}"#),
            Err(CalendarError::BadFile(_))
        ));
        assert!(c.years().is_empty());
        let year = c
            .load_year_json(r#"{"year": 2030, "papers": [], "days": [{"name": "元旦", "date": "2030-01-01", "isOffDay": true}]}"#)
            .unwrap();
        assert_eq!(year, 2030);
        assert_eq!(c.years(), vec![2030]);
        assert_eq!(c.is_working_day(ymd(2030, 1, 1)), Ok(false)); // a Tuesday
        assert_eq!(c.is_working_day(ymd(2030, 1, 2)), Ok(true));
    }

    fn date_in_builtin() -> impl Strategy<Value = NaiveDate> {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        (0i64..=912).prop_map(move |d| start + chrono::Duration::days(d)) // to mid-2026
    }

    proptest! {
        #[test]
        fn add_then_count_is_identity(start in date_in_builtin(), n in 0u32..100) {
            let c = cal();
            let end = c.add_working_days(start, n).unwrap();
            if n > 0 {
                prop_assert!(c.is_working_day(end).unwrap());
            } else {
                prop_assert_eq!(end, start);
            }
            prop_assert_eq!(c.working_days_between(start, end).unwrap(), i64::from(n));
            prop_assert_eq!(c.working_days_between(end, start).unwrap(), -i64::from(n));
        }
    }
}
