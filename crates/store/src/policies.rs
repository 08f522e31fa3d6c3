//! The policy catalogue, 政策找人 runs and their findings, leads, and the batch
//! loader that turns households into rule inputs (also used by the sweep).

use std::collections::HashMap;

use chrono::NaiveDate;
use doudi_rules::facts::{FeedEvent, HouseholdInput, MemberInput};
use doudi_rules::standards::StandardRow;
use sqlx::Row;

use crate::households::Scope;
use crate::{Db, Result, Tx, now_ts};

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PolicyRow {
    #[serde(default)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department: String,
    pub family: String,
    pub conditions: String,
    pub phone: String,
    pub target_groups: String,
    /// Comma-separated situation codes (illness, disability, …).
    pub situations: String,
    pub benefit_form: String,
    pub receipt_key: String,
    /// Comma-separated receipt keys that exclude this one.
    pub excludes: String,
    pub eligibility: String,
    pub amount: String,
    pub self_check: bool,
    pub status: String,
    pub effective_from: String,
    pub effective_to: Option<String>,
    #[serde(default)]
    pub version: i64,
}

impl PolicyRow {
    pub fn excludes_list(&self) -> Vec<String> {
        split_list(&self.excludes)
    }
    pub fn situations_list(&self) -> Vec<String> {
        split_list(&self.situations)
    }
    /// In force on `date` (status active, within its dates).
    pub fn in_force(&self, date: &str) -> bool {
        self.status == "active"
            && self.effective_from.as_str() <= date
            && self.effective_to.as_deref().is_none_or(|to| date <= to)
    }
}

pub fn split_list(s: &str) -> Vec<String> {
    s.split([',', '，', '、'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

const P_COLS: &str = "id, code, name, department, family, conditions, phone, target_groups, situations, benefit_form, receipt_key, excludes, eligibility, amount, self_check, status, effective_from, effective_to, version";

fn policy_from(r: &sqlx::any::AnyRow) -> PolicyRow {
    PolicyRow {
        id: r.get(0),
        code: r.get(1),
        name: r.get(2),
        department: r.get(3),
        family: r.get(4),
        conditions: r.get(5),
        phone: r.get(6),
        target_groups: r.get(7),
        situations: r.get(8),
        benefit_form: r.get(9),
        receipt_key: r.get(10),
        excludes: r.get(11),
        eligibility: r.get(12),
        amount: r.get(13),
        self_check: r.get::<i64, _>(14) != 0,
        status: r.get(15),
        effective_from: r.get(16),
        effective_to: r.get(17),
        version: r.get(18),
    }
}

/// Every policy, ordered by department then name (the catalogue is small:
/// dozens, not thousands, so filtering happens in the caller).
pub async fn policies(db: &Db) -> Result<Vec<PolicyRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {P_COLS} FROM policies ORDER BY department, family, name, id"
    )))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(policy_from).collect())
}

pub async fn policy(db: &Db, id: i64) -> Result<Option<PolicyRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {P_COLS} FROM policies WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(policy_from))
}

/// Inserts a policy whose rules the caller has compiled. Returns its id.
pub async fn insert_policy(tx: &mut Tx, p: &PolicyRow, who: &str) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO policies (code, name, department, family, conditions, phone, target_groups, situations, benefit_form, receipt_key, excludes, eligibility, amount, self_check, status, effective_from, effective_to, updated_by, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING id",
    )
    .bind(p.code.clone())
    .bind(p.name.clone())
    .bind(p.department.clone())
    .bind(p.family.clone())
    .bind(p.conditions.clone())
    .bind(p.phone.clone())
    .bind(p.target_groups.clone())
    .bind(p.situations.clone())
    .bind(p.benefit_form.clone())
    .bind(p.receipt_key.clone())
    .bind(p.excludes.clone())
    .bind(p.eligibility.clone())
    .bind(p.amount.clone())
    .bind(p.self_check as i64)
    .bind(p.status.clone())
    .bind(p.effective_from.clone())
    .bind(p.effective_to.clone())
    .bind(who.to_string())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Updates a policy if nobody changed it since `p.version` was read.
