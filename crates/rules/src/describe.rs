//! A failed rule condition in plain Chinese, with the household's values:
//! `hh.assets_total <= std.asset_limit_per_person * hh.size` on a household
//! that fails it reads "家庭财产合计 52,000.00 元，超过 人均财产限额 × 家庭人口
//! 48,000.00 元". Conditions of the common shapes (a comparison, a category
//! or receipt test, "some member" / "every member") are described with their
//! values; anything else is translated word by word, so no variable name or
//! code reaches the reader.

use cel::Value;
use doudi_domain::Coded;
use doudi_domain::Money;

use crate::Scope;

/// What a field is called and how its value is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Money,
    Count(&'static str),
    Percent,
    Plain,
}

fn variable(name: &str) -> Option<(String, Unit)> {
    use Unit::*;
    let fixed = |label: &str, unit| Some((label.to_string(), unit));
    match name {
        "hh.size" => fixed("家庭人口", Count("人")),
        "hh.income_monthly" => fixed("家庭月收入", Money),
        "hh.per_capita_income" => fixed("家庭人均月收入", Money),
        "hh.annual_income" => fixed("家庭年收入", Money),
        "hh.assets_total" => fixed("家庭财产合计", Money),
        "hh.deposits" => fixed("存款", Money),
        "hh.houses" => fixed("房产", Count("套")),
        "hh.vehicles" => fixed("车辆", Count("辆")),
        "hh.business_assets" => fixed("经营性资产", Money),
        "hh.categories" => fixed("家庭类别", Plain),
        "hh.receives" => fixed("已享受的救助", Plain),
        "hh.essential_spending_12m" => fixed("近12个月刚性支出", Money),
        "hh.medical_selfpay_12m" => fixed("近12个月医疗自付", Money),
        "hh.separated" => fixed("单独立户", Plain),
        "hh.working_age_able" => fixed("劳动年龄内有劳动能力的成员", Count("人")),
        "hh.employed" => fixed("在业成员", Count("人")),
        "m.age" | "p.age" => fixed("年龄", Count("岁")),
        "m.sex" | "p.sex" => fixed("性别", Plain),
        "m.relation" | "p.relation" => fixed("与户主关系", Plain),
        "m.disability_grade" | "p.disability_grade" => fixed("残疾等级", Plain),
        "m.severe_disability" | "p.severe_disability" => fixed("重度残疾", Plain),
        "m.self_care" | "p.self_care" => fixed("生活自理能力", Plain),
        "m.employment" | "p.employment" => fixed("就业状况", Plain),
        "m.schooling" | "p.schooling" => fixed("就学状况", Plain),
        "m.ill" | "p.ill" => fixed("患病", Plain),
        "m.illnesses" | "p.illnesses" => fixed("所患疾病", Plain),
        "m.no_work_capacity" | "p.no_work_capacity" => fixed("无劳动能力", Plain),
        "calc.tekun_care_level" => fixed("特困照料等级", Plain),
        "calc.dibao_amount" => fixed("低保金测算额", Money),
        "calc.disability_subsidy" => fixed("残疾人补贴测算额", Money),
        "calc.medical_assistance" => fixed("医疗救助测算额", Money),
        _ => {
            if let Some(key) = name.strip_prefix("std.") {
                let def = crate::standards::STANDARDS
                    .iter()
                    .find(|d| d.cel_name == key)?;
                let unit = match def.unit {
                    crate::standards::Unit::Fen => Money,
                    crate::standards::Unit::Percent => Percent,
                    crate::standards::Unit::Count => Count(""),
                };
                // The label without its unit: the value carries it.
                let label = def.label.split('（').next().unwrap_or(def.label);
                return Some((label.to_string(), unit));
            }
            let key = name.strip_prefix("feeds.")?;
            let label = match key {
                "medical_selfpay_12m" => "部门数据：近12个月医疗自付",
                "deaths_90d" => "部门数据：近90天死亡注销",
                "unemployed_registered_90d" => "部门数据：近90天失业登记",
                "new_severe_disability_90d" => "部门数据：近90天新办重度残疾证",
                "vehicles_new_90d" => "部门数据：近90天新登记车辆",
                "properties_12m" => "部门数据：近12个月新登记房产",
                "business_12m" => "部门数据：近12个月新办经营主体",
                "utility_arrears" => "部门数据：水电欠费",
                "dropouts_12m" => "部门数据：近12个月辍学",
                "disaster_12m" => "部门数据：近12个月受灾",
                "hukou_out_90d" => "部门数据：近90天户籍迁出",
                _ => return None,
            };
            let unit = if key == "medical_selfpay_12m" {
                Money
            } else {
                Count("条")
            };
            Some((label.to_string(), unit))
        }
    }
}

