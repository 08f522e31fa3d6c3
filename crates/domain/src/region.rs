//! Region codes: 6-digit county codes (GB/T 2260) extended by the National
//! Bureau of Statistics to 9 digits for towns/streets and 12 digits for
//! villages/communities.
//!
//! Jurisdiction is decided purely by code prefix, so the code must be
//! well-formed: exactly 6, 9 or 12 digits, with no all-zero town or village
//! segment (which would make a town code indistinguishable from its county).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::person::coded_enum;

coded_enum! {
    /// Administrative level a region code refers to.
    pub enum RegionLevel {
        County("county", "区县"),
        Town("town", "乡镇街道"),
        Village("village", "村社区"),
    }
}

impl RegionLevel {
    /// Number of digits in a code of this level.
    pub fn code_len(self) -> usize {
        match self {
            RegionLevel::County => 6,
            RegionLevel::Town => 9,
            RegionLevel::Village => 12,
        }
    }
}

/// Kind of town-level unit, encoded in digits 7–9 of the NBS code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TownKind {
    /// 街道 (001–099)
    Street,
    /// 镇 (100–199)
    Town,
    /// 乡 (200–399)
    Township,
}

impl TownKind {
    pub fn label(self) -> &'static str {
        match self {
            TownKind::Street => "街道",
            TownKind::Town => "镇",
            TownKind::Township => "乡",
        }
    }
}

/// Why a region code was rejected. Display is shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("区划代码不能为空")]
    Empty,
    #[error("区划代码应为6位（区县）、9位（乡镇街道）或12位（村社区），实为 {0} 位")]
    BadLength(usize),
    #[error("区划代码只能包含数字")]
    BadCharacters,
    #[error("区划代码 {0} 中的乡镇或村级部分不能为 000")]
    ZeroSegment(String),
}

/// A well-formed county, town or village code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses a code, ignoring surrounding whitespace. Only the format is
    /// checked; whether a county exists is [`crate::id_number::county_code_known`].
    pub fn parse(s: &str) -> Result<Self, RegionError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RegionError::Empty);
        }
        let len = s.chars().count();
        if !matches!(len, 6 | 9 | 12) {
            return Err(RegionError::BadLength(len));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionError::BadCharacters);
        }
        if (len >= 9 && &s[6..9] == "000") || (len == 12 && &s[9..12] == "000") {
            return Err(RegionError::ZeroSegment(s.to_string()));
        }
        Ok(RegionCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> RegionLevel {
        match self.0.len() {
            6 => RegionLevel::County,
            9 => RegionLevel::Town,
            _ => RegionLevel::Village,
        }
    }

    /// The 6-digit county part.
    pub fn county(&self) -> &str {
        &self.0[..6]
    }

    /// The 9-digit town part, if this is a town or village code.
    pub fn town(&self) -> Option<&str> {
        (self.0.len() >= 9).then(|| &self.0[..9])
    }

    /// The enclosing region one level up (None for a county).
    pub fn parent(&self) -> Option<RegionCode> {
        match self.level() {
            RegionLevel::County => None,
            RegionLevel::Town => Some(RegionCode(self.0[..6].to_string())),
            RegionLevel::Village => Some(RegionCode(self.0[..9].to_string())),
        }
    }

    /// Whether `code` is this region or lies inside it. `code` must itself
    /// be a well-formed region code at this level or below; anything else
    /// (including garbage that merely shares the prefix) is not contained,
    /// so access checks fail closed.
    pub fn contains(&self, code: &str) -> bool {
        match RegionCode::parse(code) {
            Ok(other) => other.0.len() >= self.0.len() && other.0.starts_with(&self.0),
            Err(_) => false,
        }
    }

    /// Street / town / township, from digits 7–9 (None for counties and
    /// for special codes such as development zones, 400 and above).
    pub fn town_kind(&self) -> Option<TownKind> {
        let n: u16 = self.town()?[6..9].parse().ok()?;
        match n {
            1..=99 => Some(TownKind::Street),
            100..=199 => Some(TownKind::Town),
            200..=399 => Some(TownKind::Township),
            _ => None,
        }
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RegionCode {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, RegionError> {
        RegionCode::parse(s)
    }
}

impl Serialize for RegionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        RegionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Coded;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn levels_and_parts() {
        let county = rc("330106");
        let town = rc("330106004");
        let village = rc(" 330106004001 ");
        assert_eq!(county.level(), RegionLevel::County);
        assert_eq!(town.level(), RegionLevel::Town);
        assert_eq!(village.level(), RegionLevel::Village);
        assert_eq!(village.as_str(), "330106004001");
        assert_eq!(village.county(), "330106");
        assert_eq!(village.town(), Some("330106004"));
        assert_eq!(county.town(), None);
        assert_eq!(village.parent(), Some(town.clone()));
        assert_eq!(town.parent(), Some(county.clone()));
        assert_eq!(county.parent(), None);
        for level in RegionLevel::all() {
            assert!(matches!(level.code_len(), 6 | 9 | 12));
        }
        assert_eq!(RegionLevel::Town.label(), "乡镇街道");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(RegionCode::parse(""), Err(RegionError::Empty));
        assert_eq!(RegionCode::parse("3301"), Err(RegionError::BadLength(4)));
        assert_eq!(
            RegionCode::parse("33010600"),
            Err(RegionError::BadLength(8))
        );
        assert_eq!(RegionCode::parse("33010a"), Err(RegionError::BadCharacters));
        assert_eq!(
            RegionCode::parse("三三〇一〇六"),
            Err(RegionError::BadCharacters)
        );
        assert_eq!(
            RegionCode::parse("330106000"),
            Err(RegionError::ZeroSegment("330106000".into()))
        );
        assert!(RegionCode::parse("330106004000").is_err());
        assert_eq!(
            RegionError::BadLength(4).to_string(),
            "区划代码应为6位（区县）、9位（乡镇街道）或12位（村社区），实为 4 位"
        );
    }

    #[test]
    fn containment_is_ancestor_or_self() {
        let county = rc("330106");
        let town = rc("330106004");
        assert!(county.contains("330106"));
        assert!(county.contains("330106004"));
        assert!(county.contains("330106004001"));
        assert!(town.contains("330106004001"));
        assert!(town.contains("330106004"));
        assert!(!town.contains("330106"));
        assert!(!town.contains("330106005001"));
        assert!(!county.contains("330105004001"));
        assert!(!county.contains("3301060"));
        assert!(!county.contains("330106xyz"));
        assert!(!county.contains(""));
    }

    #[test]
    fn town_kinds() {
        assert_eq!(rc("330106004").town_kind(), Some(TownKind::Street));
        assert_eq!(rc("330106101001").town_kind(), Some(TownKind::Town));
        assert_eq!(rc("330106201").town_kind(), Some(TownKind::Township));
        assert_eq!(rc("330106400").town_kind(), None);
        assert_eq!(rc("330106").town_kind(), None);
        assert_eq!(TownKind::Township.label(), "乡");
    }

    #[test]
    fn serde_as_string() {
        let code = rc("330106004001");
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"330106004001\"");
        assert_eq!(serde_json::from_str::<RegionCode>(&json).unwrap(), code);
        assert!(serde_json::from_str::<RegionCode>("\"12\"").is_err());
        assert_eq!(code.to_string(), "330106004001");
        assert_eq!("330106".parse::<RegionCode>().unwrap(), rc("330106"));
    }
}
