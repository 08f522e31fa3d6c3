//! Crate-level tests: files in, households and reasons out.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::NaiveDate;
use doudi_domain::IdNumber;
use doudi_domain::household::{Category, IncomeKind};
use doudi_domain::person::{DisabilityType, Employment, Relation, Schooling, SelfCareItem};
use rust_xlsxwriter::Workbook;

use crate::validate::SIBLING_REJECTED;
use crate::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn today() -> NaiveDate {
    date(2025, 6, 30)
}

fn any_village(_: &str) -> Result<(), String> {
    Ok(())
}

/// A valid ID number, distinct for distinct `n` (< 365 * 1000).
fn id(n: u32) -> String {
    let birth = date(1950, 1, 1) + chrono::Days::new(u64::from(n / 1000) * 37 % 20000);
    IdNumber::from_parts("330106", birth, (n % 1000) as u16)
        .unwrap()
        .as_str()
        .to_string()
}

/// One CSV line from (column, value) pairs; other columns blank.
fn line(values: &[(usize, &str)]) -> String {
    let mut cells = vec![String::new(); col::COUNT];
    for (c, v) in values {
        cells[*c] = v.to_string();
    }
    cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn head(key: &str, name: &str, id: &str) -> Vec<(usize, String)> {
    vec![
        (col::KEY, key.into()),
        (col::VILLAGE, "330106001001".into()),
        (col::REG_ADDR, "西湖区某村1号".into()),
        (col::RELATION, "户主".into()),
        (col::NAME, name.into()),
        (col::ID, id.into()),
    ]
}

fn member(key: &str, relation: &str, name: &str, id: &str) -> Vec<(usize, String)> {
    vec![
        (col::KEY, key.into()),
        (col::RELATION, relation.into()),
        (col::NAME, name.into()),
        (col::ID, id.into()),
    ]
}

fn with(mut row: Vec<(usize, String)>, c: usize, v: &str) -> Vec<(usize, String)> {
    row.retain(|(k, _)| *k != c);
    row.push((c, v.into()));
    row
}

fn csv_of(rows: &[Vec<(usize, String)>]) -> String {
    let mut out = TEMPLATE_COLUMNS.join(",");
    out.push('\n');
    for r in rows {
        let pairs: Vec<(usize, &str)> = r.iter().map(|(c, v)| (*c, v.as_str())).collect();
        out.push_str(&line(&pairs));
        out.push('\n');
    }
    out
}

/// Every input line is in exactly one household or exactly one rejection.
fn assert_partition(rows: &[RawRow], households: &[ParsedHousehold], rejected: &[Rejected]) {
    let mut seen = BTreeSet::new();
    for l in households
        .iter()
        .flat_map(|h| h.lines.iter())
        .chain(rejected.iter().map(|r| &r.line))
    {
        assert!(seen.insert(*l), "line {l} appears twice");
    }
    let input: BTreeSet<usize> = rows.iter().map(|r| r.line).collect();
    assert_eq!(seen, input);
}

// -------------------------------------------------------------- template ---

fn check_template_household(households: &[ParsedHousehold]) {
    assert_eq!(households.len(), 1);
    let h = &households[0];
    assert_eq!(h.key, "示例001");
    assert_eq!(h.lines, vec![2, 3]);
    let r = &h.record;
    assert_eq!(r.village_code, "330106001001");
    assert_eq!(r.registration_address, r.residence_address);
    assert_eq!(r.phone.as_deref(), Some("0571-88888888"));
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.members[0].relation, Relation::Head);
    assert_eq!(r.members[0].name, "张三");
    assert_eq!(r.members[0].disability, Some((DisabilityType::Physical, 3)));
    assert!(r.members[0].self_care.unable(SelfCareItem::Bathing));
    assert_eq!(r.members[0].employment, Employment::Farming);
    assert_eq!(r.members[1].relation, Relation::Spouse);
    assert_eq!(r.members[1].schooling, Schooling::Graduated);
    assert_eq!(r.members[1].disability, None);
    assert_eq!(r.incomes.len(), 2);
    assert_eq!(r.incomes[0].member_index, Some(0));
    assert_eq!(r.incomes[0].kind, IncomeKind::Business);
    assert_eq!(r.incomes[0].monthly.fen(), 120_000);
    assert_eq!(r.incomes[1].member_index, Some(1));
    assert_eq!(r.incomes[1].monthly.fen(), 80_050);
    assert_eq!(r.categories.len(), 1);
    assert_eq!(r.categories[0].category, Category::Dibao);
    assert_eq!(r.categories[0].start, date(2024, 1, 1));
    assert_eq!(r.categories[0].end, None);
}

