//! Dynamic monitoring: department feed batches and records, warning rules,
//! sweeps and warnings, three-colour assessments, the visit plan state and
//! visits, named helpers, and the counts of the monitoring dashboard.

use std::collections::HashMap;

use sqlx::Row;

use crate::households::Scope;
use crate::policies::HouseholdPlace;
use crate::{Db, Result, Tx, now_ts};

// ------------------------------------------------------------------ feeds ---

/// Masks every ID-number-like run (15 or more digits, X allowed) inside a
/// text: some record keys (残疾证号, 学籍号) and parser messages contain one,
/// and batch reports are downloaded and forwarded.
pub fn mask_ids_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == 'X' || **c == 'x')
            .count();
        if run >= 15 {
            let part: String = chars[i..i + run].iter().collect();
            out.push_str(&part[..6]);
            out.push_str(&"*".repeat(run - 10));
            out.push_str(&part[run - 4..]);
            i += run;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A validated feed record (doudi_sheets::feeds::FeedRecord, flattened here
/// so the store does not depend on the spreadsheet crate).
#[derive(Clone, Debug)]
pub struct FeedInput {
    pub line: usize,
    pub kind: String,
    pub record_key: String,
    pub id_number: String,
    pub name: String,
    pub event_date: String,
    pub amount_fen: Option<i64>,
    pub attributes_json: String,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReportLine {
    pub line: usize,
    pub key: String,
    pub id_masked: String,
    pub reason: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub kind: String,
    pub source: String,
    pub channel: String,
    pub filename: String,
    pub sent_by: String,
    pub sent_at: String,
    pub total_rows: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub unmatched: i64,
    pub rejected: i64,
    pub report: Vec<ReportLine>,
}

/// Where each ID number lives now (person and household), for matching.
pub async fn match_people(
    db: &Db,
    id_numbers: &[String],
) -> Result<HashMap<String, (i64, HouseholdPlace)>> {
    let mut out = HashMap::new();
    for chunk in id_numbers.chunks(500) {
        let marks = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT p.id_number, p.id, h.id, h.county_code, h.town_code, h.village_code, h.head_name \
             FROM persons p JOIN households h ON h.id = p.household_id WHERE p.id_number IN ({marks})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        for r in q.fetch_all(&db.pool).await? {
            out.insert(
                r.get::<String, _>(0),
                (
                    r.get(1),
                    HouseholdPlace {
                        id: r.get(2),
                        county_code: r.get(3),
                        town_code: r.get(4),
                        village_code: r.get(5),
                        head_name: r.get(6),
                    },
                ),
            );
        }
    }
    Ok(out)
}

/// Stores one batch: the valid rows that match a person are inserted unless
/// the same (source, kind, record key) is already stored; valid rows that
/// match nobody are kept in `feed_pending` and counted as accepted, so the
/// sender learns nothing about who is registered (`unmatched` counts them for
/// district staff); rejected rows go into the batch report. One transaction:
/// a batch is stored whole or not at all.
#[allow(clippy::too_many_arguments)]
pub async fn store_batch(
    db: &Db,
    kind: &str,
    source: &str,
    channel: &str,
    filename: &str,
    user_id: i64,
    total_rows: usize,
    valid: &[FeedInput],
    mut report: Vec<ReportLine>,
) -> Result<BatchRow> {
    let ids: Vec<String> = valid.iter().map(|v| v.id_number.clone()).collect();
    let people = match_people(db, &ids).await?;
    let mut tx = db.begin_write().await?;
    let batch_id: i64 = sqlx::query_scalar(
        "INSERT INTO feed_batches (kind, source, channel, filename, sent_by, sent_at, total_rows) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
    )
    .bind(kind.to_string())
    .bind(source.to_string())
    .bind(channel.to_string())
    .bind(filename.to_string())
    .bind(user_id)
    .bind(now_ts())
    .bind(total_rows as i64)
    .fetch_one(&mut *tx)
    .await?;
    let rejected = report.len() as i64;
    let (mut accepted, mut duplicates, mut unmatched) = (0i64, 0i64, 0i64);
    let now = now_ts();
    for v in valid {
        let Some((person_id, place)) = people.get(&v.id_number) else {
            // Not reported back: the department must not learn who is in the
            // registry (issue 10, item 5). Kept until the person is registered.
            let done = sqlx::query(
                "INSERT INTO feed_pending (id_number, kind, source, record_key, event_date, amount_fen, attributes, batch_id, received_at) \
                 SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9 WHERE NOT EXISTS \
                 (SELECT 1 FROM feed_records r WHERE r.source = $3 AND r.kind = $2 AND r.record_key = $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(v.id_number.clone())
            .bind(v.kind.clone())
            .bind(source.to_string())
            .bind(v.record_key.clone())
            .bind(v.event_date.clone())
            .bind(v.amount_fen)
            .bind(v.attributes_json.clone())
            .bind(batch_id)
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                accepted += 1;
                unmatched += 1;
            } else {
                duplicates += 1;
            }
            continue;
        };
        let done = sqlx::query(
            // A record already kept as pending is the same record (a resend
            // must read as a duplicate whether its person is registered or not).
            "INSERT INTO feed_records (county_code, town_code, village_code, household_id, person_id, kind, source, record_key, event_date, amount_fen, attributes, batch_id, received_at) \
             SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13 WHERE NOT EXISTS \
             (SELECT 1 FROM feed_pending p WHERE p.source = $7 AND p.kind = $6 AND p.record_key = $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(place.county_code.clone())
        .bind(place.town_code.clone())
        .bind(place.village_code.clone())
        .bind(place.id)
        .bind(*person_id)
        .bind(v.kind.clone())
        .bind(source.to_string())
        .bind(v.record_key.clone())
        .bind(v.event_date.clone())
        .bind(v.amount_fen)
        .bind(v.attributes_json.clone())
        .bind(batch_id)
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    report.sort_by_key(|r| r.line);
    let report_json = serde_json::to_string(&report).unwrap_or_else(|_| "[]".into());
    sqlx::query("UPDATE feed_batches SET accepted=$1, duplicates=$2, unmatched=$3, rejected=$4, report=$5 WHERE id=$6")
        .bind(accepted)
        .bind(duplicates)
        .bind(unmatched)
        .bind(rejected)
        .bind(report_json)
        .bind(batch_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(batch(db, batch_id).await?.expect("just stored"))
}

/// Moves pending department records whose person has since been registered
/// into `feed_records` (run before every sweep); returns how many were matched.
pub async fn claim_pending(db: &Db) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    let moved = sqlx::query(
        "INSERT INTO feed_records (county_code, town_code, village_code, household_id, person_id, kind, source, record_key, event_date, amount_fen, attributes, batch_id, received_at) \
         SELECT p.county_code, p.town_code, p.village_code, p.household_id, p.id, f.kind, f.source, f.record_key, f.event_date, f.amount_fen, f.attributes, f.batch_id, f.received_at \
         FROM feed_pending f JOIN persons p ON p.id_number = f.id_number WHERE true ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        // Only what is now in feed_records (a person registered between the
        // two statements keeps their records pending until the next sweep).
        "DELETE FROM feed_pending WHERE EXISTS (SELECT 1 FROM feed_records r WHERE r.source = feed_pending.source \
         AND r.kind = feed_pending.kind AND r.record_key = feed_pending.record_key)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// Department records still waiting for their person to be registered.
pub async fn pending_count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM feed_pending")
        .fetch_one(&db.pool)
        .await?)
}

const B_COLS: &str = "b.id, b.kind, b.source, b.channel, b.filename, COALESCE(u.display_name, ''), b.sent_at, b.total_rows, b.accepted, b.duplicates, b.unmatched, b.rejected, b.report";

fn batch_from(r: &sqlx::any::AnyRow) -> BatchRow {
    let report: String = r.get(12);
    BatchRow {
        id: r.get(0),
        kind: r.get(1),
        source: r.get(2),
        channel: r.get(3),
        filename: r.get(4),
        sent_by: r.get(5),
        sent_at: r.get(6),
        total_rows: r.get(7),
        accepted: r.get(8),
        duplicates: r.get(9),
        unmatched: r.get(10),
        rejected: r.get(11),
        report: serde_json::from_str(&report).unwrap_or_default(),
    }
}

pub async fn batch(db: &Db, id: i64) -> Result<Option<BatchRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {B_COLS} FROM feed_batches b LEFT JOIN users u ON u.id = b.sent_by WHERE b.id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.as_ref().map(batch_from))
}

/// Batches sent by `source` (a department sees its own), or all when None.
pub async fn batches(
    db: &Db,
    source: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<BatchRow>, i64)> {
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM feed_batches WHERE ($1 = '' OR source = $1)")
            .bind(source.unwrap_or("").to_string())
            .fetch_one(&db.pool)
            .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {B_COLS} FROM feed_batches b LEFT JOIN users u ON u.id = b.sent_by WHERE ($1 = '' OR b.source = $1) ORDER BY b.id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(source.unwrap_or("").to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    Ok((rows.iter().map(batch_from).collect(), total))
}

/// Per feed kind: records stored in `scope` and the last time a batch came.
pub async fn feed_freshness(db: &Db, scope: &Scope) -> Result<Vec<(String, i64, Option<String>)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT kind, COUNT(*) FROM feed_records WHERE {} = $1 GROUP BY kind",
        scope.column()
    )))
    .bind(scope.0.as_str().to_string())
    .fetch_all(&db.pool)
    .await?;
    let counts: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    // A batch whose rows were all refused delivered nothing: freshness
    // counts batches that stored records.
    let last =
        sqlx::query("SELECT kind, MAX(sent_at) FROM feed_batches WHERE accepted > 0 GROUP BY kind")
            .fetch_all(&db.pool)
            .await?;
    let last: HashMap<String, Option<String>> = last.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut kinds: Vec<String> = counts.keys().chain(last.keys()).cloned().collect();
    kinds.sort();
    kinds.dedup();
    Ok(kinds
        .into_iter()
        .map(|k| {
            (
                k.clone(),
                counts.get(&k).copied().unwrap_or(0),
                last.get(&k).cloned().flatten(),
            )
        })
        .collect())
}

