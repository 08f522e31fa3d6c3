//! Turning [`RawRow`]s into households, with a specific Chinese reason for
//! every row that cannot be imported.
//!
//! One pass parses each row on its own; hash maps then find duplicate ID
//! numbers and group rows by 户编号; a last pass checks each household as a
//! whole. Everything is linear in the number of rows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{Datelike, Days, NaiveDate};
use doudi_domain::household::{
    Category, CategoryRecord, HouseholdRecord, IncomeKind, IncomeRecord, MemberRecord,
};
use doudi_domain::id_number::IdError;
use doudi_domain::person::{
    DisabilityType, Employment, Relation, Schooling, SelfCare, SelfCareItem,
};
use doudi_domain::{Coded, IdNumber, Money};

use crate::{ParsedHousehold, RawRow, Rejected, TEMPLATE_COLUMNS, col};

/// Reason given to the valid rows of a household that has an invalid row.
pub(crate) const SIBLING_REJECTED: &str = "同户其他行有误，整户未导入";

/// Longest list of line numbers quoted in one message.
const MAX_LINES_QUOTED: usize = 5;

/// Validates rows into households.
///
/// Rows are grouped by 户编号 in first-seen order. A household is imported
/// only if all its rows are valid; otherwise every one of its rows is
/// rejected (valid ones with [`SIBLING_REJECTED`]). Each input row ends up in
/// exactly one `ParsedHousehold::lines` or exactly one [`Rejected`];
/// rejections are sorted by line.
///
/// `village_ok` is asked once per distinct 村社区代码 of a 户主 row and
/// returns `Err(message)` when the village is unknown or outside the user's
/// jurisdiction.
pub fn validate_rows(
    rows: &[RawRow],
    today: NaiveDate,
    village_ok: &dyn Fn(&str) -> Result<(), String>,
) -> (Vec<ParsedHousehold>, Vec<Rejected>) {
    let mut villages = VillageCache {
        check: village_ok,
        seen: HashMap::new(),
    };

    // Pass 1: each row on its own.
    let mut parsed: Vec<RowParse> = rows
        .iter()
        .map(|row| parse_row(row, today, &mut villages))
        .collect();

    // Pass 2: ID numbers used more than once in the file.
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in parsed.iter().enumerate() {
        if let Some(id) = &p.id {
            by_id.entry(id.as_str()).or_default().push(i);
        }
    }
    let mut duplicate_errors: Vec<(usize, String)> = Vec::new();
    for indices in by_id.values().filter(|v| v.len() > 1) {
        for &i in indices {
            // Only the first few other lines are looked at, so an ID
            // repeated thousands of times stays linear.
            let others: Vec<usize> = indices
                .iter()
                .filter(|&&j| j != i)
                .take(MAX_LINES_QUOTED)
                .map(|&j| rows[j].line)
                .collect();
            let quoted = quote_lines(&others, indices.len() - 1);
            duplicate_errors.push((i, format!("身份证号在文件中重复（{quoted}）")));
        }
    }
    for (i, msg) in duplicate_errors {
        parsed[i].errors.push(msg);
    }

    // Pass 3: group by 户编号, first-seen order. Rows without a key already
    // carry an error and belong to no household.
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let key = row.cell(col::KEY);
        if key.is_empty() {
            continue;
        }
        match group_of.entry(key) {
            Entry::Occupied(e) => groups[*e.get()].push(i),
            Entry::Vacant(e) => {
                e.insert(groups.len());
                groups.push(vec![i]);
            }
        }
    }

    // Pass 4: household-level checks, then assemble or reject.
    let mut households = Vec::new();
    for group in &groups {
        check_household(group, rows, &mut parsed);
        let bad: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| !parsed[i].errors.is_empty())
            .collect();
        if bad.is_empty() {
            households.push(assemble(group, rows, &mut parsed));
        } else {
            let shown: Vec<usize> = bad
                .iter()
                .take(MAX_LINES_QUOTED)
                .map(|&i| rows[i].line)
                .collect();
            let reason = format!(
                "{SIBLING_REJECTED}（有误的行：{}）",
                quote_lines(&shown, bad.len())
            );
            for &i in group {
                if parsed[i].errors.is_empty() {
                    parsed[i].errors.push(reason.clone());
                }
            }
        }
    }

    let mut rejected: Vec<Rejected> = parsed
        .iter()
        .zip(rows)
        .filter(|(p, _)| !p.errors.is_empty())
        .map(|(p, row)| Rejected {
            line: row.line,
            household_key: row.cell(col::KEY).to_string(),
            name: row.cell(col::NAME).to_string(),
            id_number_masked: match &p.id {
                Some(id) => id.masked(),
                None => mask_raw_id(row.cell(col::ID)),
            },
            reason: p.errors.join("；"),
        })
        .collect();
    rejected.sort_by_key(|r| r.line);
    (households, rejected)
}