#[test]
fn template_xlsx_round_trip() {
    let bytes = template_xlsx();
    let rows = read_table("模板.xlsx", &bytes, 1000).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert!(rows.iter().all(|r| r.cells.len() == TEMPLATE_COLUMNS.len()));
    let (households, rejected) = validate_rows(&rows, today(), &any_village);
    assert!(rejected.is_empty(), "{rejected:?}");
    check_template_household(&households);
}

#[test]
fn template_csv_round_trip() {
    let bytes = template_csv();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let rows = read_table("template.CSV", &bytes, 1000).unwrap();
    assert_eq!(rows.len(), 2);
    let (households, rejected) = validate_rows(&rows, today(), &any_village);
    assert!(rejected.is_empty(), "{rejected:?}");
    check_template_household(&households);
}

#[test]
fn template_has_instructions_sheet() {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let mut book = open_workbook_auto_from_rs(std::io::Cursor::new(template_xlsx())).unwrap();
    assert_eq!(book.sheet_names(), vec!["家庭成员", "填写说明"]);
    let help = book.worksheet_range("填写说明").unwrap();
    let text: Vec<String> = help.cells().map(|(_, _, d)| d.to_string()).collect();
    let all = text.join("\n");
    for column in TEMPLATE_COLUMNS {
        assert!(text.iter().any(|t| t == column), "{column} not explained");
    }
    for must in [
        "户主、配偶",
        "YYYY-MM-DD",
        "两位小数",
        "户编号相同的行组成一户",
        "工资性收入",
        "低保边缘",
        "进食",
    ] {
        assert!(all.contains(must), "{must} missing from 填写说明");
    }
}

// --------------------------------------------------------------- reading ---

#[test]
fn reading_errors() {
    assert!(matches!(
        read_table("a.pdf", b"x", 10),
        Err(SheetError::UnsupportedExtension(e)) if e == "pdf"
    ));
    assert!(matches!(
        read_table("noext", b"x", 10),
        Err(SheetError::UnsupportedExtension(_))
    ));
    assert!(matches!(
        read_table("a.xlsx", b"not a zip", 10),
        Err(SheetError::Unreadable(_))
    ));
    assert!(matches!(
        read_table("a.csv", b"", 10),
        Err(SheetError::Empty)
    ));
    assert!(matches!(
        read_table("a.csv", b"\xEF\xBB\xBF\n\n", 10),
        Err(SheetError::Empty)
    ));
    let header_only = TEMPLATE_COLUMNS.join(",");
    assert!(matches!(
        read_table("a.csv", header_only.as_bytes(), 10),
        Err(SheetError::Empty)
    ));

    let rows: Vec<_> = (0..5)
        .map(|i| head(&format!("K{i}"), "王五", &id(i)))
        .collect();
    let csv = csv_of(&rows);
    assert_eq!(read_table("a.csv", csv.as_bytes(), 5).unwrap().len(), 5);
    let e = read_table("a.csv", csv.as_bytes(), 4).unwrap_err();
    assert!(matches!(e, SheetError::TooManyRows { limit: 4 }));
    assert!(e.to_string().contains("4"), "{e}");
}