/// Returns false on a stale version (nothing written).
pub async fn update_policy(tx: &mut Tx, p: &PolicyRow, who: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE policies SET name=$1, department=$2, family=$3, conditions=$4, phone=$5, target_groups=$6, situations=$7, benefit_form=$8, receipt_key=$9, excludes=$10, eligibility=$11, amount=$12, self_check=$13, status=$14, effective_from=$15, effective_to=$16, updated_by=$17, updated_at=$18, version = version + 1 \
         WHERE id = $19 AND version = $20",
    )
    .bind(p.name.clone())
    .bind(p.department.clone())
    .bind(p.family.clone())
    .bind(p.conditions.clone())
    .bind(p.phone.clone())
    .bind(p.target_groups.clone())
    .bind(p.situations.clone())
    .bind(p.benefit_form.clone())
    .bind(p.receipt_key.clone())
    .bind(p.excludes.clone())
    .bind(p.eligibility.clone())
    .bind(p.amount.clone())
    .bind(p.self_check as i64)
    .bind(p.status.clone())
    .bind(p.effective_from.clone())
    .bind(p.effective_to.clone())
    .bind(who.to_string())
    .bind(now_ts())
    .bind(p.id)
    .bind(p.version)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every dated standard row (a few hundred at most).
pub async fn standard_rows(db: &Db) -> Result<Vec<StandardRow>> {
    let rows = sqlx::query(
        "SELECT region_code, key, value_fen, effective_from FROM standards ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| StandardRow {
            region_code: r.get(0),
            key: r.get(1),
            value: r.get(2),
            effective_from: r.get(3),
        })
        .collect())
}

/// Where a household sits, for findings and warnings.
#[derive(Clone, Debug)]
pub struct HouseholdPlace {
    pub id: i64,
    pub county_code: String,
    pub town_code: String,
    pub village_code: String,
    pub head_name: String,
}

/// The next `limit` active households of `scope` after id `after`, with
/// everything the rules read. Feed records from the last 400 days come back
/// raw for [`doudi_rules::facts::feed_aggregates`].
pub async fn household_inputs(
    db: &Db,
    scope: &Scope,
    after: i64,
    limit: i64,
    today: NaiveDate,
) -> Result<Vec<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)>> {
    let sql = format!(
        "SELECT id, county_code, town_code, village_code, head_name, residence_village_code, categories FROM households \
         WHERE {} = $1 AND status = 'active' AND id > $2 ORDER BY id LIMIT $3",
        scope.column()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(after)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    households_by_rows(db, rows, today, Feeds::Aggregated).await
}

/// The inputs of the given active households (ids in ascending order; a
/// batch's worth), for a sweep of the households that changed.
pub async fn household_inputs_by_ids(
    db: &Db,
    ids: &[i64],
    today: NaiveDate,
) -> Result<Vec<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Integers of our own: safe to inline.
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, county_code, town_code, village_code, head_name, residence_village_code, categories FROM households \
         WHERE id IN ({list}) AND status = 'active' ORDER BY id"
    )))
    .fetch_all(&db.pool)
    .await?;
    households_by_rows(db, rows, today, Feeds::Aggregated).await
}

/// One household's inputs (the test panel, the self-check, a single re-check).
pub async fn household_input(
    db: &Db,
    household_id: i64,
    today: NaiveDate,
) -> Result<Option<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)>> {
    let rows = sqlx::query(
        "SELECT id, county_code, town_code, village_code, head_name, residence_village_code, categories FROM households WHERE id = $1",
    )
    .bind(household_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(households_by_rows(db, rows, today, Feeds::Records)
        .await?
        .into_iter()
        .next())
}

/// How a load gives the department feeds: a batch of the registry gets each
/// household's aggregates computed by the database (one row per household
/// instead of one per record); a single household also gets its records,
/// for the pages that list them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Feeds {
    Aggregated,
    Records,
}

