//! Household pages: dashboard, search list, the household file (一户一档), forms for
//! households and members, move / split / death, income / asset / category items, export.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use doudi_domain::access::{Action, Role};
use doudi_domain::household::{
    AssetKind, AssetRecord, Category, CategoryRecord, HouseholdRecord, IncomeKind, IncomeRecord,
};
use doudi_domain::person::{
    DisabilityType, Employment, Relation, Schooling, SelfCare, SelfCareItem,
};
use doudi_domain::{Coded, IdNumber, Money};
use doudi_store::households::{
    self as hh, HouseholdRow, ItemChange, PersonRow, Scope, Scoped, SearchFilter,
};
use doudi_store::{StoreError, today_cn};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Actor;
use crate::error::AppError;
use crate::forms::{FieldError, HouseholdForm, MemberForm, err, parse_version};
use crate::render::render;
use crate::views::{self, Page, Pager, label, local_time, money};
use doudi_app::households::{self as app_hh, HouseholdEdit};
use doudi_app::{access, audit};

pub const LIST_CAP: i64 = 10_000;
pub const EXPORT_LIMIT: i64 = 100_000;

type Opts = Vec<(String, String, bool)>;

/// Towns and villages in the actor's jurisdiction, for list filters: a
/// town stands for all its villages.
pub async fn region_options(
    state: &AppState,
    actor: &Actor,
    selected: &str,
) -> Result<Opts, AppError> {
    let all = doudi_store::regions::subtree(&state.db, actor.region.as_str()).await?;
    Ok(all
        .iter()
        .filter(|r| (r.level == "town" || r.level == "village") && r.active)
        .map(|r| {
            let label = if r.level == "town" {
                format!("{}（全部）", r.name)
            } else {
                format!("　{}", r.name)
            };
            (r.code.clone(), label, r.code == selected)
        })
        .collect())
}

/// Villages in the actor's jurisdiction, for selects.
pub async fn village_options(
    state: &AppState,
    actor: &Actor,
    selected: &str,
) -> Result<Opts, AppError> {
    let all = doudi_store::regions::subtree(&state.db, actor.region.as_str()).await?;
    let towns: std::collections::HashMap<String, String> = all
        .iter()
        .filter(|r| r.level == "town")
        .map(|r| (r.code.clone(), r.name.clone()))
        .collect();
    Ok(all
        .iter()
        .filter(|r| r.level == "village" && r.active)
        .map(|r| {
            let town = r
                .parent_code
                .as_ref()
                .and_then(|p| towns.get(p))
                .cloned()
                .unwrap_or_default();
            (
                r.code.clone(),
                format!("{town} {}", r.name).trim().to_string(),
                r.code == selected,
            )
        })
        .collect())
}

// ---------------------------------------------------------------- dashboard

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    can_view: bool,
    can_edit: bool,
    households: i64,
    people: i64,
    categories: Vec<(String, i64)>,
    villages: usize,
}

pub async fn dashboard(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    let page = Page::new(&state, &actor, "工作台", "home").await;
    let can_view = actor.may(Action::ViewHousehold);
    let (mut households, mut people, mut categories, mut villages) = (0, 0, vec![], 0);
    if can_view {
        let scope = Scope(actor.region.clone());
        (households, people) = hh::totals(&state.db, &scope).await?;
        categories = hh::category_counts(&state.db, &scope, today_cn())
            .await?
            .into_iter()
            .map(|(c, n)| (label::<Category>(&c), n))
            .collect();
        villages = doudi_store::regions::subtree(&state.db, actor.region.as_str())
            .await?
            .iter()
            .filter(|r| r.level == "village")
            .count();
    }
    render(&DashboardPage {
        page,
        can_view,
        can_edit: actor.may(Action::EditHousehold),
        households,
        people,
        categories,
        villages,
    })
}

// ---------------------------------------------------------------- list

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ListQuery {
    pub q: String,
    pub address: String,
    pub category: String,
    pub village: String,
    pub dissolved: String,
    pub page: Option<i64>,
    pub msg: Option<String>,
}

impl ListQuery {
    fn filter(&self, per_page: i64) -> SearchFilter {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        SearchFilter {
            q: opt(&self.q),
            address: opt(&self.address),
            category: opt(&self.category),
            village: opt(&self.village),
            include_dissolved: !self.dissolved.is_empty(),
            page: self.page.unwrap_or(1).max(1),
            per_page,
        }
    }
    fn query_string(&self) -> String {
        let mut parts = vec![];
        for (k, v) in [
            ("q", &self.q),
            ("address", &self.address),
            ("category", &self.category),
            ("village", &self.village),
            ("dissolved", &self.dissolved),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::auth::url_encode(v)));
            }
        }
        parts.join("&")
    }
}

pub struct ListRow {
    pub id: i64,
    pub head_name: String,
    pub village: String,
    pub size: i64,
    pub categories: String,
    pub address: String,
    pub phone: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "households_list.html")]
struct ListPage {
    page: Page,
    problem: Option<String>,
    q: ListQuery,
    rows: Vec<ListRow>,
    pager: Pager,
    villages: Opts,
    categories: Opts,
    export_query: String,
    can_edit: bool,
}

