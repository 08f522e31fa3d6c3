//! Household files (一户一档): households, members, memberships history, incomes, assets,
//! categories. Every function that reads household data takes a [`Scope`], and every
//! write records an audit entry in the same transaction.

use chrono::NaiveDate;
use doudi_domain::household::{
    AssetRecord, CategoryRecord, HouseholdRecord, IncomeRecord, MemberRecord,
};
use doudi_domain::person::Coded;
use doudi_domain::{IdNumber, RegionCode, RegionLevel};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{self, AuditActor, AuditEntry};
use crate::{Db, Result, StoreError, Tx, now_ts};

/// The part of the tree an actor may see. Built by the web layer from the signed-in
/// account only; there is no "unscoped" variant.
#[derive(Clone, Debug)]
pub struct Scope(pub RegionCode);

impl Scope {
    pub fn column(&self) -> &'static str {
        match self.0.level() {
            RegionLevel::County => "county_code",
            RegionLevel::Town => "town_code",
            RegionLevel::Village => "village_code",
        }
    }
    pub fn covers(&self, village_code: &str) -> bool {
        self.0.contains(village_code)
    }
}

/// Result of looking a record up under a scope: outside the scope is distinct from
/// missing so that the caller can refuse *and* audit the attempt.
#[derive(Debug)]
pub enum Scoped<T> {
    Found(T),
    OutOfScope { village_code: String },
    Missing,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct HouseholdRow {
    pub id: i64,
    pub county_code: String,
    pub town_code: String,
    pub village_code: String,
    pub village_name: String,
    pub head_name: String,
    pub size: i64,
    pub registration_address: String,
    pub residence_address: String,
    pub residence_village_code: Option<String>,
    pub phone: Option<String>,
    pub categories: String,
    pub note: String,
    pub status: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

const H_COLS: &str = "h.id, h.county_code, h.town_code, h.village_code, COALESCE(r.name, ''), h.head_name, h.size, \
    h.registration_address, h.residence_address, h.residence_village_code, h.phone, h.categories, h.note, h.status, \
    h.version, h.created_at, h.updated_at";

fn household_from_row(r: AnyRow) -> HouseholdRow {
    HouseholdRow {
        id: r.get(0),
        county_code: r.get(1),
        town_code: r.get(2),
        village_code: r.get(3),
        village_name: r.get(4),
        head_name: r.get(5),
        size: r.get(6),
        registration_address: r.get(7),
        residence_address: r.get(8),
        residence_village_code: r.get(9),
        phone: r.get(10),
        categories: r.get(11),
        note: r.get(12),
        status: r.get(13),
        version: r.get(14),
        created_at: r.get(15),
        updated_at: r.get(16),
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PersonRow {
    pub id: i64,
    pub household_id: i64,
    pub village_code: String,
    pub relation: String,
    pub name: String,
    pub id_number: String,
    pub id_number_original: Option<String>,
    pub sex: String,
    pub birth_date: String,
    pub phone: Option<String>,
    pub disability_type: Option<String>,
    pub disability_grade: Option<i64>,
    pub illnesses: String,
    pub self_care_unable: i64,
    pub employment: String,
    pub schooling: String,
    pub status: String,
    pub death_date: Option<String>,
    pub version: i64,
}

const P_COLS: &str = "id, household_id, village_code, relation, name, id_number, id_number_original, sex, birth_date, \
    phone, disability_type, disability_grade, illnesses, self_care_unable, employment, schooling, status, death_date, version";

fn person_from_row(r: AnyRow) -> PersonRow {
    PersonRow {
        id: r.get(0),
        household_id: r.get(1),
        village_code: r.get(2),
        relation: r.get(3),
        name: r.get(4),
        id_number: r.get(5),
        id_number_original: r.get(6),
        sex: r.get(7),
        birth_date: r.get(8),
        phone: r.get(9),
        disability_type: r.get(10),
        disability_grade: r.get(11),
        illnesses: r.get(12),
        self_care_unable: r.get(13),
        employment: r.get(14),
        schooling: r.get(15),
        status: r.get(16),
        death_date: r.get(17),
        version: r.get(18),
    }
}

impl PersonRow {
    /// What the audit log keeps of a person: never the full ID number.
    fn audit_json(&self) -> serde_json::Value {
        let masked = IdNumber::parse(&self.id_number)
            .map(|i| i.masked())
            .unwrap_or_default();
        json!({
            "name": self.name, "id_number": masked, "relation": self.relation, "household_id": self.household_id,
            "phone": self.phone.as_deref().map(doudi_domain::mask::mask_phone),
            "disability_type": self.disability_type, "disability_grade": self.disability_grade,
            "illnesses": self.illnesses, "self_care_unable": self.self_care_unable,
            "employment": self.employment, "schooling": self.schooling, "status": self.status,
            "death_date": self.death_date,
        })
    }
}

impl HouseholdRow {
    fn audit_json(&self) -> serde_json::Value {
        json!({
            "village_code": self.village_code, "registration_address": self.registration_address,
            "residence_address": self.residence_address, "residence_village_code": self.residence_village_code,
            "phone": self.phone.as_deref().map(doudi_domain::mask::mask_phone), "note": self.note,
            "status": self.status, "size": self.size, "head_name": self.head_name, "categories": self.categories,
        })
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct IncomeRow {
    pub id: i64,
    pub person_id: Option<i64>,
    pub kind: String,
    pub description: String,
    pub monthly_fen: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AssetRow {
    pub id: i64,
    pub kind: String,
    pub description: String,
    pub value_fen: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CategoryRow {
    pub id: i64,
    pub category: String,
    pub start_date: String,
    pub end_date: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MembershipRow {
    pub person_id: i64,
    pub person_name: String,
    pub household_id: i64,
    pub relation: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub reason: String,
}

/// Everything shown on a household file page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HouseholdFile {
    pub household: HouseholdRow,
    pub members: Vec<PersonRow>,
    pub incomes: Vec<IncomeRow>,
    pub assets: Vec<AssetRow>,
    pub categories: Vec<CategoryRow>,
    pub memberships: Vec<MembershipRow>,
    pub timeline: Vec<audit::AuditRow>,
}

fn codes_of(village_code: &str) -> Result<(String, String, String)> {
    let rc = RegionCode::parse(village_code)
        .map_err(|e| StoreError::Invalid(format!("村（社区）代码无效：{e}")))?;
    if rc.level() != RegionLevel::Village {
        return Err(StoreError::Invalid("户籍所在地必须是村（社区）一级".into()));
    }
    Ok((
        rc.county().to_string(),
        rc.town().unwrap_or_default().to_string(),
        village_code.to_string(),
    ))
}

async fn ensure_region_exists(tx: &mut Tx, code: &str) -> Result<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE code = $1 AND active = 1")
        .bind(code.to_string())
        .fetch_one(&mut **tx)
        .await?;
    if n == 0 {
        return Err(StoreError::Invalid(format!(
            "村（社区）代码 {code} 不存在或已停用"
        )));
    }
    Ok(())
}

/// Refuses ID numbers that already belong to a person (one active household per person).
async fn ensure_ids_free(tx: &mut Tx, ids: &[&str], except_person: Option<i64>) -> Result<()> {
    for id in ids {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM persons WHERE id_number = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(pid) = existing {
            if Some(pid) != except_person {
                let masked = IdNumber::parse(id).map(|i| i.masked()).unwrap_or_default();
                return Err(StoreError::Invalid(format!(
                    "身份证号 {masked} 已在本区登记（一人只能属于一个家庭）"
                )));
            }
        }
    }
    Ok(())
}

fn reversed(id: &str) -> String {
    id.chars().rev().collect()
}

async fn insert_person(
    tx: &mut Tx,
    codes: &(String, String, String),
    household_id: i64,
    m: &MemberRecord,
    today: NaiveDate,
    reason: &str,
) -> Result<i64> {
    let now = now_ts();
    let (status, death) = match m.deceased_on {
        Some(d) => ("deceased", Some(d.to_string())),
        None => ("alive", None),
    };
    let pid: i64 = sqlx::query_scalar(
        "INSERT INTO persons (county_code, town_code, village_code, household_id, relation, name, id_number, \
         id_number_original, id_reversed, sex, birth_date, phone, disability_type, disability_grade, illnesses, \
         self_care_unable, employment, schooling, status, death_date, version, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,1,$21,$21) RETURNING id",
    )
    .bind(codes.0.clone())
    .bind(codes.1.clone())
    .bind(codes.2.clone())
    .bind(household_id)
    .bind(m.relation.code())
    .bind(m.name.clone())
    .bind(m.id_number.as_str().to_string())
    .bind(m.id_number.original().map(str::to_string))
    .bind(reversed(m.id_number.as_str()))
    .bind(m.id_number.sex().code())
    .bind(m.id_number.birth_date().to_string())
    .bind(m.phone.clone())
    .bind(m.disability.map(|d| d.0.code()))
    .bind(m.disability.map(|d| d.1 as i64))
    .bind(m.illnesses.clone())
    .bind(m.self_care.bits() as i64)
    .bind(m.employment.code())
    .bind(m.schooling.code())
    .bind(status)
    .bind(death)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| crate::unique_violation(e, "身份证号已在本区登记（一人只能属于一个家庭）"))?;
    sqlx::query(
        "INSERT INTO memberships (county_code, person_id, household_id, relation, start_date, end_date, reason) \
         VALUES ($1,$2,$3,$4,$5,NULL,$6)",
    )
    .bind(codes.0.clone())
    .bind(pid)
    .bind(household_id)
    .bind(m.relation.code())
    .bind(today.to_string())
    .bind(reason.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(pid)
}

async fn insert_income(
    tx: &mut Tx,
    county: &str,
    household_id: i64,
    person_id: Option<i64>,
    i: &IncomeRecord,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO income_items (county_code, household_id, person_id, kind, description, monthly_fen, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
    )
    .bind(county.to_string())
    .bind(household_id)
    .bind(person_id)
    .bind(i.kind.code())
    .bind(i.description.clone())
    .bind(i.monthly.fen())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

async fn insert_asset(
    tx: &mut Tx,
    county: &str,
    household_id: i64,
    a: &AssetRecord,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO assets (county_code, household_id, kind, description, value_fen, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
    )
    .bind(county.to_string())
    .bind(household_id)
    .bind(a.kind.code())
    .bind(a.description.clone())
    .bind(a.value.fen())
    .bind(now_ts())
    .fetch_one(&mut **tx)
    .await?)
}

async fn insert_category(
    tx: &mut Tx,
    county: &str,
    household_id: i64,
    c: &CategoryRecord,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO household_categories (county_code, household_id, category, start_date, end_date) \
         VALUES ($1,$2,$3,$4,$5) RETURNING id",
    )
    .bind(county.to_string())
    .bind(household_id)
    .bind(c.category.code())
    .bind(c.start.to_string())
    .bind(c.end.map(|d| d.to_string()))
    .fetch_one(&mut **tx)
    .await?)
}

/// Recomputes the denormalised list columns (head name, size, active categories) and
/// bumps the version: every change to a household's file is a new version.
async fn refresh_summary(tx: &mut Tx, household_id: i64, today: NaiveDate) -> Result<()> {
    let rows = sqlx::query(
        "SELECT name, relation FROM persons WHERE household_id = $1 AND status = 'alive' ORDER BY id",
    )
    .bind(household_id)
    .fetch_all(&mut **tx)
    .await?;
    let size = rows.len() as i64;
    let head: String = rows
        .iter()
        .find(|r| r.get::<String, _>(1) == "head")
        .or(rows.first())
        .map(|r| r.get::<String, _>(0))
        .unwrap_or_default();
    let cats: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT category FROM household_categories WHERE household_id = $1 \
         AND start_date <= $2 AND (end_date IS NULL OR end_date >= $2) ORDER BY category",
    )
    .bind(household_id)
    .bind(today.to_string())
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE households SET head_name = $1, size = $2, categories = $3, version = version + 1, updated_at = $4 WHERE id = $5",
    )
    .bind(head)
    .bind(size)
    .bind(cats.join(","))
    .bind(now_ts())
    .bind(household_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn load_household_tx(tx: &mut Tx, id: i64) -> Result<HouseholdRow> {
    let sql = format!(
        "SELECT {H_COLS} FROM households h LEFT JOIN regions r ON r.code = h.village_code WHERE h.id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(household_from_row)
        .ok_or(StoreError::NotFound)
}

async fn load_person_tx(tx: &mut Tx, id: i64) -> Result<PersonRow> {
    let sql = format!("SELECT {P_COLS} FROM persons WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(person_from_row)
        .ok_or(StoreError::NotFound)
}

/// Loads a household for writing, enforcing the scope and the expected version.
async fn lock_household(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    expected_version: Option<i64>,
) -> Result<HouseholdRow> {
    let h = load_household_tx(tx, id).await?;
    if !scope.covers(&h.village_code) {
        return Err(StoreError::NotFound);
    }
    if let Some(v) = expected_version {
        // A no-op UPDATE guarded by the version takes the row lock (PostgreSQL) and
        // checks the version atomically: a concurrent writer waits, then finds the
        // version moved on and is refused.
        let n =
            sqlx::query("UPDATE households SET version = version WHERE id = $1 AND version = $2")
                .bind(id)
                .bind(v)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(stale(h.version));
        }
    }
    Ok(h)
}

fn stale(current: i64) -> StoreError {
    StoreError::Conflict(format!(
        "该户档案已被他人修改（当前为第 {current} 版），您的修改未保存。请刷新页面，核对最新内容后重新提交。"
    ))
}

fn validate_record(rec: &HouseholdRecord) -> Result<()> {
    if rec.members.is_empty() {
        return Err(StoreError::Invalid("一户至少要有一名成员（户主）".into()));
    }
    let heads = rec
        .members
        .iter()
        .filter(|m| m.relation.code() == "head")
        .count();
    if heads != 1 {
        return Err(StoreError::Invalid(format!(
            "一户必须有且只有一名户主，当前为 {heads} 名"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for m in &rec.members {
        if !seen.insert(m.id_number.as_str()) {
            return Err(StoreError::Invalid(format!(
                "同一户中身份证号重复：{}",
                m.id_number.masked()
            )));
        }
    }
    Ok(())
}

/// Creates a household with its members and items. Refuses ID numbers already registered.
pub async fn create(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    rec: &HouseholdRecord,
    today: NaiveDate,
) -> Result<i64> {
    validate_record(rec)?;
    if !scope.covers(&rec.village_code) {
        return Err(StoreError::Invalid(
            "所选村（社区）不在您的管辖范围内".into(),
        ));
    }
    let codes = codes_of(&rec.village_code)?;
    ensure_region_exists(tx, &rec.village_code).await?;
    let ids: Vec<&str> = rec.members.iter().map(|m| m.id_number.as_str()).collect();
    ensure_ids_free(tx, &ids, None).await?;
    let now = now_ts();
    let hid: i64 = sqlx::query_scalar(
        "INSERT INTO households (county_code, town_code, village_code, head_name, size, registration_address, \
         residence_address, residence_village_code, phone, categories, note, status, version, created_at, updated_at) \
         VALUES ($1,$2,$3,'',0,$4,$5,$6,$7,'',$8,'active',0,$9,$9) RETURNING id",
    )
    .bind(codes.0.clone())
    .bind(codes.1.clone())
    .bind(codes.2.clone())
    .bind(rec.registration_address.clone())
    .bind(rec.residence_address.clone())
    .bind(rec.residence_village_code.clone())
    .bind(rec.phone.clone())
    .bind(rec.note.clone())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let mut person_ids = Vec::with_capacity(rec.members.len());
    for m in &rec.members {
        person_ids.push(insert_person(tx, &codes, hid, m, today, "建档").await?);
    }
    for i in &rec.incomes {
        let pid = i.member_index.and_then(|k| person_ids.get(k).copied());
        insert_income(tx, &codes.0, hid, pid, i).await?;
    }
    for a in &rec.assets {
        insert_asset(tx, &codes.0, hid, a).await?;
    }
    for c in &rec.categories {
        insert_category(tx, &codes.0, hid, c).await?;
    }
    refresh_summary(tx, hid, today).await?;
    let h = load_household_tx(tx, hid).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "create",
            entity: "household",
            entity_id: hid.to_string(),
            household_id: Some(hid),
            region_code: &h.village_code,
            before: None,
            after: Some(json!({"household": h.audit_json(), "members": rec.members.len()})),
            detail: format!("新建家庭档案，{} 人", rec.members.len()),
        },
    )
    .await?;
    Ok(hid)
}

/// Looks a household up under a scope (no audit; the caller audits views and denials).
pub async fn get(db: &Db, scope: &Scope, id: i64) -> Result<Scoped<HouseholdRow>> {
    let sql = format!(
        "SELECT {H_COLS} FROM households h LEFT JOIN regions r ON r.code = h.village_code WHERE h.id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row.map(household_from_row) {
        None => Scoped::Missing,
        Some(h) if scope.covers(&h.village_code) => Scoped::Found(h),
        Some(h) => Scoped::OutOfScope {
            village_code: h.village_code,
        },
    })
}

/// Which of `ids` (normalised ID numbers) are already registered to a person.
/// Where each already registered ID number is held: ID number → village code.
/// Callers decide what they may say about it (see doudi_app::households).
pub async fn id_number_villages(
    db: &Db,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let mut taken = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let marks = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",");
        let sql =
            format!("SELECT id_number, village_code FROM persons WHERE id_number IN ({marks})");
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        taken.extend(q.fetch_all(&db.pool).await?);
    }
    Ok(taken)
}

/// The person registered under a (normalised) ID number, under `scope`.
pub async fn person_by_id_number(
    db: &Db,
    scope: &Scope,
    id_number: &str,
) -> Result<Scoped<PersonRow>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE id_number = $1")
        .bind(id_number.to_string())
        .fetch_optional(&db.pool)
        .await?;
    match id {
        Some(id) => get_person(db, scope, id).await,
        None => Ok(Scoped::Missing),
    }
}

pub async fn get_person(db: &Db, scope: &Scope, id: i64) -> Result<Scoped<PersonRow>> {
    let sql = format!("SELECT {P_COLS} FROM persons WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row.map(person_from_row) {
        None => Scoped::Missing,
        Some(p) if scope.covers(&p.village_code) => Scoped::Found(p),
        Some(p) => Scoped::OutOfScope {
            village_code: p.village_code,
        },
    })
}

/// The whole file of a household the caller has already found in scope.
pub async fn file(db: &Db, household: HouseholdRow) -> Result<HouseholdFile> {
    let id = household.id;
    let sql = format!(
        "SELECT {P_COLS} FROM persons WHERE household_id = $1 ORDER BY CASE WHEN relation = 'head' THEN 0 ELSE 1 END, birth_date, id"
    );
    let members = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(person_from_row)
        .collect();
    // The file's four small parts in one round trip: a file view is the
    // most frequent page of the day, and each query costs more in protocol
    // and planning than in reading these few rows.
    let parts = sqlx::query(
        "SELECT CAST(1 AS BIGINT) AS part, id, person_id, kind AS t1, description AS t2, monthly_fen AS amount, \
                CAST(NULL AS TEXT) AS d1, CAST(NULL AS TEXT) AS d2, CAST(NULL AS TEXT) AS t3 \
           FROM income_items WHERE household_id = $1 \
         UNION ALL SELECT 2, id, NULL, kind, description, value_fen, NULL, NULL, NULL \
           FROM assets WHERE household_id = $1 \
         UNION ALL SELECT 3, id, NULL, category, '', NULL, start_date, end_date, NULL \
           FROM household_categories WHERE household_id = $1 \
         UNION ALL SELECT 4, m.id, m.person_id, p.name, m.relation, m.household_id, m.start_date, m.end_date, m.reason \
           FROM memberships m JOIN persons p ON p.id = m.person_id WHERE m.household_id = $1 \
         ORDER BY part, d1, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let (mut incomes, mut assets, mut categories, mut memberships) =
        (vec![], vec![], vec![], vec![]);
    for r in parts {
        let part: i64 = r.get(0);
        match part {
            1 => incomes.push(IncomeRow {
                id: r.get(1),
                person_id: r.get(2),
                kind: r.get(3),
                description: r.get(4),
                monthly_fen: r.get(5),
            }),
            2 => assets.push(AssetRow {
                id: r.get(1),
                kind: r.get(3),
                description: r.get(4),
                value_fen: r.get(5),
            }),
            3 => categories.push(CategoryRow {
                id: r.get(1),
                category: r.get(3),
                start_date: r.get(6),
                end_date: r.get(7),
            }),
            _ => memberships.push(MembershipRow {
                person_id: r.get(2),
                person_name: r.get(3),
                household_id: r.get(5),
                relation: r.get(4),
                start_date: r.get(6),
                end_date: r.get(7),
                reason: r.get(8),
            }),
        }
    }
    let mut timeline = audit::list(
        &db.pool,
        &audit::AuditFilter {
            region_prefix: String::new(),
            household_id: Some(id),
            writes_only: true,
            limit: 200,
            ..Default::default()
        },
    )
    .await?;
    timeline.retain(|a| a.action != "view");
    Ok(HouseholdFile {
        household,
        members,
        incomes,
        assets,
        categories,
        memberships,
        timeline,
    })
}

#[derive(Clone, Debug, Default)]
pub struct SearchFilter {
    /// Name (prefix), full ID number, last 4–8 digits of an ID number, or an 11-digit phone.
    pub q: Option<String>,
    pub address: Option<String>,
    pub category: Option<String>,
    pub village: Option<String>,
    pub include_dissolved: bool,
    pub page: i64,
    pub per_page: i64,
}

/// How a free-text query is understood.
#[derive(Debug, PartialEq)]
pub enum QueryKind {
    IdNumber(String),
    IdTail(String),
    Phone(String),
    /// Up to 8 digits: a household number (户编号), or, from 4 digits, the
    /// end of an ID number or of a phone number.
    Number(String),
    Name(String),
}

pub fn classify_query(q: &str) -> QueryKind {
    let q = q.trim();
    let digits_x = !q.is_empty()
        && q.chars()
            .all(|c| c.is_ascii_digit() || c == 'x' || c == 'X');
    if digits_x && (q.len() == 18 || q.len() == 15) {
        if let Ok(id) = IdNumber::parse(q) {
            return QueryKind::IdNumber(id.as_str().to_string());
        }
        return QueryKind::IdNumber(q.to_uppercase());
    }
    if q.len() == 11 && q.starts_with('1') && q.chars().all(|c| c.is_ascii_digit()) {
        return QueryKind::Phone(q.to_string());
    }
    if q.chars().all(|c| c.is_ascii_digit()) && (1..=8).contains(&q.len()) {
        return QueryKind::Number(q.to_string());
    }
    if digits_x && (4..=8).contains(&q.len()) {
        return QueryKind::IdTail(q.to_uppercase());
    }
    QueryKind::Name(q.to_string())
}

/// At most this many person matches are considered for one free-text query.
const MATCH_SCAN_LIMIT: i64 = 30_000;

/// Searches households in scope. Returns the page and the total, counted up to `cap`.
pub async fn search(
    db: &Db,
    scope: &Scope,
    f: &SearchFilter,
    cap: i64,
) -> Result<(Vec<HouseholdRow>, i64)> {
    let mut conds = vec![format!("h.{} = $1", scope.column())];
    let mut binds: Vec<String> = vec![scope.0.as_str().to_string()];
    let county = scope.0.county().to_string();
    let bind = |v: String, binds: &mut Vec<String>| -> usize {
        binds.push(v);
        binds.len()
    };
    if !f.include_dissolved {
        conds.push("h.status = 'active'".into());
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // Two steps: first the matching households from an index range on persons
        // (bounded), then the page among them. One combined query lets the planner
        // walk all households in id order looking for a rare name.
        let c = county.clone();
        let (sql, args): (&str, Vec<String>) = match classify_query(q) {
            QueryKind::IdNumber(id) => (
                "SELECT household_id FROM persons WHERE id_number = $1",
                vec![id],
            ),
            QueryKind::IdTail(tail) => {
                let rev = reversed(&tail);
                (
                    "SELECT household_id FROM persons WHERE county_code = $1 AND id_reversed >= $2 AND id_reversed < $3",
                    vec![c, rev.clone(), crate::prefix_successor(&rev)],
                )
            }
            QueryKind::Number(n) => {
                // The household number itself, and from 4 digits the tails of
                // ID numbers (indexed) and of phones (within the caller's
                // jurisdiction: a suffix match reads the scope's rows).
                let id: i64 = n.parse().unwrap_or(0);
                if n.len() < 4 {
                    (
                        "SELECT id FROM households WHERE id = CAST($1 AS BIGINT)",
                        vec![id.to_string()],
                    )
                } else {
                    let rev = reversed(&n);
                    let lo = scope.0.as_str().to_string();
                    (
                        "SELECT id FROM households WHERE id = CAST($1 AS BIGINT) \
                         UNION SELECT household_id FROM persons WHERE county_code = $2 AND id_reversed >= $3 AND id_reversed < $4 \
                         UNION SELECT household_id FROM persons WHERE village_code >= $5 AND village_code < $6 AND phone LIKE $7 \
                         UNION SELECT id FROM households WHERE village_code >= $5 AND village_code < $6 AND phone LIKE $7",
                        vec![
                            id.to_string(),
                            c,
                            rev.clone(),
                            crate::prefix_successor(&rev),
                            lo.clone(),
                            crate::prefix_successor(&lo),
                            format!("%{n}"),
                        ],
                    )
                }
            }
            QueryKind::Phone(ph) => (
                "SELECT id FROM households WHERE county_code = $1 AND phone = $2 UNION SELECT household_id FROM persons WHERE county_code = $1 AND phone = $2",
                vec![c, ph],
            ),
            QueryKind::Name(name) => {
                // A lone surname matches a tenth of a district; it is only answered
                // within one village (or with a village filter).
                if name.chars().count() < 2
                    && scope.0.level() != RegionLevel::Village
                    && f.village.as_deref().is_none_or(str::is_empty)
                {
                    return Err(StoreError::Invalid(
                        "只输入一个字（如姓氏）时范围过大：请至少输入两个字，或先选择村（社区）"
                            .into(),
                    ));
                }
                // Within one village, that village's persons only: a surname
                // is common across a district but a handful in a village.
                let village = match f.village.as_deref().filter(|v| !v.is_empty()) {
                    Some(v) => Some(v.to_string()),
                    None => (scope.0.level() == RegionLevel::Village)
                        .then(|| scope.0.as_str().to_string()),
                };
                match village {
                    Some(v) => (
                        "SELECT household_id FROM persons WHERE village_code = $1 AND name >= $2 AND name < $3",
                        vec![v, name.clone(), crate::prefix_successor(&name)],
                    ),
                    None => (
                        "SELECT household_id FROM persons WHERE county_code = $1 AND name >= $2 AND name < $3",
                        vec![c, name.clone(), crate::prefix_successor(&name)],
                    ),
                }
            }
        };
        let limited = format!("SELECT * FROM ({sql}) m LIMIT {}", MATCH_SCAN_LIMIT);
        let mut mq = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(limited));
        for a in args {
            mq = mq.bind(a);
        }
        let mut ids: Vec<i64> = mq.fetch_all(&db.pool).await?;
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok((vec![], 0));
        }
        // Integers read back from the database: safe to inline.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        conds.push(format!("h.id IN ({list})"));
    }
    if let Some(a) = f
        .address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let n = bind(
            format!("%{}%", a.replace('%', "").replace('_', "")),
            &mut binds,
        );
        conds.push(format!(
            "(h.registration_address LIKE ${n} OR h.residence_address LIKE ${n})"
        ));
    }
    if let Some(c) = f.category.as_deref().filter(|s| !s.is_empty()) {
        let n = bind(format!("%{c}%"), &mut binds);
        conds.push(format!("h.categories LIKE ${n}"));
    }
    if let Some(v) = f.village.as_deref().filter(|s| !s.is_empty()) {
        let n = bind(v.to_string(), &mut binds);
        conds.push(format!("h.village_code = ${n}"));
    }
    let where_ = conds.join(" AND ");
    let per_page = f.per_page.clamp(1, 500);
    let offset = (f.page.clamp(1, 100_000) - 1) * per_page;
    let sql = format!(
        "SELECT {H_COLS} FROM households h LEFT JOIN regions r ON r.code = h.village_code WHERE {where_} \
         ORDER BY h.id DESC LIMIT {per_page} OFFSET {offset}"
    );
    // The text holds the matched ids, so it differs from search to search:
    // not kept as a prepared statement, where it would push the everyday
    // statements out of each connection's cache.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    for b in &binds {
        q = q.bind(b.clone());
    }
    let rows: Vec<HouseholdRow> = q
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(household_from_row)
        .collect();
    let count_sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM households h WHERE {where_} LIMIT {}) t",
        cap + 1
    );
    let mut cq = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql)).persistent(false);
    for b in &binds {
        cq = cq.bind(b.clone());
    }
    let total = cq.fetch_one(&db.pool).await?;
    Ok((rows, total))
}

