//! Reading uploaded files into [`RawRow`]s.

use std::borrow::Cow;

use crate::xlsx::{self, Limits, Workbook};
use crate::{FormulaCell, RawRow, SheetError, TEMPLATE_COLUMNS};

/// How many non-blank rows at the top are searched for the header row, so a
/// title line such as "某某村低保家庭花名册" above the header is tolerated.
const HEADER_SCAN_ROWS: usize = 10;

/// Reads an uploaded household import table: [`read_table_columns`] with
/// [`TEMPLATE_COLUMNS`], every one of them required.
///
/// * `.xlsx`, `.xlsm`: the first worksheet (or, if it has no recognisable
///   header, the first worksheet that has one), streamed row by row in
///   bounded memory (the limits are listed in `src/xlsx/mod.rs`; a file over
///   a limit is a [`SheetError::TooLarge`]). Numbers come back without a trailing ".0",
///   so ID numbers and phones typed as numbers are digit strings; date cells
///   come back as `YYYY-MM-DD`. A formula cell in a data row is refused
///   ([`SheetError::Formulas`]): its cached value may not be what the user
///   believes was imported.
/// * `.xls`, `.xlsb`, `.ods` are refused ([`SheetError::UnsupportedExtension`],
///   whose message says to save as `.xlsx`): their readers allocate from
///   sizes the file declares, so a tiny hostile file could exhaust memory.
///   An `.xlsx` renamed to `.xls` is read as `.xlsx`.
/// * `.csv`: UTF-8 with or without BOM; GBK/GB18030 (what Excel's plain
///   "CSV" saves on Chinese Windows) is detected and accepted too.
///
/// The header row is matched by name: column order is free, extra columns
/// are ignored, spaces, `*` markers and full-width parentheses around header
/// texts are ignored. Rows whose template columns are all blank are skipped.
/// More than `max_rows` data rows is an error, and so is a file over 50 MiB.
pub fn read_table(
    filename: &str,
    bytes: &[u8],
    max_rows: usize,
) -> Result<Vec<RawRow>, SheetError> {
    read_table_columns(
        filename,
        bytes,
        TEMPLATE_COLUMNS,
        TEMPLATE_COLUMNS,
        max_rows,
    )
}

/// Reads an uploaded table whose header names `columns` (any order, extra
/// columns ignored), as described for [`read_table`]. [`RawRow::cells`]
/// follow `columns` order.
///
/// Every name in `required` (a subset of `columns`) must appear in the
/// header, otherwise [`SheetError::MissingColumns`] lists the absent ones in
/// `columns` order; a column of `columns` that is not required and absent
/// reads as "" in every row.
pub fn read_table_columns(
    filename: &str,
    bytes: &[u8],
    columns: &[&str],
    required: &[&str],
    max_rows: usize,
) -> Result<Vec<RawRow>, SheetError> {
    read_with_limits(
        filename,
        bytes,
        columns,
        required,
        max_rows,
        &Limits::DEFAULT,
    )
}

pub(crate) fn read_with_limits(
    filename: &str,
    bytes: &[u8],
    columns: &[&str],
    required: &[&str],
    max_rows: usize,
    limits: &Limits,
) -> Result<Vec<RawRow>, SheetError> {
    let spec = Columns { columns, required };
    let ext = extension(filename);
    let workbook = match ext.as_str() {
        "csv" => false,
        "xlsx" | "xlsm" => true,
        // A renamed .xlsx is fine; a real .xls is not read (see read_table).
        "xls" if xlsx::looks_like_zip(bytes) => true,
        _ => return Err(SheetError::UnsupportedExtension(ext)),
    };
    if bytes.len() > limits.file_bytes {
        return Err(SheetError::TooLarge(format!(
            "文件大小为 {:.1} MB，超过上限 {} MB，请拆分为多个文件分别导入",
            bytes.len() as f64 / (1024.0 * 1024.0),
            limits.file_bytes / (1024 * 1024)
        )));
    }
    if workbook {
        read_workbook(bytes, &spec, max_rows, limits)
    } else {
        read_csv(bytes, &spec, max_rows, limits)
    }
}