#[test]
fn missing_columns_are_listed() {
    let header: Vec<&str> = TEMPLATE_COLUMNS
        .iter()
        .copied()
        .filter(|c| *c != "身份证号" && *c != "残疾等级")
        .collect();
    let csv = format!("{}\nA,B\n", header.join(","));
    let e = read_table("x.csv", csv.as_bytes(), 10).unwrap_err();
    match &e {
        SheetError::MissingColumns(m) => {
            assert_eq!(m, &vec!["身份证号".to_string(), "残疾等级".to_string()])
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("身份证号") && msg.contains("残疾等级"),
        "{msg}"
    );
}

#[test]
fn header_matched_by_name_with_title_row_extra_columns_and_blank_rows() {
    // Reversed column order, an extra 序号 column, full-width parentheses,
    // spaces, a title line above the header, and blank rows.
    let mut header: Vec<String> = TEMPLATE_COLUMNS
        .iter()
        .rev()
        .map(|c| format!(" {c} "))
        .collect();
    header[0] = " 类别开始日期".into();
    let income_pos = header.iter().position(|h| h.contains("月收入")).unwrap();
    header[income_pos] = "月收入（元）".into();
    header.insert(0, "序号".into());
    let mut values = vec![String::new(); col::COUNT];
    for (c, v) in head("H1", "赵六", &id(1)) {
        values[c] = v;
    }
    let mut data: Vec<String> = values.into_iter().rev().collect();
    data.insert(0, "1".into());
    let blank_with_serial = {
        let mut v = vec![String::new(); col::COUNT + 1];
        v[0] = "2".into();
        v.join(",")
    };
    let csv = format!(
        "某某村低保家庭花名册\n{}\n{}\n{}\n\n,,,\n",
        header.join(","),
        data.join(","),
        blank_with_serial
    );
    let rows = read_table("x.csv", csv.as_bytes(), 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 3);
    assert_eq!(rows[0].cells[col::NAME], "赵六");
    assert_eq!(rows[0].cells[col::KEY], "H1");
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert_eq!((h.len(), r.len()), (1, 0), "{r:?}");
}

#[test]
fn gbk_csv_is_accepted() {
    let csv = csv_of(&[head("G1", "钱七", &id(7))]);
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&csv);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err());
    let rows = read_table("gbk.csv", &gbk, 10).unwrap();
    assert_eq!(rows[0].cells[col::NAME], "钱七");
    assert_eq!(rows[0].cells[col::REG_ADDR], "西湖区某村1号");
}

/// An 18-digit ID whose value is exactly representable as f64 (so a
/// program can store it as a number without loss).
fn float_exact_id() -> String {
    for day in 0..400u64 {
        for seq in 0..1000u16 {
            let birth = date(1960, 1, 1) + chrono::Days::new(day);
            let id = IdNumber::from_parts("110105", birth, seq).unwrap();
            let s = id.as_str();
            if s.ends_with('X') {
                continue;
            }
            let v: u64 = s.parse().unwrap();
            if (v as f64) as u64 == v {
                return s.to_string();
            }
        }
    }
    panic!("no exactly representable ID found");
}

#[test]
fn numbers_in_xlsx_come_back_as_digits() {
    let exact = float_exact_id();
    let old15 = {
        // A 15-digit number from an 18-digit one: drop "19" and the check.
        let full = id(42);
        format!("{}{}", &full[..6], &full[8..17])
    };
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in TEMPLATE_COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // Row 2: head, ID / phone / village code / grade / income as numbers,
    // start date as a real date cell.
    ws.write_string(1, col::KEY as u16, "N1").unwrap();
    ws.write_number(1, col::VILLAGE as u16, 330106001001.0)
        .unwrap();
    ws.write_string(1, col::REG_ADDR as u16, "某地").unwrap();
    ws.write_string(1, col::RELATION as u16, "户主").unwrap();
    ws.write_string(1, col::NAME as u16, "孙八").unwrap();
    ws.write_number(1, col::ID as u16, exact.parse::<f64>().unwrap())
        .unwrap();
    ws.write_number(1, col::PHONE as u16, 13812345678.0)
        .unwrap();
    ws.write_string(1, col::DIS_TYPE as u16, "视力残疾")
        .unwrap();
    ws.write_number(1, col::DIS_GRADE as u16, 2.0).unwrap();
    ws.write_number(1, col::INCOME as u16, 1234.5).unwrap();
    ws.write_string(1, col::INCOME_KIND as u16, "工资收入")
        .unwrap();
    ws.write_string(1, col::CATEGORIES as u16, "低保、特困")
        .unwrap();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
    let excel_date = rust_xlsxwriter::ExcelDateTime::from_ymd(2023, 5, 6).unwrap();
    ws.write_datetime_with_format(1, col::CAT_START as u16, &excel_date, &date_format)
        .unwrap();
    // Row 3: spouse with a 15-digit ID typed as a number.
    ws.write_string(2, col::KEY as u16, "N1").unwrap();
    ws.write_string(2, col::RELATION as u16, "妻子").unwrap();
    ws.write_string(2, col::NAME as u16, "周九").unwrap();
    ws.write_number(2, col::ID as u16, old15.parse::<f64>().unwrap())
        .unwrap();
    let bytes = wb.save_to_buffer().unwrap();

    let rows = read_table("numbers.xlsx", &bytes, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].cells[col::ID], exact);
    assert_eq!(rows[0].cells[col::PHONE], "13812345678");
    assert_eq!(rows[0].cells[col::VILLAGE], "330106001001");
    assert_eq!(rows[0].cells[col::DIS_GRADE], "2");
    assert_eq!(rows[0].cells[col::INCOME], "1234.5");
    assert_eq!(rows[0].cells[col::CAT_START], "2023-05-06");
    assert_eq!(rows[1].cells[col::ID], old15);

    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert!(r.is_empty(), "{r:?}");
    let rec = &h[0].record;
    assert_eq!(rec.members[0].id_number.as_str(), exact);
    assert_eq!(rec.members[0].disability, Some((DisabilityType::Visual, 2)));
    assert_eq!(rec.members[1].relation, Relation::Spouse);
    // 15-digit number converted to 18 digits, original kept.
    assert_eq!(rec.members[1].id_number.as_str(), id(42));
    assert_eq!(rec.members[1].id_number.original(), Some(old15.as_str()));
    assert_eq!(rec.incomes[0].monthly.fen(), 123_450);
    assert_eq!(rec.incomes[0].kind, IncomeKind::Wage);
    let cats: Vec<_> = rec
        .categories
        .iter()
        .map(|c| (c.category, c.start))
        .collect();
    assert_eq!(
        cats,
        vec![
            (Category::Dibao, date(2023, 5, 6)),
            (Category::Tekun, date(2023, 5, 6))
        ]
    );
}