/// Loads the facts of the households of `rows`. The inputs come back with
/// their feed aggregates set (`HouseholdInput::feeds`); the events are
/// empty unless `feeds` is [`Feeds::Records`].
async fn households_by_rows(
    db: &Db,
    rows: Vec<sqlx::any::AnyRow>,
    today: NaiveDate,
    feeds: Feeds,
) -> Result<Vec<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)> =
        Vec::with_capacity(rows.len());
    let mut index: HashMap<i64, usize> = HashMap::new();
    for r in &rows {
        let id: i64 = r.get(0);
        let village: String = r.get(3);
        let residence: Option<String> = r.get(5);
        let cats: String = r.get(6);
        index.insert(id, out.len());
        out.push((
            HouseholdPlace {
                id,
                county_code: r.get(1),
                town_code: r.get(2),
                village_code: village.clone(),
                head_name: r.get(4),
            },
            HouseholdInput {
                separated: residence
                    .as_deref()
                    .is_some_and(|v| !v.is_empty() && v != village),
                village_code: village,
                categories: split_list(&cats),
                ..Default::default()
            },
            Vec::new(),
        ));
    }
    // Ids are integers from our own query: inlining them is safe and keeps one
    // statement per table per batch on both backends.
    let ids = out
        .iter()
        .map(|o| o.0.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let today_s = today.format("%Y-%m-%d").to_string();

    let persons = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, birth_date, sex, relation, disability_type, disability_grade, illnesses, self_care_unable, employment, schooling, status \
         FROM persons WHERE household_id IN ({ids}) ORDER BY household_id, CASE WHEN relation = 'head' THEN 0 ELSE 1 END, id"
    )))
    .fetch_all(&db.pool)
    .await?;
    for r in &persons {
        let hid: i64 = r.get(0);
        let Some(&i) = index.get(&hid) else { continue };
        let birth: String = r.get(1);
        let illnesses: String = r.get(6);
        out[i].1.members.push(MemberInput {
            birth_date: NaiveDate::parse_from_str(&birth, "%Y-%m-%d").ok(),
            sex: r.get(2),
            relation: r.get(3),
            disability: r.get::<Option<String>, _>(4).unwrap_or_default(),
            disability_grade: r.get::<Option<i64>, _>(5).unwrap_or(0).clamp(0, 4) as u8,
            illnesses: split_list(&illnesses.replace(['；', ';'], ",")),
            self_care_unable: r.get::<i64, _>(7).clamp(0, 63) as u8,
            employment: r.get(8),
            schooling: r.get(9),
            alive: r.get::<String, _>(10) == "alive",
        });
    }

    let incomes = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, CAST(SUM(monthly_fen) AS BIGINT) FROM income_items WHERE household_id IN ({ids}) GROUP BY household_id"
    )))
    .fetch_all(&db.pool)
    .await?;
    for r in &incomes {
        if let Some(&i) = index.get(&r.get::<i64, _>(0)) {
            out[i].1.income_monthly_fen = r.get::<Option<i64>, _>(1).unwrap_or(0);
        }
    }

    let assets = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, kind, value_fen FROM assets WHERE household_id IN ({ids})"
    )))
    .fetch_all(&db.pool)
    .await?;
    for r in &assets {
        if let Some(&i) = index.get(&r.get::<i64, _>(0)) {
            out[i].1.assets.push((r.get(1), r.get(2)));
        }
    }

    let ledger = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, kind, amount_fen, decided_on FROM ledger WHERE household_id IN ({ids}) \
         AND period_start <= $1 AND (period_end IS NULL OR period_end >= $1)"
    )))
    .bind(today_s.clone())
    .fetch_all(&db.pool)
    .await?;
    let year = today_s[..4].to_string();
    for r in &ledger {
        if let Some(&i) = index.get(&r.get::<i64, _>(0)) {
            let kind: String = r.get(1);
            let decided: String = r.get(3);
            if kind == "medical_assistance" && decided.starts_with(&year) {
                out[i].1.medical_assistance_paid_this_year += r.get::<i64, _>(2);
            }
            if !out[i].1.ledger_kinds.contains(&kind) {
                out[i].1.ledger_kinds.push(kind);
            }
        }
    }

    if feeds == Feeds::Aggregated {
        let mut aggs = feed_aggregates_of(db, &ids, today).await?;
        for o in &mut out {
            let a = aggs
                .remove(&o.0.id)
                .unwrap_or_else(doudi_rules::facts::no_feeds);
            o.1 = std::mem::take(&mut o.1).with_aggregates(a);
        }
        return Ok(out);
    }
    let since = (today - chrono::Days::new(400))
        .format("%Y-%m-%d")
        .to_string();
    let feeds = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, kind, event_date, amount_fen, attributes FROM feed_records WHERE household_id IN ({ids}) AND event_date >= $1"
    )))
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    for r in &feeds {
        if let Some(&i) = index.get(&r.get::<i64, _>(0)) {
            let date: String = r.get(2);
            let attributes: String = r.get(4);
            if let Ok(event_date) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") {
                out[i].2.push(FeedEvent {
                    kind: r.get(1),
                    event_date,
                    amount_fen: r.get(3),
                    attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                });
            }
        }
    }
    for o in &mut out {
        o.1 = std::mem::take(&mut o.1).with_feeds(&o.2, today);
    }
    Ok(out)
}

