//! 部门与机构: the administrator's list of departments and organisations.
//! Accounts, department items and referrals choose from it (never free
//! text), and a department sends only the feed kinds listed for it.

use doudi_domain::access::{Action, Role};
use doudi_sheets::FeedKind;
use doudi_store::departments::{self, DepartmentFields, DepartmentRow};
use doudi_store::{Db, StoreError};

use crate::caller::Caller;
use crate::error::{Error, FieldError, Result, field};
use crate::{access, audit};

/// A department as typed by the administrator (text fields, so that a
/// refused form can be shown back as typed).
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DepartmentInput {
    /// The version the administrator saw (editing only).
    pub version: String,
    /// Short ASCII code, as in the policy catalogue (creation only), e.g. `yb`.
    pub code: String,
    /// Full name, e.g. 区医疗保障局 (creation only: accounts and items keep it).
    pub name: String,
    /// `department` or `charity`.
    pub kind: String,
    pub phone: String,
    /// Feed codes it may send.
    pub feed_kinds: Vec<String>,
    /// Non-empty: active (chosen from on forms).
    pub active: String,
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "charity" => "慈善组织 / 社会组织",
        _ => "政府部门",
    }
}

/// Every department (for the administrator's page).
pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<DepartmentRow>> {
    access::role(db, caller, Action::ManageUsers).await?;
    Ok(departments::list(db).await?)
}

/// The active departments' names, for the forms that choose one.
pub async fn active_names(db: &Db) -> Result<Vec<String>> {
    Ok(departments::list(db)
        .await?
        .into_iter()
        .filter(|d| d.active)
        .map(|d| d.name)
        .collect())
}

/// The active department of that exact name, if any.
pub async fn active_named(db: &Db, name: &str) -> Result<Option<DepartmentRow>> {
    Ok(departments::by_name(db, name.trim())
        .await?
        .filter(|d| d.active))
}

/// The refusal of a department that is not on the list.
pub fn not_listed(field_name: &str) -> FieldError {
    field(
        field_name,
        "请从列表中选择部门或机构（列表由系统管理员在「部门与机构」中维护）",
    )
}

/// One department, for editing.
pub async fn get(db: &Db, caller: &Caller, id: i64) -> Result<DepartmentRow> {
    access::role(db, caller, Action::ManageUsers).await?;
    departments::get(db, id).await?.ok_or(Error::NotFound)
}

fn check_fields(f: &DepartmentInput, errors: &mut Vec<FieldError>) -> DepartmentFields {
    let kind = match f.kind.trim() {
        "" | "department" => "department",
        "charity" => "charity",
        _ => {
            errors.push(field("kind", "请选择类型"));
            "department"
        }
    };
    let phone = f.phone.trim().to_string();
    if phone.is_empty()
        || phone.len() > 20
        || !phone.chars().all(|c| c.is_ascii_digit() || c == '-')
    {
        errors.push(field(
            "phone",
            "请填写联系电话（数字，可含区号与“-”），便于转介时联系",
        ));
    }
    let mut feed_kinds = vec![];
    for k in &f.feed_kinds {
        match FeedKind::from_code(k.trim()) {
            Some(fk) if !feed_kinds.contains(&fk.code().to_string()) => {
                feed_kinds.push(fk.code().to_string())
            }
            Some(_) => {}
            None => errors.push(field("feed_kinds", "请从列表中选择可报送的数据")),
        }
    }
    if kind == "charity" && !feed_kinds.is_empty() {
        errors.push(field("feed_kinds", "慈善组织不报送部门数据"));
    }
    DepartmentFields {
        kind: kind.into(),
        phone,
        feed_kinds,
        active: !f.active.is_empty(),
    }
}

/// A department's editable fields as the audit log records them.
fn audited(f: &DepartmentFields) -> serde_json::Value {
    serde_json::json!({"kind": f.kind, "phone": f.phone, "feed_kinds": f.feed_kinds.join(","), "active": f.active})
}

/// The audited fields of a new department, with its code and name.
fn with_identity(mut v: serde_json::Value, code: &str, name: &str) -> serde_json::Value {
    v["code"] = code.into();
    v["name"] = name.into();
    v
}

/// Adds a department. Refusals name `code`, `name`, `kind`, `phone` or
/// `feed_kinds`; nothing is written.
pub async fn create(db: &Db, caller: &Caller, f: &DepartmentInput) -> Result<i64> {
    access::role(db, caller, Action::ManageUsers).await?;
    let mut errors = vec![];
    let code = f.code.trim().to_ascii_lowercase();
    if code.is_empty()
        || code.len() > 16
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        errors.push(field(
            "code",
            "代码为 1–16 位小写字母、数字或下划线，如：yb",
        ));
    }
    let name = f.name.trim().to_string();
    let n = name.chars().count();
    if !(2..=40).contains(&n) || name.chars().any(|c| c.is_control() || "<>=\"'".contains(c)) {
        errors.push(field(
            "name",
            "请填写部门或机构的全称（2–40 字），如：区医疗保障局",
        ));
    }
    let fields = check_fields(f, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    let id = match departments::insert(&mut tx, &code, &name, &fields).await {
        Ok(id) => id,
        Err(StoreError::Invalid(m)) => return Err(Error::invalid("name", m)),
        Err(e) => return Err(e.into()),
    };
    audit::write(
        &mut tx,
        caller,
        "admin",
        "department",
        id.to_string(),
        None,
        caller.region.as_str(),
        None,
        Some(with_identity(audited(&fields), &code, &name)),
        format!("新增部门 {name}"),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes a department's type, phone, feeds and whether it is active.
pub async fn update(db: &Db, caller: &Caller, id: i64, f: &DepartmentInput) -> Result<()> {
    let before = get(db, caller, id).await?;
    let mut errors = vec![];
    let fields = check_fields(f, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let version: i64 = f.version.trim().parse().unwrap_or(-1);
    let mut tx = db.begin_write().await?;
    match departments::update(&mut tx, id, version, &fields).await {
        Ok(()) => {}
        Err(StoreError::Conflict(m)) => return Err(Error::Conflict(m)),
        Err(e) => return Err(e.into()),
    }
    audit::write(
        &mut tx,
        caller,
        "admin",
        "department",
        id.to_string(),
        None,
        caller.region.as_str(),
        Some(audited(&DepartmentFields {
            kind: before.kind.clone(),
            phone: before.phone.clone(),
            feed_kinds: before.feed_kinds.clone(),
            active: before.active,
        })),
        Some(audited(&fields)),
        format!("修改部门 {}", before.name),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the caller's department may send this feed. Refusal audited.
pub async fn require_feed(db: &Db, caller: &Caller, kind: FeedKind) -> Result<()> {
    let dept = match caller.user.department.as_deref() {
        Some(name) => active_named(db, name).await?,
        None => None,
    };
    if dept.is_some_and(|d| d.sends(kind.code())) {
        return Ok(());
    }
    audit::denied(db, caller, "feed", 0, caller.region.as_str()).await;
    Err(Error::Forbidden(format!(
        "本部门不报送「{}」数据（可报送的数据由系统管理员在「部门与机构」中设定）",
        kind.label()
    )))
}

/// Whether the caller is the liaison of the department an item names.
pub fn handles_department_item(caller: &Caller, item_department: &str) -> bool {
    caller.role == Role::DeptLiaison
        && !item_department.is_empty()
        && caller.user.department.as_deref() == Some(item_department)
}
