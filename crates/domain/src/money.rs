//! Money in integer fen (分, 0.01 yuan).
//!
//! Assistance amounts are summed, compared against thresholds and paid out;
//! floating point would make 0.1 + 0.2 ≠ 0.3 show up in someone's benefit.
//! Parsing is strict about precision (no silent rounding of "12.345") but
//! lenient about the decorations people type or spreadsheets emit
//! ("¥1,234.5", "12元").

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount of money in fen. Serialises as the integer number of fen.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Hash, Serialize, Deserialize,
)]
pub struct Money(i64);

/// Why an amount could not be read. Display is shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("金额不能为空")]
    Empty,
    #[error("金额格式无法识别：{0}")]
    Invalid(String),
    #[error("金额最多保留两位小数（精确到分）：{0}")]
    TooManyDecimals(String),
    #[error("金额不能为负数：{0}")]
    Negative(String),
    #[error("金额过大：{0}")]
    TooLarge(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_fen(fen: i64) -> Self {
        Money(fen)
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    /// Whole yuan. Panics on overflow (beyond ±92 trillion yuan).
    pub fn from_yuan(yuan: i64) -> Self {
        Money(yuan.checked_mul(100).expect("金额溢出"))
    }

    /// Reads a non-negative yuan amount: "1234", "1234.5", "1,234.56",
    /// "¥12", "12元". At most two decimals; thousands separators, if used,
    /// must group by three.
    pub fn parse_yuan(s: &str) -> Result<Money, MoneyError> {
        let original = s.trim();
        if original.is_empty() {
            return Err(MoneyError::Empty);
        }
        let invalid = || MoneyError::Invalid(original.to_string());

        let mut rest = original;
        let negative = if let Some(r) = rest.strip_prefix('-') {
            rest = r.trim_start();
            true
        } else {
            false
        };
        for symbol in ['¥', '￥'] {
            if let Some(r) = rest.strip_prefix(symbol) {
                rest = r.trim_start();
                break;
            }
        }
        if let Some(r) = rest.strip_suffix('元') {
            rest = r.trim_end();
        }
        if rest.is_empty() {
            return Err(invalid());
        }

        let (int_part, frac_part) = match rest.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (rest, None),
        };
        let int_digits = normalize_integer(int_part).ok_or_else(invalid)?;
        let frac_fen: i64 = match frac_part {
            None => 0,
            Some(f) => {
                if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                if f.len() > 2 {
                    return Err(MoneyError::TooManyDecimals(original.to_string()));
                }
                let v: i64 = f.parse().map_err(|_| invalid())?;
                if f.len() == 1 { v * 10 } else { v }
            }
        };

        let too_large = || MoneyError::TooLarge(original.to_string());
        let yuan: i64 = int_digits.parse().map_err(|_| too_large())?;
        let fen = yuan
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac_fen))
            .ok_or_else(too_large)?;
        if negative {
            return Err(MoneyError::Negative(original.to_string()));
        }
        Ok(Money(fen))
    }

    /// Plain machine-friendly form with exactly two decimals: "1234.56".
    pub fn yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Returns the integer digits without thousands separators, or None if the
/// part is empty, contains non-digits, or uses separators inconsistently.
fn normalize_integer(part: &str) -> Option<String> {
    if part.is_empty() {
        return None;
    }
    if !part.contains(',') {
        return part
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.to_string());
    }
    let groups: Vec<&str> = part.split(',').collect();
    let first_ok = (1..=3).contains(&groups[0].len());
    let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
    let digits_ok = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    (first_ok && rest_ok && digits_ok).then(|| groups.concat())
}

