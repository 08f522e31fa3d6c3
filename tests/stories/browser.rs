//! Browser test in headless Chromium (Debian's chromium + chromium-driver, installed by
//! scripts/install-test-deps.sh): log in, search, open a household file, submit a form
//! with an error, fix it.

use crate::support;
use crate::webdriver;

use std::time::Duration;

use chrono::NaiveDate;
use doudi_domain::IdNumber;
use support::{Backend, TestApp};
use webdriver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_search_open_and_fix_a_form() {
    let app = TestApp::new(Backend::Sqlite, 200).await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let head: String =
        doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doudi_web::router(app.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let good_id = IdNumber::from_parts("110105", NaiveDate::from_ymd_opt(2001, 8, 8).unwrap(), 24)
        .unwrap()
        .as_str()
        .to_string();
    let mut bad_id = good_id.clone();
    bad_id.replace_range(17..18, if good_id.ends_with('1') { "2" } else { "1" });
    let shots = std::env::var("DOUDI_SCREENSHOTS").ok();

    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let b = Browser::start()?;
        let wait = Duration::from_secs(10);
        b.goto(&format!("{base}/households"))?;
        // Not signed in: sent to the login form.
        b.wait_for("#username", wait)?;
        b.find("#username")?.send_keys("cun_xieli")?;
        b.find("#password")?.send_keys(support::PASSWORD)?;
        b.find("button[type=submit]")?.click()?;
        b.wait_for("form[role=search]", wait)?;
        assert!(
            b.current_url()?.ends_with("/households"),
            "returned to the page asked for"
        );

        // Search by the head's name and open the file.
        b.find("#q")?.send_keys(&head)?;
        b.find("form[role=search] button[type=submit]")?.click()?;
        // The results page (its address carries the query), not the page
        // the search was typed on, which may link the same household.
        b.wait_until("search results", wait, |b| {
            Ok(b.current_url()?.contains("q=")
                && b.page_source()?.contains(&format!("/households/{hid}\"")))
        })?;
        b.find(&format!("a[href='/households/{hid}']"))?.click()?;
        b.wait_for("h1", wait)?;
        let page = b.page_source()?;
        assert!(
            page.contains("家庭成员") && page.contains(&head),
            "household file shown"
        );
        assert!(page.contains("********"), "ID numbers masked");
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/household-file.png"))?;
        }

        // Add a member with a wrong check character: error summary, linked to the field.
        b.find(&format!("a[href='/households/{hid}/members/new']"))?
            .click()?;
        b.wait_for("#name", wait)?;
        b.find("#name")?.send_keys("浏览器测试")?;
        b.find("#id_number")?.send_keys(&bad_id)?;
        b.find("form.card button[type=submit]")?.click()?;
        let summary = b.wait_for(".error-summary", wait)?;
        let text = summary.text()?;
        assert!(
            text.contains("校验位"),
            "summary explains the check character: {text}"
        );
        let link = summary.find("a")?;
        assert_eq!(link.attr("href")?.as_deref(), Some("#id_number"));
        assert_eq!(
            b.find("#name")?.value()?,
            "浏览器测试",
            "typed values are kept"
        );
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/form-error.png"))?;
        }

        // Fix it and save: back on the file with the new member.
        let field = b.find("#id_number")?;
        field.clear()?;
        field.send_keys(&good_id)?;
        b.find("form.card button[type=submit]")?.click()?;
        b.wait_until("saved", wait, |b| {
            Ok(b.page_source()?.contains("已添加成员"))
        })?;
        let page = b.page_source()?;
        assert!(page.contains("浏览器测试"));
        assert!(!page.contains(&good_id), "full ID not shown after saving");
        Ok(())
    })
    .await
    .unwrap();
    server.abort();
    result.unwrap();
    let n: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE name = '浏览器测试'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        n, 1,
        "exactly one member added (the failed submission wrote nothing)"
    );
    app.finish().await;
}

