//! Long and scheduled work, in one place.
//!
//! Long jobs (an import, a sweep, a 政策找人 run) run off the request that
//! starts them, one at a time per kind: the database refuses a second
//! running row (`*_one_running` indexes, migration 0007). Each running row
//! names its owner, the process that runs it ([`owner`]), and carries the
//! time of its last stored batch. A job whose process died is marked
//! interrupted by [`recover_interrupted`], called when `doudi serve` /
//! `doudi demo` start and every minute beside the server; its batches were
//! written with their counters, so what it stored stays counted and nothing
//! is half-written. A job marked interrupted that is in fact still alive
//! finds out at its next batch (the batch's counter update matches no
//! running row) and stops, writing nothing more.
//!
//! Scheduled: notices whose posting period is over end by themselves (every
//! 10 minutes), and the warning sweep runs once a day — again on a day
//! whose sweep was interrupted or failed.

use std::sync::LazyLock;
use std::time::Duration;

use doudi_store::{Db, imports, monitoring as mon, policies as pol, today_cn};

use crate::error::{Error, Result};
use crate::{cases, monitoring};

/// The three kinds of long job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Import,
    Sweep,
    Finder,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Import => "导入",
            Kind::Sweep => "预警排查",
            Kind::Finder => "政策找人",
        }
    }
}

/// A running row whose owner is gone and has not written a batch for this
/// long is interrupted even when its owner cannot be checked (another host).
pub const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(15);

/// This process, as the owner of the jobs it runs:
/// `hostname/boot id/pid/start time` (the last two from `/proc` on Linux),
/// so that after a restart — even with the same pid, as in a container —
/// the old owner is recognised as gone.
pub fn owner() -> &'static str {
    static OWNER: LazyLock<String> = LazyLock::new(|| {
        let pid = std::process::id();
        format!(
            "{}/{}/{pid}/{}",
            hostname(),
            boot_id().unwrap_or_else(|| "-".into()),
            start_time(pid).unwrap_or_else(|| "-".into())
        )
    });
    &OWNER
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace('/', "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
}

/// The start time of a process in clock ticks since boot (field 22 of
/// `/proc/PID/stat`), which tells a reused pid from the original.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after the last ')', which ends it; that is field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the process named by `owner` is still running: `Some(false)` when
/// it certainly is not (same host: another boot, or no process with that
/// pid and start time), `Some(true)` when it is, `None` when this process
/// cannot tell (another host, or no `/proc`).
pub fn owner_alive(owner: &str) -> Option<bool> {
    if owner == self::owner() {
        return Some(true);
    }
    let parts: Vec<&str> = owner.split('/').collect();
    let [host, boot, pid, started] = parts[..] else {
        return Some(false); // not written by this version: nobody runs it
    };
    if host != hostname() {
        return None;
    }
    let my_boot = boot_id()?;
    if boot == "-" || started == "-" {
        return None;
    }
    if boot != my_boot {
        return Some(false);
    }
    let pid: u32 = pid.parse().ok()?;
    Some(start_time(pid).as_deref() == Some(started))
}

/// One job marked interrupted by [`recover_interrupted`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupted {
    pub kind: Kind,
    pub id: i64,
}