/// Streams every household matching the filter (for export), up to `limit` rows,
/// with its members.
pub async fn export_rows(
    db: &Db,
    scope: &Scope,
    f: &SearchFilter,
    limit: i64,
) -> Result<Vec<(HouseholdRow, Vec<PersonRow>)>> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let filter = SearchFilter {
            page,
            per_page: 500,
            ..f.clone()
        };
        let (rows, _) = search(db, scope, &filter, 0).await?;
        let n = rows.len();
        for h in rows {
            let sql = format!(
                "SELECT {P_COLS} FROM persons WHERE household_id = $1 ORDER BY CASE WHEN relation = 'head' THEN 0 ELSE 1 END, id"
            );
            let members = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(h.id)
                .fetch_all(&db.pool)
                .await?
                .into_iter()
                .map(person_from_row)
                .collect();
            out.push((h, members));
            if out.len() as i64 >= limit {
                return Ok(out);
            }
        }
        if n < 500 {
            return Ok(out);
        }
        page += 1;
    }
}

#[derive(Clone, Debug)]
pub struct HouseholdEdit {
    pub village_code: String,
    pub registration_address: String,
    pub residence_address: String,
    pub residence_village_code: Option<String>,
    pub phone: Option<String>,
    pub note: String,
}

/// Edits the household's own fields with an optimistic version check.
pub async fn update(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    id: i64,
    version: i64,
    e: &HouseholdEdit,
    today: NaiveDate,
) -> Result<()> {
    let before = lock_household(tx, scope, id, Some(version)).await?;
    if !scope.covers(&e.village_code) {
        return Err(StoreError::Invalid(
            "所选村（社区）不在您的管辖范围内".into(),
        ));
    }
    let codes = codes_of(&e.village_code)?;
    if e.village_code != before.village_code {
        ensure_region_exists(tx, &e.village_code).await?;
    }
    let n = sqlx::query(
        "UPDATE households SET county_code=$1, town_code=$2, village_code=$3, registration_address=$4, residence_address=$5, \
         residence_village_code=$6, phone=$7, note=$8 WHERE id=$9 AND version=$10",
    )
    .bind(codes.0.clone())
    .bind(codes.1.clone())
    .bind(codes.2.clone())
    .bind(e.registration_address.clone())
    .bind(e.residence_address.clone())
    .bind(e.residence_village_code.clone())
    .bind(e.phone.clone())
    .bind(e.note.clone())
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(stale(before.version));
    }
    if before.village_code != e.village_code {
        sqlx::query("UPDATE persons SET county_code=$1, town_code=$2, village_code=$3 WHERE household_id=$4")
            .bind(codes.0.clone())
            .bind(codes.1.clone())
            .bind(codes.2.clone())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    refresh_summary(tx, id, today).await?;
    let after = load_household_tx(tx, id).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "update",
            entity: "household",
            entity_id: id.to_string(),
            household_id: Some(id),
            region_code: &after.village_code,
            before: Some(before.audit_json()),
            after: Some(after.audit_json()),
            detail: "修改家庭基本信息".into(),
        },
    )
    .await
}

