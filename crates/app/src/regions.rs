//! Administration of the jurisdiction tree: adding a town or village under
//! a node of the administrator's jurisdiction, renaming and deactivating.

use doudi_domain::access::Action;
use doudi_domain::{Coded, RegionCode, RegionLevel};
use doudi_store::regions::{self, RegionRow};
use doudi_store::{Db, StoreError};

use crate::caller::Caller;
use crate::error::{Error, FieldError, Result, field};
use crate::{access, audit};

/// A region as typed by the administrator.
#[derive(Clone, Debug, Default)]
pub struct NewRegion {
    pub parent: String,
    pub code: String,
    pub name: String,
    /// 街道 / 镇 / 乡 / 村 / 社区; blank = derived from the code and the name.
    pub kind: String,
}

/// Adds a region. Refusals name `code`, `parent` or `name`; a parent
/// outside the administrator's jurisdiction is audited.
pub async fn create(db: &Db, caller: &Caller, r: &NewRegion) -> Result<RegionRow> {
    access::role(db, caller, Action::ManageRegions).await?;
    let mut errors: Vec<FieldError> = vec![];
    let code = RegionCode::parse(r.code.trim());
    let parent = RegionCode::parse(r.parent.trim());
    match (&code, &parent) {
        (Ok(c), Ok(p)) => {
            if c.parent().as_ref().map(|x| x.as_str()) != Some(p.as_str()) {
                errors.push(field(
                    "code",
                    format!(
                        "代码 {} 不属于上级 {}：乡镇/街道为上级代码后加 3 位，村/社区再加 3 位",
                        c.as_str(),
                        p.as_str()
                    ),
                ));
            }
            if !caller.covers(p.as_str()) {
                audit::denied(db, caller, "region", 0, p.as_str()).await;
                errors.push(field("parent", "上级区划不在您的管辖范围内"));
            }
        }
        (Err(e), _) => errors.push(field("code", format!("区划代码：{e}"))),
        (_, Err(_)) => errors.push(field("parent", "请选择上级区划")),
    }
    let name = r.name.trim().to_string();
    if name.is_empty() {
        errors.push(field("name", "请填写名称"));
    }
    let (Ok(c), Ok(p), true) = (code, parent, errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let kind = match r.kind.trim() {
        "" => match c.level() {
            RegionLevel::Town => c
                .town_kind()
                .map(|k| k.label().to_string())
                .unwrap_or_else(|| "街道".into()),
            RegionLevel::Village if name.ends_with('村') => "村".into(),
            RegionLevel::Village => "社区".into(),
            RegionLevel::County => "区".into(),
        },
        k => k.to_string(),
    };
    let row = RegionRow {
        code: c.as_str().into(),
        name,
        level: c.level().code().into(),
        kind,
        parent_code: Some(p.as_str().into()),
        active: true,
    };
    let mut tx = db.begin_write().await?;
    match regions::insert(&mut tx, &row).await {
        Ok(()) => {}
        Err(StoreError::Invalid(m)) => return Err(Error::invalid("code", m)),
        Err(e) => return Err(e.into()),
    }
    audit::write(
        &mut tx,
        caller,
        "admin",
        "region",
        row.code.clone(),
        None,
        &row.code,
        None,
        Some(serde_json::to_value(&row).unwrap_or_default()),
        format!("新增区划 {}", row.name),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Renames a region (blank keeps the name), sets whether it is active and
/// its office phone (shown on public notices for objections; blank clears).
pub async fn update(
    db: &Db,
    caller: &Caller,
    code: &str,
    name: &str,
    active: bool,
    phone: &str,
) -> Result<()> {
    access::role(db, caller, Action::ManageRegions).await?;
    if !caller.covers(code) {
        return Err(access::refuse(db, caller, "region", code).await);
    }
    let phone = phone.trim().to_string();
    if phone.len() > 20 || !phone.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return Err(Error::invalid(
            "phone",
            "办公电话只能包含数字和“-”，如 0571-87001100",
        ));
    }
    let before = regions::get(db, code).await?.ok_or(Error::NotFound)?;
    let before_phone = regions::phone(db, code).await?.unwrap_or_default();
    let name = if name.trim().is_empty() {
        before.name.clone()
    } else {
        name.trim().to_string()
    };
    let mut tx = db.begin_write().await?;
    regions::rename(&mut tx, code, &name, active).await?;
    regions::set_phone(&mut tx, code, &phone).await?;
    audit::write(
        &mut tx,
        caller,
        "admin",
        "region",
        code.to_string(),
        None,
        code,
        Some(serde_json::json!({"name": before.name, "active": before.active, "phone": before_phone})),
        Some(serde_json::json!({"name": name, "active": active, "phone": phone})),
        format!("修改区划 {name}"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
