//! PDF rendering for doudi: 公示 (public notices) and 告知书 / 决定书 (letters).
//!
//! Documents are typeset with [typst] used as a library. The templates are
//! compiled into the crate (`templates/*.typ`); the document data is handed to
//! the template as a virtual JSON file (`data.json`) that the template reads
//! with `json(...)`. User strings therefore only ever become typst *string
//! values* and are never parsed as markup or code: `#let x = 1`, `]`, `*`,
//! `$`, `@ref` … are rendered literally.
//!
//! Fonts are loaded at runtime (see [`fonts`]); no network access, no typst
//! packages.

mod fonts;
mod world;

pub use fonts::{FONT_DIR_ENV, NOTO_CJK_DIR};

use serde_json::{Value, json};

/// A 公示 (public notice) listing the households granted (or refused) help.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeDoc {
    /// e.g. `北山街道嘉南社区 最低生活保障 公示`.
    pub title: String,
    /// 村 / 社区 where the notice is posted.
    pub village: String,
    /// Introductory paragraph.
    pub intro: String,
    pub rows: Vec<NoticeLine>,
    /// Start of the posting period, `YYYY-MM-DD`.
    pub start: String,
    /// End of the posting period, `YYYY-MM-DD`.
    pub end: String,
    /// 监督电话 / how to raise an objection.
    pub objection_contact: String,
    /// e.g. `北山街道办事处`.
    pub issuer: String,
}

/// One line of the notice table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeLine {
    /// Already masked by the caller (e.g. `张*三`); rendered as is.
    pub name: String,
    pub household_size: i64,
    /// 救助项目.
    pub item: String,
    /// e.g. `1,200.00 元/月`, or empty (rendered as `—`).
    pub amount: String,
    /// 事由.
    pub reason: String,
}

/// An official letter: 审核确认决定书, 不予批准告知书, ….
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LetterDoc {
    /// e.g. `最低生活保障审核确认决定书`.
    pub title: String,
    /// 文号, e.g. `北街救决〔2024〕12号`.
    pub number: String,
    /// 送达对象; rendered followed by `：`.
    pub addressee: String,
    pub body_paragraphs: Vec<String>,
    /// Label / value table.
    pub facts: Vec<(String, String)>,
    pub issuer: String,
    /// `YYYY-MM-DD` (other strings are printed as given).
    pub date: String,
    /// e.g. `如不服，可在 60 日内申请行政复议或 6 个月内提起行政诉讼`.
    pub appeal_note: String,
}

/// Rendering errors; `Display` is in Chinese, for end users.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PdfError {
    /// No usable Chinese font was found; the string lists what was searched.
    #[error(
        "未找到中文字体：请安装 fonts-noto-cjk 软件包（apt-get install fonts-noto-cjk），或用环境变量 DOUDI_FONT_DIR 指定含中文字体的目录。{0}"
    )]
    NoFont(String),
    /// The typst template failed to compile / lay out.
    #[error("PDF 排版失败：{0}")]
    Compile(String),
    /// Export of the laid-out document to PDF failed.
    #[error("PDF 导出失败：{0}")]
    Export(String),
}

const NOTICE_TEMPLATE: &str = include_str!("templates/notice.typ");
const LETTER_TEMPLATE: &str = include_str!("templates/letter.typ");

/// Render a 公示 as PDF bytes.
pub fn notice_pdf(doc: &NoticeDoc) -> Result<Vec<u8>, PdfError> {
    let rows: Vec<Value> = doc
        .rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "size": r.household_size.to_string(),
                "item": r.item,
                "amount": r.amount,
                "reason": r.reason,
            })
        })
        .collect();
    let data = json!({
        "title": doc.title,
        "village": doc.village,
        "intro": doc.intro,
        "rows": rows,
        "period": format!("{}至{}", chinese_date(&doc.start), chinese_date(&doc.end)),
        "date": chinese_date(&doc.start),
        "objection": doc.objection_contact,
        "issuer": doc.issuer,
    });
    world::render(NOTICE_TEMPLATE, data)
}

/// Render a letter (告知书 / 决定书) as PDF bytes.
pub fn letter_pdf(doc: &LetterDoc) -> Result<Vec<u8>, PdfError> {
    let facts: Vec<Value> = doc.facts.iter().map(|(k, v)| json!([k, v])).collect();
    let data = json!({
        "title": doc.title,
        "number": doc.number,
        "addressee": doc.addressee,
        "body": doc.body_paragraphs,
        "facts": facts,
        "issuer": doc.issuer,
        "date": chinese_date(&doc.date),
        "appeal": doc.appeal_note,
    });
    world::render(LETTER_TEMPLATE, data)
}

/// Make sure the fonts are scanned (e.g. at server start-up, so the first
/// request does not pay for it). Returns the number of font faces found.
pub fn preload_fonts() -> Result<usize, PdfError> {
    fonts::fonts().map(|f| f.face_count())
}

/// `2024-05-06` → `2024年5月6日`; anything else is returned trimmed, unchanged.
fn chinese_date(s: &str) -> String {
    let s = s.trim();
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return s.to_string();
    };
    let num = |p: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    match (num(y, 4..=4), num(m, 1..=2), num(d, 1..=2)) {
        (Some(y), Some(m @ 1..=12), Some(d @ 1..=31)) => format!("{y}年{m}月{d}日"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
