//! Prints demo data for eyeballing:
//!   cargo run -p doudi-demo --release --example sample -- [N | regions] [seed]

use doudi_domain::{Coded, RegionLevel};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "10".to_string());
    let seed: u64 = args.next().map_or(1, |s| s.parse().expect("seed"));
    let regions = doudi_demo::demo_regions(seed);
    if what == "regions" {
        for r in &regions {
            let parent = r.parent.as_deref().unwrap_or("-");
            println!("{} {} {} 上级 {parent}", r.code, r.name, r.kind);
        }
        return;
    }
    let n: usize = what.parse().expect("number of households or `regions`");
    let villages = regions
        .into_iter()
        .filter(|r| r.level == RegionLevel::Village)
        .collect();
    let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).expect("date");
    let mut generator = doudi_demo::DemoGenerator::new(seed, villages, today);
    for _ in 0..n {
        let h = generator.next_household();
        println!("== {} {}", h.village_code, h.registration_address);
        if let Some(code) = &h.residence_village_code {
            println!("   人户分离：现居 {} ({code})", h.residence_address);
        }
        println!(
            "   电话 {} 备注 {}",
            h.phone.as_deref().unwrap_or("-"),
            h.note
        );
        for m in &h.members {
            let id = &m.id_number;
            let disability = m
                .disability
                .map(|(t, g)| format!("{}{}级", t.label(), g))
                .unwrap_or_default();
            println!(
                "   {} {} {}{} {}岁 {} {} {} [{}] {} {}/{} {}",
                m.relation.label(),
                m.name,
                id.as_str(),
                id.original()
                    .map(|o| format!("（原{o}）"))
                    .unwrap_or_default(),
                id.age_on(today),
                id.sex().label(),
                m.phone.as_deref().unwrap_or("-"),
                disability,
                m.illnesses,
                m.self_care.level().label(),
                m.employment.label(),
                m.schooling.label(),
                m.deceased_on
                    .map(|d| format!("已故 {d}"))
                    .unwrap_or_default(),
            );
        }
        for i in &h.incomes {
            let who = i
                .member_index
                .map_or("户".to_string(), |k| h.members[k].name.clone());
            println!(
                "   收入 {} {} {} {}元/月",
                i.kind.label(),
                who,
                i.description,
                i.monthly
            );
        }
        for a in &h.assets {
            println!("   资产 {} {} {}元", a.kind.label(), a.description, a.value);
        }
        for c in &h.categories {
            let end = c
                .end
                .map(|d| d.to_string())
                .unwrap_or_else(|| "至今".to_string());
            println!("   类别 {} {} ~ {end}", c.category.label(), c.start);
        }
    }
}
