//! Household files: field rules shared by every door. (The household use
//! cases — create, edit, members, moves, splits — move here next; see
//! docs/architecture.md.)

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
        Scoped::OutOfScope { village_code } => {
            crate::audit::denied(db, caller, "assistance_status", 0, &village_code).await;
            (not_registered(), None, caller.region.as_str().to_string())
        }
        Scoped::Missing => (not_registered(), None, caller.region.as_str().to_string()),
    };
    crate::audit::event(
        db,
        caller,
        "view",
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
