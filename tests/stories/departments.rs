//! Departments on both databases (issue 11, defects 1 and 5): the
//! administrator keeps the list; accounts, department items and referrals
//! choose from it; a department item reaches the liaison of exactly that
//! department, who takes its step; a department sends only its own feeds,
//! and a batch whose rows were all refused does not count as a delivery.

use crate::support;

use axum::http::StatusCode;
use support::{Backend, TestApp, apply};

async fn step_of(app: &TestApp, id: i64) -> (Option<String>, Option<String>, i64) {
    doudi_store::sqlx::query_as("SELECT step, outcome, version FROM case_items WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn department_items_reach_their_department(backend: Backend) {
    let app = TestApp::new(backend, 30).await;
    let admin = app.login("admin").await;
    let county = app.region_of("yibao").await;

    // An account's department is chosen from the list: a typed name that is
    // not on it is refused, and the form keeps what was typed.
    let account = |dept: &'static str| {
        vec![
            ("username", "renshe"),
            ("display_name", "孙经办（区人社局）"),
            ("role", "dept_liaison"),
            ("region_code", county.as_str()),
            ("department", dept),
            ("password", "Renshe-Liaison-2026"),
        ]
    };
    let (s, html, _) = app
        .post("/admin/users/new", &admin, &account("人社局"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请从列表中选择部门或机构"), "{html}");
    assert!(
        html.contains("孙经办（区人社局）"),
        "typed name kept: {html}"
    );
    assert!(
        html.contains("<option selected>区医疗保障局</option>") || html.contains("区医疗保障局")
    );
    let (s, html, _) = app
        .post(
            "/admin/users/new",
            &admin,
            &account("区人力资源和社会保障局"),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    // The fixture signs everyone in with the demo password.
    doudi_store::sqlx::query("UPDATE users SET password_hash = $1 WHERE username = 'renshe'")
        .bind(doudi_app::accounts::hash_password(support::PASSWORD))
        .execute(app.db.writer())
        .await
        .unwrap();

    // A department item typed with a name that is not on the list is refused.
    let worker = app.login("zhen_jingban").await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let intake = |dept: &'static str| {
        vec![
            ("channel", "window"),
            ("proxy_name", "邻居王某"),
            ("situation", "住房困难，申请公租房"),
            ("kind_dept_item", "1"),
            ("department", dept),
        ]
    };
    let items = app.scalar("SELECT COUNT(*) FROM case_items").await;
    let (s, html, _) = apply(&app, &worker, hid, &intake("医保局"), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("请从列表中选择部门或机构"), "{html}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM case_items").await, items);
    // The form offers the list.
    let (_, form) = app.get(&format!("/households/{hid}/apply"), &worker).await;
    assert!(form.contains("<option>区医疗保障局</option>"), "{form}");

    let (s, html, loc) = apply(&app, &worker, hid, &intake("区医疗保障局"), None).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let id = support::item_of_application(&app, &loc.unwrap()).await;
    let v = step_of(&app, id).await.2.to_string();
    let (s, html, _) = app
        .post(
            &format!("/items/{id}/act"),
            &worker,
            &[
                ("version", v.as_str()),
                ("action", "complete"),
                ("signatures", "李经办"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(step_of(&app, id).await.0.as_deref(), Some("dept_handle"));

    // The 医保 liaison finds it in the inbox and may open it; the 人社
    // liaison may not (refused and audited) and does not see it.
    let yibao = app.login("yibao").await;
    let (_, inbox) = app.get("/inbox", &yibao).await;
    assert!(inbox.contains(&format!("/items/{id}")), "{inbox}");
    let (s, page) = app.get(&format!("/items/{id}"), &yibao).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(
        page.contains("部门办理") && page.contains("id=\"act-form\""),
        "{page}"
    );
    assert!(
        !page.contains("发送转介"),
        "a department does not refer onwards: {page}"
    );

    let renshe = app.login("renshe").await;
    let (_, inbox) = app.get("/inbox", &renshe).await;
    assert!(!inbox.contains(&format!("/items/{id}")), "{inbox}");
    let denied = app.audit_count("denied", "renshe").await;
    let (s, _) = app.get(&format!("/items/{id}"), &renshe).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let v = step_of(&app, id).await.2.to_string();
    let (s, _, _) = app
        .post(
            &format!("/items/{id}/act"),
            &renshe,
            &[
                ("version", v.as_str()),
                ("action", "accept"),
                ("signatures", "孙经办"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("denied", "renshe").await, denied + 2);
    assert_eq!(step_of(&app, id).await.0.as_deref(), Some("dept_handle"));

    // A refused step keeps what was typed; the department's step then lands
    // and says so.
    let (s, html, _) = app
        .post(
            &format!("/items/{id}/act"),
            &yibao,
            &[
                ("version", v.as_str()),
                ("action", "reject"),
                ("signatures", "刘经办"),
            ],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "rejecting needs a reason: {html}"
    );
    assert!(html.contains("value=\"刘经办\""), "signatures kept: {html}");
    let (s, _, loc) = app
        .post(
            &format!("/items/{id}/act"),
            &yibao,
            &[
                ("version", v.as_str()),
                ("action", "accept"),
                ("signatures", "刘经办"),
                ("opinion", "已受理医疗救助"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &yibao).await;
    assert!(page.contains("已办理并签署"), "{page}");
    assert_eq!(step_of(&app, id).await.1.as_deref(), Some("referred"));

    // Referrals go to a listed department only.
    let temp = support::temp_expense_item(&app, &worker, hid).await;
    let referral = |to: &'static str| {
        vec![
            ("to_name", to),
            ("facts", "住院自付 4 万元，申请医疗救助"),
            ("consent", "1"),
            ("consent_by", "户主本人"),
        ]
    };
    let (s, html, _) = app
        .post(
            &format!("/items/{temp}/refer"),
            &worker,
            &referral("医保局"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请从列表中选择部门或机构"), "{html}");
    assert!(
        html.contains("住院自付 4 万元，申请医疗救助</textarea>"),
        "facts kept: {html}"
    );
    assert!(html.contains("value=\"户主本人\""), "consent kept: {html}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM referrals").await, 0);
    let (s, _, loc) = app
        .post(
            &format!("/items/{temp}/refer"),
            &worker,
            &referral("区慈善总会"),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &worker).await;
    assert!(page.contains("转介已发送"), "{page}");
    assert!(
        page.contains("id=\"referrals\"") && page.contains(">区慈善总会</a>"),
        "the item lists its referral: {page}"
    );
    let kind: String = doudi_store::sqlx::query_scalar("SELECT to_kind FROM referrals")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        kind, "charity",
        "the kind comes from the list, not the name"
    );
    // The receiver can reach the household and the sender; reading it is audited.
    let rid: i64 = app.scalar("SELECT MAX(id) FROM referrals").await;
    let charity = app.login("cishan").await;
    let views = app.audit_count("view", "cishan").await;
    let (s, page) = app.get(&format!("/referrals/{rid}"), &charity).await;
    assert_eq!(s, StatusCode::OK);
    let sender = page.split("id=\"sender\">").nth(1).unwrap_or("");
    assert!(
        sender.starts_with("李经办") && sender.contains("电话 1390571"),
        "{page}"
    );
    assert!(page.contains("id=\"household-phone\">"), "{page}");
    assert_eq!(app.audit_count("view", "cishan").await, views + 1);
    // Once answered, the household's contact is no longer shown to it.
    for op in [
        vec![("op", "accept")],
        vec![
            ("op", "complete"),
            ("outcome", "已资助 3000 元"),
            ("amount", "3000"),
        ],
    ] {
        let (s, html, _) = app
            .post(&format!("/referrals/{rid}/act"), &charity, &op)
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    }
    let (_, page) = app.get(&format!("/referrals/{rid}"), &charity).await;
    assert!(!page.contains("id=\"household-phone\""), "{page}");
    app.finish().await;
}

async fn departments_managed_by_the_administrator(backend: Backend) {
    let app = TestApp::new(backend, 10).await;
    let admin = app.login("admin").await;
    let (s, page) = app.get("/admin/departments", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("区医疗保障局") && page.contains("医保医疗费用自付"),
        "{page}"
    );
    // A department runs the catalogue's policies of its code.
    assert!(page.contains("医疗救助"), "{page}");

    let before = app.scalar("SELECT COUNT(*) FROM departments").await;
    let (s, html, _) = app
        .post(
            "/admin/departments",
            &admin,
            &[
                ("code", "tyj"),
                ("name", "区退役军人事务局"),
                ("phone", "热线"),
                ("feed", "medical"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("请填写联系电话"), "{html}");
    assert!(
        html.contains("value=\"区退役军人事务局\""),
        "typed name kept: {html}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM departments").await, before);
    let (s, _, loc) = app
        .post(
            "/admin/departments",
            &admin,
            &[
                ("code", "tyj"),
                ("name", "区退役军人事务局"),
                ("phone", "0571-87011099"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = app.get(&loc.unwrap(), &admin).await;
    assert!(
        page.contains("已新增部门") && page.contains("区退役军人事务局"),
        "{page}"
    );
    // The same name twice: refused.
    let (s, html, _) = app
        .post(
            "/admin/departments",
            &admin,
            &[
                ("code", "tyj2"),
                ("name", "区退役军人事务局"),
                ("phone", "0571-87011099"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("已有同名"), "{html}");
    assert!(app.audit_count("admin", "admin").await >= 1);

    // Not the administrator: refused and audited.
    let worker = app.login("zhen_jingban").await;
    let denied = app.audit_count("denied", "zhen_jingban").await;
    let (s, _) = app.get("/admin/departments", &worker).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("denied", "zhen_jingban").await, denied + 1);
    app.finish().await;
}

async fn feeds_only_from_their_department(backend: Backend) {
    let app = TestApp::new(backend, 20).await;
    let yibao = app.login("yibao").await;
    // The upload form offers the department's own feeds only.
    let (_, page) = app.get("/feeds", &yibao).await;
    assert!(page.contains("<option value=\"medical\">"), "{page}");
    assert!(!page.contains("<option value=\"death\">"), "{page}");
    // 公安 death records from the 医保 liaison: refused, audited, nothing stored.
    let denied = app.audit_count("denied", "yibao").await;
    let csv = "身份证号,姓名,死亡日期,记录编号\n110105194912310021,张三,2026-11-01,SW001\n";
    let (s, html, _) =
        crate::monitoring::upload(&app, &yibao, "death", "death.csv", csv.as_bytes()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("本部门不报送"), "{html}");
    assert_eq!(app.audit_count("denied", "yibao").await, denied + 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM feed_batches").await, 0);
    let token = app.token_for("yibao").await;
    let (s, v) = app
        .api(
            "POST",
            "/api/v1/feeds/death",
            &token,
            Some(serde_json::json!([])),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // A batch whose rows were all refused delivered nothing: the dashboard
    // still says the feed was never delivered.
    let bad = "身份证号,姓名,结算单号,结算日期,医疗总费用,目录内自付金额,自付总额,医疗机构\n123,张三,JS1,2026-11-01,1,1,1,某医院\n";
    let (s, html, _) =
        crate::monitoring::upload(&app, &yibao, "medical", "bad.csv", bad.as_bytes()).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM feed_batches").await, 1);
    let district = app.login("qu_shenpi").await;
    let (_, dash) = app.get("/monitoring", &district).await;
    let row = dash
        .split("<tr>")
        .find(|r| r.contains("<td>医保医疗费用自付</td>"))
        .expect("medical feed row");
    assert!(row.contains("从未报送"), "{row}");
    app.finish().await;
}

on_both_backends!(
    department_items_reach_their_department,
    departments_managed_by_the_administrator,
    feeds_only_from_their_department
);