/// The feed aggregates (`doudi_rules::facts::feed_aggregates`) of the
/// households `ids` (a comma-separated list of our own integers), computed
/// by the database: one grouped row per household with records in the last
/// 12 months, plus the utility reports to pick each household's latest
/// balance from. Must agree with the Rust definition record for record
/// (test `store_feed_aggregates_equal_the_rule_definition`).
async fn feed_aggregates_of(
    db: &Db,
    ids: &str,
    today: NaiveDate,
) -> Result<HashMap<i64, std::collections::BTreeMap<String, i64>>> {
    let today_s = today.format("%Y-%m-%d").to_string();
    let year_ago = today
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(today)
        .format("%Y-%m-%d")
        .to_string();
    let days90 = (today - chrono::Days::new(90))
        .format("%Y-%m-%d")
        .to_string();
    let attr = |key: &str| match db.backend {
        crate::Backend::Sqlite => format!("json_extract(attributes, '$.{key}')"),
        crate::Backend::Postgres => format!("(CAST(attributes AS json) ->> '{key}')"),
    };
    // (aggregate name, SQL condition on one record within the year); a
    // `None` amount counts records, `Some` sums the amount.
    let year = "event_date > $2";
    let d90 = "event_date > $3";
    let columns: [(&str, String, bool); 10] = [
        (
            "medical_selfpay_12m",
            format!("kind = 'medical' AND {year}"),
            true,
        ),
        ("deaths_90d", format!("kind = 'death' AND {d90}"), false),
        (
            "unemployed_registered_90d",
            format!(
                "kind = 'unemployment' AND {d90} AND {} = 'registered'",
                attr("status")
            ),
            false,
        ),
        (
            "new_severe_disability_90d",
            format!(
                "kind = 'disability' AND {d90} AND {} IN ('1', '2')",
                attr("grade")
            ),
            false,
        ),
        (
            "vehicles_new_90d",
            format!("kind = 'vehicle' AND {d90}"),
            false,
        ),
        (
            "properties_12m",
            format!("kind = 'property' AND {year}"),
            false,
        ),
        (
            "business_12m",
            format!("kind = 'business' AND {year}"),
            false,
        ),
        (
            "dropouts_12m",
            format!(
                "kind = 'education' AND {year} AND {} = 'dropped_out'",
                attr("status")
            ),
            false,
        ),
        (
            "disaster_12m",
            format!("kind = 'disaster' AND {year}"),
            false,
        ),
        (
            "hukou_out_90d",
            format!(
                "kind = 'hukou' AND {d90} AND {} = 'move_out'",
                attr("change_type")
            ),
            false,
        ),
    ];
    let select = columns
        .iter()
        .map(|(_, cond, sum)| {
            let value = if *sum { "COALESCE(amount_fen, 0)" } else { "1" };
            format!("CAST(SUM(CASE WHEN {cond} THEN {value} ELSE 0 END) AS BIGINT)")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, {select} FROM feed_records \
         WHERE household_id IN ({ids}) AND event_date > $2 AND event_date <= $1 GROUP BY household_id"
    )))
    .bind(today_s.clone())
    .bind(year_ago.clone())
    .bind(days90)
    .fetch_all(&db.pool)
    .await?;
    let mut out: HashMap<i64, std::collections::BTreeMap<String, i64>> = HashMap::new();
    for r in &rows {
        let mut a = doudi_rules::facts::no_feeds();
        for (i, (name, _, _)) in columns.iter().enumerate() {
            a.insert(
                name.to_string(),
                r.get::<Option<i64>, _>(i + 1).unwrap_or(0),
            );
        }
        out.insert(r.get(0), a);
    }
    // Arrears are a balance: the latest report of the year (the larger of
    // two on one day), as in the Rust definition.
    let utility = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT household_id, event_date, COALESCE(amount_fen, 0) FROM feed_records \
         WHERE household_id IN ({ids}) AND kind = 'utility' AND event_date > $2 AND event_date <= $1"
    )))
    .bind(today_s)
    .bind(year_ago)
    .fetch_all(&db.pool)
    .await?;
    let mut latest: HashMap<i64, (String, i64)> = HashMap::new();
    for r in &utility {
        let (hid, day, amount): (i64, String, i64) = (r.get(0), r.get(1), r.get(2));
        let e = latest.entry(hid).or_insert_with(|| (day.clone(), amount));
        if (day.as_str(), amount) > (e.0.as_str(), e.1) {
            *e = (day, amount);
        }
    }
    for (hid, (_, amount)) in latest {
        out.entry(hid)
            .or_insert_with(doudi_rules::facts::no_feeds)
            .insert("utility_arrears".to_string(), amount);
    }
    Ok(out)
}

