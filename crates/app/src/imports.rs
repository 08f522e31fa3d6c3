//! Importing households from .xlsx / .csv. Two modes: all-or-nothing, or
//! accepted rows only; in both, a household is written whole or not at all,
//! inside one transaction, and every rejected row is reported with its
//! reason. An upload runs as a job ([`start`]); [`run_import`] is the
//! engine, also called by the command line and the bench.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use doudi_domain::access::Action;
use doudi_sheets::{ParsedHousehold, Rejected};
use doudi_store::audit::{self, AuditActor, AuditEntry};
use doudi_store::households::{self as hh, Scope};
use doudi_store::{Db, imports, today_cn};
use serde::{Deserialize, Serialize};

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::jobs::{self, Kind};

/// Progress of running imports, kept in memory so that the writing
/// transaction is never interrupted by progress updates (SQLite allows one
/// writer): job id → (rows done, rows in all).
pub type ProgressMap = Arc<Mutex<HashMap<i64, (usize, usize)>>>;

/// Starts an import job for the caller's jurisdiction and returns its id;
/// refused while another import runs (in any process). The rows are checked
/// and written in the background; the outcome is stored on the job in the
/// transaction that writes the last rows.
pub async fn start(
    db: &Db,
    progress: &ProgressMap,
    caller: &Caller,
    filename: String,
    bytes: Vec<u8>,
    mode: ImportMode,
) -> Result<i64> {
    crate::access::role(db, caller, Action::ImportHouseholds).await?;
    let scope = crate::access::household_scope(db, caller).await?;
    let job = imports::create(
        db,
        caller.user.id,
        caller.region.as_str(),
        &filename,
        mode.code(),
        jobs::owner(),
    )
    .await?;
    let progress = progress.clone();
    let db2 = db.clone();
    let who = caller.audit();
    jobs::spawn(db, Kind::Import, job, async move {
        let p = progress.clone();
        let report = move |done: usize, total: usize| {
            p.lock().expect("progress lock").insert(job, (done, total));
        };
        let outcome = run_import(
            &db2,
            &who,
            &scope,
            &filename,
            &bytes,
            mode,
            &report,
            Some(job),
        )
        .await;
        progress.lock().expect("progress lock").remove(&job);
        outcome.map(|_| ())
    });
    Ok(job)
}

/// An import run in the caller's task (the command line), as a job like an
/// upload's: refused while another import runs, shown on the account's
/// import page, marked interrupted if the process dies. Returns the job's id
/// and the outcome.
#[allow(clippy::too_many_arguments)]
pub async fn import_now(
    db: &Db,
    user_id: i64,
    actor: &AuditActor,
    scope: &Scope,
    filename: &str,
    bytes: &[u8],
    mode: ImportMode,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<(i64, ImportOutcome)> {
    let job = imports::create(
        db,
        user_id,
        scope.0.as_str(),
        filename,
        mode.code(),
        jobs::owner(),
    )
    .await?;
    match run_import(db, actor, scope, filename, bytes, mode, progress, Some(job)).await {
        Ok(o) => Ok((job, o)),
        Err(e) => {
            jobs::fail(db, Kind::Import, job, &e.to_string()).await?;
            Err(e)
        }
    }
}

impl ImportOutcome {
    /// The rejected rows as stored on the job (the page and the report).
    pub fn report_json(&self) -> String {
        serde_json::to_string(&self.rejected).unwrap_or_else(|_| "[]".into())
    }

    /// The job's status and the sentence shown to the person who uploaded.
    pub fn summary(&self) -> (&'static str, String) {
        if self.nothing_written {
            (
                "rejected",
                format!(
                    "有 {} 行未通过校验；按“全部成功才导入”方式，本次未导入任何数据。请修改后重新上传。",
                    self.rejected.len()
                ),
            )
        } else if self.rejected.is_empty() {
            (
                "done",
                format!(
                    "全部导入成功：新建 {} 户，{} 行。",
                    self.households_created, self.accepted_rows
                ),
            )
        } else {
            (
                "done",
                format!(
                    "已导入通过校验的 {} 户（{} 行）；{} 行未导入，见下表或下载报告。",
                    self.households_created,
                    self.accepted_rows,
                    self.rejected.len()
                ),
            )
        }
    }
}

pub const MAX_ROWS: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Any rejected row → nothing is written.
    AllOrNothing,
    /// Valid households are written; rejected ones are reported.
    AcceptedOnly,
}