/// "第 3、7 行", or with more than shown: "第 3、7、9、12、15 行等共 8 行".
fn quote_lines(shown: &[usize], total: usize) -> String {
    let list = shown
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("、");
    if total > shown.len() {
        format!("第 {list} 行等共 {total} 行")
    } else {
        format!("第 {list} 行")
    }
}

/// For input that is not a valid ID number: first 6 characters, the rest
/// starred.
pub(crate) fn mask_raw_id(raw: &str) -> String {
    raw.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 { c } else { '*' })
        .collect()
}

// ------------------------------------------------------------ row level ---

struct VillageCache<'a> {
    check: &'a dyn Fn(&str) -> Result<(), String>,
    seen: HashMap<String, Result<(), String>>,
}

impl VillageCache<'_> {
    fn check(&mut self, code: &str) -> Result<(), String> {
        if let Some(r) = self.seen.get(code) {
            return r.clone();
        }
        let r = (self.check)(code);
        self.seen.insert(code.to_string(), r.clone());
        r
    }
}

/// Household-level values, read from 户主 rows only.
struct HeadFields {
    village_code: String,
    registration_address: String,
    residence_address: String,
    phone: Option<String>,
    categories: Vec<CategoryRecord>,
}

struct RowParse {
    errors: Vec<String>,
    /// Kept even when other cells are bad, for duplicate detection & masking.
    id: Option<IdNumber>,
    /// Kept even when other cells are bad, for counting heads.
    relation: Option<Relation>,
    member: Option<MemberRecord>,
    income: Option<(IncomeKind, Money)>,
    head: Option<HeadFields>,
}

/// Full-width ASCII forms ("１３８…", "Ｘ", "－") typed with a Chinese
/// input method, as ASCII; other characters unchanged.
pub(crate) fn halfwidth(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' => ' ',
                c => c,
            })
            .collect(),
    )
}

fn err(column: usize, msg: impl std::fmt::Display) -> String {
    format!("{}：{msg}", TEMPLATE_COLUMNS[column])
}

