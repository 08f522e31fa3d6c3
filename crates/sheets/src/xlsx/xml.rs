//! Bounded XML event reading on top of quick-xml.
//!
//! quick-xml grows its event buffer to the size of the largest tag or text
//! run and keeps the names of open elements; on hostile input both could
//! reach the size of the inflated part. [`Xml`] bounds them: every byte goes
//! through [`Limited`], which fails a read once the part has produced more
//! than its cap (zip bombs, including entries whose header lies about their
//! size) or once a single event has grown past [`Limits::xml_event`]; and
//! element nesting deeper than [`Limits::xml_depth`] or element names longer
//! than [`MAX_NAME`] are refused.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use quick_xml::events::{BytesRef, BytesStart, Event};

use super::Limits;
use crate::SheetError;

/// Longest element name accepted (OOXML names are short: `sheetData`, …).
const MAX_NAME: usize = 128;

/// Which limit a [`Limited`] read hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hit {
    None,
    /// The part inflated past its own cap.
    Part,
    /// The workbook's shared budget for worksheet XML ran out.
    Budget,
    /// One tag or text run is longer than the event cap.
    Event,
}

/// A `BufRead` that counts the bytes consumed and refuses to go past its
/// caps: `part_cap` for this stream, a shared `budget` for all worksheet
/// streams of one upload, and `event_cap` between two calls to
/// [`Limited::start_event`].
pub(crate) struct Limited<R> {
    inner: R,
    part_used: u64,
    part_cap: u64,
    budget: Rc<Cell<u64>>,
    event_used: usize,
    event_cap: usize,
    hit: Hit,
}

impl<R: BufRead> Limited<R> {
    fn allowance(&self) -> usize {
        let part = self.part_cap.saturating_sub(self.part_used);
        let budget = self.budget.get();
        let event = self.event_cap.saturating_sub(self.event_used) as u64;
        part.min(budget).min(event).try_into().unwrap_or(usize::MAX)
    }

    fn start_event(&mut self) {
        self.event_used = 0;
    }
}

impl<R: BufRead> Read for Limited<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Limited<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let allow = self.allowance();
        if allow == 0 {
            // At a cap: fine if the stream ends exactly here.
            if self.inner.fill_buf()?.is_empty() {
                return Ok(&[]);
            }
            self.hit = if self.event_used >= self.event_cap {
                Hit::Event
            } else if self.part_used >= self.part_cap {
                Hit::Part
            } else {
                Hit::Budget
            };
            return Err(io::Error::other("limit reached"));
        }
        let buf = self.inner.fill_buf()?;
        let n = buf.len().min(allow);
        Ok(&buf[..n])
    }

    fn consume(&mut self, n: usize) {
        self.part_used += n as u64;
        self.event_used += n;
        self.budget.set(self.budget.get().saturating_sub(n as u64));
        self.inner.consume(n);
    }
}

/// An XML part being read, with the limits of the module documentation.
pub(crate) struct Xml<'a> {
    reader: quick_xml::Reader<Limited<BufReader<Box<dyn Read + 'a>>>>,
    buf: Vec<u8>,
    state: State,
}

struct State {
    depth: usize,
    max_depth: usize,
    /// The part's name for messages, e.g. "工作表“Sheet1”".
    part: String,
}

type XmlReader<'a> = quick_xml::Reader<Limited<BufReader<Box<dyn Read + 'a>>>>;

/// The next event of `reader`, read into `buf`; see [`Xml::next`].
fn next_event<'b>(
    reader: &mut XmlReader<'_>,
    buf: &'b mut Vec<u8>,
    state: &mut State,
) -> Result<Event<'b>, SheetError> {
    buf.clear();
    if buf.capacity() > 64 * 1024 {
        // One long event must not keep its buffer for the rest of the part.
        buf.shrink_to(4096);
    }
    reader.get_mut().start_event();
    let event = match reader.read_event_into(buf) {
        Ok(e) => e,
        Err(e) => {
            let limited = reader.get_ref();
            let too_large = |what: String| SheetError::TooLarge(format!("{}{what}", state.part));
            return Err(match limited.hit {
                Hit::Part => too_large(format!(
                    "解压后超过 {} MB，这不是正常的表格文件（可能是“压缩炸弹”）",
                    limited.part_cap / (1024 * 1024)
                )),
                Hit::Budget => too_large(
                    "解压后的内容总量超过上限，请删除表格中多余的空行、空列或格式后重新保存".into(),
                ),
                Hit::Event => too_large(format!(
                    "中有一段内容超过 {} KB（单个单元格最多 32767 个字符）",
                    limited.event_cap / 1024
                )),
                Hit::None => SheetError::Unreadable(format!(
                    "文件已损坏或不是有效的 Excel 文件（{}：{e}）",
                    state.part
                )),
            });
        }
    };
    match &event {
        Event::Start(s) => {
            state.depth += 1;
            if state.depth > state.max_depth || s.name().as_ref().len() > MAX_NAME {
                return Err(SheetError::Unreadable(format!(
                    "文件已损坏或不是有效的 Excel 文件（{}的结构嵌套过深或元素名过长）",
                    state.part
                )));
            }
        }
        Event::End(_) => state.depth = state.depth.saturating_sub(1),
        _ => {}
    }
    Ok(event)
}

impl<'a> Xml<'a> {
    pub(crate) fn new(
        source: Box<dyn Read + 'a>,
        part: String,
        part_cap: u64,
        budget: Rc<Cell<u64>>,
        limits: &Limits,
    ) -> Self {
        let limited = Limited {
            inner: BufReader::with_capacity(64 * 1024, source),
            part_used: 0,
            part_cap,
            budget,
            event_used: 0,
            event_cap: limits.xml_event,
            hit: Hit::None,
        };
        let mut reader = quick_xml::Reader::from_reader(limited);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Xml {
            reader,
            buf: Vec::with_capacity(4096),
            state: State {
                depth: 0,
                max_depth: limits.xml_depth,
                part,
            },
        }
    }

