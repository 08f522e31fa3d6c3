//! Streaming `.xlsx` / `.xlsm` reading in bounded memory.
//!
//! calamine (used before) allocates a worksheet's whole rectangle, loads
//! every shared string without a limit and inflates parts without a cap, so
//! a 9 KB file with one cell at XFD1048576 aborted the process. This reader
//! walks the ZIP container itself ([`zip`]), parses the XML parts as a
//! stream of events ([`xml`]) and hands out one row at a time; every
//! quantity that could grow with hostile input is bounded by [`Limits`],
//! checked before anything is allocated from it:
//!
//! * the upload (50 MiB) and the number of ZIP entries (10,000);
//! * each part's declared uncompressed size, refused up front, and the bytes
//!   actually inflated, counted while streaming (a header that lies about
//!   the size does not help): 512 MiB per worksheet, 256 MiB for the
//!   shared strings, 64 MiB for any other part, 640 MiB for the whole
//!   upload. A full 200,000-row import is 150–300 MB of worksheet XML, and
//!   parsing runs at about 110 MB/s, so this also bounds the time a hostile
//!   file can take (about 6 s);
//! * 1 MiB per XML tag or text run, 64 levels of nesting;
//! * the declared `<dimension>` only to refuse a range outside Excel's grid
//!   (it is never used to allocate: Excel legitimately declares wide ranges
//!   for formatted empty cells);
//! * rows and columns within Excel's grid (1,048,576 × 16,384); a non-empty
//!   cell beyond column 200 (GR) is an error, empty ones are ignored; empty
//!   rows are skipped without allocating, so 1,048,576 empty `<row>`s cost
//!   nothing;
//! * 10 million non-empty cells, 32,767 characters per cell (Excel's own
//!   limit), 1 MiB of text per row;
//! * shared strings: 4 million entries and 64 MiB of text, stored in one
//!   buffer with 4 bytes of index per entry;
//! * the data rows kept: the caller's `max_rows`, and 128 MiB of cell text
//!   (checked in `read::build_rows`, for CSV too).
//!
//! Formula cells are returned with their formula text so that the caller
//! can refuse them (see `read::build_rows`).

mod xml;
mod zip;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use calamine::{ExcelDateTime, ExcelDateTimeType};
use quick_xml::events::Event;

use self::xml::{Xml, attrs, unescape_ooxml};
use self::zip::{Archive, Entry};
use crate::SheetError;
use crate::read::{SourceRow, float_text};

pub(crate) use self::zip::{looks_like_cfb, looks_like_zip};

const MIB: u64 = 1024 * 1024;

/// Excel's grid.
const MAX_EXCEL_ROWS: u32 = 1_048_576;
const MAX_EXCEL_COLS: u32 = 16_384;
/// Excel's limit on the characters of one cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Bytes of formula text kept for the error message.
const FORMULA_TEXT_BYTES: usize = 200;

/// The bounds of the module documentation. [`Limits::DEFAULT`] is what the
/// public functions use; tests shrink some of them.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Size of the uploaded file (any format).
    pub file_bytes: usize,
    pub zip_entries: usize,
    /// Inflated bytes of one worksheet part.
    pub sheet_xml: u64,
    /// Inflated bytes of the shared strings part.
    pub strings_xml: u64,
    /// Inflated bytes of any other part read (workbook, relationships, styles).
    pub other_xml: u64,
    /// Inflated bytes of all parts read for one upload.
    pub total_xml: u64,
    /// Bytes of one XML tag or text run.
    pub xml_event: usize,
    pub xml_depth: usize,
    /// Columns read; a non-empty cell further right is an error.
    pub columns: usize,
    /// Non-empty cells read in the whole workbook.
    pub cells: u64,
    /// Text bytes of one row (all its cells).
    pub row_bytes: usize,
    pub shared_strings: usize,
    pub shared_string_bytes: usize,
    pub sheets: usize,
    /// Cell formats (`<xf>`) and number formats kept from the styles.
    pub styles: usize,
    /// Text bytes of all data cells returned.
    pub table_text: usize,
}

impl Limits {
    pub(crate) const DEFAULT: Limits = Limits {
        file_bytes: 50 * 1024 * 1024,
        zip_entries: 10_000,
        sheet_xml: 512 * MIB,
        strings_xml: 256 * MIB,
        other_xml: 64 * MIB,
        total_xml: 640 * MIB,
        xml_event: 1024 * 1024,
        xml_depth: 64,
        columns: 200,
        cells: 10_000_000,
        row_bytes: 1024 * 1024,
        shared_strings: 4_000_000,
        shared_string_bytes: 64 * 1024 * 1024,
        sheets: 1000,
        styles: 65_536,
        table_text: 128 * 1024 * 1024,
    };
}

/// How a number in a cell is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumFmt {
    Plain,
    DateTime,
    Duration,
}