/// Feed records of one household (the 核对 report), newest first.
pub async fn household_feed_records(
    db: &Db,
    household_id: i64,
) -> Result<Vec<(String, String, String, Option<i64>, String, String)>> {
    let rows = sqlx::query(
        "SELECT f.kind, f.event_date, f.source, f.amount_fen, f.attributes, COALESCE(p.name, '') FROM feed_records f LEFT JOIN persons p ON p.id = f.person_id \
         WHERE f.household_id = $1 ORDER BY f.event_date DESC, f.id DESC",
    )
    .bind(household_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect())
}

// ---------------------------------------------------------- warning rules ---

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WarningRuleRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub expression: String,
    pub severity: String,
    pub verify_level: String,
    pub deadline_days: i64,
    pub cooling_days: i64,
    pub raises_colour: Option<String>,
    pub active: bool,
    pub version: i64,
}

const WR_COLS: &str = "id, code, name, description, expression, severity, verify_level, deadline_days, cooling_days, raises_colour, active, version";

fn rule_from(r: &sqlx::any::AnyRow) -> WarningRuleRow {
    WarningRuleRow {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        description: r.get(3),
        expression: r.get(4),
        severity: r.get(5),
        verify_level: r.get(6),
        deadline_days: r.get(7),
        cooling_days: r.get(8),
        raises_colour: r.get(9),
        active: r.get::<i64, _>(10) != 0,
        version: r.get(11),
    }
}

pub async fn warning_rules(db: &Db) -> Result<Vec<WarningRuleRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WR_COLS} FROM warning_rules ORDER BY id"
    )))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(rule_from).collect())
}

pub async fn warning_rule(db: &Db, id: i64) -> Result<Option<WarningRuleRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {WR_COLS} FROM warning_rules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.as_ref().map(rule_from))
}