// ------------------------------------------------------------ finder runs ---

#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub scope_code: String,
    pub policy_id: Option<i64>,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub missed: i64,
    pub excessive: i64,
    pub duplicate: i64,
    pub errors: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub message: String,
}

const R_COLS: &str = "id, scope_code, policy_id, status, total, processed, missed, excessive, duplicate, errors, started_at, finished_at, message";

fn run_from(r: &sqlx::any::AnyRow) -> RunRow {
    RunRow {
        id: r.get(0),
        scope_code: r.get(1),
        policy_id: r.get(2),
        status: r.get(3),
        total: r.get(4),
        processed: r.get(5),
        missed: r.get(6),
        excessive: r.get(7),
        duplicate: r.get(8),
        errors: r.get(9),
        started_at: r.get(10),
        finished_at: r.get(11),
        message: r.get(12),
    }
}

pub async fn count_households(db: &Db, scope: &Scope) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM households WHERE {} = $1 AND status = 'active'",
        scope.column()
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .fetch_one(&db.pool)
        .await?)
}

/// Refusal of a second run while one runs (unique index `finder_runs_one_running`).
pub const RUN_BUSY: &str = "已有一个政策找人正在运行，请等待其完成";

/// Starts a run: its running row, owned by `owner` (the process that runs
/// it). At most one run at a time, whichever process asks.
pub async fn create_run(
    db: &Db,
    scope: &Scope,
    policy_id: Option<i64>,
    total: i64,
    user_id: i64,
    owner: &str,
) -> Result<i64> {
    let mut tx = db.begin_write().await?;
    let now = now_ts();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO finder_runs (scope_code, policy_id, status, total, started_by, started_at, owner, heartbeat_at) VALUES ($1,$2,'running',$3,$4,$5,$6,$7) RETURNING id",
    )
    .bind(scope.0.as_str().to_string())
    .bind(policy_id)
    .bind(total)
    .bind(user_id)
    .bind(now.clone())
    .bind(owner.to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| crate::imports::already_running(e, RUN_BUSY))?;
    tx.commit().await?;
    Ok(id)
}

/// One finding about one household, ready to store.
#[derive(Clone, Debug)]
pub struct NewFinding {
    pub place: HouseholdPlace,
    pub policy_id: i64,
    pub kind: String,
    pub reason: String,
    pub amount_fen: Option<i64>,
}

/// Stores a batch of findings and advances the run's counters, in one
/// transaction so the progress shown always matches the stored findings.
/// Returns false, writing nothing, when the run is no longer running (marked
/// interrupted meanwhile): the caller stops.
pub async fn record_batch(
    db: &Db,
    run_id: i64,
    processed: i64,
    findings: &[NewFinding],
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let count = |k: &str| findings.iter().filter(|f| f.kind == k).count() as i64;
    let advanced = sqlx::query(
        "UPDATE finder_runs SET processed = processed + $1, missed = missed + $2, excessive = excessive + $3, duplicate = duplicate + $4, errors = errors + $5, heartbeat_at = $6 \
         WHERE id = $7 AND status = 'running'",
    )
    .bind(processed)
    .bind(count("missed"))
    .bind(count("excessive"))
    .bind(count("duplicate"))
    .bind(count("error"))
    .bind(now_ts())
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    if advanced.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let rows: Vec<Vec<crate::bulk::Val>> = findings
        .iter()
        .map(|f| {
            use crate::bulk::Val;
            vec![
                Val::I(run_id),
                Val::S(f.place.county_code.clone()),
                Val::S(f.place.town_code.clone()),
                Val::S(f.place.village_code.clone()),
                Val::I(f.place.id),
                Val::I(f.policy_id),
                Val::S(f.kind.clone()),
                Val::S(f.reason.clone()),
                f.amount_fen.map(Val::I).unwrap_or(Val::NullI),
            ]
        })
        .collect();
    crate::bulk::insert_rows(
        &mut tx,
        db.backend,
        "findings",
        &[
            "run_id",
            "county_code",
            "town_code",
            "village_code",
            "household_id",
            "policy_id",
            "kind",
            "reason",
            "amount_fen",
        ],
        &rows,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Ends a running run (`done`, `failed` or `interrupted`). False when it was
/// not running any more.
pub async fn finish_run(db: &Db, run_id: i64, status: &str, message: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE finder_runs SET status = $1, message = $2, finished_at = $3 WHERE id = $4 AND status = 'running'",
    )
    .bind(status.to_string())
    .bind(message.to_string())
    .bind(now_ts())
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The running run, if any (at most one), with its owner and heartbeat.
pub async fn running_run(db: &Db) -> Result<Option<crate::imports::RunningJob>> {
    crate::imports::running_row(db, "finder_runs", "started_at").await
}

pub async fn run(db: &Db, id: i64) -> Result<Option<RunRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {R_COLS} FROM finder_runs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(run_from))
}