/// Shared strings: one text buffer, `ends[i]` is where string `i` ends.
#[derive(Default)]
struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }
}

struct SheetRef {
    name: String,
    path: String,
}

/// An opened workbook: structure, shared strings and number formats read,
/// worksheets not yet.
pub(crate) struct Workbook<'a> {
    archive: Archive<'a>,
    sheets: Vec<SheetRef>,
    strings: SharedStrings,
    formats: Vec<NumFmt>,
    is_1904: bool,
    /// Inflated bytes still allowed for this upload.
    budget: Rc<Cell<u64>>,
    /// Non-empty cells still allowed for this upload.
    cells_left: Cell<u64>,
    limits: Limits,
}

struct Rel {
    id: String,
    kind: String,
    target: String,
}

fn corrupt(what: impl std::fmt::Display) -> SheetError {
    SheetError::Unreadable(format!("文件已损坏或不是有效的 Excel 文件（{what}）"))
}

/// Part name of a relationship target relative to the part in `base_dir`
/// (e.g. "xl/"): `/`-rooted targets are absolute, `..` climbs.
fn resolve(base_dir: &str, target: &str) -> String {
    let target = target.replace('\\', "/");
    let joined = match target.strip_prefix('/') {
        Some(abs) => abs.to_string(),
        None => format!("{base_dir}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn dir_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    }
}

/// 1-based column number of the letters of a cell reference.
fn column_number(letters: &str) -> Option<u32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n = 0u32;
    for b in letters.bytes() {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        n = n * 26 + u32::from(b.to_ascii_uppercase() - b'A' + 1);
    }
    Some(n)
}

/// Column letters of a 0-based column index.
pub(crate) fn column_letters(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A cell reference "B5" as (1-based row if any, 1-based column). Digits
/// are parsed saturating, so "A99999999999" is a huge row, not an error.
fn parse_ref(r: &str) -> Option<(Option<u64>, u32)> {
    let r = r.trim().trim_start_matches('$');
    let split = r
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(r.len());
    let (letters, digits) = r.split_at(split);
    let col = column_number(letters)?;
    let digits = digits.trim_start_matches('$');
    if digits.is_empty() {
        return Some((None, col));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let row = digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Some((Some(row), col))
}

/// The number format kind of a format code (calamine's rules, so dates read
/// as before): date/time tokens outside quotes and brackets make a date,
/// `[h]`-style elapsed time a duration.
fn format_kind(format: &str) -> NumFmt {
    let mut escaped = false;
    let mut is_quote = false;
    let mut brackets = 0u8;
    let mut prev = ' ';
    let mut hms = false;
    let mut ap = false;
    for s in format.chars() {
        match (s, escaped, is_quote, ap, brackets) {
            (_, true, ..) => escaped = false,
            ('_' | '\\' | '*', ..) => escaped = true,
            ('"', _, true, _, _) => is_quote = false,
            (_, _, true, _, _) => (),
            ('"', _, _, _, _) => is_quote = true,
            (';', ..) => return NumFmt::Plain,
            ('[', ..) => brackets = brackets.saturating_add(1),
            (']', .., 1) if hms => return NumFmt::Duration,
            (']', ..) => brackets = brackets.saturating_sub(1),
            ('a' | 'A', _, _, false, 0) => ap = true,
            ('p' | 'm' | '/' | 'P' | 'M', _, _, true, 0) => return NumFmt::DateTime,
            ('d' | 'm' | 'h' | 'y' | 's' | 'D' | 'M' | 'H' | 'Y' | 'S', _, _, false, 0) => {
                return NumFmt::DateTime;
            }
            _ => {
                if hms && s.eq_ignore_ascii_case(&prev) {
                } else {
                    hms = prev == '[' && matches!(s, 'm' | 'h' | 's' | 'M' | 'H' | 'S');
                }
            }
        }
        prev = s;
    }
    NumFmt::Plain
}

fn builtin_format(id: u32) -> NumFmt {
    match id {
        14..=22 | 27..=36 | 45 | 47 | 50..=58 => NumFmt::DateTime,
        46 => NumFmt::Duration,
        _ => NumFmt::Plain,
    }
}

impl<'a> Workbook<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, SheetError> {
        let archive = Archive::open(bytes, limits)?;
        let mut book = Workbook {
            archive,
            sheets: Vec::new(),
            strings: SharedStrings::default(),
            formats: Vec::new(),
            is_1904: false,
            budget: Rc::new(Cell::new(limits.total_xml)),
            cells_left: Cell::new(limits.cells),
            limits: limits.clone(),
        };

        // _rels/.rels names the workbook part (normally xl/workbook.xml).
        let workbook_path = book
            .read_rels("_rels/.rels")?
            .into_iter()
            .find(|r| r.kind.ends_with("/officeDocument"))
            .map(|r| resolve("", &r.target))
            .unwrap_or_else(|| "xl/workbook.xml".to_string());
        let base = dir_of(&workbook_path).to_string();
        let file = &workbook_path[base.len()..];
        let rels = book.read_rels(&format!("{base}_rels/{file}.rels"))?;
        let (sheets, is_1904) = book.read_workbook_part(&workbook_path, &rels)?;
        book.sheets = sheets;
        book.is_1904 = is_1904;

        let rel_part = |suffix: &str, fallback: &str| {
            rels.iter()
                .find(|r| r.kind.ends_with(suffix))
                .map(|r| resolve(&base, &r.target))
                .unwrap_or_else(|| format!("{base}{fallback}"))
        };
        let styles = rel_part("/styles", "styles.xml");
        book.formats = book.read_styles(&styles)?;
        let strings = rel_part("/sharedStrings", "sharedStrings.xml");
        book.strings = book.read_shared_strings(&strings)?;
        Ok(book)
    }

    pub(crate) fn sheet_count(&self) -> usize {
        self.sheets.len()
    }

    fn entry(&self, path: &str) -> Option<Entry<'a>> {
        self.archive.find(path)
    }

    fn xml(&self, entry: &Entry<'a>, part: String, cap: u64) -> Result<Xml<'a>, SheetError> {
        let source = self.archive.open_entry(entry, cap, &part)?;
        Ok(Xml::new(
            source,
            part,
            cap,
            self.budget.clone(),
            &self.limits,
        ))
    }

    fn read_rels(&self, path: &str) -> Result<Vec<Rel>, SheetError> {
        let Some(entry) = self.entry(path) else {
            return Ok(Vec::new());
        };
        let mut xml = self.xml(&entry, format!("关系文件 {path} "), self.limits.other_xml)?;
        let mut rels = Vec::new();
        loop {
            match xml.next()? {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                    let [id, kind, target, mode] =
                        attrs(&e, ["Id", "Type", "Target", "TargetMode"])?;
                    if mode.as_deref() == Some("External") {
                        continue;
                    }
                    if rels.len() >= self.limits.zip_entries {
                        return Err(corrupt(format!("{path} 中的关系过多")));
                    }
                    if let (Some(id), Some(kind), Some(target)) = (id, kind, target) {
                        rels.push(Rel {
                            id: id.into_owned(),
                            kind: kind.into_owned(),
                            target: target.into_owned(),
                        });
                    }
                }
                Event::Eof => return Ok(rels),
                _ => {}
            }
        }
    }

    fn read_workbook_part(
        &self,
        path: &str,
        rels: &[Rel],
    ) -> Result<(Vec<SheetRef>, bool), SheetError> {
        let entry = self
            .entry(path)
            .ok_or_else(|| corrupt("缺少工作簿部件 xl/workbook.xml"))?;
        let base = dir_of(path);
        let mut xml = self.xml(&entry, "工作簿结构 ".into(), self.limits.other_xml)?;
        let mut sheets = Vec::new();
        let mut is_1904 = false;
        loop {
            match xml.next()? {
                Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                    "workbookPr" => {
                        let [d] = attrs(&e, ["date1904"])?;
                        is_1904 = matches!(d.as_deref(), Some("1" | "true"));
                    }
                    "sheet" => {
                        let [name, id] = attrs(&e, ["name", "id"])?;
                        let (Some(name), Some(id)) = (name, id) else {
                            continue;
                        };
                        // Chart sheets, dialog and macro sheets hold no table.
                        let Some(rel) = rels
                            .iter()
                            .find(|r| r.id == id && r.kind.ends_with("/worksheet"))
                        else {
                            continue;
                        };
                        if sheets.len() >= self.limits.sheets {
                            return Err(SheetError::TooLarge(format!(
                                "工作簿中的工作表超过 {} 个",
                                self.limits.sheets
                            )));
                        }
                        sheets.push(SheetRef {
                            name: name.into_owned(),
                            path: resolve(base, &rel.target),
                        });
                    }
                    _ => {}
                },
                // Nothing after the sheet list matters here.
                Event::End(e) if e.local_name().as_ref() == "sheets" => break,
                Event::Eof => break,
                _ => {}
            }
        }
        if sheets.is_empty() {
            return Err(SheetError::Empty);
        }
        Ok((sheets, is_1904))
    }

    fn read_styles(&self, path: &str) -> Result<Vec<NumFmt>, SheetError> {
        let Some(entry) = self.entry(path) else {
            return Ok(Vec::new());
        };
        let mut xml = self.xml(&entry, "样式部件 ".into(), self.limits.other_xml)?;
        let mut custom: HashMap<u32, NumFmt> = HashMap::new();
        let mut formats = Vec::new();
        let (mut in_numfmts, mut in_xfs) = (false, false);
        loop {
            let event = xml.next()?;
            let (e, start) = match &event {
                Event::Start(e) => (e, true),
                Event::Empty(e) => (e, false),
                Event::End(e) => {
                    match e.local_name().as_ref() {
                        "numFmts" => in_numfmts = false,
                        "cellXfs" => in_xfs = false,
                        _ => {}
                    }
                    continue;
                }
                Event::Eof => return Ok(formats),
                _ => continue,
            };
            match e.local_name().as_ref() {
                "numFmts" => in_numfmts = start,
                "cellXfs" => in_xfs = start,
                "numFmt" if in_numfmts && custom.len() < self.limits.styles => {
                    let [id, code] = attrs(e, ["numFmtId", "formatCode"])?;
                    if let (Some(id), Some(code)) = (id, code)
                        && let Ok(id) = id.trim().parse::<u32>()
                    {
                        custom.insert(id, format_kind(&code));
                    }
                }
                "xf" if in_xfs && formats.len() < self.limits.styles => {
                    let [id] = attrs(e, ["numFmtId"])?;
                    let kind = match id.and_then(|i| i.trim().parse::<u32>().ok()) {
                        Some(id) => custom
                            .get(&id)
                            .copied()
                            .unwrap_or_else(|| builtin_format(id)),
                        None => NumFmt::Plain,
                    };
                    formats.push(kind);
                }
                _ => {}
            }
        }
    }

    fn read_shared_strings(&self, path: &str) -> Result<SharedStrings, SheetError> {
        let Some(entry) = self.entry(path) else {
            return Ok(SharedStrings::default());
        };
        let limits = &self.limits;
        let too_many = || {
            SheetError::TooLarge(format!(
                "共享字符串表超过上限（最多 {} 条、{} MB 文字）",
                limits.shared_strings,
                limits.shared_string_bytes / (1024 * 1024)
            ))
        };
        let mut xml = self.xml(&entry, "共享字符串表 ".into(), limits.strings_xml)?;
        let mut out = SharedStrings::default();
        let mut scratch = String::new();
        loop {
            enum Next {
                Declared(Option<u64>),
                Si,
                EmptySi,
                Eof,
                None,
            }
            let next = match xml.next()? {
                Event::Start(e) if e.local_name().as_ref() == "sst" => {
                    let [count, unique] = attrs(&e, ["count", "uniqueCount"])?;
                    Next::Declared(unique.or(count).and_then(|c| c.trim().parse::<u64>().ok()))
                }
                Event::Start(e) if e.local_name().as_ref() == "si" => Next::Si,
                Event::Empty(e) if e.local_name().as_ref() == "si" => Next::EmptySi,
                Event::Eof => Next::Eof,
                _ => Next::None,
            };
            match next {
                // The declared count is only used to refuse early.
                Next::Declared(Some(c)) if c > limits.shared_strings as u64 => {
                    return Err(too_many());
                }
                Next::Si | Next::EmptySi if out.ends.len() >= limits.shared_strings => {
                    return Err(too_many());
                }
                Next::Si => {
                    let room = limits.shared_string_bytes - out.text.len();
                    let cap = room.min(MAX_CELL_CHARS * 4);
                    if !read_rich_text(&mut xml, &mut out.text, &mut scratch, cap)? {
                        return Err(if cap < MAX_CELL_CHARS * 4 {
                            too_many()
                        } else {
                            SheetError::TooLarge(
                                "共享字符串表中有超过 32767 个字符的文字（Excel 单元格的上限）"
                                    .into(),
                            )
                        });
                    }
                    out.ends.push(out.text.len() as u32);
                }
                Next::EmptySi => out.ends.push(out.text.len() as u32),
                Next::Eof => break,
                Next::Declared(_) | Next::None => {}
            }
        }
        out.text.shrink_to_fit();
        out.ends.shrink_to_fit();
        Ok(out)
    }

    /// The rows of worksheet `index` (workbook order), streamed.
    pub(crate) fn rows(&self, index: usize) -> Result<SheetRows<'_, 'a>, SheetError> {
        let sheet = &self.sheets[index];
        let part = format!("工作表“{}”", sheet.name);
        let entry = self
            .entry(&sheet.path)
            .ok_or_else(|| corrupt(format!("缺少{part}的内容 {}", sheet.path)))?;
        let xml = self.xml(&entry, part, self.limits.sheet_xml)?;
        Ok(SheetRows {
            book: self,
            xml,
            phase: Phase::Prelude,
            last_line: 0,
            row: None,
            value: String::new(),
            formula: String::new(),
            scratch: String::new(),
        })
    }
}