/// Adds a member to an existing household.
pub async fn add_member(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    household_id: i64,
    version: i64,
    m: &MemberRecord,
    today: NaiveDate,
) -> Result<i64> {
    let h = lock_household(tx, scope, household_id, Some(version)).await?;
    if h.status != "active" {
        return Err(StoreError::Invalid("该户已注销，不能添加成员".into()));
    }
    if m.relation.code() == "head" && has_head(tx, household_id, None).await? {
        return Err(StoreError::Invalid(
            "该户已有户主；一户只能有一名户主".into(),
        ));
    }
    ensure_ids_free(tx, &[m.id_number.as_str()], None).await?;
    let codes = codes_of(&h.village_code)?;
    let pid = insert_person(tx, &codes, household_id, m, today, "新增成员").await?;
    refresh_summary(tx, household_id, today).await?;
    let p = load_person_tx(tx, pid).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "create",
            entity: "person",
            entity_id: pid.to_string(),
            household_id: Some(household_id),
            region_code: &h.village_code,
            before: None,
            after: Some(p.audit_json()),
            detail: format!("新增成员 {}", p.name),
        },
    )
    .await?;
    Ok(pid)
}

async fn has_head(tx: &mut Tx, household_id: i64, except: Option<i64>) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE household_id = $1 AND relation = 'head' AND status = 'alive' AND id <> $2")
        .bind(household_id)
        .bind(except.unwrap_or(-1))
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Edits a member with an optimistic version check on the person.
pub async fn update_member(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    person_id: i64,
    version: i64,
    m: &MemberRecord,
    today: NaiveDate,
) -> Result<()> {
    let before = load_person_tx(tx, person_id).await?;
    if !scope.covers(&before.village_code) {
        return Err(StoreError::NotFound);
    }
    if before.version != version {
        return Err(StoreError::Conflict(format!(
            "该成员信息已被他人修改（当前为第 {} 版），您的修改未保存。请刷新页面后重新提交。",
            before.version
        )));
    }
    if m.relation.code() == "head" && has_head(tx, before.household_id, Some(person_id)).await? {
        return Err(StoreError::Invalid(
            "该户已有户主；请先把原户主改为其他关系".into(),
        ));
    }
    ensure_ids_free(tx, &[m.id_number.as_str()], Some(person_id)).await?;
    let n = sqlx::query(
        "UPDATE persons SET relation=$1, name=$2, id_number=$3, id_number_original=$4, id_reversed=$5, sex=$6, birth_date=$7, \
         phone=$8, disability_type=$9, disability_grade=$10, illnesses=$11, self_care_unable=$12, employment=$13, schooling=$14, \
         version=version+1, updated_at=$15 WHERE id=$16 AND version=$17",
    )
    .bind(m.relation.code())
    .bind(m.name.clone())
    .bind(m.id_number.as_str().to_string())
    .bind(m.id_number.original().map(str::to_string))
    .bind(reversed(m.id_number.as_str()))
    .bind(m.id_number.sex().code())
    .bind(m.id_number.birth_date().to_string())
    .bind(m.phone.clone())
    .bind(m.disability.map(|d| d.0.code()))
    .bind(m.disability.map(|d| d.1 as i64))
    .bind(m.illnesses.clone())
    .bind(m.self_care.bits() as i64)
    .bind(m.employment.code())
    .bind(m.schooling.code())
    .bind(now_ts())
    .bind(person_id)
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::unique_violation(e, "身份证号已在本区登记（一人只能属于一个家庭）"))?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该成员信息已被他人修改，请刷新页面后重新提交".into(),
        ));
    }
    sqlx::query("UPDATE memberships SET relation = $1 WHERE person_id = $2 AND end_date IS NULL")
        .bind(m.relation.code())
        .bind(person_id)
        .execute(&mut **tx)
        .await?;
    refresh_summary(tx, before.household_id, today).await?;
    let after = load_person_tx(tx, person_id).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "update",
            entity: "person",
            entity_id: person_id.to_string(),
            household_id: Some(before.household_id),
            region_code: &before.village_code,
            before: Some(before.audit_json()),
            after: Some(after.audit_json()),
            detail: format!("修改成员信息 {}", after.name),
        },
    )
    .await
}

