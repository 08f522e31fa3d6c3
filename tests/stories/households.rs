//! Story tests for the household files, run against SQLite and PostgreSQL.

use crate::support;

use axum::http::StatusCode;
use chrono::NaiveDate;
use doudi_domain::IdNumber;
use support::{Backend, TestApp};

fn new_id(seq: u16) -> String {
    IdNumber::from_parts("110105", NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(), seq)
        .unwrap()
        .as_str()
        .to_string()
}

async fn first_village(app: &TestApp, user: &str) -> String {
    app.region_of(user).await
}

/// Creating a household: a form with errors is refused with messages and writes nothing;
/// fixed, it is saved, shows up in search, and the file masks the ID number.
async fn create_search_and_view(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let cookie = app.login("cun_xieli").await;
    let village = first_village(&app, "cun_xieli").await;
    let before = app.scalar("SELECT COUNT(*) FROM households").await;
    let bad_id = {
        let mut s = new_id(11);
        let last = s.pop().unwrap();
        s.push(if last == '0' { '1' } else { '0' });
        s
    };
    let mut form = vec![
        ("village_code", village.as_str()),
        ("registration_address", "杭州市西湖区测试路1号"),
        ("residence_address", ""),
        ("phone", "1381234"),
        ("head_name", "测试户主"),
        ("head_id_number", bad_id.as_str()),
        ("head_sex", ""),
        ("head_birth_date", ""),
        ("head_employment", "unemployed"),
        ("head_schooling", "graduated"),
    ];
    let (status, html, _) = app.post("/households/new", &cookie, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("error-summary"), "error summary shown");
    assert!(
        html.contains("校验位"),
        "check-digit message in Chinese: {}",
        &html[..html.len().min(300)]
    );
    assert!(html.contains("电话号码格式不正确"));
    assert!(
        html.contains("href=\"#head_id_number\""),
        "summary links to the field"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM households").await,
        before,
        "nothing written"
    );

    let good_id = new_id(11);
    form[3] = ("phone", "13812345678");
    form[5] = ("head_id_number", good_id.as_str());
    form[6] = ("head_sex", "female");
    let (status, html, _) = app.post("/households/new", &cookie, &form).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sex disagrees with the ID (odd sequence = male)"
    );
    assert!(html.contains("性别与身份证号不一致"));
    form[6] = ("head_sex", "male");
    let (status, _, location) = app.post("/households/new", &cookie, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.starts_with("/households/"));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM households").await,
        before + 1
    );

    // The same person cannot be registered in a second household.
    let (status, html, _) = app.post("/households/new", &cookie, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("已登记在您辖区的另一户中"), "{html}");

    // Search by name, full ID, last digits, phone, the phone's last digits
    // and the household number all find it (issue 11, defect 8).
    let number = location
        .trim_start_matches("/households/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    for q in [
        "测试户主",
        "测试",
        "测",
        good_id.as_str(),
        &good_id[12..],
        "13812345678",
        "5678",
        "12345678",
        number.as_str(),
    ] {
        let (s, html) = app
            .get(&format!("/households?q={}", support::enc(q)), &cookie)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains("测试户主"), "search {q} finds the household");
    }
    // A lone character is too broad above village level: a clear message, no scan.
    let town_cookie = app.login("zhen_jingban").await;
    let (s, html) = app.get("/households?q=%E6%B5%8B", &town_cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("请至少输入两个字"));
    let (_, html) = app
        .get(
            "/households?q=%E4%B8%8D%E5%AD%98%E5%9C%A8%E7%9A%84%E4%BA%BA",
            &cookie,
        )
        .await;
    assert!(
        html.contains("没有找到符合条件的家庭"),
        "empty state explains what to do"
    );

    // The file masks the ID; opening it is audited; revealing is explicit and audited.
    let views_before = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'view'")
        .await;
    let (s, html) = app.get(&location, &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains(&good_id), "full ID not shown by default");
    assert!(html.contains(&IdNumber::parse(&good_id).unwrap().masked()));
    assert!(html.contains("138****5678"));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'view'")
            .await,
        views_before + 1
    );
    let hid: i64 = location
        .trim_start_matches("/households/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pid: i64 =
        doudi_store::sqlx::query_scalar("SELECT id FROM persons WHERE household_id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let (s, html, _) = app
        .post(
            &format!("/households/{hid}/reveal"),
            &cookie,
            &[("person_id", &pid.to_string())],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&good_id), "revealed on request");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'reveal_id'")
            .await,
        1
    );
    app.finish().await;
}

