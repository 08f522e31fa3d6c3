//! Form parsing: raw strings from the browser (or API JSON) become domain records, or
//! a list of field errors in Chinese for the error summary.

use chrono::NaiveDate;
use doudi_domain::household::MemberRecord;
use doudi_domain::person::{
    DisabilityType, Employment, Relation, Schooling, SelfCare, SelfCareItem,
};
use doudi_domain::{Coded, IdNumber, RegionCode, RegionLevel};
use serde::Deserialize;

pub use doudi_app::error::{FieldError, field as err};
pub use doudi_app::households::check_phone;

/// A member as typed into the form; every field is text so it can be shown back.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct MemberForm {
    pub version: String,
    pub name: String,
    pub id_number: String,
    /// Optional: if given, must agree with the ID number.
    pub sex: String,
    /// Optional (YYYY-MM-DD): if given, must agree with the ID number.
    pub birth_date: String,
    pub relation: String,
    pub phone: String,
    pub disability_type: String,
    pub disability_grade: String,
    pub illnesses: String,
    pub employment: String,
    pub schooling: String,
    pub sc_eating: String,
    pub sc_dressing: String,
    pub sc_transfer: String,
    pub sc_toileting: String,
    pub sc_indoor_walking: String,
    pub sc_bathing: String,
}