/// Moves a member into another household (history kept in `memberships`). When the
/// member is the head of a household that keeps other living members, `new_head`
/// names who becomes head there.
#[allow(clippy::too_many_arguments)]
pub async fn move_member(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    person_id: i64,
    target_household_id: i64,
    relation: doudi_domain::person::Relation,
    new_head: Option<i64>,
    reason: &str,
    today: NaiveDate,
) -> Result<()> {
    let p = load_person_tx(tx, person_id).await?;
    if !scope.covers(&p.village_code) {
        return Err(StoreError::NotFound);
    }
    if p.status != "alive" {
        return Err(StoreError::Invalid("已故人员不能迁移".into()));
    }
    if p.household_id == target_household_id {
        return Err(StoreError::Invalid("目标家庭与当前家庭相同".into()));
    }
    let target = lock_household(tx, scope, target_household_id, None).await?;
    if target.status != "active" {
        return Err(StoreError::Invalid("目标家庭已注销".into()));
    }
    if relation.code() == "head" && has_head(tx, target_household_id, None).await? {
        return Err(StoreError::Invalid(
            "目标家庭已有户主；请选择其他关系".into(),
        ));
    }
    let source_id = p.household_id;
    let others: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM persons WHERE household_id = $1 AND id <> $2 AND status = 'alive'",
    )
    .bind(source_id)
    .bind(person_id)
    .fetch_all(&mut **tx)
    .await?;
    if p.relation == "head" && !others.is_empty() {
        let Some(nh) = new_head.filter(|nh| others.contains(nh)) else {
            return Err(StoreError::Invalid(
                "迁出的是户主，请为原家庭指定新户主".into(),
            ));
        };
        sqlx::query("UPDATE persons SET relation = 'head', version = version + 1 WHERE id = $1")
            .bind(nh)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE memberships SET relation = 'head' WHERE person_id = $1 AND end_date IS NULL",
        )
        .bind(nh)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE memberships SET end_date = $1, reason = reason || '；迁出：' || $2 WHERE person_id = $3 AND end_date IS NULL")
        .bind(today.to_string())
        .bind(reason.to_string())
        .bind(person_id)
        .execute(&mut **tx)
        .await?;
    let codes = codes_of(&target.village_code)?;
    sqlx::query(
        "UPDATE persons SET household_id=$1, relation=$2, county_code=$3, town_code=$4, village_code=$5, version=version+1, updated_at=$6 WHERE id=$7",
    )
    .bind(target_household_id)
    .bind(relation.code())
    .bind(codes.0.clone())
    .bind(codes.1.clone())
    .bind(codes.2.clone())
    .bind(now_ts())
    .bind(person_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO memberships (county_code, person_id, household_id, relation, start_date, end_date, reason) VALUES ($1,$2,$3,$4,$5,NULL,$6)",
    )
    .bind(codes.0.clone())
    .bind(person_id)
    .bind(target_household_id)
    .bind(relation.code())
    .bind(today.to_string())
    .bind(format!("迁入：{reason}"))
    .execute(&mut **tx)
    .await?;
    // A household whose last living member left is dissolved, not deleted.
    if others.is_empty() {
        sqlx::query("UPDATE households SET status = 'dissolved' WHERE id = $1")
            .bind(source_id)
            .execute(&mut **tx)
            .await?;
    }
    refresh_summary(tx, source_id, today).await?;
    refresh_summary(tx, target_household_id, today).await?;
    let src = load_household_tx(tx, source_id).await?;
    for (hid, region, detail) in [
        (
            source_id,
            src.village_code.clone(),
            format!(
                "成员 {} 迁出至第 {} 号家庭：{reason}",
                p.name, target_household_id
            ),
        ),
        (
            target_household_id,
            target.village_code.clone(),
            format!("成员 {} 由第 {} 号家庭迁入：{reason}", p.name, source_id),
        ),
    ] {
        audit::record(
            &mut **tx,
            actor,
            AuditEntry {
                action: "move_member",
                entity: "person",
                entity_id: person_id.to_string(),
                household_id: Some(hid),
                region_code: &region,
                before: Some(json!({"household_id": source_id, "relation": p.relation})),
                after: Some(
                    json!({"household_id": target_household_id, "relation": relation.code()}),
                ),
                detail,
            },
        )
        .await?;
    }
    Ok(())
}

