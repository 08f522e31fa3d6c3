//! Deterministic demo data for doudi: the administrative divisions of 杭州市西湖区
//! and plausible households of people in hardship (低保, 特困, 低保边缘 …).
//!
//! Everything is derived from a seed with ChaCha8, so the same seed always
//! yields the same regions and the same sequence of households.
//!
//! ```no_run
//! use doudi_demo::{demo_regions, DemoGenerator};
//! let regions = demo_regions(1);
//! let villages = regions
//!     .into_iter()
//!     .filter(|r| r.level == doudi_domain::RegionLevel::Village)
//!     .collect();
//! let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
//! let mut generator = DemoGenerator::new(1, villages, today);
//! let household = generator.next_household();
//! assert_eq!(household.members[0].relation, doudi_domain::person::Relation::Head);
//! ```

mod households;
mod names;
mod regions;

pub use households::DemoGenerator;

/// One administrative unit of the demo district.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoRegion {
    /// 6 (county), 9 (street/town) or 12 (community/village) digits.
    pub code: String,
    /// Full name including the kind, e.g. "西湖区", "北山街道", "文新社区", "桂花村".
    pub name: String,
    pub level: doudi_domain::RegionLevel,
    /// Code of the parent unit; None for the county.
    pub parent: Option<String>,
    /// "区", "街道", "镇", "乡", "社区" or "村".
    pub kind: &'static str,
}

/// 西湖区 (330106), its 12 real streets and towns (from
/// `data/divisions/streets-330106.csv`), and 6–14 generated communities or
/// villages under each: 社区 with codes ending 001–199 under every street and
/// town, 村 with codes ending 200–399 under towns (镇) only. Names are unique
/// within the district. The county comes first, then the towns in code order,
/// then the villages grouped by town. Deterministic in `seed`.
pub fn demo_regions(seed: u64) -> Vec<DemoRegion> {
    regions::demo_regions(seed)
}
