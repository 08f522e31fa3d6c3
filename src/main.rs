//! `doudi` — the command line: serve, demo, migrate, import, export, user, sweep, backup,
//! restore, bench.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use doudi::{bench, setup};
use doudi_domain::access::Role;
use doudi_domain::{Coded, RegionCode};
use doudi_store::Db;
use doudi_store::audit::AuditActor;
use doudi_store::households::{Scope, SearchFilter};
use doudi_web::{AppState, Config};

#[derive(Parser)]
#[command(
    name = "doudi",
    version,
    about = "兜底 — 社会救助平台 (social assistance platform)"
)]
struct Cli {
    /// Database: sqlite://FILE (default ./doudi.db) or postgres://user@host/db
    #[arg(
        long,
        global = true,
        env = "DOUDI_DATABASE_URL",
        default_value = "sqlite://doudi.db"
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API.
    Serve {
        #[arg(long, env = "DOUDI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Mark cookies Secure (when served behind HTTPS).
        #[arg(long, env = "DOUDI_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// Create a demo district (西湖区) with accounts and generated households, then serve.
    Demo {
        #[arg(long, env = "DOUDI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value_t = 20_000)]
        households: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Delete an existing SQLite demo file first.
        #[arg(long)]
        reset: bool,
        /// Load only; do not start the server.
        #[arg(long)]
        no_serve: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// Import households from .xlsx/.csv as a user (rows validated; report printed).
    Import {
        file: PathBuf,
        #[arg(long)]
        user: String,
        /// all = nothing is written if any row is rejected; accepted = write the valid households
        #[arg(long, default_value = "all")]
        mode: String,
    },
    /// Export the households a user can see to .xlsx (ID numbers masked).
    Export {
        out: PathBuf,
        #[arg(long)]
        user: String,
        #[arg(long)]
        q: Option<String>,
        #[arg(long)]
        village: Option<String>,
        #[arg(long)]
        category: Option<String>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
    /// Load a year's official holiday arrangement (JSON as in data/holidays/).
    Calendar { file: PathBuf },
    /// Run the warning sweep now (the server also runs it daily). By default
    /// it evaluates only the households changed since the last sweep, when
    /// that gives the same result.
    Sweep {
        /// Evaluate every active household.
        #[arg(long)]
        full: bool,
    },
    /// Back up the whole database into one new SQLite file, while the server runs.
    Backup { file: PathBuf },
    /// Restore a backup into an empty database (either backend). Stop the server first.
    Restore {
        file: PathBuf,
        /// Delete every row of a database that has data first (audit log included).
        #[arg(long)]
        force: bool,
    },
    /// Benchmarks on generated data.
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add an account: --role one of village_assistant, town_caseworker, town_reviewer,
    /// district_approver, dept_liaison, charity, supervisor, admin.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        region: String,
        #[arg(long, env = "DOUDI_NEW_PASSWORD")]
        password: String,
    },
    /// Set a new password.
    Passwd {
        #[arg(long)]
        username: String,
        #[arg(long, env = "DOUDI_NEW_PASSWORD")]
        password: String,
    },
    /// Create an API token for an account and print it once.
    Token {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List accounts.
    List,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Demo generation rate (households/s), in memory and written to the database.
    Generate {
        #[arg(long, default_value_t = 100_000)]
        households: usize,
    },
    /// Import of a generated file through the UI's import path.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
    },
    /// Household search latency p50/p99.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        households: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// Inbox latency with open cases.
    Inbox {
        #[arg(long, default_value_t = 1_000_000)]
        households: usize,
        #[arg(long, default_value_t = 200_000)]
        cases: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
    /// 政策找人: every demo policy over a generated registry.
    Eligibility {
        #[arg(long, default_value_t = 100_000)]
        households: usize,
        /// Skip the calibration (what five households in six miss recorded
        /// as received before the measured run): the registry as generated, where
        /// almost every category holder misses a dozen policies.
        #[arg(long)]
        uncalibrated: bool,
    },
    /// The warning sweep over a generated registry with feed records.
    Sweep {
        #[arg(long, default_value_t = 100_000)]
        households: usize,
        /// Feed records (default: 10 per household).
        #[arg(long)]
        records: Option<usize>,
        /// The old, pessimistic feeds: large medical bills and arrears for
        /// almost everyone, so that nearly every household raises.
        #[arg(long)]
        worst_case: bool,
    },
    /// Mixed office load over HTTP on loopback: searches, file views and visits.
    Load {
        #[arg(long, default_value_t = 20_000)]
        households: usize,
        #[arg(long, default_value_t = 50)]
        staff: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Share of requests that record a visit, in percent.
        #[arg(long, default_value_t = 10)]
        write_pct: u32,
    },
    /// All of the above with the figures the foundation issue asks for.
    All {
        #[arg(long, default_value_t = 1_000_000)]
        households: usize,
    },
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=error".into()),
        )
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("错误 / error: {e}");
        std::process::exit(1);
    }
}

async fn open(url: &str) -> AnyResult<Db> {
    let db = Db::connect(url, None).await?;
    db.migrate().await?;
    Ok(db)
}

/// Marks the jobs left running by a process that died as interrupted (the
/// server calls this before it serves, and every minute while it runs).
async fn recover(db: &Db) -> AnyResult<()> {
    for i in doudi_app::jobs::recover_interrupted(db).await? {
        println!(
            "{} #{} 在上次运行时中断，已标记为“已中断”。",
            i.kind.label(),
            i.id
        );
    }
    Ok(())
}

async fn actor_scope(db: &Db, username: &str) -> AnyResult<(AuditActor, Scope)> {
    let u = doudi_store::users::by_username(db, username)
        .await?
        .ok_or_else(|| format!("没有用户 {username}"))?;
    let role = Role::from_code(&u.role).ok_or("unknown role")?;
    if !doudi_domain::access::may(role, doudi_domain::access::Action::ViewHousehold) {
        return Err(format!("用户 {username} 的角色（{}）不能访问家庭档案", role.label()).into());
    }
    let scope = Scope(RegionCode::parse(&u.region_code)?);
    Ok((
        AuditActor {
            user_id: Some(u.id),
            username: u.username,
            role: u.role,
        },
        scope,
    ))
}

async fn run(cli: Cli) -> AnyResult<()> {
    match cli.command {
        Command::Serve {
            listen,
            secure_cookies,
        } => {
            let db = open(&cli.database_url).await?;
            recover(&db).await?;
            println!("doudi 已启动：http://{listen}/");
            let state = AppState::new(
                db,
                Config {
                    secure_cookies,
                    ..Default::default()
                },
            );
            doudi_web::serve(state, &listen).await?;
        }
        Command::Demo {
            listen,
            households,
            seed,
            reset,
            no_serve,
        } => {
            if reset {
                if let Some(path) = cli.database_url.strip_prefix("sqlite://") {
                    let path = path.split('?').next().unwrap_or(path);
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{path}{suffix}"));
                    }
                }
            }
            let db = open(&cli.database_url).await?;
            recover(&db).await?;
            if db.has_data().await? {
                println!("数据库中已有数据，直接启动（如需重建演示数据，请加 --reset）。");
            } else {
                println!("正在生成演示数据：西湖区，{households} 户……");
                let t = std::time::Instant::now();
                let accounts =
                    setup::demo(&db, seed, households, doudi_store::today_cn(), &|done| {
                        if done % 10_000 == 0 {
                            eprintln!("  已生成 {done} 户");
                        }
                    })
                    .await?;
                let feeds = setup::demo_feeds(&db, seed, doudi_store::today_cn()).await?;
                let (red, yellow, green) =
                    doudi_app::monitoring::demo_grading(&db, seed, doudi_store::today_cn()).await?;
                println!("三色评估：红色 {red} 户，黄色 {yellow} 户，绿色 {green} 户。");
                let sweep =
                    doudi_app::monitoring::sweep(&db, "demo", doudi_store::today_cn()).await?;
                let h = doudi_app::demo_history::demo_history(&db, seed, doudi_store::today_cn())
                    .await?;
                println!(
                    "演示数据已生成（{:.1} 秒）：部门数据 {feeds} 条，预警 {} 条；一年来的申请 {} 件（已办结 {}，在办 {}），转介 {} 件，已核实预警 {} 条，政策找人线索 {} 条。",
                    t.elapsed().as_secs_f64(),
                    sweep.raised,
                    h.applications,
                    h.decided,
                    h.open,
                    h.referrals,
                    h.warnings_closed,
                    h.leads
                );
                let _ = accounts;
            }
            print_accounts();
            if !no_serve {
                println!("\n请用浏览器打开：http://{listen}/   （按 Ctrl-C 停止）");
                let state = AppState::new(db, Config::default());
                doudi_web::serve(state, &listen).await?;
            }
        }
        Command::Migrate => {
            let db = Db::connect(&cli.database_url, None).await?;
            let n = db.migrate().await?;
            println!("已应用 {n} 个迁移。");
        }
        Command::Import { file, user, mode } => {
            let db = open(&cli.database_url).await?;
            let (actor, scope) = actor_scope(&db, &user).await?;
            let mode = doudi_app::imports::ImportMode::parse(&mode)
                .ok_or("--mode 应为 all 或 accepted")?;
            let bytes = std::fs::read(&file)?;
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("import")
                .to_string();
            let report = |done: usize, total: usize| {
                if total > 0 && (done == total || done % 10_000 < 10) {
                    eprint!("\r  {done}/{total} 行 ({}%)", done * 100 / total);
                }
            };
            let user_id = actor.user_id.ok_or("没有该用户")?;
            let (_, o) = doudi_app::imports::import_now(
                &db, user_id, &actor, &scope, &name, &bytes, mode, &report,
            )
            .await?;
            eprintln!();
            for r in &o.rejected {
                println!(
                    "第 {} 行\t{}\t{}\t{}\t{}",
                    r.line, r.household_key, r.name, r.id_number_masked, r.reason
                );
            }
            if o.nothing_written {
                println!("{} 行未通过校验，未导入任何数据。", o.rejected.len());
                std::process::exit(2);
            }
            println!(
                "导入完成：新建 {} 户，{} 行；未导入 {} 行。",
                o.households_created,
                o.accepted_rows,
                o.rejected.len()
            );
        }
        Command::Export {
            out,
            user,
            q,
            village,
            category,
        } => {
            let db = open(&cli.database_url).await?;
            let (_, scope) = actor_scope(&db, &user).await?;
            let f = SearchFilter {
                q,
                village,
                category,
                page: 1,
                per_page: 500,
                ..Default::default()
            };
            let rows = doudi_store::households::export_rows(&db, &scope, &f, 1_000_000).await?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .flat_map(|(h, ms)| {
                    ms.iter().map(move |p| {
                        vec![
                            h.id.to_string(),
                            h.village_name.clone(),
                            h.head_name.clone(),
                            p.name.clone(),
                            doudi_domain::IdNumber::parse(&p.id_number)
                                .map(|i| i.masked())
                                .unwrap_or_else(|_| "******".into()),
                            p.relation.clone(),
                            h.categories.clone(),
                        ]
                    })
                })
                .collect();
            let bytes = doudi_sheets::table_xlsx(
                "家庭档案",
                &[
                    "户编号",
                    "村（社区）",
                    "户主",
                    "成员",
                    "身份证号（脱敏）",
                    "关系",
                    "类别",
                ],
                &table,
            );
            std::fs::write(&out, bytes)?;
            println!(
                "已导出 {} 户 {} 人到 {}",
                rows.len(),
                table.len(),
                out.display()
            );
        }
        Command::User { action } => {
            let db = open(&cli.database_url).await?;
            match action {
                UserCmd::Add {
                    username,
                    name,
                    role,
                    region,
                    password,
                } => {
                    let role = Role::from_code(&role).ok_or("未知角色")?;
                    doudi_app::accounts::check_password_strength(&password)?;
                    RegionCode::parse(&region)?;
                    let region_name = doudi_store::regions::get(&db, &region)
                        .await?
                        .ok_or("区划不存在")?
                        .name;
                    let id = setup::create_user(
                        &db,
                        &setup::DemoAccount {
                            username: username.clone(),
                            role,
                            region_code: region,
                            region_name,
                            display_name: name,
                            department: None,
                        },
                        &password,
                    )
                    .await?;
                    doudi_app::accounts::operator_created(&db, &username).await?;
                    println!("已创建账号，编号 {id}");
                }
                UserCmd::Passwd { username, password } => {
                    doudi_app::accounts::operator_set_password(&db, &username, &password).await?;
                    println!("密码已修改。");
                }
                UserCmd::Token { username, name } => {
                    let token =
                        doudi_app::accounts::operator_create_token(&db, &username, &name).await?;
                    println!("{token}");
                }
                UserCmd::List => {
                    for u in doudi_store::users::list(&db, "").await? {
                        println!(
                            "{}\t{}\t{}\t{}",
                            u.username, u.role, u.region_code, u.display_name
                        );
                    }
                }
            }
        }
        Command::Calendar { file } => {
            let db = open(&cli.database_url).await?;
            let json = std::fs::read_to_string(&file)?;
            let year = doudi_app::cases::load_calendar_year(
                &db,
                json.trim_start_matches('\u{feff}'),
                "cli",
            )
            .await?;
            println!("已载入 {year} 年节假日安排。");
        }
        Command::Sweep { full } => {
            let db = open(&cli.database_url).await?;
            let t = std::time::Instant::now();
            let today = doudi_store::today_cn();
            let s = if full {
                doudi_app::monitoring::sweep_full(&db, "cli", today).await?
            } else {
                doudi_app::monitoring::sweep(&db, "cli", today).await?
            };
            println!(
                "预警排查完成（{}）：{} 户，新预警 {} 条，已有未办结 {}，冷却期内 {}，规则出错 {}（{:.1} 秒）",
                if s.mode == "changed" {
                    "只排查自上次以来有变化的家庭"
                } else {
                    "全量"
                },
                s.households,
                s.raised,
                s.already_open,
                s.cooling,
                s.errors,
                t.elapsed().as_secs_f64()
            );
        }
        Command::Backup { file } => {
            // Not `open`: a backup reads the database as it is, it does not migrate it.
            let db = Db::connect(&cli.database_url, None).await?;
            println!("正在备份到 {}……", file.display());
            let s = doudi_store::backup::backup(&db, &file, &|table, rows| {
                println!("  {table:<24} {rows:>10} 行");
            })
            .await?;
            db.close().await;
            println!(
                "备份完成：{} 张表，{} 行，{}，{:.1} 秒 → {}（结构版本 {}，{} 备份）",
                s.tables.len(),
                s.rows(),
                human_bytes(s.bytes),
                s.seconds,
                file.display(),
                s.schema_version,
                s.source_backend
            );
        }
        Command::Restore { file, force } => {
            let db = open(&cli.database_url).await?;
            println!(
                "正在从 {} 恢复（恢复期间请勿启动 doudi serve）……",
                file.display()
            );
            let opts = doudi_store::backup::RestoreOptions {
                force,
                ..Default::default()
            };
            let s = doudi_store::backup::restore(&db, &file, &opts, &|table, rows| {
                println!("  {table:<24} {rows:>10} 行");
            })
            .await?;
            db.close().await;
            println!(
                "恢复完成：{} 张表，{} 行，备份文件 {}，{:.1} 秒（{} 备份于 {}，结构版本 {}）",
                s.tables.len(),
                s.rows(),
                human_bytes(s.bytes),
                s.seconds,
                s.source_backend,
                s.created_at,
                s.schema_version
            );
        }
        Command::Bench { which } => {
            let url = cli.database_url.as_str();
            match which {
                BenchCmd::Generate { households } => bench::generate(url, households).await?,
                BenchCmd::Import { rows } => bench::import(url, rows).await?,
                BenchCmd::Search {
                    households,
                    queries,
                } => bench::search(url, households, queries).await?,
                BenchCmd::Inbox {
                    households,
                    cases,
                    queries,
                } => bench::inbox(url, households, cases, queries).await?,
                BenchCmd::Eligibility {
                    households,
                    uncalibrated,
                } => bench::eligibility(url, households, uncalibrated).await?,
                BenchCmd::Sweep {
                    households,
                    records,
                    worst_case,
                } => {
                    bench::sweep(
                        url,
                        households,
                        records.unwrap_or(households * 10),
                        worst_case,
                    )
                    .await?
                }
                BenchCmd::Load {
                    households,
                    staff,
                    seconds,
                    write_pct,
                } => bench::load(url, households, staff, seconds, write_pct).await?,
                BenchCmd::All { households } => {
                    bench::generate(url, households.min(200_000)).await?;
                    bench::import(url, 100_000).await?;
                    bench::search(url, households, 200).await?;
                }
            }
        }
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KB", n as f64 / 1024.0)
    }
}

fn print_accounts() {
    println!("\n演示账号（密码均为 {}）：", setup::DEMO_PASSWORD);
    let regions = doudi_demo::demo_regions(2026);
    for a in setup::demo_accounts(&regions) {
        println!(
            "  {:<14} {:<18} {}（{}）",
            a.username,
            a.role.label(),
            a.region_name,
            a.display_name
        );
    }
}
