//! The demo policy catalogue (data/policies/catalogue.json): 15 programme
//! families, the departments and their policies with CEL rules.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Named {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CataloguePolicy {
    pub code: String,
    pub name: String,
    pub department: String,
    pub family: String,
    pub conditions: String,
    pub phone: String,
    pub target_groups: Vec<String>,
    pub situations: Vec<String>,
    pub benefit_form: String,
    pub receipt_key: String,
    pub excludes: Vec<String>,
    pub eligibility: String,
    pub amount: String,
    pub self_check: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Catalogue {
    pub families: Vec<Named>,
    pub departments: Vec<Named>,
    pub policies: Vec<CataloguePolicy>,
}

pub const DEMO_JSON: &str = include_str!("../../../data/policies/catalogue.json");

impl Catalogue {
    pub fn demo() -> Catalogue {
        serde_json::from_str(DEMO_JSON).expect("data/policies/catalogue.json is valid")
    }
    pub fn department_name(&self, code: &str) -> String {
        self.departments
            .iter()
            .find(|d| d.code == code)
            .map_or(code.to_string(), |d| d.name.clone())
    }
    pub fn family_name(&self, code: &str) -> String {
        self.families
            .iter()
            .find(|d| d.code == code)
            .map_or(code.to_string(), |d| d.name.clone())
    }
}

/// The situations of the public guide, in display order.
pub const SITUATIONS: &[(&str, &str)] = &[
    ("illness", "患病"),
    ("disability", "残疾"),
    ("old_age", "年老"),
    ("children", "儿童"),
    ("unemployment", "失业"),
    ("disaster", "受灾"),
    ("housing", "住房困难"),
    ("schooling", "上学"),
];

pub fn situation_label(code: &str) -> &'static str {
    SITUATIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("其他", |(_, l)| l)
}

pub const BENEFIT_FORMS: &[(&str, &str)] = &[
    ("monthly_cash", "按月发放现金"),
    ("one_off", "一次性救助"),
    ("in_kind", "实物或费用减免"),
    ("service", "服务"),
];

pub fn benefit_form_label(code: &str) -> &'static str {
    BENEFIT_FORMS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("其他", |(_, l)| l)
}