    pub(crate) fn part(&self) -> &str {
        &self.state.part
    }

    /// The next event. `Start`/`End` keep the nesting depth.
    pub(crate) fn next(&mut self) -> Result<Event<'_>, SheetError> {
        next_event(&mut self.reader, &mut self.buf, &mut self.state)
    }

    /// The nesting depth after the last event (1 inside the root element).
    pub(crate) fn depth(&self) -> usize {
        self.state.depth
    }

    /// Skips to the end of the element whose `Start` was just read.
    pub(crate) fn skip_element(&mut self) -> Result<(), SheetError> {
        let target = self.state.depth - 1;
        loop {
            match next_event(&mut self.reader, &mut self.buf, &mut self.state)? {
                Event::End(_) if self.state.depth == target => return Ok(()),
                Event::Eof => return Err(eof_error(&self.state.part)),
                _ => {}
            }
        }
    }

    /// Appends the text content of the element whose `Start` was just read
    /// (including that of child elements) to `out`, up to its end tag. Text
    /// beyond `max_bytes` is dropped and reported by returning `false`.
    pub(crate) fn read_text(
        &mut self,
        out: &mut String,
        max_bytes: usize,
    ) -> Result<bool, SheetError> {
        let target = self.state.depth - 1;
        let mut fits = true;
        loop {
            match next_event(&mut self.reader, &mut self.buf, &mut self.state)? {
                Event::Text(t) => fits &= push_capped(out, &t.xml10_content(), max_bytes),
                Event::CData(t) => fits &= push_capped(out, &t.xml10_content(), max_bytes),
                Event::GeneralRef(r) => match resolve_ref(&r) {
                    Some(c) => {
                        let mut tmp = [0u8; 4];
                        fits &= push_capped(out, c.encode_utf8(&mut tmp), max_bytes);
                    }
                    None => {
                        return Err(SheetError::Unreadable(format!(
                            "文件已损坏或不是有效的 Excel 文件（{}中有无法识别的实体“&{};”）",
                            self.state.part, &*r
                        )));
                    }
                },
                Event::End(_) if self.state.depth == target => return Ok(fits),
                Event::Eof => return Err(eof_error(&self.state.part)),
                _ => {}
            }
        }
    }

    pub(crate) fn eof(&self) -> SheetError {
        eof_error(&self.state.part)
    }
}

fn eof_error(part: &str) -> SheetError {
    SheetError::Unreadable(format!(
        "文件已损坏或不是有效的 Excel 文件（{part}意外结束）"
    ))
}

/// Pushes `s` onto `out` while `out` stays within `max` bytes (cut at a char
/// boundary); whether all of it fit.
fn push_capped(out: &mut String, s: &str, max: usize) -> bool {
    let room = max.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
        return true;
    }
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push_str(&s[..cut]);
    false
}

/// `&amp;` and friends, `&#…;` character references.
fn resolve_ref(r: &BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c);
    }
    match &**r {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

/// The attributes of a tag that `want` asks for, by local name (so `r:id`
/// is found as "id"), unescaped. Duplicate checks are off: they are
/// quadratic in the number of attributes.
pub(crate) fn attrs<'t, const N: usize>(
    tag: &'t BytesStart<'_>,
    want: [&str; N],
) -> Result<[Option<Cow<'t, str>>; N], SheetError> {
    let mut out: [Option<Cow<'t, str>>; N] = std::array::from_fn(|_| None);
    for a in tag.attributes().with_checks(false) {
        let a = a.map_err(|e| {
            SheetError::Unreadable(format!(
                "文件已损坏或不是有效的 Excel 文件（属性错误：{e}）"
            ))
        })?;
        let key = a.key.local_name();
        if let Some(i) = want.iter().position(|w| *w == key.as_ref())
            && out[i].is_none()
        {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| {
                    SheetError::Unreadable(format!(
                        "文件已损坏或不是有效的 Excel 文件（属性错误：{e}）"
                    ))
                })?;
            out[i] = Some(v);
        }
    }
    Ok(out)
}

/// Undoes the OOXML `_xHHHH_` escapes (control characters and the like,
/// `_x005F_` for a literal underscore).
pub(crate) fn unescape_ooxml(s: &str) -> Cow<'_, str> {
    if !s.contains("_x") {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let unit_at = |i: usize| -> Option<u16> {
        let chunk = b.get(i..i + 7)?;
        if chunk[0] != b'_' || chunk[1] != b'x' || chunk[6] != b'_' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&chunk[2..6]).ok()?, 16).ok()
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let Some(unit) = unit_at(i) else {
            i += 1;
            continue;
        };
        out.push_str(&s[copied..i]);
        i += 7;
        let c = match unit {
            0xD800..=0xDBFF => match unit_at(i) {
                Some(low @ 0xDC00..=0xDFFF) => {
                    i += 7;
                    char::from_u32(
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00),
                    )
                }
                _ => None,
            },
            _ => char::from_u32(u32::from(unit)),
        };
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        copied = i;
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ooxml_escapes() {
        assert_eq!(unescape_ooxml("a_x000D_b"), "a\rb");
        assert_eq!(unescape_ooxml("_x005F_x0041_"), "_x0041_");
        assert_eq!(unescape_ooxml("_xD83D__xDE00_"), "😀");
        assert_eq!(unescape_ooxml("_x12"), "_x12");
        assert_eq!(unescape_ooxml("中_x0041_文"), "中A文");
    }
}