impl ImportMode {
    pub fn code(self) -> &'static str {
        match self {
            ImportMode::AllOrNothing => "all",
            ImportMode::AcceptedOnly => "accepted",
        }
    }
    pub fn parse(s: &str) -> Option<ImportMode> {
        match s {
            "all" => Some(ImportMode::AllOrNothing),
            "accepted" => Some(ImportMode::AcceptedOnly),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RejectedRow {
    pub line: usize,
    pub household_key: String,
    pub name: String,
    pub id_number_masked: String,
    pub reason: String,
}

impl From<&Rejected> for RejectedRow {
    fn from(r: &Rejected) -> Self {
        RejectedRow {
            line: r.line,
            household_key: r.household_key.clone(),
            name: r.name.clone(),
            id_number_masked: r.id_number_masked.clone(),
            reason: r.reason.clone(),
        }
    }
}

#[derive(Debug)]
pub struct ImportOutcome {
    pub total_rows: usize,
    pub accepted_rows: usize,
    pub households_created: usize,
    pub rejected: Vec<RejectedRow>,
    /// True when rows were rejected in all-or-nothing mode, so nothing was written.
    pub nothing_written: bool,
}

/// Parses, validates and writes an import. `progress(done, total)` is called as rows
/// are written. On any write error the transaction rolls back and nothing is kept.
/// With `job`, the job's counters are advanced in the transaction that writes the
/// rows they count, and its outcome is stored with the last rows; a job found no
/// longer running (marked interrupted) stops the import and its open transaction
/// is rolled back.
#[allow(clippy::too_many_arguments)]
pub async fn run_import(
    db: &Db,
    actor: &AuditActor,
    scope: &Scope,
    filename: &str,
    bytes: &[u8],
    mode: ImportMode,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
    job: Option<i64>,
) -> Result<ImportOutcome> {
    let rows = doudi_sheets::read_table(filename, bytes, MAX_ROWS)
        .map_err(|e| Error::invalid("file", e.to_string()))?;
    let total = rows.len();
    if let Some(job) = job {
        imports::set_total(db, job, total as i64).await?;
    }
    progress(0, total);
    let villages: HashSet<String> = doudi_store::regions::subtree(db, scope.0.as_str())
        .await?
        .into_iter()
        .filter(|r| r.level == "village" && r.active)
        .map(|r| r.code)
        .collect();
    // Villages refused because they lie outside the importer's jurisdiction
    // (not merely unknown): each is audited once per import, like every
    // refusal by jurisdiction.
    let today = today_cn();
    let (parsed, rejected, foreign) = {
        let foreign = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let village_ok = |code: &str| -> Result<(), String> {
            if villages.contains(code) {
                Ok(())
            } else {
                if doudi_domain::RegionCode::parse(code).is_ok() && !scope.covers(code) {
                    foreign.borrow_mut().insert(code.to_string());
                }
                Err(format!(
                    "村社区代码：{code} 不存在、已停用或不在您的管辖范围内"
                ))
            }
        };
        let (parsed, rejected) = doudi_sheets::validate_rows(&rows, today, &village_ok);
        (parsed, rejected, foreign.into_inner())
    };
    for code in foreign {
        audit::record(
            db.writer(),
            actor,
            AuditEntry {
                action: "denied",
                entity: "household",
                entity_id: "0".into(),
                household_id: None,
                region_code: &code,
                before: None,
                after: None,
                detail: format!("导入 {filename}：村（社区）{code} 不在导入人的管辖范围内"),
            },
        )
        .await?;
    }
    let mut rejected: Vec<RejectedRow> = rejected.iter().map(RejectedRow::from).collect();
    let (parsed, conflicts) = split_registered(db, actor, scope, parsed).await?;
    rejected.extend(conflicts);
    rejected.sort_by_key(|r| r.line);
    if mode == ImportMode::AllOrNothing && !rejected.is_empty() {
        let outcome = ImportOutcome {
            total_rows: total,
            accepted_rows: 0,
            households_created: 0,
            rejected,
            nothing_written: true,
        };
        if let Some(job) = job {
            let (status, msg) = outcome.summary();
            imports::finish(
                db,
                job,
                status,
                outcome.rejected.len() as i64,
                &msg,
                &outcome.report_json(),
            )
            .await?;
        }
        return Ok(outcome);
    }
    let outcome = match mode {
        ImportMode::AllOrNothing => {
            // One transaction: either every household is written or none is.
            let mut tx = db.begin_write().await?;
            let mut done = 0;
            for p in &parsed {
                hh::create(&mut tx, actor, scope, &p.record, today)
                    .await
                    .map_err(|e| {
                        Error::invalid(
                            "file",
                            format!(
                                "写入第 {} 行所在家庭时出错，已全部回滚，未导入任何数据：{e}",
                                p.lines.first().copied().unwrap_or(0)
                            ),
                        )
                    })?;
                done += p.lines.len();
                progress(done, total);
            }
            import_audit(
                &mut tx,
                actor,
                scope,
                filename,
                parsed.len(),
                done,
                rejected.len(),
            )
            .await?;
            let outcome = ImportOutcome {
                total_rows: total,
                accepted_rows: done,
                households_created: parsed.len(),
                rejected,
                nothing_written: false,
            };
            if let Some(job) = job {
                advance(&mut tx, job, done, parsed.len()).await?;
                finish_in(&mut tx, job, &outcome).await?;
            }
            tx.commit().await?;
            outcome
        }
        ImportMode::AcceptedOnly => {
            // Batches keep each write transaction short (SQLite has one writer). A
            // household that fails to write (e.g. registered meanwhile by someone else)
            // is retried alone and reported; the rest of its batch is kept. Each
            // batch advances the job's counters in its own transaction.
            let mut done = 0;
            let mut created = 0;
            for batch in parsed.chunks(IMPORT_BATCH) {
                let mut tx = db.begin_write().await?;
                let mut failed = false;
                for p in batch {
                    if hh::create(&mut tx, actor, scope, &p.record, today)
                        .await
                        .is_err()
                    {
                        failed = true;
                        break;
                    }
                }
                if !failed {
                    let rows = batch.iter().map(|p| p.lines.len()).sum::<usize>();
                    if let Some(job) = job {
                        advance(&mut tx, job, rows, batch.len()).await?;
                    }
                    tx.commit().await?;
                    created += batch.len();
                    done += rows;
                } else {
                    tx.rollback().await?;
                    for p in batch {
                        let mut tx = db.begin_write().await?;
                        match hh::create(&mut tx, actor, scope, &p.record, today).await {
                            Ok(_) => {
                                if let Some(job) = job {
                                    advance(&mut tx, job, p.lines.len(), 1).await?;
                                }
                                tx.commit().await?;
                                created += 1;
                                done += p.lines.len();
                            }
                            Err(e) => {
                                tx.rollback().await?;
                                for (i, m) in p.record.members.iter().enumerate() {
                                    rejected.push(RejectedRow {
                                        line: p.member_lines.get(i).copied().unwrap_or(0),
                                        household_key: p.key.clone(),
                                        name: m.name.clone(),
                                        id_number_masked: m.id_number.masked(),
                                        reason: format!("写入时出错，整户未导入：{e}"),
                                    });
                                }
                            }
                        }
                    }
                }
                progress(done, total);
            }
            rejected.sort_by_key(|r| r.line);
            let mut tx = db.begin_write().await?;
            import_audit(
                &mut tx,
                actor,
                scope,
                filename,
                created,
                done,
                rejected.len(),
            )
            .await?;
            let outcome = ImportOutcome {
                total_rows: total,
                accepted_rows: done,
                households_created: created,
                rejected,
                nothing_written: false,
            };
            if let Some(job) = job {
                finish_in(&mut tx, job, &outcome).await?;
            }
            tx.commit().await?;
            outcome
        }
    };
    Ok(outcome)
}

/// Counts rows and households written in `tx` on the job; an error (and the
/// transaction dropped, so rolled back) when the job is no longer running.
async fn advance(tx: &mut doudi_store::Tx, job: i64, rows: usize, households: usize) -> Result<()> {
    if imports::advance(tx, job, rows as i64, households as i64).await? {
        Ok(())
    } else {
        Err(Error::Conflict(INTERRUPTED.into()))
    }
}

/// Stores the outcome on the job inside the last write transaction.
async fn finish_in(tx: &mut doudi_store::Tx, job: i64, o: &ImportOutcome) -> Result<()> {
    let (status, msg) = o.summary();
    if imports::finish_in(
        tx,
        job,
        status,
        o.rejected.len() as i64,
        &msg,
        &o.report_json(),
    )
    .await?
    {
        Ok(())
    } else {
        Err(Error::Conflict(INTERRUPTED.into()))
    }
}

const INTERRUPTED: &str = "该导入已被标记为中断，本次写入已撤销；请核对后重新上传";

/// Households written per transaction in "accepted only" mode.
const IMPORT_BATCH: usize = 500;

async fn import_audit(
    tx: &mut doudi_store::Tx,
    actor: &AuditActor,
    scope: &Scope,
    filename: &str,
    households: usize,
    rows: usize,
    rejected: usize,
) -> Result<()> {
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "import",
            entity: "household",
            entity_id: "-".into(),
            household_id: None,
            region_code: scope.0.as_str(),
            before: None,
            after: None,
            detail: format!("导入 {filename}：新建 {households} 户 {rows} 行，拒绝 {rejected} 行"),
        },
    )
    .await?;
    Ok(())
}

