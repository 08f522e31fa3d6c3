//! Spreadsheets for doudi: the household import template, reading uploaded
//! `.xlsx`/`.csv` files into raw rows (streamed, in bounded memory: see
//! [`read_table`]), validating those rows into
//! [`doudi_domain::household::HouseholdRecord`]s with specific Chinese error
//! messages, and writing reports and generic exports.
//!
//! The import format is one row per person; rows sharing a 户编号 form one
//! household, and household-level columns (village, addresses, household
//! phone, assistance categories) are read from the 户主 row.
//!
//! Flow: [`read_table`] → [`validate_rows`] → store the
//! [`ParsedHousehold`]s and offer [`rejected_report_xlsx`] for the rest.
//!
//! Department data feeds (dynamic monitoring) have their own templates and
//! validation in [`feeds`]: [`read_table_columns`] with
//! [`FeedKind::columns`] → [`validate_feed_rows`].

pub mod feeds;
mod read;
mod validate;
mod write;
mod xlsx;

pub use feeds::{
    FeedKind, FeedRecord, feed_rejected_report_xlsx, feed_template_csv, feed_template_xlsx,
    read_feed_table, validate_feed_record, validate_feed_record_as_of, validate_feed_rows,
    validate_feed_rows_as_of,
};
pub use read::{read_table, read_table_columns};
pub use validate::validate_rows;
pub use write::{
    rejected_report_csv, rejected_report_xlsx, table_xlsx, template_csv, template_xlsx,
};

/// Header texts of the import template, in template order. [`RawRow::cells`]
/// uses the same order.
pub const TEMPLATE_COLUMNS: &[&str] = &[
    "户编号",
    "村社区代码",
    "户籍地址",
    "居住地址",
    "家庭电话",
    "与户主关系",
    "姓名",
    "身份证号",
    "本人电话",
    "残疾类别",
    "残疾等级",
    "患病情况",
    "不能自理项目",
    "就业状况",
    "就学状况",
    "月收入(元)",
    "收入类型",
    "救助类别",
    "类别开始日期",
];

/// Indices into [`TEMPLATE_COLUMNS`] / [`RawRow::cells`].
pub(crate) mod col {
    pub const KEY: usize = 0;
    pub const VILLAGE: usize = 1;
    pub const REG_ADDR: usize = 2;
    pub const RES_ADDR: usize = 3;
    pub const HH_PHONE: usize = 4;
    pub const RELATION: usize = 5;
    pub const NAME: usize = 6;
    pub const ID: usize = 7;
    pub const PHONE: usize = 8;
    pub const DIS_TYPE: usize = 9;
    pub const DIS_GRADE: usize = 10;
    pub const ILLNESS: usize = 11;
    pub const SELF_CARE: usize = 12;
    pub const EMPLOYMENT: usize = 13;
    pub const SCHOOLING: usize = 14;
    pub const INCOME: usize = 15;
    pub const INCOME_KIND: usize = 16;
    pub const CATEGORIES: usize = 17;
    pub const CAT_START: usize = 18;
    pub const COUNT: usize = 19;
}

/// Why an uploaded file could not be read as a table. Display is shown to
/// users as-is.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// Corrupt file, wrong content for the extension, unknown text encoding…
    #[error("无法读取文件：{0}")]
    Unreadable(String),
    /// The file name's extension (lowercase, without the dot; empty if none).
    /// Also `.xls`, `.xlsb` and `.ods`, which are not read (see [`read_table`]).
    #[error("不支持的文件类型“{}”：请上传 .xlsx 或 .csv 文件（.xls、.ods 等格式请先在 Excel 或 WPS 中打开，“另存为” Excel 工作簿（*.xlsx）后再上传）", if .0.is_empty() { "无扩展名" } else { .0.as_str() })]
    UnsupportedExtension(String),
    #[error("文件中没有数据：未找到表头或表头下没有任何数据行")]
    Empty,
    /// Template column names not found in the header row, in template order.
    #[error("缺少以下列：{}。请使用导入模板，表头文字须与模板一致（列的顺序可以不同）", .0.join("、"))]
    MissingColumns(Vec<String>),
    #[error("数据行数超过上限：每个文件最多 {limit} 行，请拆分为多个文件分别导入")]
    TooManyRows { limit: usize },
    /// A size limit of the reader was exceeded (file size, uncompressed
    /// size, columns, cells, text…): the message says which.
    #[error("文件超出可处理的范围：{0}")]
    TooLarge(String),
    /// Formula cells in data rows (the first few; `total` counts all). The
    /// value Excel cached for a formula is not necessarily what the user
    /// sees or means, so the file is refused as a whole.
    #[error("{}", formula_message(cells, *total))]
    Formulas {
        cells: Vec<FormulaCell>,
        total: usize,
    },
}

/// A formula cell found in a data row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormulaCell {
    /// Line number as the user sees it.
    pub line: usize,
    /// The column's header text as written in the file (or "P 列").
    pub column: String,
    /// The formula without "=" (shortened; empty when the file does not
    /// spell it out, as for cells sharing a formula with the cell above).
    pub formula: String,
}

fn formula_message(cells: &[FormulaCell], total: usize) -> String {
    let listed: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.formula.is_empty() {
                format!("第 {} 行「{}」列是公式", c.line, c.column)
            } else {
                format!("第 {} 行「{}」列是公式（={}）", c.line, c.column, c.formula)
            }
        })
        .collect();
    let more = if total > cells.len() {
        format!("等，共 {total} 个公式单元格")
    } else {
        String::new()
    };
    format!(
        "{}{more}，请粘贴为数值后重新上传（选中这些单元格，复制后“选择性粘贴 → 数值”）",
        listed.join("；")
    )
}

/// One non-blank data row of an uploaded table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    /// Line number as the user sees it in the spreadsheet (header = 1 when
    /// the header is on the first line).
    pub line: usize,
    /// Cells in the order of the column list the table was read with
    /// ([`TEMPLATE_COLUMNS`] for [`read_table`]), trimmed; "" when blank.
    pub cells: Vec<String>,
}

impl RawRow {
    /// The trimmed cell of column `index`, "" if absent.
    pub(crate) fn cell(&self, index: usize) -> &str {
        self.cells.get(index).map_or("", |s| s.trim())
    }
}

/// A row that was not imported, with the reason in Chinese.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub household_key: String,
    pub name: String,
    /// Masked ID number (never the full number: reports get downloaded and
    /// forwarded).
    pub id_number_masked: String,
    /// All problems of the row, separated by "；".
    pub reason: String,
}

/// A household that passed validation.
#[derive(Clone, Debug)]
pub struct ParsedHousehold {
    /// The 户编号 from the file.
    pub key: String,
    /// Spreadsheet lines of its members, ascending.
    pub lines: Vec<usize>,
    /// The line of each member, in `record.members` order (head first).
    pub member_lines: Vec<usize>,
    pub record: doudi_domain::household::HouseholdRecord,
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