fn parse_row(row: &RawRow, today: NaiveDate, villages: &mut VillageCache<'_>) -> RowParse {
    let mut errors = Vec::new();
    let c = |i: usize| row.cell(i);
    let n = |i: usize| halfwidth(row.cell(i));

    let key = c(col::KEY);
    if key.is_empty() {
        errors.push(err(col::KEY, "不能为空（同一户的成员填写相同的户编号）"));
    } else if key.chars().count() > 50 {
        errors.push(err(col::KEY, "过长，最多 50 个字"));
    }

    let name = c(col::NAME);
    if name.is_empty() {
        errors.push(err(col::NAME, "不能为空"));
    } else if name.chars().count() > 50 {
        errors.push(err(col::NAME, "过长，最多 50 个字"));
    } else if let Err(e) = doudi_domain::person::check_name_characters(name) {
        errors.push(err(col::NAME, e));
    }

    let id_text = n(col::ID);
    let id = match IdNumber::parse_as_of(&id_text, today) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(id_error_message(&e, &id_text));
            None
        }
    };

    let relation = match c(col::RELATION) {
        "" => {
            errors.push(err(
                col::RELATION,
                format!("不能为空，可选值：{}", options::<Relation>()),
            ));
            None
        }
        s => lookup_or_err(col::RELATION, s, RELATION_ALIASES, &mut errors),
    };

    let phone = check_phone(col::PHONE, &n(col::PHONE), &mut errors);
    let disability = parse_disability(c(col::DIS_TYPE), &n(col::DIS_GRADE), &mut errors);
    let illnesses = match c(col::ILLNESS) {
        "无" | "否" => String::new(),
        s => s.to_string(),
    };
    let self_care = parse_self_care(c(col::SELF_CARE), &mut errors);
    let employment = match c(col::EMPLOYMENT) {
        "" | "无" => Some(Employment::Other),
        s => lookup_or_err(col::EMPLOYMENT, s, EMPLOYMENT_ALIASES, &mut errors),
    };
    let schooling = match c(col::SCHOOLING) {
        "" | "无" => Some(Schooling::Graduated),
        s => lookup_or_err(col::SCHOOLING, s, SCHOOLING_ALIASES, &mut errors),
    };
    let income = parse_income(&n(col::INCOME), c(col::INCOME_KIND), &mut errors);

    let head = if relation == Some(Relation::Head) {
        parse_head_fields(row, today, villages, &mut errors)
    } else {
        None
    };

    let member = match (&id, relation, employment, schooling) {
        (Some(id), Some(relation), Some(employment), Some(schooling)) if errors.is_empty() => {
            Some(MemberRecord {
                name: name.to_string(),
                id_number: id.clone(),
                relation,
                phone,
                disability,
                illnesses,
                self_care,
                employment,
                schooling,
                deceased_on: None,
            })
        }
        _ => None,
    };

    RowParse {
        errors,
        id,
        relation,
        member,
        income,
        head,
    }
}

/// What is wrong with an ID number, in Chinese (shared by the household
/// import and the department feeds).
pub(crate) fn id_problem(e: &IdError) -> String {
    match e {
        IdError::Empty => "不能为空".to_string(),
        IdError::BadLength(n) => format!("长度应为 18 位（或 15 位旧号），实为 {n} 位"),
        IdError::BadCharacters => "只能包含数字，18 位号码的最后一位可以是 X".to_string(),
        IdError::UnknownCountyCode(code) => {
            format!("前 6 位地区码 {code} 不在行政区划代码表中")
        }
        IdError::BadBirthDate => "第 7–14 位的出生日期无效".to_string(),
        IdError::FutureBirthDate => "出生日期晚于今天".to_string(),
        IdError::BadCheckChar { expected, found } => {
            format!("校验位错误：应为 {expected}，实为 {found}")
        }
    }
}

fn id_error_message(e: &IdError, raw: &str) -> String {
    let msg = id_problem(e);
    let mut msg = err(col::ID, msg);
    // Excel keeps 15 significant digits of a number: an ID typed into a
    // General cell loses its last three digits (…000) or shows as 1.1E+17.
    let looks_truncated = raw.len() == 18
        && raw.bytes().all(|b| b.is_ascii_digit())
        && raw.ends_with("000")
        && !matches!(e, IdError::Empty);
    let scientific = raw.contains("E+") || raw.contains("e+");
    if looks_truncated || scientific {
        msg.push_str("（疑似 Excel 把身份证号当作数字保存，末几位已丢失；请把该列设置为“文本”格式后重新录入）");
    }
    msg
}