/// A code in quotes, by its Chinese name; `extra` names codes the caller
/// knows (policies' receipt keys).
fn code_label(code: &str, extra: &dyn Fn(&str) -> Option<String>) -> String {
    use doudi_domain::household::Category;
    use doudi_domain::person::{Employment, Relation, Schooling, SelfCareLevel, Sex};
    fn coded<T: Coded>(c: &str) -> Option<String> {
        T::from_code(c).map(|v| v.label().to_string())
    }
    coded::<Category>(code)
        .or_else(|| extra(code))
        .or_else(|| coded::<Employment>(code))
        .or_else(|| coded::<Schooling>(code))
        .or_else(|| coded::<Relation>(code))
        .or_else(|| coded::<Sex>(code))
        .or_else(|| coded::<SelfCareLevel>(code))
        .or_else(|| match code {
            "full" => Some("完全照料".into()),
            "partial" => Some("部分照料".into()),
            _ => None,
        })
        .unwrap_or_else(|| code.to_string())
}

fn shown(v: &Value, unit: Unit) -> Option<String> {
    let n = match v {
        Value::Int(i) => *i,
        Value::UInt(u) => i64::try_from(*u).ok()?,
        Value::Bool(b) => return Some(if *b { "是" } else { "否" }.into()),
        Value::Float(f) => return Some(format!("{f:.2}")),
        _ => return None,
    };
    Some(match unit {
        Unit::Money => format!("{} 元", Money::from_fen(n)),
        Unit::Count(u) => format!("{n} {u}").trim_end().to_string(),
        Unit::Percent => format!("{n}%"),
        Unit::Plain => n.to_string(),
    })
}

/// Splits `text` at its one top-level comparison, if it has exactly one and
/// no top-level `&&`, `||` or `!`.
fn comparison(text: &str) -> Option<(&str, &'static str, &str)> {
    let bytes = text.as_bytes();
    let (mut depth, mut quote, mut found) = (0i32, None::<u8>, None);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => quote = Some(c),
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            _ if depth == 0 => {
                let two = text.get(i..i + 2).unwrap_or("");
                let op: Option<&'static str> = match two {
                    "<=" => Some("<="),
                    ">=" => Some(">="),
                    "==" => Some("=="),
                    "!=" => Some("!="),
                    "&&" | "||" => return None,
                    _ => match c {
                        b'<' => Some("<"),
                        b'>' => Some(">"),
                        _ => None,
                    },
                };
                if let Some(op) = op {
                    if found.is_some() {
                        return None;
                    }
                    found = Some((i, op));
                    i += op.len();
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let (at, op) = found?;
    let (l, r) = (text[..at].trim(), text[at + op.len()..].trim());
    (!l.is_empty() && !r.is_empty() && !l.starts_with('!')).then_some((l, op, r))
}

/// A side of a comparison: its name and the unit of its value. A side that
/// scales money by a percentage or by 100 has no meaningful unit of its own.
fn side(text: &str, extra: &dyn Fn(&str) -> Option<String>) -> (String, Unit) {
    if let Some(v) = variable(text) {
        return v;
    }
    let words = translate(text, extra);
    let money = identifiers(text)
        .iter()
        .any(|i| variable(i).is_some_and(|(_, u)| u == Unit::Money));
    let scaled = text.contains("100") || text.contains("_pct");
    (
        words,
        if money && !scaled {
            Unit::Money
        } else {
            Unit::Plain
        },
    )
}

fn identifiers(text: &str) -> Vec<String> {
    tokens(text)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        })
        .collect()
}

#[derive(Debug)]
enum Token {
    Word(String),
    Quoted(String),
    Other(String),
}

fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|x| *x == c)
                .map_or(chars.len(), |p| i + 1 + p);
            out.push(Token::Quoted(
                chars[i + 1..end.min(chars.len())].iter().collect(),
            ));
            i = end + 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["<=", ">=", "==", "!=", "&&", "||"].contains(&two.as_str()) {
                out.push(Token::Other(two));
                i += 2;
            } else {
                out.push(Token::Other(c.to_string()));
                i += 1;
            }
        }
    }
    out
}