/// One row of an uploaded sheet before the header is applied.
pub(crate) struct SourceRow {
    /// Line number as the user sees it.
    pub line: usize,
    /// The row's cells by source column ("" when blank); may be shorter than
    /// the header.
    pub cells: Vec<String>,
    /// Formula cells: (source column, formula text without "=", possibly
    /// empty for the dependents of a shared formula).
    pub formulas: Vec<(usize, String)>,
}

/// The columns a table is read with.
struct Columns<'a> {
    columns: &'a [&'a str],
    required: &'a [&'a str],
}

impl Columns<'_> {
    fn is_required(&self, name: &str) -> bool {
        self.required.contains(&name)
    }

    fn required_count(&self) -> usize {
        self.columns.iter().filter(|c| self.is_required(c)).count()
    }
}

fn extension(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    match base.rsplit_once('.') {
        Some((_, ext)) => ext.trim().to_lowercase(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------- header ---

/// Header text normalised for comparison: no whitespace (ASCII or
/// full-width), no required-field stars, ASCII parentheses.
fn normalize_header(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '*' && *c != '＊')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect()
}

/// Other header texts people commonly use for a column: (alias, column).
/// An alias applies when the table is read with that column.
const HEADER_ALIASES: &[(&str, &str)] = &[
    ("身份证号码", "身份证号"),
    ("公民身份号码", "身份证号"),
    ("月收入", "月收入(元)"),
    ("月收入(元/月)", "月收入(元)"),
    ("村(社区)代码", "村社区代码"),
    ("村居代码", "村社区代码"),
];

/// The index in `columns` of the column a header text names.
fn column_index(header: &str, columns: &[&str]) -> Option<usize> {
    let h = normalize_header(header);
    if h.is_empty() {
        return None;
    }
    columns
        .iter()
        .position(|c| normalize_header(c) == h)
        .or_else(|| {
            HEADER_ALIASES
                .iter()
                .find(|(a, _)| *a == h)
                .and_then(|(_, canonical)| columns.iter().position(|c| c == canonical))
        })
}

/// For each column, the source column holding it (first match).
fn map_header(header: &[String], columns: &[&str]) -> Vec<Option<usize>> {
    let mut mapping = vec![None; columns.len()];
    for (src, text) in header.iter().enumerate() {
        if let Some(t) = column_index(text, columns)
            && mapping[t].is_none()
        {
            mapping[t] = Some(src);
        }
    }
    mapping
}

fn matched_count(header: &[String], columns: &[&str]) -> usize {
    map_header(header, columns)
        .iter()
        .filter(|m| m.is_some())
        .count()
}

/// How many formula cells [`SheetError::Formulas`] lists.
const FORMULAS_LISTED: usize = 10;

/// Turns a stream of [`SourceRow`]s into [`RawRow`]s: finds the header
/// among the first non-blank rows, maps columns, skips blank rows, enforces
/// the row limit and the text limit, and refuses formula cells in data rows
/// (all of them are counted, the first [`FORMULAS_LISTED`] are named).
fn build_rows<I>(
    rows: I,
    spec: &Columns<'_>,
    max_rows: usize,
    limits: &Limits,
) -> Result<Vec<RawRow>, SheetError>
where
    I: Iterator<Item = Result<SourceRow, SheetError>>,
{
    let mut rows = rows.filter(|r| match r {
        Ok(row) => row.cells.iter().any(|c| !c.trim().is_empty()),
        Err(_) => true,
    });
    let mut head: Vec<SourceRow> = Vec::with_capacity(HEADER_SCAN_ROWS);
    for r in rows.by_ref() {
        head.push(r?);
        if head.len() == HEADER_SCAN_ROWS {
            break;
        }
    }
    if head.is_empty() {
        return Err(SheetError::Empty);
    }
    // The header is the row matching the most template columns (earliest on
    // ties); with no match at all, the first row is reported as the header.
    let (header_pos, _) = head
        .iter()
        .enumerate()
        .map(|(i, row)| (i, matched_count(&row.cells, spec.columns)))
        .fold((0, 0), |best, cur| if cur.1 > best.1 { cur } else { best });
    let header = head[header_pos].cells.clone();
    let mapping = map_header(&header, spec.columns);
    let missing: Vec<String> = mapping
        .iter()
        .zip(spec.columns)
        .filter(|(m, name)| m.is_none() && spec.is_required(name))
        .map(|(_, name)| name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(SheetError::MissingColumns(missing));
    }

    let mut out = Vec::new();
    let mut text_bytes = 0usize;
    let mut formulas: Vec<FormulaCell> = Vec::new();
    let mut formula_total = 0usize;
    let data = head.into_iter().skip(header_pos + 1).map(Ok).chain(rows);
    for r in data {
        let row = r?;
        let cells: Vec<String> = mapping
            .iter()
            .map(|m| {
                m.and_then(|src| row.cells.get(src))
                    .map_or_else(String::new, |s| s.trim().to_string())
            })
            .collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        for (src, formula) in &row.formulas {
            if !mapping.contains(&Some(*src)) {
                continue;
            }
            formula_total += 1;
            if formulas.len() < FORMULAS_LISTED {
                let name = header.get(*src).map_or("", |h| h.trim());
                formulas.push(FormulaCell {
                    line: row.line,
                    column: if name.is_empty() {
                        format!("{} 列", xlsx::column_letters(*src))
                    } else {
                        name.to_string()
                    },
                    formula: formula.clone(),
                });
            }
        }
        if formula_total > 0 {
            // The file is refused; keep scanning only to count formulas.
            continue;
        }
        if out.len() >= max_rows {
            return Err(SheetError::TooManyRows { limit: max_rows });
        }
        text_bytes += cells.iter().map(String::len).sum::<usize>();
        if text_bytes > limits.table_text {
            return Err(SheetError::TooLarge(format!(
                "表格中的文字超过 {} MB，请拆分为多个文件分别导入",
                limits.table_text / (1024 * 1024)
            )));
        }
        out.push(RawRow {
            line: row.line,
            cells,
        });
    }
    if formula_total > 0 {
        return Err(SheetError::Formulas {
            cells: formulas,
            total: formula_total,
        });
    }
    if out.is_empty() {
        return Err(SheetError::Empty);
    }
    Ok(out)
}

// ------------------------------------------------------------------- csv ---

fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, SheetError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or_else(|| {
                SheetError::Unreadable(
                    "CSV 文件的文字编码无法识别，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或直接上传 .xlsx 文件"
                        .into(),
                )
            }),
    }
}

