//! Resident identity numbers (公民身份号码, GB 11643-1999).
//!
//! An ID number is the key that links a person across departments, so a typo
//! silently creates a second person. We therefore validate everything that
//! can be validated offline: length, characters, the region code against the
//! historical division table (retired codes stay valid: people keep the
//! number they were issued), the birth date, and the ISO 7064 check
//! character. Old 15-digit numbers are upgraded to 18 digits, keeping the
//! original so the user can still recognise what they typed.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::person::Sex;

/// Why an ID number was rejected. Display is shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("身份证号不能为空")]
    Empty,
    #[error("身份证号长度应为18位（或15位旧号），实为 {0} 位")]
    BadLength(usize),
    #[error("身份证号只能包含数字，18位号码的最后一位可以是 X")]
    BadCharacters,
    #[error("身份证号中的地区码 {0} 不在行政区划代码表中")]
    UnknownCountyCode(String),
    #[error("身份证号中的出生日期无效")]
    BadBirthDate,
    #[error("出生日期晚于今天")]
    FutureBirthDate,
    #[error("身份证号校验位错误：应为 {expected}，实为 {found}")]
    BadCheckChar { expected: char, found: char },
}

/// Earliest birth year we accept; anything older is certainly a typo.
const MIN_BIRTH_YEAR: i32 = 1890;

/// A validated 18-character identity number (digits, last may be `X`).
///
/// Equality, ordering and hashing use the 18-digit value only: the same
/// person entered once with the old 15-digit number and once with the new
/// one is the same person.
#[derive(Clone, Debug)]
pub struct IdNumber {
    value: String,
    original: Option<String>,
}

impl IdNumber {
    /// Parses and fully validates an ID number. Surrounding whitespace is
    /// ignored and a lowercase `x` is accepted. A 15-digit (pre-1999)
    /// number is converted to 18 digits; the input is kept in `original()`.
    ///
    /// Does not look at the clock; use [`IdNumber::parse_as_of`] to also
    /// reject birth dates in the future.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty);
        }
        let normalized: String = trimmed
            .chars()
            .map(|c| if c == 'x' { 'X' } else { c })
            .collect();
        let len = normalized.chars().count();
        match len {
            18 => {
                let bytes = normalized.as_bytes();
                let body_ok = bytes[..17].iter().all(u8::is_ascii_digit);
                let last_ok = bytes[17].is_ascii_digit() || bytes[17] == b'X';
                // All-ASCII is implied by 18 chars == 18 bytes; check it
                // before slicing so multibyte input never panics.
                if normalized.len() != 18 || !body_ok || !last_ok {
                    return Err(IdError::BadCharacters);
                }
                validate_county(&normalized[..6])?;
                parse_birth(&normalized[6..14])?;
                let expected = check_char(&normalized[..17]);
                let found = bytes[17] as char;
                if expected != found {
                    return Err(IdError::BadCheckChar { expected, found });
                }
                Ok(IdNumber {
                    value: normalized,
                    original: None,
                })
            }
            15 => {
                if normalized.len() != 15 || !normalized.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::BadCharacters);
                }
                validate_county(&normalized[..6])?;
                let mut first17 = String::with_capacity(18);
                first17.push_str(&normalized[..6]);
                first17.push_str("19");
                first17.push_str(&normalized[6..]);
                parse_birth(&first17[6..14])?;
                let check = check_char(&first17);
                first17.push(check);
                Ok(IdNumber {
                    value: first17,
                    original: Some(normalized),
                })
            }
            n => Err(IdError::BadLength(n)),
        }
    }

    /// Like [`IdNumber::parse`], and additionally rejects a birth date after
    /// `today` (callers pass the date so this crate stays clock-free).
    pub fn parse_as_of(input: &str, today: NaiveDate) -> Result<Self, IdError> {
        let id = Self::parse(input)?;
        if id.birth_date() > today {
            return Err(IdError::FutureBirthDate);
        }
        Ok(id)
    }

    /// Builds a valid number from its parts (used by the demo generator and
    /// tests). `seq` is the 3-digit order code 0..=999; odd means male.
    ///
    /// A `seq` above 999 cannot be written in three digits and is reported
    /// as `BadLength` of the resulting (too long) number.
    pub fn from_parts(county: &str, birth: NaiveDate, seq: u16) -> Result<Self, IdError> {
        if county.len() != 6 || !county.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::UnknownCountyCode(county.to_string()));
        }
        validate_county(county)?;
        if !(MIN_BIRTH_YEAR..=9999).contains(&birth.year()) {
            return Err(IdError::BadBirthDate);
        }
        if seq > 999 {
            let digits = seq.to_string().len();
            return Err(IdError::BadLength(6 + 8 + digits + 1));
        }
        let mut value = format!("{county}{}{seq:03}", birth.format("%Y%m%d"));
        let check = check_char(&value);
        value.push(check);
        Ok(IdNumber {
            value,
            original: None,
        })
    }

    /// The normalised 18-character number.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The 15-digit number as entered, if this one was converted from it.
    pub fn original(&self) -> Option<&str> {
        self.original.as_deref()
    }

    /// The 6-digit region code of the issuing county.
    pub fn county_code(&self) -> &str {
        &self.value[..6]
    }

    pub fn birth_date(&self) -> NaiveDate {
        parse_birth(&self.value[6..14]).expect("validated at construction")
    }

    /// The 17th digit encodes sex: odd for male, even for female.
    pub fn sex(&self) -> Sex {
        let digit = self.value.as_bytes()[16] - b'0';
        if digit % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Display form for lists and logs: keeps the region code and the last
    /// four characters, hides the birth date and most of the sequence.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.value[..6], &self.value[14..])
    }

    /// Age in completed years on `date` (0 if `date` is before birth).
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.birth_date()).unwrap_or(0)
    }
}