/// Splits members off into a new household (分户) in the same village, keeping history.
#[allow(clippy::too_many_arguments)]
pub async fn split(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    source_id: i64,
    version: i64,
    member_ids: &[i64],
    new_head_id: i64,
    remaining_head: Option<i64>,
    residence_address: &str,
    phone: Option<String>,
    reason: &str,
    today: NaiveDate,
) -> Result<i64> {
    let src = lock_household(tx, scope, source_id, Some(version)).await?;
    if member_ids.is_empty() || !member_ids.contains(&new_head_id) {
        return Err(StoreError::Invalid(
            "请选择要分出的成员，并在其中指定新户的户主".into(),
        ));
    }
    let alive: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM persons WHERE household_id = $1 AND status = 'alive'")
            .bind(source_id)
            .fetch_all(&mut **tx)
            .await?;
    if member_ids.iter().any(|m| !alive.contains(m)) {
        return Err(StoreError::Invalid("所选成员不属于该户或已故".into()));
    }
    if member_ids.len() == alive.len() {
        return Err(StoreError::Invalid(
            "不能把全部成员分出；分户后原户至少保留一人".into(),
        ));
    }
    let now = now_ts();
    let codes = codes_of(&src.village_code)?;
    let new_id: i64 = sqlx::query_scalar(
        "INSERT INTO households (county_code, town_code, village_code, head_name, size, registration_address, residence_address, \
         residence_village_code, phone, categories, note, status, version, created_at, updated_at) \
         VALUES ($1,$2,$3,'',0,$4,$5,$6,$7,'',$8,'active',0,$9,$9) RETURNING id",
    )
    .bind(codes.0.clone())
    .bind(codes.1.clone())
    .bind(codes.2.clone())
    .bind(src.registration_address.clone())
    .bind(residence_address.to_string())
    .bind(src.residence_village_code.clone())
    .bind(phone)
    .bind(format!("由第 {source_id} 号家庭分户：{reason}"))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "split",
            entity: "household",
            entity_id: new_id.to_string(),
            household_id: Some(new_id),
            region_code: &src.village_code,
            before: None,
            after: Some(json!({"from": source_id, "members": member_ids})),
            detail: format!("由第 {source_id} 号家庭分户：{reason}"),
        },
    )
    .await?;
    let head_rel = doudi_domain::person::Relation::from_code("head").expect("head relation");
    let other_rel = doudi_domain::person::Relation::from_code("other").expect("other relation");
    // The new head moves first so that the later members join a household with a head.
    let mut ordered = vec![new_head_id];
    ordered.extend(member_ids.iter().copied().filter(|m| *m != new_head_id));
    for pid in ordered {
        let rel = if pid == new_head_id {
            head_rel
        } else {
            other_rel
        };
        move_member(
            tx,
            actor,
            scope,
            pid,
            new_id,
            rel,
            remaining_head,
            &format!("分户：{reason}"),
            today,
        )
        .await?;
    }
    Ok(new_id)
}