pub async fn insert_warning_rule(tx: &mut Tx, r: &WarningRuleRow, who: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO warning_rules (code, name, description, expression, severity, verify_level, deadline_days, cooling_days, raises_colour, active, updated_by, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
    )
    .bind(r.code.clone())
    .bind(r.name.clone())
    .bind(r.description.clone())
    .bind(r.expression.clone())
    .bind(r.severity.clone())
    .bind(r.verify_level.clone())
    .bind(r.deadline_days)
    .bind(r.cooling_days)
    .bind(r.raises_colour.clone())
    .bind(r.active as i64)
    .bind(who.to_string())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

/// False on a stale version (nothing written).
pub async fn update_warning_rule(tx: &mut Tx, r: &WarningRuleRow, who: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE warning_rules SET name=$1, description=$2, expression=$3, severity=$4, verify_level=$5, deadline_days=$6, cooling_days=$7, raises_colour=$8, active=$9, updated_by=$10, updated_at=$11, version = version + 1 \
         WHERE id = $12 AND version = $13",
    )
    .bind(r.name.clone())
    .bind(r.description.clone())
    .bind(r.expression.clone())
    .bind(r.severity.clone())
    .bind(r.verify_level.clone())
    .bind(r.deadline_days)
    .bind(r.cooling_days)
    .bind(r.raises_colour.clone())
    .bind(r.active as i64)
    .bind(who.to_string())
    .bind(now_ts())
    .bind(r.id)
    .bind(r.version)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ----------------------------------------------------------------- sweeps ---

/// Refusal of a second sweep while one runs (unique index `sweeps_one_running`).
pub const SWEEP_BUSY: &str = "已有一个预警排查正在运行，请等待其完成";

/// Starts a sweep over `total` households: its running row, owned by `owner`
/// (the process that runs it). At most one sweep runs at a time, whichever
/// process asks: the database refuses a second running row.
pub async fn create_sweep(db: &Db, who: &str, owner: &str, total: i64) -> Result<i64> {
    let mut tx = db.begin_write().await?;
    let now = now_ts();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sweeps (started_by, started_at, status, owner, heartbeat_at, total) VALUES ($1,$2,'running',$3,$4,$5) RETURNING id",
    )
    .bind(who.to_string())
    .bind(now.clone())
    .bind(owner.to_string())
    .bind(now)
    .bind(total)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| crate::imports::already_running(e, SWEEP_BUSY))?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SweepRow {
    pub id: i64,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// running, done, failed or interrupted (its process died).
    pub status: String,
    /// Active households when it started.
    pub total: i64,
    pub households: i64,
    pub raised: i64,
    pub already_open: i64,
    pub cooling: i64,
    pub errors: i64,
    pub message: String,
    /// full (every active household) or changed (those changed since the
    /// previous sweep).
    pub mode: String,
}

/// Where the registry stood when a sweep started: the last feed record,
/// audit entry and household id, and the day the sweep evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepMarks {
    pub swept_on: String,
    pub feed_mark: i64,
    pub audit_mark: i64,
    pub household_mark: i64,
    /// Of the rules and standards the sweep evaluated.
    pub fingerprint: String,
}

/// The marks as of now (read before the sweep reads anything else, so a
/// change made during the sweep is after them).
pub async fn current_marks(db: &Db, swept_on: &str, fingerprint: &str) -> Result<SweepMarks> {
    let (feed_mark, audit_mark, household_mark): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM feed_records), (SELECT COALESCE(MAX(id), 0) FROM audit_log), (SELECT COALESCE(MAX(id), 0) FROM households)",
    )
    .fetch_one(db.writer())
    .await?;
    Ok(SweepMarks {
        swept_on: swept_on.to_string(),
        feed_mark,
        audit_mark,
        household_mark,
        fingerprint: fingerprint.to_string(),
    })
}

/// Stores a sweep's mode and marks (at its start), and its total when it
/// evaluates only some households.
pub async fn set_sweep_marks(
    db: &Db,
    id: i64,
    mode: &str,
    m: &SweepMarks,
    total: Option<i64>,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    if let Some(total) = total {
        sqlx::query("UPDATE sweeps SET total = $1 WHERE id = $2")
            .bind(total)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE sweeps SET mode = $1, swept_on = $2, feed_mark = $3, audit_mark = $4, household_mark = $5, fingerprint = $6 WHERE id = $7",
    )
    .bind(mode.to_string())
    .bind(m.swept_on.clone())
    .bind(m.feed_mark)
    .bind(m.audit_mark)
    .bind(m.household_mark)
    .bind(m.fingerprint.clone())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The marks of the latest finished sweep, and the day of the latest
/// finished full sweep (None when there is none, or the latest has no marks).
pub async fn previous_sweep(db: &Db) -> Result<(Option<SweepMarks>, Option<String>)> {
    let last: Option<(Option<String>, Option<i64>, Option<i64>, Option<i64>, String)> =
        sqlx::query_as(
            "SELECT swept_on, feed_mark, audit_mark, household_mark, fingerprint FROM sweeps WHERE status = 'done' ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(db.writer())
        .await?;
    let marks = last.and_then(|(on, f, a, h, fp)| {
        Some(SweepMarks {
            swept_on: on?,
            feed_mark: f?,
            audit_mark: a?,
            household_mark: h?,
            fingerprint: fp,
        })
    });
    let full: Option<Option<String>> = sqlx::query_scalar(
        "SELECT MAX(swept_on) FROM sweeps WHERE status = 'done' AND mode = 'full'",
    )
    .fetch_optional(db.writer())
    .await?;
    Ok((marks, full.flatten()))
}

/// The households whose facts may differ from those the previous sweep
/// (`prev`) evaluated: new feed records, any write audited against a
/// household, new households, records entering or leaving a window
/// (`windows`: pairs of (from, to] event dates), members whose age changed
/// (birthdays as MM-DD), and the given extra ids (cooling periods ended).
/// Sorted, without duplicates.
pub async fn changed_households(
    db: &Db,
    prev: &SweepMarks,
    windows: &[(String, String)],
    birthdays: &[String],
    extra: &[i64],
) -> Result<Vec<i64>> {
    let mut ids: std::collections::BTreeSet<i64> = extra.iter().copied().collect();
    let mut add = |v: Vec<i64>| ids.extend(v);
    add(sqlx::query_scalar(
        "SELECT DISTINCT household_id FROM feed_records WHERE id > $1 AND household_id IS NOT NULL",
    )
    .bind(prev.feed_mark)
    .fetch_all(&db.pool)
    .await?);
    add(sqlx::query_scalar(
        "SELECT DISTINCT household_id FROM audit_log WHERE id > $1 AND household_id IS NOT NULL",
    )
    .bind(prev.audit_mark)
    .fetch_all(&db.pool)
    .await?);
    add(
        sqlx::query_scalar("SELECT id FROM households WHERE id > $1")
            .bind(prev.household_mark)
            .fetch_all(&db.pool)
            .await?,
    );
    for (from, to) in windows {
        add(sqlx::query_scalar(
            "SELECT DISTINCT household_id FROM feed_records WHERE event_date > $1 AND event_date <= $2 AND household_id IS NOT NULL",
        )
        .bind(from.clone())
        .bind(to.clone())
        .fetch_all(&db.pool)
        .await?);
    }
    if !birthdays.is_empty() {
        // MM-DD strings of our own making (digits and a dash): safe to inline.
        let list = birthdays
            .iter()
            .filter(|d| d.len() == 5 && d.chars().all(|c| c.is_ascii_digit() || c == '-'))
            .map(|d| format!("'{d}'"))
            .collect::<Vec<_>>()
            .join(",");
        if !list.is_empty() {
            add(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT DISTINCT household_id FROM persons WHERE status = 'alive' AND substr(birth_date, 6, 5) IN ({list})"
            )))
            .fetch_all(&db.pool)
            .await?);
        }
    }
    Ok(ids.into_iter().collect())
}