pub async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let scope = access::household_scope(&state.db, &actor).await?;
    if !q.village.is_empty() && !scope.covers(&q.village) {
        audit::denied(&state.db, &actor, "region", 0, &q.village).await;
        return Err(AppError::forbidden());
    }
    let per_page = 20;
    let filter = q.filter(per_page);
    let mut problem = None;
    let (rows, total) = match hh::search(&state.db, &scope, &filter, LIST_CAP).await {
        Ok(r) => r,
        Err(StoreError::Invalid(m)) => {
            problem = Some(m);
            (vec![], 0)
        }
        Err(e) => return Err(e.into()),
    };
    let rows = rows
        .into_iter()
        .map(|h| ListRow {
            id: h.id,
            head_name: h.head_name,
            village: h.village_name,
            size: h.size,
            categories: views::categories_label(&h.categories),
            address: h.registration_address,
            phone: h
                .phone
                .as_deref()
                .map(doudi_domain::mask::mask_phone)
                .unwrap_or_default(),
            status: if h.status == "active" {
                String::new()
            } else {
                "已注销".into()
            },
        })
        .collect();
    let qs = q.query_string();
    let page = Page::new(&state, &actor, "家庭档案", "households")
        .await
        .with_notice(q.msg.as_deref());
    render(&ListPage {
        problem,
        pager: Pager::new(&qs, filter.page, per_page, total, LIST_CAP),
        villages: village_options(&state, &actor, &q.village).await?,
        categories: views::options::<Category>(&q.category),
        export_query: qs,
        can_edit: actor.may(Action::EditHousehold),
        page,
        q,
        rows,
    })
}