/// A 救急难互助社 grant clicked through from the application to the public notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_aid_grant_from_application_to_public_notice() {
    let app = TestApp::new(Backend::Sqlite, 120).await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    let head: String =
        doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let masked = doudi_domain::mask::mask_name(&head);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doudi_web::router(app.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let shots = std::env::var("DOUDI_SCREENSHOTS").ok();
    let village2 = village.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        // The village handles its 互助社 steps on a phone.
        let b = Browser::start()?;
        b.set_window_size(390, 844)?;
        let wait = Duration::from_secs(10);
        b.goto(&format!("{base}/login"))?;
        b.wait_for("#username", wait)?.send_keys("cun_xieli")?;
        b.find("#password")?.send_keys(support::PASSWORD)?;
        b.find("button[type=submit]")?.click()?;
        b.wait_for("h1", wait)?;
        b.goto(&format!("{base}/households/{hid}"))?;
        b.wait_for(&format!("a[href='/households/{hid}/apply']"), wait)?
            .click()?;
        b.wait_for("#situation-text", wait)?
            .send_keys("家中突发火灾，衣物被褥全部烧毁")?;
        fits_on_phone(&b, "application form")?;
        b.find("#channel-select")?.select_by_value("discovery")?;
        b.find("input[name=kind_mutual_aid]")?.click()?;
        let applicant = b
            .find("#applicant-select option:nth-child(2)")?
            .attr("value")?
            .unwrap_or_default();
        b.find("#applicant-select")?.select_by_value(&applicant)?;
        b.find("form.card button[type=submit]")?.click()?;
        b.wait_until("application saved", wait, |b| {
            Ok(b.current_url()?.contains("/applications/"))
        })?;
        b.find("a[href^='/items/']")?.click()?;
        // Investigation and opinion, signed.
        b.wait_for("#act-form", wait)?;
        fits_on_phone(&b, "item page")?;
        assert!(
            b.find("#on-input")?.is_displayed()?,
            "the date field is on screen"
        );
        b.find("#action-select")?.select_by_value("complete")?;
        b.find("#signatures")?.send_keys("张协理员")?;
        b.find("#opinion")?
            .send_keys("入户核实属实，建议救助 1500 元")?;
        b.find("#act-form button[type=submit]")?.click()?;
        b.wait_until("payment step", wait, |b| {
            Ok(b.page_source()?.contains("发放或上报服务需求</strong>"))
        })?;
        // Payment with the amount.
        b.find("#action-select")?.select_by_value("complete")?;
        b.find("#amount-input")?.send_keys("1500")?;
        b.find("#act-form button[type=submit]")?.click()?;
        b.wait_until("notice step", wait, |b| {
            Ok(b.page_source()?.contains("公示</strong>"))
        })?;
        // Post the notice.
        b.find("#action-select")?.select_by_value("post")?;
        b.find("#act-form button[type=submit]")?.click()?;
        b.wait_until("notice posted", wait, |b| {
            Ok(b.page_source()?.contains("公示中"))
        })?;
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/item.png"))?;
        }
        // The public page, without logging in.
        b.goto(&format!("{base}/public/notices?village={village2}"))?;
        b.wait_for("table", wait)?;
        let page = b.page_source()?;
        assert!(page.contains(&masked), "masked name posted");
        assert!(page.contains("1,500.00"), "amount posted");
        assert!(page.contains("救急难互助社"));
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/public-notices.png"))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    server.abort();
    result.unwrap();
    let n: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE status = 'active'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
    app.finish().await;
}

