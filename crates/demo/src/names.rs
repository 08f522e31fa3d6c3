//! Word lists for Chinese personal names.
//!
//! Surnames are weighted by their approximate share of the population (per
//! 100,000, national figures with a slight Zhejiang tilt: 沈 金 俞 章 方 钱 楼 …).
//! Given names are grouped by birth cohort and sex, because a name such as
//! 秀英 or 建国 immediately dates its bearer, just as 梓萱 or 浩宇 does.

use rand::Rng;

/// A table of items with cumulative weights for O(log n) weighted picks.
pub(crate) struct Cumulative {
    cum: Vec<u32>,
    total: u32,
}

impl Cumulative {
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u32;
        let cum = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        assert!(total > 0, "weights must not all be zero");
        Cumulative { cum, total }
    }

    /// Index of a randomly chosen item.
    #[inline]
    pub(crate) fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let x = rng.random_range(0..self.total);
        self.cum.partition_point(|&c| c <= x)
    }
}

/// Linear weighted pick over a small static table.
#[inline]
pub(crate) fn pick_weighted<T: Copy, R: Rng>(rng: &mut R, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|&(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for &(item, w) in items {
        if x < w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

#[inline]
pub(crate) fn pick<T: Copy, R: Rng>(rng: &mut R, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// (surname, weight per 100,000 people).
#[rustfmt::skip]
pub(crate) const SURNAMES: &[(&str, u32)] = &[
    ("王", 7100), ("李", 7000), ("张", 6700), ("刘", 5400), ("陈", 5200), ("杨", 3100),
    ("黄", 2300), ("赵", 2000), ("吴", 2100), ("周", 1900), ("徐", 1800), ("孙", 1400),
    ("马", 1400), ("朱", 1400), ("胡", 1300), ("郭", 1200), ("何", 1200), ("高", 1100),
    ("林", 1100), ("罗", 1000), ("郑", 1000), ("梁", 900), ("谢", 850), ("宋", 800),
    ("唐", 780), ("许", 760), ("韩", 720), ("冯", 700), ("邓", 690), ("曹", 650),
    ("彭", 630), ("曾", 620), ("肖", 600), ("田", 560), ("董", 550), ("袁", 520),
    ("潘", 520), ("于", 500), ("蒋", 500), ("蔡", 490), ("余", 480), ("杜", 460),
    ("叶", 470), ("程", 440), ("苏", 420), ("魏", 410), ("吕", 400), ("丁", 390),
    ("任", 380), ("沈", 480), ("姚", 360), ("卢", 350), ("姜", 340), ("崔", 320),
    ("钟", 320), ("谭", 310), ("陆", 330), ("汪", 320), ("范", 290), ("金", 340),
    ("石", 280), ("廖", 260), ("贾", 260), ("夏", 260), ("韦", 240), ("付", 230),
    ("方", 280), ("白", 220), ("邹", 220), ("孟", 210), ("熊", 210), ("秦", 200),
    ("邱", 200), ("江", 210), ("尹", 190), ("薛", 180), ("闫", 170), ("段", 170),
    ("雷", 170), ("侯", 170), ("龙", 160), ("史", 160), ("陶", 160), ("黎", 150),
    ("贺", 150), ("顾", 170), ("毛", 170), ("郝", 140), ("龚", 140), ("邵", 160),
    ("万", 130), ("钱", 170), ("严", 140), ("覃", 110), ("武", 120), ("戴", 130),
    ("莫", 110), ("孔", 110), ("向", 100), ("汤", 120), ("俞", 120), ("施", 110),
    ("章", 130), ("傅", 120), ("楼", 60), ("应", 60), ("骆", 60), ("詹", 50),
    ("裘", 30), ("柴", 40), ("虞", 30), ("屠", 30), ("洪", 90), ("童", 70),
    ("葛", 70), ("诸", 20), ("祝", 50), ("竺", 15),
    ("欧阳", 40), ("司马", 6), ("诸葛", 6), ("上官", 6), ("东方", 4), ("皇甫", 4),
];

/// Birth cohorts used to pick period-appropriate given names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cohort {
    /// born before 1950
    Old,
    /// 1950–1969
    Sixties,
    /// 1970–1989
    Eighties,
    /// 1990–2004
    Young,
    /// 2005 and later
    Child,
}

impl Cohort {
    pub(crate) fn of_year(year: i32) -> Cohort {
        match year {
            ..1950 => Cohort::Old,
            1950..1970 => Cohort::Sixties,
            1970..1990 => Cohort::Eighties,
            1990..2005 => Cohort::Young,
            _ => Cohort::Child,
        }
    }

    /// Share (per cent) of one-character given names in the cohort.
    pub(crate) fn single_char_percent(self) -> u32 {
        match self {
            Cohort::Old => 14,
            Cohort::Sixties => 28,
            Cohort::Eighties => 34,
            Cohort::Young => 22,
            Cohort::Child => 8,
        }
    }
}

pub(crate) struct GivenNames {
    pub(crate) double: &'static [&'static str],
    pub(crate) single: &'static [&'static str],
}

const OLD_M: GivenNames = GivenNames {
    double: &[
        "福生", "根生", "长生", "金根", "水根", "德明", "德福", "德胜", "志明", "春生", "海生",
        "荣生", "家宝", "富贵", "有才", "炳华", "炳坤", "兆林", "文彬", "国栋", "树林", "宝林",
        "金发", "连生", "阿毛", "金水", "永福", "桂林", "和平", "关根", "庆林", "寿松", "仁德",
        "炳松", "雪根",
    ],
    single: &["福", "根", "林", "山", "海", "华", "明", "财", "荣", "松"],
};
const OLD_F: GivenNames = GivenNames {
    double: &[
        "秀英", "桂英", "桂兰", "玉兰", "秀兰", "凤英", "金花", "月娥", "素珍", "美华", "翠英",
        "菊英", "彩娥", "杏娟", "金娣", "招娣", "爱珍", "宝珍", "月英", "雪娥", "巧云", "翠娥",
        "莲英", "小妹", "凤仙", "银花", "梅英", "水娟", "素芬", "阿香", "玉英", "桂珍", "凤珍",
        "金凤", "杏花",
    ],
    single: &["英", "兰", "珍", "娥", "芬", "梅", "凤", "妹", "娣", "香"],
};
const SIXTIES_M: GivenNames = GivenNames {
    double: &[
        "建国", "国强", "建华", "建军", "国平", "卫东", "卫国", "红兵", "建平", "志刚", "国华",
        "建新", "跃进", "永明", "建明", "国庆", "新华", "援朝", "立新", "德华", "建林", "志华",
        "海林", "水林", "金良", "国民", "伟民", "文华", "建忠", "解放", "国良", "永康", "建荣",
        "建民", "向东",
    ],
    single: &[
        "伟", "军", "勇", "强", "平", "刚", "斌", "林", "明", "华", "忠", "民",
    ],
};
const SIXTIES_F: GivenNames = GivenNames {
    double: &[
        "秀珍", "桂芳", "丽华", "红梅", "美玲", "雪芬", "彩娟", "惠芬", "玉珍", "桂芬", "秀娟",
        "凤娟", "亚萍", "美娟", "卫红", "红英", "秀芳", "建英", "爱华", "国英", "金凤", "素娟",
        "月芳", "雪梅", "慧娟", "丽娟", "彩霞", "利娟", "秋菊", "春华", "小红", "美英", "建芬",
        "玉芬", "菊芬",
    ],
    single: &[
        "芳", "红", "英", "萍", "霞", "娟", "燕", "敏", "丽", "梅", "琴", "华",
    ],
};
const EIGHTIES_M: GivenNames = GivenNames {
    double: &[
        "志强", "海波", "建伟", "晓东", "俊杰", "志伟", "军伟", "永强", "晓峰", "海军", "文杰",
        "利锋", "国伟", "建锋", "学军", "卫华", "伟强", "晓明", "剑锋", "立军", "海涛", "春雷",
        "振华", "鹏飞", "东升", "文斌", "晓波", "建斌", "伟东", "庆华", "小龙", "志勇", "杰峰",
        "永杰", "海峰",
    ],
    single: &[
        "伟", "磊", "勇", "军", "涛", "斌", "杰", "强", "鹏", "超", "波", "辉", "刚", "峰", "浩",
        "亮",
    ],
};
const EIGHTIES_F: GivenNames = GivenNames {
    double: &[
        "晓燕", "丽娜", "海燕", "红霞", "春燕", "晓丽", "丽萍", "燕萍", "美娟", "晓红", "雪梅",
        "丽丽", "婷婷", "倩倩", "晓静", "丹丹", "玲玲", "秀丽", "慧敏", "艳红", "静怡", "亚娟",
        "晓芳", "美红", "丽君", "晓霞", "莉莉", "金燕", "海英", "文静", "佳佳", "燕飞", "晓琴",
        "芳芳", "雅芬",
    ],
    single: &[
        "静", "丽", "敏", "燕", "艳", "娟", "霞", "婷", "芳", "洁", "琳", "颖", "雪", "倩",
    ],
};
const YOUNG_M: GivenNames = GivenNames {
    double: &[
        "浩然", "子豪", "俊杰", "宇航", "家豪", "浩宇", "嘉诚", "文博", "天宇", "志豪", "一凡",
        "晨阳", "宇飞", "博文", "佳明", "鑫磊", "昊天", "俊豪", "泽宇", "子健", "思远", "明轩",
        "浩天", "雨辰", "振宇", "嘉伟", "晓宇", "子龙", "凯文", "旭东", "家乐", "俊涛", "成龙",
        "宏宇", "梓豪",
    ],
    single: &[
        "杰", "磊", "浩", "鹏", "宇", "超", "昊", "睿", "晨", "凯", "帅", "阳",
    ],
};
const YOUNG_F: GivenNames = GivenNames {
    double: &[
        "思雨", "雨婷", "佳怡", "梦瑶", "欣怡", "雨欣", "诗琪", "佳琪", "梦琪", "婉婷", "晓雪",
        "雅琪", "欣然", "静雯", "怡然", "佳慧", "若琳", "思佳", "梦洁", "雅婷", "紫涵", "晨曦",
        "雪莹", "丹妮", "嘉欣", "慧琳", "心怡", "诗雨", "佳颖", "语嫣", "文倩", "梦婷", "思琪",
        "佳丽", "雨晴",
    ],
    single: &[
        "婷", "静", "倩", "雪", "琪", "悦", "璐", "颖", "洁", "蕾", "琳", "瑶",
    ],
};
const CHILD_M: GivenNames = GivenNames {
    double: &[
        "浩宇", "子涵", "宇轩", "梓豪", "俊熙", "子轩", "一鸣", "皓轩", "沐阳", "睿泽", "宇泽",
        "浩轩", "子墨", "奕辰", "梓睿", "俊宇", "铭轩", "弘毅", "承泽", "一诺", "天佑", "博涵",
        "思源", "嘉懿", "锦程", "煜城", "明哲", "宸睿", "梓航", "昊然", "沐宸", "浩然", "子睿",
        "景行", "亦航",
    ],
    single: &["睿", "浩", "轩", "宇", "泽", "阳", "航", "辰", "铭", "哲"],
};
const CHILD_F: GivenNames = GivenNames {
    double: &[
        "梓萱", "欣怡", "诗涵", "一诺", "雨桐", "可馨", "梓涵", "语桐", "若汐", "思彤", "子涵",
        "依诺", "紫萱", "梦琪", "语汐", "芷若", "沐晴", "欣妍", "安琪", "佳琪", "梓琪", "雨萱",
        "诗琪", "可欣", "艺涵", "若曦", "一涵", "思琪", "悦彤", "梓玥", "清妍", "沐瑶", "予安",
        "星妍", "嘉怡",
    ],
    single: &["涵", "萱", "琪", "妍", "彤", "玥", "悦", "瑶", "琳", "萌"],
};

pub(crate) fn given_names(cohort: Cohort, male: bool) -> &'static GivenNames {
    match (cohort, male) {
        (Cohort::Old, true) => &OLD_M,
        (Cohort::Old, false) => &OLD_F,
        (Cohort::Sixties, true) => &SIXTIES_M,
        (Cohort::Sixties, false) => &SIXTIES_F,
        (Cohort::Eighties, true) => &EIGHTIES_M,
        (Cohort::Eighties, false) => &EIGHTIES_F,
        (Cohort::Young, true) => &YOUNG_M,
        (Cohort::Young, false) => &YOUNG_F,
        (Cohort::Child, true) => &CHILD_M,
        (Cohort::Child, false) => &CHILD_F,
    }
}

