//! Reading uploaded files into [`RawRow`]s.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{Data, Range, Reader, open_workbook_auto_from_rs};

use crate::{RawRow, SheetError, TEMPLATE_COLUMNS};

/// How many non-blank rows at the top are searched for the header row, so a
/// title line such as "某某村低保家庭花名册" above the header is tolerated.
const HEADER_SCAN_ROWS: usize = 10;

/// Reads an uploaded household import table: [`read_table_columns`] with
/// [`TEMPLATE_COLUMNS`], every one of them required.
///
/// * `.xlsx`, `.xlsm`, `.xls` (also `.xlsb`, `.ods`): the first worksheet
///   (or, if it has no recognisable header, the first worksheet that has
///   one). Numbers come back without a trailing ".0", so ID numbers and
///   phones typed as numbers are digit strings; date cells come back as
///   `YYYY-MM-DD`.
/// * `.csv`: UTF-8 with or without BOM; GBK/GB18030 (what Excel's plain
///   "CSV" saves on Chinese Windows) is detected and accepted too.
///
/// The header row is matched by name: column order is free, extra columns
/// are ignored, spaces, `*` markers and full-width parentheses around header
/// texts are ignored. Rows whose template columns are all blank are skipped.
/// More than `max_rows` data rows is an error.
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
    let spec = Columns { columns, required };
    let ext = extension(filename);
    match ext.as_str() {
        "csv" => read_csv(bytes, &spec, max_rows),
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => read_workbook(bytes, &spec, max_rows),
        _ => Err(SheetError::UnsupportedExtension(ext)),
    }
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

/// Turns a stream of `(line, raw cells)` into [`RawRow`]s: finds the header
/// among the first non-blank rows, maps columns, skips blank rows, enforces
/// the row limit.
fn build_rows<I>(rows: I, spec: &Columns<'_>, max_rows: usize) -> Result<Vec<RawRow>, SheetError>
where
    I: Iterator<Item = Result<(usize, Vec<String>), SheetError>>,
{
    let mut rows = rows.filter(|r| match r {
        Ok((_, cells)) => cells.iter().any(|c| !c.trim().is_empty()),
        Err(_) => true,
    });
    let mut head: Vec<(usize, Vec<String>)> = Vec::with_capacity(HEADER_SCAN_ROWS);
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
        .map(|(i, (_, cells))| (i, matched_count(cells, spec.columns)))
        .fold((0, 0), |best, cur| if cur.1 > best.1 { cur } else { best });
    let mapping = map_header(&head[header_pos].1, spec.columns);
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
    let data = head.into_iter().skip(header_pos + 1).map(Ok).chain(rows);
    for r in data {
        let (line, raw) = r?;
        let cells: Vec<String> = mapping
            .iter()
            .map(|m| {
                m.and_then(|src| raw.get(src))
                    .map_or_else(String::new, |s| s.trim().to_string())
            })
            .collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if out.len() >= max_rows {
            return Err(SheetError::TooManyRows { limit: max_rows });
        }
        out.push(RawRow { line, cells });
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

fn read_csv(bytes: &[u8], spec: &Columns<'_>, max_rows: usize) -> Result<Vec<RawRow>, SheetError> {
    let text = decode_text(bytes)?;
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
        let cells = rec.iter().map(|f| unwrap_csv_cell(f).to_string()).collect();
        Ok((sheet_row, cells))
    });
    build_rows(records, spec, max_rows)
}

// ------------------------------------------------------------- workbooks ---

fn read_workbook(
    bytes: &[u8],
    spec: &Columns<'_>,
    max_rows: usize,
) -> Result<Vec<RawRow>, SheetError> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| SheetError::Unreadable(format!("文件已损坏或不是有效的 Excel 文件（{e}）")))?;
    let names = book.sheet_names();
    let mut first_error = None;
    for name in &names {
        let range = book
            .worksheet_range(name)
            .map_err(|e| SheetError::Unreadable(format!("无法读取工作表“{name}”（{e}）")))?;
        match range_rows(&range, spec, max_rows) {
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

fn range_rows(
    range: &Range<Data>,
    spec: &Columns<'_>,
    max_rows: usize,
) -> Result<Vec<RawRow>, SheetError> {
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, row)| Ok((first_row + i + 1, row.iter().map(cell_text).collect())));
    build_rows(rows, spec, max_rows)
}

/// Renders a cell the way a person would read it in Excel.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => {
            if dt.is_datetime() {
                let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
                if (hh, mm, ss) == (0, 0, 0) {
                    format!("{y:04}-{m:02}-{d:02}")
                } else {
                    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
                }
            } else {
                float_text(dt.as_f64())
            }
        }
        Data::DateTimeIso(s) => s.strip_suffix("T00:00:00").unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

/// Whole numbers without ".0" (an 18-digit ID typed as a number comes back
/// as the digits Excel kept); fractions with at most 15 significant digits,
/// as Excel displays them, so 0.1+0.2 reads "0.3".
fn float_text(f: f64) -> String {
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
    fn csv_cell_unwrapping() {
        assert_eq!(
            unwrap_csv_cell("=\"110105194912310021\""),
            "110105194912310021"
        );
        assert_eq!(unwrap_csv_cell("'0571"), "0571");
        assert_eq!(unwrap_csv_cell("'"), "'");
    }
}