/// Excel export of the filtered list: one row per member, ID numbers masked.
pub async fn export(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let scope = access::household_scope(&state.db, &actor).await?;
    access::role(&state.db, &actor, Action::ExportHouseholds).await?;
    if !q.village.is_empty() && !scope.covers(&q.village) {
        audit::denied(&state.db, &actor, "region", 0, &q.village).await;
        return Err(AppError::forbidden());
    }
    let data = hh::export_rows(&state.db, &scope, &q.filter(500), EXPORT_LIMIT).await?;
    let headers = [
        "户编号",
        "村（社区）",
        "户主",
        "家庭人数",
        "救助类别",
        "户籍地址",
        "居住地址",
        "家庭电话",
        "成员姓名",
        "与户主关系",
        "身份证号（脱敏）",
        "性别",
        "出生日期",
        "残疾",
        "自理能力",
        "就业状况",
        "就学状况",
        "状态",
    ];
    let mut rows = Vec::new();
    for (h, members) in &data {
        for p in members {
            rows.push(vec![
                h.id.to_string(),
                h.village_name.clone(),
                h.head_name.clone(),
                h.size.to_string(),
                views::categories_label(&h.categories),
                h.registration_address.clone(),
                h.residence_address.clone(),
                h.phone
                    .as_deref()
                    .map(doudi_domain::mask::mask_phone)
                    .unwrap_or_default(),
                p.name.clone(),
                label::<Relation>(&p.relation),
                views::mask_id(&p.id_number),
                label::<doudi_domain::person::Sex>(&p.sex),
                p.birth_date.clone(),
                disability_text(p),
                SelfCare::from_bits(p.self_care_unable as u8)
                    .level()
                    .label()
                    .to_string(),
                label::<Employment>(&p.employment),
                label::<Schooling>(&p.schooling),
                if p.status == "alive" {
                    "健在".into()
                } else {
                    format!("已故 {}", p.death_date.clone().unwrap_or_default())
                },
            ]);
        }
    }
    audit::event(
        &state.db,
        &actor,
        "export",
        "household",
        "-".into(),
        None,
        actor.region.as_str(),
        format!(
            "导出家庭档案 {} 户 {} 人（筛选：{}）",
            data.len(),
            rows.len(),
            q.query_string()
        ),
    )
    .await?;
    let bytes = doudi_sheets::table_xlsx("家庭档案", &headers, &rows);
    let name = format!("household-export-{}.xlsx", today_cn());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn disability_text(p: &PersonRow) -> String {
    match (&p.disability_type, p.disability_grade) {
        (Some(t), Some(g)) => format!(
            "{}{}级{}",
            label::<DisabilityType>(t),
            g,
            if g <= 2 { "（重度）" } else { "" }
        ),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------- file

pub struct MemberView {
    pub id: i64,
    pub version: i64,
    pub name: String,
    pub relation: String,
    pub id_display: String,
    pub id_original: String,
    pub revealed: bool,
    pub sex: String,
    pub birth_date: String,
    pub age: String,
    pub phone: String,
    pub disability: String,
    pub illnesses: String,
    pub self_care: String,
    pub self_care_items: String,
    pub employment: String,
    pub schooling: String,
    pub alive: bool,
    pub death_date: String,
}

pub struct ItemView {
    pub id: i64,
    pub kind: String,
    pub description: String,
    pub amount: String,
    pub extra: String,
    pub active: bool,
}

pub struct TimelineView {
    pub at: String,
    pub who: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "household_file.html")]
struct FilePage {
    page: Page,
    can_apply: bool,
    case_items: Vec<crate::views::ItemLine>,
    ledger: Vec<(String, String, String, String, String)>,
    referrals: Vec<(i64, String, String, String)>,
    h: HouseholdRow,
    categories_label: String,
    phone: String,
    members: Vec<MemberView>,
    incomes: Vec<ItemView>,
    income_total: String,
    per_capita: String,
    assets: Vec<ItemView>,
    categories: Vec<ItemView>,
    memberships: Vec<TimelineView>,
    timeline: Vec<TimelineView>,
    can_edit: bool,
    can_reveal: bool,
    income_kinds: Opts,
    asset_kinds: Opts,
    category_kinds: Opts,
    /// The district approver may correct benefit categories (with a reason).
    approver: bool,
    member_opts: Opts,
    today: String,
}

pub use crate::render::ShowQuery;

pub async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    render_file(&state, &actor, id, None, q.msg.as_deref()).await
}

#[derive(Deserialize)]
pub struct RevealForm {
    pub person_id: i64,
}

/// Shows one member's full ID number: an explicit action, audited.
pub async fn reveal(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<RevealForm>,
) -> Result<Response, AppError> {
    let p = app_hh::reveal_id(&state.db, &actor, id, f.person_id).await?;
    render_file(&state, &actor, id, Some(p.id), None).await
}

async fn render_file(
    state: &AppState,
    actor: &Actor,
    id: i64,
    revealed: Option<i64>,
    msg: Option<&str>,
) -> Result<Response, AppError> {
    let file = app_hh::open_file(&state.db, actor, id, "查看家庭档案").await?;
    let today = today_cn();
    let names: std::collections::HashMap<i64, String> = file
        .members
        .iter()
        .map(|p| (p.id, p.name.clone()))
        .collect();
    let members: Vec<MemberView> = file
        .members
        .iter()
        .map(|p| {
            let sc = SelfCare::from_bits(p.self_care_unable as u8);
            let items: Vec<&str> = SelfCareItem::all()
                .iter()
                .filter(|i| sc.unable(**i))
                .map(|i| i.label())
                .collect();
            let id = IdNumber::parse(&p.id_number).ok();
            let show_full = revealed == Some(p.id);
            MemberView {
                id: p.id,
                version: p.version,
                name: p.name.clone(),
                relation: label::<Relation>(&p.relation),
                id_display: if show_full {
                    p.id_number.clone()
                } else {
                    views::mask_id(&p.id_number)
                },
                id_original: if show_full {
                    p.id_number_original.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                revealed: show_full,
                sex: label::<doudi_domain::person::Sex>(&p.sex),
                birth_date: p.birth_date.clone(),
                age: id
                    .map(|i| format!("{} 岁", i.age_on(today)))
                    .unwrap_or_default(),
                phone: p
                    .phone
                    .as_deref()
                    .map(doudi_domain::mask::mask_phone)
                    .unwrap_or_default(),
                disability: disability_text(p),
                illnesses: p.illnesses.clone(),
                self_care: sc.level().label().to_string(),
                self_care_items: items.join("、"),
                employment: label::<Employment>(&p.employment),
                schooling: label::<Schooling>(&p.schooling),
                alive: p.status == "alive",
                death_date: p.death_date.clone().unwrap_or_default(),
            }
        })
        .collect();
    let total: i64 = file.incomes.iter().map(|i| i.monthly_fen).sum();
    let size = file.household.size.max(1);
    let incomes = file
        .incomes
        .iter()
        .map(|i| ItemView {
            id: i.id,
            kind: label::<IncomeKind>(&i.kind),
            description: i.description.clone(),
            amount: money(i.monthly_fen),
            extra: i
                .person_id
                .and_then(|p| names.get(&p).cloned())
                .unwrap_or_else(|| "家庭".into()),
            active: true,
        })
        .collect();
    let assets = file
        .assets
        .iter()
        .map(|a| ItemView {
            id: a.id,
            kind: label::<AssetKind>(&a.kind),
            description: a.description.clone(),
            amount: money(a.value_fen),
            extra: String::new(),
            active: true,
        })
        .collect();
    let categories = file
        .categories
        .iter()
        .map(|c| ItemView {
            id: c.id,
            kind: label::<Category>(&c.category),
            // Benefit categories are held by decision: marked so the file
            // offers no hand-made change (see app::households::change_item).
            description: Category::from_code(&c.category)
                .filter(|k| k.carries_benefits())
                .map(|_| "经审批登记".to_string())
                .unwrap_or_default(),
            amount: c.start_date.clone(),
            extra: c.end_date.clone().unwrap_or_default(),
            active: c.end_date.is_none(),
        })
        .collect();
    let memberships = file
        .memberships
        .iter()
        .map(|m| TimelineView {
            at: format!(
                "{} 至 {}",
                m.start_date,
                m.end_date.clone().unwrap_or_else(|| "今".into())
            ),
            who: format!("{}（{}）", m.person_name, label::<Relation>(&m.relation)),
            detail: m.reason.clone(),
        })
        .collect();
    let timeline = file
        .timeline
        .iter()
        .map(|a| TimelineView {
            at: local_time(&a.at),
            who: a.username.clone(),
            detail: a.detail.clone(),
        })
        .collect();
    let member_opts = file
        .members
        .iter()
        .filter(|p| p.status == "alive")
        .map(|p| (p.id.to_string(), p.name.clone(), false))
        .collect();
    let h = file.household;
    let (case_items, ledger_rows, referral_rows) =
        doudi_app::cases::household_cases(&state.db, h.id).await?;
    let today_s = doudi_store::today_cn().to_string();
    let case_items: Vec<crate::views::ItemLine> = case_items
        .iter()
        .map(|i| crate::views::item_line(i, &today_s))
        .collect();
    let ledger = ledger_rows
        .iter()
        .map(|l| {
            (
                l.decided_on.clone(),
                label::<doudi_domain::workflow::ItemKind>(&l.kind),
                l.department.clone(),
                money(l.amount_fen),
                format!("{} 起 · {}", l.period_start, l.note),
            )
        })
        .collect();
    let referrals = referral_rows
        .iter()
        .map(|r| {
            (
                r.id,
                r.to_name.clone(),
                doudi_store::cases::referral_status_label(&r.status).to_string(),
                r.due_on.clone(),
            )
        })
        .collect();
    let page = Page::new(
        state,
        actor,
        format!("家庭档案：{}户", h.head_name),
        "households",
    )
    .await
    .with_notice(msg);
    render(&FilePage {
        can_apply: actor.may(Action::OpenApplication) && h.status == "active",
        case_items,
        ledger,
        referrals,
        categories_label: views::categories_label(&h.categories),
        phone: h
            .phone
            .as_deref()
            .map(doudi_domain::mask::mask_phone)
            .unwrap_or_default(),
        income_total: money(total),
        per_capita: money(total / size),
        can_edit: actor.may(Action::EditHousehold) && h.status == "active",
        can_reveal: actor.may(Action::RevealIdNumber),
        income_kinds: views::options::<IncomeKind>(""),
        asset_kinds: views::options::<AssetKind>(""),
        category_kinds: views::options::<Category>("")
            .into_iter()
            .filter(|(code, _, _)| {
                actor.role == Role::DistrictApprover
                    || Category::from_code(code).is_some_and(|c| !c.carries_benefits())
            })
            .collect(),
        approver: actor.role == Role::DistrictApprover,
        today: today.to_string(),
        page,
        h,
        members,
        incomes,
        assets,
        categories,
        memberships,
        timeline,
        member_opts,
    })
}

// ---------------------------------------------------------------- household forms

#[derive(Template)]
#[template(path = "household_form.html")]
struct HouseholdFormPage {
    page: Page,
    action: String,
    creating: bool,
    f: HouseholdForm,
    m: MemberForm,
    errors: Vec<FieldError>,
    villages: Opts,
    member: MemberOptions,
}

/// Select options for the member fields.
pub struct MemberOptions {
    pub relations: Opts,
    pub sexes: Opts,
    pub disability_types: Opts,
    pub grades: Opts,
    pub employments: Opts,
    pub schoolings: Opts,
    pub self_care: Vec<(String, String, bool)>,
    /// Prefix of the input names (`head_` inside the new-household form).
    pub px: String,
    pub errors: Vec<FieldError>,
}

impl MemberOptions {
    pub fn for_form(m: &MemberForm, px: &str, errors: &[FieldError]) -> MemberOptions {
        let sc = m.self_care();
        MemberOptions {
            px: px.to_string(),
            errors: errors.to_vec(),
            relations: views::options::<Relation>(&m.relation),
            sexes: views::options::<doudi_domain::person::Sex>(&m.sex),
            disability_types: views::options::<DisabilityType>(&m.disability_type),
            grades: (1..=4)
                .map(|g| {
                    (
                        g.to_string(),
                        format!("{g} 级{}", if g <= 2 { "（重度）" } else { "" }),
                        m.disability_grade == g.to_string(),
                    )
                })
                .collect(),
            employments: views::options::<Employment>(&m.employment),
            schoolings: views::options::<Schooling>(&m.schooling),
            self_care: SelfCareItem::all()
                .iter()
                .map(|i| {
                    (
                        format!("sc_{}", i.code()),
                        i.label().to_string(),
                        sc.unable(*i),
                    )
                })
                .collect(),
        }
    }
    fn find(&self, field: &str) -> Option<&FieldError> {
        let name = format!("{}{field}", self.px);
        self.errors.iter().find(|e| e.field == name)
    }
    /// CSS class suffix for a field with an error.
    pub fn cls(&self, field: &str) -> &'static str {
        if self.find(field).is_some() {
            " has-error"
        } else {
            ""
        }
    }
    /// The field's error message as escaped HTML (empty when none).
    pub fn error_html(&self, field: &str) -> String {
        self.find(field)
            .map(|e| {
                format!(
                    "<p class=\"field-error\">{}</p>",
                    crate::error::askama_escape(&e.message)
                )
            })
            .unwrap_or_default()
    }
}

pub async fn new_form(State(state): State<AppState>, actor: Actor) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let m = MemberForm {
        relation: "head".into(),
        employment: "other".into(),
        schooling: "graduated".into(),
        ..Default::default()
    };
    let villages = village_options(&state, &actor, "").await?;
    let f = HouseholdForm {
        village_code: if villages.len() == 1 {
            villages[0].0.clone()
        } else {
            String::new()
        },
        ..Default::default()
    };
    render(&HouseholdFormPage {
        page: Page::new(&state, &actor, "新建家庭档案", "households").await,
        action: "/households/new".into(),
        creating: true,
        member: MemberOptions::for_form(&m, "head_", &[]),
        villages,
        f,
        m,
        errors: vec![],
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewHouseholdForm {
    #[serde(flatten)]
    pub h: HouseholdForm,
    /// The head's fields, prefixed `head_` in the page.
    pub head_name: String,
    pub head_id_number: String,
    pub head_sex: String,
    pub head_birth_date: String,
    pub head_phone: String,
    pub head_disability_type: String,
    pub head_disability_grade: String,
    pub head_illnesses: String,
    pub head_employment: String,
    pub head_schooling: String,
}

impl NewHouseholdForm {
    fn member(&self) -> MemberForm {
        MemberForm {
            name: self.head_name.clone(),
            id_number: self.head_id_number.clone(),
            sex: self.head_sex.clone(),
            birth_date: self.head_birth_date.clone(),
            relation: "head".into(),
            phone: self.head_phone.clone(),
            disability_type: self.head_disability_type.clone(),
            disability_grade: self.head_disability_grade.clone(),
            illnesses: self.head_illnesses.clone(),
            employment: self.head_employment.clone(),
            schooling: self.head_schooling.clone(),
            ..Default::default()
        }
    }
}

fn prefix_errors(errors: Vec<FieldError>, prefix: &str) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError {
            field: format!("{prefix}{}", e.field),
            message: e.message,
        })
        .collect()
}

pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Form(form): Form<NewHouseholdForm>,
) -> Result<Response, AppError> {
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let today = today_cn();
    let m = form.member();
    let mut errors = vec![];
    let fields = form.h.parse().map_err(|e| errors.extend(e)).ok();
    let member = m
        .parse(today)
        .map_err(|e| errors.extend(prefix_errors(e, "head_")))
        .ok();
    let mut status = 422;
    if errors.is_empty() {
        let (f, member) = (fields.expect("parsed"), member.expect("parsed"));
        let rec = HouseholdRecord {
            village_code: f.village_code,
            registration_address: f.registration_address,
            residence_address: f.residence_address,
            residence_village_code: f.residence_village_code,
            phone: f.phone,
            note: f.note,
            members: vec![member],
            incomes: vec![],
            assets: vec![],
            categories: vec![],
        };
        match app_hh::create(&state.db, &actor, &rec, today).await {
            Ok(id) => {
                return Ok(Redirect::to(&format!("/households/{id}?msg=created")).into_response());
            }
            Err(e) => {
                let (fe, code) = refusal(e, "village_code")?;
                status = code;
                // The application names the head `members[0]`; the page `head_`.
                errors.extend(fe.into_iter().map(|e| FieldError {
                    field: e.field.replace("members[0].", "head_"),
                    message: e.message,
                }));
            }
        }
    }
    let mut resp = render(&HouseholdFormPage {
        page: Page::new(&state, &actor, "新建家庭档案", "households").await,
        action: "/households/new".into(),
        creating: true,
        member: MemberOptions::for_form(&m_or(&form), "head_", &errors),
        villages: village_options(&state, &actor, &form.h.village_code).await?,
        f: form.h.clone(),
        m: m_or(&form),
        errors,
    })?;
    *resp.status_mut() = status_of(status);
    Ok(resp)
}