fn check_phone(column: usize, raw: &str, errors: &mut Vec<String>) -> Option<String> {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() || s == "无" {
        return None;
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let hyphens = s.bytes().filter(|&b| b == b'-').count();
    let only_digits_and_hyphen = digits + hyphens == s.len();
    let ok = if s.starts_with('1') && hyphens == 0 {
        digits == 11 && only_digits_and_hyphen
    } else {
        only_digits_and_hyphen
            && hyphens <= 1
            && !s.starts_with('-')
            && !s.ends_with('-')
            && (7..=13).contains(&digits)
    };
    if ok {
        Some(s)
    } else {
        errors.push(err(
            column,
            format!("应为 11 位手机号（以 1 开头）或固定电话（如 0571-88888888），实为“{raw}”"),
        ));
        None
    }
}

fn parse_disability(
    kind: &str,
    grade: &str,
    errors: &mut Vec<String>,
) -> Option<(DisabilityType, u8)> {
    let kind = if kind == "无" { "" } else { kind };
    let grade = if grade == "无" { "" } else { grade };
    match (kind, grade) {
        ("", "") => None,
        (k, "") => {
            errors.push(err(
                col::DIS_GRADE,
                format!("填写了残疾类别“{k}”，但未填写残疾等级（1–4）"),
            ));
            None
        }
        ("", g) => {
            errors.push(err(
                col::DIS_TYPE,
                format!(
                    "填写了残疾等级“{g}”，但未填写残疾类别，可选值：{}",
                    options::<DisabilityType>()
                ),
            ));
            None
        }
        (k, g) => {
            let stripped = k
                .strip_suffix("残疾")
                .filter(|s| !s.is_empty())
                .unwrap_or(k);
            let kind = lookup_or_err(col::DIS_TYPE, stripped, &[], errors);
            let grade = match parse_grade(g) {
                Some(v) => Some(v),
                None => {
                    errors.push(err(col::DIS_GRADE, format!("应为 1–4 的整数，实为“{g}”")));
                    None
                }
            };
            Some((kind?, grade?))
        }
    }
}

/// "1", "1级", "一级", "一" … "4".
pub(crate) fn parse_grade(s: &str) -> Option<u8> {
    let s = s.strip_suffix('级').unwrap_or(s).trim();
    let v = match s {
        "一" => 1,
        "二" => 2,
        "三" => 3,
        "四" => 4,
        _ => s.parse::<u8>().ok()?,
    };
    (1..=4).contains(&v).then_some(v)
}

fn is_list_separator(c: char) -> bool {
    matches!(c, '、' | '，' | ',' | '；' | ';') || c.is_whitespace()
}

fn parse_self_care(s: &str, errors: &mut Vec<String>) -> SelfCare {
    let mut care = SelfCare::default();
    if matches!(s, "" | "无" | "完全自理" | "能自理" | "自理") {
        return care;
    }
    for part in s.split(is_list_separator).filter(|p| !p.is_empty()) {
        if let Some(item) = lookup_or_err(col::SELF_CARE, part, SELF_CARE_ALIASES, errors) {
            care = care.with(item, true);
        }
    }
    care
}

fn parse_income(amount: &str, kind: &str, errors: &mut Vec<String>) -> Option<(IncomeKind, Money)> {
    let money = if amount.is_empty() {
        None
    } else {
        match Money::parse_yuan(amount) {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(err(col::INCOME, e));
                return None;
            }
        }
    };
    let kind = if kind.is_empty() {
        None
    } else {
        lookup_income_kind(kind).or_else(|| {
            errors.push(err(
                col::INCOME_KIND,
                format!("无法识别“{kind}”，可选值：{}", options::<IncomeKind>()),
            ));
            None
        })
    };
    match (money, kind) {
        (Some(m), Some(k)) if m > Money::ZERO => Some((k, m)),
        (Some(m), None) if m > Money::ZERO && errors_lack(errors, col::INCOME_KIND) => {
            errors.push(err(
                col::INCOME_KIND,
                format!(
                    "月收入大于 0 时必须填写，可选值：{}",
                    options::<IncomeKind>()
                ),
            ));
            None
        }
        (None, Some(k)) => {
            errors.push(err(
                col::INCOME,
                format!("填写了收入类型“{}”，但未填写金额", k.label()),
            ));
            None
        }
        _ => None,
    }
}

/// Whether no message about `column` was recorded yet (avoids saying the
/// same thing twice about one cell).
fn errors_lack(errors: &[String], column: usize) -> bool {
    let prefix = format!("{}：", TEMPLATE_COLUMNS[column]);
    !errors.iter().any(|e| e.starts_with(&prefix))
}

