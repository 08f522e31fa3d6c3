//! Shared page context and display helpers for templates.

use doudi_domain::Coded;
use doudi_domain::access::Action;
use doudi_domain::household::Category;

use crate::AppState;
use crate::auth::Actor;

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// What every signed-in page needs: title, who is signed in, navigation, a notice.
pub struct Page {
    pub title: String,
    pub user: String,
    pub role: String,
    pub region: String,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
}

impl Page {
    pub async fn new(
        state: &AppState,
        actor: &Actor,
        title: impl Into<String>,
        section: &str,
    ) -> Page {
        let region = state
            .region_names
            .name(&state.db, actor.region.as_str())
            .await;
        let mut nav = vec![NavItem {
            href: "/",
            label: "工作台",
            active: section == "home",
        }];
        if actor.may(Action::HandleCase) || actor.may(Action::HandleReferral) {
            nav.push(NavItem {
                href: "/inbox",
                label: "我的待办",
                active: section == "inbox" || section == "cases",
            });
        }
        if actor.may(Action::ViewHousehold) {
            nav.push(NavItem {
                href: "/households",
                label: "家庭档案",
                active: section == "households",
            });
        }
        if actor.may(Action::HandleCase) || actor.may(Action::ReadAudit) {
            nav.push(NavItem {
                href: "/reports/cases",
                label: "报表",
                active: section == "reports",
            });
            nav.push(NavItem {
                href: "/workflows",
                label: "流程",
                active: section == "workflows",
            });
        }
        if actor.may(Action::RunFinder)
            || actor.may(Action::ManagePolicies)
            || actor.may(Action::HandleCase)
        {
            nav.push(NavItem {
                href: "/policies",
                label: "政策",
                active: section == "policies",
            });
        }
        if actor.may(Action::RunFinder) {
            nav.push(NavItem {
                href: "/finder",
                label: "政策找人",
                active: section == "finder",
            });
        }
        if actor.may(Action::ViewHousehold) {
            nav.push(NavItem {
                href: "/monitoring",
                label: "动态监测",
                active: section == "monitoring" || section == "warnings",
            });
        }
        if actor.may(Action::UploadFeed) || actor.may(Action::ManagePolicies) {
            nav.push(NavItem {
                href: "/feeds",
                label: "部门数据",
                active: section == "feeds",
            });
        }
        if actor.may(Action::HandleCase) {
            nav.push(NavItem {
                href: "/leads",
                label: "线索",
                active: section == "leads",
            });
        }
        if actor.may(Action::ImportHouseholds) {
            nav.push(NavItem {
                href: "/imports",
                label: "批量导入",
                active: section == "imports",
            });
        }
        if actor.may(Action::ReadAudit) {
            nav.push(NavItem {
                href: "/audit",
                label: "审计日志",
                active: section == "audit",
            });
        }
        if actor.may(Action::ManageRegions) {
            nav.push(NavItem {
                href: "/admin/regions",
                label: "区划管理",
                active: section == "regions",
            });
        }
        if actor.may(Action::ManageCalendar) {
            nav.push(NavItem {
                href: "/admin/calendar",
                label: "工作日历",
                active: section == "calendar",
            });
        }
        if actor.may(Action::ManageUsers) {
            nav.push(NavItem {
                href: "/admin/users",
                label: "账号管理",
                active: section == "users",
            });
            nav.push(NavItem {
                href: "/admin/departments",
                label: "部门与机构",
                active: section == "departments",
            });
        }
        Page {
            title: title.into(),
            user: actor.user.display_name.clone(),
            role: actor.role.label().to_string(),
            region,
            nav,
            notice: None,
        }
    }
    pub fn with_notice(mut self, msg: Option<&str>) -> Page {
        self.notice = msg.and_then(notice_text).map(str::to_string);
        self
    }
}

/// Flash messages travel as short codes in the redirect URL (`?msg=saved`).
pub fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "已保存。",
        "created" => "已创建。",
        "member_added" => "已添加成员。",
        "moved" => "成员已迁移，原家庭与目标家庭的历史均已保留。",
        "split" => "已完成分户。",
        "death" => "已登记死亡。",
        "password" => "密码已修改，其他设备上的登录已失效。",
        "item" => "已更新。",
        "token" => "令牌已吊销。",
        "acted" => "已办理并签署，办理记录已保存。",
        "referred" => "转介已发送，接收方会在其待办中看到；办理进度见下方“已发转介”。",
        "conference" => "一事一议结果已记录。",
        "department_created" => "已新增部门。",
        "calendar" => "节假日安排已载入，办理时限按新安排计算。",
        _ => return None,
    })
}