/// Warnings closed on or after `since`: (household, rule, closed on).
pub async fn closed_since(db: &Db, since: &str) -> Result<Vec<(i64, i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT household_id, rule_id, closed_on FROM warnings WHERE status = 'closed' AND closed_on >= $1",
    )
    .bind(since.to_string())
    .fetch_all(&db.pool)
    .await?)
}

/// What one batch of a sweep counted (the warnings it raises are counted
/// from the list stored with them).
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepCounts {
    pub households: i64,
    pub already_open: i64,
    pub cooling: i64,
    pub errors: i64,
}

/// Refreshes PostgreSQL's statistics of the feed records before a sweep
/// reads them batch by batch. After a large upload and before autovacuum
/// gets to it, the planner does not know the table's size and scans the
/// date index for every batch (measured: 250 ms instead of 6 ms per batch
/// query at 1 M records). ANALYZE samples a fixed 30,000 rows, so it costs
/// a fraction of a second at any size. SQLite plans by its indexes' shape
/// and needs nothing.
pub async fn refresh_feed_statistics(db: &Db) -> Result<()> {
    if db.backend == crate::Backend::Postgres {
        sqlx::query("ANALYZE feed_records")
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Stores one batch of a sweep: its warnings (and the colours they raise) and
/// the sweep's counters, in one transaction, so the counters always equal
/// what is stored. Returns false, writing nothing, when the sweep is no
/// longer running (marked interrupted meanwhile): the caller stops.
pub async fn record_sweep_batch(
    db: &Db,
    sweep_id: i64,
    counts: &SweepCounts,
    list: &[NewWarning],
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let advanced = sqlx::query(
        "UPDATE sweeps SET households = households + $1, raised = raised + $2, already_open = already_open + $3, \
         cooling = cooling + $4, errors = errors + $5, heartbeat_at = $6 WHERE id = $7 AND status = 'running'",
    )
    .bind(counts.households)
    .bind(list.len() as i64)
    .bind(counts.already_open)
    .bind(counts.cooling)
    .bind(counts.errors)
    .bind(now_ts())
    .bind(sweep_id)
    .execute(&mut *tx)
    .await?;
    if advanced.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    write_warnings(&mut tx, db.backend, sweep_id, list).await?;
    tx.commit().await?;
    Ok(true)
}

/// Ends a running sweep (`done` or `failed`); its counters stay as stored.
/// False when it was not running any more.
pub async fn finish_sweep(db: &Db, id: i64, status: &str, message: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE sweeps SET finished_at = $1, status = $2, message = $3 WHERE id = $4 AND status = 'running'",
    )
    .bind(now_ts())
    .bind(status.to_string())
    .bind(message.to_string())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a running sweep interrupted (its process died). False when it was
/// not running.
pub async fn interrupt_sweep(db: &Db, id: i64, message: &str) -> Result<bool> {
    finish_sweep(db, id, "interrupted", message).await
}

/// The running sweep, if any (at most one), with its owner and heartbeat.
pub async fn running_sweep(db: &Db) -> Result<Option<crate::imports::RunningJob>> {
    crate::imports::running_row(db, "sweeps", "started_at").await
}

const S_COLS: &str = "id, started_by, started_at, finished_at, status, total, households, raised, already_open, cooling, errors, message, mode";

fn sweep_from(r: &sqlx::any::AnyRow) -> SweepRow {
    SweepRow {
        id: r.get(0),
        started_by: r.get(1),
        started_at: r.get(2),
        finished_at: r.get(3),
        status: r.get(4),
        total: r.get(5),
        households: r.get(6),
        raised: r.get(7),
        already_open: r.get(8),
        cooling: r.get(9),
        errors: r.get(10),
        message: r.get(11),
        mode: r.get(12),
    }
}

pub async fn sweeps(db: &Db, limit: i64) -> Result<Vec<SweepRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {S_COLS} FROM sweeps ORDER BY id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(sweep_from).collect())
}

/// True when a sweep started at or after `since` (RFC 3339 UTC text) is done.
pub async fn done_sweep_since(db: &Db, since: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sweeps WHERE status = 'done' AND started_at >= $1",
    )
    .bind(since.to_string())
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}

pub async fn sweep(db: &Db, id: i64) -> Result<Option<SweepRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {S_COLS} FROM sweeps WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(sweep_from))
}