/// Word-by-word Chinese for any condition: variables by name, codes by
/// label, operators as words, "members.exists(m, …)" as "有成员（…）".
fn translate(text: &str, extra: &dyn Fn(&str) -> Option<String>) -> String {
    let toks = tokens(text);
    let mut out = String::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Token::Word(w) => {
                // "x.exists(v, …)" / "x.all(v, …)": the macro as words, the
                // iteration variable dropped.
                let macro_word = ["exists", "all", "exists_one", "contains"]
                    .iter()
                    .find(|m| w.ends_with(&format!(".{m}")));
                if let Some(m) = macro_word {
                    let base = &w[..w.len() - m.len() - 1];
                    let subject = match base {
                        "members" => "成员".to_string(),
                        b => variable(b)
                            .map_or_else(|| b.rsplit('.').next().unwrap_or(b).to_string(), |v| v.0),
                    };
                    let skip_var = matches!(toks.get(i + 2), Some(Token::Word(_)))
                        && matches!(toks.get(i + 3), Some(Token::Other(c)) if c == ",");
                    out.push_str(&match *m {
                        "exists" => format!("有{subject}满足"),
                        "all" => format!("所有{subject}都满足"),
                        "exists_one" => format!("恰有一个{subject}满足"),
                        _ => format!("{subject}包含"),
                    });
                    out.push('（');
                    i += if skip_var { 4 } else { 2 };
                    continue;
                }
                let word = match w.as_str() {
                    "in" => "属于".to_string(),
                    "true" => "是".to_string(),
                    "false" => "否".to_string(),
                    _ => match variable(w) {
                        Some((label, _)) => label,
                        // An iteration variable alone (c in [...]) reads as "其".
                        None if w.len() == 1 => "其".to_string(),
                        None if w.chars().all(|c| c.is_ascii_digit()) => w.clone(),
                        None => w.rsplit('.').next().unwrap_or(w).to_string(),
                    },
                };
                out.push_str(&word);
            }
            Token::Quoted(q) => out.push_str(&format!("“{}”", code_label(q, extra))),
            Token::Other(o) => out.push_str(match o.as_str() {
                "&&" => "，且",
                "||" => "，或",
                "!" => "并非",
                "==" => "为",
                "!=" => "不为",
                "<=" => "≤",
                ">=" => "≥",
                "<" => "<",
                ">" => ">",
                "*" => "×",
                "/" => "÷",
                "(" => "（",
                ")" => "）",
                "[" => "",
                "]" => "",
                "," => "、",
                other => other,
            }),
        }
        i += 1;
    }
    out
}

/// Why `condition` does not hold on the household in `scope`, in Chinese.
pub fn failed_condition(
    condition: &str,
    scope: &Scope,
    extra: &dyn Fn(&str) -> Option<String>,
) -> String {
    let text = condition.trim();
    let text = strip_parens(text);
    // 'x' in hh.categories / hh.receives, and their negations.
    let (negated, inner) = match text.strip_prefix('!') {
        Some(rest) => (true, strip_parens(rest.trim())),
        None => (false, text),
    };
    if let Some((code, set)) = membership(inner) {
        let what = code_label(code, extra);
        return match (set, negated) {
            ("hh.categories", false) => format!("家庭不是{what}对象"),
            ("hh.categories", true) => format!("家庭已是{what}对象"),
            (_, false) => format!("未享受{what}"),
            (_, true) => format!("已享受{what}"),
        };
    }
    if !negated && let Some((l, op, r)) = comparison(inner) {
        let (ln, lu) = side(l, extra);
        let lv = scope.value_of(l).and_then(|v| shown(&v, lu));
        let literal = tokens(r)
            .iter()
            .all(|t| !matches!(t, Token::Word(w) if !w.chars().all(|c| c.is_ascii_digit())));
        let (rn, ru) = side(r, extra);
        let rv = if literal && lu != Unit::Plain {
            scope.value_of(r).and_then(|v| shown(&v, lu))
        } else {
            scope.value_of(r).and_then(|v| shown(&v, ru))
        };
        let relation = match op {
            "<" => "不低于",
            "<=" => "超过",
            ">" => "未超过",
            ">=" => "低于",
            "==" => "不等于",
            _ => "等于",
        };
        if let (Some(lv), Some(rv)) = (lv, rv) {
            return if literal {
                format!("{ln} {lv}，{relation} {rv}")
            } else {
                format!("{ln} {lv}，{relation}{rn} {rv}")
            };
        }
        if let Some(lv) = scope.value_of(l).and_then(|v| match v {
            Value::String(s) => Some(code_label(&s, extra)),
            _ => None,
        }) {
            return format!("{ln}为“{lv}”，不满足：{}", translate(inner, extra));
        }
    }
    format!("不满足：{}", translate(text, extra))
}

