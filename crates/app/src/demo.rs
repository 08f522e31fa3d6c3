//! Creating a living system: regions, accounts, standards, the policy
//! catalogue, warning rules and generated households (the demo district).

use chrono::NaiveDate;
use doudi_demo::{DemoGenerator, DemoRegion, demo_regions};
use doudi_domain::access::Role;
use doudi_domain::{Coded, RegionLevel};
use doudi_store::Db;
use doudi_store::bulk::{self, IdCursor};
use doudi_store::regions::{self, RegionRow};
use doudi_store::users::{self, NewUser};

use crate::error::Result;

/// Password of every demo account (shown on start; change it for anything real).
pub const DEMO_PASSWORD: &str = "doudi2026";

pub struct DemoAccount {
    pub username: String,
    pub role: Role,
    pub region_code: String,
    pub region_name: String,
    pub display_name: String,
    pub department: Option<String>,
}

/// Loads the demo district's regions (西湖区, its real streets and towns, generated villages).
pub async fn load_regions(db: &Db, seed: u64) -> Result<Vec<DemoRegion>> {
    let all = demo_regions(seed);
    let mut tx = db.begin_write().await?;
    for r in &all {
        let row = RegionRow {
            code: r.code.clone(),
            name: r.name.clone(),
            level: r.level.code().to_string(),
            kind: r.kind.to_string(),
            parent_code: r.parent.clone(),
            active: true,
        };
        regions::insert(&mut tx, &row).await?;
    }
    tx.commit().await?;
    Ok(all)
}

/// One account per role: district roles at the district, town roles at the first street,
/// the village assistant at that street's first community.
pub fn demo_accounts(regions: &[DemoRegion]) -> Vec<DemoAccount> {
    let county = regions
        .iter()
        .find(|r| r.level == RegionLevel::County)
        .expect("county");
    let town = regions
        .iter()
        .find(|r| r.level == RegionLevel::Town)
        .expect("town");
    let village = regions
        .iter()
        .find(|r| {
            r.level == RegionLevel::Village && r.parent.as_deref() == Some(town.code.as_str())
        })
        .expect("village");
    let second_town = regions
        .iter()
        .filter(|r| r.level == RegionLevel::Town)
        .nth(1)
        .unwrap_or(town);
    let second_village = regions
        .iter()
        .find(|r| {
            r.level == RegionLevel::Village
                && r.parent.as_deref() == Some(second_town.code.as_str())
        })
        .unwrap_or(village);
    let acc =
        |username: &str, role: Role, r: &DemoRegion, name: &str, dept: Option<&str>| DemoAccount {
            username: username.into(),
            role,
            region_code: r.code.clone(),
            region_name: r.name.clone(),
            display_name: name.into(),
            department: dept.map(str::to_string),
        };
    vec![
        acc("admin", Role::Admin, county, "系统管理员", None),
        acc(
            "qu_shenpi",
            Role::DistrictApprover,
            county,
            "王审批（区民政局）",
            Some("区民政局"),
        ),
        acc(
            "qu_jiandu",
            Role::Supervisor,
            county,
            "陈监督（区纪委监委）",
            Some("区纪委监委"),
        ),
        acc(
            "yibao",
            Role::DeptLiaison,
            county,
            "刘经办（区医保局）",
            Some("区医疗保障局"),
        ),
        acc(
            "cishan",
            Role::Charity,
            county,
            "区慈善总会",
            Some("区慈善总会"),
        ),
        acc(
            "zhen_jingban",
            Role::TownCaseWorker,
            town,
            &format!("李经办（{}）", town.name),
            None,
        ),
        acc(
            "zhen_shenhe",
            Role::TownReviewer,
            town,
            &format!("赵审核（{}）", town.name),
            None,
        ),
        acc(
            "cun_xieli",
            Role::VillageAssistant,
            village,
            &format!("张协理员（{}）", village.name),
            None,
        ),
        acc(
            "cun_xieli2",
            Role::VillageAssistant,
            second_village,
            &format!("周协理员（{}）", second_village.name),
            None,
        ),
    ]
}

