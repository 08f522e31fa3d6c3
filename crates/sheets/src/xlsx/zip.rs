//! A minimal, bounds-checked reader for the ZIP container of an `.xlsx`.
//!
//! The upload is already in memory, so the archive is read straight from the
//! byte slice: the central directory is walked once (at most
//! [`Limits::zip_entries`] entries, each kept as a few integers and a slice
//! of the input, never copied), and an entry is inflated on demand as a
//! stream. Nothing is allocated from a size the file declares: declared
//! sizes are only used to refuse early, and the bytes actually inflated are
//! capped by the caller (see [`super::xml::Limited`]), so an entry whose
//! header lies about its size cannot inflate past the cap either.

use std::io::Read;

use flate2::read::DeflateDecoder;

use super::Limits;
use crate::SheetError;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// One file of the archive, as the central directory describes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    /// Raw name bytes (a slice of the upload).
    name: &'a [u8],
    flags: u16,
    method: u16,
    compressed: u64,
    /// Declared uncompressed size: only used to refuse early.
    pub(crate) declared_size: u64,
    local_offset: u64,
}

pub(crate) struct Archive<'a> {
    data: &'a [u8],
    entries: Vec<Entry<'a>>,
}

fn corrupt(what: &str) -> SheetError {
    SheetError::Unreadable(format!(
        "文件已损坏或不是有效的 Excel 文件（压缩包结构错误：{what}）"
    ))
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at.checked_add(2)?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at.checked_add(8)?).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_le_bytes(a)
    })
}

fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Whether a file starts like a ZIP archive.
pub(crate) fn looks_like_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04")
}