/// For every household endpoint and every role: a household outside the actor's subtree
/// gives 403/404, shows none of its data, and the attempt is audited.
async fn jurisdiction_isolation(backend: Backend) {
    let app = TestApp::new(backend, 400).await;
    let village = app.region_of("cun_xieli").await;
    let town = app.region_of("zhen_jingban").await;
    let outside_village = app.household_outside(&village).await;
    let outside_town = app.household_outside(&town).await;
    for (user, target) in [
        ("cun_xieli", outside_village),
        ("zhen_jingban", outside_town),
        ("zhen_shenhe", outside_town),
        ("yibao", outside_town),
        ("cishan", outside_town),
        ("admin", outside_town),
    ] {
        let h: (String, String) = doudi_store::sqlx::query_as(
            "SELECT head_name, registration_address FROM households WHERE id = $1",
        )
        .bind(target)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        let pid: i64 = doudi_store::sqlx::query_scalar(
            "SELECT id FROM persons WHERE household_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(target)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        let cookie = app.login(user).await;
        let denied_before = app
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'denied'")
            .await;
        let gets = [
            format!("/households/{target}"),
            format!("/households/{target}/edit"),
            format!("/households/{target}/members/new"),
            format!("/households/{target}/split"),
            format!("/households/{target}/items/confirm?op=remove_income&item_id=1"),
            format!("/persons/{pid}/edit"),
            format!("/persons/{pid}/move"),
            format!("/persons/{pid}/death"),
        ];
        for path in &gets {
            let (s, html) = app.get(path, &cookie).await;
            assert!(
                s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
                "{user} GET {path} gave {s}"
            );
            assert!(
                !html.contains(&h.0) && !html.contains(&h.1),
                "{user} GET {path} leaked data"
            );
        }
        let posts: Vec<(String, Vec<(&str, String)>)> = vec![
            (
                format!("/households/{target}/edit"),
                vec![
                    ("version", "1".into()),
                    ("village_code", village.clone()),
                    ("registration_address", "x".into()),
                ],
            ),
            (
                format!("/households/{target}/members/new"),
                vec![("version", "1".into()), ("name", "某".into())],
            ),
            (
                format!("/households/{target}/split"),
                vec![("version", "1".into())],
            ),
            (
                format!("/households/{target}/items"),
                vec![
                    ("version", "1".into()),
                    ("op", "add_asset".into()),
                    ("kind", "house".into()),
                    ("amount", "1".into()),
                ],
            ),
            (
                format!("/households/{target}/reveal"),
                vec![("person_id", pid.to_string())],
            ),
            (
                format!("/persons/{pid}/edit"),
                vec![("version", "1".into())],
            ),
            (format!("/persons/{pid}/move"), vec![("target", "1".into())]),
            (
                format!("/persons/{pid}/death"),
                vec![
                    ("version", "1".into()),
                    ("date", "2020-01-01".into()),
                    ("confirm", "1".into()),
                ],
            ),
        ];
        for (path, form) in &posts {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, html, _) = app.post(path, &cookie, &form).await;
            assert!(
                s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
                "{user} POST {path} gave {s}"
            );
            assert!(!html.contains(&h.0), "{user} POST {path} leaked data");
        }
        let denied_after = app
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'denied'")
            .await;
        assert!(
            denied_after >= denied_before + 8,
            "{user}: refusals audited ({denied_before} -> {denied_after})"
        );
        // Lists never include it either.
        let (s, html) = app
            .get(&format!("/households?q={}", support::enc(&h.0)), &cookie)
            .await;
        if s == StatusCode::OK {
            assert!(
                !html.contains(&format!("/households/{target}\"")),
                "{user}: list shows an outside household"
            );
        }
        // API with a machine token of the same account.
        let token = app.token_for(user).await;
        for path in [
            format!("/api/v1/households/{target}"),
            format!("/api/v1/persons/{pid}"),
        ] {
            let (s, body) = app.api("GET", &path, &token, None).await;
            assert!(
                s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
                "{user} API {path} gave {s}"
            );
            assert!(!body.to_string().contains(&h.0));
        }
        // Nothing changed.
        let still: String =
            doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
                .bind(target)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(still, h.0);
    }
    // Inside the subtree it works, for the village assistant and for the district.
    let inside = app.household_in(&village).await;
    for user in ["cun_xieli", "zhen_jingban", "qu_shenpi", "qu_jiandu"] {
        let cookie = app.login(user).await;
        let (s, _) = app.get(&format!("/households/{inside}"), &cookie).await;
        assert_eq!(s, StatusCode::OK, "{user} sees a household in its subtree");
    }
    // The village assistant's list holds only its own village.
    let cookie = app.login("cun_xieli").await;
    let (_, html) = app.get("/households", &cookie).await;
    let others: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM households WHERE village_code <> $1")
            .bind(&village)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(others > 0);
    let mut ids_in_page = html
        .match_indices("href=\"/households/")
        .map(|(i, _)| html[i + 18..].split('"').next().unwrap().to_string())
        .filter(|s| s.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>();
    ids_in_page.dedup();
    assert!(!ids_in_page.is_empty());
    for id in ids_in_page {
        let v: String =
            doudi_store::sqlx::query_scalar("SELECT village_code FROM households WHERE id = $1")
                .bind(id.parse::<i64>().unwrap())
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(v, village);
    }
    app.finish().await;
}

/// Two people edit the same household from the same version: the second save is
/// refused with a clear message and the first one stands.
async fn concurrent_edits(backend: Backend) {
    let app = TestApp::new(backend, 40).await;
    let village = app.region_of("cun_xieli").await;
    let id = app.household_in(&village).await;
    let a = app.login("cun_xieli").await;
    let b = app.login("zhen_jingban").await;
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let v = version.to_string();
    let form = |addr: &'static str| {
        vec![
            ("version", v.clone()),
            ("village_code", village.clone()),
            ("registration_address", addr.to_string()),
            ("residence_address", String::new()),
            ("phone", String::new()),
            ("note", String::new()),
        ]
    };
    let fa = form("第一个人的地址");
    let fb = form("第二个人的地址");
    let fa: Vec<(&str, &str)> = fa.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fb: Vec<(&str, &str)> = fb.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s1, _, _) = app.post(&format!("/households/{id}/edit"), &a, &fa).await;
    assert_eq!(s1, StatusCode::SEE_OTHER);
    let (s2, html, _) = app.post(&format!("/households/{id}/edit"), &b, &fb).await;
    assert_eq!(
        s2,
        StatusCode::CONFLICT,
        "stale write refused (as for members)"
    );
    assert!(html.contains("已被他人修改"), "clear message");
    let addr: String = doudi_store::sqlx::query_scalar(
        "SELECT registration_address FROM households WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(addr, "第一个人的地址");
    // Truly concurrent: many writers, one version, exactly one wins.
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let db = app.db.clone();
        let village = village.clone();
        tasks.push(tokio::spawn(async move {
            let scope =
                doudi_store::households::Scope(doudi_domain::RegionCode::parse(&village).unwrap());
            let e = doudi_store::households::HouseholdEdit {
                village_code: village.clone(),
                registration_address: format!("并发地址{i}"),
                residence_address: "x".into(),
                residence_village_code: None,
                phone: None,
                note: String::new(),
            };
            let mut tx = db.begin_write().await.unwrap();
            let r = doudi_store::households::update(
                &mut tx,
                &doudi_store::audit::AuditActor::system(),
                &scope,
                id,
                version,
                &e,
                doudi_store::today_cn(),
            )
            .await;
            if r.is_ok() {
                tx.commit().await.unwrap();
            }
            r.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent writer wins");
    // The same for adding members from the same version (row lock + version check).
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6u16 {
        let db = app.db.clone();
        let village = village.clone();
        tasks.push(tokio::spawn(async move {
            let scope =
                doudi_store::households::Scope(doudi_domain::RegionCode::parse(&village).unwrap());
            let m = doudi_domain::household::MemberRecord {
                name: format!(
                    "并发成员{}",
                    ["甲", "乙", "丙", "丁", "戊", "己"][i as usize]
                ),
                id_number: IdNumber::from_parts(
                    "110105",
                    NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                    300 + i,
                )
                .unwrap(),
                relation: doudi_domain::person::Relation::Other,
                phone: None,
                disability: None,
                illnesses: String::new(),
                self_care: doudi_domain::person::SelfCare::from_bits(0),
                employment: doudi_domain::person::Employment::Other,
                schooling: doudi_domain::person::Schooling::Graduated,
                deceased_on: None,
            };
            let mut tx = db.begin_write().await.unwrap();
            let r = doudi_store::households::add_member(
                &mut tx,
                &doudi_store::audit::AuditActor::system(),
                &scope,
                id,
                version,
                &m,
                doudi_store::today_cn(),
            )
            .await;
            if r.is_ok() {
                tx.commit().await.unwrap();
            }
            r.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent member addition wins");
    app.finish().await;
}

/// Move a member, split a household, record a death: history is kept, nothing overwritten.
async fn move_split_death(backend: Backend) {
    let app = TestApp::new(backend, 80).await;
    let town = app.region_of("zhen_jingban").await;
    let cookie = app.login("zhen_jingban").await;
    let ids: Vec<i64> = doudi_store::sqlx::query_scalar("SELECT id FROM households WHERE town_code = $1 AND status = 'active' AND size >= 3 ORDER BY id LIMIT 2")
        .bind(&town)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    let (src, dst) = (ids[0], ids[1]);
    let member: (i64, String) = doudi_store::sqlx::query_as("SELECT id, name FROM persons WHERE household_id = $1 AND relation <> 'head' AND status = 'alive' ORDER BY id LIMIT 1").bind(src).fetch_one(&app.db.pool).await.unwrap();
    let size_before: i64 =
        doudi_store::sqlx::query_scalar("SELECT size FROM households WHERE id = $1")
            .bind(src)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    // Missing reason → error, nothing moved.
    let (s, html, _) = app
        .post(
            &format!("/persons/{}/move", member.0),
            &cookie,
            &[
                ("target", &dst.to_string()),
                ("relation", "other"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请填写迁移原因"));
    // Every refusal of the form at once: a bad target and no reason.
    let (s, html, _) = app
        .post(
            &format!("/persons/{}/move", member.0),
            &cookie,
            &[("target", "abc"), ("relation", "other"), ("reason", "")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("请填写目标家庭的户编号") && html.contains("请填写迁移原因"),
        "both errors shown together"
    );
    let (s, _, _) = app
        .post(
            &format!("/persons/{}/move", member.0),
            &cookie,
            &[
                ("target", &dst.to_string()),
                ("relation", "other"),
                ("reason", "投靠亲属"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let now_in: i64 =
        doudi_store::sqlx::query_scalar("SELECT household_id FROM persons WHERE id = $1")
            .bind(member.0)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(now_in, dst);
    let history: Vec<(i64, Option<String>)> = doudi_store::sqlx::query_as(
        "SELECT household_id, end_date FROM memberships WHERE person_id = $1 ORDER BY id",
    )
    .bind(member.0)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].0, src);
    assert!(history[0].1.is_some(), "old membership ended, not deleted");
    assert_eq!(history[1], (dst, None));
    let size_after: i64 =
        doudi_store::sqlx::query_scalar("SELECT size FROM households WHERE id = $1")
            .bind(src)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(size_after, size_before - 1);
    let (_, html) = app.get(&format!("/households/{src}"), &cookie).await;
    assert!(
        html.contains(&member.1) && html.contains("投靠亲属"),
        "the source file shows the move in its history"
    );

    // Split: two members of dst leave together as a new household.
    let members: Vec<i64> = doudi_store::sqlx::query_scalar("SELECT id FROM persons WHERE household_id = $1 AND relation <> 'head' AND status = 'alive' ORDER BY id LIMIT 2").bind(dst).fetch_all(&app.db.pool).await.unwrap();
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(dst)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let k0 = format!("m_{}", members[0]);
    let k1 = format!("m_{}", members[1]);
    let (s, _, loc) = app
        .post(
            &format!("/households/{dst}/split"),
            &cookie,
            &[
                ("version", &version.to_string()),
                (&k0, "1"),
                (&k1, "1"),
                ("new_head", &members[0].to_string()),
                ("residence_address", "新地址1号"),
                ("phone", ""),
                ("reason", "结婚分户"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "split accepted");
    let new_id: i64 = loc
        .unwrap()
        .trim_start_matches("/households/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let rel: String = doudi_store::sqlx::query_scalar("SELECT relation FROM persons WHERE id = $1")
        .bind(members[0])
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rel, "head");
    let n: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE household_id = $1")
            .bind(new_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(n, 2);

    // Death: kept in the file as deceased; size drops; membership ended.
    let pid = members[1];
    let v: i64 = doudi_store::sqlx::query_scalar("SELECT version FROM persons WHERE id = $1")
        .bind(pid)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (s, html, _) = app
        .post(
            &format!("/persons/{pid}/death"),
            &cookie,
            &[("version", &v.to_string()), ("date", "2026-01-05")],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "confirmation required before an irreversible step"
    );
    assert!(html.contains("请勾选确认"));
    let (s, _, _) = app
        .post(
            &format!("/persons/{pid}/death"),
            &cookie,
            &[
                ("version", &v.to_string()),
                ("date", "2026-01-05"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let st: (String, Option<String>) =
        doudi_store::sqlx::query_as("SELECT status, death_date FROM persons WHERE id = $1")
            .bind(pid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(st, ("deceased".into(), Some("2026-01-05".into())));
    let size: i64 = doudi_store::sqlx::query_scalar("SELECT size FROM households WHERE id = $1")
        .bind(new_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(size, 1);
    // When a head dies, another member can be made head.
    let head: (i64, i64) = doudi_store::sqlx::query_as(
        "SELECT id, version FROM persons WHERE household_id = $1 AND relation = 'head'",
    )
    .bind(src)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (s, _, _) = app
        .post(
            &format!("/persons/{}/death", head.0),
            &cookie,
            &[
                ("version", &head.1.to_string()),
                ("date", "2026-02-01"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let other: i64 = doudi_store::sqlx::query_scalar(
        "SELECT id FROM persons WHERE household_id = $1 AND status = 'alive' ORDER BY id LIMIT 1",
    )
    .bind(src)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (_, _) = app.get(&format!("/persons/{other}/edit"), &cookie).await;
    let p = doudi_store::sqlx::query_as::<_, (String, String, i64)>(
        "SELECT name, id_number, version FROM persons WHERE id = $1",
    )
    .bind(other)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (s, html, _) = app
        .post(
            &format!("/persons/{other}/edit"),
            &cookie,
            &[
                ("version", &p.2.to_string()),
                ("name", &p.0),
                ("id_number", &p.1),
                ("relation", "head"),
                ("employment", "other"),
                ("schooling", "graduated"),
            ],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::SEE_OTHER,
        "new head accepted after the old head died: {}",
        &html[..html.len().min(400)]
    );
    let writes: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('move_member','split','death')",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(writes >= 5, "moves, split and death audited ({writes})");
    app.finish().await;
}

/// Login throttling, CSRF refusal, logout, the API token and the OpenAPI document.
async fn auth_and_api(backend: Backend) {
    let app = TestApp::new(backend, 30).await;
    for _ in 0..5 {
        let (s, _, _) = app
            .post(
                "/login",
                "",
                &[("username", "cun_xieli"), ("password", "wrong-pass1")],
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, html, _) = app
        .post(
            "/login",
            "",
            &[("username", "cun_xieli"), ("password", support::PASSWORD)],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "locked after 5 failures even with the right password"
    );
    assert!(html.contains("登录失败次数过多"));

    let cookie = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let id = app.household_in(&village).await;
    // A cross-site form post is refused and changes nothing.
    let req = axum::http::Request::post(format!("/households/{id}/items"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(axum::body::Body::from(
            "version=1&op=add_asset&kind=house&amount=1",
        ))
        .unwrap();
    let (s, _, _) = app.request(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let req = axum::http::Request::post("/logout")
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .header("host", "127.0.0.1:8080")
        .body(axum::body::Body::empty())
        .unwrap();
    let (s, _, _) = app.request(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "Origin of another site refused");

    // Pages need a session; the API needs a token.
    let (s, _, _) = app
        .request(
            axum::http::Request::get("/households")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = app
        .api("GET", "/api/v1/households", "not-a-token", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let token = app.token_for("zhen_jingban").await;
    let (s, body) = app
        .api("GET", "/api/v1/households?per_page=5", &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    let town = app.region_of("zhen_jingban").await;
    for item in body["items"].as_array().unwrap() {
        assert!(item["village_code"].as_str().unwrap().starts_with(&town));
    }
    let (s, body) = app
        .api("GET", &format!("/api/v1/households/{id}"), &token, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for m in body["members"].as_array().unwrap() {
        assert!(
            m["id_number"].as_str().unwrap().contains("********"),
            "masked in the API"
        );
    }
    // Create through the API: bad input → 422 with field errors and nothing written.
    let before = app.scalar("SELECT COUNT(*) FROM households").await;
    let bad = serde_json::json!({"household": {"village_code": village, "registration_address": "API 路 1 号"}, "members": [{"name": "接口户主", "id_number": "11010519491231002", "relation": "head", "employment": "other", "schooling": "graduated"}]});
    let (s, body) = app
        .api("POST", "/api/v1/households", &token, Some(bad))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"][0]["field"]
            .as_str()
            .unwrap()
            .contains("id_number")
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM households").await, before);
    // A name is never markup or a spreadsheet formula (issue 10, item 9).
    for name in ["=HYPERLINK(\"x.cn\",\"点我\")", "<script>alert(1)</script>"] {
        let bad = serde_json::json!({"household": {"village_code": village, "registration_address": "API 路 1 号"}, "members": [{"name": name, "id_number": "11010519491231002x", "relation": "head", "employment": "other", "schooling": "graduated"}]});
        let (s, body) = app
            .api("POST", "/api/v1/households", &token, Some(bad))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        let field = &body["fields"][0];
        assert!(field["field"].as_str().unwrap().contains("name"), "{body}");
        assert!(
            field["message"].as_str().unwrap().contains("不能用于姓名")
                || field["message"].as_str().unwrap().contains("应以文字开头"),
            "{body}"
        );
        assert_eq!(app.scalar("SELECT COUNT(*) FROM households").await, before);
    }
    let good = serde_json::json!({"household": {"village_code": village, "registration_address": "API 路 1 号"}, "members": [{"name": "接口户主", "id_number": "11010519491231002x", "relation": "head", "employment": "other", "schooling": "graduated"}]});
    let (s, body) = app
        .api("POST", "/api/v1/households", &token, Some(good))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM households").await,
        before + 1
    );
    // Tokens work only for machine accounts.
    let human = doudi_store::users::by_username(&app.db, "zhen_jingban")
        .await
        .unwrap()
        .unwrap();
    let human_token = doudi_app::accounts::new_secret();
    let mut tx = app.db.begin_write().await.unwrap();
    doudi_store::users::create_token(
        &mut tx,
        human.id,
        "x",
        &doudi_app::accounts::secret_hash(&human_token),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (s, _) = app
        .api("GET", "/api/v1/households", &human_token, None)
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a person's account cannot use the API"
    );
    // After login, only local paths are followed.
    for evil in ["//evil.example", "/\\evil.example", "https://evil.example/"] {
        let (s, _, loc) = app
            .post(
                "/login",
                "",
                &[
                    ("username", "qu_shenpi"),
                    ("password", support::PASSWORD),
                    ("next", evil),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(loc.as_deref(), Some("/"), "next={evil} not followed");
    }
    // The dashboard of every role renders on this backend.
    for user in [
        "admin",
        "qu_shenpi",
        "qu_jiandu",
        "yibao",
        "cishan",
        "zhen_jingban",
        "zhen_shenhe",
        "cun_xieli2",
    ] {
        let c = app.login(user).await;
        let (s, html) = app.get("/", &c).await;
        assert_eq!(s, StatusCode::OK, "{user} dashboard");
        assert!(html.contains("工作台"));
    }
    let (s, _, b) = app
        .request(
            axum::http::Request::get("/api/openapi.json")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&b).unwrap();
    for p in [
        "/api/v1/households",
        "/api/v1/households/{id}",
        "/api/v1/households/{id}/members",
        "/api/v1/persons/{id}",
    ] {
        assert!(doc["paths"][p].is_object(), "OpenAPI documents {p}");
    }
    app.finish().await;
}

/// Excel export: only the actor's households, ID numbers masked.
async fn export_xlsx(backend: Backend) {
    use calamine::Reader;
    let app = TestApp::new(backend, 120).await;
    let cookie = app.login("cun_xieli").await;
    let village = app.region_of("cun_xieli").await;
    let (s, bytes) = app.get_bytes("/households/export.xlsx", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "户编号");
    let expected: i64 = doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM persons p JOIN households h ON h.id = p.household_id WHERE h.village_code = $1 AND h.status = 'active'").bind(&village).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(
        rows.len() as i64 - 1,
        expected,
        "one row per member of the village's households"
    );
    for r in &rows[1..] {
        assert!(r[10].contains("********"), "ID masked: {}", r[10]);
    }
    app.finish().await;
}

on_both_backends!(
    create_search_and_view,
    jurisdiction_isolation,
    concurrent_edits,
    move_split_death,
    auth_and_api,
    export_xlsx
);

async fn duplicate_answers(app: &TestApp, username: &str) -> i64 {
    app.audit_count("duplicate_id", username).await
}

/// Issue 10, item 5: an assistant typing the ID number of a person registered
/// in another street learns that it is registered, not where; each such answer
/// is audited, and after the daily limit registrations are paused without any
/// answer about the numbers typed.
async fn registration_oracle(backend: Backend) {
    let app = TestApp::new(backend, 60).await;
    let xixi = app.region_of("cun_xieli2").await;
    let beishan = app.region_of("cun_xieli").await;
    // A person registered in 北山街道, with their household's head and village.
    let (foreign_id, head, village_name): (String, String, String) = doudi_store::sqlx::query_as(
        "SELECT p.id_number, h.head_name, r.name FROM persons p JOIN households h ON h.id = p.household_id \
         JOIN regions r ON r.code = h.village_code WHERE p.village_code = $1 ORDER BY p.id LIMIT 1",
    )
    .bind(beishan.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let cookie = app.login("cun_xieli2").await;
    let form = |id: &str| {
        vec![
            ("village_code".to_string(), xixi.clone()),
            (
                "registration_address".into(),
                "杭州市西湖区西溪路1号".into(),
            ),
            ("head_name".into(), "查重测试".into()),
            ("head_id_number".into(), id.to_string()),
            ("head_employment".into(), "unemployed".into()),
            ("head_schooling".into(), "graduated".into()),
        ]
    };
    let post = |f: Vec<(String, String)>| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.post("/households/new", &cookie, &pairs).await
        }
    };
    let households = app.scalar("SELECT COUNT(*) FROM households").await;

    let (s, html, _) = post(form(&foreign_id)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("已在本区登记") && html.contains("不在您的辖区"),
        "{html}"
    );
    assert!(
        !html.contains(&village_name),
        "the answer does not say where"
    );
    assert!(!html.contains(&head), "nor whose household");
    assert!(
        html.contains("value=\"查重测试\""),
        "the form keeps what was typed"
    );
    assert_eq!(duplicate_answers(&app, "cun_xieli2").await, 1, "audited");

    // The same through the API (add a member to one of the assistant's households).
    let token = app.token_for("cun_xieli2").await;
    let hid = app.household_in(&xixi).await;
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let (s, body) = app
        .api(
            "POST",
            &format!("/api/v1/households/{hid}/members"),
            &token,
            Some(serde_json::json!({
                "version": version.to_string(), "name": "查重成员", "id_number": foreign_id,
                "relation": "child", "employment": "other", "schooling": "graduated"
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!body.to_string().contains(&village_name), "{body}");
    assert_eq!(body["fields"][0]["field"], "id_number", "{body}");

    // One request cannot ask more than the answers left: the API account has
    // used 1 of 20, a household of 20 members registered elsewhere is
    // refused before any number is looked up.
    let foreign_ids: Vec<String> = doudi_store::sqlx::query_scalar(
        "SELECT id_number FROM persons WHERE village_code NOT LIKE $1 ORDER BY id LIMIT 20",
    )
    .bind(format!("{}%", &xixi[..9]))
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(foreign_ids.len(), 20);
    let members: Vec<serde_json::Value> = foreign_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({"name": "查重成员", "id_number": id,
                "relation": if i == 0 { "head" } else { "child" },
                "employment": "other", "schooling": "graduated"})
        })
        .collect();
    let (s, body) = app
        .api(
            "POST",
            "/api/v1/households",
            &token,
            Some(serde_json::json!({
                "household": {"village_code": xixi, "registration_address": "西溪路9号"},
                "members": members
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("暂停"), "{body}");
    assert!(!body.to_string().contains("已在本区登记"), "{body}");
    let api_answers: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'duplicate_id' AND username LIKE 'api_cun_xieli2_%'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(api_answers, 1, "no answer given past what was left");

    // Up to the limit the answers keep coming, each audited (counted per
    // account: the API account above has its own count) …
    let limit = doudi_app::households::FOREIGN_DUPLICATE_LIMIT;
    for _ in 1..limit {
        post(form(&foreign_id)).await;
    }
    assert_eq!(duplicate_answers(&app, "cun_xieli2").await, limit);
    // … then, past the limit, even a number nobody holds is not checked.
    for _ in 0..3 {
        post(form(&foreign_id)).await;
    }
    let fresh = new_id(77);
    let (s, html, _) = post(form(&fresh)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("暂停"), "{html}");
    assert!(
        !html.contains("已在本区登记"),
        "past the limit nothing is said about the number"
    );
    assert_eq!(
        duplicate_answers(&app, "cun_xieli2").await,
        limit,
        "no more answers than the limit"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM households").await,
        households,
        "nothing written"
    );
    let paused: i64 = doudi_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'denied' AND entity = 'duplicate_check' AND username = 'cun_xieli2'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(paused >= 1, "the pause is audited");

    // Inside the jurisdiction the answer may say it is the assistant's own
    // registry, and is not counted.
    let own = app.login("cun_xieli").await;
    let mut f = form(&foreign_id);
    f[0].1 = beishan.clone();
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, html, _) = app.post("/households/new", &own, &pairs).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("已登记在您辖区的另一户中"), "{html}");
    assert_eq!(duplicate_answers(&app, "cun_xieli").await, 0);
    app.finish().await;
}
on_both_backends!(registration_oracle);

/// The audit log as people read it (issue 11, defect 4): a change shows its
/// fields labelled, money in yuan, codes by name, the person by name and
/// post, the household by head and village; no JSON, no field codes.
async fn audit_log_reads_as_text(backend: Backend) {
    let app = TestApp::new(backend, 10).await;
    let village = app.region_of("cun_xieli").await;
    let id = app.household_in(&village).await;
    let (head, village_name): (String, String) = doudi_store::sqlx::query_as(
        "SELECT h.head_name, r.name FROM households h JOIN regions r ON r.code = h.village_code WHERE h.id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let version: i64 =
        doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let assistant = app.login("cun_xieli").await;
    let (s, body, _) = app
        .post(
            &format!("/households/{id}/items"),
            &assistant,
            &[
                ("version", &version.to_string()),
                ("op", "add_asset"),
                ("kind", "house"),
                ("description", "自建房两层"),
                ("amount", "52000"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let supervisor = app.login("qu_jiandu").await;
    let (s, page) = app
        .get(&format!("/audit?household={id}"), &supervisor)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("价值：52,000.00 元"), "{page}");
    assert!(page.contains("类型：房产"), "{page}");
    assert!(page.contains("说明：自建房两层"), "{page}");
    assert!(page.contains("张协理员"), "the person by name: {page}");
    assert!(
        page.contains(&format!("{head}户（{village_name}）")),
        "the household by head and village"
    );
    for code in [
        "value_fen",
        "&#34;kind&#34;",
        "\"kind\"",
        "{&#34;",
        "add_asset",
        "cun_xieli<",
    ] {
        assert!(!page.contains(code), "{code} shown: {page}");
    }
    app.finish().await;
}

on_both_backends!(audit_log_reads_as_text);

/// Categories that carry benefits change only by decision (issue 11,
/// defect 6): the village cannot add or end 低保 by hand; the district
/// approver corrects an entry only with a reason, audited; other categories
/// stay the village's to record.
async fn benefit_categories_by_decision_only(backend: Backend) {
    let app = TestApp::new(backend, 20).await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let assistant = app.login("cun_xieli").await;
    let version = |app: &TestApp| {
        let pool = app.db.pool.clone();
        async move {
            let v: i64 =
                doudi_store::sqlx::query_scalar("SELECT version FROM households WHERE id = $1")
                    .bind(hid)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            v.to_string()
        }
    };
    let count = |app: &TestApp, cat: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            let n: i64 = doudi_store::sqlx::query_scalar(
                "SELECT COUNT(*) FROM household_categories WHERE household_id = $1 AND category = $2",
            )
            .bind(hid)
            .bind(cat)
            .fetch_one(&pool)
            .await
            .unwrap();
            n
        }
    };
    let today = doudi_store::today_cn().to_string();
    let dibao = count(&app, "dibao").await;
    let monitor = count(&app, "monitor").await;
    let (_, file) = app.get(&format!("/households/{hid}"), &assistant).await;
    assert!(
        !file.contains("<option value=\"dibao\">"),
        "the form does not offer 低保"
    );
    let v = version(&app).await;
    let (s, html, _) = app
        .post(
            &format!("/households/{hid}/items"),
            &assistant,
            &[
                ("version", v.as_str()),
                ("op", "add_category"),
                ("kind", "dibao"),
                ("date", today.as_str()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("随审批决定登记"), "{html}");
    assert_eq!(count(&app, "dibao").await, dibao);
    // A monitoring label is the village's to record.
    let (s, _, _) = app
        .post(
            &format!("/households/{hid}/items"),
            &assistant,
            &[
                ("version", v.as_str()),
                ("op", "add_category"),
                ("kind", "monitor"),
                ("date", today.as_str()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "monitor").await, monitor + 1);

    // The district approver corrects, with a reason only.
    let district = app.login("qu_shenpi").await;
    let v = version(&app).await;
    let (s, html, _) = app
        .post(
            &format!("/households/{hid}/items"),
            &district,
            &[
                ("version", v.as_str()),
                ("op", "add_category"),
                ("kind", "dibao"),
                ("date", today.as_str()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("须写明理由"), "{html}");
    assert_eq!(count(&app, "dibao").await, dibao);
    let (s, _, _) = app
        .post(
            &format!("/households/{hid}/items"),
            &district,
            &[
                ("version", v.as_str()),
                ("op", "add_category"),
                ("kind", "dibao"),
                ("date", today.as_str()),
                ("reason", "补录 2026 年第 12 号审批决定"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "dibao").await, dibao + 1);
    assert_eq!(app.audit_count("category_correction", "qu_shenpi").await, 1);
    // …and the village still cannot end it.
    let line: i64 = doudi_store::sqlx::query_scalar(
        "SELECT MAX(id) FROM household_categories WHERE household_id = $1 AND category = 'dibao'",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let v = version(&app).await;
    let line = line.to_string();
    let (s, _, _) = app
        .post(
            &format!("/households/{hid}/items"),
            &assistant,
            &[
                ("version", v.as_str()),
                ("op", "end_category"),
                ("item_id", line.as_str()),
                ("date", today.as_str()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let ended: Option<String> =
        doudi_store::sqlx::query_scalar("SELECT end_date FROM household_categories WHERE id = $1")
            .bind(line.parse::<i64>().unwrap())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(ended, None);
    app.finish().await;
}

on_both_backends!(benefit_categories_by_decision_only);