/// A refusal of the application as the form's field errors and status
/// (422 refused input, 409 someone saved first); anything else is an error page.
fn refusal(e: doudi_app::Error, conflict_field: &str) -> Result<(Vec<FieldError>, u16), AppError> {
    match e {
        doudi_app::Error::Invalid(fields) => Ok((fields, 422)),
        doudi_app::Error::Conflict(m) => Ok((vec![err(conflict_field, m)], 409)),
        other => Err(other.into()),
    }
}

fn status_of(code: u16) -> axum::http::StatusCode {
    axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::UNPROCESSABLE_ENTITY)
}

fn m_or(form: &NewHouseholdForm) -> MemberForm {
    form.member()
}

pub async fn edit_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    audit::event(
        &state.db,
        &actor,
        "view",
        "household",
        h.id.to_string(),
        Some(h.id),
        &h.village_code,
        "打开家庭信息编辑表单（含完整电话）".into(),
    )
    .await?;
    let f = HouseholdForm {
        version: h.version.to_string(),
        village_code: h.village_code.clone(),
        registration_address: h.registration_address.clone(),
        residence_address: h.residence_address.clone(),
        residence_village_code: h.residence_village_code.clone().unwrap_or_default(),
        phone: h.phone.clone().unwrap_or_default(),
        note: h.note.clone(),
    };
    let m = MemberForm::default();
    render(&HouseholdFormPage {
        page: Page::new(
            &state,
            &actor,
            format!("修改家庭信息：{}户", h.head_name),
            "households",
        )
        .await,
        action: format!("/households/{id}/edit"),
        creating: false,
        member: MemberOptions::for_form(&m, "head_", &[]),
        villages: village_options(&state, &actor, &h.village_code).await?,
        f,
        m,
        errors: vec![],
    })
}

