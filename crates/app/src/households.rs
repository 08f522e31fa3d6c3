//! Household files (一户一档): field rules shared by every door, the
//! assistance-status query, and every write to a file — create, edit,
//! members, moves, splits, deaths, items — with the one-person-one-household
//! check that does not become a registration oracle.

/// Mobile (11 digits starting with 1) or landline (digits with one hyphen); blank is none.
pub fn check_phone(raw: &str) -> Result<Option<String>, String> {
    let p = raw.trim().replace(' ', "");
    if p.is_empty() {
        return Ok(None);
    }
    let digits: String = p.chars().filter(|c| c.is_ascii_digit()).collect();
    let hyphens = p.chars().filter(|c| *c == '-').count();
    let only = p.chars().all(|c| c.is_ascii_digit() || c == '-');
    let mobile = hyphens == 0 && digits.len() == 11 && digits.starts_with('1');
    let landline = hyphens <= 1 && (7..=13).contains(&digits.len()) && digits.starts_with('0');
    if only && (mobile || landline) {
        Ok(Some(p))
    } else {
        Err("电话号码格式不正确：手机号为 1 开头的 11 位数字，固定电话如 0571-88888888".into())
    }
}

#[cfg(test)]
mod tests {
    use super::check_phone;

    #[test]
    fn phones_are_mobiles_or_landlines() {
        assert_eq!(check_phone(" ").unwrap(), None);
        assert_eq!(
            check_phone("138 1234 5678").unwrap().as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            check_phone("0571-88888888").unwrap().as_deref(),
            Some("0571-88888888")
        );
        assert!(check_phone("12345").is_err());
        assert!(check_phone("0571-8888-8888").is_err());
        assert!(check_phone("2381234567a").is_err());
    }
}

// ------------------------------------------------------- assistance status

use doudi_domain::access::Action;
use doudi_domain::household::Category;
use doudi_domain::{Coded, IdNumber};
use doudi_store::Db;
use doudi_store::cases;
use doudi_store::households::{self as hh, Scoped};
use serde::{Deserialize, Serialize};

use crate::caller::Caller;
use crate::error::{Error, Result, field};

/// Who is asked about and why (the purpose is recorded in the audit log).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AssistanceQuery {
    /// The person's 18-digit ID number (15-digit numbers are converted).
    pub id_number: String,
    /// Why the caller asks, e.g. "医疗救助一站式结算资格核验" (at least 4 characters).
    pub purpose: String,
}

/// One assistance line of the household's ledger.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AssistanceLine {
    pub kind: String,
    pub department: String,
    pub amount_yuan: String,
    pub period_start: String,
    pub period_end: Option<String>,
    pub decided_on: String,
}

/// What the status query answers: the household's categories and its
/// ledger, nothing else of the file.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AssistanceStatus {
    pub registered: bool,
    /// Masked name of the person.
    pub name: String,
    pub village_name: String,
    /// Category labels held by the household (低保, 特困 …).
    pub categories: Vec<String>,
    pub ledger: Vec<AssistanceLine>,
}