/// Open warnings by (household, rule), and the last closing date of closed
/// ones on or after `since` (for the cooling period).
pub async fn warning_state(
    db: &Db,
    since: &str,
) -> Result<(
    std::collections::HashSet<(i64, i64)>,
    HashMap<(i64, i64), String>,
)> {
    let rows = sqlx::query("SELECT household_id, rule_id, status, closed_on FROM warnings WHERE status = 'open' OR closed_on >= $1")
        .bind(since.to_string())
        .fetch_all(&db.pool)
        .await?;
    let mut open = std::collections::HashSet::new();
    let mut closed: HashMap<(i64, i64), String> = HashMap::new();
    for r in &rows {
        let key = (r.get::<i64, _>(0), r.get::<i64, _>(1));
        if r.get::<String, _>(2) == "open" {
            open.insert(key);
        } else if let Some(on) = r.get::<Option<String>, _>(3) {
            let e = closed.entry(key).or_default();
            if on > *e {
                *e = on;
            }
        }
    }
    Ok((open, closed))
}

#[derive(Clone, Debug)]
pub struct NewWarning {
    pub place: HouseholdPlace,
    pub rule_id: i64,
    pub severity: String,
    pub reason: String,
    pub raised_on: String,
    pub due_date: String,
    pub raises_colour: Option<String>,
}

/// Inserts a batch of warnings outside any sweep (one transaction) and raises colours.
pub async fn insert_warnings(db: &Db, sweep_id: i64, list: &[NewWarning]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    write_warnings(&mut tx, db.backend, sweep_id, list).await?;
    tx.commit().await?;
    Ok(())
}

async fn write_warnings(
    tx: &mut Tx,
    backend: crate::Backend,
    sweep_id: i64,
    list: &[NewWarning],
) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<crate::bulk::Val>> = list
        .iter()
        .map(|w| {
            use crate::bulk::Val;
            vec![
                Val::S(w.place.county_code.clone()),
                Val::S(w.place.town_code.clone()),
                Val::S(w.place.village_code.clone()),
                Val::I(w.place.id),
                Val::I(w.rule_id),
                Val::I(sweep_id),
                Val::S(w.severity.clone()),
                Val::S(w.reason.clone()),
                Val::S(w.raised_on.clone()),
                Val::S(w.due_date.clone()),
            ]
        })
        .collect();
    crate::bulk::insert_rows(
        tx,
        backend,
        "warnings",
        &[
            "county_code",
            "town_code",
            "village_code",
            "household_id",
            "rule_id",
            "sweep_id",
            "severity",
            "reason",
            "raised_on",
            "due_date",
        ],
        &rows,
    )
    .await?;
    raise_colours(tx, backend, list).await
}

/// Severity order of the colours: red before yellow before green.
fn colour_rank(c: &str) -> u8 {
    match c {
        "red" => 0,
        "yellow" => 1,
        _ => 2,
    }
}

/// The colour raises of a batch of new warnings, set-based: each household
/// takes the most severe colour its new warnings raise (when more severe
/// than its own), its next visit due by the earliest of their deadlines;
/// an ungraded household enters the plan at that colour. One read, one
/// multi-row update and one multi-row insert per chunk, whatever the batch
/// size (on PostgreSQL a statement per warning was the sweep's bottleneck).
async fn raise_colours(tx: &mut Tx, backend: crate::Backend, list: &[NewWarning]) -> Result<()> {
    use crate::bulk::Val;
    let mut wanted: std::collections::BTreeMap<i64, (&NewWarning, &str, &str)> =
        std::collections::BTreeMap::new();
    for w in list {
        let Some(colour) = w.raises_colour.as_deref() else {
            continue;
        };
        let e = wanted
            .entry(w.place.id)
            .or_insert((w, colour, w.due_date.as_str()));
        if colour_rank(colour) < colour_rank(e.1) {
            e.1 = colour;
        }
        if w.due_date.as_str() < e.2 {
            e.2 = w.due_date.as_str();
        }
    }
    let ids: Vec<i64> = wanted.keys().copied().collect();
    for chunk in ids.chunks(500) {
        // Integers of our own: safe to inline.
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let current: HashMap<i64, (String, String)> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT household_id, colour, next_visit_due FROM monitoring WHERE household_id IN ({list})"
        )))
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
        let now = now_ts();
        let (mut updates, mut inserts) = (Vec::new(), Vec::new());
        for id in chunk {
            let (w, colour, due) = wanted[id];
            match current.get(id) {
                Some((c, next)) if colour_rank(colour) < colour_rank(c) => {
                    let next = if due < next.as_str() {
                        due
                    } else {
                        next.as_str()
                    };
                    updates.push(vec![
                        Val::I(*id),
                        Val::S(colour.to_string()),
                        Val::S(next.to_string()),
                        Val::S(w.raised_on.clone()),
                        Val::S(now.clone()),
                    ]);
                }
                Some(_) => {}
                None => inserts.push(vec![
                    Val::I(*id),
                    Val::S(w.place.county_code.clone()),
                    Val::S(w.place.town_code.clone()),
                    Val::S(w.place.village_code.clone()),
                    Val::S("green".into()),
                    Val::S(colour.to_string()),
                    Val::I(1),
                    Val::S(w.raised_on.clone()),
                    Val::NullS,
                    Val::S(due.to_string()),
                    Val::S(now.clone()),
                ]),
            }
        }
        if !updates.is_empty() {
            let sql = format!(
                "UPDATE monitoring SET colour = v.column2, raised_by_warning = 1, next_visit_due = v.column3, \
                 plan_start = v.column4, updated_at = v.column5 \
                 FROM (VALUES {}) AS v WHERE monitoring.household_id = v.column1",
                crate::bulk::values_placeholders(backend, updates.len(), 5)
            );
            crate::bulk::bind_rows(sqlx::query(sqlx::AssertSqlSafe(sql)), &updates)
                .execute(&mut **tx)
                .await?;
        }
        crate::bulk::insert_rows(
            tx,
            backend,
            "monitoring",
            &[
                "household_id",
                "county_code",
                "town_code",
                "village_code",
                "assessed_colour",
                "colour",
                "raised_by_warning",
                "plan_start",
                "last_visit",
                "next_visit_due",
                "updated_at",
            ],
            &inserts,
        )
        .await?;
    }
    Ok(())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct WarningRow {
    pub id: i64,
    pub household_id: i64,
    pub village_code: String,
    pub village_name: String,
    pub head_name: String,
    pub rule_id: i64,
    pub rule_name: String,
    pub severity: String,
    pub reason: String,
    pub raised_on: String,
    pub due_date: String,
    pub status: String,
    pub check_method: String,
    pub check_findings: String,
    pub outcome: Option<String>,
    pub outcome_note: String,
    pub closed_on: Option<String>,
    pub lead_id: Option<i64>,
}