/// Whether a file starts like an OLE2 compound file (old `.xls`, or an
/// `.xlsx` with an opening password, which Excel stores encrypted inside one).
pub(crate) fn looks_like_cfb(data: &[u8]) -> bool {
    data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

impl<'a> Archive<'a> {
    pub(crate) fn open(data: &'a [u8], limits: &Limits) -> Result<Self, SheetError> {
        let len = data.len();
        if len < 22 {
            return Err(corrupt("文件过短"));
        }
        // The end-of-central-directory record: 22 bytes plus a comment of at
        // most 65535 bytes, at the end of the file. Search backwards.
        let lowest = len.saturating_sub(22 + 0xFFFF);
        let mut pos = len - 22;
        let eocd = loop {
            if u32_at(data, pos) == Some(EOCD_SIG) {
                let comment = u16_at(data, pos + 20).unwrap_or(0) as usize;
                if pos + 22 + comment <= len {
                    break pos;
                }
            }
            if pos == lowest {
                return Err(corrupt("找不到目录"));
            }
            pos -= 1;
        };
        let mut count = u64::from(u16_at(data, eocd + 10).unwrap_or(0));
        let mut cd_size = u64::from(u32_at(data, eocd + 12).unwrap_or(0));
        let mut cd_offset = u64::from(u32_at(data, eocd + 16).unwrap_or(0));
        if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            // ZIP64: the locator sits right before the classic record.
            let loc = eocd
                .checked_sub(20)
                .filter(|&l| u32_at(data, l) == Some(EOCD64_LOCATOR_SIG))
                .ok_or_else(|| corrupt("ZIP64 目录定位记录缺失"))?;
            let rec = u64_at(data, loc + 8)
                .and_then(to_usize)
                .filter(|&r| u32_at(data, r) == Some(EOCD64_SIG))
                .ok_or_else(|| corrupt("ZIP64 目录记录缺失"))?;
            count = u64_at(data, rec + 32).ok_or_else(|| corrupt("ZIP64 目录记录过短"))?;
            cd_size = u64_at(data, rec + 40).ok_or_else(|| corrupt("ZIP64 目录记录过短"))?;
            cd_offset = u64_at(data, rec + 48).ok_or_else(|| corrupt("ZIP64 目录记录过短"))?;
        }
        if count > limits.zip_entries as u64 {
            return Err(SheetError::TooLarge(format!(
                "压缩包内有 {count} 个部件，超过上限 {}，这不是正常的 Excel 文件",
                limits.zip_entries
            )));
        }
        let cd_start = to_usize(cd_offset).ok_or_else(|| corrupt("目录位置无效"))?;
        let cd_end = to_usize(cd_size)
            .and_then(|s| cd_start.checked_add(s))
            .filter(|&e| e <= len)
            .ok_or_else(|| corrupt("目录超出文件范围"))?;

        let mut entries = Vec::with_capacity(count as usize);
        let mut p = cd_start;
        for _ in 0..count {
            if p.checked_add(46).is_none_or(|e| e > cd_end) || u32_at(data, p) != Some(CENTRAL_SIG)
            {
                return Err(corrupt("目录项错误"));
            }
            let flags = u16_at(data, p + 8).unwrap_or(0);
            let method = u16_at(data, p + 10).unwrap_or(0);
            let mut compressed = u64::from(u32_at(data, p + 20).unwrap_or(0));
            let mut declared_size = u64::from(u32_at(data, p + 24).unwrap_or(0));
            let name_len = u16_at(data, p + 28).unwrap_or(0) as usize;
            let extra_len = u16_at(data, p + 30).unwrap_or(0) as usize;
            let comment_len = u16_at(data, p + 32).unwrap_or(0) as usize;
            let mut local_offset = u64::from(u32_at(data, p + 42).unwrap_or(0));
            let name_start = p + 46;
            let extra_start = name_start + name_len;
            let next = extra_start + extra_len + comment_len;
            if next > cd_end {
                return Err(corrupt("目录项超出范围"));
            }
            let name = &data[name_start..extra_start];
            let extra = &data[extra_start..extra_start + extra_len];
            if declared_size == 0xFFFF_FFFF
                || compressed == 0xFFFF_FFFF
                || local_offset == 0xFFFF_FFFF
            {
                // ZIP64 extended information: the 8-byte values of the
                // saturated fields, in this order.
                let mut e = 0;
                let mut found = false;
                while e + 4 <= extra.len() {
                    let id = u16_at(extra, e).unwrap_or(0);
                    let size = u16_at(extra, e + 2).unwrap_or(0) as usize;
                    let body = extra.get(e + 4..e + 4 + size).unwrap_or(&[]);
                    if id == 0x0001 {
                        let mut at = 0;
                        let mut take = |v: &mut u64| {
                            if *v == 0xFFFF_FFFF {
                                *v = u64_at(body, at).unwrap_or(u64::MAX);
                                at += 8;
                            }
                        };
                        take(&mut declared_size);
                        take(&mut compressed);
                        take(&mut local_offset);
                        found = true;
                        break;
                    }
                    e += 4 + size;
                }
                if !found {
                    return Err(corrupt("ZIP64 扩展信息缺失"));
                }
            }
            entries.push(Entry {
                name,
                flags,
                method,
                compressed,
                declared_size,
                local_offset,
            });
            p = next;
        }
        Ok(Archive { data, entries })
    }

    /// The entry named `path` (a part name such as `xl/workbook.xml`),
    /// compared the way OPC part names compare: ASCII case-insensitive,
    /// ignoring a leading `/`, with `\` read as `/`. The first one wins.
    pub(crate) fn find(&self, path: &str) -> Option<Entry<'a>> {
        let want = path.trim_start_matches('/').as_bytes();
        self.entries
            .iter()
            .find(|e| {
                let mut name = e.name;
                while let [b'/' | b'\\', rest @ ..] = name {
                    name = rest;
                }
                name.len() == want.len()
                    && name.iter().zip(want).all(|(a, b)| {
                        let a = if *a == b'\\' { b'/' } else { *a };
                        a.eq_ignore_ascii_case(b)
                    })
            })
            .copied()
    }

    /// A stream of the entry's uncompressed bytes. `cap` is the most the
    /// caller will read from it; an entry declaring more is refused here,
    /// before anything is inflated.
    pub(crate) fn open_entry(
        &self,
        entry: &Entry<'a>,
        cap: u64,
        part: &str,
    ) -> Result<Box<dyn Read + 'a>, SheetError> {
        if entry.flags & 1 != 0 {
            return Err(SheetError::Unreadable(
                "文件中的内容已加密，请取消密码保护后重新保存再上传".into(),
            ));
        }
        if entry.declared_size > cap {
            return Err(SheetError::TooLarge(format!(
                "{part}解压后为 {} MB，超过上限 {} MB",
                entry.declared_size / (1024 * 1024),
                cap / (1024 * 1024)
            )));
        }
        let data = self.data;
        let local = to_usize(entry.local_offset)
            .filter(|&l| u32_at(data, l) == Some(LOCAL_SIG))
            .ok_or_else(|| corrupt("文件头错误"))?;
        let name_len = u16_at(data, local + 26).ok_or_else(|| corrupt("文件头过短"))? as usize;
        let extra_len = u16_at(data, local + 28).ok_or_else(|| corrupt("文件头过短"))? as usize;
        let start = local + 30 + name_len + extra_len;
        let end = to_usize(entry.compressed)
            .and_then(|c| start.checked_add(c))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| corrupt("数据超出文件范围"))?;
        let raw = &data[start..end];
        match entry.method {
            0 => Ok(Box::new(raw)),
            8 => Ok(Box::new(DeflateDecoder::new(raw))),
            m => Err(SheetError::Unreadable(format!(
                "文件使用了不支持的压缩方式（{m}），请在 Excel 中重新保存为 .xlsx 后上传"
            ))),
        }
    }
}