/// Records a death: the person stays in the file as deceased, membership ends.
pub async fn record_death(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    person_id: i64,
    version: i64,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<()> {
    let p = load_person_tx(tx, person_id).await?;
    if !scope.covers(&p.village_code) {
        return Err(StoreError::NotFound);
    }
    if p.version != version {
        return Err(StoreError::Conflict(
            "该成员信息已被他人修改，请刷新页面后重新提交".into(),
        ));
    }
    if p.status == "deceased" {
        return Err(StoreError::Invalid("该成员已登记为已故".into()));
    }
    if date > today {
        return Err(StoreError::Invalid("死亡日期不能晚于今天".into()));
    }
    if date.to_string() < p.birth_date {
        return Err(StoreError::Invalid("死亡日期不能早于出生日期".into()));
    }
    let n = sqlx::query("UPDATE persons SET status='deceased', death_date=$1, version=version+1, updated_at=$2 WHERE id=$3 AND version=$4")
        .bind(date.to_string())
        .bind(now_ts())
        .bind(person_id)
        .bind(version)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::Conflict(
            "该成员信息已被他人修改，请刷新页面后重新提交".into(),
        ));
    }
    sqlx::query("UPDATE memberships SET end_date=$1, reason = reason || '；死亡' WHERE person_id=$2 AND end_date IS NULL")
        .bind(date.to_string())
        .bind(person_id)
        .execute(&mut **tx)
        .await?;
    let alive: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons WHERE household_id = $1 AND status = 'alive'",
    )
    .bind(p.household_id)
    .fetch_one(&mut **tx)
    .await?;
    if alive == 0 {
        sqlx::query("UPDATE households SET status = 'dissolved' WHERE id = $1")
            .bind(p.household_id)
            .execute(&mut **tx)
            .await?;
    }
    refresh_summary(tx, p.household_id, today).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "death",
            entity: "person",
            entity_id: person_id.to_string(),
            household_id: Some(p.household_id),
            region_code: &p.village_code,
            before: Some(json!({"status": p.status})),
            after: Some(json!({"status": "deceased", "death_date": date.to_string()})),
            detail: format!("登记死亡：{}，{}", p.name, date),
        },
    )
    .await
}

