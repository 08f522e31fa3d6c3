//! Crafted and corrupted workbooks (issue 10, items 1 and 9): each must be
//! read correctly when its content is legitimate, or refused with a Chinese
//! [`SheetError`] quickly and in bounded memory; never a panic or an
//! allocation sized by what the file declares.
//!
//! The workbooks are written by hand (ZIP container and XML) so that sizes
//! can lie and structures can be absurd. `memory_bound` (ignored; run it in
//! release) prints the peak RSS of the worst cases.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use proptest::prelude::*;

use crate::read::read_with_limits;
use crate::xlsx::{Limits, column_letters};
use crate::*;

// ------------------------------------------------------------ zip writer ---

struct Part {
    name: String,
    /// Bytes as stored in the archive (deflated unless `method` is 0).
    data: Vec<u8>,
    method: u16,
    /// Uncompressed size written in the headers (may lie).
    declared: u32,
}

fn deflated(name: &str, xml: &[u8]) -> Part {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
    e.write_all(xml).unwrap();
    Part {
        name: name.into(),
        data: e.finish().unwrap(),
        method: 8,
        declared: xml.len() as u32,
    }
}

fn stored(name: &str, xml: &[u8]) -> Part {
    Part {
        name: name.into(),
        data: xml.to_vec(),
        method: 0,
        declared: xml.len() as u32,
    }
}

/// A part whose XML is produced by `write`, deflated as it is written (so
/// a GiB-sized part never exists uncompressed). Declares its true size
/// (saturated at u32) unless changed afterwards.
fn deflated_stream(name: &str, write: impl FnOnce(&mut dyn Write)) -> Part {
    struct Counting<W> {
        inner: W,
        n: u64,
    }
    impl<W: Write> Write for Counting<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(b)?;
            self.n += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut w = Counting {
        inner: DeflateEncoder::new(Vec::new(), Compression::fast()),
        n: 0,
    };
    write(&mut w);
    Part {
        name: name.into(),
        declared: w.n.min(u64::from(u32::MAX)) as u32,
        data: w.inner.finish().unwrap(),
        method: 8,
    }
}