/// Runs whose scope lies inside `scope` (a town sees its own and its
/// villages' runs; the district sees all).
pub async fn runs(db: &Db, scope: &Scope, limit: i64) -> Result<Vec<RunRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {R_COLS} FROM finder_runs WHERE scope_code LIKE $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(format!("{}%", scope.0.as_str()))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(run_from).collect())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FindingRow {
    pub id: i64,
    pub household_id: i64,
    pub village_code: String,
    pub village_name: String,
    pub head_name: String,
    pub policy_id: i64,
    pub policy_name: String,
    pub kind: String,
    pub reason: String,
    pub amount_fen: Option<i64>,
    pub lead_id: Option<i64>,
}

/// Findings of a run within `scope`, optionally of one kind, paginated.
pub async fn findings(
    db: &Db,
    run_id: i64,
    scope: &Scope,
    kind: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<FindingRow>, i64)> {
    let col = scope.column();
    let kind_clause = "AND ($3 = '' OR f.kind = $3)";
    let base = format!("FROM findings f WHERE f.run_id = $1 AND f.{col} = $2 {kind_clause}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {base}")))
        .bind(run_id)
        .bind(scope.0.as_str().to_string())
        .bind(kind.unwrap_or("").to_string())
        .fetch_one(&db.pool)
        .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT f.id, f.household_id, f.village_code, COALESCE(r.name, ''), COALESCE(h.head_name, ''), f.policy_id, COALESCE(p.name, ''), f.kind, f.reason, f.amount_fen, f.lead_id \
         FROM findings f LEFT JOIN households h ON h.id = f.household_id LEFT JOIN regions r ON r.code = f.village_code LEFT JOIN policies p ON p.id = f.policy_id \
         WHERE f.run_id = $1 AND f.{col} = $2 {kind_clause} ORDER BY f.village_code, f.household_id, f.id LIMIT $4 OFFSET $5"
    )))
    .bind(run_id)
    .bind(scope.0.as_str().to_string())
    .bind(kind.unwrap_or("").to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    Ok((
        rows.iter()
            .map(|r| FindingRow {
                id: r.get(0),
                household_id: r.get(1),
                village_code: r.get(2),
                village_name: r.get(3),
                head_name: r.get(4),
                policy_id: r.get(5),
                policy_name: r.get(6),
                kind: r.get(7),
                reason: r.get(8),
                amount_fen: r.get(9),
                lead_id: r.get(10),
            })
            .collect(),
        total,
    ))
}

// ------------------------------------------------------------------ leads ---

#[derive(Clone, Debug, serde::Serialize)]
pub struct LeadRow {
    pub id: i64,
    pub household_id: i64,
    pub village_code: String,
    pub village_name: String,
    pub head_name: String,
    pub source: String,
    pub kind: String,
    pub policy_name: String,
    pub reason: String,
    pub status: String,
    pub due_date: Option<String>,
    pub created_at: String,
}

