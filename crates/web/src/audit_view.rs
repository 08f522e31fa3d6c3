//! The audit log as people read it: each entry's before/after record turned
//! into labelled lines ("月收入：1,200.00 元 → 1,500.00 元"), codes into
//! their Chinese names, money in yuan. Fields that mean nothing to a reader
//! (row ids, versions, timestamps of the row itself) are left out; the
//! stored entry keeps everything.

use doudi_domain::Coded;
use doudi_domain::Money;
use serde_json::{Map, Value};

/// The Chinese name of a field, or `None` for an internal field that is not
/// shown.
fn field_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "名称",
        "head_name" => "户主",
        "size" => "家庭人口",
        "registration_address" => "户籍地址",
        "residence_address" => "居住地址",
        "residence_village_code" => "居住村（社区）",
        "village_code" => "村（社区）",
        "region" | "region_code" => "地区",
        "phone" => "联系电话",
        "categories" | "category" => "类别",
        "note" => "备注",
        "status" => "状态",
        "relation" => "与户主关系",
        "id_number" => "身份证号",
        "sex" => "性别",
        "birth_date" => "出生日期",
        "disability_type" => "残疾类别",
        "disability_grade" => "残疾等级",
        "illnesses" => "疾病",
        "self_care_unable" => "生活自理",
        "employment" => "就业状况",
        "schooling" => "就学状况",
        "death_date" => "死亡日期",
        "kind" => "类型",
        "description" => "说明",
        "monthly_fen" => "月金额",
        "value_fen" => "价值",
        "amount_fen" => "金额",
        "start_date" => "开始日期",
        "end_date" => "结束日期",
        "reason" => "原因",
        "due" | "due_on" | "step_due" => "期限",
        "date" => "日期",
        "findings" => "情况记录",
        "needs" => "需求",
        "method" => "核实方式",
        "outcome" => "核实结果",
        "lead" => "转为线索",
        "score" => "评估分值",
        "colour" => "颜色等级",
        "next_visit_due" => "下次走访期限",
        "level" => "层级",
        "key" => "标准",
        "value" => "数值",
        "effective_from" => "生效日期",
        "username" => "登录名",
        "display_name" => "姓名",
        "role" => "岗位",
        "department" => "部门",
        "feed_kinds" => "可报送数据",
        "active" => "启用",
        "opinion" => "意见",
        "decision" => "决定",
        "period_start" => "起始月份",
        "severity" => "严重程度",
        "deadline_days" => "处置期限（天）",
        "cooling_days" => "冷却期（天）",
        "verify_level" => "核实层级",
        "step" => "环节",
        "accepted" => "接收条数",
        "rejected" => "拒收条数",
        "raised" => "新增预警",
        _ => return None,
    })
}

/// Status codes of every kind of record, in Chinese. The audit entry does not
/// say which table a status came from in a form the page could rely on, so
/// the codes are one vocabulary (they do not clash in meaning).
fn status_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "active" => "有效",
        "dissolved" => "已注销",
        "alive" => "在世",
        "dead" | "deceased" => "死亡",
        "open" => "处理中",
        "closed" => "已办结",
        "pending" => "待处理",
        "answered" => "已答复",
        "overdue" => "已超期",
        "approved" => "已批准",
        "refused" => "不予批准",
        "withdrawn" => "已撤回",
        "suspended" => "暂停",
        "retired" => "废止",
        "running" => "进行中",
        "done" | "completed" => "已完成",
        "interrupted" => "已中断",
        "failed" => "失败",
        _ => return None,
    })
}

fn coded<T: Coded>(code: &str) -> Option<String> {
    T::from_code(code).map(|v| v.label().to_string())
}