fn zip(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for p in parts {
        let offset = out.len() as u32;
        let name = p.name.as_bytes();
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&p.method.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked)
            v.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
            v.extend_from_slice(&p.declared.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(&p.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

// ----------------------------------------------------------- xlsx parts ---

const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// The parts of a one-sheet workbook around `sheet` (xl/worksheets/sheet1.xml);
/// `extra` adds or replaces parts (sharedStrings, styles…).
fn workbook(sheet: Part, extra: Vec<Part>, store: bool) -> Vec<u8> {
    let part = if store { stored } else { deflated };
    let mut parts = vec![
        part(
            "[Content_Types].xml",
            br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
        ),
        part(
            "_rels/.rels",
            format!(
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            )
            .as_bytes(),
        ),
        part(
            "xl/workbook.xml",
            format!(
                r#"<?xml version="1.0"?><workbook {NS}><workbookPr/><sheets><sheet name="家庭成员" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            )
            .as_bytes(),
        ),
        part(
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="{REL}/styles" Target="styles.xml"/></Relationships>"#
            )
            .as_bytes(),
        ),
        sheet,
    ];
    for p in extra {
        parts.retain(|q| q.name != p.name);
        parts.push(p);
    }
    zip(&parts)
}

fn sheet_xml(dimension: Option<&str>, rows: &str) -> String {
    let dim = dimension.map_or(String::new(), |d| format!(r#"<dimension ref="{d}"/>"#));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {NS}>{dim}<sheetData>{rows}</sheetData></worksheet>"#
    )
}

fn xlsx(dimension: Option<&str>, rows: &str) -> Vec<u8> {
    workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(dimension, rows).as_bytes(),
        ),
        vec![],
        false,
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn inline_cell(col: usize, line: usize, text: &str) -> String {
    format!(
        r#"<c r="{}{line}" t="inlineStr"><is><t>{}</t></is></c>"#,
        column_letters(col),
        esc(text)
    )
}

/// Row 1: the template header.
fn header_row() -> String {
    let cells: String = TEMPLATE_COLUMNS
        .iter()
        .enumerate()
        .map(|(c, h)| inline_cell(c, 1, h))
        .collect();
    format!(r#"<row r="1">{cells}</row>"#)
}

/// A data row with every template column filled.
fn data_row(line: usize) -> String {
    let cells: String = (0..TEMPLATE_COLUMNS.len())
        .map(|c| match c {
            col::INCOME => format!(r#"<c r="{}{line}"><v>1234.5</v></c>"#, column_letters(c)),
            _ => inline_cell(c, line, &format!("值{c}-{line}")),
        })
        .collect();
    format!(r#"<row r="{line}">{cells}</row>"#)
}

/// `read_table` with a time check: hostile files must be dealt with fast.
fn read_quickly(bytes: &[u8], max_rows: usize) -> Result<Vec<RawRow>, SheetError> {
    let started = Instant::now();
    let r = read_table("x.xlsx", bytes, max_rows);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    r
}

fn too_large(r: Result<Vec<RawRow>, SheetError>, needle: &str) -> String {
    match r {
        Err(e @ SheetError::TooLarge(_)) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg}");
            msg
        }
        other => panic!("expected TooLarge containing {needle:?}, got {other:?}"),
    }
}

fn is_chinese(msg: &str) -> bool {
    msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

// ------------------------------------------------------- legitimate use ---

#[test]
fn hand_written_workbook_reads() {
    let rows = format!("{}{}{}", header_row(), data_row(2), data_row(3));
    let got = read_quickly(&xlsx(Some("A1:S3"), &rows), 10).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].line, 2);
    assert_eq!(got[1].cells[col::NAME], "值6-3");
    assert_eq!(got[1].cells[col::INCOME], "1234.5");
}

#[test]
fn shared_strings_rich_text_and_escapes() {
    let sst = format!(
        r#"<?xml version="1.0"?><sst {NS} count="3" uniqueCount="3"><si><t>张三</t></si><si><r><rPr><b/></rPr><t xml:space="preserve">李</t></r><r><t>四</t></r><rPh sb="0" eb="1"><t>リ</t></rPh></si><si><t>A&amp;B_x000D_C</t></si></sst>"#
    );
    let rows = format!(
        r#"{}<row r="2"><c r="A2" t="s"><v>0</v></c><c r="G2" t="s"><v>1</v></c><c r="H2" t="s"><v>2</v></c><c r="I2" t="b"><v>1</v></c><c r="J2" t="e"><v>#N/A</v></c><c r="K2" t="str"><v>x</v></c></row>"#,
        header_row()
    );
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![deflated("xl/sharedStrings.xml", sst.as_bytes())],
        false,
    );
    let got = read_quickly(&bytes, 10).unwrap();
    assert_eq!(got[0].cells[col::KEY], "张三");
    assert_eq!(got[0].cells[col::NAME], "李四");
    assert_eq!(got[0].cells[col::ID], "A&B\rC");
    assert_eq!(got[0].cells[col::PHONE], "TRUE");
    assert_eq!(got[0].cells[col::DIS_TYPE], "#N/A");
    assert_eq!(got[0].cells[col::DIS_GRADE], "x");
}

#[test]
fn dates_follow_the_styles_part() {
    let styles = format!(
        r#"<?xml version="1.0"?><styleSheet {NS}><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts><cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs></styleSheet>"#
    );
    let rows = format!(
        r#"{}<row r="2"><c r="A2"><v>45052</v></c><c r="B2" s="1"><v>45052</v></c><c r="S2" s="2"><v>45052.5</v></c></row>"#,
        header_row()
    );
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![deflated("xl/styles.xml", styles.as_bytes())],
        false,
    );
    let got = read_quickly(&bytes, 10).unwrap();
    assert_eq!(got[0].cells[col::KEY], "45052");
    assert_eq!(got[0].cells[col::VILLAGE], "2023-05-06");
    assert_eq!(got[0].cells[col::CAT_START], "2023-05-06 12:00:00");
}

#[test]
fn huge_declared_dimension_inside_the_grid_is_only_a_declaration() {
    // Excel declares wide ranges for formatted empty cells: not a reason to
    // refuse, and never a reason to allocate.
    let rows = format!("{}{}", header_row(), data_row(2));
    let got = read_quickly(&xlsx(Some("A1:XFD1048576"), &rows), 10).unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn dimension_outside_the_grid_is_refused_early() {
    let rows = format!("{}{}", header_row(), data_row(2));
    for dim in ["A1:XFE1", "A1:A1048577", "A1:ZZZ99999999999999"] {
        too_large(
            read_quickly(&xlsx(Some(dim), &rows), 10),
            "超出 Excel 的最大范围",
        );
    }
}

#[test]
fn sparse_corner_cell_is_refused() {
    // The 9 KB file of the issue: a header and one cell at XFD1048576.
    let rows = format!(
        r#"{}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
        header_row()
    );
    let bytes = xlsx(Some("A1:XFD1048576"), &rows);
    assert!(bytes.len() < 10_000);
    let msg = too_large(read_quickly(&bytes, 200_000), "第 1048576 行 XFD 列有内容");
    assert!(msg.contains("200 列"), "{msg}");
}

#[test]
fn far_corner_cell_within_the_columns_reads() {
    let rows = format!("{}{}", header_row(), data_row(1_048_576));
    let got = read_quickly(&xlsx(Some("A1:S1048576"), &rows), 10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].line, 1_048_576);
}

#[test]
fn a_million_empty_rows_cost_nothing() {
    // Numbered, unnumbered and styled empty rows.
    let mut rows = header_row();
    rows.push_str(&data_row(2));
    for i in 3..=700_000 {
        rows.push_str(&format!(
            r#"<row r="{i}" spans="1:19" s="1" customFormat="1"/>"#
        ));
    }
    for _ in 700_001..=1_048_575 {
        rows.push_str("<row></row>");
    }
    rows.push_str(
        r#"<row r="1048576"><c r="A1048576" s="1"/><c r="B1048576" t="s"><v></v></c></row>"#,
    );
    let bytes = xlsx(Some("A1:S1048576"), &rows);
    let got = read_quickly(&bytes, 200_000).unwrap();
    assert_eq!(got.len(), 1);
    // One row too many.
    rows.push_str("<row><c><v>1</v></c></row>");
    let bytes = xlsx(None, &rows);
    too_large(read_quickly(&bytes, 200_000), "最大行数");
}

#[test]
fn too_many_rows_stop_the_stream() {
    let mut rows = header_row();
    for line in 2..=1_002 {
        rows.push_str(&data_row(line));
    }
    let r = read_quickly(&xlsx(None, &rows), 1_000);
    assert!(
        matches!(r, Err(SheetError::TooManyRows { limit: 1_000 })),
        "{r:?}"
    );
}

// ------------------------------------------------------------- formulas ---

#[test]
fn formula_cells_are_refused_with_row_and_column() {
    let rows = format!(
        r#"{}<row r="2"><c r="A2" t="inlineStr"><is><t>户1</t></is></c></row><row r="5"><c r="A5" t="inlineStr"><is><t>户1</t></is></c><c r="P5"><f>1000*1000</f><v>1000000</v></c></row>"#,
        header_row().replace("月收入(元)", "月收入")
    );
    let e = read_quickly(&xlsx(None, &rows), 10).unwrap_err();
    assert!(matches!(e, SheetError::Formulas { total: 1, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "第 5 行「月收入」列是公式（=1000*1000），请粘贴为数值后重新上传（选中这些单元格，复制后“选择性粘贴 → 数值”）"
    );
}

#[test]
fn shared_formulas_are_all_counted() {
    // Master cell and its dependents; a formula in an unread column and one
    // in a blank row are not the user's data.
    let mut rows = header_row();
    rows.push_str(r#"<row r="2"><c r="A2"><v>1</v></c><c r="P2"><f t="shared" ref="P2:P40" si="0">A2*2</f><v>2</v></c><c r="Z2"><f>1+1</f><v>2</v></c></row>"#);
    for line in 3..=40 {
        rows.push_str(&format!(
            r#"<row r="{line}"><c r="A{line}"><v>1</v></c><c r="P{line}"><f t="shared" si="0"/><v>2</v></c></row>"#
        ));
    }
    rows.push_str(r#"<row r="41"><c r="P41"><f>IF(A41="","",1)</f><v></v></c></row>"#);
    let e = read_quickly(&xlsx(None, &rows), 10).unwrap_err();
    let SheetError::Formulas { cells, total } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*total, 39);
    assert_eq!(cells.len(), 10);
    assert_eq!(cells[0].formula, "A2*2");
    assert_eq!(cells[1].formula, "");
    let msg = e.to_string();
    assert!(
        msg.starts_with("第 2 行「月收入(元)」列是公式（=A2*2）；第 3 行「月收入(元)」列是公式；"),
        "{msg}"
    );
    assert!(
        msg.contains("等，共 39 个公式单元格，请粘贴为数值后重新上传"),
        "{msg}"
    );
}

#[test]
fn formulas_written_by_excel_writers_are_refused() {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in TEMPLATE_COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, col::KEY as u16, "N1").unwrap();
    ws.write_formula(1, col::INCOME as u16, "=1000*1000")
        .unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let e = read_table("f.xlsx", &bytes, 10).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("第 2 行「月收入(元)」列是公式（=1000*1000）"),
        "{e}"
    );
    // Feed tables too.
    let kind = FeedKind::all()[0];
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in kind.columns().iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
        ws.write_string(1, c as u16, "x").unwrap();
    }
    ws.write_formula(1, 0, "=\"x\"&\"y\"").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let e = read_feed_table(kind, "feed.xlsx", &bytes, 10).unwrap_err();
    assert!(matches!(e, SheetError::Formulas { total: 1, .. }), "{e:?}");
}

// ------------------------------------------------------------ zip bombs ---

#[test]
fn declared_huge_entry_is_refused_before_inflating() {
    let rows = format!("{}{}", header_row(), data_row(2));
    let mut sheet = deflated(
        "xl/worksheets/sheet1.xml",
        sheet_xml(None, &rows).as_bytes(),
    );
    sheet.declared = u32::MAX - 1;
    let msg = too_large(
        read_quickly(&workbook(sheet, vec![], false), 10),
        "超过上限 512 MB",
    );
    assert!(msg.contains("工作表"), "{msg}");
}

#[test]
fn lying_entry_is_cut_at_the_cap() {
    // Declares 1 KB, inflates to 6 MB of empty rows; a 4 MiB cap stops it.
    let limits = Limits {
        sheet_xml: 4 * 1024 * 1024,
        ..Limits::DEFAULT
    };
    let mut sheet = deflated_stream("xl/worksheets/sheet1.xml", |w| {
        write!(w, r#"<worksheet {NS}><sheetData>{}"#, header_row()).unwrap();
        for _ in 0..1_000_000 {
            w.write_all(b"<row/>").unwrap();
        }
        w.write_all(b"</sheetData></worksheet>").unwrap();
    });
    sheet.declared = 1000;
    let bytes = workbook(sheet, vec![], false);
    assert!(bytes.len() < 100_000, "{}", bytes.len());
    let r = read_with_limits(
        "x.xlsx",
        &bytes,
        TEMPLATE_COLUMNS,
        TEMPLATE_COLUMNS,
        10,
        &limits,
    );
    let msg = too_large(r, "解压后超过 4 MB");
    assert!(msg.contains("压缩炸弹"), "{msg}");
}

#[test]
fn bomb_of_one_text_run_stops_at_the_event_cap() {
    // 256 MiB of spaces in one text run, declared honestly (under the cap):
    // refused once the run passes 1 MiB, without buffering it.
    let mut sheet = deflated_stream("xl/worksheets/sheet1.xml", |w| {
        write!(w, r#"<worksheet {NS}><sheetData>{}"#, header_row()).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..256 {
            w.write_all(&spaces).unwrap();
        }
        w.write_all(b"</sheetData></worksheet>").unwrap();
    });
    sheet.declared = 1000;
    let bytes = workbook(sheet, vec![], false);
    too_large(read_quickly(&bytes, 10), "超过 1024 KB");
}

#[test]
fn deep_nesting_is_refused() {
    let rows = format!("{}{}", header_row(), "<x>".repeat(100_000));
    let r = read_quickly(&xlsx(None, &rows), 10);
    assert!(
        matches!(&r, Err(SheetError::Unreadable(m)) if m.contains("嵌套过深")),
        "{r:?}"
    );
}

#[test]
fn too_many_zip_entries_are_refused() {
    let parts: Vec<Part> = (0..10_001).map(|i| stored(&format!("f{i}"), b"")).collect();
    too_large(read_quickly(&zip(&parts), 10), "10001 个部件");
}

// ------------------------------------------------------ shared strings ---

#[test]
fn declared_shared_strings_bomb_is_refused_early() {
    let sst = format!(
        r#"<?xml version="1.0"?><sst {NS} count="4000000000" uniqueCount="4000000000"><si><t>x</t></si></sst>"#
    );
    let rows = format!("{}{}", header_row(), data_row(2));
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![deflated("xl/sharedStrings.xml", sst.as_bytes())],
        false,
    );
    too_large(read_quickly(&bytes, 10), "共享字符串表超过上限");
}

#[test]
fn shared_strings_count_bomb_is_refused() {
    // 4,000,001 one-character strings (no declared count): 68 MB of XML in
    // about 1 MB.
    let sst = deflated_stream("xl/sharedStrings.xml", |w| {
        write!(w, r#"<sst {NS}>"#).unwrap();
        for _ in 0..4_000_001 {
            w.write_all(b"<si><t>x</t></si>").unwrap();
        }
        w.write_all(b"</sst>").unwrap();
    });
    let rows = format!("{}{}", header_row(), data_row(2));
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![sst],
        false,
    );
    assert!(bytes.len() < 2_000_000, "{}", bytes.len());
    too_large(
        read_quickly(&bytes, 10),
        "共享字符串表超过上限（最多 4000000 条",
    );
}

#[test]
fn shared_strings_text_bomb_is_refused() {
    // 3,000 strings of 30,000 characters: 90 MB of text > 64 MiB.
    let sst = deflated_stream("xl/sharedStrings.xml", |w| {
        write!(w, r#"<sst {NS}>"#).unwrap();
        let long = "字".repeat(10_000);
        for _ in 0..3_000 {
            write!(w, "<si><t>{long}</t></si>").unwrap();
        }
        w.write_all(b"</sst>").unwrap();
    });
    let rows = format!("{}{}", header_row(), data_row(2));
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![sst],
        false,
    );
    too_large(read_quickly(&bytes, 10), "64 MB 文字");
}

#[test]
fn shared_string_amplification_is_bounded() {
    // One 30,000-character string referenced by every cell: each row is
    // 19 × 90 KB of text, over the 1 MiB row cap.
    let sst = format!(r#"<sst {NS}><si><t>{}</t></si></sst>"#, "字".repeat(30_000));
    let mut rows = header_row();
    for line in 2..=10_000 {
        rows.push_str(&format!(r#"<row r="{line}">"#));
        for c in 0..TEMPLATE_COLUMNS.len() {
            rows.push_str(&format!(
                r#"<c r="{}{line}" t="s"><v>0</v></c>"#,
                column_letters(c)
            ));
        }
        rows.push_str("</row>");
    }
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![deflated("xl/sharedStrings.xml", sst.as_bytes())],
        false,
    );
    too_large(read_quickly(&bytes, 200_000), "第 2 行的内容超过 1024 KB");
    // One such cell per row: the cap on the table's text (128 MiB, 8 MiB
    // here) stops it.
    let mut rows = header_row();
    for line in 2..=10_000 {
        rows.push_str(&format!(
            r#"<row r="{line}"><c r="A{line}" t="s"><v>0</v></c></row>"#
        ));
    }
    let bytes = workbook(
        deflated(
            "xl/worksheets/sheet1.xml",
            sheet_xml(None, &rows).as_bytes(),
        ),
        vec![deflated("xl/sharedStrings.xml", sst.as_bytes())],
        false,
    );
    let limits = Limits {
        table_text: 8 * 1024 * 1024,
        ..Limits::DEFAULT
    };
    let r = read_with_limits("x.xlsx", &bytes, &["户编号"], &["户编号"], 200_000, &limits);
    too_large(r, "表格中的文字超过 8 MB");
}

#[test]
fn missing_shared_string_and_bad_values_are_errors() {
    for cell in [
        r#"<c r="A2" t="s"><v>7</v></c>"#,
        r#"<c r="A2" t="n"><v>abc</v></c>"#,
        r#"<c r="A2" t="b"><v>2</v></c>"#,
        r#"<c r="A2" t="zz"><v>1</v></c>"#,
        r#"<c r="1A"><v>1</v></c>"#,
    ] {
        let rows = format!(r#"{}<row r="2">{cell}</row>"#, header_row());
        match read_quickly(&xlsx(None, &rows), 10) {
            Err(SheetError::Unreadable(m)) => assert!(m.contains("第 2 行 A 列"), "{m}"),
            other => panic!("{cell}: {other:?}"),
        }
    }
}

#[test]
fn overlong_cell_is_refused() {
    let rows = format!(
        "{}<row r=\"2\">{}</row>",
        header_row(),
        inline_cell(0, 2, &"x".repeat(40_000))
    );
    too_large(read_quickly(&xlsx(None, &rows), 10), "32767 个字符");
}

// ------------------------------------------------------- other formats ---

#[test]
fn old_formats_are_refused_and_renamed_xlsx_is_read() {
    for name in ["a.xls", "a.xlsb", "a.ods"] {
        let e = read_table(name, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 whatever", 10).unwrap_err();
        assert!(matches!(e, SheetError::UnsupportedExtension(_)), "{e:?}");
        assert!(e.to_string().contains("另存为"), "{e}");
    }
    let bytes = template_xlsx();
    assert_eq!(read_table("旧名字.xls", &bytes, 10).unwrap().len(), 2);
    // An encrypted .xlsx is a compound file, not a zip.
    let e = read_table("a.xlsx", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 whatever", 10).unwrap_err();
    assert!(e.to_string().contains("密码"), "{e}");
}

#[test]
fn csv_columns_are_bounded() {
    let header = TEMPLATE_COLUMNS.join(",");
    let row = vec!["x"; TEMPLATE_COLUMNS.len()].join(",");
    // Trailing empty fields (Excel exports the used range) are dropped.
    let csv = format!("{header}{}\n{row}{}\n", ",".repeat(300), ",".repeat(300));
    assert_eq!(read_table("a.csv", csv.as_bytes(), 10).unwrap().len(), 1);
    let csv = format!("{header}\n{row}{}y\n", ",".repeat(300));
    too_large(
        read_table("a.csv", csv.as_bytes(), 10),
        "第 2 行第 319 列有内容",
    );
    // A line of commas is refused before the csv crate allocates per field.
    let csv = format!("{header}\n{}\n", ",".repeat(5_000_000));
    too_large(
        read_table("a.csv", csv.as_bytes(), 10),
        "第 2 行超过 16384 列",
    );
}

#[test]
fn oversized_upload_is_refused() {
    let limits = Limits {
        file_bytes: 1000,
        ..Limits::DEFAULT
    };
    let big = vec![b'a'; 1001];
    let r = read_with_limits(
        "x.csv",
        &big,
        TEMPLATE_COLUMNS,
        TEMPLATE_COLUMNS,
        10,
        &limits,
    );
    too_large(r, "超过上限 0 MB");
}

// ----------------------------------------------------------- mutations ---

/// A small workbook exercising shared strings, styles, formulas-free cells
/// of every type, stored (uncompressed) so that mutations hit the XML.
fn stored_template() -> Vec<u8> {
    let sst = format!(
        r#"<sst {NS} count="2" uniqueCount="2"><si><t>张三</t></si><si><r><t>李</t></r><r><t>四</t></r></si></sst>"#
    );
    let styles = format!(
        r#"<styleSheet {NS}><numFmts><numFmt numFmtId="164" formatCode="yyyy/m/d"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs></styleSheet>"#
    );
    let rows = format!(
        r#"{}<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" s="1"><v>45000</v></c><c r="C2" t="b"><v>1</v></c><c r="D2" t="str"><v>a_x000D_b</v></c>{}</row>{}"#,
        header_row(),
        inline_cell(6, 2, "王五"),
        data_row(3)
    );
    workbook(
        stored(
            "xl/worksheets/sheet1.xml",
            sheet_xml(Some("A1:S3"), &rows).as_bytes(),
        ),
        vec![
            stored("xl/sharedStrings.xml", sst.as_bytes()),
            stored("xl/styles.xml", styles.as_bytes()),
        ],
        true,
    )
}

#[test]
fn mutation_templates_are_valid() {
    assert_eq!(
        read_table("s.xlsx", &stored_template(), 10).unwrap().len(),
        2
    );
    assert_eq!(read_table("t.xlsx", &template_xlsx(), 10).unwrap().len(), 2);
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match m {
            Mutation::Set(i, b) => bytes[i % len] = *b,
            Mutation::Insert(i, v) => {
                let at = i % len;
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
        }
    }
    bytes
}

/// Bytes that look like XML fragments, so that mutations of the stored
/// workbook produce interesting structures, not only syntax errors.
fn xml_noise() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(&b"<row>"[..]),
            Just(&b"</row>"[..]),
            Just(&b"<c r=\"XFD1048576\">"[..]),
            Just(&b"<c t=\"s\"><v>99</v></c>"[..]),
            Just(&b"<f>1+1</f>"[..]),
            Just(&b"<is><t>x</t></is>"[..]),
            Just(&b"</c>"[..]),
            Just(&b"<v>1e308</v>"[..]),
            Just(&b"&amp;"[..]),
            Just(&b"&bogus;"[..]),
            Just(&b"<row r=\"0\"/>"[..]),
            Just(&b"<dimension ref=\"A1:ZZZ9\"/>"[..]),
        ],
        1..6,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_stored_workbook_never_panics(ms in proptest::collection::vec(mutation(), 1..8)) {
        let bytes = apply(stored_template(), &ms);
        if let Err(e) = read_table("m.xlsx", &bytes, 10) {
            prop_assert!(is_chinese(&e.to_string()), "{e}");
        }
    }

    #[test]
    fn xml_noise_in_stored_workbook_never_panics(at in any::<usize>(), noise in xml_noise()) {
        let mut bytes = stored_template();
        // Insert inside the sheet part's data (keep zip offsets consistent by
        // replacing bytes rather than inserting).
        let len = bytes.len();
        let at = at % len;
        let end = (at + noise.len()).min(len);
        bytes[at..end].copy_from_slice(&noise[..end - at]);
        if let Err(e) = read_table("m.xlsx", &bytes, 10) {
            prop_assert!(is_chinese(&e.to_string()), "{e}");
        }
    }

    #[test]
    fn mutated_real_workbook_never_panics(ms in proptest::collection::vec(mutation(), 1..8)) {
        let bytes = apply(template_xlsx(), &ms);
        if let Err(e) = read_table("m.xlsx", &bytes, 10) {
            prop_assert!(is_chinese(&e.to_string()), "{e}");
        }
    }
}

// -------------------------------------------- calamine as the reference ---

/// What calamine (the previous reader) made of a cell, as text.
fn calamine_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => crate::read::float_text(*f),
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
                crate::read::float_text(dt.as_f64())
            }
        }
        Data::DateTimeIso(s) => s.strip_suffix("T00:00:00").unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

#[derive(Clone, Debug)]
enum Value {
    Text(String),
    Number(f64),
    Date(u16, u8, u8),
    Bool(bool),
    Blank,
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _&<>\"'中文户主\\-]{0,12}".prop_map(Value::Text),
        2 => prop_oneof![
            (-1e6f64..1e6).prop_map(Value::Number),
            (0u64..1_000_000_000_000_000_000).prop_map(|n| Value::Number(n as f64)),
        ],
        1 => (1950u16..2050, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Value::Date(y, m, d)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Blank),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Workbooks written by rust_xlsxwriter read the same as calamine read
    /// them (cell for cell, including numbers, dates, booleans and escapes).
    #[test]
    fn reads_like_calamine(grid in proptest::collection::vec(proptest::collection::vec(value(), 4), 1..30)) {
        let columns = ["甲", "乙", "丙", "丁"];
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
        for (c, h) in columns.iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        for (r, row) in grid.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, v) in row.iter().enumerate() {
                let c = c as u16;
                match v {
                    Value::Text(s) => { ws.write_string(r, c, s).unwrap(); }
                    Value::Number(f) => { ws.write_number(r, c, *f).unwrap(); }
                    Value::Date(y, m, d) => {
                        let dt = rust_xlsxwriter::ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                        ws.write_datetime_with_format(r, c, &dt, &date_format).unwrap();
                    }
                    Value::Bool(b) => { ws.write_boolean(r, c, *b).unwrap(); }
                    Value::Blank => {}
                }
            }
        }
        let bytes = wb.save_to_buffer().unwrap();

        use calamine::Reader;
        let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        let expected: Vec<(usize, Vec<String>)> = range
            .rows()
            .enumerate()
            .skip(1)
            .map(|(i, row)| {
                let mut cells: Vec<String> = row.iter().map(calamine_text).map(|s| s.trim().to_string()).collect();
                cells.resize(4, String::new());
                (i + 1, cells)
            })
            .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
            .collect();
        match read_table_columns("p.xlsx", &bytes, &columns, &columns, 1000) {
            Ok(rows) => {
                let got: Vec<(usize, Vec<String>)> = rows.into_iter().map(|r| (r.line, r.cells)).collect();
                prop_assert_eq!(got, expected);
            }
            Err(SheetError::Empty) => prop_assert!(expected.is_empty()),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

// ------------------------------------------------------- memory bound ---

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A dense, realistic import of `rows` data rows × 19 columns: names and
/// addresses in shared strings, IDs and incomes as numbers.
fn dense_workbook(rows: usize) -> Vec<u8> {
    let sst = deflated_stream("xl/sharedStrings.xml", |w| {
        write!(w, r#"<sst {NS}>"#).unwrap();
        for i in 0..rows {
            write!(
                w,
                "<si><t>张{i}</t></si><si><t>浙江省杭州市西湖区某某街道某某社区{i}号</t></si>"
            )
            .unwrap();
        }
        w.write_all(b"</sst>").unwrap();
    });
    let sheet = deflated_stream("xl/worksheets/sheet1.xml", |w| {
        write!(
            w,
            r#"<worksheet {NS}><dimension ref="A1:S{}"/><sheetData>{}"#,
            rows + 1,
            header_row()
        )
        .unwrap();
        for i in 0..rows {
            let line = i + 2;
            write!(w, r#"<row r="{line}">"#).unwrap();
            for c in 0..TEMPLATE_COLUMNS.len() {
                let l = column_letters(c);
                match c {
                    col::NAME => write!(w, r#"<c r="{l}{line}" t="s"><v>{}</v></c>"#, 2 * i),
                    col::REG_ADDR | col::RES_ADDR => {
                        write!(w, r#"<c r="{l}{line}" t="s"><v>{}</v></c>"#, 2 * i + 1)
                    }
                    col::ID => write!(
                        w,
                        r#"<c r="{l}{line}" t="inlineStr"><is><t>33010619700101{:04}</t></is></c>"#,
                        i % 10_000
                    ),
                    col::INCOME | col::PHONE | col::VILLAGE => {
                        write!(
                            w,
                            r#"<c r="{l}{line}"><v>{}</v></c>"#,
                            13_800_000_000u64 + i as u64
                        )
                    }
                    _ => write!(
                        w,
                        r#"<c r="{l}{line}" t="inlineStr"><is><t>值{c}</t></is></c>"#
                    ),
                }
                .unwrap();
            }
            w.write_all(b"</row>").unwrap();
        }
        w.write_all(b"</sheetData></worksheet>").unwrap();
    });
    workbook(sheet, vec![sst], false)
}

/// A named workbook builder.
type Case = (&'static str, fn() -> Vec<u8>);

/// The worst cases for memory and time.
fn worst_cases() -> Vec<Case> {
    vec![
        ("corner cell XFD1048576 (9 KB issue file)", || {
            xlsx(
                Some("A1:XFD1048576"),
                &format!(
                    r#"{}<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#,
                    header_row()
                ),
            )
        }),
        ("1,048,576 empty rows", || {
            let mut rows = format!("{}{}", header_row(), data_row(2));
            for i in 3..=1_048_576 {
                rows.push_str(&format!(r#"<row r="{i}"/>"#));
            }
            xlsx(Some("A1:S1048576"), &rows)
        }),
        (
            "sheet bomb: 600 MiB of empty cells, header says 1 KB",
            || {
                let mut sheet = deflated_stream("xl/worksheets/sheet1.xml", |w| {
                    write!(
                        w,
                        r#"<worksheet {NS}><sheetData>{}<row r="2">"#,
                        header_row()
                    )
                    .unwrap();
                    let chunk = br#"<c r="A2" s="1"/>"#.repeat(65_536);
                    let mut written = 0u64;
                    while written < 600 * 1024 * 1024 {
                        w.write_all(&chunk).unwrap();
                        written += chunk.len() as u64;
                    }
                    w.write_all(b"</row></sheetData></worksheet>").unwrap();
                });
                sheet.declared = 1024;
                workbook(sheet, vec![], false)
            },
        ),
        ("shared strings at both caps (4 M entries, 64 MiB)", || {
            let sst = deflated_stream("xl/sharedStrings.xml", |w| {
                write!(w, r#"<sst {NS}>"#).unwrap();
                for _ in 0..3_997_000 {
                    w.write_all(b"<si><t>x</t></si>").unwrap();
                }
                let long = "字".repeat(10_000);
                for _ in 0..2_300 {
                    write!(w, "<si><t>{long}</t></si>").unwrap();
                }
                w.write_all(b"</sst>").unwrap();
            });
            let rows = format!("{}{}", header_row(), data_row(2));
            workbook(
                deflated(
                    "xl/worksheets/sheet1.xml",
                    sheet_xml(None, &rows).as_bytes(),
                ),
                vec![sst],
                false,
            )
        }),
        ("shared string amplification (128 MiB text cap)", || {
            // Six 30,000-character cells per row (540 KB) referencing one
            // shared string, until the cap on the table's text.
            let sst = format!(r#"<sst {NS}><si><t>{}</t></si></sst>"#, "字".repeat(30_000));
            let mut rows = header_row();
            for line in 2..=400 {
                rows.push_str(&format!(r#"<row r="{line}">"#));
                for c in [
                    col::REG_ADDR,
                    col::RES_ADDR,
                    col::ILLNESS,
                    col::SELF_CARE,
                    col::EMPLOYMENT,
                    col::SCHOOLING,
                ] {
                    rows.push_str(&format!(
                        r#"<c r="{}{line}" t="s"><v>0</v></c>"#,
                        column_letters(c)
                    ));
                }
                rows.push_str("</row>");
            }
            workbook(
                deflated(
                    "xl/worksheets/sheet1.xml",
                    sheet_xml(None, &rows).as_bytes(),
                ),
                vec![deflated("xl/sharedStrings.xml", sst.as_bytes())],
                false,
            )
        }),
        ("dense 200,000 rows × 19 columns (accepted)", || {
            dense_workbook(200_000)
        }),
        (
            "200,000 rows × 19 distinct 16-byte shared strings (accepted)",
            || {
                let cells = 200_000 * TEMPLATE_COLUMNS.len();
                let sst = deflated_stream("xl/sharedStrings.xml", |w| {
                    write!(w, r#"<sst {NS}>"#).unwrap();
                    for i in 0..cells {
                        write!(w, "<si><t>{i:016}</t></si>").unwrap();
                    }
                    w.write_all(b"</sst>").unwrap();
                });
                let sheet = deflated_stream("xl/worksheets/sheet1.xml", |w| {
                    write!(w, r#"<worksheet {NS}><sheetData>{}"#, header_row()).unwrap();
                    for i in 0..200_000 {
                        write!(w, r#"<row r="{}">"#, i + 2).unwrap();
                        for c in 0..TEMPLATE_COLUMNS.len() {
                            let n = i * TEMPLATE_COLUMNS.len() + c;
                            write!(w, r#"<c t="s"><v>{n}</v></c>"#).unwrap();
                        }
                        w.write_all(b"</row>").unwrap();
                    }
                    w.write_all(b"</sheetData></worksheet>").unwrap();
                });
                workbook(sheet, vec![sst], false)
            },
        ),
        ("dense 250,000 rows (too many rows)", || {
            dense_workbook(250_000)
        }),
    ]
}

/// Peak RSS of reading each worst case in a fresh process (this test
/// binary, running `memory_probe`), VmHWM minus the RSS after loading the
/// file. Run: `cargo test -p doudi-sheets --release -- --ignored
/// --nocapture memory_bound`.
#[test]
#[ignore = "slow; run in release with --ignored --nocapture"]
fn memory_bound() {
    let dir = std::env::temp_dir().join(format!("doudi-sheets-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("| case | upload | result | time | peak RSS of the read |");
    println!("|---|---|---|---|---|");
    for (i, (name, build)) in worst_cases().into_iter().enumerate() {
        let path = dir.join(format!("{i}.xlsx"));
        let bytes = build();
        std::fs::write(&path, &bytes).unwrap();
        let size = bytes.len();
        drop(bytes);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "hostile_tests::memory_probe",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("DOUDI_SHEETS_PROBE", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let probe = stdout
            .lines()
            .find_map(|l| l.split_once("PROBE|").map(|(_, probe)| probe))
            .unwrap_or_else(|| {
                panic!(
                    "probe failed: {stdout} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let [outcome, secs, mib] =
            <[&str; 3]>::try_from(probe.split('|').collect::<Vec<_>>()).unwrap();
        println!(
            "| {name} | {:.1} MB | {outcome} | {secs} s | {mib} MiB |",
            size as f64 / 1e6
        );
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
}

/// One measurement for `memory_bound` (does nothing unless it set
/// DOUDI_SHEETS_PROBE).
#[test]
#[ignore = "driven by memory_bound"]
fn memory_probe() {
    let Ok(path) = std::env::var("DOUDI_SHEETS_PROBE") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    reset_peak();
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let result = read_table("x.xlsx", &bytes, 200_000);
    let took = started.elapsed();
    let peak = status_kib("VmHWM:");
    let outcome = match &result {
        Ok(rows) => format!("{} rows", rows.len()),
        Err(e) => e.to_string().chars().take(48).collect(),
    };
    println!(
        "PROBE|{}|{:.2}|{}",
        outcome.replace('|', "/"),
        took.as_secs_f64(),
        peak.saturating_sub(before) / 1024
    );
}