/// A stable made-up mobile number for a demo account.
fn demo_phone(username: &str) -> String {
    let n = username
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 10_000;
    format!("1390571{n:04}")
}

pub async fn create_user(db: &Db, a: &DemoAccount, password: &str) -> Result<i64> {
    let mut tx = db.begin_write().await?;
    let id = users::insert(
        &mut tx,
        &NewUser {
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            password_hash: crate::accounts::hash_password(password),
            role: a.role.code().into(),
            region_code: a.region_code.clone(),
            department: a.department.clone(),
            // Staff are reached by phone (referrals show the sender's).
            phone: (!matches!(a.role, Role::Admin)).then(|| demo_phone(&a.username)),
            is_machine: false,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Generates and writes `n` households; `progress(done)` is called after each batch.
/// Every village in `cover` gets at least `MIN_PER_COVERED_VILLAGE` households, so that
/// the demo accounts have something to work on even in a small demo.
pub async fn load_households(
    db: &Db,
    regions: &[DemoRegion],
    seed: u64,
    n: usize,
    today: NaiveDate,
    progress: &dyn Fn(usize),
) -> Result<()> {
    load_households_covering(db, regions, seed, n, &[], today, progress).await
}

pub const MIN_PER_COVERED_VILLAGE: usize = 6;

pub async fn load_households_covering(
    db: &Db,
    regions: &[DemoRegion],
    seed: u64,
    n: usize,
    cover: &[String],
    today: NaiveDate,
    progress: &dyn Fn(usize),
) -> Result<()> {
    let villages: Vec<DemoRegion> = regions
        .iter()
        .filter(|r| r.level == RegionLevel::Village)
        .cloned()
        .collect();
    let mut generator = DemoGenerator::new(seed, villages, today);
    let (h, p, m) = bulk::next_ids(db).await?;
    let mut cursor = IdCursor {
        household: h,
        person: p,
        membership: m,
    };
    let mut per_village: std::collections::HashMap<String, usize> =
        cover.iter().map(|c| (c.clone(), 0)).collect();
    let mut done = 0;
    while done < n {
        let batch_size = (n - done).min(2_000);
        let batch: Vec<_> = (0..batch_size)
            .map(|_| generator.next_household())
            .collect();
        for r in &batch {
            if let Some(c) = per_village.get_mut(&r.village_code) {
                *c += 1;
            }
        }
        bulk::load_households(db, &mut cursor, &batch, today).await?;
        done += batch_size;
        progress(done);
    }
    // Top up the covered villages from the same generator (keeps ID numbers unique).
    let mut extra = Vec::new();
    let mut draws = 0;
    while per_village.values().any(|c| *c < MIN_PER_COVERED_VILLAGE) && draws < 200_000 {
        draws += 1;
        let r = generator.next_household();
        if let Some(c) = per_village.get_mut(&r.village_code) {
            if *c < MIN_PER_COVERED_VILLAGE
                && r.members.len() >= 2
                && r.members.iter().all(|m| m.deceased_on.is_none())
            {
                *c += 1;
                extra.push(r);
            }
        }
    }
    bulk::load_households(db, &mut cursor, &extra, today).await?;
    bulk::sync_sequences(db).await?;
    Ok(())
}

/// The demo district's departments and organisations: the catalogue's
/// departments (by the same codes, so each runs its policies) and those that
/// send feeds, with the feed kinds each sends. Names match the demo accounts.
pub const DEMO_DEPARTMENTS: &[(&str, &str, &str, &str, &[&str])] = &[
    ("mz", "区民政局", "department", "0571-87011001", &[]),
    (
        "rs",
        "区人力资源和社会保障局",
        "department",
        "0571-87011002",
        &["unemployment"],
    ),
    (
        "yb",
        "区医疗保障局",
        "department",
        "0571-87011003",
        &["medical"],
    ),
    ("wj", "区卫生健康局", "department", "0571-87011004", &[]),
    (
        "jy",
        "区教育局",
        "department",
        "0571-87011005",
        &["education"],
    ),
    (
        "zj",
        "区住房和城乡建设局",
        "department",
        "0571-87011006",
        &[],
    ),
    (
        "yj",
        "区应急管理局",
        "department",
        "0571-87011007",
        &["disaster"],
    ),
    ("fg", "区发展和改革局", "department", "0571-87011008", &[]),
    ("sf", "区司法局", "department", "0571-87011009", &[]),
    (
        "cl",
        "区残疾人联合会",
        "department",
        "0571-87011010",
        &["disability"],
    ),
    ("gh", "区总工会", "department", "0571-87011011", &[]),
    ("fl", "区妇女联合会", "department", "0571-87011012", &[]),
    (
        "tw",
        "共青团西湖区委员会",
        "department",
        "0571-87011013",
        &[],
    ),
    (
        "ga",
        "区公安分局",
        "department",
        "0571-87011014",
        &["death", "hukou", "vehicle"],
    ),
    (
        "bdc",
        "区不动产登记中心",
        "department",
        "0571-87011015",
        &["property"],
    ),
    (
        "sj",
        "区市场监督管理局",
        "department",
        "0571-87011016",
        &["business"],
    ),
    (
        "gjj",
        "区住房公积金管理中心",
        "department",
        "0571-87011017",
        &["housing_fund"],
    ),
    (
        "sdq",
        "区水电燃气企业联络组",
        "department",
        "0571-87011018",
        &["utility"],
    ),
    ("jw", "区纪委监委", "department", "0571-87011019", &[]),
    ("hsz", "区红十字会", "charity", "0571-87011020", &[]),
    ("cs", "区慈善总会", "charity", "0571-87011021", &[]),
];

pub async fn seed_departments(db: &Db) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for (code, name, kind, phone, feeds) in DEMO_DEPARTMENTS {
        doudi_store::departments::insert(
            &mut tx,
            code,
            name,
            &doudi_store::departments::DepartmentFields {
                kind: kind.to_string(),
                phone: phone.to_string(),
                feed_kinds: feeds.iter().map(|f| f.to_string()).collect(),
                active: true,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A complete demo: migrations, regions, accounts, `households` generated households.
pub async fn demo(
    db: &Db,
    seed: u64,
    households: usize,
    today: NaiveDate,
    progress: &dyn Fn(usize),
) -> Result<Vec<DemoAccount>> {
    db.migrate().await?;
    let regions = load_regions(db, seed).await?;
    seed_departments(db).await?;
    // Each town's social assistance window has an office phone.
    let mut tx = db.begin_write().await?;
    doudi_store::sqlx::query(
        "UPDATE regions SET phone = '0571-87' || SUBSTR(code, 7, 3) || '100' WHERE level = 'town'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let accounts = demo_accounts(&regions);
    for a in &accounts {
        create_user(db, a, DEMO_PASSWORD).await?;
    }
    // Locally set numbers the demo ships with (domain-rules.md defaults), effective 2024-01-01.
    let mut tx = db.begin_write().await?;
    // 低保 standard 1,000 yuan/person/month (seed 003), town limit for temporary aid
    // 3,000 yuan, and the rest of doudi_rules::standards::STANDARDS.
    for d in doudi_rules::standards::STANDARDS {
        doudi_store::cases::set_standard(
            &mut tx,
            d.key,
            "330106",
            d.demo_default,
            "2024-01-01",
            "demo",
        )
        .await?;
    }
    tx.commit().await?;
    crate::policies::seed_catalogue(db, "demo").await?;
    crate::monitoring::seed_warning_rules(db, "demo").await?;
    let cover: Vec<String> = accounts
        .iter()
        .filter(|a| a.role == Role::VillageAssistant)
        .map(|a| a.region_code.clone())
        .collect();
    load_households_covering(db, &regions, seed, households, &cover, today, progress).await?;
    Ok(accounts)
}

/// A month of department feeds for the demo (only `doudi demo`, not the
/// tests): medical settlements with large self-pay for about 1 in 50
/// people, a few unemployment registrations, new severe disability
/// certificates and deaths, so the first sweep has warnings to verify.
/// Written through the same batch path as an upload.
pub async fn demo_feeds(db: &Db, seed: u64, today: NaiveDate) -> Result<usize> {
    use rand::{Rng, SeedableRng};
    let liaison: i64 =
        doudi_store::sqlx::query_scalar("SELECT id FROM users WHERE username = 'yibao'")
            .fetch_one(&db.pool)
            .await?;
    let people: Vec<(String, String)> = doudi_store::sqlx::query_as(
        "SELECT id_number, name FROM persons WHERE status = 'alive' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xFEED);
    let mut by_kind: std::collections::BTreeMap<&str, Vec<doudi_store::monitoring::FeedInput>> =
        Default::default();
    for (i, (id, name)) in people.iter().enumerate() {
        let roll = rng.random_range(0..1000u32);
        let day = (today - chrono::Days::new(rng.random_range(1..60))).to_string();
        let (kind, amount, attrs) = match roll {
            0..=19 => (
                "medical",
                Some(rng.random_range(500_000..6_000_000i64)),
                format!(r#"{{"settlement_no":"YB{i:08}"}}"#),
            ),
            20..=24 => (
                "unemployment",
                None,
                format!(r#"{{"registration_no":"RS{i:08}","status":"registered"}}"#),
            ),
            25..=26 => (
                "disability",
                None,
                format!(
                    r#"{{"certificate_no":"{id}12","disability_type":"physical","grade":"2"}}"#
                ),
            ),
            27 => ("death", None, format!(r#"{{"record_no":"GA{i:08}"}}"#)),
            _ => continue,
        };
        let record_key = format!("{kind}-{i:08}");
        by_kind
            .entry(kind)
            .or_default()
            .push(doudi_store::monitoring::FeedInput {
                line: i + 2,
                kind: kind.to_string(),
                record_key,
                id_number: id.clone(),
                name: name.clone(),
                event_date: day,
                amount_fen: amount,
                attributes_json: attrs,
            });
    }
    let mut total = 0;
    for (kind, rows) in by_kind {
        let source = match kind {
            "medical" => "区医保局",
            "unemployment" => "区人力社保局",
            "disability" => "区残联",
            _ => "区公安分局",
        };
        let b = doudi_store::monitoring::store_batch(
            db,
            kind,
            source,
            "api",
            "",
            liaison,
            rows.len(),
            &rows,
            vec![],
        )
        .await?;
        total += b.accepted as usize;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every feed has exactly one sending department, and every demo
    /// account's department is on the list (the forms only accept those).
    #[test]
    fn demo_departments_cover_feeds_and_accounts() {
        for k in doudi_sheets::FeedKind::all() {
            let senders = DEMO_DEPARTMENTS
                .iter()
                .filter(|d| d.4.contains(&k.code()))
                .count();
            assert_eq!(senders, 1, "{}", k.code());
        }
        for d in DEMO_DEPARTMENTS {
            for f in d.4 {
                assert!(doudi_sheets::FeedKind::from_code(f).is_some(), "{f}");
            }
        }
        let regions = demo_regions(1);
        for a in demo_accounts(&regions) {
            if let Some(dept) = &a.department {
                assert!(
                    DEMO_DEPARTMENTS.iter().any(|d| d.1 == dept),
                    "{dept} of {} is listed",
                    a.username
                );
            }
        }
        let catalogue = doudi_rules::catalogue::Catalogue::demo();
        for c in &catalogue.departments {
            assert!(
                DEMO_DEPARTMENTS
                    .iter()
                    .any(|d| d.0 == c.code && d.1 == c.name),
                "catalogue department {} ({}) is listed by the same name",
                c.name,
                c.code
            );
        }
    }
}
