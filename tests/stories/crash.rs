//! The crash test (issue 10, item 3): the real `doudi serve` binary on a
//! temporary SQLite file, killed with SIGKILL in the middle of an import and
//! a sweep, then started again. The jobs are marked interrupted and shown as
//! 已中断; nothing is half-written: every household of the import is stored
//! whole or not at all and the job's counters equal what is stored ("all or
//! nothing" mode stores nothing); the sweep's counters equal its stored
//! warnings; the daily sweep runs again and raises the rest. Bounded: a demo
//! district of a few thousand households and imports of a few thousand rows.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doudi_domain::household::HouseholdRecord;
use doudi_store::Db;
use doudi_store::sqlx;

const HOUSEHOLDS: usize = 14_000;
const IMPORT_ROWS: usize = 30_000;

/// A `doudi serve` child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    fn start(url: &str, dir: &std::path::Path, n: usize) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.join(format!("serve-{n}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_doudi"))
            .args(["serve", "--listen", &listen])
            .env("DOUDI_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start doudi serve");
        let server = Server {
            child,
            base: format!("http://{listen}"),
            log,
        };
        let agent = agent();
        wait_until("the server answers", Duration::from_secs(60), || {
            agent
                .get(&format!("{}/healthz", server.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        server
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Signs in through the form; returns the session cookie.
fn login(base: &str, user: &str) -> String {
    let resp = agent()
        .post(&format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Sec-Fetch-Site", "same-origin")
        .send(format!(
            "username={user}&password={}&next=/",
            doudi::setup::DEMO_PASSWORD
        ))
        .unwrap();
    assert_eq!(resp.status(), 303, "login of {user}");
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

fn get(base: &str, path: &str, cookie: &str) -> String {
    let mut resp = agent()
        .get(&format!("{base}{path}"))
        .header("Cookie", cookie)
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.body_mut().read_to_string().unwrap()
}

/// Posts a form or a multipart body; returns the status and `Location`.
fn post(base: &str, path: &str, cookie: &str, ct: &str, body: Vec<u8>) -> (u16, String) {
    let resp = agent()
        .post(&format!("{base}{path}"))
        .header("Cookie", cookie)
        .header("Content-Type", ct)
        .header("Sec-Fetch-Site", "same-origin")
        .send(&body[..])
        .unwrap();
    let loc = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status().as_u16(), loc)
}

fn upload(base: &str, cookie: &str, csv: &[u8], mode: &str) -> i64 {
    let b = "----doudiCrashBoundary";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\n{mode}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"crash.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend(format!("\r\n--{b}--\r\n").as_bytes());
    let (s, loc) = post(
        base,
        "/imports",
        cookie,
        &format!("multipart/form-data; boundary={b}"),
        body,
    );
    assert_eq!(s, 303, "upload accepted");
    loc.trim_start_matches("/imports/").parse().unwrap()
}

/// Generated households to import, none of whose members is already
/// registered (nor in `taken`), so no row is refused for that.
fn households(seed: u64, taken: &mut HashSet<String>) -> Vec<HouseholdRecord> {
    doudi::bench::import_records(IMPORT_ROWS, seed)
        .into_iter()
        .filter(|r| {
            let ids: Vec<String> = r
                .members
                .iter()
                .map(|m| m.id_number.as_str().to_string())
                .collect();
            let unique: HashSet<&String> = ids.iter().collect();
            if unique.len() != ids.len() || ids.iter().any(|i| taken.contains(i)) {
                return false;
            }
            taken.extend(ids);
            true
        })
        .collect()
}

/// For each generated household: the household holding its members, if
/// stored — and that it is stored whole (all members, nobody else) or not
/// at all. Returns (households stored, members stored).
async fn stored_whole(db: &Db, records: &[HouseholdRecord]) -> (i64, i64) {
    let persons: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT id_number, household_id FROM persons")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let sizes: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT household_id, COUNT(*) FROM persons GROUP BY household_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let (mut households, mut members) = (0, 0);
    for r in records {
        let homes: Vec<Option<i64>> = r
            .members
            .iter()
            .map(|m| persons.get(m.id_number.as_str()).copied())
            .collect();
        if homes.iter().all(Option::is_none) {
            continue;
        }
        let home = homes[0].expect("half a household stored: the head is missing");
        assert!(
            homes.iter().all(|h| *h == Some(home)),
            "half a household stored: members missing or split"
        );
        assert_eq!(
            sizes[&home],
            r.members.len() as i64,
            "household {home} stored with other members"
        );
        households += 1;
        members += r.members.len() as i64;
    }
    (households, members)
}

async fn one(db: &Db, sql: &'static str, id: i64) -> (String, i64, i64, i64) {
    sqlx::query_as(sql)
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[test]
fn killed_jobs_are_interrupted_and_nothing_is_half_written() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!(
        "doudi-crash-{}-{}",
        std::process::id(),
        crate::support::rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("doudi.db").display());
    let today = doudi_store::today_cn();

    // The demo district (seed 1, the villages of the generated import files),
    // a month of department feeds, and a sweep marked done today so that the
    // server's daily sweep waits and the test starts the sweep itself.
    let (db, mut taken) = rt.block_on(async {
        let db = Db::connect(&url, None).await.unwrap();
        doudi::setup::demo(&db, 1, HOUSEHOLDS, today, &|_| {})
            .await
            .unwrap();
        doudi::setup::demo_feeds(&db, 1, today).await.unwrap();
        sqlx::query("INSERT INTO sweeps (started_by, started_at, finished_at, status) VALUES ('test', $1, $2, 'done')")
            .bind(doudi_store::now_ts())
            .bind(doudi_store::now_ts())
            .execute(db.writer())
            .await
            .unwrap();
        let taken: HashSet<String> = sqlx::query_scalar("SELECT id_number FROM persons")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
        (db, taken)
    });
    let first = households(7, &mut taken);
    let second = households(8, &mut taken);

    // Round 1: a sweep and an "accepted only" import, killed mid-way.
    let server = Server::start(&url, &dir, 1);
    let importer = login(&server.base, "qu_shenpi");
    let admin = login(&server.base, "admin");
    let job = upload(
        &server.base,
        &importer,
        &doudi::bench::records_csv(&first),
        "accepted",
    );
    let import_row = "SELECT status, accepted_rows, households_created, total_rows FROM import_jobs WHERE id = $1";
    // The file is read (its rows counted): the sweep starts while it is checked
    // and written.
    wait_until(
        "the import to read its file",
        Duration::from_secs(120),
        || rt.block_on(one(&db, import_row, job)).3 > 0,
    );
    let (s, loc) = post(
        &server.base,
        "/sweeps",
        &admin,
        "application/x-www-form-urlencoded",
        Vec::new(),
    );
    assert_eq!(s, 303, "sweep started");
    let sweep: i64 = loc.trim_start_matches("/sweeps/").parse().unwrap();
    let sweep_row = "SELECT status, households, raised, total FROM sweeps WHERE id = $1";
    wait_until("a batch of each", Duration::from_secs(120), || {
        rt.block_on(one(&db, sweep_row, sweep)).1 > 0
            && rt.block_on(one(&db, import_row, job)).2 > 0
    });
    let (st, households_done, _, total) = rt.block_on(one(&db, sweep_row, sweep));
    assert_eq!(st, "running");
    assert!(households_done < total, "killed mid-way through the sweep");
    let (st, _, created, _) = rt.block_on(one(&db, import_row, job));
    assert_eq!(st, "running", "the import is still running");
    assert!(
        (created as usize) < first.len(),
        "killed mid-way through the import"
    );
    server.kill();

    // While it is down: make the fake sweep yesterday's, so that the daily
    // sweep runs again after the restart.
    rt.block_on(async {
        sqlx::query(
            "UPDATE sweeps SET started_at = '2000-01-01T00:00:00.000Z' WHERE started_by = 'test'",
        )
        .execute(db.writer())
        .await
        .unwrap();
    });

    let server = Server::start(&url, &dir, 2);
    assert!(
        server.output().contains("已标记为“已中断”"),
        "the start-up says what it marked: {}",
        server.output()
    );
    let (st, accepted, created, total_rows) = rt.block_on(one(&db, import_row, job));
    assert_eq!(st, "interrupted");
    let (households_stored, members_stored) = rt.block_on(stored_whole(&db, &first));
    assert_eq!(
        (created, accepted),
        (households_stored, members_stored),
        "import counters equal what is stored"
    );
    assert!(created > 0 && (created as usize) < first.len());
    assert_eq!(
        total_rows as usize,
        first.iter().map(|r| r.members.len()).sum::<usize>()
    );
    let (st, swept, raised, total) = rt.block_on(one(&db, sweep_row, sweep));
    assert_eq!(st, "interrupted");
    assert!(swept > 0 && swept < total);
    let stored: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM warnings WHERE sweep_id = $1")
            .bind(sweep)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    });
    assert_eq!(raised, stored, "sweep counter equals its stored warnings");
    assert!(raised > 0, "the first batch raised warnings");
    let page = get(&server.base, &format!("/imports/{job}"), &importer);
    assert!(page.contains("已中断"), "import page shows 已中断");
    let page = get(&server.base, &format!("/sweeps/{sweep}"), &admin);
    assert!(page.contains("已中断") && page.contains("重新排查"));

    // The daily sweep runs again and raises the rest, nothing twice.
    let rerun_row =
        "SELECT status, already_open, raised, id FROM sweeps WHERE id > $1 ORDER BY id LIMIT 1";
    wait_until("the daily sweep", Duration::from_secs(180), || {
        rt.block_on(async {
            sqlx::query_as::<_, (String, i64, i64, i64)>(rerun_row)
                .bind(sweep)
                .fetch_optional(&db.pool)
                .await
                .unwrap()
                .is_some_and(|r| r.0 != "running")
        })
    });
    let (st, already_open, raised_again, rerun) = rt.block_on(one(&db, rerun_row, sweep));
    assert_eq!(st, "done");
    assert_eq!(
        already_open, raised,
        "the interrupted sweep's warnings are not raised twice"
    );
    let all: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM warnings")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    });
    assert_eq!(all, raised + raised_again, "rerun #{rerun}");

    // Round 2: an "all or nothing" import killed while it writes.
    let before: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM households")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    });
    let job2 = upload(
        &server.base,
        &importer,
        &doudi::bench::records_csv(&second),
        "all",
    );
    wait_until(
        "the import to be a third written",
        Duration::from_secs(120),
        || {
            let page = get(&server.base, &format!("/imports/{job2}"), &importer);
            page.split("<p>")
                .find_map(|p| {
                    let (done, rest) = p.split_once(" / ")?;
                    let total = rest.split_once(" 行")?.0;
                    Some((
                        done.trim().parse::<usize>().ok()?,
                        total.parse::<usize>().ok()?,
                    ))
                })
                .is_some_and(|(done, total)| total > 0 && done * 3 >= total && done < total)
        },
    );
    server.kill();
    let server = Server::start(&url, &dir, 3);
    let (st, accepted, created, _) = rt.block_on(one(&db, import_row, job2));
    assert_eq!(st, "interrupted");
    assert_eq!((accepted, created), (0, 0));
    assert_eq!(
        rt.block_on(stored_whole(&db, &second)),
        (0, 0),
        "nothing stored"
    );
    let after: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM households")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    });
    assert_eq!(after, before, "all or nothing: nothing");
    let page = get(&server.base, &format!("/imports/{job2}"), &importer);
    assert!(page.contains("已中断") && page.contains("本次没有写入任何家庭"));
    server.kill();
    rt.block_on(db.pool.close());
    let _ = std::fs::remove_dir_all(&dir);
}