impl PartialEq for IdNumber {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for IdNumber {}

impl Hash for IdNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl PartialOrd for IdNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for IdNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        IdNumber::parse(s)
    }
}

impl Serialize for IdNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        IdNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// ISO 7064 MOD 11-2 check character over the first 17 digits.
///
/// # Panics
/// If `first17` is not exactly 17 ASCII digits (a programming error: all
/// callers in this module validate first).
pub fn check_char(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    assert!(
        first17.len() == 17 && first17.bytes().all(|b| b.is_ascii_digit()),
        "check_char needs exactly 17 digits, got {first17:?}"
    );
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

/// The division table, embedded so validation needs no database or network.
const DIVISIONS_CSV: &str = include_str!("../../../data/divisions/county-codes-history.csv");

fn county_codes() -> &'static HashSet<&'static str> {
    static CODES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        DIVISIONS_CSV
            .trim_start_matches('\u{feff}')
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next())
            .map(str::trim)
            .filter(|code| code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
            .collect()
    })
}

/// Whether `code` appears in the historical division table (1981 onwards),
/// retired codes included, since IDs are never reissued when a county is
/// merged or renamed.
pub fn county_code_known(code: &str) -> bool {
    county_codes().contains(code)
}

fn validate_county(code: &str) -> Result<(), IdError> {
    if county_code_known(code) {
        Ok(())
    } else {
        Err(IdError::UnknownCountyCode(code.to_string()))
    }
}

