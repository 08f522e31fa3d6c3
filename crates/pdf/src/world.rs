//! A minimal, in-memory typst [`World`]: one main source (the template), one
//! virtual data file (`data.json`), the runtime fonts, no packages, no disk
//! access.

use std::sync::LazyLock;

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::PdfError;
use crate::fonts::{Fonts, fonts};

/// The standard library is the same for every render (data comes through a
/// virtual file, not `sys.inputs`), so it is built once.
static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

/// Name of the virtual data file, as read by the templates: `json("data.json")`.
const DATA_FILE: &str = "data.json";

struct DocWorld {
    main: Source,
    data_id: FileId,
    data: Bytes,
    fonts: &'static Fonts,
}

impl World for DocWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(not_found(id))
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else if id == self.main.id() {
            Ok(Bytes::from_string(self.main.text().to_string()))
        } else {
            Err(not_found(id))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.font(index)
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        // The templates never ask for the date; keep the output reproducible.
        None
    }
}

fn not_found(id: FileId) -> FileError {
    FileError::NotFound(id.vpath().get_without_slash().into())
}

/// Compile `template` with `data` (exposed as `data.json`) and export to PDF.
pub(crate) fn render(template: &str, mut data: serde_json::Value) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts()?;
    if let Some(obj) = data.as_object_mut() {
        obj.insert(
            "fonts".into(),
            serde_json::json!({ "serif": fonts.serif, "sans": fonts.sans }),
        );
    }
    let data = serde_json::to_vec(&data).map_err(|e| PdfError::Compile(e.to_string()))?;

    let data_id = RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(DATA_FILE).map_err(|e| PdfError::Compile(e.to_string()))?,
    )
    .intern();
    let world = DocWorld {
        main: Source::detached(template),
        data_id,
        data: Bytes::new(data),
        fonts,
    };

    let result = typst::compile::<PagedDocument>(&world).output;
    let pdf = result.map_err(|errs| PdfError::Compile(diagnostics(&errs)));
    let pdf = pdf.and_then(|doc| {
        typst_pdf::pdf(&doc, &typst_pdf::PdfOptions::default())
            .map_err(|errs| PdfError::Export(diagnostics(&errs)))
    });
    // Bound the memoization cache of a long-running process.
    typst::comemo::evict(10);
    pdf
}

fn diagnostics(diags: &[SourceDiagnostic]) -> String {
    let parts: Vec<String> = diags
        .iter()
        .map(|d| {
            let mut s = d.message.to_string();
            for hint in &d.hints {
                s.push_str("（提示：");
                s.push_str(&hint.v);
                s.push('）');
            }
            s
        })
        .collect();
    if parts.is_empty() {
        "未知错误".to_string()
    } else {
        parts.join("；")
    }
}
