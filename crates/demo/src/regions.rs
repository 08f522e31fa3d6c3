//! Demo administrative divisions: 西湖区 (330106), its twelve real streets and
//! towns, and generated communities (社区) and villages (村).

use doudi_domain::RegionLevel;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DemoRegion;

const STREETS_CSV: &str = include_str!("../../../data/divisions/streets-330106.csv");

pub(crate) const COUNTY_CODE: &str = "330106";
pub(crate) const COUNTY_NAME: &str = "西湖区";
pub(crate) const CITY_NAME: &str = "杭州市";

/// Bases for community (社区) names; combined with an optional suffix.
const COMMUNITY_BASES: &[&str] = &[
    "宝石",
    "保俶",
    "黄龙",
    "曙光",
    "松木场",
    "学院",
    "求是",
    "马塍",
    "桂花",
    "文华",
    "文锦",
    "文鼎",
    "益乐",
    "竹苑",
    "紫荆",
    "金都",
    "嘉绿",
    "古墩",
    "华星",
    "骆家庄",
    "五联",
    "申花",
    "星洲",
    "耀江",
    "嘉南",
    "莲花",
    "德加",
    "三坝",
    "东岳",
    "屏峰",
    "小和山",
    "杨家牌楼",
    "象山",
    "之江",
    "龙坞",
    "玉泉",
    "九里松",
    "茅家埠",
    "梅家坞",
    "双峰",
    "振华",
    "厚仁",
    "墩余",
    "汇丰",
    "石祥",
    "金家渡",
    "溪岸",
    "政苑",
    "浙大",
    "凤凰",
    "灵峰",
    "登云",
    "丰潭",
    "和睦",
    "景苑",
    "花坞",
    "桃源",
    "枫华",
    "晴川",
    "云栖",
    "塘苗",
    "庆丰",
    "新盛",
    "九莲",
    "塘河",
    "紫金港",
    "世纪",
    "宝林",
    "钱江",
    "梧桐",
    "青芝坞",
    "天目",
    "翠柏",
    "金沙",
    "友谊",
    "南都",
    "桂溪",
    "玉古",
    "竞舟",
    "嘉禾",
    "香樟",
    "银杏",
    "荷花",
    "春晓",
    "秋涛",
    "东坡",
    "龙驹坞",
    "杭大",
    "西城",
    "山水",
    "明珠",
    "翠竹",
    "教工",
    "府新",
    "星海",
    "景湖",
    "文苑",
    "丰收",
    "塘北",
    "绿洲",
];

/// (suffix, weight) for community names: 文鼎苑社区, 古荡新村社区, 嘉绿苑社区 …
const COMMUNITY_SUFFIXES: &[(&str, u32)] = &[
    ("", 58),
    ("苑", 12),
    ("新村", 12),
    ("花园", 7),
    ("家园", 5),
    ("里", 3),
    ("湾", 3),
];

/// Village (村) names used for the towns (镇).
const VILLAGE_NAMES: &[&str] = &[
    "桂花",
    "兰里",
    "何家",
    "杨家",
    "周家浜",
    "绕城",
    "新桥",
    "八丁",
    "东穆坞",
    "袁浦",
    "灵山",
    "横街",
    "塘湾",
    "章家坝",
    "金家岭",
    "叶埠桥",
    "上杨",
    "庙山",
    "方家",
    "汇溪",
    "吉庆山",
    "外桐坞",
    "大清",
    "双灵",
    "周浦",
    "沈家",
    "杜家",
    "陈家木桥",
    "良户",
    "石马",
    "同心",
    "西园",
    "联胜",
    "江家",
    "冯家",
    "金岙",
    "四联",
    "红星",
    "永丰",
    "湖埠",
    "社井",
    "下杨",
    "麻车",
    "徐家埠",
    "王家桥",
    "光明",
    "五星",
    "曹家",
    "许家",
    "龙门坎",
];

/// (code, name) of the streets and towns of 西湖区, from the embedded data file.
pub(crate) fn towns() -> Vec<(&'static str, &'static str)> {
    STREETS_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.trim_start_matches('\u{feff}').split(',');
            let code = cols.next()?.trim().trim_matches('"');
            let name = cols.next()?.trim().trim_matches('"');
            (code.len() == 9 && code.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
                .then_some((code, name))
        })
        .collect()
}

fn town_kind(name: &str) -> &'static str {
    if name.ends_with("街道") {
        "街道"
    } else if name.ends_with('乡') {
        "乡"
    } else {
        "镇"
    }
}

/// Whether a base already reads as a place name, so no suffix is added.
fn ends_with_place_word(base: &str) -> bool {
    ["苑", "园", "村", "新", "里", "湾", "坞", "山", "庄"]
        .iter()
        .any(|w| base.ends_with(w))
}