pub async fn edit(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(form): Form<HouseholdForm>,
) -> Result<Response, AppError> {
    // Lookup and role first: a foreign or read-only attempt is refused (and
    // audited) whatever the form holds.
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&form.version)?;
    let mut status = 422;
    let errors = match form.parse() {
        Ok(f) => {
            let e = HouseholdEdit {
                village_code: f.village_code,
                registration_address: f.registration_address,
                residence_address: f.residence_address,
                residence_village_code: f.residence_village_code,
                phone: f.phone,
                note: f.note,
            };
            match app_hh::update(&state.db, &actor, id, version, &e, today_cn()).await {
                Ok(()) => {
                    return Ok(Redirect::to(&format!("/households/{id}?msg=saved")).into_response());
                }
                Err(e) => {
                    let (fe, code) = refusal(e, "village_code")?;
                    status = code;
                    fe
                }
            }
        }
        Err(e) => e,
    };
    let m = MemberForm::default();
    let mut resp = render(&HouseholdFormPage {
        page: Page::new(
            &state,
            &actor,
            format!("修改家庭信息：{}户", h.head_name),
            "households",
        )
        .await,
        action: format!("/households/{id}/edit"),
        creating: false,
        member: MemberOptions::for_form(&m, "head_", &errors),
        villages: village_options(&state, &actor, &form.village_code).await?,
        f: form,
        m,
        errors,
    })?;
    *resp.status_mut() = status_of(status);
    Ok(resp)
}