/// Reads the text of an `<si>` or `<is>` element whose `Start` was just read
/// (plain `<t>` or rich-text runs; phonetic `<rPh>` runs skipped) onto
/// `out`, at most `cap` bytes; whether it fit.
fn read_rich_text(
    xml: &mut Xml<'_>,
    out: &mut String,
    scratch: &mut String,
    cap: usize,
) -> Result<bool, SheetError> {
    let target = xml.depth() - 1;
    let start_len = out.len();
    let mut fits = true;
    loop {
        enum Next {
            T(bool),
            Skip,
            End,
            Eof,
            None,
        }
        let depth = xml.depth();
        let next = match xml.next()? {
            Event::Start(e) => match e.local_name().as_ref() {
                "t" => {
                    let [space] = attrs(&e, ["space"])?;
                    Next::T(space.as_deref() == Some("preserve"))
                }
                "r" => Next::None,
                _ => Next::Skip,
            },
            Event::End(_) if depth == target + 1 => Next::End,
            Event::Eof => Next::Eof,
            _ => Next::None,
        };
        match next {
            Next::T(preserve) => {
                scratch.clear();
                fits &= xml.read_text(scratch, cap)?;
                let text = if preserve {
                    scratch.as_str()
                } else {
                    scratch.trim_matches([' ', '\t', '\r', '\n'])
                };
                let text = unescape_ooxml(text);
                let used = out.len() - start_len;
                if used + text.len() > cap {
                    fits = false;
                } else {
                    out.push_str(&text);
                }
            }
            Next::Skip => xml.skip_element()?,
            Next::End => return Ok(fits),
            Next::Eof => return Err(xml.eof()),
            Next::None => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prelude,
    Data,
    Done,
}

/// The `t` attribute of a cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No `t`: a number, or text if it does not parse as one.
    Default,
    Number,
    Shared,
    Str,
    Inline,
    Bool,
    Error,
    Date,
    Unknown,
}

impl Kind {
    fn of(t: Option<&str>) -> Kind {
        match t {
            None => Kind::Default,
            Some("n") => Kind::Number,
            Some("s") => Kind::Shared,
            Some("str") => Kind::Str,
            Some("inlineStr" | "is") => Kind::Inline,
            Some("b") => Kind::Bool,
            Some("e") => Kind::Error,
            Some("d") => Kind::Date,
            Some(_) => Kind::Unknown,
        }
    }
}

/// What a `<c>` tag says, parsed while the tag is at hand (no allocation
/// unless something is wrong).
struct CellStart {
    /// The `r` reference: (row, 1-based column), or the bad text.
    pos: Option<Result<(Option<u64>, u32), String>>,
    style: Option<usize>,
    kind: Kind,
    /// The `t` text when it is unknown, for the message.
    unknown: Option<String>,
}

impl CellStart {
    fn parse(tag: &quick_xml::events::BytesStart<'_>) -> Result<CellStart, SheetError> {
        let [r, s, t] = attrs(tag, ["r", "s", "t"])?;
        let kind = Kind::of(t.as_deref());
        Ok(CellStart {
            pos: r.map(|r| parse_ref(&r).ok_or_else(|| r.chars().take(20).collect())),
            // As calamine: an unreadable style is the default style.
            style: s.map(|s| s.trim().parse::<usize>().unwrap_or(0)),
            kind,
            unknown: (kind == Kind::Unknown)
                .then(|| t.unwrap_or_default().chars().take(20).collect()),
        })
    }
}

/// The `r` attribute of a `<row>`: the 1-based row, or the bad text.
fn row_number(r: Option<&str>) -> Option<Result<u32, String>> {
    let r = r?.trim();
    Some(match r.parse::<u32>() {
        Ok(n) if (1..=MAX_EXCEL_ROWS).contains(&n) => Ok(n),
        _ => Err(r.chars().take(20).collect()),
    })
}

/// The row being assembled.
struct OpenRow {
    line: u32,
    /// Whether `line` came from the row's `r` attribute.
    explicit: bool,
    next_col: u32,
    cells: Vec<String>,
    formulas: Vec<(usize, String)>,
    bytes: usize,
}

/// The non-empty rows of one worksheet, in file order, as [`SourceRow`]s.
/// Empty rows (and empty cells) are skipped without allocating.
pub(crate) struct SheetRows<'b, 'a> {
    book: &'b Workbook<'a>,
    xml: Xml<'a>,
    phase: Phase,
    last_line: u32,
    row: Option<OpenRow>,
    value: String,
    formula: String,
    scratch: String,
}

impl SheetRows<'_, '_> {
    fn err_at(&self, line: u32, col: u32, what: impl std::fmt::Display) -> SheetError {
        corrupt(format!(
            "{}第 {line} 行 {} 列：{what}",
            self.xml.part(),
            column_letters(col as usize)
        ))
    }

    fn begin_row(&mut self, r: Option<Result<u32, String>>) -> Result<(), SheetError> {
        let (line, explicit) = match r {
            Some(Ok(n)) => (n, true),
            Some(Err(bad)) => {
                return Err(SheetError::TooLarge(format!(
                    "{}的行号“{bad}”超出 Excel 的范围（1 至 {MAX_EXCEL_ROWS}）",
                    self.xml.part()
                )));
            }
            None => (self.last_line + 1, false),
        };
        if line > MAX_EXCEL_ROWS {
            return Err(SheetError::TooLarge(format!(
                "{}超过 Excel 的最大行数 {MAX_EXCEL_ROWS}",
                self.xml.part()
            )));
        }
        self.last_line = line;
        self.row = Some(OpenRow {
            line,
            explicit,
            next_col: 0,
            cells: Vec::new(),
            formulas: Vec::new(),
            bytes: 0,
        });
        Ok(())
    }

    /// Closes the open row: `Some` if it has content.
    fn end_row(&mut self) -> Option<SourceRow> {
        let row = self.row.take()?;
        if row.cells.is_empty() && row.formulas.is_empty() {
            return None;
        }
        Some(SourceRow {
            line: row.line as usize,
            cells: row.cells,
            formulas: row.formulas,
        })
    }

    /// Places a cell in the open row: its 0-based column (and the row's
    /// line, which a `<row>` without `r` takes from its cells).
    fn place(
        &mut self,
        pos: Option<Result<(Option<u64>, u32), String>>,
    ) -> Result<(u32, u32), SheetError> {
        if self.row.is_none() {
            // A cell outside any <row>: a row of its own.
            self.begin_row(None)?;
        }
        let row = self.row.as_mut().expect("row opened above");
        let mut line = row.line;
        let col = match pos {
            Some(Ok((cell_row, col))) => {
                if let Some(cell_row) = cell_row
                    && !row.explicit
                    && cell_row != u64::from(line)
                {
                    if cell_row == 0 || cell_row > u64::from(MAX_EXCEL_ROWS) {
                        return Err(SheetError::TooLarge(format!(
                            "{}的单元格行号 {cell_row} 超出 Excel 的范围",
                            self.xml.part()
                        )));
                    }
                    line = cell_row as u32;
                    row.line = line;
                    row.explicit = true;
                    self.last_line = line;
                }
                col - 1
            }
            Some(Err(bad)) => {
                let next = row.next_col;
                return Err(self.err_at(line, next, format!("单元格位置“{bad}”无效")));
            }
            None => row.next_col,
        };
        if col >= MAX_EXCEL_COLS {
            return Err(SheetError::TooLarge(format!(
                "{}第 {line} 行超过 Excel 的最大列数 {MAX_EXCEL_COLS}",
                self.xml.part()
            )));
        }
        row.next_col = col + 1;
        Ok((line, col))
    }

    /// Reads the body of a `<c>` whose `Start` was just read into the open row.
    fn cell(&mut self, mut start: CellStart) -> Result<(), SheetError> {
        let (line, col) = self.place(start.pos.take())?;
        self.value.clear();
        self.formula.clear();
        let mut has_formula = false;
        let mut inline: Option<String> = None;
        let target = self.xml.depth() - 1;
        let value_cap = MAX_CELL_CHARS * 4;
        loop {
            enum Next {
                V,
                F,
                Is,
                Skip,
                None,
                End,
                Eof,
            }
            let depth = self.xml.depth();
            let next = match self.xml.next()? {
                Event::Start(e) => match e.local_name().as_ref() {
                    "v" => Next::V,
                    "f" => Next::F,
                    "is" => Next::Is,
                    _ => Next::Skip,
                },
                Event::Empty(e) => {
                    if e.local_name().as_ref() == "f" {
                        // A shared formula's dependent cell: <f t="shared" si="0"/>.
                        has_formula = true;
                    }
                    Next::None
                }
                Event::End(_) if depth == target + 1 => Next::End,
                Event::Eof => Next::Eof,
                _ => Next::None,
            };
            match next {
                Next::V => {
                    if !self.xml.read_text(&mut self.value, value_cap)? {
                        return Err(self.too_long(line, col));
                    }
                }
                Next::F => {
                    has_formula = true;
                    self.xml.read_text(&mut self.formula, FORMULA_TEXT_BYTES)?;
                }
                Next::Is => {
                    let mut s = String::new();
                    if !read_rich_text(&mut self.xml, &mut s, &mut self.scratch, value_cap)? {
                        return Err(self.too_long(line, col));
                    }
                    inline = Some(s);
                }
                Next::Skip => self.xml.skip_element()?,
                Next::None => {}
                Next::End => break,
                Next::Eof => return Err(self.xml.eof()),
            }
        }

        let text = self.cell_text(line, col, &start, inline)?;
        if text.is_empty() && !has_formula {
            return Ok(());
        }
        if text.len() > MAX_CELL_CHARS && text.chars().count() > MAX_CELL_CHARS {
            return Err(self.too_long(line, col));
        }
        let limits = &self.book.limits;
        if col as usize >= limits.columns {
            return Err(SheetError::TooLarge(format!(
                "{}第 {line} 行 {} 列有内容：每个工作表最多读取 {} 列（A 至 {} 列），请删除多余的列后重新上传",
                self.xml.part(),
                column_letters(col as usize),
                limits.columns,
                column_letters(limits.columns - 1)
            )));
        }
        let left = self.book.cells_left.get();
        if left == 0 {
            return Err(SheetError::TooLarge(format!(
                "工作表中有内容的单元格超过 {} 个",
                limits.cells
            )));
        }
        self.book.cells_left.set(left - 1);
        let row = self.row.as_mut().expect("row placed above");
        row.bytes += text.len();
        if row.bytes > limits.row_bytes {
            return Err(SheetError::TooLarge(format!(
                "{}第 {line} 行的内容超过 {} KB",
                self.xml.part(),
                limits.row_bytes / 1024
            )));
        }
        let col = col as usize;
        if row.cells.len() <= col {
            row.cells.resize(col + 1, String::new());
        }
        if has_formula {
            let mut f = self.formula.trim().to_string();
            if self.formula.len() >= FORMULA_TEXT_BYTES {
                f.push('…');
            }
            row.formulas.push((col, f));
        }
        row.cells[col] = text;
        Ok(())
    }

    fn too_long(&self, line: u32, col: u32) -> SheetError {
        SheetError::TooLarge(format!(
            "{}第 {line} 行 {} 列的内容超过 {MAX_CELL_CHARS} 个字符（Excel 单元格的上限）",
            self.xml.part(),
            column_letters(col as usize)
        ))
    }

    /// The text of a cell as a person reads it in Excel.
    fn cell_text(
        &self,
        line: u32,
        col: u32,
        start: &CellStart,
        inline: Option<String>,
    ) -> Result<String, SheetError> {
        let v = self.value.as_str();
        Ok(match start.kind {
            Kind::Inline => inline.unwrap_or_default(),
            Kind::Shared => {
                let v = v.trim();
                if v.is_empty() {
                    return Ok(String::new());
                }
                let i = v.parse::<usize>().ok();
                match i.and_then(|i| self.book.strings.get(i)) {
                    Some(s) => s.to_string(),
                    None => {
                        return Err(self.err_at(line, col, format!("共享字符串编号 {v} 不存在")));
                    }
                }
            }
            Kind::Str => unescape_ooxml(v).into_owned(),
            Kind::Bool => match v.trim() {
                "" => String::new(),
                "0" => "FALSE".into(),
                "1" => "TRUE".into(),
                t if t.eq_ignore_ascii_case("false") => "FALSE".into(),
                t if t.eq_ignore_ascii_case("true") => "TRUE".into(),
                t => return Err(self.err_at(line, col, format!("逻辑值“{t}”无效"))),
            },
            Kind::Error => v.trim().to_string(),
            Kind::Date => {
                let v = v.trim();
                v.strip_suffix("T00:00:00").unwrap_or(v).to_string()
            }
            Kind::Number | Kind::Default => {
                let t = v.trim();
                if t.is_empty() {
                    return Ok(String::new());
                }
                let Ok(f) = t.parse::<f64>() else {
                    if start.kind == Kind::Default {
                        return Ok(v.to_string());
                    }
                    return Err(self.err_at(line, col, format!("数值“{t}”无效")));
                };
                let fmt = match start.style {
                    Some(id) => self.book.formats.get(id).copied().unwrap_or(NumFmt::Plain),
                    None => NumFmt::Plain,
                };
                match fmt {
                    NumFmt::DateTime => {
                        let dt =
                            ExcelDateTime::new(f, ExcelDateTimeType::DateTime, self.book.is_1904);
                        let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
                        if (hh, mm, ss) == (0, 0, 0) {
                            format!("{y:04}-{m:02}-{d:02}")
                        } else {
                            format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
                        }
                    }
                    NumFmt::Duration | NumFmt::Plain => float_text(f),
                }
            }
            Kind::Unknown => {
                let t = start.unknown.as_deref().unwrap_or_default();
                return Err(self.err_at(line, col, format!("未知的单元格类型“{t}”")));
            }
        })
    }

    fn check_dimension(&self, dim: &str) -> Result<(), SheetError> {
        for part in dim.split(':') {
            if let Some((row, col)) = parse_ref(part)
                && (row.is_some_and(|r| r == 0 || r > u64::from(MAX_EXCEL_ROWS))
                    || col > MAX_EXCEL_COLS)
            {
                return Err(SheetError::TooLarge(format!(
                    "{}声明的范围“{}”超出 Excel 的最大范围（{MAX_EXCEL_ROWS} 行 × {MAX_EXCEL_COLS} 列），文件可能已被篡改",
                    self.xml.part(),
                    dim.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<SourceRow>, SheetError> {
        loop {
            match self.phase {
                Phase::Done => return Ok(None),
                Phase::Prelude => {
                    enum Next {
                        Dim(String),
                        Data,
                        Done,
                        Eof,
                        None,
                    }
                    let next = match self.xml.next()? {
                        Event::Start(e) | Event::Empty(e)
                            if e.local_name().as_ref() == "dimension" =>
                        {
                            let [r] = attrs(&e, ["ref"])?;
                            r.map_or(Next::None, |r| Next::Dim(r.into_owned()))
                        }
                        Event::Start(e) if e.local_name().as_ref() == "sheetData" => Next::Data,
                        Event::Empty(e) if e.local_name().as_ref() == "sheetData" => Next::Done,
                        Event::Eof => Next::Eof,
                        _ => Next::None,
                    };
                    match next {
                        Next::Dim(d) => self.check_dimension(&d)?,
                        Next::Data => self.phase = Phase::Data,
                        Next::Done => self.phase = Phase::Done,
                        Next::Eof => {
                            return Err(corrupt(format!(
                                "{}中没有表格数据（sheetData）",
                                self.xml.part()
                            )));
                        }
                        Next::None => {}
                    }
                }
                Phase::Data => {
                    enum Next {
                        Row(Option<Result<u32, String>>, bool),
                        RowEnd,
                        Cell(CellStart),
                        EmptyCell(Option<Result<(Option<u64>, u32), String>>),
                        Skip,
                        Done,
                        Eof,
                        None,
                    }
                    let next = match self.xml.next()? {
                        Event::Start(e) => match e.local_name().as_ref() {
                            "row" => {
                                let [r] = attrs(&e, ["r"])?;
                                Next::Row(row_number(r.as_deref()), false)
                            }
                            "c" => Next::Cell(CellStart::parse(&e)?),
                            _ => Next::Skip,
                        },
                        Event::Empty(e) => match e.local_name().as_ref() {
                            "row" => {
                                let [r] = attrs(&e, ["r"])?;
                                Next::Row(row_number(r.as_deref()), true)
                            }
                            "c" => {
                                // Only the position matters (formatted empty cell).
                                let [r] = attrs(&e, ["r"])?;
                                Next::EmptyCell(r.map(|r| {
                                    parse_ref(&r).ok_or_else(|| r.chars().take(20).collect())
                                }))
                            }
                            _ => Next::None,
                        },
                        Event::End(e) => match e.local_name().as_ref() {
                            "row" => Next::RowEnd,
                            "sheetData" => Next::Done,
                            _ => Next::None,
                        },
                        Event::Eof => Next::Eof,
                        _ => Next::None,
                    };
                    match next {
                        Next::Row(r, empty) => {
                            // An unclosed previous row ends here.
                            let pending = self.end_row();
                            self.begin_row(r)?;
                            if empty {
                                self.row = None;
                            }
                            if pending.is_some() {
                                return Ok(pending);
                            }
                        }
                        Next::RowEnd => {
                            if let Some(row) = self.end_row() {
                                return Ok(Some(row));
                            }
                        }
                        Next::Cell(start) => self.cell(start)?,
                        Next::EmptyCell(pos) => {
                            self.place(pos)?;
                        }
                        Next::Skip => self.xml.skip_element()?,
                        Next::Done => {
                            self.phase = Phase::Done;
                            if let Some(row) = self.end_row() {
                                return Ok(Some(row));
                            }
                        }
                        Next::Eof => return Err(self.xml.eof()),
                        Next::None => {}
                    }
                }
            }
        }
    }
}

impl Iterator for SheetRows<'_, '_> {
    type Item = Result<SourceRow, SheetError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance() {
            Ok(Some(row)) => Some(Ok(row)),
            Ok(None) => None,
            Err(e) => {
                self.phase = Phase::Done;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(parse_ref("A1"), Some((Some(1), 1)));
        assert_eq!(parse_ref("XFD1048576"), Some((Some(1_048_576), 16_384)));
        assert_eq!(parse_ref("$B$5"), Some((Some(5), 2)));
        assert_eq!(parse_ref("AB"), Some((None, 28)));
        assert_eq!(
            parse_ref("A99999999999999999999999"),
            Some((Some(u64::MAX), 1))
        );
        assert_eq!(parse_ref("ABCD1"), None);
        assert_eq!(parse_ref("1A"), None);
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(199), "GR");
        assert_eq!(column_letters(16_383), "XFD");
        assert_eq!(
            resolve("xl/", "worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            resolve("xl/", "/xl/worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            resolve("xl/", "../xl/sharedStrings.xml"),
            "xl/sharedStrings.xml"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(format_kind("yyyy/m/d"), NumFmt::DateTime);
        assert_eq!(format_kind("yyyy\"年\"m\"月\"d\"日\""), NumFmt::DateTime);
        assert_eq!(format_kind("[h]:mm:ss"), NumFmt::Duration);
        assert_eq!(format_kind("0.00"), NumFmt::Plain);
        assert_eq!(format_kind("@"), NumFmt::Plain);
        assert_eq!(format_kind("[Red]0.00"), NumFmt::Plain);
        assert_eq!(builtin_format(14), NumFmt::DateTime);
        assert_eq!(builtin_format(0), NumFmt::Plain);
    }
}
