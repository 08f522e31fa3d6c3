//! Generation of plausible households of people in hardship.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{Datelike, NaiveDate};
use doudi_domain::household::{
    AssetKind, AssetRecord, Category, CategoryRecord, HouseholdRecord, IncomeKind, IncomeRecord,
    MemberRecord,
};
use doudi_domain::person::{
    DisabilityType, Employment, Relation, Schooling, SelfCare, SelfCareItem,
};
use doudi_domain::{IdNumber, Money};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DemoRegion;
use crate::names::{self, Cohort, Cumulative, pick, pick_weighted};
use crate::regions::{self, CITY_NAME, COUNTY_NAME};

// ---------------------------------------------------------------------------
// Reference tables
// ---------------------------------------------------------------------------

/// A county code an ID number may carry. `until`: first birth year that can
/// no longer be issued this (retired) code; `successor`: the code used instead.
struct County {
    code: &'static str,
    until: i32,
    successor: &'static str,
}

const ACTIVE: i32 = i32::MAX;

const fn c(code: &'static str) -> County {
    County {
        code,
        until: ACTIVE,
        successor: code,
    }
}
const fn retired(code: &'static str, until: i32, successor: &'static str) -> County {
    County {
        code,
        until,
        successor,
    }
}

/// All county codes used; index 0 must be 西湖区.
const COUNTIES: &[County] = &[
    c("330106"), // 西湖区
    // 杭州市 other districts and counties
    c("330102"),                       // 上城区
    retired("330103", 2021, "330105"), // 下城区 (merged into 拱墅区 2021)
    retired("330104", 2021, "330102"), // 江干区 (split 2021)
    c("330105"),                       // 拱墅区
    c("330108"),                       // 滨江区
    c("330109"),                       // 萧山区
    c("330110"),                       // 余杭区
    c("330122"),                       // 桐庐县
    c("330127"),                       // 淳安县
    retired("330183", 2014, "330111"), // 富阳市
    retired("330184", 2001, "330110"), // 余杭市
    c("330111"),                       // 富阳区
    // elsewhere in 浙江
    c("330681"), // 诸暨市
    c("330782"), // 义乌市
    c("331082"), // 临海市
    c("330522"), // 长兴县
    c("330824"), // 开化县
    c("330825"), // 龙游县
    c("330326"), // 平阳县
    c("331122"), // 缙云县
    c("331127"), // 景宁畲族自治县
    // migrants: 安徽, 江西, 河南, 四川, 贵州
    c("341221"),                       // 临泉县
    c("341222"),                       // 太和县
    c("341225"),                       // 阜南县
    c("341226"),                       // 颍上县
    c("341322"),                       // 萧县
    c("341324"),                       // 泗县
    c("341621"),                       // 涡阳县
    c("341623"),                       // 利辛县
    c("340822"),                       // 怀宁县
    c("340826"),                       // 宿松县
    retired("340823", 2015, "340722"), // 枞阳县 (moved to 铜陵 2015)
    c("340722"),                       // 枞阳县
    c("341125"),                       // 定远县
    c("361127"),                       // 余干县
    c("361128"),                       // 鄱阳县
    c("360981"),                       // 丰城市
    retired("362330", 2000, "361128"), // 波阳县 (上饶地区)
    retired("362329", 2000, "361127"), // 余干县 (上饶地区)
    c("411325"),                       // 内乡县
    c("411527"),                       // 淮滨县
    c("411528"),                       // 息县
    c("411721"),                       // 西平县
    retired("412726", 2000, "411625"), // 郸城县 (周口地区)
    c("411625"),                       // 郸城县
    retired("413026", 1998, "411525"), // 固始县 (信阳地区)
    c("411525"),                       // 固始县
    c("510722"),                       // 三台县
    retired("522428", 2011, "520527"), // 赫章县 (毕节地区)
    c("520527"),                       // 赫章县
];

/// Registration of people originally from 西湖区 itself (older people often
/// carry codes of the neighbouring or former districts).
const LOCAL: &[(&str, u32)] = &[
    ("330106", 840),
    ("330103", 45),
    ("330104", 30),
    ("330105", 30),
    ("330102", 20),
    ("330108", 15),
    ("330110", 20),
];
const HANGZHOU: &[(&str, u32)] = &[
    ("330102", 15),
    ("330105", 15),
    ("330103", 10),
    ("330104", 8),
    ("330108", 10),
    ("330110", 12),
    ("330109", 8),
    ("330183", 4),
    ("330184", 3),
    ("330111", 2),
    ("330122", 5),
    ("330127", 5),
];
const ZHEJIANG: &[(&str, u32)] = &[
    ("330681", 3),
    ("330782", 2),
    ("331082", 2),
    ("330522", 2),
    ("330824", 2),
    ("330825", 2),
    ("330326", 2),
    ("331122", 2),
    ("331127", 1),
];
const MIGRANT: &[(&str, u32)] = &[
    ("341221", 6),
    ("341222", 6),
    ("341225", 5),
    ("341226", 5),
    ("341322", 3),
    ("341324", 3),
    ("341621", 4),
    ("341623", 4),
    ("340822", 3),
    ("340826", 3),
    ("340823", 2),
    ("341125", 2),
    ("361127", 3),
    ("361128", 4),
    ("360981", 3),
    ("362330", 2),
    ("362329", 2),
    ("411325", 2),
    ("411527", 3),
    ("411528", 3),
    ("411721", 2),
    ("412726", 2),
    ("413026", 2),
    ("510722", 3),
    ("522428", 2),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Local,
    Hangzhou,
    Zhejiang,
    Migrant,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Structure {
    ElderlyAlone,
    ElderlyCouple,
    CoupleWithChildren,
    SingleParent,
    /// Head of the middle generation with their parents and children.
    ThreeGenMiddle,
    /// Elderly head with an adult child, child-in-law and grandchildren.
    ThreeGenElder,
    /// Working-age adult living alone (illness or disability).
    AdultAlone,
    /// Grandparents raising grandchildren (隔代抚养).
    SkipGeneration,
    /// Elderly parents caring for a disabled adult child (老养残).
    ElderWithDisabledChild,
    /// Adult with a disabled sibling.
    Siblings,
}

const STRUCTURES: &[(Structure, u32)] = &[
    (Structure::ElderlyAlone, 14),
    (Structure::ElderlyCouple, 12),
    (Structure::CoupleWithChildren, 19),
    (Structure::SingleParent, 13),
    (Structure::ThreeGenMiddle, 10),
    (Structure::ThreeGenElder, 7),
    (Structure::AdultAlone, 10),
    (Structure::SkipGeneration, 5),
    (Structure::ElderWithDisabledChild, 6),
    (Structure::Siblings, 4),
];

const CATEGORIES: &[(Category, u32)] = &[
    (Category::Dibao, 40),
    (Category::Tekun, 6),
    (Category::Dibian, 25),
    (Category::RigidSpending, 8),
    (Category::PovertyMonitor, 8),
    (Category::OtherHardship, 13),
];

const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "173", "175", "176", "177", "180", "181", "182",
    "183", "185", "186", "187", "188", "189", "191", "198", "199",
];

const CHILD_ILLNESSES: &[(&str, u32)] = &[
    ("先天性心脏病", 30),
    ("白血病", 15),
    ("癫痫", 20),
    ("支气管哮喘", 20),
    ("肾病综合征", 8),
    ("脑瘫", 10),
    ("1型糖尿病", 5),
];
const ADULT_ILLNESSES: &[(&str, u32)] = &[
    ("高血压", 25),
    ("糖尿病", 15),
    ("尿毒症", 8),
    ("恶性肿瘤", 10),
    ("乳腺癌", 4),
    ("肝硬化", 5),
    ("系统性红斑狼疮", 3),
    ("精神分裂症", 8),
    ("癫痫", 4),
    ("类风湿性关节炎", 5),
    ("强直性脊柱炎", 3),
    ("抑郁症", 5),
    ("慢性乙型肝炎", 5),
    ("腰椎间盘突出症", 8),
];
const ELDER_ILLNESSES: &[(&str, u32)] = &[
    ("高血压", 30),
    ("糖尿病", 18),
    ("冠心病", 12),
    ("脑梗后遗症", 10),
    ("慢性阻塞性肺病", 8),
    ("恶性肿瘤", 6),
    ("阿尔茨海默病", 4),
    ("帕金森病", 3),
    ("慢性心力衰竭", 3),
    ("尿毒症", 2),
    ("骨质疏松症", 4),
    ("白内障", 3),
    ("类风湿性关节炎", 3),
];
/// Illnesses that usually end the capacity to work.
const SERIOUS: &[&str] = &[
    "尿毒症",
    "恶性肿瘤",
    "白血病",
    "精神分裂症",
    "肝硬化",
    "脑梗后遗症",
    "慢性心力衰竭",
    "阿尔茨海默病",
    "乳腺癌",
];

