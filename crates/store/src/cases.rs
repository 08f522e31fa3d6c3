//! Applications and their assistance items, signed steps, attachments, public notices,
//! objections, referrals, the assistance ledger and loaded calendars.
//!
//! The workflow rules live in `doudi_domain::workflow`; this module stores the item's
//! state (`state_json`, the source of truth) plus the columns that queries need
//! (current step, its role and due date), and writes an audit entry with every change.

use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{self, AuditActor, AuditEntry};
use crate::households::{Scope, Scoped};
use crate::{Db, Result, StoreError, Tx, now_ts};

fn scope_column(scope: &Scope, prefix: &str) -> String {
    let col = match scope.0.level() {
        doudi_domain::RegionLevel::County => "county_code",
        doudi_domain::RegionLevel::Town => "town_code",
        doudi_domain::RegionLevel::Village => "village_code",
    };
    format!("{prefix}{col}")
}

fn codes(village: &str) -> (String, String, String) {
    (
        village[..6].to_string(),
        village[..9].to_string(),
        village.to_string(),
    )
}

// ---------------------------------------------------------------- applications

#[derive(Clone, Debug)]
pub struct NewApplication {
    pub household_id: i64,
    pub village_code: String,
    pub applicant_person_id: Option<i64>,
    pub proxy_name: String,
    pub channel: String,
    pub situation: String,
    pub separate_registration: bool,
    pub created_by: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ApplicationRow {
    pub id: i64,
    pub village_code: String,
    pub household_id: i64,
    pub applicant_person_id: Option<i64>,
    pub proxy_name: String,
    pub channel: String,
    pub situation: String,
    pub separate_registration: bool,
    pub created_by: i64,
    pub created_at: String,
}

pub async fn create_application(
    tx: &mut Tx,
    actor: &AuditActor,
    a: &NewApplication,
) -> Result<i64> {
    let (county, town, village) = codes(&a.village_code);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO applications (county_code, town_code, village_code, household_id, applicant_person_id, proxy_name, channel, \
         situation, separate_registration, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
    )
    .bind(county)
    .bind(town)
    .bind(village.clone())
    .bind(a.household_id)
    .bind(a.applicant_person_id)
    .bind(a.proxy_name.clone())
    .bind(a.channel.clone())
    .bind(a.situation.clone())
    .bind(a.separate_registration as i64)
    .bind(a.created_by)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "create",
            entity: "application",
            entity_id: id.to_string(),
            household_id: Some(a.household_id),
            region_code: &village,
            before: None,
            after: Some(json!({"channel": a.channel, "proxy": a.proxy_name, "separate_registration": a.separate_registration})),
            detail: format!("受理申请 #{id}"),
        },
    )
    .await?;
    Ok(id)
}

pub async fn get_application(db: &Db, scope: &Scope, id: i64) -> Result<Scoped<ApplicationRow>> {
    let r = sqlx::query(
        "SELECT id, village_code, household_id, applicant_person_id, proxy_name, channel, situation, separate_registration, created_by, created_at \
         FROM applications WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match r {
        None => Scoped::Missing,
        Some(r) => {
            let a = ApplicationRow {
                id: r.get(0),
                village_code: r.get(1),
                household_id: r.get(2),
                applicant_person_id: r.get(3),
                proxy_name: r.get(4),
                channel: r.get(5),
                situation: r.get(6),
                separate_registration: r.get::<i64, _>(7) != 0,
                created_by: r.get(8),
                created_at: r.get(9),
            };
            if scope.covers(&a.village_code) {
                Scoped::Found(a)
            } else {
                Scoped::OutOfScope {
                    village_code: a.village_code,
                }
            }
        }
    })
}

// ---------------------------------------------------------------- items

/// The queryable projection of an item's workflow state.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ItemColumns {
    pub kind: String,
    pub department: String,
    pub step: Option<String>,
    pub step_role: Option<String>,
    pub outcome: Option<String>,
    pub step_started: String,
    pub step_due: String,
    pub item_started: String,
    pub item_due: Option<String>,
    pub ended_on: Option<String>,
    /// Comma-separated flags: extended, escalated, separate_registration, pending_supplement …
    pub flags: String,
    pub amount_fen: Option<i64>,
    pub state_json: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ItemRow {
    pub id: i64,
    pub application_id: i64,
    pub household_id: i64,
    pub village_code: String,
    pub town_code: String,
    pub cols: ItemColumns,
    pub version: i64,
    pub updated_at: String,
    /// Filled by list queries: head of household and village name.
    pub head_name: String,
    pub village_name: String,
}