#[test]
fn id_mangled_by_excel_gets_a_hint() {
    let full = id(3);
    let mangled = format!("{}000", &full[..15]);
    let rows = vec![RawRow {
        line: 2,
        cells: {
            let mut c = vec![String::new(); col::COUNT];
            for (i, v) in head("M", "吴十", &mangled) {
                c[i] = v;
            }
            c
        },
    }];
    let (_, r) = validate_rows(&rows, today(), &any_village);
    assert_eq!(r.len(), 1);
    assert!(r[0].reason.contains("身份证号："), "{}", r[0].reason);
    assert!(r[0].reason.contains("文本"), "{}", r[0].reason);
    assert_eq!(
        r[0].id_number_masked,
        format!("{}************", &mangled[..6])
    );
}

// ------------------------------------------------------------ validation ---

#[test]
fn bad_rows_of_every_kind() {
    let bad_check = {
        let good = id(100);
        let last = good.chars().last().unwrap();
        let wrong = if last == '1' { '2' } else { '1' };
        (format!("{}{wrong}", &good[..17]), last, wrong)
    };
    let future_id = IdNumber::from_parts("330106", date(2025, 12, 1), 5)
        .unwrap()
        .as_str()
        .to_string();
    let dup = id(300);
    let old15 = {
        let full = id(401);
        format!("{}{}", &full[..6], &full[8..17])
    };

    let rows: Vec<Vec<(usize, String)>> = vec![
        /* 2 */ head("A", "甲一", &id(1)),
        /* 3 */ member("A", "表哥", "甲二", &id(2)),
        /* 4 */ member("A", "子女", "甲三", &id(3)),
        /* 5 */ head("B", "乙一", &bad_check.0),
        /* 6 */ with(head("C", "丙一", &id(4)), col::DIS_TYPE, "肢体"),
        /* 7 */
        with(
            with(member("C", "配偶", "丙二", &id(5)), col::DIS_TYPE, "智力"),
            col::DIS_GRADE,
            "5",
        ),
        /* 8 */ with(head("D", "丁一", &id(6)), col::VILLAGE, ""),
        /* 9 */ with(head("E", "戊一", &id(7)), col::VILLAGE, "330106999999"),
        /* 10 */ with(head("F", "己一", &id(8)), col::INCOME, "1500"),
        /* 11 */
        with(
            member("F", "子女", "己二", &id(9)),
            col::PHONE,
            "1381234567",
        ),
        /* 12 */ with(head("G", "庚一", &id(10)), col::CATEGORIES, "低保"),
        /* 13 */ member("G", "子女", "庚二", &future_id),
        /* 14 */ with(head("H", "辛一", &id(11)), col::SELF_CARE, "进食、跳舞"),
        /* 15 */
        with(
            with(member("H", "配偶", "辛二", &id(12)), col::INCOME, "12.345"),
            col::INCOME_KIND,
            "工资性收入",
        ),
        /* 16 */
        with(
            with(head("I", "壬一", &id(13)), col::CATEGORIES, "低保"),
            col::CAT_START,
            "2024-13-01",
        ),
        /* 17 */
        with(
            with(head("J", "癸一", &id(14)), col::CATEGORIES, "特困"),
            col::CAT_START,
            "2025-07-01",
        ),
        /* 18 */ member("K", "配偶", "子一", &id(15)),
        /* 19 */ member("K", "子女", "子二", &id(16)),
        /* 20 */ head("L", "丑一", &id(17)),
        /* 21 */ head("L", "丑二", &id(18)),
        /* 22 */ head("M", "寅一", &dup),
        /* 23 */ head("N", "卯一", &dup),
        /* 24 */ with(head("", "辰一", &id(19)), col::KEY, ""),
        /* 25 */ head("P", "", &id(20)),
        /* 26 */
        with(
            with(head("O", "巳一", &id(21)), col::EMPLOYMENT, "灵活就业"),
            col::CATEGORIES,
            "低保，防止返贫监测",
        ),
        /* 27 */ member("O", "子女", "巳二", &old15),
        /* 28 */ with(head("Q", "午一", &id(22)), col::PHONE, "0571-8888-8888"),
        /* 29 */ with(head("R", "未一", &id(23)), col::EMPLOYMENT, "上班族"),
    ];
    let mut rows = rows;
    // Row 26's categories need a start date.
    let last_good = rows
        .iter_mut()
        .find(|r| r.iter().any(|(c, v)| *c == col::KEY && v == "O"))
        .unwrap();
    last_good.push((col::CAT_START, "2024/03/01".into()));
    let mut csv = csv_of(&rows);
    // A blank line and a line of empty cells, then one more good household
    // at spreadsheet line 32.
    csv.push('\n');
    csv.push_str(",,,,\n");
    let tail = head("S", "申一", &id(24));
    let pairs: Vec<(usize, &str)> = tail.iter().map(|(c, v)| (*c, v.as_str())).collect();
    csv.push_str(&line(&pairs));
    csv.push('\n');

    let raw = read_table("bad.csv", csv.as_bytes(), 1000).unwrap();
    assert_eq!(raw.last().unwrap().line, 32);
    let village_ok = |code: &str| {
        if code == "330106999999" {
            Err("不在您的管辖范围内".to_string())
        } else {
            Ok(())
        }
    };
    let (households, rejected) = validate_rows(&raw, today(), &village_ok);
    assert_partition(&raw, &households, &rejected);

    let keys: Vec<&str> = households.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, vec!["O", "S"]);
    let o = &households[0];
    assert_eq!(o.lines, vec![26, 27]);
    assert_eq!(o.record.members[1].id_number.as_str(), id(401));
    assert_eq!(
        o.record.members[1].id_number.original(),
        Some(old15.as_str())
    );
    assert_eq!(o.record.members[0].employment, Employment::Flexible);
    let cats: Vec<_> = o.record.categories.iter().map(|c| c.category).collect();
    assert_eq!(cats, vec![Category::Dibao, Category::PovertyMonitor]);
    assert_eq!(o.record.categories[0].start, date(2024, 3, 1));

    let reason = |l: usize| -> &str {
        &rejected
            .iter()
            .find(|r| r.line == l)
            .unwrap_or_else(|| panic!("line {l} not rejected"))
            .reason
    };
    let expect = |l: usize, part: &str| {
        assert!(
            reason(l).contains(part),
            "line {l}: expected “{part}” in “{}”",
            reason(l)
        );
    };
    expect(3, "与户主关系：无法识别“表哥”，可选值：户主、配偶、子女");
    expect(2, SIBLING_REJECTED);
    expect(2, "第 3 行");
    expect(4, SIBLING_REJECTED);
    expect(
        5,
        &format!(
            "身份证号：校验位错误：应为 {}，实为 {}",
            bad_check.1, bad_check.2
        ),
    );
    expect(6, "残疾等级：填写了残疾类别“肢体”，但未填写残疾等级");
    expect(7, "残疾等级：应为 1–4 的整数");
    expect(8, "村社区代码：户主行必须填写");
    expect(9, "村社区代码：不在您的管辖范围内");
    expect(10, "收入类型：月收入大于 0 时必须填写");
    expect(11, "本人电话：应为 11 位手机号");
    expect(12, "类别开始日期：填写了救助类别时必须填写开始日期");
    expect(13, "身份证号：出生日期晚于今天");
    expect(14, "不能自理项目：无法识别“跳舞”");
    expect(15, "月收入(元)：金额最多保留两位小数");
    expect(
        16,
        "类别开始日期：应为 YYYY-MM-DD 格式的日期，实为“2024-13-01”",
    );
    expect(17, "类别开始日期：不能晚于今天");
    expect(18, "没有户主");
    expect(19, "没有户主");
    expect(20, "本户有 2 个户主（第 20、21 行）");
    expect(21, "本户有 2 个户主（第 20、21 行）");
    expect(22, "身份证号在文件中重复（第 23 行）");
    expect(23, "身份证号在文件中重复（第 22 行）");
    expect(24, "户编号：不能为空");
    expect(25, "姓名：不能为空");
    expect(28, "本人电话：");
    expect(29, "就业状况：无法识别“上班族”，可选值：在业、");

    // Rejections are sorted and carry key, name and a masked ID.
    assert!(rejected.windows(2).all(|w| w[0].line < w[1].line));
    let r3 = rejected.iter().find(|r| r.line == 3).unwrap();
    assert_eq!(r3.household_key, "A");
    assert_eq!(r3.name, "甲二");
    let full = id(2);
    assert_eq!(
        r3.id_number_masked,
        format!("{}********{}", &full[..6], &full[14..])
    );
    let r5 = rejected.iter().find(|r| r.line == 5).unwrap();
    assert_eq!(
        r5.id_number_masked,
        format!("{}************", &bad_check.0[..6])
    );
    // Several problems in one row are all reported.
    let multi = vec![RawRow {
        line: 9,
        cells: {
            let mut c = vec![String::new(); col::COUNT];
            c[col::KEY] = "Z".into();
            c[col::RELATION] = "户主".into();
            c[col::ID] = "123".into();
            c
        },
    }];
    let (_, r) = validate_rows(&multi, today(), &any_village);
    for part in [
        "姓名：不能为空",
        "身份证号：长度应为 18 位",
        "村社区代码：",
        "户籍地址：",
    ] {
        assert!(r[0].reason.contains(part), "{part} in {}", r[0].reason);
    }
}