/// Undoes tricks people use to keep Excel from mangling numbers in CSV:
/// a leading apostrophe (`'110105…`) or a formula wrapper (`="110105…"`).
fn unwrap_csv_cell(s: &str) -> &str {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')) {
        return inner;
    }
    if let Some(rest) = t.strip_prefix('\'')
        && !rest.is_empty()
    {
        return rest;
    }
    t
}

fn read_csv(
    bytes: &[u8],
    spec: &Columns<'_>,
    max_rows: usize,
    limits: &Limits,
) -> Result<Vec<RawRow>, SheetError> {
    let text = decode_text(bytes)?;
    // The csv crate keeps 8 bytes per field of a record: a 50 MB line of
    // commas would cost 400 MB before any check. Count first.
    if let Some(line) = csv_record_over(text.as_bytes(), MAX_CSV_FIELDS) {
        return Err(SheetError::TooLarge(format!(
            "第 {line} 行超过 {MAX_CSV_FIELDS} 列"
        )));
    }
    let columns = limits.columns;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());

    // The csv crate skips blank lines and joins quoted multi-line fields;
    // Excel shows a blank line as an empty row and a multi-line field as one
    // row. Track both so reported line numbers match what the user sees.
    let mut sheet_row = 0usize;
    let mut next_text_line = 1u64;
    let records = reader.records().map(move |rec| {
        let rec = rec.map_err(|e| SheetError::Unreadable(format!("CSV 格式错误：{e}")))?;
        let start = rec.position().map_or(next_text_line, |p| p.line());
        let skipped_blank = start.saturating_sub(next_text_line) as usize;
        sheet_row += skipped_blank + 1;
        let inner_newlines: u64 = rec.iter().map(|f| f.matches('\n').count() as u64).sum();
        next_text_line = start + inner_newlines + 1;
        let mut cells = Vec::with_capacity(rec.len().min(columns));
        for (i, f) in rec.iter().enumerate() {
            let f = unwrap_csv_cell(f);
            if i < columns {
                cells.push(f.to_string());
            } else if !f.is_empty() {
                return Err(SheetError::TooLarge(format!(
                    "第 {sheet_row} 行第 {} 列有内容：每个文件最多读取 {columns} 列，请删除多余的列后重新上传",
                    i + 1
                )));
            }
        }
        Ok(SourceRow {
            line: sheet_row,
            cells,
            formulas: Vec::new(),
        })
    });
    build_rows(records, spec, max_rows, limits)
}