const I_COLS: &str = "i.id, i.application_id, i.household_id, i.village_code, i.town_code, i.kind, i.department, i.step, i.step_role, i.outcome, \
    i.step_started, i.step_due, i.item_started, i.item_due, i.ended_on, i.flags, i.amount_fen, i.state_json, i.version, i.updated_at, \
    COALESCE(h.head_name, ''), COALESCE(r.name, '')";
const I_FROM: &str = "case_items i LEFT JOIN households h ON h.id = i.household_id LEFT JOIN regions r ON r.code = i.village_code";

fn item_from_row(r: AnyRow) -> ItemRow {
    ItemRow {
        id: r.get(0),
        application_id: r.get(1),
        household_id: r.get(2),
        village_code: r.get(3),
        town_code: r.get(4),
        cols: ItemColumns {
            kind: r.get(5),
            department: r.get(6),
            step: r.get(7),
            step_role: r.get(8),
            outcome: r.get(9),
            step_started: r.get(10),
            step_due: r.get(11),
            item_started: r.get(12),
            item_due: r.get(13),
            ended_on: r.get(14),
            flags: r.get(15),
            amount_fen: r.get(16),
            state_json: r.get(17),
        },
        version: r.get(18),
        updated_at: r.get(19),
        head_name: r.get(20),
        village_name: r.get(21),
    }
}

pub async fn insert_item(
    tx: &mut Tx,
    actor: &AuditActor,
    application_id: i64,
    household_id: i64,
    village_code: &str,
    c: &ItemColumns,
) -> Result<i64> {
    let (county, town, village) = codes(village_code);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO case_items (county_code, town_code, village_code, application_id, household_id, kind, department, step, step_role, outcome, \
         step_started, step_due, item_started, item_due, ended_on, flags, amount_fen, state_json, version, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,1,$19) RETURNING id",
    )
    .bind(county)
    .bind(town)
    .bind(village.clone())
    .bind(application_id)
    .bind(household_id)
    .bind(c.kind.clone())
    .bind(c.department.clone())
    .bind(c.step.clone())
    .bind(c.step_role.clone())
    .bind(c.outcome.clone())
    .bind(c.step_started.clone())
    .bind(c.step_due.clone())
    .bind(c.item_started.clone())
    .bind(c.item_due.clone())
    .bind(c.ended_on.clone())
    .bind(c.flags.clone())
    .bind(c.amount_fen)
    .bind(c.state_json.clone())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "create",
            entity: "case_item",
            entity_id: id.to_string(),
            household_id: Some(household_id),
            region_code: &village,
            before: None,
            after: Some(json!({"kind": c.kind, "step": c.step, "due": c.step_due})),
            detail: format!("申请 #{application_id} 新增救助事项 #{id}"),
        },
    )
    .await?;
    Ok(id)
}

pub async fn get_item(db: &Db, scope: &Scope, id: i64) -> Result<Scoped<ItemRow>> {
    let sql = format!("SELECT {I_COLS} FROM {I_FROM} WHERE i.id = $1");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match r.map(item_from_row) {
        None => Scoped::Missing,
        Some(i) if scope.covers(&i.village_code) => Scoped::Found(i),
        Some(i) => Scoped::OutOfScope {
            village_code: i.village_code,
        },
    })
}

/// A signed step: who acted, when, with what opinion and signatures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepRecord {
    pub step: String,
    pub action: String,
    pub to_step: Option<String>,
    pub acted_on: String,
    pub signatures: String,
    pub opinion: String,
    pub amount_fen: Option<i64>,
}

/// Saves a new workflow state with an optimistic version check and signs the step.
pub async fn advance_item(
    tx: &mut Tx,
    actor: &AuditActor,
    item: &ItemRow,
    c: &ItemColumns,
    step: &StepRecord,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE case_items SET step=$1, step_role=$2, outcome=$3, step_started=$4, step_due=$5, item_due=$6, ended_on=$7, flags=$8, \
         amount_fen=$9, state_json=$10, version=version+1, updated_at=$11 WHERE id=$12 AND version=$13",
    )
    .bind(c.step.clone())
    .bind(c.step_role.clone())
    .bind(c.outcome.clone())
    .bind(c.step_started.clone())
    .bind(c.step_due.clone())
    .bind(c.item_due.clone())
    .bind(c.ended_on.clone())
    .bind(c.flags.clone())
    .bind(c.amount_fen)
    .bind(c.state_json.clone())
    .bind(now_ts())
    .bind(item.id)
    .bind(item.version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该事项已被他人办理，请刷新页面查看最新进度".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO case_steps (county_code, item_id, step, action, to_step, acted_on, user_id, username, role, signatures, opinion, amount_fen, at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(item.village_code[..6].to_string())
    .bind(item.id)
    .bind(step.step.clone())
    .bind(step.action.clone())
    .bind(step.to_step.clone())
    .bind(step.acted_on.clone())
    .bind(actor.user_id)
    .bind(actor.username.clone())
    .bind(actor.role.clone())
    .bind(step.signatures.clone())
    .bind(step.opinion.clone())
    .bind(step.amount_fen)
    .bind(now_ts())
    .execute(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "case_step",
            entity: "case_item",
            entity_id: item.id.to_string(),
            household_id: Some(item.household_id),
            region_code: &item.village_code,
            before: Some(json!({"step": item.cols.step, "outcome": item.cols.outcome})),
            after: Some(json!({"step": c.step, "outcome": c.outcome, "action": step.action})),
            detail: format!(
                "事项 #{}：{} → {}",
                item.id,
                step.step,
                step.to_step
                    .clone()
                    .unwrap_or_else(|| c.outcome.clone().unwrap_or_default())
            ),
        },
    )
    .await
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct StepRow {
    pub step: String,
    pub action: String,
    pub to_step: Option<String>,
    pub acted_on: String,
    pub username: String,
    pub role: String,
    pub signatures: String,
    pub opinion: String,
    pub amount_fen: Option<i64>,
    pub at: String,
}