fn parse_head_fields(
    row: &RawRow,
    today: NaiveDate,
    villages: &mut VillageCache<'_>,
    errors: &mut Vec<String>,
) -> Option<HeadFields> {
    let before = errors.len();
    let c = |i: usize| row.cell(i);

    let village = halfwidth(c(col::VILLAGE));
    let village = village.as_ref();
    if village.is_empty() {
        errors.push(err(col::VILLAGE, "户主行必须填写 12 位村（社区）代码"));
    } else if village.len() != 12 || !village.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(err(
            col::VILLAGE,
            format!("应为 12 位数字，实为“{village}”"),
        ));
    } else if let Err(msg) = villages.check(village) {
        errors.push(err(col::VILLAGE, msg));
    }

    let registration = c(col::REG_ADDR);
    if registration.is_empty() {
        errors.push(err(col::REG_ADDR, "户主行必须填写户籍地址"));
    }
    let residence = match c(col::RES_ADDR) {
        "" => registration,
        s => s,
    };
    let phone = check_phone(col::HH_PHONE, &halfwidth(c(col::HH_PHONE)), errors);

    let mut categories = Vec::new();
    let cat_text = c(col::CATEGORIES);
    let start_text = halfwidth(c(col::CAT_START));
    let start_text = start_text.as_ref();
    let cat_text = if cat_text == "无" { "" } else { cat_text };
    if !cat_text.is_empty() {
        let mut cats: Vec<Category> = Vec::new();
        for part in cat_text.split(is_list_separator).filter(|p| !p.is_empty()) {
            if let Some(cat) = lookup_or_err(col::CATEGORIES, part, CATEGORY_ALIASES, errors)
                && !cats.contains(&cat)
            {
                cats.push(cat);
            }
        }
        let start = if start_text.is_empty() {
            errors.push(err(
                col::CAT_START,
                "填写了救助类别时必须填写开始日期（YYYY-MM-DD）",
            ));
            None
        } else {
            match parse_date(start_text) {
                Some(d) if d > today => {
                    errors.push(err(
                        col::CAT_START,
                        format!("不能晚于今天（{today}），实为 {d}"),
                    ));
                    None
                }
                Some(d) => Some(d),
                None => {
                    errors.push(err(
                        col::CAT_START,
                        format!("应为 YYYY-MM-DD 格式的日期，实为“{start_text}”"),
                    ));
                    None
                }
            }
        };
        if let Some(start) = start {
            categories = cats
                .into_iter()
                .map(|category| CategoryRecord {
                    category,
                    start,
                    end: None,
                })
                .collect();
        }
    } else if !start_text.is_empty() {
        errors.push(err(
            col::CATEGORIES,
            format!("填写了类别开始日期“{start_text}”，但未填写救助类别"),
        ));
    }

    (errors.len() == before).then(|| HeadFields {
        village_code: village.to_string(),
        registration_address: registration.to_string(),
        residence_address: residence.to_string(),
        phone,
        categories,
    })
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` (one-digit month/day allowed),
/// `YYYY年M月D日`, `YYYYMMDD`, an Excel date serial number, optionally
/// followed by a time.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.split_whitespace().next()?;
    let s = s.strip_suffix('日').unwrap_or(s);
    let digits_only = s.bytes().all(|b| b.is_ascii_digit());
    if digits_only && s.len() == 8 {
        return NaiveDate::parse_from_str(s, "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1900);
    }
    if digits_only && s.len() == 5 {
        // Excel serial (1900 date system): day 1 is 1900-01-01, and Excel's
        // phantom 1900-02-29 makes 1899-12-30 the effective epoch.
        let n: u64 = s.parse().ok()?;
        return NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(Days::new(n));
    }
    let parts: Vec<&str> = s.split(['-', '/', '.', '年', '月']).collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || !(1..=2).contains(&parts[1].len())
        || !(1..=2).contains(&parts[2].len())
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let y: i32 = parts[0].parse().ok()?;
    if y < 1900 {
        return None;
    }
    NaiveDate::from_ymd_opt(y, parts[1].parse().ok()?, parts[2].parse().ok()?)
}

// ------------------------------------------------------- coded lookups ---

fn options<T: Coded>() -> String {
    T::all()
        .iter()
        .map(|v| v.label())
        .collect::<Vec<_>>()
        .join("、")
}

/// Label, code or slash alternative (via `from_label`), then a fixed alias,
/// then an unambiguous label prefix of at least two characters ("灵活" →
/// 灵活就业).
fn lookup<T: Coded + PartialEq>(s: &str, aliases: &[(&str, T)]) -> Option<T> {
    if let Some(v) = T::from_label(s) {
        return Some(v);
    }
    if let Some((_, v)) = aliases.iter().find(|(a, _)| *a == s) {
        return Some(*v);
    }
    if s.chars().count() >= 2 {
        let mut hits = T::all()
            .iter()
            .filter(|v| v.label().split('/').any(|part| part.starts_with(s)));
        if let (Some(v), None) = (hits.next(), hits.next()) {
            return Some(*v);
        }
    }
    None
}

fn lookup_or_err<T: Coded + PartialEq>(
    column: usize,
    s: &str,
    aliases: &[(&str, T)],
    errors: &mut Vec<String>,
) -> Option<T> {
    let v = lookup(s, aliases);
    if v.is_none() {
        errors.push(err(
            column,
            format!("无法识别“{s}”，可选值：{}", options::<T>()),
        ));
    }
    v
}

/// Income kinds are often written without 性/净 ("工资收入", "经营收入").
fn lookup_income_kind(s: &str) -> Option<IncomeKind> {
    lookup(s, INCOME_ALIASES).or_else(|| {
        let squash = |t: &str| t.replace(['性', '净'], "");
        let wanted = squash(s);
        IncomeKind::all()
            .iter()
            .copied()
            .find(|k| squash(k.label()) == wanted)
    })
}

const RELATION_ALIASES: &[(&str, Relation)] = &[
    ("本人", Relation::Head),
    ("户主本人", Relation::Head),
    ("妻", Relation::Spouse),
    ("妻子", Relation::Spouse),
    ("夫", Relation::Spouse),
    ("丈夫", Relation::Spouse),
    ("子", Relation::Child),
    ("女", Relation::Child),
    ("儿子", Relation::Child),
    ("女儿", Relation::Child),
    ("长子", Relation::Child),
    ("次子", Relation::Child),
    ("三子", Relation::Child),
    ("长女", Relation::Child),
    ("次女", Relation::Child),
    ("三女", Relation::Child),
    ("独生子", Relation::Child),
    ("独生女", Relation::Child),
    ("养子", Relation::Child),
    ("养女", Relation::Child),
    ("继子", Relation::Child),
    ("继女", Relation::Child),
    ("父亲", Relation::Parent),
    ("母亲", Relation::Parent),
    ("父", Relation::Parent),
    ("母", Relation::Parent),
    ("孙女", Relation::Grandchild),
    ("外孙", Relation::Grandchild),
    ("外孙子", Relation::Grandchild),
    ("外孙女", Relation::Grandchild),
    ("祖父", Relation::Grandparent),
    ("祖母", Relation::Grandparent),
    ("外祖父", Relation::Grandparent),
    ("外祖母", Relation::Grandparent),
    ("爷爷", Relation::Grandparent),
    ("奶奶", Relation::Grandparent),
    ("外公", Relation::Grandparent),
    ("外婆", Relation::Grandparent),
    ("兄", Relation::Sibling),
    ("弟", Relation::Sibling),
    ("姐", Relation::Sibling),
    ("妹", Relation::Sibling),
    ("哥哥", Relation::Sibling),
    ("弟弟", Relation::Sibling),
    ("姐姐", Relation::Sibling),
    ("妹妹", Relation::Sibling),
    ("儿媳妇", Relation::ChildInLaw),
];

const EMPLOYMENT_ALIASES: &[(&str, Employment)] = &[
    ("学生", Employment::Student),
    ("在校", Employment::Student),
    ("就业", Employment::Employed),
    ("务工", Employment::Employed),
    ("打工", Employment::Employed),
    ("外出务工", Employment::Employed),
    ("农民", Employment::Farming),
    ("无业", Employment::Unemployed),
    ("待业", Employment::Unemployed),
    ("丧失劳动能力", Employment::NoCapacity),
    ("退休人员", Employment::Retired),
];

const SCHOOLING_ALIASES: &[(&str, Schooling)] = &[
    ("幼儿园", Schooling::PreSchool),
    ("学龄前", Schooling::PreSchool),
    ("中专", Schooling::Senior),
    ("职高", Schooling::Senior),
    ("技校", Schooling::Senior),
    ("大专", Schooling::College),
    ("本科", Schooling::College),
    ("大学", Schooling::College),
    ("研究生", Schooling::College),
    ("毕业", Schooling::Graduated),
    ("不在校", Schooling::Graduated),
    ("辍学", Schooling::Graduated),
];

const SELF_CARE_ALIASES: &[(&str, SelfCareItem)] = &[
    ("吃饭", SelfCareItem::Eating),
    ("穿衣服", SelfCareItem::Dressing),
    ("床椅转移", SelfCareItem::Transfer),
    ("上厕所", SelfCareItem::Toileting),
    ("大小便", SelfCareItem::Toileting),
    ("行走", SelfCareItem::IndoorWalking),
    ("走路", SelfCareItem::IndoorWalking),
    ("室内走动", SelfCareItem::IndoorWalking),
    ("沐浴", SelfCareItem::Bathing),
];

const INCOME_ALIASES: &[(&str, IncomeKind)] = &[
    ("务工收入", IncomeKind::Wage),
    ("养老金", IncomeKind::Transfer),
    ("退休金", IncomeKind::Transfer),
];

const CATEGORY_ALIASES: &[(&str, Category)] = &[
    ("最低生活保障", Category::Dibao),
    ("低保户", Category::Dibao),
    ("特困人员", Category::Tekun),
    ("特困供养", Category::Tekun),
    ("低边", Category::Dibian),
    ("低保边缘家庭", Category::Dibian),
    ("监测户", Category::PovertyMonitor),
    ("防返贫监测", Category::PovertyMonitor),
];

// ------------------------------------------------------ household level ---

fn check_household(group: &[usize], rows: &[RawRow], parsed: &mut [RowParse]) {
    let heads: Vec<usize> = group
        .iter()
        .copied()
        .filter(|&i| parsed[i].relation == Some(Relation::Head))
        .collect();
    match heads.len() {
        0 => {
            let msg = format!(
                "与户主关系：本户（户编号 {}）没有户主，须有且只有一行填写“户主”",
                rows[group[0]].cell(col::KEY)
            );
            for &i in group {
                parsed[i].errors.push(msg.clone());
            }
        }
        1 => {
            // A member row naming another village suggests two households
            // share one 户编号 by mistake.
            if let Some(head_village) = parsed[heads[0]]
                .head
                .as_ref()
                .map(|h| h.village_code.clone())
            {
                for &i in group {
                    let v = halfwidth(rows[i].cell(col::VILLAGE));
                    if i != heads[0] && !v.is_empty() && v != head_village.as_str() {
                        parsed[i].errors.push(err(
                            col::VILLAGE,
                            format!("与本户户主行（{head_village}）不一致；同一户编号的成员应属同一户，成员行可留空"),
                        ));
                    }
                }
            }
        }
        n => {
            let shown: Vec<usize> = heads
                .iter()
                .take(MAX_LINES_QUOTED)
                .map(|&i| rows[i].line)
                .collect();
            let msg = format!(
                "与户主关系：本户有 {n} 个户主（{}），每户只能有一个户主",
                quote_lines(&shown, n)
            );
            for &i in &heads {
                parsed[i].errors.push(msg.clone());
            }
        }
    }
}

/// Builds the record of a household whose rows are all valid.
fn assemble(group: &[usize], rows: &[RawRow], parsed: &mut [RowParse]) -> ParsedHousehold {
    let head_index = group
        .iter()
        .copied()
        .find(|&i| parsed[i].relation == Some(Relation::Head))
        .expect("a valid household has exactly one head");
    let head = parsed[head_index]
        .head
        .take()
        .expect("head row fields were parsed");
    let order =
        std::iter::once(head_index).chain(group.iter().copied().filter(|&i| i != head_index));

    let mut members = Vec::with_capacity(group.len());
    let mut incomes = Vec::new();
    for i in order {
        let p = &mut parsed[i];
        if let Some((kind, monthly)) = p.income.take() {
            incomes.push(IncomeRecord {
                member_index: Some(members.len()),
                kind,
                description: String::new(),
                monthly,
            });
        }
        members.push(p.member.take().expect("a valid row has a member"));
    }

    ParsedHousehold {
        key: rows[head_index].cell(col::KEY).to_string(),
        lines: group.iter().map(|&i| rows[i].line).collect(),
        member_lines: std::iter::once(head_index)
            .chain(group.iter().copied().filter(|&i| i != head_index))
            .map(|i| rows[i].line)
            .collect(),
        record: HouseholdRecord {
            village_code: head.village_code,
            registration_address: head.registration_address,
            residence_address: head.residence_address,
            residence_village_code: None,
            phone: head.phone,
            note: String::new(),
            members,
            incomes,
            assets: Vec::new(),
            categories: head.categories,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_date("2024-01-05"), d(2024, 1, 5));
        assert_eq!(parse_date("2024/1/5"), d(2024, 1, 5));
        assert_eq!(parse_date("2024.01.05"), d(2024, 1, 5));
        assert_eq!(parse_date("2024年1月5日"), d(2024, 1, 5));
        assert_eq!(parse_date("20240105"), d(2024, 1, 5));
        assert_eq!(parse_date("45296"), d(2024, 1, 5));
        assert_eq!(parse_date("2024-01-05 00:00:00"), d(2024, 1, 5));
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("24-01-05"), None);
        assert_eq!(parse_date("abc"), None);
        assert_eq!(parse_date("2024-01"), None);
    }

    #[test]
    fn lookups() {
        assert_eq!(lookup("本人", RELATION_ALIASES), Some(Relation::Head));
        assert_eq!(lookup("女婿", RELATION_ALIASES), Some(Relation::ChildInLaw));
        assert_eq!(lookup("孙子", RELATION_ALIASES), Some(Relation::Grandchild));
        assert_eq!(lookup("表哥", RELATION_ALIASES), None);
        assert_eq!(
            lookup("灵活", EMPLOYMENT_ALIASES),
            Some(Employment::Flexible)
        );
        assert_eq!(lookup("中职", SCHOOLING_ALIASES), Some(Schooling::Senior));
        assert_eq!(lookup_income_kind("工资收入"), Some(IncomeKind::Wage));
        assert_eq!(lookup_income_kind("转移"), Some(IncomeKind::Transfer));
        assert_eq!(lookup_income_kind("彩票"), None);
        assert_eq!(
            lookup::<Category>("低保", CATEGORY_ALIASES),
            Some(Category::Dibao)
        );
        assert_eq!(
            lookup::<Category>("低保边缘", CATEGORY_ALIASES),
            Some(Category::Dibian)
        );
        assert_eq!(lookup::<DisabilityType>("肢", &[]), None);
    }

    #[test]
    fn phones_and_grades() {
        let mut e = Vec::new();
        assert_eq!(
            check_phone(col::PHONE, "138 1234 5678", &mut e).as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            check_phone(col::PHONE, "0571-88888888", &mut e).as_deref(),
            Some("0571-88888888")
        );
        assert_eq!(
            check_phone(col::PHONE, "88888888", &mut e).as_deref(),
            Some("88888888")
        );
        assert_eq!(check_phone(col::PHONE, "", &mut e), None);
        assert!(e.is_empty());
        for bad in [
            "1381234567",
            "138123456789",
            "0571--8888",
            "12-34",
            "abc",
            "0571-8888-8888",
        ] {
            let mut e = Vec::new();
            assert_eq!(check_phone(col::PHONE, bad, &mut e), None, "{bad}");
            assert_eq!(e.len(), 1, "{bad}");
            assert!(e[0].starts_with("本人电话："), "{}", e[0]);
        }
        assert_eq!(parse_grade("2"), Some(2));
        assert_eq!(parse_grade("二级"), Some(2));
        assert_eq!(parse_grade("4级"), Some(4));
        assert_eq!(parse_grade("5"), None);
        assert_eq!(parse_grade("0"), None);
        assert_eq!(parse_grade("1.5"), None);
    }

    #[test]
    fn line_quoting_is_bounded() {
        assert_eq!(quote_lines(&[3, 7], 2), "第 3、7 行");
        assert_eq!(
            quote_lines(&[1, 2, 3, 4, 5], 8),
            "第 1、2、3、4、5 行等共 8 行"
        );
        assert_eq!(mask_raw_id("110105abc"), "110105***");
        assert_eq!(mask_raw_id("123"), "123");
    }
}