#[test]
fn duplicate_id_in_file() {
    let dup = id(55);
    let csv = csv_of(&[
        head("A", "一", &id(1)),
        member("A", "配偶", "二", &dup),
        head("B", "三", &id(2)),
        member("B", "子女", "四", &dup),
        head("C", "五", &id(3)),
    ]);
    let rows = read_table("d.csv", csv.as_bytes(), 100).unwrap();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert_partition(&rows, &h, &r);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].key, "C");
    let lines: Vec<usize> = r.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5]);
    assert!(
        r[1].reason.contains("身份证号在文件中重复（第 5 行）"),
        "{}",
        r[1].reason
    );
    assert!(
        r[3].reason.contains("身份证号在文件中重复（第 3 行）"),
        "{}",
        r[3].reason
    );
    assert!(r[0].reason.starts_with(SIBLING_REJECTED));
    assert!(r[2].reason.starts_with(SIBLING_REJECTED));
}

#[test]
fn id_repeated_many_times_stays_fast() {
    let dup = id(9);
    let rows: Vec<RawRow> = (0..20_000)
        .map(|i| {
            let mut c = vec![String::new(); col::COUNT];
            for (k, v) in head(&format!("K{i}"), "某", &dup) {
                c[k] = v;
            }
            RawRow {
                line: i + 2,
                cells: c,
            }
        })
        .collect();
    let started = Instant::now();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert!(started.elapsed().as_secs() < 5);
    assert!(h.is_empty());
    assert_eq!(r.len(), 20_000);
    assert!(
        r[0].reason
            .contains("身份证号在文件中重复（第 3、4、5、6、7 行等共 19999 行）"),
        "{}",
        r[0].reason
    );
}