// ---------------------------------------------------------------- member forms

#[derive(Template)]
#[template(path = "member_form.html")]
struct MemberFormPage {
    page: Page,
    action: String,
    back: String,
    household: String,
    m: MemberForm,
    errors: Vec<FieldError>,
    o: MemberOptions,
}

pub async fn member_new_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let m = MemberForm {
        version: h.version.to_string(),
        relation: "child".into(),
        employment: "other".into(),
        schooling: "graduated".into(),
        ..Default::default()
    };
    render(&MemberFormPage {
        page: Page::new(
            &state,
            &actor,
            format!("添加成员：{}户", h.head_name),
            "households",
        )
        .await,
        action: format!("/households/{id}/members/new"),
        back: format!("/households/{id}"),
        household: format!("{}户（{}）", h.head_name, h.village_name),
        o: MemberOptions::for_form(&m, "", &[]),
        m,
        errors: vec![],
    })
}

async fn member_form_error(
    state: &AppState,
    actor: &Actor,
    action: String,
    back: String,
    household: String,
    m: MemberForm,
    errors: Vec<FieldError>,
    status: u16,
) -> Result<Response, AppError> {
    let mut resp = render(&MemberFormPage {
        page: Page::new(state, actor, "成员信息", "households").await,
        action,
        back,
        household,
        o: MemberOptions::for_form(&m, "", &errors),
        m,
        errors,
    })?;
    *resp.status_mut() = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    Ok(resp)
}

pub async fn member_create(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(m): Form<MemberForm>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&m.version)?;
    let today = today_cn();
    let (action, back, household) = (
        format!("/households/{id}/members/new"),
        format!("/households/{id}"),
        format!("{}户（{}）", h.head_name, h.village_name),
    );
    let rec = match m.parse(today) {
        Ok(r) => r,
        Err(errors) => {
            return member_form_error(&state, &actor, action, back, household, m, errors, 422)
                .await;
        }
    };
    match app_hh::add_member(&state.db, &actor, id, version, &rec, today).await {
        Ok(_) => Ok(Redirect::to(&format!("/households/{id}?msg=member_added")).into_response()),
        Err(e) => {
            let (fe, status) = refusal(e, "name")?;
            member_form_error(&state, &actor, action, back, household, m, fe, status).await
        }
    }
}

pub async fn member_edit_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
) -> Result<Response, AppError> {
    let (_, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let (_, h) = access::household(&state.db, &actor, p.household_id).await?;
    // The edit form shows the full ID number and phone (they may need correcting):
    // that is a reveal, and audited as one.
    audit::event(
        &state.db,
        &actor,
        "reveal_id",
        "person",
        p.id.to_string(),
        Some(h.id),
        &h.village_code,
        format!("打开成员编辑表单（含完整身份证号、电话）：{}", p.name),
    )
    .await?;
    let m = MemberForm::from_person(&p);
    render(&MemberFormPage {
        page: Page::new(
            &state,
            &actor,
            format!("修改成员：{}", p.name),
            "households",
        )
        .await,
        action: format!("/persons/{pid}/edit"),
        back: format!("/households/{}", h.id),
        household: format!("{}户（{}）", h.head_name, h.village_name),
        o: MemberOptions::for_form(&m, "", &[]),
        m,
        errors: vec![],
    })
}

pub async fn member_edit(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
    Form(m): Form<MemberForm>,
) -> Result<Response, AppError> {
    let (_, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&m.version)?;
    let today = today_cn();
    let (action, back, household) = (
        format!("/persons/{pid}/edit"),
        format!("/households/{}", p.household_id),
        String::new(),
    );
    let rec = match m.parse(today) {
        Ok(r) => r,
        Err(errors) => {
            return member_form_error(&state, &actor, action, back, household, m, errors, 422)
                .await;
        }
    };
    match app_hh::update_member(&state.db, &actor, pid, version, &rec, today).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("/households/{}?msg=saved", p.household_id)).into_response())
        }
        Err(e) => {
            let (fe, status) = refusal(e, "name")?;
            member_form_error(&state, &actor, action, back, household, m, fe, status).await
        }
    }
}

// ---------------------------------------------------------------- move, split, death