/// Household items (income, asset, category): added and removed/ended, each audited.
pub enum ItemChange {
    AddIncome(IncomeRecord, Option<i64>),
    RemoveIncome(i64),
    AddAsset(AssetRecord),
    RemoveAsset(i64),
    AddCategory(CategoryRecord),
    EndCategory(i64, NaiveDate),
}

pub async fn change_item(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    household_id: i64,
    version: i64,
    change: ItemChange,
    today: NaiveDate,
) -> Result<()> {
    let h = lock_household(tx, scope, household_id, Some(version)).await?;
    let county = h.county_code.clone();
    let (action, detail, before, after) = match change {
        ItemChange::AddIncome(i, person) => {
            if let Some(pid) = person {
                let ok: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM persons WHERE id = $1 AND household_id = $2",
                )
                .bind(pid)
                .bind(household_id)
                .fetch_one(&mut **tx)
                .await?;
                if ok == 0 {
                    return Err(StoreError::Invalid("收入所属成员不在该户".into()));
                }
            }
            let id = insert_income(tx, &county, household_id, person, &i).await?;
            (
                "add_income",
                format!(
                    "新增收入：{} {} 元/月",
                    i.kind.label(),
                    i.monthly.yuan_string()
                ),
                None,
                Some(
                    json!({"id": id, "kind": i.kind.code(), "monthly_fen": i.monthly.fen(), "description": i.description}),
                ),
            )
        }
        ItemChange::RemoveIncome(id) => {
            let row = sqlx::query("SELECT kind, monthly_fen, description FROM income_items WHERE id = $1 AND household_id = $2")
                .bind(id)
                .bind(household_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            sqlx::query("DELETE FROM income_items WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let b = json!({"id": id, "kind": row.get::<String, _>(0), "monthly_fen": row.get::<i64, _>(1), "description": row.get::<String, _>(2)});
            ("remove_income", "删除收入项".to_string(), Some(b), None)
        }
        ItemChange::AddAsset(a) => {
            let id = insert_asset(tx, &county, household_id, &a).await?;
            (
                "add_asset",
                format!("新增财产：{} {} 元", a.kind.label(), a.value.yuan_string()),
                None,
                Some(
                    json!({"id": id, "kind": a.kind.code(), "value_fen": a.value.fen(), "description": a.description}),
                ),
            )
        }
        ItemChange::RemoveAsset(id) => {
            let row = sqlx::query("SELECT kind, value_fen, description FROM assets WHERE id = $1 AND household_id = $2")
                .bind(id)
                .bind(household_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            sqlx::query("DELETE FROM assets WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let b = json!({"id": id, "kind": row.get::<String, _>(0), "value_fen": row.get::<i64, _>(1), "description": row.get::<String, _>(2)});
            ("remove_asset", "删除财产项".to_string(), Some(b), None)
        }
        ItemChange::AddCategory(c) => {
            let id = insert_category(tx, &county, household_id, &c).await?;
            (
                "add_category",
                format!("新增救助类别：{}（自 {}）", c.category.label(), c.start),
                None,
                Some(
                    json!({"id": id, "category": c.category.code(), "start": c.start.to_string()}),
                ),
            )
        }
        ItemChange::EndCategory(id, end) => {
            let row = sqlx::query("SELECT category, start_date, end_date FROM household_categories WHERE id = $1 AND household_id = $2")
                .bind(id)
                .bind(household_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let start: String = row.get(1);
            if row.get::<Option<String>, _>(2).is_some() {
                return Err(StoreError::Invalid("该类别已终止".into()));
            }
            if end.to_string() < start {
                return Err(StoreError::Invalid("终止日期不能早于开始日期".into()));
            }
            sqlx::query("UPDATE household_categories SET end_date = $1 WHERE id = $2")
                .bind(end.to_string())
                .bind(id)
                .execute(&mut **tx)
                .await?;
            (
                "end_category",
                format!("终止救助类别（{end}）"),
                Some(json!({"id": id, "category": row.get::<String, _>(0), "end": null})),
                Some(json!({"id": id, "end": end.to_string()})),
            )
        }
    };
    refresh_summary(tx, household_id, today).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action,
            entity: "household",
            entity_id: household_id.to_string(),
            household_id: Some(household_id),
            region_code: &h.village_code,
            before,
            after,
            detail,
        },
    )
    .await
}

/// Registers a category decided by an approved item (`detail` says which),
/// unless the household already holds it. Audited as a change of the file.
pub async fn grant_category(
    tx: &mut Tx,
    actor: &AuditActor,
    scope: &Scope,
    household_id: i64,
    category: doudi_domain::household::Category,
    start: NaiveDate,
    today: NaiveDate,
    detail: String,
) -> Result<bool> {
    let h = lock_household(tx, scope, household_id, None).await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM household_categories WHERE household_id = $1 AND category = $2 AND end_date IS NULL",
    )
    .bind(household_id)
    .bind(category.code())
    .fetch_one(&mut **tx)
    .await?;
    if held > 0 {
        return Ok(false);
    }
    let c = CategoryRecord {
        category,
        start,
        end: None,
    };
    let id = insert_category(tx, &h.county_code, household_id, &c).await?;
    refresh_summary(tx, household_id, today).await?;
    audit::record(
        &mut **tx,
        actor,
        AuditEntry {
            action: "add_category",
            entity: "household",
            entity_id: household_id.to_string(),
            household_id: Some(household_id),
            region_code: &h.village_code,
            before: None,
            after: Some(json!({"id": id, "category": category.code(), "start": start.to_string()})),
            detail,
        },
    )
    .await?;
    Ok(true)
}

/// The category of a household's category line, if it exists.
pub async fn category_of_line(db: &Db, household_id: i64, line_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT category FROM household_categories WHERE id = $1 AND household_id = $2",
    )
    .bind(line_id)
    .bind(household_id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Totals for the dashboard of a scope.
pub async fn totals(db: &Db, scope: &Scope) -> Result<(i64, i64)> {
    let col = scope.column();
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM households WHERE {col} = $1 AND status = 'active'"
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .fetch_one(&db.pool)
        .await?;
    Ok((r.get(0), r.get(1)))
}

/// Households per category in scope (active categories only).
pub async fn category_counts(
    db: &Db,
    scope: &Scope,
    today: NaiveDate,
) -> Result<Vec<(String, i64)>> {
    let col = scope.column();
    let sql = format!(
        "SELECT c.category, COUNT(DISTINCT c.household_id) FROM household_categories c JOIN households h ON h.id = c.household_id \
         WHERE h.{col} = $1 AND h.status = 'active' AND c.start_date <= $2 AND (c.end_date IS NULL OR c.end_date >= $2) \
         GROUP BY c.category ORDER BY c.category"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.0.as_str().to_string())
        .bind(today.to_string())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}