/// Picks a given name for the cohort and sex.
pub(crate) fn given_name<R: Rng>(rng: &mut R, cohort: Cohort, male: bool) -> &'static str {
    let names = given_names(cohort, male);
    if rng.random_range(0..100) < cohort.single_char_percent() {
        pick(rng, names.single)
    } else {
        pick(rng, names.double)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lists_are_clean() {
        for s in SURNAMES {
            assert!(s.1 > 0);
            let n = s.0.chars().count();
            assert!(n == 1 || n == 2, "{}", s.0);
        }
        let mut seen = std::collections::HashSet::new();
        for s in SURNAMES {
            assert!(seen.insert(s.0), "duplicate surname {}", s.0);
        }
        for cohort in [
            Cohort::Old,
            Cohort::Sixties,
            Cohort::Eighties,
            Cohort::Young,
            Cohort::Child,
        ] {
            for male in [true, false] {
                let g = given_names(cohort, male);
                assert!(
                    g.double.iter().all(|n| n.chars().count() == 2),
                    "{cohort:?}"
                );
                assert!(
                    g.single.iter().all(|n| n.chars().count() == 1),
                    "{cohort:?}"
                );
            }
        }
    }

    #[test]
    fn cumulative_pick_covers_range() {
        let c = Cumulative::new([1, 0, 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0u32; 3];
        for _ in 0..4000 {
            counts[c.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[0] > 700 && counts[2] > 2700, "{counts:?}");
    }
}