#[test]
fn full_width_digits_are_accepted() {
    let to_full = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    char::from_u32(c as u32 + 0xFEE0).unwrap()
                } else {
                    c
                }
            })
            .collect()
    };
    let rows = vec![RawRow {
        line: 2,
        cells: {
            let mut c = vec![String::new(); col::COUNT];
            for (k, v) in head("F", "全角", &to_full(&id(77))) {
                c[k] = v;
            }
            c[col::VILLAGE] = to_full("330106001001");
            c[col::PHONE] = to_full("13812345678");
            c
        },
    }];
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(h[0].record.members[0].id_number.as_str(), id(77));
    assert_eq!(h[0].record.village_code, "330106001001");
    assert_eq!(h[0].record.members[0].phone.as_deref(), Some("13812345678"));
}

#[test]
fn household_without_head() {
    let csv = csv_of(&[
        member("A", "配偶", "一", &id(1)),
        member("A", "子女", "二", &id(2)),
        head("B", "三", &id(3)),
    ]);
    let rows = read_table("h.csv", csv.as_bytes(), 100).unwrap();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert_partition(&rows, &h, &r);
    assert_eq!(h.len(), 1);
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x.reason.contains("没有户主")), "{r:?}");
}

#[test]
fn head_is_first_member_and_rows_may_be_apart() {
    let csv = csv_of(&[
        member("A", "子女", "一", &id(1)),
        head("B", "二", &id(2)),
        with(
            with(head("A", "三", &id(3)), col::RES_ADDR, "城里"),
            col::HH_PHONE,
            "13900000000",
        ),
        with(
            with(member("A", "父母", "四", &id(4)), col::INCOME, "300"),
            col::INCOME_KIND,
            "养老金",
        ),
        with(
            member("A", "配偶", "五", &id(5)),
            col::VILLAGE,
            "330106001002",
        ),
    ]);
    let rows = read_table("o.csv", csv.as_bytes(), 100).unwrap();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert_partition(&rows, &h, &r);
    // A's member row 6 names another village: A is rejected, B imported.
    assert_eq!(h.len(), 1);
    assert!(
        r.iter()
            .any(|x| x.line == 6 && x.reason.contains("村社区代码：与本户户主行")),
        "{r:?}"
    );

    let csv = csv_of(&[
        member("A", "子女", "一", &id(1)),
        head("B", "二", &id(2)),
        with(
            with(head("A", "三", &id(3)), col::RES_ADDR, "城里"),
            col::HH_PHONE,
            "13900000000",
        ),
        with(
            with(member("A", "父母", "四", &id(4)), col::INCOME, "300"),
            col::INCOME_KIND,
            "养老金",
        ),
    ]);
    let rows = read_table("o.csv", csv.as_bytes(), 100).unwrap();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    assert!(r.is_empty(), "{r:?}");
    let keys: Vec<&str> = h.iter().map(|x| x.key.as_str()).collect();
    assert_eq!(keys, vec!["A", "B"]);
    let a = &h[0];
    assert_eq!(a.lines, vec![2, 4, 5]);
    let names: Vec<&str> = a.record.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["三", "一", "四"]);
    assert_eq!(a.record.residence_address, "城里");
    assert_eq!(a.record.phone.as_deref(), Some("13900000000"));
    assert_eq!(a.record.incomes.len(), 1);
    assert_eq!(a.record.incomes[0].member_index, Some(2));
    assert_eq!(a.record.incomes[0].kind, IncomeKind::Transfer);
}

