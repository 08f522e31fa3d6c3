//! Households: assistance categories, income and asset kinds, statuses, and
//! the plain record types shared by the demo generator, the importer and
//! the store.
//!
//! Assistance in China is assessed per household (共同生活家庭), so members,
//! incomes, assets and the categories a household is enrolled in travel
//! together as one [`HouseholdRecord`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::id_number::IdNumber;
use crate::money::Money;
use crate::person::{DisabilityType, Employment, Relation, Schooling, SelfCare, coded_enum};

coded_enum! {
    /// Assistance category a household is enrolled in or monitored under.
    pub enum Category {
        Dibao("dibao", "低保"),
        Tekun("tekun", "特困"),
        Dibian("dibian", "低保边缘"),
        RigidSpending("rigid", "刚性支出困难"),
        PovertyMonitor("monitor", "防止返贫监测"),
        OtherHardship("other", "其他困难"),
    }
}

impl Category {
    /// Categories that carry benefits: held only by a decision (an approved
    /// item), never set by hand in a household file.
    pub fn carries_benefits(self) -> bool {
        matches!(self, Category::Dibao | Category::Tekun | Category::Dibian)
    }
}

coded_enum! {
    /// Income classes as in the household income survey (四类收入).
    pub enum IncomeKind {
        Wage("wage", "工资性收入"),
        Business("business", "经营净收入"),
        Property("property", "财产净收入"),
        Transfer("transfer", "转移净收入"),
        Other("other", "其他收入"),
    }
}

coded_enum! {
    /// Asset classes checked in the means test.
    pub enum AssetKind {
        House("house", "房产"),
        Vehicle("vehicle", "车辆"),
        Deposit("deposit", "存款"),
        Securities("securities", "有价证券"),
        Business("business", "经营性资产"),
        Other("other", "其他"),
    }
}

coded_enum! {
    /// Whether a household record is current. Records are deactivated,
    /// never deleted, so the history of assistance stays auditable.
    pub enum HouseholdStatus {
        Active("active", "正常"),
        Dissolved("dissolved", "已注销"),
    }
}

coded_enum! {
    /// Whether a member is alive; deceased members stay on record for audit.
    pub enum PersonStatus {
        Alive("alive", "健在"),
        Deceased("deceased", "已故"),
    }
}

/// A household with everything needed to assess and record it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HouseholdRecord {
    /// 12-digit village/community code of the household registration.
    pub village_code: String,
    pub registration_address: String,
    pub residence_address: String,
    /// Set when the household actually lives in a different village (人户分离).
    pub residence_village_code: Option<String>,
    pub phone: Option<String>,
    pub note: String,
    /// `members[0]` is the head of household.
    pub members: Vec<MemberRecord>,
    pub incomes: Vec<IncomeRecord>,
    pub assets: Vec<AssetRecord>,
    pub categories: Vec<CategoryRecord>,
}

/// One member of a household.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub name: String,
    pub id_number: IdNumber,
    pub relation: Relation,
    pub phone: Option<String>,
    /// Type and grade (1–4) from the disability certificate.
    pub disability: Option<(DisabilityType, u8)>,
    /// Free-text serious or chronic illnesses.
    pub illnesses: String,
    pub self_care: SelfCare,
    pub employment: Employment,
    pub schooling: Schooling,
    pub deceased_on: Option<NaiveDate>,
}

impl MemberRecord {
    /// Derived from `deceased_on` so the two can never disagree.
    pub fn status(&self) -> PersonStatus {
        if self.deceased_on.is_some() {
            PersonStatus::Deceased
        } else {
            PersonStatus::Alive
        }
    }
}

/// A monthly income item, optionally attributed to one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncomeRecord {
    /// Index into `HouseholdRecord::members`; None for household-level income.
    pub member_index: Option<usize>,
    pub kind: IncomeKind,
    pub description: String,
    pub monthly: Money,
}

/// An asset item with its assessed value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetRecord {
    pub kind: AssetKind,
    pub description: String,
    pub value: Money,
}

/// Enrolment of the household in a category over a period; `end` None
/// means still enrolled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryRecord {
    pub category: Category,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Coded;

    #[test]
    fn category_codes_match_spec() {
        let codes: Vec<_> = Category::all().iter().map(|c| c.code()).collect();
        assert_eq!(
            codes,
            ["dibao", "tekun", "dibian", "rigid", "monitor", "other"]
        );
        assert_eq!(Category::from_label("低保边缘"), Some(Category::Dibian));
        assert_eq!(Category::RigidSpending.to_string(), "刚性支出困难");
        assert_eq!(
            IncomeKind::from_code("transfer"),
            Some(IncomeKind::Transfer)
        );
        assert_eq!(AssetKind::Securities.label(), "有价证券");
        assert_eq!(HouseholdStatus::Dissolved.label(), "已注销");
        assert_eq!(PersonStatus::Deceased.code(), "deceased");
    }

    fn sample() -> HouseholdRecord {
        let head = MemberRecord {
            name: "张三".into(),
            id_number: IdNumber::parse("11010519491231002X").unwrap(),
            relation: Relation::Head,
            phone: Some("13812345678".into()),
            disability: Some((DisabilityType::Physical, 2)),
            illnesses: "高血压".into(),
            self_care: SelfCare::default(),
            employment: Employment::NoCapacity,
            schooling: Schooling::Graduated,
            deceased_on: None,
        };
        HouseholdRecord {
            village_code: "330106004001".into(),
            registration_address: "西溪街道某社区1号".into(),
            residence_address: "西溪街道某社区1号".into(),
            residence_village_code: None,
            phone: None,
            note: String::new(),
            members: vec![head],
            incomes: vec![IncomeRecord {
                member_index: Some(0),
                kind: IncomeKind::Transfer,
                description: "养老金".into(),
                monthly: Money::from_yuan(300),
            }],
            assets: vec![AssetRecord {
                kind: AssetKind::Deposit,
                description: "银行存款".into(),
                value: Money::from_yuan(5_000),
            }],
            categories: vec![CategoryRecord {
                category: Category::Dibao,
                start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                end: None,
            }],
        }
    }

    #[test]
    fn records_round_trip_through_json() {
        let h = sample();
        assert_eq!(h.members[0].status(), PersonStatus::Alive);
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains("\"relation\":\"head\""));
        assert!(json.contains("\"category\":\"dibao\""));
        let back: HouseholdRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        let mut dead = h.members[0].clone();
        dead.deceased_on = NaiveDate::from_ymd_opt(2025, 5, 1);
        assert_eq!(dead.status(), PersonStatus::Deceased);
    }
}