/// Order in which daily-living abilities are typically lost.
const SELF_CARE_ORDER: [SelfCareItem; 6] = [
    SelfCareItem::Bathing,
    SelfCareItem::IndoorWalking,
    SelfCareItem::Transfer,
    SelfCareItem::Dressing,
    SelfCareItem::Toileting,
    SelfCareItem::Eating,
];

const DEPOSIT_DESCRIPTIONS: &[&str] = &[
    "银行活期存款",
    "银行定期存款",
    "农商银行存款",
    "邮政储蓄存款",
    "支付宝余额宝",
    "微信零钱通",
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Hasher for already well-distributed u64 keys (a splitmix64 finaliser).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// Days in `y` years, rounded down (leap days included).
#[inline]
fn years(y: i32) -> i32 {
    y * 365 + y / 4
}

/// A member before the record is filled in.
#[derive(Clone, Copy, Debug)]
struct Draft {
    relation: Relation,
    male: bool,
    /// Days from CE of the birth date.
    birth: i32,
    surname: u16,
    need: Need,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Attributes by chance alone.
    None,
    /// Disabled, any grade.
    Disabled,
    /// Severely disabled (grade 1–2).
    SevereDisability,
    /// Intellectual, mental or physical disability, grade 1–3 (老养残).
    CareDependent,
    /// Serious or chronic illness.
    Ill,
}

struct Village {
    code: String,
    /// "杭州市西湖区北山街道文新社区"
    prefix: String,
    /// 村 (rural, addresses by 组/号) rather than 社区 (buildings).
    rural: bool,
}

/// Deterministic generator of demo households.
pub struct DemoGenerator {
    rng: ChaCha8Rng,
    today: NaiveDate,
    today_days: i32,
    villages: Vec<Village>,
    /// Indices of urban communities, for 人户分离 residences.
    communities: Vec<usize>,
    surnames: Cumulative,
    /// Packed (county index, birth day, seq) of every ID issued so far,
    /// except those of 西湖区 counted in `local_counts`.
    issued: KeySet,
    /// IDs issued for 西湖区 (330106) per (birth day, sex), two slots per day
    /// from `local_first_day` (110 years before today) to today.
    local_counts: Vec<u16>,
    local_first_day: i32,
    /// Index into COUNTIES by table position, resolved once.
    local: Vec<(usize, u32)>,
    hangzhou: Vec<(usize, u32)>,
    zhejiang: Vec<(usize, u32)>,
    migrant: Vec<(usize, u32)>,
    successor: Vec<usize>,
    drafts: Vec<Draft>,
    /// Given names already used in the current household.
    given_used: Vec<&'static str>,
    /// Ages of the members of the current household, in order.
    ages: Vec<i32>,
    /// County index of the current household head's ID number.
    head_county: usize,
}

fn county_index(code: &str) -> usize {
    COUNTIES
        .iter()
        .position(|c| c.code == code)
        .unwrap_or_else(|| panic!("county {code} missing from COUNTIES"))
}

fn resolve(table: &[(&str, u32)]) -> Vec<(usize, u32)> {
    table
        .iter()
        .map(|&(code, w)| (county_index(code), w))
        .collect()
}

impl DemoGenerator {
    /// `villages`: the communities and villages households are registered in
    /// (level Village, e.g. from [`crate::demo_regions`]); `today`: the date
    /// ages, enrolment periods and the like are relative to.
    ///
    /// # Panics
    /// If `villages` is empty.
    pub fn new(seed: u64, villages: Vec<DemoRegion>, today: NaiveDate) -> Self {
        assert!(
            !villages.is_empty(),
            "DemoGenerator needs at least one village"
        );
        let towns = regions::towns();
        let villages: Vec<Village> = villages
            .into_iter()
            .map(|v| {
                let town_code = v.parent.as_deref().unwrap_or(v.code.get(..9).unwrap_or(""));
                let town_name = towns
                    .iter()
                    .find(|(code, _)| *code == town_code)
                    .map(|(_, name)| *name)
                    .unwrap_or("");
                let rural = match v.kind {
                    "村" => true,
                    "社区" => false,
                    _ => {
                        v.code
                            .get(9..)
                            .and_then(|t| t.parse::<u32>().ok())
                            .unwrap_or(0)
                            >= 200
                    }
                };
                Village {
                    prefix: format!("{CITY_NAME}{COUNTY_NAME}{town_name}{}", v.name),
                    code: v.code,
                    rural,
                }
            })
            .collect();
        let communities = (0..villages.len())
            .filter(|&i| !villages[i].rural)
            .collect();
        let successor = COUNTIES.iter().map(|c| county_index(c.successor)).collect();
        DemoGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            today,
            today_days: today.num_days_from_ce(),
            villages,
            communities,
            surnames: Cumulative::new(names::SURNAMES.iter().map(|&(_, w)| w)),
            issued: KeySet::with_capacity_and_hasher(1 << 12, Default::default()),
            local_counts: vec![0; (years(110) as usize + 2) * 2],
            local_first_day: today.num_days_from_ce() - years(110),
            local: resolve(LOCAL),
            hangzhou: resolve(HANGZHOU),
            zhejiang: resolve(ZHEJIANG),
            migrant: resolve(MIGRANT),
            successor,
            drafts: Vec::with_capacity(8),
            given_used: Vec::with_capacity(8),
            ages: Vec::with_capacity(8),
            head_county: 0,
        }
    }

    /// The next household; members[0] is the head.
    pub fn next_household(&mut self) -> HouseholdRecord {
        let vi = self.rng.random_range(0..self.villages.len());
        let rural = self.villages[vi].rural;
        let category = pick_weighted(&mut self.rng, CATEGORIES);
        let structure = if category == Category::Tekun {
            if self.rng.random_bool(0.75) {
                Structure::ElderlyAlone
            } else {
                Structure::AdultAlone
            }
        } else {
            pick_weighted(&mut self.rng, STRUCTURES)
        };
        self.drafts.clear();
        self.given_used.clear();
        self.ages.clear();
        self.build(structure, category);
        let origin = match self.rng.random_range(0..100) {
            0..75 => Origin::Local,
            75..85 => Origin::Hangzhou,
            85..93 => Origin::Zhejiang,
            _ => Origin::Migrant,
        };

        let n = self.drafts.len();
        let mut members = Vec::with_capacity(n);
        for i in 0..n {
            let d = self.drafts[i];
            members.push(self.member(&d, rural, origin, category, structure));
        }

        let phone = members.iter().find_map(|m| m.phone.clone());
        let registration_address = self.address(vi);
        let (residence_address, residence_village_code) =
            if !self.communities.is_empty() && self.rng.random_bool(0.08) {
                let mut other = self.communities[self.rng.random_range(0..self.communities.len())];
                if other == vi && self.communities.len() > 1 {
                    let pos = self.communities.iter().position(|&c| c == vi).unwrap_or(0);
                    other = self.communities[(pos + 1) % self.communities.len()];
                }
                if other == vi {
                    (registration_address.clone(), None)
                } else {
                    let addr = self.address(other);
                    (addr, Some(self.villages[other].code.clone()))
                }
            } else {
                (registration_address.clone(), None)
            };

        let incomes = self.incomes(&mut members, category, structure, rural);
        let assets = self.assets(rural, category, members.len());
        let categories = self.categories(category);
        let note = self.note(structure, category, &members);

        HouseholdRecord {
            village_code: self.villages[vi].code.clone(),
            registration_address,
            residence_address,
            residence_village_code,
            phone,
            note,
            members,
            incomes,
            assets,
            categories,
        }
    }

    // ----- structure ------------------------------------------------------

    fn surname(&mut self) -> u16 {
        self.surnames.pick(&mut self.rng) as u16
    }

    /// A birth date giving an age in `min..=max` today.
    fn birth_aged(&mut self, min: i32, max: i32) -> i32 {
        let lo = years(min) + 1;
        let hi = years(max + 1) - 1;
        self.today_days - self.rng.random_range(lo..=hi)
    }

    /// Age for elderly heads: 60–99, most between 68 and 88.
    fn elder_birth(&mut self, min: i32) -> i32 {
        let a = self.rng.random_range(0..=14) + self.rng.random_range(0..=14);
        let age = (min + a + if self.rng.random_bool(0.05) { 8 } else { 0 }).min(99);
        self.birth_aged(age, age)
    }

    /// Birth of a spouse relative to the head.
    fn spouse_birth(&mut self, head_birth: i32, head_male: bool) -> i32 {
        // husbands are usually 0–6 years older
        let gap = self.rng.random_range(-years(2)..=years(6));
        let b = if head_male {
            head_birth + gap
        } else {
            head_birth - gap
        };
        b.min(self.today_days - years(20))
    }

    /// Birth date of a descendant: every ancestor in `elders` is between
    /// `min_gap` and `max_gap` years older; the person is `min_age..=max_age`.
    fn descendant_birth(
        &mut self,
        elders: &[i32],
        min_gap: i32,
        max_gap: i32,
        min_age: i32,
        max_age: i32,
    ) -> Option<i32> {
        let oldest = *elders.iter().min()?;
        let youngest = *elders.iter().max()?;
        // a margin of a few weeks keeps whole-year ages safely inside the gap
        let mut lo = youngest + years(min_gap) + 20;
        let mut hi = oldest + years(max_gap) - 20;
        lo = lo.max(self.today_days - years(max_age + 1) + 1);
        hi = hi.min(self.today_days - years(min_age) - 30);
        (lo <= hi).then(|| self.rng.random_range(lo..=hi))
    }

    /// Birth date of a parent of the person born on `child`, at most 99 today.
    fn parent_birth(&mut self, child: i32, min_gap: i32, max_gap: i32) -> Option<i32> {
        let lo = (child - years(max_gap) + 20).max(self.today_days - years(99) + 30);
        let hi = child - years(min_gap) - 20;
        (lo <= hi).then(|| self.rng.random_range(lo..=hi))
    }

    fn push(&mut self, relation: Relation, male: bool, birth: i32, surname: u16, need: Need) {
        self.drafts.push(Draft {
            relation,
            male,
            birth,
            surname,
            need,
        });
    }

    /// Adds 1..=`max` children of `parents` (births) aged `min_age..=max_age`,
    /// spaced at least a year apart.
    #[allow(clippy::too_many_arguments)]
    fn add_children(
        &mut self,
        relation: Relation,
        parents: &[i32],
        count: usize,
        min_gap: i32,
        max_gap: i32,
        min_age: i32,
        max_age: i32,
        surname_of: impl Fn(&mut ChaCha8Rng) -> u16,
    ) {
        let start = self.drafts.len();
        let mut added = 0;
        let mut tries = 0;
        while added < count && tries < 8 && self.drafts.len() < 6 {
            tries += 1;
            let Some(b) = self.descendant_birth(parents, min_gap, max_gap, min_age, max_age) else {
                break;
            };
            if self.drafts[start..]
                .iter()
                .any(|d| (d.birth - b).abs() < 330)
            {
                continue;
            }
            let male = self.rng.random_bool(0.52);
            let s = surname_of(&mut self.rng);
            self.push(relation, male, b, s, Need::None);
            added += 1;
        }
        // eldest first
        self.drafts[start..].sort_by_key(|d| d.birth);
    }

    fn build(&mut self, structure: Structure, category: Category) {
        let tekun = category == Category::Tekun;
        let kids = |rng: &mut ChaCha8Rng| match rng.random_range(0..100) {
            0..45 => 1,
            45..87 => 2,
            _ => 3,
        };
        match structure {
            Structure::ElderlyAlone => {
                let male = self.rng.random_bool(0.38);
                let b = self.elder_birth(if tekun { 64 } else { 61 });
                let s = self.surname();
                let need = if tekun && self.rng.random_bool(0.5) {
                    Need::Ill
                } else {
                    Need::None
                };
                self.push(Relation::Head, male, b, s, need);
            }
            Structure::ElderlyCouple => {
                let male = self.rng.random_bool(0.85);
                let b = self.elder_birth(60);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let sb = self.spouse_birth(b, male).min(self.today_days - years(56));
                let ss = self.surname();
                self.push(Relation::Spouse, !male, sb, ss, Need::None);
            }
            Structure::CoupleWithChildren => {
                let male = self.rng.random_bool(0.8);
                let b = self.birth_aged(28, 56);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let sb = self.spouse_birth(b, male);
                let ss = self.surname();
                self.push(Relation::Spouse, !male, sb, ss, Need::None);
                let father = if male { s } else { ss };
                let mother = if male { ss } else { s };
                let n = kids(&mut self.rng);
                self.add_children(Relation::Child, &[b, sb], n, 20, 40, 0, 30, move |rng| {
                    if rng.random_bool(0.93) {
                        father
                    } else {
                        mother
                    }
                });
            }
            Structure::SingleParent => {
                let male = self.rng.random_bool(0.3);
                let b = self.birth_aged(25, 55);
                let s = self.surname();
                let need = if self.rng.random_bool(0.3) {
                    Need::Ill
                } else {
                    Need::None
                };
                self.push(Relation::Head, male, b, s, need);
                let other = self.surname();
                let n = kids(&mut self.rng).min(2);
                self.add_children(Relation::Child, &[b], n, 20, 40, 0, 24, move |rng| {
                    if male || rng.random_bool(0.4) {
                        s
                    } else {
                        other
                    }
                });
            }
            Structure::ThreeGenMiddle => {
                let male = self.rng.random_bool(0.7);
                let b = self.birth_aged(30, 56);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let mut parents_of_children = vec![b];
                if self.rng.random_bool(0.8) {
                    let sb = self.spouse_birth(b, male);
                    let ss = self.surname();
                    self.push(Relation::Spouse, !male, sb, ss, Need::None);
                    parents_of_children.push(sb);
                }
                let father_surname = if male {
                    s
                } else {
                    self.drafts.get(1).map_or(s, |d| d.surname)
                };
                // the head's own parents
                let both = self.rng.random_bool(0.4);
                let father_first = both || self.rng.random_bool(0.35);
                if let Some(fb) = self.parent_birth(b, 22, 38) {
                    if father_first {
                        self.push(Relation::Parent, true, fb, s, Need::None);
                    }
                    if both || !father_first {
                        let mb = (fb + self.rng.random_range(-years(2)..=years(6)))
                            .clamp(b - years(40) + 20, b - years(20) - 20)
                            .max(self.today_days - years(99) + 30);
                        let ms = self.surname();
                        self.push(Relation::Parent, false, mb, ms, Need::None);
                    }
                }
                let n = if self.rng.random_bool(0.6) { 1 } else { 2 };
                let other = self.surname();
                self.add_children(
                    Relation::Child,
                    &parents_of_children,
                    n,
                    20,
                    40,
                    0,
                    25,
                    move |rng| {
                        if rng.random_bool(0.93) {
                            father_surname
                        } else {
                            other
                        }
                    },
                );
            }
            Structure::ThreeGenElder => {
                let male = self.rng.random_bool(0.75);
                let b = self.elder_birth(58);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let mut elders = vec![b];
                let mut spouse_surname = s;
                if self.rng.random_bool(0.7) {
                    let sb = self.spouse_birth(b, male);
                    spouse_surname = self.surname();
                    self.push(Relation::Spouse, !male, sb, spouse_surname, Need::None);
                    elders.push(sb);
                }
                let Some(cb) = self.descendant_birth(&elders, 22, 38, 24, 55) else {
                    return;
                };
                let child_male = self.rng.random_bool(0.7);
                let cs = if male || self.drafts.len() == 1 {
                    s
                } else {
                    spouse_surname
                };
                self.push(Relation::Child, child_male, cb, cs, Need::None);
                let mut couple = vec![cb];
                let mut gc_father = cs;
                if self.rng.random_bool(0.75) {
                    let lb = self.spouse_birth(cb, child_male);
                    let ls = self.surname();
                    self.push(Relation::ChildInLaw, !child_male, lb, ls, Need::None);
                    couple.push(lb);
                    if !child_male {
                        gc_father = ls;
                    }
                }
                let n = if self.rng.random_bool(0.6) { 1 } else { 2 };
                self.add_children(Relation::Grandchild, &couple, n, 20, 40, 0, 22, move |_| {
                    gc_father
                });
            }
            Structure::AdultAlone => {
                let male = self.rng.random_bool(0.6);
                let (b, need) = if tekun {
                    (self.birth_aged(18, 59), Need::SevereDisability)
                } else {
                    let need = if self.rng.random_bool(0.45) {
                        Need::Disabled
                    } else {
                        Need::Ill
                    };
                    (self.birth_aged(25, 59), need)
                };
                let s = self.surname();
                self.push(Relation::Head, male, b, s, need);
            }
            Structure::SkipGeneration => {
                let male = self.rng.random_bool(0.5);
                let b = self.elder_birth(56).max(self.today_days - years(85));
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let mut elders = vec![b];
                if self.rng.random_bool(0.55) {
                    let sb = self.spouse_birth(b, male);
                    let ss = self.surname();
                    self.push(Relation::Spouse, !male, sb, ss, Need::None);
                    elders.push(sb);
                }
                let paternal = self.rng.random_bool(0.7);
                let gs = if paternal {
                    if male {
                        s
                    } else {
                        self.drafts.get(1).map_or(s, |d| d.surname)
                    }
                } else {
                    self.surname()
                };
                let n = if self.rng.random_bool(0.7) { 1 } else { 2 };
                self.add_children(Relation::Grandchild, &elders, n, 42, 75, 2, 17, move |_| gs);
            }
            Structure::ElderWithDisabledChild => {
                let male = self.rng.random_bool(0.55);
                let b = self.elder_birth(58);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                let mut elders = vec![b];
                let mut father = s;
                if self.rng.random_bool(0.6) {
                    let sb = self.spouse_birth(b, male);
                    let ss = self.surname();
                    self.push(Relation::Spouse, !male, sb, ss, Need::None);
                    elders.push(sb);
                    if !male {
                        father = ss;
                    }
                }
                if let Some(cb) = self.descendant_birth(&elders, 21, 39, 18, 62) {
                    let cm = self.rng.random_bool(0.6);
                    self.push(Relation::Child, cm, cb, father, Need::CareDependent);
                }
            }
            Structure::Siblings => {
                let male = self.rng.random_bool(0.55);
                let b = self.birth_aged(35, 70);
                let s = self.surname();
                self.push(Relation::Head, male, b, s, Need::None);
                if self.rng.random_bool(0.4) {
                    let sb = self.spouse_birth(b, male);
                    let ss = self.surname();
                    self.push(Relation::Spouse, !male, sb, ss, Need::None);
                }
                let mut gap = self.rng.random_range(years(1)..=years(12));
                if self.rng.random_bool(0.5) {
                    gap = -gap;
                }
                let sib = (b + gap).min(self.today_days - years(20));
                let sm = self.rng.random_bool(0.55);
                self.push(Relation::Sibling, sm, sib, s, Need::CareDependent);
            }
        }
    }

    // ----- members --------------------------------------------------------

    fn age_of(&self, birth: NaiveDate) -> i32 {
        self.today.years_since(birth).unwrap_or(0) as i32
    }

    fn member(
        &mut self,
        d: &Draft,
        rural: bool,
        origin: Origin,
        category: Category,
        structure: Structure,
    ) -> MemberRecord {
        let birth = NaiveDate::from_num_days_from_ce_opt(d.birth).expect("birth date in range");
        let age = self.age_of(birth);

        // name
        let cohort = Cohort::of_year(birth.year());
        let surname = names::SURNAMES[d.surname as usize].0;
        let mut given = names::given_name(&mut self.rng, cohort, d.male);
        // avoid two members with the same given name
        for _ in 0..3 {
            if !self.given_used.contains(&given) {
                break;
            }
            given = names::given_name(&mut self.rng, cohort, d.male);
        }
        let mut name = String::with_capacity(surname.len() + given.len());
        name.push_str(surname);
        name.push_str(given);
        self.given_used.push(given);

        let id_number = self.id_number(birth, d.male, d.relation, origin, age);
        self.ages.push(age);

        // disability
        let disability = self.disability(d.need, age);
        let severe = matches!(disability, Some((_, g)) if g <= 2);

        // illnesses
        let mut illnesses = String::new();
        let p_ill = match age {
            0..18 => 0.03,
            18..45 => 0.08,
            45..60 => 0.25,
            60..75 => 0.5,
            _ => 0.65,
        };
        let mut serious = false;
        let mut stroke = false;
        if d.need == Need::Ill || self.rng.random_bool(p_ill) {
            let table = match age {
                0..18 => CHILD_ILLNESSES,
                18..60 => ADULT_ILLNESSES,
                _ => ELDER_ILLNESSES,
            };
            let count = match self.rng.random_range(0..100) {
                0..70 => 1,
                70..95 => 2,
                _ => 3,
            };
            let mut chosen: [&str; 3] = [""; 3];
            let mut k = 0;
            for _ in 0..count + 2 {
                if k == count {
                    break;
                }
                let ill = pick_weighted(&mut self.rng, table);
                if chosen[..k].contains(&ill) {
                    continue;
                }
                chosen[k] = ill;
                k += 1;
            }
            for (i, ill) in chosen[..k].iter().enumerate() {
                if i > 0 {
                    illnesses.push('、');
                }
                illnesses.push_str(ill);
                serious |= SERIOUS.contains(ill);
                stroke |= *ill == "脑梗后遗症";
            }
        }
        if let Some((DisabilityType::Mental, _)) = disability
            && illnesses.is_empty()
            && self.rng.random_bool(0.7)
        {
            illnesses.push_str(pick(
                &mut self.rng,
                &["精神分裂症", "双相情感障碍", "抑郁症"],
            ));
            serious = true;
        }

        // self-care: 0 = full, 1 = partial, 2 = lost
        let mut level = 0u8;
        let mut roll = |rng: &mut ChaCha8Rng, lost: f64, partial: f64| {
            let x: f64 = rng.random();
            if x < lost {
                level = level.max(2);
            } else if x < lost + partial {
                level = level.max(1);
            }
        };
        match disability {
            // hearing and speech impairments do not affect daily living
            Some((DisabilityType::Hearing | DisabilityType::Speech, _)) => {}
            Some((DisabilityType::Visual, 1)) => roll(&mut self.rng, 0.0, 0.4),
            Some((DisabilityType::Visual, _)) => {}
            Some((_, 1)) => roll(&mut self.rng, 0.45, 0.35),
            Some((_, 2)) => roll(&mut self.rng, 0.12, 0.38),
            Some((_, 3)) => roll(&mut self.rng, 0.0, 0.15),
            _ => {}
        }
        match age {
            85.. => roll(&mut self.rng, 0.10, 0.30),
            75..85 => roll(&mut self.rng, 0.04, 0.15),
            60..75 => roll(&mut self.rng, 0.01, 0.05),
            _ => {}
        }
        if stroke {
            roll(&mut self.rng, 0.15, 0.5);
        }
        if age < 6 && !severe {
            level = 0;
        }
        if level > 0 && illnesses.is_empty() && disability.is_none() {
            // loss of self-care needs a cause on record
            illnesses.push_str(if age >= 60 {
                pick(
                    &mut self.rng,
                    &["脑梗后遗症", "阿尔茨海默病", "帕金森病", "骨关节病"],
                )
            } else {
                pick(&mut self.rng, &["脑外伤后遗症", "脊髓损伤", "重症肌无力"])
            });
        }
        let unable = match level {
            0 => 0,
            1 => self.rng.random_range(1..=3),
            _ => self.rng.random_range(4..=6),
        };
        let mut self_care = SelfCare::from_bits(0);
        for item in &SELF_CARE_ORDER[..unable] {
            self_care = self_care.with(*item, true);
        }

        // employment and schooling
        let incapable = level == 2 || severe || (serious && self.rng.random_bool(0.75));
        let (employment, schooling) = self.occupation(
            age,
            d.male,
            rural,
            incapable,
            category,
            structure,
            birth.year(),
        );

        // phone
        let p_phone = match (d.relation, age) {
            (_, 0..12) => 0.0,
            (_, 12..16) => 0.1,
            (Relation::Head, 80..) => 0.55,
            (Relation::Head, _) => 0.88,
            (_, 80..) => 0.15,
            _ => 0.45,
        };
        let phone = self.rng.random_bool(p_phone).then(|| self.phone());

        // rarely, an elderly relative died recently and is still on record
        let deceased_on = (age >= 75
            && matches!(d.relation, Relation::Spouse | Relation::Parent)
            && self.rng.random_bool(0.005))
        .then(|| self.today - chrono::Days::new(self.rng.random_range(10..300)));

        MemberRecord {
            name,
            id_number,
            relation: d.relation,
            phone,
            disability,
            illnesses,
            self_care,
            employment,
            schooling,
            deceased_on,
        }
    }

    // ----- identity -------------------------------------------------------

    fn id_number(
        &mut self,
        birth: NaiveDate,
        male: bool,
        relation: Relation,
        origin: Origin,
        age: i32,
    ) -> IdNumber {
        let table = match origin {
            Origin::Local => &self.local,
            Origin::Hangzhou => &self.hangzhou,
            Origin::Zhejiang => &self.zhejiang,
            Origin::Migrant => &self.migrant,
        };
        let head = self.head_county;
        let mut county = match relation {
            Relation::Head => pick_weighted(&mut self.rng, table),
            _ if origin == Origin::Local => pick_weighted(&mut self.rng, table),
            // families who moved here mostly registered their children here,
            // otherwise the children carry the code of the family's home county
            Relation::Child | Relation::Grandchild => {
                if age < 18 && self.rng.random_bool(0.55) {
                    pick_weighted(&mut self.rng, &self.local)
                } else if self.rng.random_bool(0.75) {
                    head
                } else {
                    pick_weighted(&mut self.rng, table)
                }
            }
            Relation::Parent | Relation::Sibling | Relation::Grandparent
                if self.rng.random_bool(0.65) =>
            {
                head
            }
            _ if self.rng.random_bool(0.25) => pick_weighted(&mut self.rng, &self.local),
            _ => pick_weighted(&mut self.rng, table),
        };
        if relation == Relation::Head {
            self.head_county = county;
        }
        if birth.year() >= COUNTIES[county].until {
            county = self.successor[county];
        }

        let mut days = birth.num_days_from_ce();
        let seq = loop {
            match self.free_seq(county, days, male) {
                Some(seq) => break seq,
                // every number of this sex on this day is taken: move a day
                None => days -= 1,
            }
        };
        let birth = NaiveDate::from_num_days_from_ce_opt(days).expect("birth date in range");
        let code = COUNTIES[county].code;
        if birth.year() < 1940 && self.rng.random_bool(0.01) {
            // an old 15-digit number (county + yyMMdd + seq) never upgraded
            let mut old = String::with_capacity(15);
            let _ = write!(
                old,
                "{code}{:02}{:02}{:02}{seq:03}",
                birth.year() % 100,
                birth.month(),
                birth.day()
            );
            return IdNumber::parse(&old).expect("generated 15-digit ID number is valid");
        }
        IdNumber::from_parts(code, birth, seq).expect("generated ID number parts are valid")
    }

    /// A sequence code (0..=999, odd for men) not yet used with this county
    /// and birth day, or None if all 500 of that sex are taken.
    ///
    /// 西湖区 (330106) carries most IDs, so it gets a small counter table that
    /// stays in cache: the n-th person of a sex born on a day gets the n-th
    /// element of a day-specific permutation of 0..500, unique by
    /// construction. Other counties go through a hash set of packed keys
    /// (county, day, seq), bumping seq by 2 on collision.
    fn free_seq(&mut self, county: usize, days: i32, male: bool) -> Option<u16> {
        let offset = days - self.local_first_day;
        if county == 0 && offset >= 0 && (offset as usize) * 2 + 1 < self.local_counts.len() {
            let slot = offset as usize * 2 + usize::from(male);
            let n = self.local_counts[slot];
            if n >= 500 {
                return None;
            }
            self.local_counts[slot] = n + 1;
            let start = (slot as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            let half = (start + u64::from(n) * 193) % 500; // 193 is coprime to 500
            Some(half as u16 * 2 + u16::from(male))
        } else {
            let mut seq = self.rng.random_range(0..500u16) * 2 + u16::from(male);
            for _ in 0..500 {
                let key = ((county as u64) << 40) | ((days as u32 as u64) << 10) | u64::from(seq);
                if self.issued.insert(key) {
                    return Some(seq);
                }
                seq = (seq + 2) % 1000;
            }
            None
        }
    }

    fn phone(&mut self) -> String {
        let mut s = String::with_capacity(11);
        s.push_str(pick(&mut self.rng, PHONE_PREFIXES));
        let _ = write!(s, "{:08}", self.rng.random_range(0..100_000_000u32));
        s
    }

    // ----- health and work ------------------------------------------------

    fn disability(&mut self, need: Need, age: i32) -> Option<(DisabilityType, u8)> {
        use DisabilityType::*;
        let p = match age {
            0..18 => 0.01,
            18..60 => 0.02,
            60..80 => 0.045,
            _ => 0.08,
        };
        let forced = matches!(
            need,
            Need::Disabled | Need::SevereDisability | Need::CareDependent
        );
        if !forced && !self.rng.random_bool(p) {
            return None;
        }
        let grade = match need {
            Need::SevereDisability => pick_weighted(&mut self.rng, &[(1u8, 40), (2, 60)]),
            Need::CareDependent => pick_weighted(&mut self.rng, &[(1u8, 15), (2, 35), (3, 50)]),
            Need::Disabled => pick_weighted(&mut self.rng, &[(1u8, 10), (2, 25), (3, 35), (4, 30)]),
            _ => pick_weighted(&mut self.rng, &[(1u8, 6), (2, 16), (3, 33), (4, 45)]),
        };
        let kind = match (need, age) {
            (Need::CareDependent, _) => pick_weighted(
                &mut self.rng,
                &[
                    (Intellectual, 45),
                    (Mental, 30),
                    (Physical, 15),
                    (Multiple, 10),
                ],
            ),
            (_, 0..18) => pick_weighted(
                &mut self.rng,
                &[
                    (Intellectual, 35),
                    (Physical, 20),
                    (Hearing, 15),
                    (Speech, 10),
                    (Multiple, 10),
                    (Visual, 5),
                    (Mental, 5),
                ],
            ),
            (_, 18..60) => pick_weighted(
                &mut self.rng,
                &[
                    (Physical, 40),
                    (Mental, 18),
                    (Intellectual, 12),
                    (Visual, 10),
                    (Hearing, 10),
                    (Speech, 2),
                    (Multiple, 8),
                ],
            ),
            _ => pick_weighted(
                &mut self.rng,
                &[
                    (Physical, 40),
                    (Hearing, 25),
                    (Visual, 20),
                    (Multiple, 10),
                    (Mental, 3),
                    (Intellectual, 2),
                ],
            ),
        };
        Some((kind, grade))
    }

    #[allow(clippy::too_many_arguments)]
    fn occupation(
        &mut self,
        age: i32,
        male: bool,
        rural: bool,
        incapable: bool,
        category: Category,
        structure: Structure,
        birth_year: i32,
    ) -> (Employment, Schooling) {
        let adult_schooling = |rng: &mut ChaCha8Rng| {
            if birth_year < 1955 && rng.random_bool(if rural { 0.3 } else { 0.12 }) {
                Schooling::None
            } else {
                Schooling::Graduated
            }
        };
        match age {
            0..3 => (Employment::PreSchool, Schooling::None),
            3..6 => {
                let s = if self.rng.random_bool(0.9) {
                    Schooling::PreSchool
                } else {
                    Schooling::None
                };
                (Employment::PreSchool, s)
            }
            6..12 => (Employment::Student, Schooling::Primary),
            12..15 => (Employment::Student, Schooling::Junior),
            15 => {
                let s = if self.rng.random_bool(0.5) {
                    Schooling::Junior
                } else {
                    Schooling::Senior
                };
                (Employment::Student, s)
            }
            16..18 => {
                if self.rng.random_bool(0.9) {
                    (Employment::Student, Schooling::Senior)
                } else {
                    (Employment::Other, Schooling::Graduated)
                }
            }
            18..60 => {
                let p_college = match age {
                    18..22 => 0.5,
                    22..24 => 0.15,
                    _ => 0.0,
                };
                if !incapable && self.rng.random_bool(p_college) {
                    return (Employment::Student, Schooling::College);
                }
                let schooling = adult_schooling(&mut self.rng);
                if incapable {
                    return (Employment::NoCapacity, schooling);
                }
                if !male && !rural && age >= 50 && self.rng.random_bool(0.35) {
                    return (Employment::Retired, schooling);
                }
                // people on 低保/特困 rarely hold a regular job
                let employed = if matches!(category, Category::Dibao | Category::Tekun) {
                    8
                } else {
                    28
                };
                let e = if rural {
                    pick_weighted(
                        &mut self.rng,
                        &[
                            (Employment::Farming, 28),
                            (Employment::Employed, employed),
                            (Employment::Flexible, 30),
                            (Employment::Unemployed, 18),
                            (Employment::Other, 7),
                        ],
                    )
                } else {
                    pick_weighted(
                        &mut self.rng,
                        &[
                            (Employment::Employed, employed),
                            (Employment::Flexible, 38),
                            (Employment::Unemployed, 28),
                            (Employment::Other, 10),
                        ],
                    )
                };
                (e, schooling)
            }
            _ => {
                let schooling = adult_schooling(&mut self.rng);
                // a retirement pension usually lifts people out of 低保/特困
                let p_retired = match (category, rural) {
                    (Category::Tekun | Category::Dibao, _) => 0.06,
                    (_, true) => 0.2,
                    (_, false) => 0.5,
                };
                let e = if self.rng.random_bool(p_retired) {
                    Employment::Retired
                } else if rural
                    && !incapable
                    && age < 76
                    && structure != Structure::SkipGeneration
                    && self.rng.random_bool(0.6)
                {
                    Employment::Farming
                } else {
                    Employment::NoCapacity
                };
                (e, schooling)
            }
        }
    }

    // ----- household-level data ------------------------------------------

    fn address(&mut self, vi: usize) -> String {
        let v = &self.villages[vi];
        let mut s = String::with_capacity(v.prefix.len() + 24);
        s.push_str(&v.prefix);
        if v.rural {
            let group = self.rng.random_range(1..=12);
            let no = self.rng.random_range(1..=160);
            let _ = write!(s, "{group}组{no}号");
        } else {
            let building = self.rng.random_range(1..=36);
            let unit = self.rng.random_range(1..=4);
            let floor = self.rng.random_range(1..=7);
            let room = self.rng.random_range(1..=3);
            let _ = write!(s, "{building}幢{unit}单元{floor}{room:02}室");
        }
        s
    }

    fn incomes(
        &mut self,
        members: &mut [MemberRecord],
        category: Category,
        structure: Structure,
        rural: bool,
    ) -> Vec<IncomeRecord> {
        let alive = members
            .iter()
            .filter(|m| m.deceased_on.is_none())
            .count()
            .max(1) as i64;
        let earning = members.iter().any(|m| {
            m.deceased_on.is_none()
                && matches!(
                    m.employment,
                    Employment::Employed
                        | Employment::Flexible
                        | Employment::Farming
                        | Employment::Retired
                )
        });
        let mut per_capita: i64 = match category {
            Category::Dibao => {
                if self.rng.random_bool(0.15) {
                    0
                } else {
                    self.rng.random_range(150..=950)
                }
            }
            Category::Tekun => {
                if self.rng.random_bool(0.3) {
                    0
                } else {
                    self.rng.random_range(200..=800)
                }
            }
            Category::Dibian => self.rng.random_range(1030..=1480),
            Category::RigidSpending => self.rng.random_range(600..=1800),
            Category::PovertyMonitor => self.rng.random_range(800..=1800),
            Category::OtherHardship => self.rng.random_range(400..=1800),
        };
        if per_capita == 0 && earning {
            per_capita = self.rng.random_range(200..=600);
        }
        let budget = per_capita * alive;
        let mut out = Vec::with_capacity(4);
        if budget == 0 {
            return out;
        }

        // Income sources, sharing the budget in proportion to typical
        // earnings: (member, kind, description, weight, rounding step).
        // An empty description marks a pension, named after its amount.
        let mut shares: [(Option<usize>, IncomeKind, &'static str, i64, i64); 8] =
            [(None, IncomeKind::Other, "", 0, 1); 8];
        let mut k = 0;
        for (i, m) in members.iter().enumerate() {
            if k == shares.len() || m.deceased_on.is_some() {
                continue;
            }
            let share = match m.employment {
                Employment::Employed => Some((
                    IncomeKind::Wage,
                    pick(&mut self.rng, &["工资收入", "务工收入", "企业工资"]),
                    30,
                    10,
                )),
                Employment::Flexible => Some((
                    IncomeKind::Wage,
                    pick(
                        &mut self.rng,
                        &[
                            "灵活就业收入",
                            "零工收入",
                            "家政服务收入",
                            "外卖配送收入",
                            "保洁工收入",
                        ],
                    ),
                    20,
                    10,
                )),
                Employment::Farming => Some((
                    IncomeKind::Business,
                    pick(
                        &mut self.rng,
                        &[
                            "茶叶种植收入",
                            "蔬菜种植收入",
                            "水稻种植收入",
                            "苗木种植收入",
                            "家禽养殖收入",
                        ],
                    ),
                    12,
                    10,
                )),
                Employment::Retired => Some((IncomeKind::Transfer, "", 16, 1)),
                Employment::NoCapacity if self.ages[i] >= 60 && self.rng.random_bool(0.85) => {
                    Some((IncomeKind::Transfer, "", 7, 1))
                }
                _ => None,
            };
            if let Some((kind, description, weight, step)) = share {
                shares[k] = (Some(i), kind, description, weight, step);
                k += 1;
            }
        }
        // Nobody earns, or one person would have to earn a great deal: someone
        // else able to work does odd jobs.
        if k == 0 || (k == 1 && budget > 4000) {
            let able = (0..members.len()).find(|&i| {
                (18..60).contains(&self.ages[i])
                    && members[i].deceased_on.is_none()
                    && matches!(
                        members[i].employment,
                        Employment::Unemployed | Employment::Other
                    )
            });
            if let Some(i) = able {
                members[i].employment = Employment::Flexible;
                shares[k] = (Some(i), IncomeKind::Wage, "零工收入", 20, 10);
                k += 1;
            }
        }
        let elderly = self.ages.iter().any(|&a| a >= 60);
        let support = match structure {
            // 特困 means there is nobody obliged to support the person
            _ if category == Category::Tekun => None,
            Structure::SingleParent => Some("子女抚养费"),
            Structure::ElderlyAlone | Structure::ElderlyCouple => Some("子女赡养费"),
            _ => None,
        };
        if let Some(desc) = support
            && k < shares.len()
            && (k == 0 || self.rng.random_bool(0.3))
        {
            shares[k] = (None, IncomeKind::Transfer, desc, 6, 50);
            k += 1;
        }
        if k < shares.len() && self.rng.random_bool(0.04) {
            shares[k] = (None, IncomeKind::Property, "房屋出租收入", 8, 50);
            k += 1;
        }
        if k == 0 {
            let desc = if elderly && category != Category::Tekun {
                "子女赡养费"
            } else {
                pick(&mut self.rng, &["亲友资助", "其他亲属资助"])
            };
            shares[0] = (None, IncomeKind::Transfer, desc, 1, 10);
            k = 1;
        }
        // no two earners get exactly the same share
        for share in &mut shares[..k] {
            share.3 *= self.rng.random_range(70..=130);
        }
        let total_weight: i64 = shares[..k].iter().map(|s| s.3).sum();
        let mut rest = budget;
        for (j, &(member_index, kind, description, weight, step)) in shares[..k].iter().enumerate()
        {
            let a = if j + 1 == k {
                // the last item takes the rest, still in whole tens for non-pensions
                if step >= 10 { rest / 10 * 10 } else { rest }
            } else {
                budget * weight / total_weight / step * step
            };
            if a <= 0 {
                continue;
            }
            rest -= a;
            // keep the employment status in line with the pension received
            if description.is_empty()
                && let Some(i) = member_index
            {
                members[i].employment = match (members[i].employment, a) {
                    (Employment::NoCapacity, 1800..) => Employment::Retired,
                    (Employment::Retired, ..1000) => Employment::NoCapacity,
                    (e, _) => e,
                };
            }
            let description = match (description, a) {
                ("", 1800..) => "企业职工基本养老金",
                ("", 700..) if rural => "被征地农民养老保障金",
                ("", 700..) => "养老金",
                ("", _) => "城乡居民基本养老金",
                (_, ..1500)
                    if member_index
                        .is_some_and(|i| members[i].employment == Employment::Employed) =>
                {
                    // too little for a regular job
                    members[member_index.unwrap_or(0)].employment = Employment::Flexible;
                    "临时务工收入"
                }
                (_, 4500..)
                    if member_index
                        .is_some_and(|i| members[i].employment == Employment::Flexible) =>
                {
                    // too much for odd jobs
                    members[member_index.unwrap_or(0)].employment = Employment::Employed;
                    "工资收入"
                }
                (d, _) => d,
            };
            out.push(IncomeRecord {
                member_index,
                kind,
                description: description.to_string(),
                monthly: Money::from_yuan(a),
            });
        }
        out
    }

    fn assets(&mut self, rural: bool, category: Category, members: usize) -> Vec<AssetRecord> {
        let mut out = Vec::new();
        let poor = matches!(category, Category::Dibao | Category::Tekun);
        if self.rng.random_bool(if poor { 0.45 } else { 0.65 }) {
            let max = if poor { 300 } else { 800 };
            let value = self.rng.random_range(20..=max) * 100;
            out.push(AssetRecord {
                kind: AssetKind::Deposit,
                description: pick(&mut self.rng, DEPOSIT_DESCRIPTIONS).to_string(),
                value: Money::from_yuan(value),
            });
            if self.rng.random_bool(0.15) {
                out.push(AssetRecord {
                    kind: AssetKind::Deposit,
                    description: pick(&mut self.rng, DEPOSIT_DESCRIPTIONS).to_string(),
                    value: Money::from_yuan(self.rng.random_range(5..=100) * 100),
                });
            }
        }
        if rural && self.rng.random_bool(0.5) {
            let floors = self.rng.random_range(2..=3);
            let area = self.rng.random_range(60..=120) * floors;
            out.push(AssetRecord {
                kind: AssetKind::House,
                description: format!("农村自建房，{floors}层，约{area}平方米"),
                value: Money::from_yuan(i64::from(area) * self.rng.random_range(15..=30) * 100),
            });
        } else if !rural && self.rng.random_bool(if members > 1 { 0.2 } else { 0.12 }) {
            let area = self.rng.random_range(36..=72);
            out.push(AssetRecord {
                kind: AssetKind::House,
                description: format!("自有住房（房改房），约{area}平方米"),
                value: Money::from_yuan(i64::from(area) * self.rng.random_range(25..=45) * 1000),
            });
        }
        if self.rng.random_bool(if poor { 0.02 } else { 0.07 }) {
            let (description, value) = if self.rng.random_bool(0.6) {
                let year = self.rng.random_range(2008..=2017);
                (
                    format!("二手小型轿车（{year}年登记）"),
                    self.rng.random_range(8..=40) * 1000,
                )
            } else {
                (
                    "电动三轮车".to_string(),
                    self.rng.random_range(15..=50) * 100,
                )
            };
            out.push(AssetRecord {
                kind: AssetKind::Vehicle,
                description,
                value: Money::from_yuan(value),
            });
        }
        if !poor && self.rng.random_bool(0.01) {
            out.push(AssetRecord {
                kind: AssetKind::Securities,
                description: "股票账户市值".to_string(),
                value: Money::from_yuan(self.rng.random_range(20..=300) * 100),
            });
        }
        out
    }

    fn categories(&mut self, category: Category) -> Vec<CategoryRecord> {
        let day = |d: i32| NaiveDate::from_num_days_from_ce_opt(d).expect("date in range");
        let mut out = Vec::with_capacity(2);
        let r = self.rng.random_range(0..100);
        if r < 4 && category != Category::Tekun {
            // moved over from an earlier category
            let previous = match category {
                Category::Dibao => Category::Dibian,
                Category::Dibian => Category::Dibao,
                Category::RigidSpending => Category::OtherHardship,
                Category::PovertyMonitor => Category::Dibao,
                _ => Category::Dibian,
            };
            let first = self.today_days - self.rng.random_range(730..=2920);
            let switch = first + self.rng.random_range(180..=(self.today_days - first - 60));
            out.push(CategoryRecord {
                category: previous,
                start: day(first),
                end: Some(day(switch)),
            });
            out.push(CategoryRecord {
                category,
                start: day(switch + 1),
                end: None,
            });
        } else if r < 7 {
            // left assistance
            let first = self.today_days - self.rng.random_range(730..=2920);
            let end = first + self.rng.random_range(180..=(self.today_days - first - 30));
            out.push(CategoryRecord {
                category,
                start: day(first),
                end: Some(day(end)),
            });
        } else {
            let start = self.today_days - self.rng.random_range(365..=2920);
            out.push(CategoryRecord {
                category,
                start: day(start),
                end: None,
            });
        }
        out
    }

    fn note(
        &mut self,
        structure: Structure,
        category: Category,
        members: &[MemberRecord],
    ) -> String {
        if !self.rng.random_bool(0.2) {
            return String::new();
        }
        let disabled = members.iter().filter(|m| m.disability.is_some()).count();
        let options: &[&str] = match (structure, category) {
            _ if disabled >= 2 => &["一户多残", "家庭成员多人残疾，需重点关注"],
            (_, Category::RigidSpending) => &[
                "因病医疗支出较大",
                "子女就学支出较大",
                "长期服药，自付医疗费用高",
            ],
            (_, Category::PovertyMonitor) => &[
                "突发严重困难，纳入监测",
                "因病致困，纳入监测",
                "收入骤减，纳入监测",
            ],
            (Structure::AdultAlone, Category::Tekun) => {
                &["无法定扶养义务人", "重度残疾，分散供养", "需定期走访"]
            }
            (_, Category::Tekun) => &[
                "无法定赡养义务人",
                "分散供养，需定期走访",
                "独居，由邻居协助照看",
                "五保老人",
            ],
            (Structure::ElderlyAlone, _) => &[
                "独居老人，需定期走访",
                "子女在外地，联系较少",
                "独居，由邻居协助照看",
            ],
            (Structure::ElderlyCouple, _) => &["老年夫妻共同生活", "子女在外地工作", "需定期走访"],
            (Structure::SingleParent, _) => &["单亲家庭", "离异，独自抚养子女", "配偶已故"],
            (Structure::SkipGeneration, _) => &[
                "父母在外务工，隔代抚养",
                "父母离异，由祖父母抚养",
                "留守儿童",
            ],
            (Structure::ElderWithDisabledChild, _) => &["老养残家庭", "子女重度残疾，需长期照护"],
            (Structure::AdultAlone, _) => &["因病致贫", "因残致贫", "长期服药，医疗支出较大"],
            _ => &[
                "因病致贫",
                "住房为老旧公房",
                "已申请临时救助",
                "主要劳动力患病",
            ],
        };
        pick(&mut self.rng, options).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doudi_domain::Coded;
    use doudi_domain::RegionLevel;
    use doudi_domain::person::Sex;
    use std::collections::HashMap;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
    }

    fn generator(seed: u64) -> DemoGenerator {
        let villages = crate::demo_regions(seed)
            .into_iter()
            .filter(|r| r.level == RegionLevel::Village)
            .collect();
        DemoGenerator::new(seed, villages, today())
    }

    fn per_capita_yuan(h: &HouseholdRecord) -> i64 {
        let total: i64 = h.incomes.iter().map(|i| i.monthly.fen()).sum();
        let alive = h
            .members
            .iter()
            .filter(|m| m.deceased_on.is_none())
            .count()
            .max(1) as i64;
        total / alive / 100
    }

    #[test]
    fn same_seed_same_households() {
        let mut a = generator(2024);
        let mut b = generator(2024);
        for _ in 0..1000 {
            let (x, y) = (a.next_household(), b.next_household());
            for (m, n) in x.members.iter().zip(&y.members) {
                assert_eq!(m.id_number.as_str(), n.id_number.as_str());
                assert_eq!(m.name, n.name);
            }
            assert_eq!(x, y);
        }
        let mut c = generator(2025);
        let differs = (0..20).any(|_| {
            let (x, y) = (a.next_household(), c.next_household());
            x.members[0].name != y.members[0].name
        });
        assert!(differs, "different seeds should give different data");
    }

    #[test]
    fn ids_unique_valid_and_consistent_over_300k_households() {
        let mut g = generator(7);
        let mut seen: HashSet<String> = HashSet::with_capacity(800_000);
        let mut old_format = 0;
        for _ in 0..300_000 {
            let h = g.next_household();
            for m in &h.members {
                let id = &m.id_number;
                assert!(
                    seen.insert(id.as_str().to_string()),
                    "duplicate ID {}",
                    id.as_str()
                );
                let again = IdNumber::parse(id.as_str()).expect("ID re-parses");
                assert_eq!(&again, id);
                assert!(IdNumber::parse_as_of(id.as_str(), today()).is_ok());
                if let Some(old) = id.original() {
                    old_format += 1;
                    assert_eq!(old.len(), 15);
                    assert!(id.birth_date().year() < 1940);
                    assert_eq!(IdNumber::parse(old).unwrap().as_str(), id.as_str());
                }
            }
        }
        assert!(seen.len() > 600_000, "only {} people", seen.len());
        assert!(old_format > 0, "no 15-digit numbers generated");
    }

    #[test]
    fn households_are_structurally_sound() {
        let mut g = generator(11);
        let regions = crate::demo_regions(11);
        let village_codes: HashSet<&str> = regions
            .iter()
            .filter(|r| r.level == RegionLevel::Village)
            .map(|r| r.code.as_str())
            .collect();
        let t = today();
        for _ in 0..50_000 {
            let h = g.next_household();
            assert!(
                (1..=6).contains(&h.members.len()),
                "{} members",
                h.members.len()
            );
            assert!(village_codes.contains(h.village_code.as_str()));
            assert!(h.registration_address.starts_with("杭州市西湖区"));
            assert!(h.residence_address.starts_with("杭州市西湖区"));
            if let Some(code) = &h.residence_village_code {
                assert_ne!(code, &h.village_code);
                assert!(village_codes.contains(code.as_str()));
                assert_ne!(h.residence_address, h.registration_address);
            } else {
                assert_eq!(h.residence_address, h.registration_address);
            }
            let head = &h.members[0];
            assert_eq!(head.relation, Relation::Head);
            assert!(head.deceased_on.is_none());
            assert!(h.members[1..].iter().all(|m| m.relation != Relation::Head));
            let spouse = h.members.iter().find(|m| m.relation == Relation::Spouse);
            if let Some(s) = spouse {
                assert_ne!(
                    s.id_number.sex(),
                    head.id_number.sex(),
                    "spouses of opposite sex"
                );
                assert!(s.id_number.age_on(t) >= 20);
            }
            assert!(
                h.members
                    .iter()
                    .filter(|m| m.relation == Relation::Spouse)
                    .count()
                    <= 1
            );
            for m in &h.members {
                let b = m.id_number.birth_date();
                let age = m.id_number.age_on(t);
                match m.relation {
                    Relation::Child => {
                        let a = head.id_number.age_on(b);
                        assert!((20..=40).contains(&a), "head {a} at child's birth");
                        if let Some(s) = spouse {
                            let a = s.id_number.age_on(b);
                            assert!((20..=40).contains(&a), "spouse {a} at child's birth");
                        }
                    }
                    Relation::Parent => {
                        let a = m.id_number.age_on(head.id_number.birth_date());
                        assert!((20..=40).contains(&a), "parent {a} at head's birth");
                    }
                    Relation::Grandchild => {
                        assert!(head.id_number.age_on(b) >= 40);
                        if let Some(s) = spouse {
                            assert!(s.id_number.age_on(b) >= 40);
                        }
                        for c in h.members.iter().filter(|c| c.relation == Relation::Child) {
                            assert!(c.id_number.age_on(b) >= 20);
                        }
                    }
                    Relation::ChildInLaw | Relation::Sibling => assert!(age >= 18),
                    _ => {}
                }
                if let Some((_, grade)) = m.disability {
                    assert!((1..=4).contains(&grade));
                }
                assert!(m.name.chars().count() >= 2);
                match age {
                    0..6 => {
                        assert_eq!(m.employment, Employment::PreSchool);
                        assert!(m.phone.is_none());
                    }
                    6..15 => {
                        assert_eq!(m.employment, Employment::Student);
                        assert!(matches!(
                            m.schooling,
                            Schooling::Primary | Schooling::Junior
                        ));
                    }
                    60.. => assert!(!matches!(
                        m.employment,
                        Employment::Student | Employment::PreSchool | Employment::Unemployed
                    )),
                    _ => {}
                }
                if m.employment == Employment::Student && age >= 18 {
                    assert_eq!(m.schooling, Schooling::College);
                }
                if let Some(p) = &m.phone {
                    assert_eq!(p.len(), 11);
                    assert!(p.starts_with('1') && p.bytes().all(|b| b.is_ascii_digit()));
                }
            }
            for i in &h.incomes {
                assert!(i.monthly.fen() > 0);
                if let Some(ix) = i.member_index {
                    assert!(ix < h.members.len());
                }
            }
            // the category in force decides the income band
            let current = h.categories.last().unwrap();
            assert!(
                h.categories
                    .iter()
                    .all(|c| c.start <= t && c.end.is_none_or(|e| e >= c.start && e <= t))
            );
            let pc = per_capita_yuan(&h);
            match current.category {
                Category::Dibao => assert!(pc < 1000, "低保 per capita {pc}"),
                Category::Dibian => assert!((1000..=1500).contains(&pc), "低边 per capita {pc}"),
                Category::Tekun => {
                    assert_eq!(h.members.len(), 1);
                    assert!(pc < 1000);
                }
                _ => assert!(pc <= 1800, "per capita {pc}"),
            }
        }
    }

    #[test]
    fn distributions_look_plausible() {
        let mut g = generator(3);
        let n = 100_000;
        let mut people = 0usize;
        let mut disabled = 0usize;
        let mut severe = 0usize;
        let mut local = 0usize;
        let mut separated = 0usize;
        let mut with_phone = 0usize;
        let mut categories: HashMap<&'static str, usize> = HashMap::new();
        let mut sizes = [0usize; 7];
        let mut surnames_same = (0usize, 0usize);
        for _ in 0..n {
            let h = g.next_household();
            sizes[h.members.len()] += 1;
            people += h.members.len();
            separated += usize::from(h.residence_village_code.is_some());
            with_phone += usize::from(h.phone.is_some());
            *categories
                .entry(h.categories.last().unwrap().category.label())
                .or_default() += 1;
            let head_male = h.members[0].id_number.sex() == Sex::Male;
            for m in &h.members {
                if let Some((_, g)) = m.disability {
                    disabled += 1;
                    severe += usize::from(g <= 2);
                }
                local += usize::from(m.id_number.county_code() == "330106");
                if m.relation == Relation::Child && head_male {
                    surnames_same.0 += 1;
                    let head_surname = h.members[0].name.chars().next();
                    surnames_same.1 += usize::from(m.name.chars().next() == head_surname);
                }
            }
        }
        let pct = |x: usize, of: usize| x as f64 * 100.0 / of as f64;
        eprintln!(
            "people/household {:.2}, sizes {sizes:?}",
            people as f64 / n as f64
        );
        eprintln!(
            "disabled {:.1}% (severe {:.1}%)",
            pct(disabled, people),
            pct(severe, people)
        );
        eprintln!(
            "330106 IDs {:.1}%, 人户分离 {:.1}%, phone {:.1}%",
            pct(local, people),
            pct(separated, n),
            pct(with_phone, n)
        );
        eprintln!(
            "children sharing father's surname {:.1}%",
            pct(surnames_same.1, surnames_same.0)
        );
        let mut cats: Vec<_> = categories.iter().collect();
        cats.sort();
        eprintln!("categories {cats:?}");
        assert!((6.0..=10.0).contains(&pct(disabled, people)));
        assert!((6.0..=10.0).contains(&pct(separated, n)));
        assert!((35.0..=45.0).contains(&pct(categories["低保"], n)));
        assert!((4.0..=8.0).contains(&pct(categories["特困"], n)));
        assert!(pct(surnames_same.1, surnames_same.0) > 85.0);
    }

    /// The full-size demo: cargo test -p doudi-demo --release -- --ignored
    #[test]
    #[ignore]
    fn ids_unique_over_a_million_households() {
        let mut g = generator(1);
        let mut seen: HashSet<String> = HashSet::with_capacity(2_700_000);
        let mut old_format = 0usize;
        let start = std::time::Instant::now();
        for _ in 0..1_000_000 {
            for m in g.next_household().members {
                old_format += usize::from(m.id_number.original().is_some());
                assert!(seen.insert(m.id_number.as_str().to_string()));
            }
        }
        eprintln!(
            "1,000,000 households, {} people, {old_format} 15-digit IDs, {:.1}s",
            seen.len(),
            start.elapsed().as_secs_f64()
        );
    }

    #[test]
    fn generation_speed() {
        let mut g = generator(99);
        let n = 200_000;
        let start = std::time::Instant::now();
        let mut people = 0usize;
        for _ in 0..n {
            people += g.next_household().members.len();
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{n} households ({people} people) in {secs:.3}s: {:.0} households/s",
            n as f64 / secs
        );
    }
}