/// A lead for the responsible village: `kind` is `discovery` (possibly
/// eligible: help them apply) or `recheck` (possibly no longer eligible).
#[allow(clippy::too_many_arguments)]
pub async fn create_lead(
    tx: &mut Tx,
    place: &HouseholdPlace,
    source: &str,
    kind: &str,
    policy_id: Option<i64>,
    reason: &str,
    due_date: Option<&str>,
    user_id: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO leads (county_code, town_code, village_code, household_id, source, kind, policy_id, reason, due_date, created_by, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
    )
    .bind(place.county_code.clone())
    .bind(place.town_code.clone())
    .bind(place.village_code.clone())
    .bind(place.id)
    .bind(source.to_string())
    .bind(kind.to_string())
    .bind(policy_id)
    .bind(reason.to_string())
    .bind(due_date.map(str::to_string))
    .bind(user_id)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// The finding (with its household's place) if it lies in `scope`.
pub async fn finding_in_scope(
    db: &Db,
    scope: &Scope,
    id: i64,
) -> Result<Option<(NewFinding, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT f.household_id, f.county_code, f.town_code, f.village_code, f.policy_id, f.kind, f.reason, f.amount_fen, f.lead_id, COALESCE(h.head_name,'') \
         FROM findings f LEFT JOIN households h ON h.id = f.household_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let village: String = r.get(3);
    if !scope.covers(&village) {
        return Ok(None);
    }
    Ok(Some((
        NewFinding {
            place: HouseholdPlace {
                id: r.get(0),
                county_code: r.get(1),
                town_code: r.get(2),
                village_code: village,
                head_name: r.get(9),
            },
            policy_id: r.get(4),
            kind: r.get(5),
            reason: r.get(6),
            amount_fen: r.get(7),
        },
        r.get(8),
    )))
}

/// The status of the run a finding belongs to.
pub async fn finding_run_status(db: &Db, finding_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT r.status FROM findings f JOIN finder_runs r ON r.id = f.run_id WHERE f.id = $1",
    )
    .bind(finding_id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Links a finding to its lead, once, and only if its run is done: a finding
/// of a running, failed or interrupted run is part of an incomplete result.
pub async fn link_finding_lead(tx: &mut Tx, finding_id: i64, lead_id: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE findings SET lead_id = $1 WHERE id = $2 AND lead_id IS NULL AND run_id IN (SELECT id FROM finder_runs WHERE status = 'done')")
        .bind(lead_id)
        .bind(finding_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Leads in `scope`, open first, paginated.
pub async fn leads(
    db: &Db,
    scope: &Scope,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<LeadRow>, i64)> {
    let col = scope.column();
    let status_clause = "AND ($2 = '' OR l.status = $2)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM leads l WHERE l.{col} = $1 {status_clause}"
    )))
    .bind(scope.0.as_str().to_string())
    .bind(status.unwrap_or("").to_string())
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT l.id, l.household_id, l.village_code, COALESCE(r.name,''), COALESCE(h.head_name,''), l.source, l.kind, COALESCE(p.name,''), l.reason, l.status, l.due_date, l.created_at \
         FROM leads l LEFT JOIN households h ON h.id = l.household_id LEFT JOIN regions r ON r.code = l.village_code LEFT JOIN policies p ON p.id = l.policy_id \
         WHERE l.{col} = $1 {status_clause} ORDER BY CASE WHEN l.status = 'open' THEN 0 ELSE 1 END, l.due_date, l.id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(scope.0.as_str().to_string())
    .bind(status.unwrap_or("").to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    Ok((
        rows.iter()
            .map(|r| LeadRow {
                id: r.get(0),
                household_id: r.get(1),
                village_code: r.get(2),
                village_name: r.get(3),
                head_name: r.get(4),
                source: r.get(5),
                kind: r.get(6),
                policy_name: r.get(7),
                reason: r.get(8),
                status: r.get(9),
                due_date: r.get(10),
                created_at: r.get(11),
            })
            .collect(),
        total,
    ))
}

pub async fn close_lead(tx: &mut Tx, id: i64, note: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE leads SET status = 'closed', closed_at = $1, closed_note = $2 WHERE id = $3 AND status = 'open'")
        .bind(now_ts())
        .bind(note.to_string())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The county (district) codes that hold households: whole-registry runs go
/// county by county.
pub async fn counties(db: &Db) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT county_code FROM households ORDER BY county_code")
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Where a finding's household is (for refusing and auditing out-of-scope access).
pub async fn finding_village(db: &Db, id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT village_code FROM findings WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// A lead's village, household and status.
pub async fn lead_place(db: &Db, id: i64) -> Result<Option<(String, i64, String)>> {
    Ok(
        sqlx::query_as("SELECT village_code, household_id, status FROM leads WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}