#[test]
fn village_check_called_once_per_code() {
    let calls = std::cell::Cell::new(0);
    let ok = |_: &str| {
        calls.set(calls.get() + 1);
        Ok(())
    };
    let rows: Vec<_> = (0..50)
        .map(|i| head(&format!("K{i}"), "某", &id(i)))
        .collect();
    let csv = csv_of(&rows);
    let rows = read_table("v.csv", csv.as_bytes(), 100).unwrap();
    let (h, _) = validate_rows(&rows, today(), &ok);
    assert_eq!(h.len(), 50);
    assert_eq!(calls.get(), 1);
}

// --------------------------------------------------------------- reports ---

fn sample_rejections() -> Vec<Rejected> {
    vec![
        Rejected {
            line: 3,
            household_key: "A".into(),
            name: "张三".into(),
            id_number_masked: "330106********0012".into(),
            reason: "与户主关系：无法识别“表哥”".into(),
        },
        Rejected {
            line: 7,
            household_key: "=1+1".into(),
            name: "李四".into(),
            id_number_masked: "123".into(),
            reason: SIBLING_REJECTED.into(),
        },
    ]
}

#[test]
fn rejected_reports() {
    use calamine::{Data, Reader, open_workbook_auto_from_rs};
    let bytes = rejected_report_xlsx(&sample_rejections());
    let mut book = open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(|r| r.to_vec()).collect();
    assert_eq!(
        rows[0].iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        vec!["行号", "户编号", "姓名", "身份证号(脱敏)", "原因"]
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], Data::Float(3.0));
    assert_eq!(rows[2][1].to_string(), "=1+1");
    assert_eq!(rows[2][4].to_string(), SIBLING_REJECTED);

    let csv = rejected_report_csv(&sample_rejections());
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&csv[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "行号,户编号,姓名,身份证号(脱敏),原因");
    assert_eq!(
        lines[1],
        "3,A,张三,330106********0012,与户主关系：无法识别“表哥”"
    );
    assert!(lines[2].starts_with("7,'=1+1,李四,123,"), "{}", lines[2]);
}