pub async fn steps(db: &Db, item_id: i64) -> Result<Vec<StepRow>> {
    let rows = sqlx::query(
        "SELECT step, action, to_step, acted_on, username, role, signatures, opinion, amount_fen, at FROM case_steps WHERE item_id = $1 ORDER BY id",
    )
    .bind(item_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StepRow {
            step: r.get(0),
            action: r.get(1),
            to_step: r.get(2),
            acted_on: r.get(3),
            username: r.get(4),
            role: r.get(5),
            signatures: r.get(6),
            opinion: r.get(7),
            amount_fen: r.get(8),
            at: r.get(9),
        })
        .collect())
}

/// The inbox: open steps waiting for `role` in the scope, soonest deadline first.
pub async fn inbox(db: &Db, scope: &Scope, role: &str, limit: i64) -> Result<Vec<ItemRow>> {
    let col = scope_column(scope, "i.");
    let sql = format!(
        "SELECT {I_COLS} FROM {I_FROM} WHERE i.step_role = $1 AND i.county_code = $2 AND {col} = $3 AND i.step IS NOT NULL \
         ORDER BY i.step_due, i.id LIMIT {}",
        limit.clamp(1, 1000)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(role.to_string())
        .bind(scope.0.county().to_string())
        .bind(scope.0.as_str().to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

/// Department items at a step for the department's liaison, addressed to
/// that department (by its name) within the liaison's jurisdiction, soonest
/// deadline first.
pub async fn inbox_of_department(
    db: &Db,
    scope: &Scope,
    department: &str,
    limit: i64,
) -> Result<Vec<ItemRow>> {
    let col = scope_column(scope, "i.");
    let sql = format!(
        "SELECT {I_COLS} FROM {I_FROM} WHERE i.step_role = 'dept_liaison' AND i.department = $1 AND {col} = $2 AND i.step IS NOT NULL \
         ORDER BY i.step_due, i.id LIMIT {}",
        limit.clamp(1, 1000)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(department.to_string())
        .bind(scope.0.as_str().to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

/// Open items in the scope whose current step is past its deadline (visible up the tree).
pub async fn overdue(db: &Db, scope: &Scope, today: &str, limit: i64) -> Result<Vec<ItemRow>> {
    let col = scope_column(scope, "i.");
    let sql = format!(
        "SELECT {I_COLS} FROM {I_FROM} WHERE {col} = $1 AND i.step IS NOT NULL AND i.step_due < $2 ORDER BY i.step_due, i.id LIMIT {}",
        limit.clamp(1, 5000)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(today.to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

/// Whether the household has items, ledger lines and referrals at all: one
/// probe, so that a file view of a household without any (most of them)
/// costs one query instead of three.
pub async fn household_case_presence(db: &Db, household_id: i64) -> Result<(bool, bool, bool)> {
    let (items, ledger, referrals): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM case_items WHERE household_id = $1 LIMIT 1) a), \
                (SELECT COUNT(*) FROM (SELECT 1 FROM ledger WHERE household_id = $1 LIMIT 1) b), \
                (SELECT COUNT(*) FROM (SELECT 1 FROM referrals WHERE household_id = $1 LIMIT 1) c)",
    )
    .bind(household_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((items > 0, ledger > 0, referrals > 0))
}

pub async fn items_of_household(db: &Db, household_id: i64) -> Result<Vec<ItemRow>> {
    let sql = format!("SELECT {I_COLS} FROM {I_FROM} WHERE i.household_id = $1 ORDER BY i.id DESC");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(household_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

pub async fn items_of_application(db: &Db, application_id: i64) -> Result<Vec<ItemRow>> {
    let sql = format!("SELECT {I_COLS} FROM {I_FROM} WHERE i.application_id = $1 ORDER BY i.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(application_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

/// Ended items in the scope (for handling-time reports).
pub async fn ended_items(db: &Db, scope: &Scope, from: &str, to: &str) -> Result<Vec<ItemRow>> {
    let col = scope_column(scope, "i.");
    let sql = format!(
        "SELECT {I_COLS} FROM {I_FROM} WHERE {col} = $1 AND i.ended_on >= $2 AND i.ended_on <= $3 ORDER BY i.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(item_from_row).collect())
}

// ---------------------------------------------------------------- attachments

pub const MAX_ATTACHMENT_BYTES: usize = doudi_domain::attachment::MAX_BYTES;

pub async fn add_attachment(
    tx: &mut Tx,
    application_id: i64,
    village_code: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    user_id: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO attachments (county_code, application_id, filename, content_type, size_bytes, bytes, uploaded_by, uploaded_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
    )
    .bind(village_code[..6].to_string())
    .bind(application_id)
    .bind(filename.to_string())
    .bind(content_type.to_string())
    .bind(bytes.len() as i64)
    .bind(bytes.to_vec())
    .bind(user_id)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AttachmentMeta {
    pub id: i64,
    pub application_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub uploaded_at: String,
}

pub async fn attachments(db: &Db, application_id: i64) -> Result<Vec<AttachmentMeta>> {
    let rows = sqlx::query("SELECT id, application_id, filename, content_type, size_bytes, uploaded_at FROM attachments WHERE application_id = $1 ORDER BY id")
        .bind(application_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| AttachmentMeta {
            id: r.get(0),
            application_id: r.get(1),
            filename: r.get(2),
            content_type: r.get(3),
            size_bytes: r.get(4),
            uploaded_at: r.get(5),
        })
        .collect())
}

pub async fn attachment_bytes(db: &Db, id: i64) -> Result<Option<(AttachmentMeta, Vec<u8>)>> {
    let r = sqlx::query("SELECT id, application_id, filename, content_type, size_bytes, uploaded_at, bytes FROM attachments WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(|r| {
        (
            AttachmentMeta {
                id: r.get(0),
                application_id: r.get(1),
                filename: r.get(2),
                content_type: r.get(3),
                size_bytes: r.get(4),
                uploaded_at: r.get(5),
            },
            r.get::<Vec<u8>, _>(6),
        )
    }))
}

// ---------------------------------------------------------------- notices

#[derive(Clone, Debug, serde::Serialize)]
pub struct NoticeRow {
    pub id: i64,
    pub village_code: String,
    pub village_name: String,
    pub item_id: i64,
    pub kind: String,
    pub title: String,
    pub masked_name: String,
    pub household_size: i64,
    pub item_label: String,
    pub amount_fen: Option<i64>,
    pub reason: String,
    pub start_date: String,
    pub end_date: String,
    pub status: String,
    /// The random part of its public address (/public/notices/{token}.pdf).
    pub public_token: String,
}

#[derive(Clone, Debug)]
pub struct NewNotice {
    pub village_code: String,
    pub item_id: i64,
    pub kind: String,
    pub title: String,
    pub masked_name: String,
    pub household_size: i64,
    pub item_label: String,
    pub amount_fen: Option<i64>,
    pub reason: String,
    pub start_date: String,
    pub end_date: String,
    pub public_token: String,
}

pub async fn create_notice(tx: &mut Tx, n: &NewNotice) -> Result<i64> {
    let (county, town, village) = codes(&n.village_code);
    Ok(sqlx::query_scalar(
        "INSERT INTO notices (county_code, town_code, village_code, item_id, kind, title, masked_name, household_size, item_label, amount_fen, reason, \
         start_date, end_date, status, created_at, public_token) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'active',$14,$15) RETURNING id",
    )
    .bind(county)
    .bind(town)
    .bind(village)
    .bind(n.item_id)
    .bind(n.kind.clone())
    .bind(n.title.clone())
    .bind(n.masked_name.clone())
    .bind(n.household_size)
    .bind(n.item_label.clone())
    .bind(n.amount_fen)
    .bind(n.reason.clone())
    .bind(n.start_date.clone())
    .bind(n.end_date.clone())
    .bind(now_ts())
    .bind(n.public_token.clone())
    .fetch_one(&mut **tx)
    .await?)
}

const N_COLS: &str = "n.id, n.village_code, COALESCE(r.name, ''), n.item_id, n.kind, n.title, n.masked_name, n.household_size, n.item_label, n.amount_fen, \
    n.reason, n.start_date, n.end_date, n.status, COALESCE(n.public_token, '')";

fn notice_from_row(r: AnyRow) -> NoticeRow {
    NoticeRow {
        id: r.get(0),
        village_code: r.get(1),
        village_name: r.get(2),
        item_id: r.get(3),
        kind: r.get(4),
        title: r.get(5),
        masked_name: r.get(6),
        household_size: r.get(7),
        item_label: r.get(8),
        amount_fen: r.get(9),
        reason: r.get(10),
        start_date: r.get(11),
        end_date: r.get(12),
        status: r.get(13),
        public_token: r.get(14),
    }
}

/// A notice by its public token, only while it is on public display on
/// `today` (the same rule as [`public_notices`]): an ended or withdrawn
/// notice is no longer public.
pub async fn public_notice_by_token(
    db: &Db,
    token: &str,
    today: &str,
) -> Result<Option<NoticeRow>> {
    let sql = format!(
        "SELECT {N_COLS} FROM notices n LEFT JOIN regions r ON r.code = n.village_code \
         WHERE n.public_token = $1 AND n.start_date <= $2 AND n.end_date >= $2 AND n.status <> 'withdrawn' AND n.status <> 'ended'"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token.to_string())
        .bind(today.to_string())
        .fetch_optional(&db.pool)
        .await?
        .map(notice_from_row))
}

/// Notices on public display on `today`, optionally for one village (no login needed:
/// the rows hold only what the rules allow to be posted).
pub async fn public_notices(
    db: &Db,
    village: Option<&str>,
    today: &str,
    limit: i64,
) -> Result<Vec<NoticeRow>> {
    let mut sql = format!(
        "SELECT {N_COLS} FROM notices n LEFT JOIN regions r ON r.code = n.village_code WHERE n.start_date <= $1 AND n.end_date >= $1 AND n.status <> 'withdrawn'"
    );
    if village.is_some() {
        sql.push_str(" AND n.village_code = $2");
    }
    sql.push_str(&format!(
        " ORDER BY n.village_code, n.start_date DESC, n.id LIMIT {}",
        limit.clamp(1, 1000)
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(today.to_string());
    if let Some(v) = village {
        q = q.bind(v.to_string());
    }
    Ok(q.fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect())
}

pub async fn notice(db: &Db, id: i64) -> Result<Option<NoticeRow>> {
    let sql = format!(
        "SELECT {N_COLS} FROM notices n LEFT JOIN regions r ON r.code = n.village_code WHERE n.id = $1"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(notice_from_row))
}

pub async fn notices_of_item(db: &Db, item_id: i64) -> Result<Vec<NoticeRow>> {
    let sql = format!(
        "SELECT {N_COLS} FROM notices n LEFT JOIN regions r ON r.code = n.village_code WHERE n.item_id = $1 ORDER BY n.id"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(item_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect())
}

pub async fn set_notice_status(tx: &mut Tx, id: i64, status: &str) -> Result<()> {
    sqlx::query("UPDATE notices SET status = $1 WHERE id = $2")
        .bind(status.to_string())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Active notices whose posting period ended before `today`.
pub async fn expired_notices(db: &Db, today: &str) -> Result<Vec<NoticeRow>> {
    let sql = format!(
        "SELECT {N_COLS} FROM notices n LEFT JOIN regions r ON r.code = n.village_code WHERE n.status = 'active' AND n.end_date < $1 ORDER BY n.id"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(today.to_string())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(notice_from_row)
        .collect())
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ObjectionRow {
    pub id: i64,
    pub notice_id: i64,
    pub content: String,
    pub contact: String,
    pub registered_at: String,
    pub resolution: String,
    pub resolved_at: Option<String>,
}

pub async fn add_objection(
    tx: &mut Tx,
    notice: &NoticeRow,
    content: &str,
    contact: &str,
    user_id: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO objections (county_code, notice_id, content, contact, registered_by, registered_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
    )
    .bind(notice.village_code[..6].to_string())
    .bind(notice.id)
    .bind(content.to_string())
    .bind(contact.to_string())
    .bind(user_id)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn resolve_objections(tx: &mut Tx, notice_id: i64, resolution: &str) -> Result<u64> {
    Ok(sqlx::query("UPDATE objections SET resolution = $1, resolved_at = $2 WHERE notice_id = $3 AND resolved_at IS NULL")
        .bind(resolution.to_string())
        .bind(now_ts())
        .bind(notice_id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

pub async fn objections(db: &Db, notice_id: i64) -> Result<Vec<ObjectionRow>> {
    let rows = sqlx::query("SELECT id, notice_id, content, contact, registered_at, resolution, resolved_at FROM objections WHERE notice_id = $1 ORDER BY id")
        .bind(notice_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ObjectionRow {
            id: r.get(0),
            notice_id: r.get(1),
            content: r.get(2),
            contact: r.get(3),
            registered_at: r.get(4),
            resolution: r.get(5),
            resolved_at: r.get(6),
        })
        .collect())
}

// ---------------------------------------------------------------- ledger

#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerRow {
    pub id: i64,
    pub household_id: i64,
    pub item_id: Option<i64>,
    pub referral_id: Option<i64>,
    pub kind: String,
    pub department: String,
    pub amount_fen: i64,
    pub period_start: String,
    pub period_end: Option<String>,
    pub decided_on: String,
    pub note: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn add_ledger(
    tx: &mut Tx,
    household_id: i64,
    village_code: &str,
    item_id: Option<i64>,
    referral_id: Option<i64>,
    kind: &str,
    department: &str,
    amount_fen: i64,
    period_start: &str,
    period_end: Option<&str>,
    decided_on: &str,
    note: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO ledger (county_code, household_id, item_id, referral_id, kind, department, amount_fen, period_start, period_end, decided_on, note) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
    )
    .bind(village_code[..6].to_string())
    .bind(household_id)
    .bind(item_id)
    .bind(referral_id)
    .bind(kind.to_string())
    .bind(department.to_string())
    .bind(amount_fen)
    .bind(period_start.to_string())
    .bind(period_end.map(str::to_string))
    .bind(decided_on.to_string())
    .bind(note.to_string())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn ledger(db: &Db, household_id: i64) -> Result<Vec<LedgerRow>> {
    let rows = sqlx::query(
        "SELECT id, household_id, item_id, referral_id, kind, department, amount_fen, period_start, period_end, decided_on, note FROM ledger \
         WHERE household_id = $1 ORDER BY decided_on DESC, id DESC",
    )
    .bind(household_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerRow {
            id: r.get(0),
            household_id: r.get(1),
            item_id: r.get(2),
            referral_id: r.get(3),
            kind: r.get(4),
            department: r.get(5),
            amount_fen: r.get(6),
            period_start: r.get(7),
            period_end: r.get(8),
            decided_on: r.get(9),
            note: r.get(10),
        })
        .collect())
}

// ---------------------------------------------------------------- calendars

pub async fn save_calendar_year(tx: &mut Tx, year: i64, json: &str, who: &str) -> Result<()> {
    sqlx::query("DELETE FROM calendar_years WHERE year = $1")
        .bind(year)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO calendar_years (year, json, loaded_by, loaded_at) VALUES ($1,$2,$3,$4)",
    )
    .bind(year)
    .bind(json.to_string())
    .bind(who.to_string())
    .bind(now_ts())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn calendar_years(db: &Db) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query("SELECT year, json FROM calendar_years ORDER BY year")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

// ---------------------------------------------------------------- referrals

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReferralRow {
    pub id: i64,
    pub village_code: String,
    pub household_id: i64,
    pub item_id: Option<i64>,
    /// "department" or "charity".
    pub to_kind: String,
    /// The receiving department or organisation, as on the receiver's account.
    pub to_name: String,
    pub facts: String,
    pub consent_by: String,
    pub consent_on: String,
    /// sent → accepted | rejected; accepted → completed; sent/accepted → revoked.
    pub status: String,
    pub due_on: String,
    pub reason: String,
    pub outcome: String,
    pub amount_fen: Option<i64>,
    pub sent_by: i64,
    pub sent_at: String,
    pub handled_at: Option<String>,
    pub version: i64,
    pub head_name: String,
}

#[derive(Clone, Debug)]
pub struct NewReferral {
    pub village_code: String,
    pub household_id: i64,
    pub item_id: Option<i64>,
    pub to_kind: String,
    pub to_name: String,
    pub facts: String,
    pub consent_by: String,
    pub consent_on: String,
    pub due_on: String,
    pub sent_by: i64,
}

const R_COLS: &str = "f.id, f.village_code, f.household_id, f.item_id, f.to_kind, f.to_name, f.facts, f.consent_by, f.consent_on, f.status, f.due_on, \
    f.reason, f.outcome, f.amount_fen, f.sent_by, f.sent_at, f.handled_at, f.version, COALESCE(h.head_name, '')";

fn referral_from_row(r: AnyRow) -> ReferralRow {
    ReferralRow {
        id: r.get(0),
        village_code: r.get(1),
        household_id: r.get(2),
        item_id: r.get(3),
        to_kind: r.get(4),
        to_name: r.get(5),
        facts: r.get(6),
        consent_by: r.get(7),
        consent_on: r.get(8),
        status: r.get(9),
        due_on: r.get(10),
        reason: r.get(11),
        outcome: r.get(12),
        amount_fen: r.get(13),
        sent_by: r.get(14),
        sent_at: r.get(15),
        handled_at: r.get(16),
        version: r.get(17),
        head_name: r.get(18),
    }
}

pub async fn create_referral(tx: &mut Tx, actor: &AuditActor, r: &NewReferral) -> Result<i64> {
    let (county, town, village) = codes(&r.village_code);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO referrals (county_code, town_code, village_code, household_id, item_id, to_kind, to_name, facts, consent_by, consent_on, status, \
         due_on, sent_by, sent_at, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'sent',$11,$12,$13,1) RETURNING id",
    )
    .bind(county)
    .bind(town)
    .bind(village.clone())
    .bind(r.household_id)
    .bind(r.item_id)
    .bind(r.to_kind.clone())
    .bind(r.to_name.clone())
    .bind(r.facts.clone())
    .bind(r.consent_by.clone())
    .bind(r.consent_on.clone())
    .bind(r.due_on.clone())
    .bind(r.sent_by)
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "referral",
            entity: "referral",
            entity_id: id.to_string(),
            household_id: Some(r.household_id),
            region_code: &village,
            before: None,
            after: Some(json!({"to": r.to_name, "due": r.due_on, "status": "sent"})),
            detail: format!("转介至 {}（{} 前答复）", r.to_name, r.due_on),
        },
    )
    .await?;
    Ok(id)
}

pub async fn get_referral(db: &Db, id: i64) -> Result<Option<ReferralRow>> {
    let sql = format!(
        "SELECT {R_COLS} FROM referrals f LEFT JOIN households h ON h.id = f.household_id WHERE f.id = $1"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(referral_from_row))
}

/// Referrals addressed to a receiver (department / organisation name), open ones first.
pub async fn referrals_to(db: &Db, to_name: &str, limit: i64) -> Result<Vec<ReferralRow>> {
    let sql = format!(
        "SELECT {R_COLS} FROM referrals f LEFT JOIN households h ON h.id = f.household_id WHERE f.to_name = $1 \
         ORDER BY CASE WHEN f.status IN ('sent','accepted') THEN 0 ELSE 1 END, f.due_on, f.id LIMIT {}",
        limit.clamp(1, 1000)
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to_name.to_string())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(referral_from_row)
        .collect())
}

/// Referrals sent from households in the scope.
pub async fn referrals_in(db: &Db, scope: &Scope, limit: i64) -> Result<Vec<ReferralRow>> {
    let col = scope_column(scope, "f.");
    let sql = format!(
        "SELECT {R_COLS} FROM referrals f LEFT JOIN households h ON h.id = f.household_id WHERE {col} = $1 \
         ORDER BY CASE WHEN f.status IN ('sent','accepted') THEN 0 ELSE 1 END, f.due_on, f.id LIMIT {}",
        limit.clamp(1, 1000)
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(referral_from_row)
        .collect())
}

pub async fn referrals_of_household(db: &Db, household_id: i64) -> Result<Vec<ReferralRow>> {
    let sql = format!(
        "SELECT {R_COLS} FROM referrals f LEFT JOIN households h ON h.id = f.household_id WHERE f.household_id = $1 ORDER BY f.id DESC"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(household_id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(referral_from_row)
        .collect())
}

/// Moves a referral to `status` if it is in one of `from` (version-checked), recording
/// reason / outcome / amount, the handler and an audit entry.
#[allow(clippy::too_many_arguments)]
pub async fn update_referral(
    tx: &mut Tx,
    actor: &AuditActor,
    r: &ReferralRow,
    from: &[&str],
    status: &str,
    reason: &str,
    outcome: &str,
    amount_fen: Option<i64>,
) -> Result<()> {
    if !from.contains(&r.status.as_str()) {
        return Err(StoreError::Invalid(format!(
            "该转介当前状态为“{}”，不能执行此操作",
            referral_status_label(&r.status)
        )));
    }
    let n = sqlx::query(
        "UPDATE referrals SET status=$1, reason=CASE WHEN $2 = '' THEN reason ELSE $2 END, outcome=CASE WHEN $3 = '' THEN outcome ELSE $3 END, \
         amount_fen=COALESCE($4, amount_fen), handled_by=$5, handled_at=$6, version=version+1 WHERE id=$7 AND version=$8",
    )
    .bind(status.to_string())
    .bind(reason.to_string())
    .bind(outcome.to_string())
    .bind(amount_fen)
    .bind(actor.user_id)
    .bind(now_ts())
    .bind(r.id)
    .bind(r.version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该转介已被他人处理，请刷新后查看".into(),
        ));
    }
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "referral",
            entity: "referral",
            entity_id: r.id.to_string(),
            household_id: Some(r.household_id),
            region_code: &r.village_code,
            before: Some(json!({"status": r.status})),
            after: Some(json!({"status": status, "reason": reason, "outcome": outcome, "amount_fen": amount_fen})),
            detail: format!("转介 #{} {}：{}", r.id, referral_status_label(status), if reason.is_empty() { outcome } else { reason }),
        },
    )
    .await
}

pub fn referral_status_label(s: &str) -> &'static str {
    match s {
        "sent" => "待接收",
        "accepted" => "办理中",
        "rejected" => "已退回",
        "completed" => "已办结",
        "revoked" => "已撤回",
        _ => "未知",
    }
}

// ---------------------------------------------------------------- standards

/// The value of a locally set number for `region` on `date`: the most specific region
/// prefix wins, then the latest `effective_from` not after `date`.
pub async fn standard(db: &Db, key: &str, region: &str, date: &str) -> Result<Option<i64>> {
    // One rule for every caller: doudi_rules::standards::in_force.
    let rows = crate::policies::standard_rows(db).await?;
    Ok(doudi_rules::standards::in_force(&rows, region, date)
        .get(key)
        .copied())
}

pub async fn set_standard(
    tx: &mut Tx,
    key: &str,
    region: &str,
    value_fen: i64,
    effective_from: &str,
    who: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO standards (region_code, key, value_fen, effective_from, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6)")
        .bind(region.to_string())
        .bind(key.to_string())
        .bind(value_fen)
        .bind(effective_from.to_string())
        .bind(who.to_string())
        .bind(now_ts())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// 一事一议: stored with the item's signed steps (action `conference`), audited.
#[allow(clippy::too_many_arguments)]
pub async fn record_conference(
    tx: &mut Tx,
    actor: &AuditActor,
    item: &ItemRow,
    attendees: &str,
    facts: &str,
    decision: &str,
    reasons: &str,
    on: &str,
) -> Result<()> {
    let opinion = format!("案情：{facts}；决定：{decision}；理由：{reasons}");
    sqlx::query(
        "INSERT INTO case_steps (county_code, item_id, step, action, to_step, acted_on, user_id, username, role, signatures, opinion, amount_fen, at) \
         VALUES ($1,$2,$3,'conference',NULL,$4,$5,$6,$7,$8,$9,NULL,$10)",
    )
    .bind(item.village_code[..6].to_string())
    .bind(item.id)
    .bind(item.cols.step.clone().unwrap_or_default())
    .bind(on.to_string())
    .bind(actor.user_id)
    .bind(actor.username.clone())
    .bind(actor.role.clone())
    .bind(attendees.to_string())
    .bind(opinion.clone())
    .bind(now_ts())
    .execute(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "case_step",
            entity: "case_item",
            entity_id: item.id.to_string(),
            household_id: Some(item.household_id),
            region_code: &item.village_code,
            before: None,
            after: Some(json!({"conference": {"attendees": attendees, "decision": decision}})),
            detail: format!("事项 #{} 一事一议：{decision}", item.id),
        },
    )
    .await
}

/// The fields the handling-time report needs, for items started in `[from, to]`.
#[derive(Clone, Debug)]
pub struct ReportItem {
    pub kind: String,
    pub town_code: String,
    pub village_code: String,
    pub open: bool,
    pub item_started: String,
    pub ended_on: Option<String>,
    pub step_due: String,
}

pub async fn report_items(db: &Db, scope: &Scope, from: &str, to: &str) -> Result<Vec<ReportItem>> {
    let col = scope_column(scope, "");
    let sql = format!(
        "SELECT kind, town_code, village_code, step, item_started, ended_on, step_due FROM case_items \
         WHERE {col} = $1 AND item_started >= $2 AND item_started <= $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReportItem {
            kind: r.get(0),
            town_code: r.get(1),
            village_code: r.get(2),
            open: r.get::<Option<String>, _>(3).is_some(),
            item_started: r.get(4),
            ended_on: r.get(5),
            step_due: r.get(6),
        })
        .collect())
}

/// 救急难互助社 monthly summary for the town: per village and month, grants and amount.
pub async fn mutual_aid_monthly(
    db: &Db,
    scope: &Scope,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String, i64, i64)>> {
    let col = scope_column(scope, "h.");
    let sql = format!(
        "SELECT h.village_code, SUBSTR(l.decided_on, 1, 7) AS month, COUNT(*), CAST(COALESCE(SUM(l.amount_fen), 0) AS BIGINT) \
         FROM ledger l JOIN households h ON h.id = l.household_id \
         WHERE l.kind = 'mutual_aid' AND {col} = $1 AND l.decided_on >= $2 AND l.decided_on <= $3 \
         GROUP BY h.village_code, SUBSTR(l.decided_on, 1, 7) ORDER BY 2 DESC, 1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}
