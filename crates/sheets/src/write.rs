//! Writing spreadsheets: the import template, the rejected-rows report and
//! generic exports.

use chrono::NaiveDate;
use doudi_domain::household::{Category, IncomeKind};
use doudi_domain::person::{DisabilityType, Employment, Relation, Schooling, SelfCareItem};
use doudi_domain::{Coded, IdNumber};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, Format, FormatAlign,
    FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::{Rejected, TEMPLATE_COLUMNS, col};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Excel's limit on characters in one cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Excel's last row index (0-based), i.e. 1,048,576 rows including header.
const MAX_ROW: u32 = 1_048_575;
/// Rows of the template covered by drop-down lists.
const TEMPLATE_VALIDATION_ROWS: u32 = 20_000;

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xD9E1F2))
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
}

fn text_format() -> Format {
    Format::new().set_num_format("@")
}

/// Approximate display width in Excel character units: CJK and other wide
/// characters count double.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) < 0x1100 { 1 } else { 2 })
        .sum()
}

fn column_width(max_chars: usize) -> f64 {
    (max_chars.clamp(6, 60) + 2) as f64
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Excel sheet names: at most 31 characters, none of `[]:*?/\`, not
/// starting or ending with an apostrophe, not empty.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') && !c.is_control())
        .take(31)
        .collect();
    let cleaned = cleaned.trim_matches('\'').trim();
    if cleaned.is_empty() || cleaned.eq_ignore_ascii_case("history") {
        "Sheet1".to_string()
    } else {
        cleaned.to_string()
    }
}

fn finish(mut workbook: Workbook) -> Vec<u8> {
    workbook
        .save_to_buffer()
        .expect("writing an in-memory workbook with sanitised input cannot fail")
}

/// Writes a bold, frozen header row and text data rows (stopping at Excel's
/// row limit); column widths follow the longest value.
fn write_table(
    sheet: &mut Worksheet,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<(), XlsxError> {
    let header = header_format();
    let text = text_format();
    let cols = headers.len().min(16_384);
    let mut widths: Vec<usize> = headers
        .iter()
        .take(cols)
        .map(|h| display_width(h))
        .collect();
    for (c, h) in headers.iter().take(cols).enumerate() {
        sheet.write_string_with_format(0, c as u16, clip(h), &header)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u64 + 1;
        if r > MAX_ROW as u64 {
            break;
        }
        for (c, value) in row.iter().take(cols).enumerate() {
            if value.is_empty() {
                continue;
            }
            let value = clip(value);
            widths[c] = widths[c].max(display_width(value));
            sheet.write_string_with_format(r as u32, c as u16, value, &text)?;
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, column_width(*w))?;
        sheet.set_column_format(c as u16, &text)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// A generic export: one sheet, bold frozen header, widths fitted to the
/// content, every cell written as text (ID numbers stay intact; nothing is
/// interpreted as a formula). Cells beyond Excel's limits are clipped.
pub fn table_xlsx(sheet_name_text: &str, headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet
        .set_name(sheet_name(sheet_name_text))
        .and_then(|s| write_table(s, headers, rows).map(|_| s))
        .expect("sheet name and cells are sanitised");
    finish(workbook)
}

const REPORT_HEADERS: [&str; 5] = ["行号", "户编号", "姓名", "身份证号(脱敏)", "原因"];

/// The rows that were not imported, for the user to fix and re-import.
pub fn rejected_report_xlsx(rejected: &[Rejected]) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let build = |sheet: &mut Worksheet| -> Result<(), XlsxError> {
        sheet.set_name("未导入的行")?;
        let header = header_format();
        let text = text_format();
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        for (c, h) in REPORT_HEADERS.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
        }
        let mut widths = REPORT_HEADERS.map(display_width);
        for (i, r) in rejected.iter().enumerate().take(MAX_ROW as usize) {
            let row = i as u32 + 1;
            sheet.write_number(row, 0, r.line as f64)?;
            for (c, value) in [&r.household_key, &r.name, &r.id_number_masked]
                .into_iter()
                .enumerate()
            {
                let value = clip(value);
                widths[c + 1] = widths[c + 1].max(display_width(value));
                sheet.write_string_with_format(row, c as u16 + 1, value, &text)?;
            }
            sheet.write_string_with_format(row, 4, clip(&r.reason), &wrap)?;
        }
        for (c, w) in widths.iter().enumerate().take(4) {
            sheet.set_column_width(c as u16, column_width(*w))?;
        }
        sheet.set_column_width(4, 80)?;
        sheet.set_freeze_panes(1, 0)?;
        Ok(())
    };
    build(sheet).expect("report cells are sanitised");
    finish(workbook)
}

/// Same content as [`rejected_report_xlsx`], as UTF-8 CSV with BOM (so Excel
/// opens it with the right encoding).
pub fn rejected_report_csv(rejected: &[Rejected]) -> Vec<u8> {
    let rows = rejected.iter().map(|r| {
        vec![
            r.line.to_string(),
            defuse(&r.household_key),
            defuse(&r.name),
            defuse(&r.id_number_masked),
            defuse(&r.reason),
        ]
    });
    csv_bytes(&REPORT_HEADERS, rows)
}

/// Values copied from an uploaded file could start with `=`, `+`, `-` or
/// `@` and run as a formula when the CSV is opened in Excel; prefix those
/// with an apostrophe.
fn defuse(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn csv_bytes(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(BOM.to_vec());
    let write = |writer: &mut csv::Writer<Vec<u8>>| -> csv::Result<()> {
        writer.write_record(headers)?;
        for row in rows {
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok(())
    };
    write(&mut writer).expect("writing CSV into memory cannot fail");
    writer
        .into_inner()
        .expect("flushing CSV into memory cannot fail")
}

// -------------------------------------------------------------- template ---

/// The two sample rows of the template: one household, 户主 + 配偶.
fn sample_rows() -> Vec<Vec<String>> {
    let head_id = IdNumber::from_parts(
        "330106",
        NaiveDate::from_ymd_opt(1968, 3, 12).expect("valid date"),
        15,
    )
    .expect("sample ID is valid");
    let spouse_id = IdNumber::from_parts(
        "330106",
        NaiveDate::from_ymd_opt(1970, 7, 8).expect("valid date"),
        26,
    )
    .expect("sample ID is valid");
    let address = "浙江省杭州市西湖区北山街道示例社区1幢101室";
    let head = [
        "示例001",
        "330106001001",
        address,
        address,
        "0571-88888888",
        Relation::Head.label(),
        "张三",
        head_id.as_str(),
        "13800000000",
        DisabilityType::Physical.label(),
        "3",
        "高血压",
        SelfCareItem::Bathing.label(),
        Employment::Farming.label(),
        Schooling::Graduated.label(),
        "1200",
        IncomeKind::Business.label(),
        Category::Dibao.label(),
        "2024-01-01",
    ];
    let spouse = [
        "示例001",
        "",
        "",
        "",
        "",
        Relation::Spouse.label(),
        "李四",
        spouse_id.as_str(),
        "13900000000",
        "",
        "",
        "",
        "",
        Employment::Flexible.label(),
        Schooling::Graduated.label(),
        "800.50",
        IncomeKind::Wage.label(),
        "",
        "",
    ];
    debug_assert_eq!(head.len(), col::COUNT);
    debug_assert_eq!(spouse.len(), col::COUNT);
    [head, spouse]
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn labels<T: Coded>() -> Vec<&'static str> {
    T::all().iter().map(|v| v.label()).collect()
}

/// (column, 必填, 说明, 可选值/格式) for the 填写说明 sheet.
fn column_help() -> Vec<[String; 4]> {
    let phone =
        "11 位手机号（以 1 开头）；或固定电话：数字，可含一个“-”，共 7–13 位数字，如 0571-88888888";
    let join = |v: Vec<&str>| v.join("、");
    let rows: [(&str, &str, &str, String); 19] = [
        (
            "户编号",
            "必填",
            "本文件内区分家庭的编号，可自行编排（如 1、2、3 或村名加序号）。同一户的每位成员填写相同的户编号，成员行可以不相邻。",
            "任意文字，最多 50 字".into(),
        ),
        (
            "村社区代码",
            "户主行必填",
            "户籍所在村（社区）的 12 位统计用区划代码，须在您的管辖范围内。只读取户主行；成员行可留空，如填写须与户主行一致。",
            "12 位数字".into(),
        ),
        (
            "户籍地址",
            "户主行必填",
            "户口簿上的住址。只读取户主行。",
            "文字".into(),
        ),
        (
            "居住地址",
            "选填",
            "实际居住地址；留空视为与户籍地址相同。只读取户主行。",
            "文字".into(),
        ),
        (
            "家庭电话",
            "选填",
            "本户联系电话。只读取户主行。",
            phone.into(),
        ),
        (
            "与户主关系",
            "必填",
            "每户须有且只有一行为“户主”。",
            join(labels::<Relation>()),
        ),
        (
            "姓名",
            "必填",
            "与身份证上的姓名一致。",
            "最多 50 字".into(),
        ),
        (
            "身份证号",
            "必填",
            "18 位公民身份号码，末位可为 X；15 位旧号码会自动转换为 18 位。同一身份证号在文件中只能出现一次。请保持此列为“文本”格式，否则 Excel 会把号码末三位变成 0。",
            "18 位（或 15 位）号码".into(),
        ),
        ("本人电话", "选填", "本人联系电话。", phone.into()),
        (
            "残疾类别",
            "选填",
            "持残疾人证的填写；与残疾等级须同时填写或同时留空。",
            join(labels::<DisabilityType>()),
        ),
        (
            "残疾等级",
            "选填",
            "残疾人证上的等级，1 级最重；与残疾类别须同时填写或同时留空。",
            "1、2、3、4".into(),
        ),
        (
            "患病情况",
            "选填",
            "重病、慢性病等，自由填写。",
            "文字".into(),
        ),
        (
            "不能自理项目",
            "选填",
            "本人不能独立完成的日常活动，多项用“、”或“，”分隔；留空、“无”或“完全自理”表示能够自理。",
            join(labels::<SelfCareItem>()),
        ),
        (
            "就业状况",
            "选填",
            "留空视为“其他”。",
            join(labels::<Employment>()),
        ),
        (
            "就学状况",
            "选填",
            "留空视为“已毕业/非在校”。",
            join(labels::<Schooling>()),
        ),
        (
            "月收入(元)",
            "选填",
            "本人每月收入，单位为元，最多两位小数（如 1200 或 800.50）；留空或 0 表示没有收入。",
            "金额，如 1200、800.50".into(),
        ),
        (
            "收入类型",
            "月收入大于 0 时必填",
            "月收入的类别。",
            join(labels::<IncomeKind>()),
        ),
        (
            "救助类别",
            "选填",
            "本户当前享受或纳入的救助类别，多项用“、”分隔。只读取户主行。",
            join(labels::<Category>()),
        ),
        (
            "类别开始日期",
            "填写救助类别时必填",
            "救助类别的开始日期，不能晚于今天。只读取户主行。",
            "YYYY-MM-DD（如 2024-01-01），也可写 YYYY/MM/DD".into(),
        ),
    ];
    debug_assert!(
        rows.iter()
            .map(|r| r.0)
            .eq(TEMPLATE_COLUMNS.iter().copied())
    );
    rows.into_iter()
        .map(|(a, b, c, d)| [a.to_string(), b.to_string(), c.to_string(), d])
        .collect()
}

const TEMPLATE_NOTES: &[&str] = &[
    "1. 每行填写一位家庭成员；户编号相同的行组成一户。",
    "2. 家庭信息（村社区代码、户籍地址、居住地址、家庭电话、救助类别、类别开始日期）只从“户主”那一行读取，成员行可以留空。",
    "3. 表头文字请勿修改；列的顺序可以调整，多出的列会被忽略，空行会被跳过。",
    "4. 日期写作 YYYY-MM-DD（如 2024-01-01）；金额以元为单位，最多两位小数。",
    "5. 一户中只要有一行有误，整户都不会导入；请按导入结果中“未导入的行”的原因修改后，重新导入这些户。",
    "6. 身份证号、电话、代码等列请保持“文本”格式，避免 Excel 把长数字改成科学计数法或把末几位变成 0。",
    "7. 户编号为“示例001”的两行是填写示例，导入前请删除。",
    "8. 也可以另存为“CSV UTF-8（逗号分隔）”文件导入，列与本表相同。",
];

/// Template columns left in Excel's General format (numbers); all others
/// are formatted as text so that ID numbers, phones, codes and dates stay
/// exactly as typed.
const NUMBER_COLUMNS: [usize; 2] = [col::DIS_GRADE, col::INCOME];

/// The household import template: sheet 家庭成员 (header, two sample rows,
/// drop-down lists, text-formatted columns) and sheet 填写说明.
pub fn template_xlsx() -> Vec<u8> {
    let mut workbook = Workbook::new();
    let build = |workbook: &mut Workbook| -> Result<(), XlsxError> {
        let header = header_format();
        let text = text_format();
        let samples = sample_rows();

        let sheet = workbook.add_worksheet();
        sheet.set_name("家庭成员")?;
        for (c, h) in TEMPLATE_COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
            let longest = samples
                .iter()
                .map(|r| display_width(&r[c]))
                .chain([display_width(h), 10])
                .max()
                .unwrap_or(10);
            sheet.set_column_width(c as u16, column_width(longest.min(30)))?;
            if !NUMBER_COLUMNS.contains(&c) {
                sheet.set_column_format(c as u16, &text)?;
            }
        }
        for (r, row) in samples.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                let r = r as u32 + 1;
                match value.parse::<f64>() {
                    _ if value.is_empty() => {}
                    Ok(number) if NUMBER_COLUMNS.contains(&c) => {
                        sheet.write_number(r, c as u16, number)?;
                    }
                    _ => {
                        sheet.write_string_with_format(r, c as u16, value, &text)?;
                    }
                }
            }
        }
        sheet.set_row_height(0, 22)?;
        sheet.set_freeze_panes(1, 0)?;

        // Drop-downs for single-choice columns. Warning style: the importer
        // also understands common synonyms (e.g. 本人, 妻子), so typing one is
        // allowed after the warning.
        let lists: [(usize, Vec<&str>); 5] = [
            (col::RELATION, labels::<Relation>()),
            (col::DIS_TYPE, labels::<DisabilityType>()),
            (col::EMPLOYMENT, labels::<Employment>()),
            (col::SCHOOLING, labels::<Schooling>()),
            (col::INCOME_KIND, labels::<IncomeKind>()),
        ];
        for (c, values) in lists {
            let dv = DataValidation::new()
                .allow_list_strings(values.as_slice())?
                .set_error_style(DataValidationErrorStyle::Warning)
                .set_error_title("不在可选值中")?
                .set_error_message(format!("可选值：{}", values.join("、")))?;
            sheet.add_data_validation(1, c as u16, TEMPLATE_VALIDATION_ROWS, c as u16, &dv)?;
        }
        let grade = DataValidation::new()
            .allow_whole_number(DataValidationRule::Between(1, 4))
            .set_error_style(DataValidationErrorStyle::Warning)
            .set_error_title("残疾等级")?
            .set_error_message("残疾等级应为 1–4 的整数")?;
        sheet.add_data_validation(
            1,
            col::DIS_GRADE as u16,
            TEMPLATE_VALIDATION_ROWS,
            col::DIS_GRADE as u16,
            &grade,
        )?;

        let help = workbook.add_worksheet();
        help.set_name("填写说明")?;
        let title = Format::new().set_bold().set_font_size(14);
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        let bold = Format::new().set_bold();
        help.write_string_with_format(0, 0, "家庭成员导入模板 · 填写说明", &title)?;
        let mut r = 2u32;
        for note in TEMPLATE_NOTES {
            help.write_string(r, 0, *note)?;
            r += 1;
        }
        r += 1;
        help.write_string_with_format(r, 0, "各列说明", &bold)?;
        r += 1;
        for (c, h) in ["列名", "是否必填", "填写说明", "可选值 / 格式"]
            .iter()
            .enumerate()
        {
            help.write_string_with_format(r, c as u16, *h, &header)?;
        }
        r += 1;
        for row in column_help() {
            for (c, value) in row.iter().enumerate() {
                help.write_string_with_format(r, c as u16, value, &wrap)?;
            }
            r += 1;
        }
        help.set_column_width(0, 16)?;
        help.set_column_width(1, 20)?;
        help.set_column_width(2, 70)?;
        help.set_column_width(3, 50)?;
        Ok(())
    };
    build(&mut workbook).expect("template content is fixed and valid");
    finish(workbook)
}

/// The template as UTF-8 CSV with BOM: header and the same sample rows.
pub fn template_csv() -> Vec<u8> {
    csv_bytes(TEMPLATE_COLUMNS, sample_rows().into_iter())
}