/// Households any of whose ID numbers are already registered are rejected
/// whole. A clash inside the importer's jurisdiction is reported as such; one
/// outside says only "registered in the district", is audited and counts
/// toward the account's daily limit ([`crate::households::FOREIGN_DUPLICATE_LIMIT`]);
/// once the limit is used up, every household not yet checked is refused
/// with one reason, so the report says nothing more about who is registered.
async fn split_registered(
    db: &Db,
    actor: &AuditActor,
    scope: &Scope,
    parsed: Vec<ParsedHousehold>,
) -> Result<(Vec<ParsedHousehold>, Vec<RejectedRow>)> {
    let all: Vec<String> = parsed
        .iter()
        .flat_map(|p| {
            p.record
                .members
                .iter()
                .map(|m| m.id_number.as_str().to_string())
        })
        .collect();
    let held: HashMap<String, String> = hh::id_number_villages(db, &all).await?;
    let mut left = match actor.user_id {
        Some(user) => crate::households::foreign_duplicates_left_for(db, user).await?,
        None => i64::MAX,
    };
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let reject =
        |bad: &mut Vec<RejectedRow>, p: &ParsedHousehold, reason: &dyn Fn(usize) -> String| {
            for (i, m) in p.record.members.iter().enumerate() {
                bad.push(RejectedRow {
                    line: p.member_lines.get(i).copied().unwrap_or(0),
                    household_key: p.key.clone(),
                    name: m.name.clone(),
                    id_number_masked: m.id_number.masked(),
                    reason: reason(i),
                });
            }
        };
    for p in parsed {
        // A household with more members than answers left is not checked.
        if left < p.record.members.len() as i64 {
            left = 0;
            reject(&mut bad, &p, &|_| LIMIT_REACHED.to_string());
            continue;
        }
        let places: Vec<Option<&String>> = p
            .record
            .members
            .iter()
            .map(|m| held.get(m.id_number.as_str()))
            .collect();
        if places.iter().all(Option::is_none) {
            ok.push(p);
            continue;
        }
        let foreign: Vec<AuditEntry<'_>> = p
            .record
            .members
            .iter()
            .zip(&places)
            .filter_map(|(m, place)| {
                let village = place.filter(|v| !scope.covers(v))?;
                Some(AuditEntry {
                    action: crate::households::FOREIGN_DUPLICATE,
                    entity: "person",
                    entity_id: m.id_number.masked(),
                    household_id: None,
                    region_code: village,
                    before: None,
                    after: None,
                    detail: format!(
                        "导入查重：身份证号 {} 已在其他辖区登记（未告知位置）",
                        m.id_number.masked()
                    ),
                })
            })
            .collect();
        let n = foreign.len() as i64;
        if n > 0 {
            // Recorded and counted atomically (parallel imports of one
            // account cannot get more answers than the limit between them).
            if !crate::households::record_foreign_answers(db, actor, foreign).await? {
                left = 0;
                reject(&mut bad, &p, &|_| LIMIT_REACHED.to_string());
                continue;
            }
            left -= n;
        }
        reject(&mut bad, &p, &|i| {
            match places[i] {
            Some(v) if scope.covers(v) => "身份证号：已登记在您辖区的另一户中（一人只能属于一个家庭），如需迁移请使用“迁移成员”".into(),
            Some(_) => "身份证号：已在本区登记（一人只能属于一个家庭），不在您的辖区；如需迁入，请联系区民政部门办理迁移".into(),
            None => "同户其他成员已在本区登记，整户未导入".into(),
        }
        });
    }
    Ok((ok, bad))
}

const LIMIT_REACHED: &str = "本账号 24 小时内被告知已在其他辖区登记的身份证号已达上限，此户未核查、未导入；请 24 小时后重试，或联系区民政部门";
