//! Runtime font discovery.
//!
//! Fonts are never embedded in the binary: they are read from the Debian
//! `fonts-noto-cjk` directory (and from `$DOUDI_FONT_DIR`, if set). Scanning a
//! 20–27 MB `.ttc` collection is slow, so the scan happens once per process
//! ([`fonts`]); the font *data* of a file is read lazily, the first time a
//! face of that file is actually used by a document, and then kept.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use typst::foundations::Bytes;
use typst::text::{Font, FontBook, FontInfo};
use typst::utils::LazyHash;

use crate::PdfError;

/// Directory of Debian's `fonts-noto-cjk` package.
pub const NOTO_CJK_DIR: &str = "/usr/share/fonts/opentype/noto";

/// Environment variable naming an additional font directory (searched first).
pub const FONT_DIR_ENV: &str = "DOUDI_FONT_DIR";

/// Preferred families, best first. The first present one is put at the head
/// of the font list handed to the templates.
const SERIF_PREFERENCE: &[&str] = &[
    "Noto Serif CJK SC",
    "Source Han Serif SC",
    "Noto Serif SC",
    "Source Han Serif CN",
];
const SANS_PREFERENCE: &[&str] = &[
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "Source Han Sans CN",
];

/// Characters a font must cover to count as a usable Chinese font.
const CJK_PROBE: &[char] = &['中', '国', '救', '助'];

/// One file on disk whose data is loaded on first use.
struct FontFile {
    path: PathBuf,
    data: OnceLock<Option<Bytes>>,
}

impl FontFile {
    fn data(&self) -> Option<Bytes> {
        self.data
            .get_or_init(|| std::fs::read(&self.path).ok().map(Bytes::new))
            .clone()
    }
}

/// One face (a `.ttc` holds several) and its lazily parsed font.
struct FontSlot {
    file: usize,
    index: u32,
    font: OnceLock<Option<Font>>,
}

/// All fonts known to the renderer.
pub struct Fonts {
    files: Vec<FontFile>,
    slots: Vec<FontSlot>,
    pub(crate) book: LazyHash<FontBook>,
    /// Font family lists (best first) for serif body text and sans headings.
    pub(crate) serif: Vec<String>,
    pub(crate) sans: Vec<String>,
}

impl Fonts {
    pub(crate) fn font(&self, index: usize) -> Option<Font> {
        let slot = self.slots.get(index)?;
        slot.font
            .get_or_init(|| {
                let data = self.files[slot.file].data()?;
                Font::new(data, slot.index)
            })
            .clone()
    }

    /// Number of font faces found.
    pub fn face_count(&self) -> usize {
        self.slots.len()
    }
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field(
                "files",
                &self.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            )
            .field("faces", &self.slots.len())
            .field("serif", &self.serif)
            .field("sans", &self.sans)
            .finish()
    }
}

/// The process-wide font set, scanned on first call. A failure (no Chinese
/// font) is remembered as well: installing fonts needs a restart.
pub fn fonts() -> Result<&'static Fonts, PdfError> {
    static FONTS: OnceLock<Result<Fonts, PdfError>> = OnceLock::new();
    FONTS
        .get_or_init(|| load_fonts(&default_dirs()))
        .as_ref()
        .map_err(Clone::clone)
}

/// `$DOUDI_FONT_DIR` (if set and non-empty), then the Noto CJK directory.
fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(FONT_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from(NOTO_CJK_DIR));
    dirs
}

/// Scan `dirs` (recursively, missing directories are skipped) for
/// `.ttf/.otf/.ttc/.otc` files.
pub(crate) fn load_fonts(dirs: &[PathBuf]) -> Result<Fonts, PdfError> {
    let mut paths = Vec::new();
    for dir in dirs {
        collect_font_paths(dir, 0, &mut paths);
    }

    let mut files = Vec::new();
    let mut slots = Vec::new();
    let mut infos = Vec::new();
    for path in paths {
        // Read once to build the book; the data is dropped afterwards and
        // re-read only if a face of this file is used.
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let faces: Vec<(u32, FontInfo)> = Font::iter(Bytes::new(data))
            .map(|font| (font.index(), font.info().clone()))
            .collect();
        if faces.is_empty() {
            continue;
        }
        let file = files.len();
        files.push(FontFile {
            path,
            data: OnceLock::new(),
        });
        for (index, info) in faces {
            slots.push(FontSlot {
                file,
                index,
                font: OnceLock::new(),
            });
            infos.push(info);
        }
    }

    let cjk: Vec<&FontInfo> = infos
        .iter()
        .filter(|info| CJK_PROBE.iter().all(|&c| info.coverage.contains(c as u32)))
        .collect();
    if cjk.is_empty() {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(PdfError::NoFont(format!(
            "已搜索目录：{}（共找到 {} 个字形文件，均不含中文字形）",
            searched.join("、"),
            files.len()
        )));
    }

    let serif = family_list(&cjk, SERIF_PREFERENCE, true);
    let sans = family_list(&cjk, SANS_PREFERENCE, false);
    Ok(Fonts {
        files,
        slots,
        book: LazyHash::new(FontBook::from_infos(infos)),
        serif,
        sans,
    })
}

/// Preferred families that exist, then every other CJK family (serif ones
/// first when `serif` is requested), so that typst can always fall back to
/// some Chinese font instead of its built-in Latin default.
fn family_list(cjk: &[&FontInfo], preference: &[&str], serif: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |name: &str, out: &mut Vec<String>| {
        if !out.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            out.push(name.to_string());
        }
    };
    for want in preference {
        if cjk.iter().any(|i| i.family.eq_ignore_ascii_case(want)) {
            push(want, &mut out);
        }
    }
    let is_serif = |i: &FontInfo| i.flags.contains(typst::text::FontFlags::SERIF);
    for info in cjk.iter().filter(|i| is_serif(i) == serif) {
        push(&info.family, &mut out);
    }
    for info in cjk {
        push(&info.family, &mut out);
    }
    out
}

fn collect_font_paths(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_font_paths(&path, depth + 1, out);
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "ttf" | "otf" | "ttc" | "otc"
            )
        }) && !out.contains(&path)
        {
            out.push(path);
        }
    }
}