/// Human form with thousands separators: "1,234.56".
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let yuan = (abs / 100).to_string();
        let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3);
        for (i, c) in yuan.chars().enumerate() {
            if i > 0 && (yuan.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{sign}{grouped}.{:02}", abs % 100)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Money::parse_yuan(s)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<i64, MoneyError> {
        Money::parse_yuan(s).map(Money::fen)
    }

    #[test]
    fn parses_accepted_forms() {
        assert_eq!(p("1234"), Ok(123_400));
        assert_eq!(p("1234.5"), Ok(123_450));
        assert_eq!(p("1234.56"), Ok(123_456));
        assert_eq!(p("1,234.56"), Ok(123_456));
        assert_eq!(p("1,234,567"), Ok(123_456_700));
        assert_eq!(p("¥12"), Ok(1_200));
        assert_eq!(p("￥ 12.30"), Ok(1_230));
        assert_eq!(p("12元"), Ok(1_200));
        assert_eq!(p(" ¥1,000.05元 "), Ok(100_005));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("0.01"), Ok(1));
        assert_eq!(p("007"), Ok(700));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(p(""), Err(MoneyError::Empty));
        assert_eq!(p("  "), Err(MoneyError::Empty));
        assert_eq!(
            p("12.345"),
            Err(MoneyError::TooManyDecimals("12.345".into()))
        );
        assert_eq!(p("-5"), Err(MoneyError::Negative("-5".into())));
        assert_eq!(p("-¥5.00"), Err(MoneyError::Negative("-¥5.00".into())));
        for bad in [
            "abc", "12a", "1.2.3", "12.", ".5", "¥", "元", "1,23", "12,34.5", ",123", "1,,234",
            "1 234", "1e3", "+5", "12.3a", "-abc",
        ] {
            assert!(
                matches!(p(bad), Err(MoneyError::Invalid(_))),
                "{bad}: {:?}",
                p(bad)
            );
        }
        assert!(matches!(
            p("999999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(
            MoneyError::Invalid("abc".into()).to_string(),
            "金额格式无法识别：abc"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(Money::from_fen(123_456).yuan_string(), "1234.56");
        assert_eq!(Money::from_fen(5).yuan_string(), "0.05");
        assert_eq!(Money::from_fen(-5).yuan_string(), "-0.05");
        assert_eq!(Money::from_yuan(12).yuan_string(), "12.00");
        assert_eq!(Money::from_fen(123_456).to_string(), "1,234.56");
        assert_eq!(Money::from_fen(100_000_000).to_string(), "1,000,000.00");
        assert_eq!(Money::from_fen(99_999).to_string(), "999.99");
        assert_eq!(Money::from_fen(0).to_string(), "0.00");
        assert_eq!(Money::from_fen(-123_456).to_string(), "-1,234.56");
        assert_eq!(
            Money::from_fen(i64::MIN).to_string(),
            "-92,233,720,368,547,758.08"
        );
    }

    #[test]
    fn arithmetic_and_serde() {
        let a = Money::from_yuan(10);
        let b = Money::from_fen(250);
        assert_eq!((a + b).fen(), 1_250);
        assert_eq!((a - b).fen(), 750);
        let mut c = a;
        c += b;
        c -= Money::from_fen(50);
        assert_eq!(c.fen(), 1_200);
        let v = vec![a, b, b];
        assert_eq!(v.iter().sum::<Money>().fen(), 1_500);
        assert_eq!(v.into_iter().sum::<Money>().fen(), 1_500);
        assert!(a > b);
        assert_eq!(serde_json::to_string(&b).unwrap(), "250");
        assert_eq!(serde_json::from_str::<Money>("250").unwrap(), b);
    }

    proptest! {
        #[test]
        fn yuan_string_round_trips(fen in 0i64..=i64::MAX) {
            let m = Money::from_fen(fen);
            prop_assert_eq!(Money::parse_yuan(&m.yuan_string()), Ok(m));
        }

        #[test]
        fn display_round_trips(fen in 0i64..=i64::MAX) {
            let m = Money::from_fen(fen);
            prop_assert_eq!(Money::parse_yuan(&m.to_string()), Ok(m));
            prop_assert_eq!(Money::parse_yuan(&format!("¥{m}")), Ok(m));
            prop_assert_eq!(Money::parse_yuan(&format!("{}元", m.yuan_string())), Ok(m));
        }

        #[test]
        fn small_amounts_round_trip(fen in 0i64..10_000_000) {
            let m = Money::from_fen(fen);
            prop_assert_eq!(Money::parse_yuan(&m.to_string()), Ok(m));
        }
    }
}