/// Marks interrupted every running job whose process is gone (or that wrote
/// nothing for [`STALE_AFTER`] when that cannot be checked). Called when the
/// server starts and every minute beside it; returns what it marked.
pub async fn recover_interrupted(db: &Db) -> Result<Vec<Interrupted>> {
    let now = chrono::Utc::now();
    let gone = |job: &imports::RunningJob| match owner_alive(&job.owner) {
        Some(alive) => !alive,
        None => {
            let last = job.heartbeat_at.as_deref().unwrap_or(&job.started_at);
            chrono::DateTime::parse_from_rfc3339(last)
                .map_or(true, |t| now.signed_duration_since(t) > STALE_AFTER)
        }
    };
    let mut out = Vec::new();
    if let Some(job) = imports::running(db).await?.filter(|j| gone(j)) {
        let msg = "导入过程中服务中断，导入未完成。已写入的家庭均为完整写入（按“全部成功才导入”方式则未写入任何数据），请核对后重新上传。";
        if imports::interrupt(db, job.id, msg).await? {
            out.push(Interrupted {
                kind: Kind::Import,
                id: job.id,
            });
        }
    }
    if let Some(job) = mon::running_sweep(db).await?.filter(|j| gone(j)) {
        let msg = "排查过程中服务中断，排查未完成；已产生的预警均已计数。请重新排查。";
        if mon::interrupt_sweep(db, job.id, msg).await? {
            out.push(Interrupted {
                kind: Kind::Sweep,
                id: job.id,
            });
        }
    }
    if let Some(job) = pol::running_run(db).await?.filter(|j| gone(j)) {
        let msg = "运行过程中服务中断，结果不完整，不能据此生成线索。请重新运行。";
        if pol::finish_run(db, job.id, "interrupted", msg).await? {
            out.push(Interrupted {
                kind: Kind::Finder,
                id: job.id,
            });
        }
    }
    for i in &out {
        tracing::warn!(
            "{} #{} was running in a process that is gone: marked interrupted",
            i.kind.label(),
            i.id
        );
    }
    Ok(out)
}

/// Runs a long job's work in the background. If the work fails or panics,
/// the job is ended `failed` with the reason (unless it already ended), so a
/// job never stays running in a live process with nothing behind it.
pub(crate) fn spawn<F>(db: &Db, kind: Kind, id: i64, work: F)
where
    F: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let db = db.clone();
    tokio::spawn(async move {
        let message = match tokio::spawn(work).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("后台任务异常终止：{e}"),
        };
        tracing::warn!("{} #{id}: {message}", kind.label());
        if let Err(e) = fail(&db, kind, id, &message).await {
            tracing::error!("{} #{id}: could not record the failure: {e}", kind.label());
        }
    });
}

/// Ends a running job `failed` with `message`; false when it was not running.
pub(crate) async fn fail(db: &Db, kind: Kind, id: i64, message: &str) -> Result<bool> {
    Ok(match kind {
        Kind::Import => imports::finish(db, id, "failed", 0, message, "[]").await?,
        Kind::Sweep => mon::finish_sweep(db, id, "failed", message).await?,
        Kind::Finder => pol::finish_run(db, id, "failed", message).await?,
    })
}

/// Starts every scheduled job on the current runtime.
pub fn spawn_all(db: &Db) {
    tokio::spawn(every(Duration::from_secs(60), db.clone(), recover));
    tokio::spawn(every(Duration::from_secs(600), db.clone(), end_notices));
    tokio::spawn(every(Duration::from_secs(3600), db.clone(), daily_sweep));
}

async fn every<F, Fut>(period: Duration, db: Db, job: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        job(db.clone()).await;
    }
}

async fn recover(db: Db) {
    if let Err(e) = recover_interrupted(&db).await {
        tracing::warn!("recovering interrupted jobs: {e}");
    }
}

/// Ends expired notices and moves their items on.
pub async fn end_notices(db: Db) {
    if let Err(e) = cases::end_expired_notices(&db).await {
        tracing::warn!("ending expired notices: {e}");
    }
}

/// Runs today's sweep unless one finished today (checked hourly, so it runs
/// at start, after midnight China time, and again within the hour when
/// today's sweep was interrupted or failed). A sweep already running
/// elsewhere is left alone.
pub async fn daily_sweep(db: Db) {
    let today = today_cn();
    match monitoring::swept_today(&db, today).await {
        Ok(true) => {}
        Ok(false) => match monitoring::sweep(&db, "定时任务", today).await {
            Ok(_) => {}
            Err(Error::Conflict(m)) => tracing::info!("daily sweep not started: {m}"),
            Err(e) => tracing::warn!("daily sweep failed: {e}"),
        },
        Err(e) => tracing::warn!("daily sweep: {e}"),
    }
}