fn strip_parens(text: &str) -> &str {
    let t = text.trim();
    if t.starts_with('(') && t.ends_with(')') {
        // Only when the outer pair encloses everything.
        let mut depth = 0;
        for (i, c) in t.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 && i != t.len() - 1 {
                        return t;
                    }
                }
                _ => {}
            }
        }
        return strip_parens(&t[1..t.len() - 1]);
    }
    t
}

/// `'code' in hh.categories` (or `hh.receives`).
fn membership(text: &str) -> Option<(&str, &str)> {
    let (left, right) = text.split_once(" in ")?;
    let code = left.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let set = right.trim();
    (matches!(set, "hh.categories" | "hh.receives") && !code.contains('\'')).then_some((code, set))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Env, Facts, HouseholdInput, MemberInput};
    use chrono::NaiveDate;
    use std::collections::BTreeMap;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn facts(assets_fen: i64, categories: &[&str]) -> Facts {
        let member = MemberInput {
            birth_date: NaiveDate::from_ymd_opt(1950, 1, 1),
            sex: "female".into(),
            relation: "head".into(),
            disability: String::new(),
            disability_grade: 0,
            illnesses: vec![],
            self_care_unable: 0,
            employment: "retired".into(),
            schooling: String::new(),
            alive: true,
        };
        let input = HouseholdInput {
            members: vec![member],
            assets: vec![("deposit".into(), assets_fen)],
            income_monthly_fen: 150_000,
            categories: categories.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        Facts::build(
            &input,
            &BTreeMap::new(),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        )
    }

    fn env() -> Env {
        let mut std = BTreeMap::new();
        std.insert("asset_limit_per_person".to_string(), 4_800_000);
        std.insert("dibao".to_string(), 113_000);
        Env::new(&std)
    }

    #[test]
    fn a_comparison_shows_both_values_in_yuan() {
        let env = env();
        let f = facts(5_200_000, &[]);
        let scope = env.scope(&f);
        assert_eq!(
            failed_condition(
                "hh.assets_total <= std.asset_limit_per_person * hh.size",
                &scope,
                &none
            ),
            "家庭财产合计 52,000.00 元，超过人均财产限额×家庭人口 48,000.00 元"
        );
        assert_eq!(
            failed_condition("hh.per_capita_income < std.dibao", &scope, &none),
            "家庭人均月收入 1,500.00 元，不低于低保标准 1,130.00 元"
        );
    }

    #[test]
    fn a_count_against_a_number() {
        let env = env();
        let f = facts(0, &[]);
        let scope = env.scope(&f);
        assert_eq!(
            failed_condition("hh.size > 1", &scope, &none),
            "家庭人口 1 人，未超过 1 人"
        );
    }

    #[test]
    fn categories_and_members_read_as_words() {
        let env = env();
        let f = facts(0, &["dibao"]);
        let scope = env.scope(&f);
        assert_eq!(
            failed_condition("!('dibao' in hh.categories)", &scope, &none),
            "家庭已是低保对象"
        );
        assert_eq!(
            failed_condition("'tekun' in hh.categories", &scope, &none),
            "家庭不是特困对象"
        );
        let names = |c: &str| (c == "orphan_basic").then(|| "孤儿基本生活费".to_string());
        assert_eq!(
            failed_condition("'orphan_basic' in hh.receives", &scope, &names),
            "未享受孤儿基本生活费"
        );
        let text = failed_condition(
            "members.exists(m, m.age < 18 && m.schooling == 'college')",
            &scope,
            &none,
        );
        assert_eq!(
            text,
            "不满足：有成员满足（年龄<18，且就学状况为“大专及以上”）"
        );
        for code in ["hh.", "m.", "std.", "members", "'", "&&"] {
            assert!(!text.contains(code), "{code} in {text}");
        }
    }
}