/// Parses the 8-digit YYYYMMDD birth date embedded in the number.
fn parse_birth(yyyymmdd: &str) -> Result<NaiveDate, IdError> {
    let year: i32 = yyyymmdd[..4].parse().map_err(|_| IdError::BadBirthDate)?;
    let month: u32 = yyyymmdd[4..6].parse().map_err(|_| IdError::BadBirthDate)?;
    let day: u32 = yyyymmdd[6..8].parse().map_err(|_| IdError::BadBirthDate)?;
    if year < MIN_BIRTH_YEAR {
        return Err(IdError::BadBirthDate);
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or(IdError::BadBirthDate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "11010519491231002X";

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Replaces the check character of `first17 + ?` with the right one.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17))
    }

    #[test]
    fn known_good_number() {
        let id = IdNumber::parse(GOOD).unwrap();
        assert_eq!(id.as_str(), GOOD);
        assert_eq!(id.to_string(), GOOD);
        assert_eq!(id.original(), None);
        assert_eq!(id.county_code(), "110105");
        assert_eq!(id.birth_date(), ymd(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(check_char(&GOOD[..17]), 'X');
    }

    #[test]
    fn lowercase_x_and_whitespace_normalised() {
        let id = IdNumber::parse("  11010519491231002x\t").unwrap();
        assert_eq!(id.as_str(), GOOD);
        assert_eq!(id, IdNumber::parse(GOOD).unwrap());
    }

    #[test]
    fn empty_and_length_errors() {
        assert_eq!(IdNumber::parse(""), Err(IdError::Empty));
        assert_eq!(IdNumber::parse("   "), Err(IdError::Empty));
        assert_eq!(IdNumber::parse("1101051949"), Err(IdError::BadLength(10)));
        assert_eq!(
            IdNumber::parse("11010519491231002X1"),
            Err(IdError::BadLength(19))
        );
        // Length counts characters, not bytes.
        assert_eq!(IdNumber::parse("身份证"), Err(IdError::BadLength(3)));
        assert_eq!(
            IdError::BadLength(17).to_string(),
            "身份证号长度应为18位（或15位旧号），实为 17 位"
        );
    }

    #[test]
    fn character_errors() {
        assert_eq!(
            IdNumber::parse("1101051949123100XX"),
            Err(IdError::BadCharacters)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y"),
            Err(IdError::BadCharacters)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002中"),
            Err(IdError::BadCharacters)
        );
        assert_eq!(
            IdNumber::parse("11010549123100X"),
            Err(IdError::BadCharacters)
        );
        assert_eq!(
            IdNumber::parse("110105 9491231002X"),
            Err(IdError::BadCharacters)
        );
    }

    #[test]
    fn unknown_county_rejected() {
        let bad = with_check("12345619491231002");
        let err = IdNumber::parse(&bad).unwrap_err();
        assert_eq!(err, IdError::UnknownCountyCode("123456".into()));
        assert_eq!(
            err.to_string(),
            "身份证号中的地区码 123456 不在行政区划代码表中"
        );
        assert!(!county_code_known("123456"));
        assert!(!county_code_known("代码"));
        assert!(!county_code_known(""));
    }

    #[test]
    fn retired_county_accepted() {
        // 110103 崇文区 was merged into 东城区 in 2010; people keep their numbers.
        assert!(county_code_known("110103"));
        let id = IdNumber::parse(&with_check("11010319800101001")).unwrap();
        assert_eq!(id.county_code(), "110103");
        assert_eq!(id.sex(), Sex::Male);
    }

    #[test]
    fn table_loaded_with_bom_stripped() {
        // The first data row follows the BOM-prefixed header.
        assert!(county_code_known("110000"));
        assert!(county_code_known("110101"));
        assert!(county_code_known("330106"));
        assert!(county_codes().len() > 3000);
    }

    #[test]
    fn bad_birth_dates_rejected() {
        for body in [
            "11010519490230001", // 30 February
            "11010519491301001", // month 13
            "11010519490000001", // month 0, day 0
            "11010518891231001", // before 1890
            "11010519000229001", // 1900 is not a leap year
        ] {
            assert_eq!(
                IdNumber::parse(&with_check(body)),
                Err(IdError::BadBirthDate),
                "{body}"
            );
        }
        assert!(IdNumber::parse(&with_check("11010520000229001")).is_ok());
        assert_eq!(
            IdError::BadBirthDate.to_string(),
            "身份证号中的出生日期无效"
        );
    }

    #[test]
    fn future_birth_date_rejected_only_with_today() {
        let future = with_check("11010520300101001");
        let today = ymd(2026, 3, 1);
        assert!(IdNumber::parse(&future).is_ok());
        let err = IdNumber::parse_as_of(&future, today).unwrap_err();
        assert_eq!(err, IdError::FutureBirthDate);
        assert_eq!(err.to_string(), "出生日期晚于今天");
        // Born today is fine.
        let born_today = with_check("11010520260301001");
        assert!(IdNumber::parse_as_of(&born_today, today).is_ok());
        assert!(IdNumber::parse_as_of(GOOD, today).is_ok());
    }

    #[test]
    fn wrong_check_char_rejected() {
        let err = IdNumber::parse("110105194912310021").unwrap_err();
        assert_eq!(
            err,
            IdError::BadCheckChar {
                expected: 'X',
                found: '1'
            }
        );
        assert_eq!(err.to_string(), "身份证号校验位错误：应为 X，实为 1");
    }

    #[test]
    fn fifteen_digit_converted() {
        // 110105491231002 -> 11010519491231002X
        let id = IdNumber::parse("110105491231002").unwrap();
        assert_eq!(id.as_str(), GOOD);
        assert_eq!(id.original(), Some("110105491231002"));
        assert_eq!(id.birth_date(), ymd(1949, 12, 31));
        assert_eq!(id, IdNumber::parse(GOOD).unwrap());
        assert_eq!(
            IdNumber::parse("110105490230002"),
            Err(IdError::BadBirthDate)
        );
        assert_eq!(
            IdNumber::parse("123456491231002"),
            Err(IdError::UnknownCountyCode("123456".into()))
        );
    }

    #[test]
    fn from_parts_builds_valid_numbers() {
        let id = IdNumber::from_parts("110105", ymd(1949, 12, 31), 2).unwrap();
        assert_eq!(id.as_str(), GOOD);
        let id = IdNumber::from_parts("330106", ymd(2001, 2, 3), 7).unwrap();
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(&id.as_str()[14..17], "007");
        assert_eq!(
            IdNumber::from_parts("123456", ymd(2000, 1, 1), 1),
            Err(IdError::UnknownCountyCode("123456".into()))
        );
        assert_eq!(
            IdNumber::from_parts("1101", ymd(2000, 1, 1), 1),
            Err(IdError::UnknownCountyCode("1101".into()))
        );
        assert_eq!(
            IdNumber::from_parts("110105", ymd(1880, 1, 1), 1),
            Err(IdError::BadBirthDate)
        );
        assert_eq!(
            IdNumber::from_parts("110105", ymd(2000, 1, 1), 1000),
            Err(IdError::BadLength(19))
        );
    }

    #[test]
    fn age_on_counts_completed_years() {
        let id = IdNumber::parse(GOOD).unwrap();
        assert_eq!(id.age_on(ymd(1949, 12, 31)), 0);
        assert_eq!(id.age_on(ymd(2024, 12, 30)), 74);
        assert_eq!(id.age_on(ymd(2024, 12, 31)), 75);
        assert_eq!(id.age_on(ymd(1949, 1, 1)), 0);
        let leap = IdNumber::from_parts("110105", ymd(2000, 2, 29), 1).unwrap();
        assert_eq!(leap.age_on(ymd(2001, 2, 28)), 0);
        assert_eq!(leap.age_on(ymd(2001, 3, 1)), 1);
    }

    #[test]
    fn serde_as_string() {
        let id = IdNumber::parse(GOOD).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{GOOD}\""));
        let back: IdNumber = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<IdNumber>("\"110105194912310021\"").is_err());
    }

    fn known_codes() -> Vec<&'static str> {
        let mut v: Vec<_> = county_codes().iter().copied().collect();
        v.sort_unstable();
        v
    }

    fn date_between(from: NaiveDate, to: NaiveDate) -> impl Strategy<Value = NaiveDate> {
        let span = (to - from).num_days();
        (0..=span).prop_map(move |d| from + chrono::Duration::days(d))
    }

    proptest! {
        #[test]
        fn from_parts_reparses(
            county in prop::sample::select(known_codes()),
            birth in date_between(NaiveDate::from_ymd_opt(1890, 1, 1).unwrap(),
                                  NaiveDate::from_ymd_opt(2100, 12, 31).unwrap()),
            seq in 0u16..=999,
        ) {
            let id = IdNumber::from_parts(county, birth, seq).unwrap();
            let again = IdNumber::parse(id.as_str()).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert_eq!(again.birth_date(), birth);
            prop_assert_eq!(again.county_code(), county);
            let expected_sex = if seq % 2 == 1 { Sex::Male } else { Sex::Female };
            prop_assert_eq!(again.sex(), expected_sex);
            prop_assert_eq!(again.masked().chars().count(), 18);
        }

        #[test]
        fn any_single_digit_change_is_invalid(
            county in prop::sample::select(known_codes()),
            birth in date_between(NaiveDate::from_ymd_opt(1890, 1, 1).unwrap(),
                                  NaiveDate::from_ymd_opt(2030, 12, 31).unwrap()),
            seq in 0u16..=999,
            pos in 0usize..18,
            replacement in prop::sample::select(b"0123456789X".to_vec()),
        ) {
            let id = IdNumber::from_parts(county, birth, seq).unwrap();
            let mut bytes = id.as_str().as_bytes().to_vec();
            prop_assume!(bytes[pos] != replacement);
            bytes[pos] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(IdNumber::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn fifteen_digit_round_trip(
            county in prop::sample::select(known_codes()),
            birth in date_between(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(),
                                  NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            seq in 0u16..=999,
        ) {
            let id18 = IdNumber::from_parts(county, birth, seq).unwrap();
            let s = id18.as_str();
            let old = format!("{}{}", &s[..6], &s[8..17]);
            let converted = IdNumber::parse(&old).unwrap();
            prop_assert_eq!(converted.as_str(), s);
            prop_assert_eq!(converted.original(), Some(old.as_str()));
            prop_assert_eq!(converted.birth_date(), birth);
            prop_assert_eq!(converted.sex(), id18.sex());
        }
    }
}