/// The assistance status of one person by ID number, within the caller's
/// jurisdiction. A stated purpose is required; who asked, why and what was
/// answered is recorded in the audit log. A person outside the caller's
/// jurisdiction reads as not registered (so the answer discloses nothing
/// beyond the caller's own area), and the attempt is audited.
pub async fn assistance_status(
    db: &Db,
    caller: &Caller,
    q: &AssistanceQuery,
) -> Result<AssistanceStatus> {
    if !caller.may(Action::QueryAssistance) {
        crate::audit::denied(db, caller, "assistance_status", 0, caller.region.as_str()).await;
        return Err(Error::forbidden());
    }
    let mut errors = Vec::new();
    let id = IdNumber::parse(q.id_number.trim());
    if let Err(e) = &id {
        errors.push(field("id_number", format!("身份证号：{e}")));
    }
    if q.purpose.trim().chars().count() < 4 {
        errors.push(field(
            "purpose",
            "请说明查询用途（至少 4 个字），用途将记入审计日志",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let id = id.expect("checked");
    let scope = caller.scope();
    let found = hh::person_by_id_number(db, &scope, id.as_str()).await?;
    let (status, household_id, region) = match found {
        Scoped::Found(p) => {
            let h = match hh::get(db, &scope, p.household_id).await? {
                Scoped::Found(h) => h,
                _ => return Err(Error::NotFound),
            };
            let ledger = cases::ledger(db, h.id)
                .await?
                .into_iter()
                .map(|l| AssistanceLine {
                    kind: doudi_domain::workflow::ItemKind::from_code(&l.kind)
                        .map_or_else(|| l.kind.clone(), |k| k.label().to_string()),
                    department: l.department,
                    amount_yuan: doudi_domain::Money::from_fen(l.amount_fen).to_string(),
                    period_start: l.period_start,
                    period_end: l.period_end,
                    decided_on: l.decided_on,
                })
                .collect();
            let categories = h
                .categories
                .split(',')
                .filter_map(Category::from_code)
                .map(|c| c.label().to_string())
                .collect();
            (
                AssistanceStatus {
                    registered: true,
                    name: doudi_domain::mask::mask_name(&p.name),
                    village_name: h.village_name.clone(),
                    categories,
                    ledger,
                },
                Some(h.id),
                h.village_code.clone(),
            )
        }
        // Answered like a person nobody registered, and with the same one
        // audit entry (a denial instead of a view), so neither the answer
        // nor its timing tells the two apart.
        Scoped::OutOfScope { village_code } => (not_registered(), None, village_code),
        Scoped::Missing => (not_registered(), None, caller.region.as_str().to_string()),
    };
    let foreign = !status.registered && region != caller.region.as_str();
    crate::audit::event(
        db,
        caller,
        if foreign { "denied" } else { "view" },
        "assistance_status",
        id.masked(),
        household_id,
        &region,
        format!(
            "救助状态查询（用途：{}）：{}",
            q.purpose.trim(),
            if status.registered {
                format!(
                    "在册，类别 {}，救助记录 {} 条",
                    if status.categories.is_empty() {
                        "无".to_string()
                    } else {
                        status.categories.join("、")
                    },
                    status.ledger.len()
                )
            } else if foreign {
                "辖区外人员，按未登记答复".to_string()
            } else {
                "辖区内未登记".to_string()
            }
        ),
    )
    .await?;
    Ok(status)
}

fn not_registered() -> AssistanceStatus {
    AssistanceStatus {
        registered: false,
        name: String::new(),
        village_name: String::new(),
        categories: Vec::new(),
        ledger: Vec::new(),
    }
}

// ------------------------------------------------------- registry writes
//
// Every write to a household file, for pages, the API and the command line
// alike: the record is looked up through `access` (out of scope → audited
// 403), the role is checked (audited), the input's own jurisdiction is
// checked (a foreign village or target household is refused as a field
// error and audited), then the store writes in one transaction.

use chrono::NaiveDate;
use doudi_domain::household::{HouseholdRecord, MemberRecord};
use doudi_domain::person::Relation;
use doudi_store::StoreError;
pub use doudi_store::households::{HouseholdEdit, HouseholdFile, ItemChange};
use doudi_store::households::{HouseholdRow, PersonRow};

use crate::access;

/// How often in 24 hours an account may be told that an ID number it typed is
/// registered outside its jurisdiction. The answer is needed (one person, one
/// household) but must not become a way to find out who is on assistance
/// elsewhere (issue 10, item 5); past the limit the account's registrations
/// wait until the next day.
pub const FOREIGN_DUPLICATE_LIMIT: i64 = 20;

/// The audit action of an answer "registered outside your jurisdiction".
pub const FOREIGN_DUPLICATE: &str = "duplicate_id";

/// Refuses a field whose value lies outside the caller's jurisdiction: the
/// attempt is audited as `denied`, the answer is a field error (the form
/// keeps what was typed).
async fn refuse_field(
    db: &Db,
    caller: &Caller,
    entity: &str,
    region: &str,
    field_name: &str,
    message: &str,
) -> Error {
    crate::audit::denied(db, caller, entity, 0, region).await;
    Error::invalid(field_name, message)
}

/// A store refusal as a field error: the store's messages name what they are
/// about, `fields` maps a word of the message to the input field.
fn store_refusal(e: StoreError, fields: &[(&str, &str)], default_field: &str) -> Error {
    match e {
        StoreError::Invalid(m) => {
            let f = fields
                .iter()
                .find(|(word, _)| m.contains(word))
                .map_or(default_field, |(_, f)| f);
            Error::invalid(f, m)
        }
        other => other.into(),
    }
}

/// How many more "registered elsewhere" answers the caller may get today.
pub async fn foreign_duplicates_left(db: &Db, caller: &Caller) -> Result<i64> {
    foreign_duplicates_left_for(db, caller.user.id).await
}

/// The same for an account by id (imports run with an audit actor).
pub async fn foreign_duplicates_left_for(db: &Db, user_id: i64) -> Result<i64> {
    let used = doudi_store::audit::count_within(
        db,
        user_id,
        FOREIGN_DUPLICATE,
        chrono::Duration::hours(24),
    )
    .await?;
    Ok(FOREIGN_DUPLICATE_LIMIT - used)
}

/// The refusal once the limit is used up: it says nothing about the ID
/// numbers typed, and is audited.
async fn duplicate_limit_reached(db: &Db, caller: &Caller, field_name: &str) -> Error {
    refuse_field(
        db,
        caller,
        "duplicate_check",
        caller.region.as_str(),
        field_name,
        &format!(
            "今日已有 {FOREIGN_DUPLICATE_LIMIT} 次身份证号被告知已在其他辖区登记，本账号的建档和添加成员暂停至 24 小时后；如确需办理，请联系区民政部门"
        ),
    )
    .await
}

/// One person, one household: refuses ID numbers already registered. Within
/// the caller's jurisdiction the answer says where (the caller sees that
/// household anyway); outside it says only that the number is registered in
/// the district, is audited, and counts toward [`FOREIGN_DUPLICATE_LIMIT`].
pub async fn ensure_unregistered(
    db: &Db,
    caller: &Caller,
    ids: &[(String, &IdNumber)],
) -> Result<()> {
    let Some(first_field) = ids.first().map(|(f, _)| f.as_str()) else {
        return Ok(());
    };
    // More numbers than answers left: refused before anything is looked up,
    // so the refusal says nothing about the numbers.
    if foreign_duplicates_left(db, caller).await? < ids.len() as i64 {
        return Err(duplicate_limit_reached(db, caller, first_field).await);
    }
    let numbers: Vec<String> = ids.iter().map(|(_, id)| id.as_str().to_string()).collect();
    let held = hh::id_number_villages(db, &numbers).await?;
    let mut errors = Vec::new();
    let mut foreign = Vec::new();
    for (field_name, id) in ids {
        let Some(village) = held.get(id.as_str()) else {
            continue;
        };
        if caller.covers(village) {
            errors.push(field(
                field_name,
                format!(
                    "身份证号 {} 已登记在您辖区的另一户中（一人只能属于一个家庭）；请在户籍查询中找到该户，用“迁移成员”迁入",
                    id.masked()
                ),
            ));
        } else {
            foreign.push(doudi_store::audit::AuditEntry {
                action: FOREIGN_DUPLICATE,
                entity: "person",
                entity_id: id.masked(),
                household_id: None,
                region_code: village,
                before: None,
                after: None,
                detail: format!(
                    "建档查重：身份证号 {} 已在其他辖区登记（未告知位置）",
                    id.masked()
                ),
            });
            errors.push(field(
                field_name,
                format!(
                    "身份证号 {} 已在本区登记（一人只能属于一个家庭），不在您的辖区；如需迁入，请联系区民政部门办理迁移",
                    id.masked()
                ),
            ));
        }
    }
    // The answers are recorded, and counted, atomically: requests of one
    // account sent in parallel cannot get more than the limit between them.
    if !foreign.is_empty() && !record_foreign_answers(db, &caller.audit(), foreign).await? {
        return Err(duplicate_limit_reached(db, caller, first_field).await);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Records "registered elsewhere" answers unless they would exceed the limit.
pub async fn record_foreign_answers(
    db: &Db,
    actor: &doudi_store::audit::AuditActor,
    entries: Vec<doudi_store::audit::AuditEntry<'_>>,
) -> Result<bool> {
    Ok(doudi_store::audit::append_within_limit(
        db,
        actor,
        FOREIGN_DUPLICATE,
        FOREIGN_DUPLICATE_LIMIT,
        chrono::Duration::hours(24),
        entries,
    )
    .await?)
}

/// Creates a household with its members. Field names of refusals:
/// `village_code`, `members[i].id_number`.
pub async fn create(
    db: &Db,
    caller: &Caller,
    rec: &HouseholdRecord,
    today: NaiveDate,
) -> Result<i64> {
    access::role(db, caller, Action::EditHousehold).await?;
    if !caller.covers(&rec.village_code) {
        return Err(refuse_field(
            db,
            caller,
            "household",
            &rec.village_code,
            "village_code",
            "所选村（社区）不在您的管辖范围内",
        )
        .await);
    }
    let ids: Vec<(String, &IdNumber)> = rec
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("members[{i}].id_number"), &m.id_number))
        .collect();
    ensure_unregistered(db, caller, &ids).await?;
    let mut tx = db.begin_write().await?;
    let id = hh::create(&mut tx, &caller.audit(), &caller.scope(), rec, today)
        .await
        .map_err(|e| store_refusal(e, &[("身份证", "members[0].id_number")], "village_code"))?;
    tx.commit().await?;
    Ok(id)
}

/// A household file opened for reading: audited as a view.
pub async fn open_file(db: &Db, caller: &Caller, id: i64, detail: &str) -> Result<HouseholdFile> {
    let (_, h) = access::household(db, caller, id).await?;
    crate::audit::event(
        db,
        caller,
        "view",
        "household",
        h.id.to_string(),
        Some(h.id),
        &h.village_code,
        detail.to_string(),
    )
    .await?;
    Ok(hh::file(db, h).await?)
}

/// Reveals one member's full ID number: an explicit act, audited.
pub async fn reveal_id(
    db: &Db,
    caller: &Caller,
    household_id: i64,
    person_id: i64,
) -> Result<PersonRow> {
    let (_, h) = access::household(db, caller, household_id).await?;
    access::require(
        db,
        caller,
        Action::RevealIdNumber,
        "person",
        person_id,
        &h.village_code,
    )
    .await?;
    let (_, p) = access::person(db, caller, person_id).await?;
    if p.household_id != h.id {
        return Err(Error::NotFound);
    }
    crate::audit::event(
        db,
        caller,
        "reveal_id",
        "person",
        p.id.to_string(),
        Some(h.id),
        &h.village_code,
        format!("查看完整身份证号：{}", p.name),
    )
    .await?;
    Ok(p)
}

/// A household the caller may edit.
async fn editable_household(db: &Db, caller: &Caller, id: i64) -> Result<HouseholdRow> {
    let (_, h) = access::household(db, caller, id).await?;
    access::require(
        db,
        caller,
        Action::EditHousehold,
        "household",
        id,
        &h.village_code,
    )
    .await?;
    Ok(h)
}

/// A person the caller may edit.
async fn editable_person(db: &Db, caller: &Caller, id: i64) -> Result<PersonRow> {
    let (_, p) = access::person(db, caller, id).await?;
    access::require(
        db,
        caller,
        Action::EditHousehold,
        "person",
        id,
        &p.village_code,
    )
    .await?;
    Ok(p)
}

/// Edits the household's own fields (optimistic `version`).
pub async fn update(
    db: &Db,
    caller: &Caller,
    id: i64,
    version: i64,
    edit: &HouseholdEdit,
    today: NaiveDate,
) -> Result<()> {
    editable_household(db, caller, id).await?;
    if !caller.covers(&edit.village_code) {
        return Err(refuse_field(
            db,
            caller,
            "household",
            &edit.village_code,
            "village_code",
            "所选村（社区）不在您的管辖范围内",
        )
        .await);
    }
    let mut tx = db.begin_write().await?;
    hh::update(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        id,
        version,
        edit,
        today,
    )
    .await
    .map_err(|e| store_refusal(e, &[], "village_code"))?;
    tx.commit().await?;
    Ok(())
}

/// Adds a member (optimistic household `version`); refusals name
/// `id_number`, `relation` or `name`.
pub async fn add_member(
    db: &Db,
    caller: &Caller,
    household_id: i64,
    version: i64,
    m: &MemberRecord,
    today: NaiveDate,
) -> Result<i64> {
    editable_household(db, caller, household_id).await?;
    ensure_unregistered(db, caller, &[("id_number".into(), &m.id_number)]).await?;
    let mut tx = db.begin_write().await?;
    let pid = hh::add_member(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        household_id,
        version,
        m,
        today,
    )
    .await
    .map_err(|e| store_refusal(e, MEMBER_FIELDS, "name"))?;
    tx.commit().await?;
    Ok(pid)
}

const MEMBER_FIELDS: &[(&str, &str)] = &[("身份证", "id_number"), ("户主", "relation")];

/// Edits a member (optimistic person `version`).
pub async fn update_member(
    db: &Db,
    caller: &Caller,
    person_id: i64,
    version: i64,
    m: &MemberRecord,
    today: NaiveDate,
) -> Result<()> {
    let p = editable_person(db, caller, person_id).await?;
    if p.id_number != m.id_number.as_str() {
        ensure_unregistered(db, caller, &[("id_number".into(), &m.id_number)]).await?;
    }
    let mut tx = db.begin_write().await?;
    hh::update_member(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        person_id,
        version,
        m,
        today,
    )
    .await
    .map_err(|e| store_refusal(e, MEMBER_FIELDS, "name"))?;
    tx.commit().await?;
    Ok(())
}

/// Moving a person into another household of the caller's jurisdiction.
#[derive(Clone, Debug)]
pub struct MoveMember {
    pub person_id: i64,
    pub target_household_id: i64,
    pub relation: Relation,
    /// The source household's new head, when the head moves out.
    pub new_head: Option<i64>,
    pub reason: String,
}

/// The free-text checks of a move, for a form to show with its own.
pub fn check_move_text(reason: &str) -> Option<crate::error::FieldError> {
    reason
        .trim()
        .is_empty()
        .then(|| field("reason", "请填写迁移原因"))
}

/// Moves a member; refusals name `target`, `new_head` or `reason`. A foreign
/// or missing target gets the same answer (nothing to learn from it), and a
/// foreign one is audited.
pub async fn move_member(
    db: &Db,
    caller: &Caller,
    mv: &MoveMember,
    today: NaiveDate,
) -> Result<()> {
    editable_person(db, caller, mv.person_id).await?;
    if let Some(e) = check_move_text(&mv.reason) {
        return Err(Error::Invalid(vec![e]));
    }
    const NO_TARGET: &str = "目标家庭不存在或不在您的管辖范围内";
    match hh::get(db, &caller.scope(), mv.target_household_id).await? {
        Scoped::Found(_) => {}
        Scoped::Missing => return Err(Error::invalid("target", NO_TARGET)),
        Scoped::OutOfScope { village_code } => {
            return Err(
                refuse_field(db, caller, "household", &village_code, "target", NO_TARGET).await,
            );
        }
    }
    let mut tx = db.begin_write().await?;
    hh::move_member(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        mv.person_id,
        mv.target_household_id,
        mv.relation,
        mv.new_head,
        mv.reason.trim(),
        today,
    )
    .await
    .map_err(|e| store_refusal(e, &[("户主", "new_head")], "target"))?;
    tx.commit().await?;
    Ok(())
}

/// Splitting members off into a new household.
#[derive(Clone, Debug)]
pub struct Split {
    pub household_id: i64,
    pub version: i64,
    pub members: Vec<i64>,
    pub new_head: i64,
    pub remaining_head: Option<i64>,
    pub residence_address: String,
    pub phone: Option<String>,
    pub reason: String,
}

/// The free-text checks of a split, for a form to show with its own.
pub fn check_split_text(residence_address: &str, reason: &str) -> Vec<crate::error::FieldError> {
    let mut errors = Vec::new();
    if residence_address.trim().is_empty() {
        errors.push(field("residence_address", "请填写新户的居住地址"));
    }
    if reason.trim().is_empty() {
        errors.push(field("reason", "请填写分户原因"));
    }
    errors
}

/// Splits a household; returns the new household's id. Refusals name
/// `members`, `remaining_head`, `residence_address` or `reason`.
pub async fn split(db: &Db, caller: &Caller, s: &Split, today: NaiveDate) -> Result<i64> {
    editable_household(db, caller, s.household_id).await?;
    let errors = check_split_text(&s.residence_address, &s.reason);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    let id = hh::split(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        s.household_id,
        s.version,
        &s.members,
        s.new_head,
        s.remaining_head,
        s.residence_address.trim(),
        s.phone.clone(),
        s.reason.trim(),
        today,
    )
    .await
    .map_err(|e| store_refusal(e, &[("户主", "remaining_head")], "members"))?;
    tx.commit().await?;
    Ok(id)
}

/// Records a member's death (optimistic person `version`); refusals name `date`.
pub async fn record_death(
    db: &Db,
    caller: &Caller,
    person_id: i64,
    version: i64,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<()> {
    editable_person(db, caller, person_id).await?;
    let mut tx = db.begin_write().await?;
    hh::record_death(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        person_id,
        version,
        date,
        today,
    )
    .await
    .map_err(|e| store_refusal(e, &[], "date"))?;
    tx.commit().await?;
    Ok(())
}

/// Adds or removes an income, an asset or a category (optimistic household
/// `version`).
pub async fn change_item(
    db: &Db,
    caller: &Caller,
    household_id: i64,
    version: i64,
    change: ItemChange,
    reason: &str,
    today: NaiveDate,
) -> Result<()> {
    let h = editable_household(db, caller, household_id).await?;
    // 低保/特困/低边 are held by decision only: registered when an item is
    // approved. The district approver may correct a wrong entry, with a
    // reason that goes into the audit log.
    let benefit = match &change {
        ItemChange::AddCategory(c) => c.category.carries_benefits(),
        ItemChange::EndCategory(line, _) => hh::category_of_line(db, household_id, *line)
            .await?
            .and_then(|c| doudi_domain::household::Category::from_code(&c))
            .is_some_and(|c| c.carries_benefits()),
        _ => false,
    };
    let correction = benefit.then(|| reason.trim().to_string());
    if benefit {
        if caller.role != doudi_domain::access::Role::DistrictApprover {
            return Err(Error::invalid(
                "kind",
                "低保、特困、低保边缘类别随审批决定登记和终止，不能在档案中直接修改：请受理申请，审批通过后自动登记；登记有误的，由区级审批人员更正",
            ));
        }
        if reason.trim().chars().count() < 4 {
            return Err(Error::invalid(
                "reason",
                "更正享受类别须写明理由（如：原审批决定登记有误，依据某某决定书更正）",
            ));
        }
    }
    let mut tx = db.begin_write().await?;
    hh::change_item(
        &mut tx,
        &caller.audit(),
        &caller.scope(),
        household_id,
        version,
        change,
        today,
    )
    .await
    .map_err(|e| store_refusal(e, &[], "item"))?;
    if let Some(reason) = correction {
        crate::audit::write(
            &mut tx,
            caller,
            "category_correction",
            "household",
            household_id.to_string(),
            Some(household_id),
            &h.village_code,
            None,
            Some(serde_json::json!({"reason": reason})),
            format!("更正享受类别，理由：{reason}"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