const W_COLS: &str = "w.id, w.household_id, w.village_code, COALESCE(r.name,''), COALESCE(h.head_name,''), w.rule_id, COALESCE(wr.name,''), w.severity, w.reason, w.raised_on, w.due_date, w.status, w.check_method, w.check_findings, w.outcome, w.outcome_note, w.closed_on, w.lead_id";
const W_FROM: &str = "FROM warnings w LEFT JOIN regions r ON r.code = w.village_code LEFT JOIN households h ON h.id = w.household_id LEFT JOIN warning_rules wr ON wr.id = w.rule_id";

fn warning_from(r: &sqlx::any::AnyRow) -> WarningRow {
    WarningRow {
        id: r.get(0),
        household_id: r.get(1),
        village_code: r.get(2),
        village_name: r.get(3),
        head_name: r.get(4),
        rule_id: r.get(5),
        rule_name: r.get(6),
        severity: r.get(7),
        reason: r.get(8),
        raised_on: r.get(9),
        due_date: r.get(10),
        status: r.get(11),
        check_method: r.get(12),
        check_findings: r.get(13),
        outcome: r.get(14),
        outcome_note: r.get(15),
        closed_on: r.get(16),
        lead_id: r.get(17),
    }
}

/// Warnings in `scope`: `status` '' for all, 'open', 'closed' or 'overdue'
/// (open and past due on `today`); soonest deadline first.
pub async fn warnings(
    db: &Db,
    scope: &Scope,
    status: &str,
    today: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<WarningRow>, i64)> {
    let col = scope.column();
    let cond = match status {
        "open" => "AND w.status = 'open'",
        "closed" => "AND w.status = 'closed'",
        "overdue" => "AND w.status = 'open' AND w.due_date < $2",
        _ => "",
    };
    let with_today = |sql: String| {
        if cond.contains("$2") {
            sql
        } else {
            sql.replace("WHERE", "WHERE $2 = $2 AND")
        }
    };
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(with_today(format!(
        "SELECT COUNT(*) FROM warnings w WHERE w.{col} = $1 {cond}"
    ))))
    .bind(scope.0.as_str().to_string())
    .bind(today.to_string())
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(with_today(format!(
        "SELECT {W_COLS} {W_FROM} WHERE w.{col} = $1 {cond} ORDER BY CASE WHEN w.status = 'open' THEN 0 ELSE 1 END, w.due_date, w.id LIMIT $3 OFFSET $4"
    ))))
    .bind(scope.0.as_str().to_string())
    .bind(today.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    Ok((rows.iter().map(warning_from).collect(), total))
}

pub async fn warning(db: &Db, id: i64) -> Result<Option<WarningRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {W_COLS} {W_FROM} WHERE w.id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.as_ref().map(warning_from))
}

pub async fn warnings_of_household(db: &Db, household_id: i64) -> Result<Vec<WarningRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {W_COLS} {W_FROM} WHERE w.household_id = $1 ORDER BY w.id DESC"
    )))
    .bind(household_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(warning_from).collect())
}

/// Closes an open warning with the offline check and its outcome. False
/// when it was not open (someone closed it first).
#[allow(clippy::too_many_arguments)]
pub async fn close_warning(
    tx: &mut Tx,
    id: i64,
    method: &str,
    findings: &str,
    outcome: &str,
    note: &str,
    user_id: i64,
    today: &str,
    lead_id: Option<i64>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE warnings SET status='closed', check_method=$1, check_findings=$2, outcome=$3, outcome_note=$4, closed_by=$5, closed_on=$6, lead_id=$7 WHERE id=$8 AND status='open'",
    )
    .bind(method.to_string())
    .bind(findings.to_string())
    .bind(outcome.to_string())
    .bind(note.to_string())
    .bind(user_id)
    .bind(today.to_string())
    .bind(lead_id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ------------------------------------------------- grading, plan, visits ---

#[derive(Clone, Debug, serde::Serialize)]
pub struct MonitoringRow {
    pub household_id: i64,
    pub village_code: String,
    pub assessed_colour: String,
    pub colour: String,
    pub raised_by_warning: Option<i64>,
    pub plan_start: String,
    pub last_visit: Option<String>,
    pub next_visit_due: String,
}

const M_COLS: &str = "household_id, village_code, assessed_colour, colour, raised_by_warning, plan_start, last_visit, next_visit_due";

fn monitoring_from(r: &sqlx::any::AnyRow) -> MonitoringRow {
    MonitoringRow {
        household_id: r.get(0),
        village_code: r.get(1),
        assessed_colour: r.get(2),
        colour: r.get(3),
        raised_by_warning: r.get(4),
        plan_start: r.get(5),
        last_visit: r.get(6),
        next_visit_due: r.get(7),
    }
}

/// The latest assessment of a household: (score, breakdown JSON).
pub async fn last_assessment(db: &Db, household_id: i64) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT score, breakdown FROM assessments WHERE household_id = $1 ORDER BY assessed_on DESC, id DESC LIMIT 1",
    )
    .bind(household_id)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn monitoring(db: &Db, household_id: i64) -> Result<Option<MonitoringRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {M_COLS} FROM monitoring WHERE household_id = $1"
    )))
    .bind(household_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.as_ref().map(monitoring_from))
}