#[test]
fn generic_table_export() {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let rows = vec![
        vec![
            "110105194912310021".to_string(),
            "=SUM(A1)".into(),
            "很长的中文内容".repeat(10),
        ],
        vec!["007".to_string(), String::new()],
    ];
    let bytes = table_xlsx(
        "家庭档案/2025:导出[1]",
        &["身份证号", "公式", "说明"],
        &rows,
    );
    let mut book = open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), vec!["家庭档案2025导出1"]);
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|d| d.to_string()).collect())
        .collect();
    assert_eq!(cells[0], vec!["身份证号", "公式", "说明"]);
    assert_eq!(cells[1][0], "110105194912310021");
    assert_eq!(cells[1][1], "=SUM(A1)");
    assert_eq!(cells[2][0], "007");
    // Degenerate inputs still give a workbook.
    assert!(!table_xlsx("", &[], &[]).is_empty());
    assert!(!table_xlsx("'''", &["a"], &[vec!["x".repeat(40_000)]]).is_empty());
}

// ----------------------------------------------------------- performance ---

fn big_csv(households: u32) -> String {
    let mut rows = Vec::with_capacity(households as usize * 4);
    for h in 0..households {
        let key = format!("H{h}");
        let base = h * 4;
        rows.push(with(
            with(
                with(head(&key, "户主甲", &id(base)), col::CATEGORIES, "低保"),
                col::CAT_START,
                "2024-01-01",
            ),
            col::INCOME,
            "800",
        ));
        rows.last_mut()
            .unwrap()
            .push((col::INCOME_KIND, "工资性收入".into()));
        rows.push(with(
            member(&key, "配偶", "配偶乙", &id(base + 1)),
            col::DIS_TYPE,
            "肢体",
        ));
        rows.last_mut().unwrap().push((col::DIS_GRADE, "2".into()));
        rows.push(with(
            member(&key, "子女", "子女丙", &id(base + 2)),
            col::SCHOOLING,
            "小学",
        ));
        rows.push(with(
            member(&key, "父母", "父母丁", &id(base + 3)),
            col::SELF_CARE,
            "洗澡、穿衣",
        ));
    }
    csv_of(&rows)
}

#[test]
fn hundred_thousand_rows_validate() {
    let csv = big_csv(25_000);
    let started = Instant::now();
    let rows = read_table("big.csv", csv.as_bytes(), 100_000).unwrap();
    let read_time = started.elapsed();
    assert_eq!(rows.len(), 100_000);
    let started = Instant::now();
    let (h, r) = validate_rows(&rows, today(), &any_village);
    let validate_time = started.elapsed();
    assert!(r.is_empty(), "{:?}", &r[..r.len().min(3)]);
    assert_eq!(h.len(), 25_000);
    assert_eq!(h[24_999].record.members.len(), 4);
    eprintln!("100k rows: read_table {read_time:?}, validate_rows {validate_time:?}");
}

#[test]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
fn hundred_thousand_rows_xlsx() {
    let csv = big_csv(25_000);
    let rows = read_table("big.csv", csv.as_bytes(), 100_000).unwrap();
    let table: Vec<Vec<String>> = rows.iter().map(|r| r.cells.clone()).collect();
    let bytes = table_xlsx("家庭成员", TEMPLATE_COLUMNS, &table);
    let started = Instant::now();
    let back = read_table("big.xlsx", &bytes, 100_000).unwrap();
    let read_time = started.elapsed();
    assert_eq!(back.len(), 100_000);
    assert_eq!(back[99_999].cells, rows[99_999].cells);
    let started = Instant::now();
    let (h, r) = validate_rows(&back, today(), &any_village);
    let validate_time = started.elapsed();
    assert!(r.is_empty());
    assert_eq!(h.len(), 25_000);
    eprintln!(
        "100k-row xlsx ({} bytes): read_table {read_time:?}, validate_rows {validate_time:?}",
        bytes.len()
    );
    assert!(validate_time.as_secs_f64() < 2.0);
}