#[derive(Template)]
#[template(path = "move_form.html")]
struct MovePage {
    page: Page,
    p: PersonRow,
    is_head: bool,
    others: Opts,
    relations: Opts,
    target: String,
    reason: String,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MoveForm {
    pub target: String,
    pub relation: String,
    pub new_head: String,
    pub reason: String,
}

async fn move_page(
    state: &AppState,
    actor: &Actor,
    scope: &Scope,
    p: PersonRow,
    f: &MoveForm,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let members = members_of(state, scope, p.household_id).await?;
    let others = members
        .iter()
        .filter(|m| m.id != p.id && m.status == "alive")
        .map(|m| {
            (
                m.id.to_string(),
                m.name.clone(),
                f.new_head == m.id.to_string(),
            )
        })
        .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    let mut resp = render(&MovePage {
        page: Page::new(state, actor, format!("迁移成员：{}", p.name), "households").await,
        is_head: p.relation == "head",
        others,
        relations: views::options::<Relation>(if f.relation.is_empty() {
            "other"
        } else {
            &f.relation
        }),
        target: f.target.clone(),
        reason: f.reason.clone(),
        p,
        errors,
    })?;
    *resp.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
    Ok(resp)
}

/// Members of a household the caller has already found in scope.
async fn members_of(
    state: &AppState,
    scope: &Scope,
    household_id: i64,
) -> Result<Vec<PersonRow>, AppError> {
    match hh::get(&state.db, scope, household_id).await? {
        Scoped::Found(h) => Ok(hh::file(&state.db, h).await?.members),
        _ => Err(AppError::not_found()),
    }
}

pub async fn move_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
) -> Result<Response, AppError> {
    let (scope, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    move_page(&state, &actor, &scope, p, &MoveForm::default(), vec![]).await
}

pub async fn move_member(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
    Form(f): Form<MoveForm>,
) -> Result<Response, AppError> {
    let (scope, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let mut errors = vec![];
    let target: Option<i64> = f.target.trim().parse().ok();
    if target.is_none() {
        errors.push(err("target", "请填写目标家庭的户编号（数字）"));
    }
    let relation = Relation::from_code(&f.relation);
    if relation.is_none() {
        errors.push(err("relation", "请选择在新家庭中与户主的关系"));
    }
    // All the form's refusals at once: the move's own text check as well.
    errors.extend(app_hh::check_move_text(&f.reason));
    if errors.is_empty() {
        let mv = app_hh::MoveMember {
            person_id: pid,
            target_household_id: target.expect("checked"),
            relation: relation.expect("checked"),
            new_head: f.new_head.trim().parse().ok(),
            reason: f.reason.clone(),
        };
        match app_hh::move_member(&state.db, &actor, &mv, today_cn()).await {
            Ok(()) => {
                return Ok(Redirect::to(&format!(
                    "/households/{}?msg=moved",
                    mv.target_household_id
                ))
                .into_response());
            }
            Err(e) => errors = refusal(e, "target")?.0,
        }
    }
    move_page(&state, &actor, &scope, p, &f, errors).await
}

#[derive(Template)]
#[template(path = "split_form.html")]
struct SplitPage {
    page: Page,
    h: HouseholdRow,
    members: Vec<(String, String, bool)>,
    f: SplitForm,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct SplitForm {
    pub version: String,
    /// Comma-free list: checkboxes named `m_<person id>`.
    #[serde(flatten)]
    pub checks: std::collections::HashMap<String, String>,
    pub new_head: String,
    pub remaining_head: String,
    pub residence_address: String,
    pub phone: String,
    pub reason: String,
}

async fn split_page(
    state: &AppState,
    actor: &Actor,
    h: HouseholdRow,
    f: SplitForm,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let members = hh::file(&state.db, h.clone()).await?.members;
    let members = members
        .iter()
        .filter(|m| m.status == "alive")
        .map(|m| {
            (
                m.id.to_string(),
                format!("{}（{}）", m.name, label::<Relation>(&m.relation)),
                f.checks.contains_key(&format!("m_{}", m.id)),
            )
        })
        .collect();
    let status = if errors.is_empty() { 200 } else { 422 };
    let mut resp = render(&SplitPage {
        page: Page::new(
            state,
            actor,
            format!("分户：{}户", h.head_name),
            "households",
        )
        .await,
        h,
        members,
        f,
        errors,
    })?;
    *resp.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
    Ok(resp)
}

pub async fn split_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let f = SplitForm {
        version: h.version.to_string(),
        ..Default::default()
    };
    split_page(&state, &actor, h, f, vec![]).await
}

pub async fn split(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<SplitForm>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&f.version)?;
    let mut errors = vec![];
    let ids: Vec<i64> = f
        .checks
        .keys()
        .filter_map(|k| k.strip_prefix("m_"))
        .filter_map(|v| v.parse().ok())
        .collect();
    if ids.is_empty() {
        errors.push(err("members", "请勾选要分出的成员"));
    }
    let new_head: Option<i64> = f.new_head.parse().ok();
    if new_head.is_none_or(|nh| !ids.contains(&nh)) {
        errors.push(err("new_head", "请在勾选的成员中指定新户的户主"));
    }
    let phone = crate::forms::check_phone(&f.phone).unwrap_or_else(|m| {
        errors.push(err("phone", m));
        None
    });
    errors.extend(app_hh::check_split_text(&f.residence_address, &f.reason));
    if errors.is_empty() {
        let split = app_hh::Split {
            household_id: id,
            version,
            members: ids,
            new_head: new_head.expect("checked"),
            remaining_head: f.remaining_head.parse().ok(),
            residence_address: f.residence_address.clone(),
            phone,
            reason: f.reason.clone(),
        };
        match app_hh::split(&state.db, &actor, &split, today_cn()).await {
            Ok(new_id) => {
                return Ok(Redirect::to(&format!("/households/{new_id}?msg=split")).into_response());
            }
            Err(e) => errors = refusal(e, "members")?.0,
        }
    }
    split_page(&state, &actor, h, f, errors).await
}

#[derive(Template)]
#[template(path = "death_form.html")]
struct DeathPage {
    page: Page,
    p: PersonRow,
    date: String,
    errors: Vec<FieldError>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeathForm {
    pub version: String,
    pub date: String,
    pub confirm: String,
}

pub async fn death_form(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
) -> Result<Response, AppError> {
    let (_, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    render(&DeathPage {
        page: Page::new(
            &state,
            &actor,
            format!("登记死亡：{}", p.name),
            "households",
        )
        .await,
        p,
        date: String::new(),
        errors: vec![],
    })
}

pub async fn death(
    State(state): State<AppState>,
    actor: Actor,
    Path(pid): Path<i64>,
    Form(f): Form<DeathForm>,
) -> Result<Response, AppError> {
    let (_, p) = access::person(&state.db, &actor, pid).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&f.version)?;
    let mut errors = vec![];
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d").ok();
    if date.is_none() {
        errors.push(err("date", "请填写死亡日期（YYYY-MM-DD）"));
    }
    if f.confirm.is_empty() {
        errors.push(err(
            "confirm",
            "请勾选确认：此操作会结束该成员的家庭关系，且不可撤销",
        ));
    }
    if errors.is_empty() {
        match app_hh::record_death(
            &state.db,
            &actor,
            pid,
            version,
            date.expect("checked"),
            today_cn(),
        )
        .await
        {
            Ok(()) => {
                return Ok(
                    Redirect::to(&format!("/households/{}?msg=death", p.household_id))
                        .into_response(),
                );
            }
            Err(e) => errors = refusal(e, "date")?.0,
        }
    }
    let mut resp = render(&DeathPage {
        page: Page::new(
            &state,
            &actor,
            format!("登记死亡：{}", p.name),
            "households",
        )
        .await,
        date: f.date.clone(),
        p,
        errors,
    })?;
    *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

// ---------------------------------------------------------------- items

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ItemForm {
    pub version: String,
    pub op: String,
    pub item_id: String,
    pub kind: String,
    pub person_id: String,
    pub description: String,
    pub amount: String,
    pub date: String,
    /// Why a benefit category is corrected (district approver only).
    pub reason: String,
}

/// Confirmation page before a destructive or far-reaching action (works
/// without JavaScript): the message, and a form posting `fields` to `action`.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub page: Page,
    pub message: String,
    pub action: String,
    pub back: String,
    pub fields: Vec<(String, String)>,
    pub needs_date: bool,
    /// A benefit category's correction needs a reason.
    pub needs_reason: bool,
    pub today: String,
}

pub async fn item_confirm(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(f): Query<ItemForm>,
) -> Result<Response, AppError> {
    let (_, h) = access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let message = match f.op.as_str() {
        "remove_income" => "确定删除这条收入记录吗？删除会记入变更历史。",
        "remove_asset" => "确定删除这条财产记录吗？删除会记入变更历史。",
        "end_category" => "确定终止这个救助类别吗？请填写终止日期。",
        _ => return Err(AppError::bad_request("未知操作")),
    };
    render(&ConfirmPage {
        page: Page::new(&state, &actor, "请确认", "households").await,
        message: message.into(),
        action: format!("/households/{id}/items"),
        back: format!("/households/{id}"),
        fields: vec![
            ("version".into(), h.version.to_string()),
            ("op".into(), f.op.clone()),
            ("item_id".into(), f.item_id.clone()),
        ],
        needs_date: f.op == "end_category",
        needs_reason: f.op == "end_category" && actor.role == Role::DistrictApprover,
        today: today_cn().to_string(),
    })
}

pub async fn item_change(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Form(f): Form<ItemForm>,
) -> Result<Response, AppError> {
    access::household(&state.db, &actor, id).await?;
    access::role(&state.db, &actor, Action::EditHousehold).await?;
    let version = parse_version(&f.version)?;
    let today = today_cn();
    let amount =
        || Money::parse_yuan(&f.amount).map_err(|e| AppError::bad_request(format!("金额：{e}")));
    let item_id = || {
        f.item_id
            .parse::<i64>()
            .map_err(|_| AppError::bad_request("缺少记录编号"))
    };
    let date = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| AppError::bad_request("日期格式应为 YYYY-MM-DD"))
    };
    let change = match f.op.as_str() {
        "add_income" => {
            let kind = IncomeKind::from_code(&f.kind)
                .ok_or_else(|| AppError::bad_request("请选择收入类型"))?;
            let person = f.person_id.parse::<i64>().ok();
            ItemChange::AddIncome(
                IncomeRecord {
                    member_index: None,
                    kind,
                    description: f.description.trim().to_string(),
                    monthly: amount()?,
                },
                person,
            )
        }
        "remove_income" => ItemChange::RemoveIncome(item_id()?),
        "add_asset" => {
            let kind = AssetKind::from_code(&f.kind)
                .ok_or_else(|| AppError::bad_request("请选择财产类型"))?;
            ItemChange::AddAsset(AssetRecord {
                kind,
                description: f.description.trim().to_string(),
                value: amount()?,
            })
        }
        "remove_asset" => ItemChange::RemoveAsset(item_id()?),
        "add_category" => {
            let category = Category::from_code(&f.kind)
                .ok_or_else(|| AppError::bad_request("请选择救助类别"))?;
            let start = date(&f.date)?;
            if start > today {
                return Err(AppError::bad_request("开始日期不能晚于今天"));
            }
            ItemChange::AddCategory(CategoryRecord {
                category,
                start,
                end: None,
            })
        }
        "end_category" => ItemChange::EndCategory(item_id()?, date(&f.date)?),
        _ => return Err(AppError::bad_request("未知操作")),
    };
    app_hh::change_item(&state.db, &actor, id, version, change, &f.reason, today).await?;
    Ok(Redirect::to(&format!("/households/{id}?msg=item")).into_response())
}
