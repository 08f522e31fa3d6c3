//! Bulk loading for the demo generator and benchmarks: multi-row INSERTs with ids chosen
//! by the loader, inside large transactions. Only used on a database being filled by
//! `doudi demo` / `doudi bench`; everyday writes go through `households`.

use chrono::NaiveDate;
use doudi_domain::household::HouseholdRecord;
use doudi_domain::person::Coded;

use crate::{Backend, Db, Result, Tx, now_ts};

/// A value for a multi-row insert; nulls carry their type because PostgreSQL needs it.
#[derive(Clone, Debug)]
pub enum Val {
    I(i64),
    S(String),
    NullI,
    NullS,
}

fn opt_s(v: Option<String>) -> Val {
    v.map(Val::S).unwrap_or(Val::NullS)
}
fn opt_i(v: Option<i64>) -> Val {
    v.map(Val::I).unwrap_or(Val::NullI)
}

/// `(…),(…)` placeholders for `rows` rows of `cols` values. SQLite gets
/// positional `?`: it treats `$N` as named parameters, and resolving
/// thousands of names per statement is quadratic.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * (cols * 4 + 3));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Inserts `rows` into `table` in chunks that stay under both backends' parameter limits.
pub async fn insert_rows(
    tx: &mut Tx,
    backend: Backend,
    table: &str,
    cols: &[&str],
    rows: &[Vec<Val>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Moderate statements: SQLite parses huge VALUES lists slowly.
    let per_chunk = (8_000 / cols.len()).clamp(1, 400);
    for chunk in rows.chunks(per_chunk) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            cols.join(", "),
            values_placeholders(backend, chunk.len(), cols.len())
        );
        bind_rows(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Binds the values of `rows` in order (for a statement built with
/// [`values_placeholders`]).
pub(crate) fn bind_rows<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    rows: &[Vec<Val>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for row in rows {
        for v in row {
            q = match v {
                Val::I(i) => q.bind(*i),
                Val::S(s) => q.bind(s.clone()),
                Val::NullI => q.bind(None::<i64>),
                Val::NullS => q.bind(None::<String>),
            };
        }
    }
    q
}

/// Next free ids for households and persons (the loader assigns ids itself).
pub async fn next_ids(db: &Db) -> Result<(i64, i64, i64)> {
    let h: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM households")
        .fetch_one(&db.pool)
        .await?;
    let p: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM persons")
        .fetch_one(&db.pool)
        .await?;
    let m: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM memberships")
        .fetch_one(&db.pool)
        .await?;
    Ok((h, p, m))
}

/// Keeps PostgreSQL identity sequences ahead of ids chosen by the loader.
pub async fn sync_sequences(db: &Db) -> Result<()> {
    if db.backend != Backend::Postgres {
        return Ok(());
    }
    for t in [
        "households",
        "persons",
        "memberships",
        "income_items",
        "assets",
        "household_categories",
    ] {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM {t}), 1))"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.writer())
            .await?;
    }
    Ok(())
}

/// Id counters carried across batches.
#[derive(Clone, Copy, Debug)]
pub struct IdCursor {
    pub household: i64,
    pub person: i64,
    pub membership: i64,
}