impl MemberForm {
    fn self_care_flags(&self) -> [(&'static str, bool); 6] {
        [
            ("eating", !self.sc_eating.is_empty()),
            ("dressing", !self.sc_dressing.is_empty()),
            ("transfer", !self.sc_transfer.is_empty()),
            ("toileting", !self.sc_toileting.is_empty()),
            ("indoor_walking", !self.sc_indoor_walking.is_empty()),
            ("bathing", !self.sc_bathing.is_empty()),
        ]
    }

    pub fn self_care(&self) -> SelfCare {
        self.self_care_flags()
            .iter()
            .fold(SelfCare::from_bits(0), |sc, (code, unable)| {
                SelfCareItem::from_code(code)
                    .map(|item| sc.with(item, *unable))
                    .unwrap_or(sc)
            })
    }

    /// Pre-fills the form from a stored person (full ID shown only in the edit form).
    pub fn from_person(p: &doudi_store::households::PersonRow) -> MemberForm {
        let sc = SelfCare::from_bits(p.self_care_unable as u8);
        let on = |code: &str| {
            if SelfCareItem::from_code(code).is_some_and(|i| sc.unable(i)) {
                "on".to_string()
            } else {
                String::new()
            }
        };
        MemberForm {
            version: p.version.to_string(),
            name: p.name.clone(),
            id_number: p.id_number.clone(),
            sex: p.sex.clone(),
            birth_date: p.birth_date.clone(),
            relation: p.relation.clone(),
            phone: p.phone.clone().unwrap_or_default(),
            disability_type: p.disability_type.clone().unwrap_or_default(),
            disability_grade: p
                .disability_grade
                .map(|g| g.to_string())
                .unwrap_or_default(),
            illnesses: p.illnesses.clone(),
            employment: p.employment.clone(),
            schooling: p.schooling.clone(),
            sc_eating: on("eating"),
            sc_dressing: on("dressing"),
            sc_transfer: on("transfer"),
            sc_toileting: on("toileting"),
            sc_indoor_walking: on("indoor_walking"),
            sc_bathing: on("bathing"),
        }
    }

    pub fn parse(&self, today: NaiveDate) -> Result<MemberRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        if name.is_empty() {
            errors.push(err("name", "请填写姓名"));
        } else if name.chars().count() > 30 {
            errors.push(err("name", "姓名不能超过 30 个字"));
        } else if let Err(e) = doudi_domain::person::check_name_characters(&name) {
            errors.push(err("name", e));
        }
        let id = match IdNumber::parse_as_of(&self.id_number, today) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(err("id_number", e.to_string()));
                None
            }
        };
        if let Some(id) = &id {
            if !self.sex.trim().is_empty() && self.sex.trim() != id.sex().code() {
                errors.push(err(
                    "sex",
                    format!("性别与身份证号不一致：身份证号显示为{}", id.sex().label()),
                ));
            }
            if !self.birth_date.trim().is_empty() {
                match NaiveDate::parse_from_str(self.birth_date.trim(), "%Y-%m-%d") {
                    Ok(d) if d != id.birth_date() => errors.push(err(
                        "birth_date",
                        format!(
                            "出生日期与身份证号不一致：身份证号显示为 {}",
                            id.birth_date()
                        ),
                    )),
                    Ok(_) => {}
                    Err(_) => errors.push(err("birth_date", "出生日期格式应为 YYYY-MM-DD")),
                }
            }
        }
        let relation = Relation::from_code(&self.relation);
        if relation.is_none() {
            errors.push(err("relation", "请选择与户主关系"));
        }
        let phone = match check_phone(&self.phone) {
            Ok(p) => p,
            Err(m) => {
                errors.push(err("phone", m));
                None
            }
        };
        let disability = match (self.disability_type.trim(), self.disability_grade.trim()) {
            ("", "") => None,
            ("", _) => {
                errors.push(err("disability_type", "填写了残疾等级，请同时选择残疾类别"));
                None
            }
            (_, "") => {
                errors.push(err(
                    "disability_grade",
                    "选择了残疾类别，请同时选择残疾等级（1–4 级）",
                ));
                None
            }
            (t, g) => match (
                DisabilityType::from_code(t),
                g.parse::<u8>().ok().filter(|g| (1..=4).contains(g)),
            ) {
                (Some(t), Some(g)) => Some((t, g)),
                (None, _) => {
                    errors.push(err("disability_type", "残疾类别无效"));
                    None
                }
                (_, None) => {
                    errors.push(err("disability_grade", "残疾等级应为 1–4 级"));
                    None
                }
            },
        };
        let employment = Employment::from_code(&self.employment);
        if employment.is_none() {
            errors.push(err("employment", "请选择就业状况"));
        }
        let schooling = Schooling::from_code(&self.schooling);
        if schooling.is_none() {
            errors.push(err("schooling", "请选择就学状况"));
        }
        if self.illnesses.chars().count() > 200 {
            errors.push(err("illnesses", "患病情况不能超过 200 字"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(MemberRecord {
            name,
            id_number: id.expect("checked"),
            relation: relation.expect("checked"),
            phone,
            disability,
            illnesses: self.illnesses.trim().to_string(),
            self_care: self.self_care(),
            employment: employment.expect("checked"),
            schooling: schooling.expect("checked"),
            deceased_on: None,
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct HouseholdForm {
    pub version: String,
    pub village_code: String,
    pub registration_address: String,
    pub residence_address: String,
    pub residence_village_code: String,
    pub phone: String,
    pub note: String,
}

pub struct HouseholdFields {
    pub village_code: String,
    pub registration_address: String,
    pub residence_address: String,
    pub residence_village_code: Option<String>,
    pub phone: Option<String>,
    pub note: String,
}

impl HouseholdForm {
    pub fn parse(&self) -> Result<HouseholdFields, Vec<FieldError>> {
        let mut errors = Vec::new();
        let village = self.village_code.trim().to_string();
        match RegionCode::parse(&village) {
            Ok(r) if r.level() == RegionLevel::Village => {}
            _ => errors.push(err("village_code", "请选择户籍所在村（社区）")),
        }
        let reg = self.registration_address.trim().to_string();
        if reg.is_empty() {
            errors.push(err("registration_address", "请填写户籍地址"));
        }
        if reg.chars().count() > 200 {
            errors.push(err("registration_address", "户籍地址不能超过 200 字"));
        }
        let res = self.residence_address.trim().to_string();
        let rvc = self.residence_village_code.trim().to_string();
        let rvc = if rvc.is_empty() {
            None
        } else {
            match RegionCode::parse(&rvc) {
                Ok(r) if r.level() == RegionLevel::Village => Some(rvc),
                _ => {
                    errors.push(err(
                        "residence_village_code",
                        "居住地村（社区）代码应为 12 位",
                    ));
                    None
                }
            }
        };
        let phone = check_phone(&self.phone).unwrap_or_else(|m| {
            errors.push(err("phone", m));
            None
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(HouseholdFields {
            residence_address: if res.is_empty() { reg.clone() } else { res },
            village_code: village,
            registration_address: reg,
            residence_village_code: rvc,
            phone,
            note: self.note.trim().to_string(),
        })
    }
}

pub fn parse_version(v: &str) -> Result<i64, crate::error::AppError> {
    v.trim()
        .parse()
        .map_err(|_| crate::error::AppError::bad_request("缺少版本号，请刷新页面后重试"))
}