pub fn label<T: Coded>(code: &str) -> String {
    T::from_code(code)
        .map(|v| v.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

pub fn categories_label(codes: &str) -> String {
    codes
        .split(',')
        .filter(|c| !c.is_empty())
        .map(label::<Category>)
        .collect::<Vec<_>>()
        .join("、")
}

/// A household in a list: its head's name (masked, as everywhere in lists)
/// and 户, e.g. "张*明户"; the village goes in its own column.
pub fn household_name(head_name: &str) -> String {
    if head_name.is_empty() {
        return "（户主未登记）".into();
    }
    format!("{}户", doudi_domain::mask::mask_name(head_name))
}

pub fn money(fen: i64) -> String {
    doudi_domain::Money::from_fen(fen).to_string()
}

/// Stored UTC timestamp → "2026-11-23 20:15" in China time.
pub fn local_time(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

pub fn mask_id(id: &str) -> String {
    doudi_domain::IdNumber::parse(id)
        .map(|i| i.masked())
        .unwrap_or_else(|_| "******".into())
}

/// Options for a <select>: (value, label, selected).
pub fn options<T: Coded>(selected: &str) -> Vec<(String, String, bool)> {
    T::all()
        .iter()
        .map(|v| {
            (
                v.code().to_string(),
                v.label().to_string(),
                v.code() == selected,
            )
        })
        .collect()
}

/// Pagination links that keep the current filters.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub total_label: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// Counts something other than households ("条", "项").
    pub fn with_unit(mut self, unit: &str) -> Pager {
        self.total_label = self.total_label.replace(" 户", &format!(" {unit}"));
        self
    }
    pub fn new(base_query: &str, page: i64, per_page: i64, total: i64, cap: i64) -> Pager {
        let page = page.clamp(1, 100_000);
        let capped = total > cap;
        let total = total.min(cap);
        let pages = ((total + per_page - 1) / per_page).max(1);
        let link = |p: i64| {
            format!(
                "?{base_query}{}page={p}",
                if base_query.is_empty() { "" } else { "&" }
            )
        };
        Pager {
            page,
            pages,
            total_label: if capped {
                format!("{cap} 户以上")
            } else {
                format!("{total} 户")
            },
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages || (capped && page == pages)).then(|| link(page.saturating_add(1))),
        }
    }
}

/// Field errors as (field, message) pairs, as the page templates show them.
pub fn pairs(fields: Vec<doudi_app::FieldError>) -> Vec<(String, String)> {
    fields.into_iter().map(|f| (f.field, f.message)).collect()
}

/// A workflow step's name, for people.
pub fn step_name(kind: &str, code: &str) -> String {
    doudi_domain::workflow::ItemKind::from_code(kind)
        .and_then(|k| {
            doudi_domain::workflow::definition(k)
                .step(code)
                .map(|s| s.name.to_string())
        })
        .unwrap_or_else(|| code.to_string())
}

pub fn flag_label(f: &str) -> &'static str {
    match f {
        "extended" => "已延期",
        "escalated" => "提级复审",
        "separate_registration" => "单独登记备案",
        "pending_supplement" => "先行救助·待补充材料",
        "spot_check" => "已抽查",
        "provisional_due" => "期限待新年度日历载入后确认",
        _ => "",
    }
}

pub struct ItemLine {
    pub id: i64,
    pub kind: String,
    pub department: String,
    pub step: String,
    pub role: String,
    pub due: String,
    pub overdue: bool,
    pub outcome: String,
    pub flags: String,
    pub household: String,
    pub village: String,
    pub household_id: i64,
}

/// One item as lists show it (inbox, application, household file).
pub fn item_line(i: &doudi_store::cases::ItemRow, today: &str) -> ItemLine {
    ItemLine {
        id: i.id,
        kind: label::<doudi_domain::workflow::ItemKind>(&i.cols.kind),
        department: i.cols.department.clone(),
        step: i
            .cols
            .step
            .as_deref()
            .map(|s| step_name(&i.cols.kind, s))
            .unwrap_or_default(),
        role: i
            .cols
            .step_role
            .as_deref()
            .map(label::<doudi_domain::access::Role>)
            .unwrap_or_default(),
        due: i.cols.step_due.clone(),
        overdue: i.cols.step.is_some() && i.cols.step_due.as_str() < today,
        outcome: i
            .cols
            .outcome
            .as_deref()
            .map(label::<doudi_domain::workflow::Outcome>)
            .unwrap_or_default(),
        flags: i
            .cols
            .flags
            .split(',')
            .map(flag_label)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("、"),
        household: i.head_name.clone(),
        village: i.village_name.clone(),
        household_id: i.household_id,
    }
}

/// The page header's region name, cached for a minute: every page shows it,
/// and it is one query per page otherwise. A renamed region shows its new
/// name in every header within a minute.
#[derive(Debug, Default)]
pub struct RegionNames {
    names: std::sync::RwLock<std::collections::HashMap<String, (String, std::time::Instant)>>,
}

impl RegionNames {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(60);

    pub async fn name(&self, db: &doudi_store::Db, code: &str) -> String {
        if let Some((name, at)) = self.names.read().ok().and_then(|m| m.get(code).cloned())
            && at.elapsed() < Self::FRESH
        {
            return name;
        }
        match doudi_store::regions::get(db, code).await {
            Ok(Some(r)) => {
                if let Ok(mut m) = self.names.write() {
                    m.insert(
                        code.to_string(),
                        (r.name.clone(), std::time::Instant::now()),
                    );
                }
                r.name
            }
            _ => code.to_string(),
        }
    }
}