/// Excel's column limit, as the most fields a CSV record may have.
const MAX_CSV_FIELDS: usize = 16_384;

/// The 1-based text line where a CSV record with more than `max` fields
/// starts, if any. Follows csv-core's quoting rules (a quote opens a quoted
/// field only at the start of a field; `""` inside is a quote; CR and LF
/// end records) so that it counts the fields the csv crate will produce.
fn csv_record_over(text: &[u8], max: usize) -> Option<usize> {
    #[derive(PartialEq)]
    enum S {
        FieldStart,
        Field,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = S::FieldStart;
    let mut fields = 1usize;
    let mut line = 1usize;
    let mut record_line = 1usize;
    for &b in text {
        if b == b'\n' {
            line += 1;
        }
        state = match (state, b) {
            (S::Quoted, b'"') => S::QuoteInQuoted,
            (S::Quoted, _) => S::Quoted,
            (S::QuoteInQuoted, b'"') => S::Quoted,
            (S::FieldStart, b'"') => S::Quoted,
            (_, b',') => {
                fields += 1;
                if fields > max {
                    return Some(record_line);
                }
                S::FieldStart
            }
            (_, b'\n' | b'\r') => {
                fields = 1;
                record_line = line;
                S::FieldStart
            }
            _ => S::Field,
        };
    }
    None
}

// ------------------------------------------------------------- workbooks ---

fn read_workbook(
    bytes: &[u8],
    spec: &Columns<'_>,
    max_rows: usize,
    limits: &Limits,
) -> Result<Vec<RawRow>, SheetError> {
    if xlsx::looks_like_cfb(bytes) {
        return Err(SheetError::Unreadable(
            "该文件设置了打开密码，或实际是旧版 .xls 格式：请在 Excel 或 WPS 中打开，取消密码后“另存为” Excel 工作簿（.xlsx）再上传"
                .into(),
        ));
    }
    let book = Workbook::open(bytes, limits)?;
    let mut first_error = None;
    for index in 0..book.sheet_count() {
        match build_rows(book.rows(index)?, spec, max_rows, limits) {
            Ok(rows) => return Ok(rows),
            // A sheet without anything resembling the header (blank, or the
            // 填写说明 sheet moved to the front): try the next sheet, but
            // report the first sheet's problem if none has a table.
            Err(e) if !looks_like_table(&e, spec) => {
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(first_error.unwrap_or(SheetError::Empty))
}

/// Whether a read error still means "this sheet holds the table" (at least
/// three required columns, or all of them if fewer, were recognised in its
/// header).
fn looks_like_table(e: &SheetError, spec: &Columns<'_>) -> bool {
    match e {
        SheetError::MissingColumns(missing) => {
            let required = spec.required_count();
            required - missing.len().min(required) >= required.min(3)
        }
        SheetError::Empty => false,
        _ => true,
    }
}

/// Whole numbers without ".0" (an 18-digit ID typed as a number comes back
/// as the digits Excel kept); fractions with at most 15 significant digits,
/// as Excel displays them, so 0.1+0.2 reads "0.3".
pub(crate) fn float_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // `{}` prints the shortest digits that round-trip, padded with zeros
        // (never in exponent form). A number typed in Excel has at most 15
        // significant digits and comes back as typed (an 18-digit ID typed
        // into a General cell reads "…000", which the validator explains).
        // Longer ones were written exactly by a program: print the exact
        // integer instead of the shortest approximation.
        let shortest = format!("{f}");
        let significant = shortest.trim_start_matches('-').trim_end_matches('0').len();
        return if significant <= 15 {
            shortest
        } else {
            format!("{f:.0}")
        };
    }
    let int_digits = if f.abs() < 1.0 {
        0
    } else {
        f.abs().log10().floor() as i32 + 1
    };
    let decimals = (15 - int_digits).clamp(0, 15) as usize;
    let s = format!("{f:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::col;

    #[test]
    fn float_rendering() {
        assert_eq!(float_text(13812345678.0), "13812345678");
        assert_eq!(float_text(110105194912310000.0), "110105194912310000");
        // Exactly representable 18-digit value written by a program.
        assert_eq!(float_text(110105194912310016.0), "110105194912310016");
        assert_eq!(float_text(1234.5), "1234.5");
        assert_eq!(float_text(0.1 + 0.2), "0.3");
        assert_eq!(float_text(2.0), "2");
        assert_eq!(float_text(-0.0), "-0");
        assert_eq!(float_text(330106001001.0), "330106001001");
    }

    #[test]
    fn header_normalisation() {
        let t = TEMPLATE_COLUMNS;
        assert_eq!(column_index(" 月收入（元） ", t), Some(col::INCOME));
        assert_eq!(column_index("*姓名", t), Some(col::NAME));
        assert_eq!(column_index("身份证号码", t), Some(col::ID));
        assert_eq!(column_index("序号", t), None);
        // Aliases follow the column list they are read with.
        assert_eq!(column_index("公民身份号码", &["姓名", "身份证号"]), Some(1));
        assert_eq!(column_index("月收入", &["姓名", "身份证号"]), None);
        assert_eq!(extension("C:\\x\\名单.XLSX"), "xlsx");
        assert_eq!(extension("noext"), "");
    }

    #[test]
    fn csv_field_counting() {
        assert_eq!(csv_record_over(b"a,b,c\nd,e", 3), None);
        assert_eq!(csv_record_over(b"a,b\nd,e,f,g", 3), Some(2));
        // Commas inside quotes (even across lines) are not separators...
        assert_eq!(csv_record_over(b"\"a,\n,b\",c\nd", 2), None);
        // ...but a quote in the middle of a field does not open quoting.
        assert_eq!(csv_record_over(b"x\",,,,", 3), Some(1));
        assert_eq!(csv_record_over(b"\"a\"\"b\",c,d", 2), Some(1));
    }

    #[test]
    fn csv_cell_unwrapping() {
        assert_eq!(
            unwrap_csv_cell("=\"110105194912310021\""),
            "110105194912310021"
        );
        assert_eq!(unwrap_csv_cell("'0571"), "0571");
        assert_eq!(unwrap_csv_cell("'"), "'");
    }
}