/// See [`crate::demo_regions`].
pub fn demo_regions(seed: u64) -> Vec<DemoRegion> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5245_4749_4f4e_5321);
    let towns = towns();

    let mut out = Vec::with_capacity(1 + towns.len() * 15);
    out.push(DemoRegion {
        code: COUNTY_CODE.to_string(),
        name: COUNTY_NAME.to_string(),
        level: RegionLevel::County,
        parent: None,
        kind: "区",
    });
    for &(code, name) in &towns {
        out.push(DemoRegion {
            code: code.to_string(),
            name: name.to_string(),
            level: RegionLevel::Town,
            parent: Some(COUNTY_CODE.to_string()),
            kind: town_kind(name),
        });
    }

    let mut community_bases: Vec<&str> = COMMUNITY_BASES.to_vec();
    community_bases.shuffle(&mut rng);
    let mut village_names: Vec<&str> = VILLAGE_NAMES.to_vec();
    village_names.shuffle(&mut rng);
    let mut next_base = 0usize;
    let mut next_village = 0usize;
    let mut used_names = std::collections::HashSet::new();

    let mut next_community_name = |rng: &mut ChaCha8Rng| -> String {
        loop {
            // Wrap around with a different suffix if the pool runs out.
            let base = community_bases[next_base % community_bases.len()];
            next_base += 1;
            let suffix = if base.chars().count() != 2 || ends_with_place_word(base) {
                ""
            } else {
                crate::names::pick_weighted(rng, COMMUNITY_SUFFIXES)
            };
            let name = format!("{base}{suffix}社区");
            if used_names.insert(name.clone()) {
                return name;
            }
        }
    };

    for &(town_code, town_name) in &towns {
        let kind = town_kind(town_name);
        let n: u32 = rng.random_range(6..=14);
        let communities = if kind == "街道" {
            n
        } else {
            rng.random_range(1..=3)
        };
        let villages = n - communities;
        let mut seq = 0u32;
        for _ in 0..communities {
            seq += if rng.random_bool(0.12) { 2 } else { 1 };
            let name = next_community_name(&mut rng);
            out.push(DemoRegion {
                code: format!("{town_code}{seq:03}"),
                name,
                level: RegionLevel::Village,
                parent: Some(town_code.to_string()),
                kind: "社区",
            });
        }
        let mut seq = 200u32;
        for _ in 0..villages {
            seq += if rng.random_bool(0.12) { 2 } else { 1 };
            let base = village_names[next_village % village_names.len()];
            next_village += 1;
            out.push(DemoRegion {
                code: format!("{town_code}{seq:03}"),
                name: format!("{base}村"),
                level: RegionLevel::Village,
                parent: Some(town_code.to_string()),
                kind: "村",
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_level(r: &DemoRegion, l: RegionLevel) -> bool {
        std::mem::discriminant(&r.level) == std::mem::discriminant(&l)
    }

    #[test]
    fn twelve_towns_from_the_data_file() {
        let t = towns();
        assert_eq!(t.len(), 12);
        assert_eq!(t[0], ("330106002", "北山街道"));
        assert_eq!(t[11], ("330106110", "双浦镇"));
    }

    #[test]
    fn region_tree_is_well_formed() {
        let regions = demo_regions(42);
        assert_eq!(regions[0].code, "330106");
        assert!(is_level(&regions[0], RegionLevel::County));
        let towns: Vec<&DemoRegion> = regions
            .iter()
            .filter(|r| is_level(r, RegionLevel::Town))
            .collect();
        assert_eq!(towns.len(), 12);
        // order: county, towns, villages
        assert!(
            regions[1..13]
                .iter()
                .all(|r| is_level(r, RegionLevel::Town))
        );
        assert!(
            regions[13..]
                .iter()
                .all(|r| is_level(r, RegionLevel::Village))
        );

        let mut codes = HashSet::new();
        for r in &regions {
            assert!(codes.insert(r.code.clone()), "duplicate code {}", r.code);
        }
        for t in &towns {
            assert_eq!(t.code.len(), 9);
            assert_eq!(t.parent.as_deref(), Some("330106"));
            let vs: Vec<&DemoRegion> = regions
                .iter()
                .filter(|r| r.parent.as_deref() == Some(t.code.as_str()))
                .collect();
            assert!((6..=14).contains(&vs.len()), "{} has {}", t.name, vs.len());
            let mut names = HashSet::new();
            for v in vs {
                assert!(is_level(v, RegionLevel::Village));
                assert_eq!(v.code.len(), 12);
                assert!(v.code.bytes().all(|b| b.is_ascii_digit()));
                assert!(v.code.starts_with(&t.code));
                let tail: u32 = v.code[9..].parse().unwrap();
                match v.kind {
                    "社区" => {
                        assert!((1..=199).contains(&tail), "{}", v.code);
                        assert!(v.name.ends_with("社区"));
                    }
                    "村" => {
                        assert!((200..=399).contains(&tail), "{}", v.code);
                        assert!(v.name.ends_with('村'));
                        assert_eq!(t.kind, "镇", "villages only under towns");
                    }
                    k => panic!("unexpected kind {k}"),
                }
                assert!(
                    names.insert(v.name.clone()),
                    "duplicate name {} in {}",
                    v.name,
                    t.name
                );
            }
        }
    }

    #[test]
    fn regions_are_deterministic() {
        let a: Vec<(String, String)> = demo_regions(7)
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect();
        let b: Vec<(String, String)> = demo_regions(7)
            .into_iter()
            .map(|r| (r.code, r.name))
            .collect();
        assert_eq!(a, b);
    }
}