/// Capability 6 end to end in the browser: a department liaison uploads a
/// feed file, the district runs the sweep, the village assistant finds the
/// warning in the inbox and closes it with an outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_upload_to_warning_closed_in_the_village_inbox() {
    let app = TestApp::new(Backend::Sqlite, 60).await;
    let village = app.region_of("cun_xieli").await;
    let (id, name, hid): (String, String, i64) = doudi_store::sqlx::query_as(
        "SELECT p.id_number, p.name, p.household_id FROM persons p JOIN households h ON h.id = p.household_id \
         WHERE h.village_code = $1 AND p.status = 'alive' AND h.status = 'active' ORDER BY p.id LIMIT 1",
    )
    .bind(village.clone())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let date = (doudi_store::today_cn() - chrono::Days::new(5)).to_string();
    let csv = format!(
        "身份证号,姓名,结算单号,结算日期,医疗总费用,目录内自付金额,自付总额,医疗机构\n{id},{name},BR001,{date},80000,45000,46000,浙江省人民医院\n"
    );
    let path = std::env::temp_dir().join(format!("doudi-feed-{}.csv", support::rand_suffix()));
    std::fs::write(&path, csv.as_bytes()).unwrap();
    let file = path.display().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doudi_web::router(app.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let shots = std::env::var("DOUDI_SCREENSHOTS").ok();

    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let wait = Duration::from_secs(10);
        let login = |user: &str| -> Result<Browser, String> {
            let b = Browser::start()?;
            b.goto(&format!("{base}/login"))?;
            b.wait_for("#username", wait)?;
            b.find("#username")?.send_keys(user)?;
            b.find("#password")?.send_keys(support::PASSWORD)?;
            b.find("button[type=submit]")?.click()?;
            b.wait_until("signed in", wait, |b| {
                Ok(!b.current_url()?.contains("/login"))
            })?;
            Ok(b)
        };
        // The department liaison uploads the 医保 file.
        let liaison = login("yibao")?;
        liaison.goto(&format!("{base}/feeds"))?;
        liaison
            .wait_for("#kind", wait)?
            .select_by_value("medical")?;
        liaison.find("#file")?.send_keys(&file)?;
        liaison.find("form.card button[type=submit]")?.click()?;
        liaison.wait_for("#batch-summary", wait)?;
        let summary = liaison.find("#accepted")?.text()?;
        assert_eq!(summary, "1", "one record stored");
        if let Some(dir) = &shots {
            liaison.screenshot_png(format!("{dir}/feed-batch.png"))?;
        }
        // The district runs the sweep now (it also runs daily).
        let admin = login("admin")?;
        admin.goto(&format!("{base}/sweeps"))?;
        admin
            .wait_for("form[action='/sweeps'] button", wait)?
            .click()?;
        admin.wait_until("sweep done", wait, |b| {
            Ok(b.page_source()?.contains("完成"))
        })?;
        // The village assistant finds the warning in the inbox and closes it.
        // On a phone, as village assistants work.
        let assistant = login("cun_xieli")?;
        assistant.set_window_size(390, 844)?;
        assistant.goto(&format!("{base}/inbox"))?;
        let link = assistant.wait_for("#inbox-warnings a", wait)?;
        fits_on_phone(&assistant, "inbox with a warning")?;
        link.click()?;
        assistant.wait_for("#close-warning", wait)?;
        fits_on_phone(&assistant, "warning form")?;
        assert!(assistant.page_source()?.contains("大额医疗支出"));
        assistant.find("#method")?.select_by_value("visit")?;
        assistant
            .find("#findings")?
            .send_keys("入户核实：住院手术，自付4.5万元，已告知医疗救助政策")?;
        assistant
            .find("input[name=outcome][value=policy_not_applied]")?
            .click()?;
        assistant.find("#close-warning")?.click()?;
        let outcome = assistant.wait_for("#warning-outcome", wait)?.text()?;
        assert!(outcome.contains("政策未落实"), "{outcome}");
        fits_on_phone(&assistant, "closed warning")?;
        if let Some(dir) = &shots {
            assistant.screenshot_png(format!("{dir}/warning-closed.png"))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    server.abort();
    let _ = std::fs::remove_file(&path);
    result.unwrap();
    let status: String = doudi_store::sqlx::query_scalar(
        "SELECT w.status FROM warnings w JOIN warning_rules r ON r.id = w.rule_id WHERE w.household_id = $1 AND r.code = 'medical_burden'",
    )
    .bind(hid)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(status, "closed");
    app.finish().await;
}

/// A village assistant's day on a 390 px phone (issue 11, defect 11): the
/// inbox, the assessment worklist, assessing a household, recording the
/// visit, searching and opening the file. No page scrolls sideways; the
/// buttons are on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn village_assistants_day_on_a_phone() {
    let app = TestApp::new(Backend::Sqlite, 120).await;
    let village = app.region_of("cun_xieli").await;
    let hid = app.household_in(&village).await;
    doudi_store::sqlx::query(
        "UPDATE households SET categories = 'monitor' WHERE id = $1 AND categories = ''",
    )
    .bind(hid)
    .execute(app.db.writer())
    .await
    .unwrap();
    let head: String =
        doudi_store::sqlx::query_scalar("SELECT head_name FROM households WHERE id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doudi_web::router(app.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let shots = std::env::var("DOUDI_SCREENSHOTS").ok();
    let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let b = Browser::start()?;
        b.set_window_size(390, 844)?;
        let wait = Duration::from_secs(10);
        let fits = fits_on_phone;
        b.goto(&format!("{base}/inbox"))?;
        b.wait_for("#username", wait)?;
        fits(&b, "login")?;
        b.find("#username")?.send_keys("cun_xieli")?;
        b.find("#password")?.send_keys(support::PASSWORD)?;
        b.find("button[type=submit]")?.click()?;
        b.wait_until("inbox", wait, |b| Ok(b.current_url()?.ends_with("/inbox")))?;
        fits(&b, "inbox")?;
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/phone-inbox.png"))?;
        }

        b.goto(&format!("{base}/monitoring/worklist"))?;
        b.wait_for("#assess-list", wait)?;
        fits(&b, "assessment worklist")?;
        b.find(&format!("a[href='/households/{hid}/monitoring#assess']"))?
            .click()?;
        b.wait_for("#family_support", wait)?;
        fits(&b, "household monitoring")?;
        b.find("#family_support")?.select_by_value("weak")?;
        let submit = b.find("#assess button[type=submit]")?;
        assert!(submit.is_displayed()?, "the assess button is on screen");
        submit.click()?;
        b.wait_for("#next-visit", wait)?;
        b.find("#findings")?.send_keys("老人身体尚可，药品充足")?;
        b.find("form[action$='/visits'] button[type=submit]")?
            .click()?;
        b.wait_until("visit recorded", wait, |b| {
            Ok(b.page_source()?.contains("老人身体尚可，药品充足"))
        })?;
        fits(&b, "after the visit")?;
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/phone-visit.png"))?;
        }

        b.goto(&format!("{base}/households"))?;
        b.wait_for("#q", wait)?;
        fits(&b, "household list")?;
        b.find("#q")?.send_keys(&head)?;
        b.find("form[role=search] button[type=submit]")?.click()?;
        b.wait_until("search results", wait, |b| {
            Ok(b.current_url()?.contains("q=")
                && b.page_source()?.contains(&format!("/households/{hid}\"")))
        })?;
        fits(&b, "search results")?;
        b.goto(&format!("{base}/households/{hid}"))?;
        b.wait_for("h1", wait)?;
        fits(&b, "household file")?;
        if let Some(dir) = &shots {
            b.screenshot_png(format!("{dir}/phone-household-file.png"))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    server.abort();
    result.unwrap();
    let visits: i64 =
        doudi_store::sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE household_id = $1")
            .bind(hid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(visits, 1, "the visit was recorded once");
    app.finish().await;
}

/// Asserts that the page fits a phone-sized window: nothing scrolls sideways.
fn fits_on_phone(b: &Browser, what: &str) -> Result<(), String> {
    let v = b.execute(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        vec![],
    )?;
    let (content, width) = (v[0].as_i64().unwrap_or(0), v[1].as_i64().unwrap_or(0));
    assert!(width <= 400, "a phone-sized window ({width})");
    assert!(
        content <= width + 1,
        "{what}: the page is {content} px wide on a {width} px screen"
    );
    Ok(())
}