/// Stores an assessment and resets the plan: a new assessment ends any
/// colour raised by a warning.
#[allow(clippy::too_many_arguments)]
pub async fn record_assessment(
    tx: &mut Tx,
    place: &HouseholdPlace,
    on: &str,
    user_id: i64,
    score: i64,
    colour: &str,
    breakdown_json: &str,
    input_json: &str,
    next_visit_due: &str,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO assessments (county_code, town_code, village_code, household_id, assessed_on, assessed_by, score, colour, breakdown, input) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
    )
    .bind(place.county_code.clone())
    .bind(place.town_code.clone())
    .bind(place.village_code.clone())
    .bind(place.id)
    .bind(on.to_string())
    .bind(user_id)
    .bind(score)
    .bind(colour.to_string())
    .bind(breakdown_json.to_string())
    .bind(input_json.to_string())
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM monitoring WHERE household_id = $1")
        .bind(place.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO monitoring (household_id, county_code, town_code, village_code, assessed_colour, colour, raised_by_warning, plan_start, last_visit, next_visit_due, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$5,NULL,$6,(SELECT MAX(visit_date) FROM visits WHERE household_id = $1),$7,$8)",
    )
    .bind(place.id)
    .bind(place.county_code.clone())
    .bind(place.town_code.clone())
    .bind(place.village_code.clone())
    .bind(colour.to_string())
    .bind(on.to_string())
    .bind(next_visit_due.to_string())
    .bind(now_ts())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct VisitRow {
    pub id: i64,
    pub household_id: i64,
    pub visit_date: String,
    pub visitor_name: String,
    pub kind: String,
    pub findings: String,
    pub needs: String,
    pub follow_up: String,
}

pub async fn visits(db: &Db, household_id: i64) -> Result<Vec<VisitRow>> {
    let rows = sqlx::query("SELECT id, household_id, visit_date, visitor_name, kind, findings, needs, follow_up FROM visits WHERE household_id = $1 ORDER BY visit_date DESC, id DESC")
        .bind(household_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| VisitRow {
            id: r.get(0),
            household_id: r.get(1),
            visit_date: r.get(2),
            visitor_name: r.get(3),
            kind: r.get(4),
            findings: r.get(5),
            needs: r.get(6),
            follow_up: r.get(7),
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
pub async fn add_visit(
    tx: &mut Tx,
    place: &HouseholdPlace,
    date: &str,
    visitor_id: i64,
    visitor_name: &str,
    kind: &str,
    findings: &str,
    needs: &str,
    follow_up: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO visits (county_code, town_code, village_code, household_id, visit_date, visitor_id, visitor_name, kind, findings, needs, follow_up, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
    )
    .bind(place.county_code.clone())
    .bind(place.town_code.clone())
    .bind(place.village_code.clone())
    .bind(place.id)
    .bind(date.to_string())
    .bind(visitor_id)
    .bind(visitor_name.to_string())
    .bind(kind.to_string())
    .bind(findings.to_string())
    .bind(needs.to_string())
    .bind(follow_up.to_string())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn set_plan(
    tx: &mut Tx,
    household_id: i64,
    last_visit: Option<&str>,
    next_due: &str,
) -> Result<()> {
    sqlx::query("UPDATE monitoring SET last_visit = $1, next_visit_due = $2, updated_at = $3 WHERE household_id = $4")
        .bind(last_visit.map(str::to_string))
        .bind(next_due.to_string())
        .bind(now_ts())
        .bind(household_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Graded households of `scope` whose next visit is due on or before
/// `until`, soonest first (overdue ones lead).
pub async fn visits_due(
    db: &Db,
    scope: &Scope,
    until: &str,
    limit: i64,
) -> Result<Vec<(MonitoringRow, String, String)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT m.household_id, m.village_code, m.assessed_colour, m.colour, m.raised_by_warning, m.plan_start, m.last_visit, m.next_visit_due, COALESCE(h.head_name,''), COALESCE(r.name,'') \
         FROM monitoring m LEFT JOIN households h ON h.id = m.household_id LEFT JOIN regions r ON r.code = m.village_code \
         WHERE m.{} = $1 AND m.next_visit_due <= $2 ORDER BY m.next_visit_due, m.household_id LIMIT $3",
        scope.column()
    )))
    .bind(scope.0.as_str().to_string())
    .bind(until.to_string())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (monitoring_from(r), r.get(8), r.get(9)))
        .collect())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct HelperRow {
    pub id: i64,
    pub level: String,
    pub name: String,
    pub phone: String,
    pub assigned_on: String,
}

pub async fn helpers(db: &Db, household_id: i64) -> Result<Vec<HelperRow>> {
    let rows = sqlx::query("SELECT id, level, name, phone, assigned_on FROM helpers WHERE household_id = $1 AND ended_on IS NULL ORDER BY level, id")
        .bind(household_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| HelperRow {
            id: r.get(0),
            level: r.get(1),
            name: r.get(2),
            phone: r.get(3),
            assigned_on: r.get(4),
        })
        .collect())
}

pub async fn add_helper(
    tx: &mut Tx,
    place: &HouseholdPlace,
    level: &str,
    name: &str,
    phone: &str,
    on: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar("INSERT INTO helpers (county_code, household_id, level, name, phone, assigned_on) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id")
        .bind(place.county_code.clone())
        .bind(place.id)
        .bind(level.to_string())
        .bind(name.to_string())
        .bind(phone.to_string())
        .bind(on.to_string())
        .fetch_one(&mut **tx)
        .await?)
}

// -------------------------------------------------------------- dashboard ---

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Dashboard {
    pub colours: Vec<(String, i64)>,
    pub warnings_raised_30d: i64,
    pub warnings_open: i64,
    pub warnings_overdue: i64,
    pub closed_by_outcome: Vec<(String, i64)>,
    pub visits_due: i64,
    pub visits_missed: i64,
    pub visits_done_30d: i64,
}