/// A value as shown; `regions` names a region code.
fn show(key: &str, v: &Value, regions: &dyn Fn(&str) -> Option<String>) -> String {
    use doudi_domain::access::Role;
    use doudi_domain::grading::Colour;
    use doudi_domain::household::{AssetKind, Category, IncomeKind};
    use doudi_domain::person::{DisabilityType, Employment, Relation, Schooling, Sex};
    match v {
        Value::Null => "（空）".into(),
        Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        Value::Number(n) if key.ends_with("_fen") => n
            .as_i64()
            .map_or_else(|| n.to_string(), |f| format!("{} 元", Money::from_fen(f))),
        Value::Number(n) if key == "active" => {
            if n.as_i64() == Some(1) { "是" } else { "否" }.into()
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.is_empty() => "（空）".into(),
        Value::String(s) => {
            let label = match key {
                "status" => status_label(s).map(str::to_string),
                "role" => coded::<Role>(s),
                "relation" => coded::<Relation>(s),
                "sex" => coded::<Sex>(s),
                "employment" => coded::<Employment>(s),
                "schooling" => coded::<Schooling>(s),
                "disability_type" => coded::<DisabilityType>(s),
                "colour" => Colour::from_code(s).map(|c| format!("{}色", c.label())),
                "category" => coded::<Category>(s),
                "categories" => Some(
                    s.split(',')
                        .filter(|c| !c.is_empty())
                        .map(|c| coded::<Category>(c).unwrap_or_else(|| c.to_string()))
                        .collect::<Vec<_>>()
                        .join("、"),
                ),
                "kind" => coded::<IncomeKind>(s)
                    .or_else(|| coded::<AssetKind>(s))
                    .or_else(|| coded::<doudi_domain::workflow::ItemKind>(s))
                    .or_else(|| {
                        matches!(s.as_str(), "department" | "charity")
                            .then(|| doudi_app::departments::kind_label(s).to_string())
                    }),
                "feed_kinds" => Some(
                    s.split(',')
                        .filter(|c| !c.is_empty())
                        .map(|c| {
                            doudi_sheets::FeedKind::from_code(c)
                                .map_or_else(|| c.to_string(), |k| k.label().to_string())
                        })
                        .collect::<Vec<_>>()
                        .join("、"),
                ),
                "village_code" | "residence_village_code" | "region" | "region_code" => regions(s),
                "id_number" => Some(crate::views::mask_id(s)),
                "phone" => Some(doudi_domain::mask::mask_phone(s)),
                _ => None,
            };
            label.unwrap_or_else(|| s.clone())
        }
        Value::Array(items) => items
            .iter()
            .map(|i| show(key, i, regions))
            .collect::<Vec<_>>()
            .join("、"),
        Value::Object(_) => "（详见档案）".into(),
    }
}

fn object(text: Option<&str>) -> Map<String, Value> {
    match text.and_then(|t| serde_json::from_str::<Value>(t).ok()) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The labelled lines of one entry: a changed field as "名称：前 → 后", a
/// field of a new record as "名称：值". Unchanged and internal fields are
/// left out.
pub fn describe_changes(
    before: Option<&str>,
    after: Option<&str>,
    regions: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let (b, a) = (object(before), object(after));
    // Fields in key order (the parsed object is sorted), so that entries of
    // one kind always list their fields alike.
    let mut keys: Vec<&String> = a.keys().collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)));
    let mut lines = Vec::new();
    for key in keys {
        let Some(label) = field_label(key) else {
            continue;
        };
        match (b.get(key), a.get(key)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => lines.push(format!(
                "{label}：{} → {}",
                show(key, x, regions),
                show(key, y, regions)
            )),
            (None, Some(y)) => lines.push(format!("{label}：{}", show(key, y, regions))),
            (Some(x), None) => lines.push(format!("{label}：{}（已删除）", show(key, x, regions))),
            (None, None) => {}
        }
    }
    lines
}

/// The kind of record an entry is about, in Chinese.
pub fn entity_label(entity: &str) -> &str {
    match entity {
        "household" => "家庭",
        "person" => "成员",
        "income" | "income_item" => "收入",
        "asset" => "财产",
        "category" | "household_category" => "类别",
        "application" => "申请",
        "item" | "case_item" => "事项",
        "case_step" => "办理环节",
        "referral" => "转介",
        "notice" => "公示",
        "objection" => "异议",
        "ledger" => "救助台账",
        "policy" => "政策",
        "standard" => "救助标准",
        "warning" => "预警",
        "warning_rule" => "预警规则",
        "sweep" => "预警扫描",
        "feed_batch" => "部门数据批次",
        "visit" => "走访",
        "assessment" => "分级评估",
        "helper" => "帮扶人",
        "finder_run" | "run" => "政策找人",
        "lead" => "线索",
        "user" => "账号",
        "api_token" => "访问令牌",
        "region" => "区划",
        "department" => "部门与机构",
        "import" | "import_job" => "批量导入",
        "assistance_status" => "救助状态查询",
        "calendar" => "工作日历",
        "backup" => "备份",
        _ => "记录",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn money_is_in_yuan_and_codes_are_named() {
        let lines = describe_changes(
            Some(
                r#"{"id": 7, "version": 2, "kind": "wage", "monthly_fen": 120000, "status": "open"}"#,
            ),
            Some(
                r#"{"id": 7, "version": 3, "kind": "wage", "monthly_fen": 150000, "status": "closed"}"#,
            ),
            &none,
        );
        assert_eq!(
            lines,
            vec!["月金额：1,200.00 元 → 1,500.00 元", "状态：处理中 → 已办结"]
        );
    }

    #[test]
    fn a_new_record_lists_its_fields_and_regions_by_name() {
        let names = |c: &str| (c == "330106001001").then(|| "翠苑一区".to_string());
        let lines = describe_changes(
            None,
            Some(
                r#"{"role": "village_assistant", "region": "330106001001", "amount_fen": 600000, "password_hash": "x"}"#,
            ),
            &names,
        );
        assert_eq!(
            lines,
            vec![
                "金额：6,000.00 元",
                "地区：翠苑一区",
                "岗位：村(社区)救助协理员"
            ]
        );
    }

    #[test]
    fn garbage_and_internal_fields_show_nothing() {
        assert!(describe_changes(Some("not json"), Some("[1,2]"), &none).is_empty());
        assert!(
            describe_changes(
                None,
                Some(r#"{"created_at": "x", "household_id": 3}"#),
                &none
            )
            .is_empty()
        );
    }
}