/// Writes a batch of generated households in one transaction.
pub async fn load_households(
    db: &Db,
    cursor: &mut IdCursor,
    batch: &[HouseholdRecord],
    today: NaiveDate,
) -> Result<()> {
    let now = now_ts();
    let mut hh = Vec::with_capacity(batch.len());
    let mut pp = Vec::with_capacity(batch.len() * 3);
    let mut mm = Vec::with_capacity(batch.len() * 3);
    let mut ii = Vec::new();
    let mut aa = Vec::new();
    let mut cc = Vec::new();
    for rec in batch {
        let hid = cursor.household;
        cursor.household += 1;
        let county = rec.village_code[..6].to_string();
        let town = rec.village_code[..9].to_string();
        let village = rec.village_code.clone();
        let mut person_ids = Vec::with_capacity(rec.members.len());
        let mut alive = 0;
        for m in &rec.members {
            let pid = cursor.person;
            cursor.person += 1;
            person_ids.push(pid);
            let (status, death) = match m.deceased_on {
                Some(d) => ("deceased", Some(d.to_string())),
                None => {
                    alive += 1;
                    ("alive", None)
                }
            };
            let id = m.id_number.as_str();
            pp.push(vec![
                Val::I(pid),
                Val::S(county.clone()),
                Val::S(town.clone()),
                Val::S(village.clone()),
                Val::I(hid),
                Val::S(m.relation.code().into()),
                Val::S(m.name.clone()),
                Val::S(id.to_string()),
                opt_s(m.id_number.original().map(str::to_string)),
                Val::S(id.chars().rev().collect()),
                Val::S(m.id_number.sex().code().into()),
                Val::S(m.id_number.birth_date().to_string()),
                opt_s(m.phone.clone()),
                opt_s(m.disability.map(|d| d.0.code().to_string())),
                opt_i(m.disability.map(|d| d.1 as i64)),
                Val::S(m.illnesses.clone()),
                Val::I(m.self_care.bits() as i64),
                Val::S(m.employment.code().into()),
                Val::S(m.schooling.code().into()),
                Val::S(status.into()),
                opt_s(death.clone()),
                Val::I(1),
                Val::S(now.clone()),
                Val::S(now.clone()),
            ]);
            mm.push(vec![
                Val::I(cursor.membership),
                Val::S(county.clone()),
                Val::I(pid),
                Val::I(hid),
                Val::S(m.relation.code().into()),
                Val::S(
                    m.id_number
                        .birth_date()
                        .max(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap())
                        .to_string(),
                ),
                opt_s(death),
                Val::S("建档".into()),
            ]);
            cursor.membership += 1;
        }
        for i in &rec.incomes {
            ii.push(vec![
                Val::S(county.clone()),
                Val::I(hid),
                opt_i(i.member_index.and_then(|k| person_ids.get(k).copied())),
                Val::S(i.kind.code().into()),
                Val::S(i.description.clone()),
                Val::I(i.monthly.fen()),
                Val::S(now.clone()),
            ]);
        }
        for a in &rec.assets {
            aa.push(vec![
                Val::S(county.clone()),
                Val::I(hid),
                Val::S(a.kind.code().into()),
                Val::S(a.description.clone()),
                Val::I(a.value.fen()),
                Val::S(now.clone()),
            ]);
        }
        let mut active = Vec::new();
        for c in &rec.categories {
            if c.start <= today && c.end.is_none_or(|e| e >= today) {
                active.push(c.category.code());
            }
            cc.push(vec![
                Val::S(county.clone()),
                Val::I(hid),
                Val::S(c.category.code().into()),
                Val::S(c.start.to_string()),
                opt_s(c.end.map(|d| d.to_string())),
            ]);
        }
        active.sort();
        active.dedup();
        hh.push(vec![
            Val::I(hid),
            Val::S(county),
            Val::S(town),
            Val::S(village),
            Val::S(
                rec.members
                    .first()
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
            ),
            Val::I(alive),
            Val::S(rec.registration_address.clone()),
            Val::S(rec.residence_address.clone()),
            opt_s(rec.residence_village_code.clone()),
            opt_s(rec.phone.clone()),
            Val::S(active.join(",")),
            Val::S(rec.note.clone()),
            Val::S(if alive > 0 { "active" } else { "dissolved" }.into()),
            Val::I(1),
            Val::S(now.clone()),
            Val::S(now.clone()),
        ]);
    }
    let mut tx = db.begin_write().await?;
    insert_rows(
        &mut tx,
        db.backend,
        "households",
        &[
            "id",
            "county_code",
            "town_code",
            "village_code",
            "head_name",
            "size",
            "registration_address",
            "residence_address",
            "residence_village_code",
            "phone",
            "categories",
            "note",
            "status",
            "version",
            "created_at",
            "updated_at",
        ],
        &hh,
    )
    .await?;
    insert_rows(
        &mut tx,
        db.backend,
        "persons",
        &[
            "id",
            "county_code",
            "town_code",
            "village_code",
            "household_id",
            "relation",
            "name",
            "id_number",
            "id_number_original",
            "id_reversed",
            "sex",
            "birth_date",
            "phone",
            "disability_type",
            "disability_grade",
            "illnesses",
            "self_care_unable",
            "employment",
            "schooling",
            "status",
            "death_date",
            "version",
            "created_at",
            "updated_at",
        ],
        &pp,
    )
    .await?;
    insert_rows(
        &mut tx,
        db.backend,
        "memberships",
        &[
            "id",
            "county_code",
            "person_id",
            "household_id",
            "relation",
            "start_date",
            "end_date",
            "reason",
        ],
        &mm,
    )
    .await?;
    insert_rows(
        &mut tx,
        db.backend,
        "income_items",
        &[
            "county_code",
            "household_id",
            "person_id",
            "kind",
            "description",
            "monthly_fen",
            "created_at",
        ],
        &ii,
    )
    .await?;
    insert_rows(
        &mut tx,
        db.backend,
        "assets",
        &[
            "county_code",
            "household_id",
            "kind",
            "description",
            "value_fen",
            "created_at",
        ],
        &aa,
    )
    .await?;
    insert_rows(
        &mut tx,
        db.backend,
        "household_categories",
        &[
            "county_code",
            "household_id",
            "category",
            "start_date",
            "end_date",
        ],
        &cc,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