pub async fn dashboard(db: &Db, scope: &Scope, today: &str, since: &str) -> Result<Dashboard> {
    let col = scope.column();
    let code = scope.0.as_str().to_string();
    let pairs = |sql: String| {
        let code = code.clone();
        async move {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(code)
                .fetch_all(&db.pool)
                .await?;
            Ok::<_, crate::StoreError>(
                rows.iter()
                    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let one = |sql: String, date: String| {
        let code = code.clone();
        async move {
            let v: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(code)
                .bind(date)
                .fetch_one(&db.pool)
                .await?;
            Ok::<_, crate::StoreError>(v)
        }
    };
    Ok(Dashboard {
        colours: pairs(format!("SELECT colour, COUNT(*) FROM monitoring WHERE {col} = $1 GROUP BY colour")).await?,
        warnings_raised_30d: one(format!("SELECT COUNT(*) FROM warnings WHERE {col} = $1 AND raised_on >= $2"), since.to_string()).await?,
        warnings_open: one(format!("SELECT COUNT(*) FROM warnings WHERE {col} = $1 AND status = 'open' AND $2 = $2"), today.to_string()).await?,
        warnings_overdue: one(format!("SELECT COUNT(*) FROM warnings WHERE {col} = $1 AND status = 'open' AND due_date < $2"), today.to_string()).await?,
        closed_by_outcome: pairs(format!("SELECT outcome, COUNT(*) FROM warnings WHERE {col} = $1 AND status = 'closed' GROUP BY outcome")).await?,
        visits_due: one(format!("SELECT COUNT(*) FROM monitoring WHERE {col} = $1 AND next_visit_due = $2"), today.to_string()).await?,
        visits_missed: one(format!("SELECT COUNT(*) FROM monitoring WHERE {col} = $1 AND next_visit_due < $2"), today.to_string()).await?,
        visits_done_30d: one(format!("SELECT COUNT(*) FROM visits WHERE {col} = $1 AND visit_date >= $2"), since.to_string()).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::mask_ids_in;

    #[test]
    fn id_numbers_inside_texts_are_masked() {
        assert_eq!(mask_ids_in("11010519491231002X12"), "110105**********2X12");
        let masked = mask_ids_in("残疾证号 11010519491231002X12 与第 2 行重复");
        assert!(!masked.contains("19491231"), "{masked}");
        assert!(masked.starts_with("残疾证号 110105"), "{masked}");
        assert_eq!(mask_ids_in("结算单号 JS001"), "结算单号 JS001");
        assert_eq!(mask_ids_in("G110105194912310021"), "G110105********0021");
    }
}

/// One line of the assessment worklist.
#[derive(Clone, Debug)]
pub struct AssessmentDue {
    pub household_id: i64,
    pub head_name: String,
    pub village_name: String,
    pub categories: String,
    /// The last assessment's date and colour; `None`: never assessed.
    pub last: Option<(String, String)>,
}

/// Key households (holding any category) in the scope that were never
/// assessed or whose assessment is older than `assessed_before`: never
/// assessed first, then the oldest. Returns the page and the total.
pub async fn assessments_due(
    db: &Db,
    scope: &Scope,
    assessed_before: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AssessmentDue>, i64)> {
    let col = scope.column();
    // The last assessment is read from the assessments themselves: a
    // warning that raises a colour also moves the plan, but is no assessment.
    let last = "(SELECT MAX(a.assessed_on) FROM assessments a WHERE a.household_id = h.id)";
    let cond = format!(
        "h.{col} = $1 AND h.status = 'active' AND h.categories <> '' AND ({last} IS NULL OR {last} < $2)"
    );
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM households h WHERE {cond}"
    )))
    .bind(scope.0.as_str().to_string())
    .bind(assessed_before.to_string())
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT h.id, h.head_name, COALESCE(r.name, ''), h.categories, {last}, \
         (SELECT a.colour FROM assessments a WHERE a.household_id = h.id ORDER BY a.assessed_on DESC, a.id DESC LIMIT 1) \
         FROM households h LEFT JOIN regions r ON r.code = h.village_code \
         WHERE {cond} ORDER BY CASE WHEN {last} IS NULL THEN 0 ELSE 1 END, {last}, h.id LIMIT $3 OFFSET $4"
    )))
    .bind(scope.0.as_str().to_string())
    .bind(assessed_before.to_string())
    .bind(limit.clamp(1, 500))
    .bind(offset.max(0))
    .fetch_all(&db.pool)
    .await?;
    Ok((
        rows.iter()
            .map(|r| AssessmentDue {
                household_id: r.get(0),
                head_name: r.get(1),
                village_name: r.get(2),
                categories: r.get(3),
                last: match (r.get::<Option<String>, _>(4), r.get::<Option<String>, _>(5)) {
                    (Some(d), Some(c)) => Some((d, c)),
                    _ => None,
                },
            })
            .collect(),
        total,
    ))
}

/// Visit plans in the scope, soonest due first, optionally of one colour
/// and optionally only those already missed (due before `today`).
pub async fn visit_plans(
    db: &Db,
    scope: &Scope,
    colour: Option<&str>,
    missed_before: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<(MonitoringRow, String, String)>, i64)> {
    let mut cond = format!("m.{} = $1", scope.column());
    let mut binds = vec![scope.0.as_str().to_string()];
    if let Some(c) = colour {
        binds.push(c.to_string());
        cond.push_str(&format!(" AND m.colour = ${}", binds.len()));
    }
    if let Some(d) = missed_before {
        binds.push(d.to_string());
        cond.push_str(&format!(" AND m.next_visit_due < ${}", binds.len()));
    }
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM monitoring m WHERE {cond}"
    )));
    for b in &binds {
        q = q.bind(b.clone());
    }
    let total = q.fetch_one(&db.pool).await?;
    let sql = format!(
        "SELECT m.household_id, m.village_code, m.assessed_colour, m.colour, m.raised_by_warning, m.plan_start, m.last_visit, m.next_visit_due, COALESCE(h.head_name,''), COALESCE(r.name,'') \
         FROM monitoring m LEFT JOIN households h ON h.id = m.household_id LEFT JOIN regions r ON r.code = m.village_code \
         WHERE {cond} ORDER BY m.next_visit_due, m.household_id LIMIT {} OFFSET {}",
        limit.clamp(1, 500),
        offset.max(0)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    let rows = q.fetch_all(&db.pool).await?;
    Ok((
        rows.iter()
            .map(|r| (monitoring_from(r), r.get(8), r.get(9)))
            .collect(),
        total,
    ))
}
