//! Department data feeds (部门数据) for dynamic monitoring and early warning
//! (低收入人口动态监测): one template per feed, reading uploaded files into
//! [`FeedRecord`]s with a specific Chinese reason for every rejected row, and
//! the same rules for records pushed through the API.
//!
//! A feed record is one event about one person as a department sees it: a
//! medical settlement, an unemployment registration, a disability
//! certificate, a death, a household-registration change, a property, a
//! vehicle, a business, a month of housing-fund contributions, utility
//! arrears, a change of school status, a disaster loss. Every record carries
//! the person's ID number and name, the event date, the feed's main money
//! figure (if it has one) and the other columns as attributes with English
//! keys. Its `record_key` identifies it within the source, so a department
//! can re-send a month's file or re-push a record without creating a second
//! one.
//!
//! Flow for files: [`read_feed_table`] (or [`crate::read_table_columns`] with
//! [`FeedKind::columns`]) → [`validate_feed_rows`] → store the records and
//! offer [`feed_rejected_report_xlsx`] for the rest. For the API:
//! deserialise a [`FeedRecord`] → [`validate_feed_record`].

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use chrono::{Datelike, FixedOffset, NaiveDate, Utc};
use doudi_domain::id_number::IdError;
use doudi_domain::money::MoneyError;
use doudi_domain::person::{DisabilityType, Schooling};
use doudi_domain::{Coded, IdNumber, Money};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, Format, FormatAlign, FormatBorder, Workbook,
    XlsxError,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validate::{self, halfwidth, mask_raw_id, parse_grade};
use crate::{RawRow, Rejected, SheetError, read_table_columns, table_xlsx};

// ------------------------------------------------------------ feed kinds ---

/// One kind of department data feed.
///
/// Serialises as its [`code`](FeedKind::code) (`"medical"`, `"housing_fund"`…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedKind {
    /// 医保: medical expenses and the patient's self-paid share.
    Medical,
    /// 人社: unemployment registration and its cancellation.
    Unemployment,
    /// 残联: disability certificates.
    Disability,
    /// 公安: deaths (户口注销).
    Death,
    /// 公安: household-registration changes.
    Hukou,
    /// 不动产登记: real estate held.
    Property,
    /// 公安交管: vehicles registered.
    Vehicle,
    /// 市场监管: businesses (经营主体) a person holds.
    Business,
    /// 住房公积金: monthly contributions.
    HousingFund,
    /// 水电燃气: utility arrears.
    Utility,
    /// 教育: school status changes (dropping out, graduating…).
    Education,
    /// 应急管理: people affected by disasters.
    Disaster,
}

const ALL_KINDS: [FeedKind; 12] = [
    FeedKind::Medical,
    FeedKind::Unemployment,
    FeedKind::Disability,
    FeedKind::Death,
    FeedKind::Hukou,
    FeedKind::Property,
    FeedKind::Vehicle,
    FeedKind::Business,
    FeedKind::HousingFund,
    FeedKind::Utility,
    FeedKind::Education,
    FeedKind::Disaster,
];

impl FeedKind {
    /// Every feed, in display order.
    pub fn all() -> &'static [FeedKind] {
        &ALL_KINDS
    }

    /// Stable ASCII code: in URLs, the database and the API's `"kind"`.
    pub fn code(self) -> &'static str {
        self.def().code
    }

    /// Looks a feed up by its code (exact match).
    pub fn from_code(code: &str) -> Option<FeedKind> {
        ALL_KINDS.iter().copied().find(|k| k.code() == code)
    }

    /// Chinese name of the feed, e.g. "医保医疗费用自付".
    pub fn label(self) -> &'static str {
        self.def().label
    }

    /// Chinese name of the department that provides the feed.
    pub fn department(self) -> &'static str {
        self.def().department
    }

    /// Header texts of the template, in template order. [`RawRow::cells`]
    /// read with these columns follow the same order.
    pub fn columns(self) -> &'static [&'static str] {
        static CACHE: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
        &CACHE.get_or_init(|| {
            ALL_KINDS
                .iter()
                .map(|k| k.def().cols.iter().map(|c| c.header).collect())
                .collect()
        })[self as usize]
    }

    /// The columns that must be present in an uploaded file's header (those
    /// whose cells are required); the others may be left out entirely.
    pub fn required_columns(self) -> &'static [&'static str] {
        static CACHE: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
        &CACHE.get_or_init(|| {
            ALL_KINDS
                .iter()
                .map(|k| {
                    k.def()
                        .cols
                        .iter()
                        .filter(|c| c.required)
                        .map(|c| c.header)
                        .collect()
                })
                .collect()
        })[self as usize]
    }

    /// Keys of [`FeedRecord::attributes`] for this feed, in column order.
    pub fn attribute_keys(self) -> Vec<&'static str> {
        self.def()
            .cols
            .iter()
            .filter_map(|c| c.field.attr())
            .collect()
    }

    /// What the record key is made of, in Chinese, e.g. "登记编号和状态".
    pub fn record_key_description(self) -> String {
        let def = self.def();
        let names: Vec<&str> = def
            .key
            .iter()
            .map(|part| match part {
                KeyPart::Attr(a) => def
                    .cols
                    .iter()
                    .find(|c| c.field.attr() == Some(*a))
                    .map_or(*a, |c| c.header),
                KeyPart::Date | KeyPart::Month => def
                    .cols
                    .iter()
                    .find(|c| matches!(c.field, Field::Date | Field::Month))
                    .map_or("日期", |c| c.header),
            })
            .collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{}和{last}", init.join("、")),
        }
    }

    fn def(self) -> &'static FeedDef {
        &DEFS[self as usize]
    }
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Coded for FeedKind {
    fn code(&self) -> &'static str {
        FeedKind::code(*self)
    }
    fn label(&self) -> &'static str {
        FeedKind::label(*self)
    }
    fn all() -> &'static [Self] {
        &ALL_KINDS
    }
}

impl Serialize for FeedKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for FeedKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        FeedKind::from_code(&s).ok_or_else(|| {
            let codes: Vec<&str> = ALL_KINDS.iter().map(|k| k.code()).collect();
            serde::de::Error::custom(format!(
                "无法识别的数据类型“{s}”，可选值：{}",
                codes.join("、")
            ))
        })
    }
}

// ---------------------------------------------------------------- record ---

/// One validated record of a department feed. Also the JSON body of an API
/// push:
///
/// ```json
/// {"kind": "medical", "record_key": "JS20240510000123",
///  "id_number": "330106196803120151", "name": "张三",
///  "event_date": "2024-05-10", "amount_fen": 612050,
///  "attributes": {"settlement_no": "JS20240510000123",
///                 "total_cost_fen": "2350000", "self_pay_total_fen": "860000",
///                 "institution": "杭州市第一人民医院"}}
/// ```
///
/// In a push, `record_key` may be omitted (it is derived from the
/// attributes and date), `amount_fen` is omitted or `null` for feeds without
/// money, and enumerated attributes may be given as code or Chinese label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedRecord {
    pub kind: FeedKind,
    /// Identifies the record within its source, so that re-sending it is
    /// harmless: the feed's own number (结算单号, 残疾证号, 记录编号…) or,
    /// where one number does not identify the event, that number joined with
    /// the status or date by ":" (e.g. `"SY2024001:cancelled"`,
    /// `"浙A12345:2021-04-02"`). See [`FeedKind::record_key_description`].
    #[serde(default)]
    pub record_key: String,
    /// Normalised 18-character ID number (15-digit numbers converted, `x`
    /// upper-cased).
    pub id_number: String,
    pub name: String,
    /// The date of the event (结算日期, 登记日期, 死亡日期…); for the housing
    /// fund, the first day of the contribution month.
    pub event_date: NaiveDate,
    /// The feed's main money figure in fen: 目录内自付金额 (medical),
    /// 评估价值 (property, vehicle), 注册资本 (business), 月缴存额 (housing
    /// fund), 欠费金额 (utility), 损失金额 (disaster). `None` for feeds
    /// without money and when an optional figure was left blank.
    #[serde(default)]
    pub amount_fen: Option<i64>,
    /// The other columns, by English key (see [`FeedKind::attribute_keys`]).
    /// Enumerated values are stored as codes (`status`, `change_type`,
    /// `disability_type` as a `doudi_domain` `DisabilityType` code, `stage`
    /// as a `Schooling` code); secondary money figures as integer fen in keys
    /// ending in `_fen`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

// ----------------------------------------------------------- definitions ---

struct FeedDef {
    code: &'static str,
    label: &'static str,
    department: &'static str,
    /// What the feed is used for, for the 说明 sheet.
    purpose: &'static str,
    cols: &'static [Col],
    key: &'static [KeyPart],
}

/// One template column.
struct Col {
    header: &'static str,
    field: Field,
    /// Cell must be filled (and the column present in the header).
    required: bool,
    /// Example value; `{id}` is replaced by the example ID number.
    example: &'static str,
    help: &'static str,
}

/// What a column holds and how it is checked. Attribute fields carry their
/// key in [`FeedRecord::attributes`].
#[derive(Clone, Copy)]
enum Field {
    Id,
    Name,
    /// The event date.
    Date,
    /// The event date given as a month.
    Month,
    /// The main money figure.
    Amount,
    /// An identifying number or code (part of the record key).
    Ident(&'static str),
    /// Free text.
    Text(&'static str),
    /// A secondary money figure, stored as integer fen.
    Money(&'static str),
    Choice(&'static str, &'static [Choice]),
    DisabilityType(&'static str),
    /// Disability grade 1–4.
    Grade(&'static str),
    /// School stage as a `Schooling` code.
    Stage(&'static str),
    /// Floor area in square metres, two decimals.
    Area(&'static str),
    /// A count of months.
    Months(&'static str),
    /// 统一社会信用代码 (GB 32100).
    CreditCode(&'static str),
    /// 号牌号码.
    Plate(&'static str),
    /// 残疾人证号.
    DisabilityCert(&'static str),
}

impl Field {
    fn attr(self) -> Option<&'static str> {
        match self {
            Field::Id | Field::Name | Field::Date | Field::Month | Field::Amount => None,
            Field::Ident(a)
            | Field::Text(a)
            | Field::Money(a)
            | Field::Choice(a, _)
            | Field::DisabilityType(a)
            | Field::Grade(a)
            | Field::Stage(a)
            | Field::Area(a)
            | Field::Months(a)
            | Field::CreditCode(a)
            | Field::Plate(a)
            | Field::DisabilityCert(a) => Some(a),
        }
    }

    /// Written as a number in the xlsx template.
    fn is_numeric(self) -> bool {
        matches!(
            self,
            Field::Amount | Field::Money(_) | Field::Area(_) | Field::Months(_) | Field::Grade(_)
        )
    }
}

/// One allowed value of an enumerated column.
struct Choice {
    code: &'static str,
    label: &'static str,
    /// Other texts accepted for it.
    aliases: &'static [&'static str],
}

/// A component of the record key, joined by ":".
enum KeyPart {
    Attr(&'static str),
    /// The event date as `YYYY-MM-DD`.
    Date,
    /// The event date as `YYYY-MM`.
    Month,
}

const ID_COL: Col = Col {
    header: "身份证号",
    field: Field::Id,
    required: true,
    example: "{id}",
    help: "18 位公民身份号码，末位可为 X；15 位旧号码会自动转换为 18 位。请保持此列为“文本”格式，否则 Excel 会把号码末三位变成 0。",
};

const NAME_COL: Col = Col {
    header: "姓名",
    field: Field::Name,
    required: true,
    example: "张三",
    help: "与身份证上的姓名一致。",
};

const UNEMPLOYMENT_STATUS: &[Choice] = &[
    Choice {
        code: "registered",
        label: "登记",
        aliases: &["失业登记", "已登记", "在册"],
    },
    Choice {
        code: "cancelled",
        label: "注销",
        aliases: &["注销登记", "已注销"],
    },
];

const HUKOU_CHANGE: &[Choice] = &[
    Choice {
        code: "move_in",
        label: "迁入",
        aliases: &["户口迁入"],
    },
    Choice {
        code: "move_out",
        label: "迁出",
        aliases: &["户口迁出"],
    },
    Choice {
        code: "split",
        label: "分户",
        aliases: &[],
    },
    Choice {
        code: "new_household",
        label: "立户",
        aliases: &["新立户"],
    },
];

const BUSINESS_STATUS: &[Choice] = &[
    Choice {
        code: "active",
        label: "存续",
        aliases: &["在业", "在营", "开业", "正常", "存续（在营、开业、在册）"],
    },
    Choice {
        code: "revoked",
        label: "吊销",
        aliases: &["吊销，未注销", "吊销未注销", "已吊销"],
    },
    Choice {
        code: "cancelled",
        label: "注销",
        aliases: &["已注销", "吊销，已注销", "吊销已注销"],
    },
    Choice {
        code: "moved_out",
        label: "迁出",
        aliases: &["已迁出"],
    },
    Choice {
        code: "withdrawn",
        label: "撤销",
        aliases: &["已撤销", "撤销登记"],
    },
];

const EDUCATION_STATUS: &[Choice] = &[
    Choice {
        code: "enrolled",
        label: "在读",
        aliases: &["在校", "在籍"],
    },
    Choice {
        code: "dropped_out",
        label: "辍学",
        aliases: &["失学", "退学"],
    },
    Choice {
        code: "graduated",
        label: "毕业",
        aliases: &["已毕业", "结业"],
    },
];

/// School stages a student can be at (the `Schooling` values other than
/// 未上学 and 已毕业/非在校), with common other names.
const STAGES: &[Schooling] = &[
    Schooling::PreSchool,
    Schooling::Primary,
    Schooling::Junior,
    Schooling::Senior,
    Schooling::College,
];

const STAGE_ALIASES: &[(&str, Schooling)] = &[
    ("幼儿园", Schooling::PreSchool),
    ("学龄前", Schooling::PreSchool),
    ("学前教育", Schooling::PreSchool),
    ("高中", Schooling::Senior),
    ("普高", Schooling::Senior),
    ("普通高中", Schooling::Senior),
    ("职高", Schooling::Senior),
    ("中专", Schooling::Senior),
    ("技校", Schooling::Senior),
    ("中等职业教育", Schooling::Senior),
    ("大专", Schooling::College),
    ("高职", Schooling::College),
    ("专科", Schooling::College),
    ("本科", Schooling::College),
    ("大学", Schooling::College),
    ("研究生", Schooling::College),
];

static DEFS: [FeedDef; 12] = [
    FeedDef {
        code: "medical",
        label: "医保医疗费用自付",
        department: "医疗保障局",
        purpose: "每一笔医保结算的医疗费用和个人自付金额，用于发现大额医疗支出（因病致贫）预警。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "结算单号",
                field: Field::Ident("settlement_no"),
                required: true,
                example: "JS20240510000123",
                help: "医保结算单（结算流水）号，在本部门数据中唯一；同一结算单重复上报只记一次。",
            },
            Col {
                header: "结算日期",
                field: Field::Date,
                required: true,
                example: "2024-05-10",
                help: "医保结算的日期，不能晚于今天。",
            },
            Col {
                header: "医疗总费用",
                field: Field::Money("total_cost_fen"),
                required: true,
                example: "23500",
                help: "本次结算的医疗费用总额（元）。",
            },
            Col {
                header: "目录内自付金额",
                field: Field::Amount,
                required: true,
                example: "6120.5",
                help: "医保目录内由个人负担的部分（起付线、共付段、乙类先行自付等，元），不能大于自付总额。",
            },
            Col {
                header: "自付总额",
                field: Field::Money("self_pay_total_fen"),
                required: true,
                example: "8600",
                help: "个人负担的全部费用（目录内自付 + 目录外自费，元），不能大于医疗总费用。",
            },
            Col {
                header: "医疗机构",
                field: Field::Text("institution"),
                required: false,
                example: "杭州市第一人民医院",
                help: "就诊的医疗机构名称。",
            },
        ],
        key: &[KeyPart::Attr("settlement_no")],
    },
    FeedDef {
        code: "unemployment",
        label: "人社失业登记",
        department: "人力资源和社会保障局",
        purpose: "失业登记和注销，用于发现失业（收入下降）和重新就业（收入变化）。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "登记编号",
                field: Field::Ident("registration_no"),
                required: true,
                example: "SY330106202400123",
                help: "失业登记的编号。同一登记的“登记”和“注销”各为一条记录。",
            },
            Col {
                header: "登记日期",
                field: Field::Date,
                required: true,
                example: "2024-03-01",
                help: "状态为“登记”时填失业登记的日期，为“注销”时填注销的日期。",
            },
            Col {
                header: "状态",
                field: Field::Choice("status", UNEMPLOYMENT_STATUS),
                required: true,
                example: "登记",
                help: "本条记录是失业登记还是注销登记。",
            },
        ],
        key: &[KeyPart::Attr("registration_no"), KeyPart::Attr("status")],
    },
    FeedDef {
        code: "disability",
        label: "残联残疾证",
        department: "残疾人联合会",
        purpose: "新发、换发的残疾人证，用于发现新增残疾人和残疾等级变化。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "残疾证号",
                field: Field::DisabilityCert("certificate_no"),
                required: true,
                example: "{id}43",
                help: "残疾人证号。第二代残疾人证为 20 位：本人身份证号 + 残疾类别代码（1 视力、2 听力、3 言语、4 肢体、5 智力、6 精神、7 多重）+ 残疾等级，按此核对。",
            },
            Col {
                header: "残疾类别",
                field: Field::DisabilityType("disability_type"),
                required: true,
                example: "肢体",
                help: "残疾人证上的类别，可带“残疾”二字（如“肢体残疾”）。",
            },
            Col {
                header: "残疾等级",
                field: Field::Grade("grade"),
                required: true,
                example: "3",
                help: "1–4 级，1 级最重；也可写“三级”。",
            },
            Col {
                header: "发证日期",
                field: Field::Date,
                required: true,
                example: "2023-11-20",
                help: "残疾人证的发证（换证）日期。",
            },
        ],
        key: &[KeyPart::Attr("certificate_no")],
    },
    FeedDef {
        code: "death",
        label: "公安死亡注销",
        department: "公安局",
        purpose: "死亡注销户口的人员，用于及时停发救助、调整家庭人口。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "死亡日期",
                field: Field::Date,
                required: true,
                example: "2024-04-18",
                help: "死亡日期（不是注销户口的日期）。",
            },
            Col {
                header: "记录编号",
                field: Field::Ident("record_no"),
                required: true,
                example: "SW2024041800017",
                help: "户口注销记录的编号，在本部门数据中唯一。",
            },
        ],
        key: &[KeyPart::Attr("record_no")],
    },
    FeedDef {
        code: "hukou",
        label: "公安户籍变动",
        department: "公安局",
        purpose: "户口迁入、迁出、分户、立户，用于更新户籍地和家庭组成。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "变动类型",
                field: Field::Choice("change_type", HUKOU_CHANGE),
                required: true,
                example: "迁出",
                help: "户籍变动的类型。",
            },
            Col {
                header: "变动日期",
                field: Field::Date,
                required: true,
                example: "2024-02-26",
                help: "办理户籍变动的日期。",
            },
            Col {
                header: "记录编号",
                field: Field::Ident("record_no"),
                required: true,
                example: "HJ2024022600321",
                help: "户籍变动记录的编号，在本部门数据中唯一。",
            },
        ],
        key: &[KeyPart::Attr("record_no")],
    },
    FeedDef {
        code: "property",
        label: "不动产登记",
        department: "不动产登记中心",
        purpose: "本人名下的房产等不动产，用于家庭经济状况核对。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "不动产权证号",
                field: Field::Ident("certificate_no"),
                required: true,
                example: "浙(2021)杭州市不动产权第0123456号",
                help: "不动产权证书号（或不动产登记证明号）。",
            },
            Col {
                header: "登记日期",
                field: Field::Date,
                required: true,
                example: "2021-08-16",
                help: "不动产登记的日期。",
            },
            Col {
                header: "建筑面积",
                field: Field::Area("floor_area_m2"),
                required: true,
                example: "89.5",
                help: "建筑面积，单位平方米，最多两位小数。",
            },
            Col {
                header: "评估价值",
                field: Field::Amount,
                required: false,
                example: "1850000",
                help: "评估价值（元）；没有评估的留空。",
            },
        ],
        key: &[KeyPart::Attr("certificate_no")],
    },
    FeedDef {
        code: "vehicle",
        label: "车辆登记",
        department: "公安交通管理部门",
        purpose: "本人名下登记的机动车，用于家庭经济状况核对。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "号牌号码",
                field: Field::Plate("plate_no"),
                required: true,
                example: "浙A12345",
                help: "机动车号牌号码，如 浙A12345、浙AD12345。",
            },
            Col {
                header: "登记日期",
                field: Field::Date,
                required: true,
                example: "2021-04-02",
                help: "登记（或转移登记）到本人名下的日期。",
            },
            Col {
                header: "车辆类型",
                field: Field::Text("vehicle_type"),
                required: true,
                example: "小型轿车",
                help: "行驶证上的车辆类型。",
            },
            Col {
                header: "评估价值",
                field: Field::Amount,
                required: false,
                example: "56000",
                help: "评估价值（元）；没有评估的留空。",
            },
        ],
        key: &[KeyPart::Attr("plate_no"), KeyPart::Date],
    },
    FeedDef {
        code: "business",
        label: "市场监管经营主体",
        department: "市场监督管理局",
        purpose: "本人担任法定代表人、投资人或经营者的企业、个体工商户，用于家庭经济状况核对。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "统一社会信用代码",
                field: Field::CreditCode("credit_code"),
                required: true,
                example: "",
                help: "经营主体的 18 位统一社会信用代码，按国家标准校验末位。",
            },
            Col {
                header: "成立日期",
                field: Field::Date,
                required: true,
                example: "2019-07-09",
                help: "经营主体的成立日期。",
            },
            Col {
                header: "注册资本",
                field: Field::Amount,
                required: false,
                example: "100000",
                help: "注册资本（元）；以万元计的可写“10万”；没有的留空。",
            },
            Col {
                header: "状态",
                field: Field::Choice("status", BUSINESS_STATUS),
                required: true,
                example: "存续",
                help: "登记状态。状态变化（如存续→注销）各为一条记录。",
            },
        ],
        key: &[KeyPart::Attr("credit_code"), KeyPart::Attr("status")],
    },
    FeedDef {
        code: "housing_fund",
        label: "住房公积金",
        department: "住房公积金管理中心",
        purpose: "按月缴存的住房公积金，用于推算工资收入和发现就业变化。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "公积金账号",
                field: Field::Ident("account_no"),
                required: true,
                example: "330106001234567",
                help: "个人住房公积金账号。",
            },
            Col {
                header: "缴存月份",
                field: Field::Month,
                required: true,
                example: "2024-05",
                help: "缴存所属月份，YYYY-MM；同一账号每月一条。",
            },
            Col {
                header: "月缴存额",
                field: Field::Amount,
                required: true,
                example: "1280",
                help: "当月缴存总额（单位和个人合计，元）。",
            },
        ],
        key: &[KeyPart::Attr("account_no"), KeyPart::Month],
    },
    FeedDef {
        code: "utility",
        label: "水电燃气欠费",
        department: "供水、供电、燃气企业",
        purpose: "水费、电费、燃气费欠费，用于发现生活困难的早期信号。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "户号",
                field: Field::Ident("account_no"),
                required: true,
                example: "3301060012345",
                help: "供水、供电或燃气的用户户号。",
            },
            Col {
                header: "截至日期",
                field: Field::Date,
                required: true,
                example: "2024-05-31",
                help: "欠费统计的截至日期；同一户号每个截至日期一条。",
            },
            Col {
                header: "欠费金额",
                field: Field::Amount,
                required: true,
                example: "386.4",
                help: "截至该日的累计欠费（元）。",
            },
            Col {
                header: "欠费月数",
                field: Field::Months("months_in_arrears"),
                required: false,
                example: "4",
                help: "连续欠费的月数（整数）；不掌握的留空。",
            },
        ],
        key: &[KeyPart::Attr("account_no"), KeyPart::Date],
    },
    FeedDef {
        code: "education",
        label: "教育学籍",
        department: "教育局",
        purpose: "学生的学籍状态变化，用于发现辍学和教育救助对象。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "学籍号",
                field: Field::Ident("student_no"),
                required: true,
                example: "G{id}",
                help: "全国学籍号（通常为 G 加身份证号）。",
            },
            Col {
                header: "学段",
                field: Field::Stage("stage"),
                required: true,
                example: "初中",
                help: "当前所在学段。",
            },
            Col {
                header: "状态",
                field: Field::Choice("status", EDUCATION_STATUS),
                required: true,
                example: "辍学",
                help: "学籍状态。",
            },
            Col {
                header: "变动日期",
                field: Field::Date,
                required: true,
                example: "2024-03-15",
                help: "状态变为本条所填状态的日期（入学、辍学或毕业的日期）。",
            },
        ],
        key: &[
            KeyPart::Attr("student_no"),
            KeyPart::Attr("status"),
            KeyPart::Date,
        ],
    },
    FeedDef {
        code: "disaster",
        label: "应急受灾人员",
        department: "应急管理局",
        purpose: "因自然灾害、事故受灾的人员和损失，用于急难型临时救助。",
        cols: &[
            ID_COL,
            NAME_COL,
            Col {
                header: "灾害类型",
                field: Field::Text("disaster_type"),
                required: true,
                example: "洪涝",
                help: "如 洪涝、台风、地震、风雹、低温冷冻、雪灾、地质灾害、火灾。",
            },
            Col {
                header: "受灾日期",
                field: Field::Date,
                required: true,
                example: "2024-06-20",
                help: "受灾的日期。",
            },
            Col {
                header: "损失金额",
                field: Field::Amount,
                required: true,
                example: "32000",
                help: "核定的直接经济损失（元）。",
            },
            Col {
                header: "记录编号",
                field: Field::Ident("record_no"),
                required: true,
                example: "YJ2024062000031",
                help: "受灾人员记录的编号，在本部门数据中唯一。",
            },
        ],
        key: &[KeyPart::Attr("record_no")],
    },
];

// -------------------------------------------------------------- limits ---

const MAX_NAME_CHARS: usize = 50;
const MAX_IDENT_CHARS: usize = 64;
const MAX_TEXT_CHARS: usize = 200;
const MAX_MONTHS: u32 = 1200;
/// 1,000,000 m² in hundredths.
const MAX_AREA_HUNDREDTHS: i64 = 100_000_000;

// ------------------------------------------------------------ validation ---

/// Today in China Standard Time (UTC+8, no daylight saving), whatever the
/// server's time zone.
fn china_today() -> NaiveDate {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&offset).date_naive()
}

/// Validates the rows of an uploaded feed file (read with
/// [`FeedKind::columns`]), with today's date in China for the
/// "not in the future" checks. See [`validate_feed_rows_as_of`].
pub fn validate_feed_rows(
    kind: FeedKind,
    rows: &[RawRow],
) -> (Vec<(usize, FeedRecord)>, Vec<Rejected>) {
    validate_feed_rows_as_of(kind, rows, china_today())
}

/// Validates the rows of an uploaded feed file.
///
/// Returns the valid records with their spreadsheet line, in file order, and
/// the rejected rows sorted by line; every input row is in exactly one of
/// the two. A rejection lists every problem of the row in Chinese, separated
/// by "；": missing required cells, ID numbers that fail validation, dates
/// that cannot be read, lie after `today` or before the person's birth,
/// amounts that are negative, unreadable or have more than two decimals,
/// enumerated values that are not allowed (listing the allowed ones). A row
/// whose record key equals that of an earlier row is rejected as
/// "与第 N 行重复". [`Rejected::household_key`] holds the row's identifying
/// number (the first record-key column, e.g. 结算单号) and
/// [`Rejected::id_number_masked`] a masked ID number.
pub fn validate_feed_rows_as_of(
    kind: FeedKind,
    rows: &[RawRow],
    today: NaiveDate,
) -> (Vec<(usize, FeedRecord)>, Vec<Rejected>) {
    let def = kind.def();
    let mut parsed: Vec<Parsed> = rows
        .iter()
        .map(|row| {
            let cells: Vec<Cow<'_, str>> = (0..def.cols.len())
                .map(|i| Cow::Borrowed(row.cell(i)))
                .collect();
            parse_cells(def, &cells, today, Mode::Row)
        })
        .collect();

    let mut first_line: HashMap<&str, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (i, (p, row)) in parsed.iter().zip(rows).enumerate() {
        if let Some(key) = &p.key {
            match first_line.entry(key.as_str()) {
                Entry::Occupied(e) => duplicates.push((i, *e.get())),
                Entry::Vacant(e) => {
                    e.insert(row.line);
                }
            }
        }
    }
    let what = kind.record_key_description();
    for (i, line) in duplicates {
        parsed[i]
            .errors
            .push(format!("与第 {line} 行重复（{what}相同）"));
    }

    let key_col = key_column(def);
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (p, row) in parsed.into_iter().zip(rows) {
        if p.errors.is_empty() {
            accepted.push((row.line, p.into_record(kind)));
        } else {
            rejected.push(Rejected {
                line: row.line,
                household_key: key_col.map_or_else(String::new, |c| row.cell(c).to_string()),
                name: row.cell(name_column(def)).to_string(),
                id_number_masked: match &p.id {
                    Some(id) => id.masked(),
                    None => mask_raw_id(halfwidth(row.cell(id_column(def))).trim()),
                },
                reason: p.errors.join("；"),
            });
        }
    }
    rejected.sort_by_key(|r| r.line);
    (accepted, rejected)
}

/// Validates a record pushed through the API, with today's date in China.
/// See [`validate_feed_record_as_of`].
pub fn validate_feed_record(record: &FeedRecord) -> Result<FeedRecord, String> {
    validate_feed_record_as_of(record, china_today())
}

/// Validates a record pushed through the API by the same rules as a file
/// row and returns it normalised: 18-digit ID number, enumerated attributes
/// as codes, amounts and areas in canonical form, the housing-fund date on
/// the first of its month, and `record_key` derived from the attributes.
///
/// `record_key` may be empty; if given it must equal the derived key. For
/// feeds whose key is a single number (结算单号, 记录编号…) a missing
/// attribute for that number is taken from `record_key`. Unknown attribute
/// keys, and `amount_fen` on feeds without money, are errors. Problems are
/// listed in Chinese, separated by "；", naming the JSON field of each.
pub fn validate_feed_record_as_of(
    record: &FeedRecord,
    today: NaiveDate,
) -> Result<FeedRecord, String> {
    let def = record.kind.def();
    let mut errors = Vec::new();

    let known: Vec<&str> = record.kind.attribute_keys();
    let unknown: Vec<&str> = record
        .attributes
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        errors.push(format!(
            "attributes 中有未知的键：{}；{}可用的键：{}",
            unknown.join("、"),
            record.kind.label(),
            known.join("、")
        ));
    }
    let has_amount = def.cols.iter().any(|c| matches!(c.field, Field::Amount));
    if !has_amount && record.amount_fen.is_some() {
        errors.push(format!(
            "amount_fen：{}没有金额，应省略或为 null",
            record.kind.label()
        ));
    }
    let given_key = record.record_key.trim();
    let single_key_attr = match def.key {
        [KeyPart::Attr(a)] => Some(*a),
        _ => None,
    };

    let mut cells: Vec<Cow<'_, str>> = Vec::with_capacity(def.cols.len());
    for col in def.cols {
        let cell: Cow<'_, str> = match col.field {
            Field::Id => Cow::Borrowed(record.id_number.as_str()),
            Field::Name => Cow::Borrowed(record.name.as_str()),
            Field::Date | Field::Month => Cow::Owned(record.event_date.to_string()),
            Field::Amount => match record.amount_fen {
                Some(fen) if has_amount => Cow::Owned(Money::from_fen(fen).yuan_string()),
                _ => Cow::Borrowed(""),
            },
            Field::Money(attr) => match record.attributes.get(attr).map(|v| v.trim()) {
                None | Some("") => Cow::Borrowed(""),
                Some(v) => match v.parse::<i64>() {
                    Ok(fen) => Cow::Owned(Money::from_fen(fen).yuan_string()),
                    Err(_) => {
                        errors.push(format!(
                            "{}：应为以分为单位的整数（字符串），实为“{v}”",
                            Mode::Api.label(col)
                        ));
                        // Reported; keep it from also counting as missing.
                        Cow::Borrowed("0")
                    }
                },
            },
            field => {
                let attr = field.attr().expect("other fields are attributes");
                match record.attributes.get(attr) {
                    Some(v) if !v.trim().is_empty() => Cow::Borrowed(v.as_str()),
                    _ if single_key_attr == Some(attr) && !given_key.is_empty() => {
                        Cow::Borrowed(given_key)
                    }
                    _ => Cow::Borrowed(""),
                }
            }
        };
        cells.push(cell);
    }

    let parsed = parse_cells(def, &cells, today, Mode::Api);
    if let Some(derived) = &parsed.key
        && !given_key.is_empty()
        && given_key != derived
    {
        errors.push(format!(
            "record_key：应为“{derived}”（由{}生成），也可以省略由系统生成；实为“{given_key}”",
            record.kind.record_key_description()
        ));
    }
    errors.extend(parsed.errors.iter().cloned());
    if errors.is_empty() {
        Ok(parsed.into_record(record.kind))
    } else {
        Err(errors.join("；"))
    }
}

fn id_column(def: &FeedDef) -> usize {
    def.cols
        .iter()
        .position(|c| matches!(c.field, Field::Id))
        .expect("every feed has an ID column")
}

fn name_column(def: &FeedDef) -> usize {
    def.cols
        .iter()
        .position(|c| matches!(c.field, Field::Name))
        .expect("every feed has a name column")
}

/// The column of the first attribute in the record key.
fn key_column(def: &FeedDef) -> Option<usize> {
    def.key.iter().find_map(|part| match part {
        KeyPart::Attr(a) => def.cols.iter().position(|c| c.field.attr() == Some(*a)),
        _ => None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Messages name the spreadsheet column.
    Row,
    /// Messages name the column and the JSON field.
    Api,
}

impl Mode {
    fn label(self, col: &Col) -> String {
        match self {
            Mode::Row => col.header.to_string(),
            Mode::Api => {
                let field = match col.field {
                    Field::Id => "id_number".to_string(),
                    Field::Name => "name".to_string(),
                    Field::Date | Field::Month => "event_date".to_string(),
                    Field::Amount => "amount_fen".to_string(),
                    f => format!("attributes.{}", f.attr().unwrap_or_default()),
                };
                format!("{}（{field}）", col.header)
            }
        }
    }
}

/// The outcome of checking one row's cells.
struct Parsed {
    errors: Vec<String>,
    /// Kept even when other cells are bad, for masking.
    id: Option<IdNumber>,
    name: String,
    date: Option<NaiveDate>,
    amount: Option<i64>,
    attributes: BTreeMap<String, String>,
    /// Present when every component of the key is valid, even if other
    /// cells are not (for duplicate detection).
    key: Option<String>,
}

impl Parsed {
    /// The record of a row without errors.
    fn into_record(self, kind: FeedKind) -> FeedRecord {
        FeedRecord {
            kind,
            record_key: self.key.expect("a valid row has a key"),
            id_number: self
                .id
                .expect("a valid row has an ID number")
                .as_str()
                .to_string(),
            name: self.name,
            event_date: self.date.expect("a valid row has a date"),
            amount_fen: self.amount,
            attributes: self.attributes,
        }
    }
}

fn parse_cells(def: &FeedDef, cells: &[Cow<'_, str>], today: NaiveDate, mode: Mode) -> Parsed {
    let mut p = Parsed {
        errors: Vec::new(),
        id: None,
        name: String::new(),
        date: None,
        amount: None,
        attributes: BTreeMap::new(),
        key: None,
    };
    let mut date_col = None;

    for (i, col) in def.cols.iter().enumerate() {
        let raw = cells.get(i).map_or("", |c| c.trim());
        let value = halfwidth(raw);
        let value = value.trim();
        let label = || mode.label(col);
        if value.is_empty() {
            if col.required {
                let msg = match allowed_values(col.field) {
                    Some(list) => format!("{}：不能为空，可选值：{list}", label()),
                    None => format!("{}：不能为空", label()),
                };
                p.errors.push(msg);
            }
            continue;
        }
        let result: Result<Option<String>, String> = match col.field {
            Field::Id => match IdNumber::parse_as_of(value, today) {
                Ok(id) => {
                    p.id = Some(id);
                    Ok(None)
                }
                Err(e) => Err(id_error_message(&e, value)),
            },
            Field::Name => check_name(raw).map(|name| {
                p.name = name;
                None
            }),
            Field::Date => {
                date_col = Some(col);
                match parse_date(value) {
                    Some(d) if d > today => Err(format!("不能晚于今天（{today}），实为 {d}")),
                    Some(d) => {
                        p.date = Some(d);
                        Ok(None)
                    }
                    None => Err(format!(
                        "应为 YYYY-MM-DD 格式的日期（如 2024-05-10），实为“{value}”"
                    )),
                }
            }
            Field::Month => {
                date_col = Some(col);
                match parse_month(value) {
                    Some(d) if d > today => Err(format!(
                        "不能晚于本月（{}），实为 {}",
                        today.format("%Y-%m"),
                        d.format("%Y-%m")
                    )),
                    Some(d) => {
                        p.date = Some(d);
                        Ok(None)
                    }
                    None => Err(format!(
                        "应为 YYYY-MM 格式的月份（如 2024-05），实为“{value}”"
                    )),
                }
            }
            Field::Amount => parse_money(value).map(|fen| {
                p.amount = Some(fen);
                None
            }),
            Field::Money(_) => parse_money(value).map(|fen| Some(fen.to_string())),
            Field::Ident(_) => check_ident(value).map(Some),
            Field::Text(_) => check_text(raw).map(Some),
            Field::Choice(_, choices) => choices
                .iter()
                .find(|c| c.label == value || c.code == value || c.aliases.contains(&value))
                .map(|c| Some(c.code.to_string()))
                .ok_or_else(|| unknown_value(value, col.field)),
            Field::DisabilityType(_) => {
                let stripped = value
                    .strip_suffix("残疾")
                    .filter(|s| !s.is_empty())
                    .unwrap_or(value);
                DisabilityType::from_label(stripped)
                    .map(|t| Some(t.code().to_string()))
                    .ok_or_else(|| unknown_value(value, col.field))
            }
            Field::Grade(_) => parse_grade(value)
                .map(|g| Some(g.to_string()))
                .ok_or_else(|| format!("应为 1–4 的整数（1 级最重），实为“{value}”")),
            Field::Stage(_) => lookup_stage(value)
                .map(|s| Some(s.code().to_string()))
                .ok_or_else(|| unknown_value(value, col.field)),
            Field::Area(_) => parse_area(value).map(Some),
            Field::Months(_) => parse_months(value).map(|n| Some(n.to_string())),
            Field::CreditCode(_) => check_credit_code(value).map(Some),
            Field::Plate(_) => check_plate(value).map(Some),
            Field::DisabilityCert(_) => check_ident(&value.to_uppercase()).map(Some),
        };
        match result {
            Ok(Some(v)) => {
                let attr = col.field.attr().expect("only attributes return a value");
                p.attributes.insert(attr.to_string(), v);
            }
            Ok(None) => {}
            Err(msg) => p.errors.push(format!("{}：{msg}", label())),
        }
    }

    // The event cannot precede the person's birth.
    if let (Some(id), Some(date), Some(col)) = (&p.id, p.date, date_col) {
        let birth = id.birth_date();
        let before = match col.field {
            Field::Month => date < birth.with_day(1).unwrap_or(birth),
            _ => date < birth,
        };
        if before {
            p.errors.push(format!(
                "{}：{} 早于本人出生日期 {birth}（身份证号或日期有误？）",
                mode.label(col),
                if matches!(col.field, Field::Month) {
                    date.format("%Y-%m").to_string()
                } else {
                    date.to_string()
                }
            ));
        }
    }
    cross_checks(def, &mut p, mode);

    let mut parts = Vec::with_capacity(def.key.len());
    for part in def.key {
        match part {
            KeyPart::Attr(a) => parts.push(p.attributes.get(*a).cloned()),
            KeyPart::Date => parts.push(p.date.map(|d| d.format("%Y-%m-%d").to_string())),
            KeyPart::Month => parts.push(p.date.map(|d| d.format("%Y-%m").to_string())),
        }
    }
    p.key = parts
        .into_iter()
        .collect::<Option<Vec<String>>>()
        .map(|v| v.join(":"));
    p
}

/// Checks between columns of one feed.
fn cross_checks(def: &FeedDef, p: &mut Parsed, mode: Mode) {
    let col_of = |attr: Option<&str>| {
        def.cols.iter().find(|c| match attr {
            Some(a) => c.field.attr() == Some(a),
            None => matches!(c.field, Field::Amount),
        })
    };
    let fen = |p: &Parsed, attr: &str| -> Option<i64> { p.attributes.get(attr)?.parse().ok() };
    let yuan = |f: i64| Money::from_fen(f).yuan_string();

    match def.code {
        "medical" => {
            let catalogue = p.amount;
            let self_pay = fen(p, "self_pay_total_fen");
            let total = fen(p, "total_cost_fen");
            if let (Some(c), Some(s)) = (catalogue, self_pay)
                && c > s
            {
                let col = col_of(None).expect("medical has an amount");
                p.errors.push(format!(
                    "{}：{} 元不能大于自付总额 {} 元",
                    mode.label(col),
                    yuan(c),
                    yuan(s)
                ));
            }
            if let (Some(s), Some(t)) = (self_pay, total)
                && s > t
            {
                let col = col_of(Some("self_pay_total_fen")).expect("medical column");
                p.errors.push(format!(
                    "{}：{} 元不能大于医疗总费用 {} 元",
                    mode.label(col),
                    yuan(s),
                    yuan(t)
                ));
            }
        }
        "disability" => {
            // Second-generation certificates: ID number + type digit + grade.
            let Some(cert) = p.attributes.get("certificate_no").cloned() else {
                return;
            };
            let col = col_of(Some("certificate_no")).expect("disability column");
            let is_second_gen = cert.len() == 20
                && cert.is_ascii()
                && cert.bytes().take(17).all(|b| b.is_ascii_digit());
            if !is_second_gen {
                return;
            }
            if let Some(id) = &p.id
                && &cert[..18] != id.as_str()
            {
                p.errors.push(format!(
                    "{}：20 位残疾证号的前 18 位应为本人身份证号",
                    mode.label(col)
                ));
            }
            let type_digit = cert.as_bytes()[18];
            if let Some(t) = p
                .attributes
                .get("disability_type")
                .and_then(|c| DisabilityType::from_code(c))
            {
                let index = DisabilityType::all()
                    .iter()
                    .position(|x| *x == t)
                    .unwrap_or(0);
                let expected = b'1' + index as u8;
                if type_digit != expected {
                    p.errors.push(format!(
                        "{}：第 19 位类别代码为 {}，与残疾类别“{}”（代码 {}）不一致",
                        mode.label(col),
                        type_digit as char,
                        t.label(),
                        expected as char
                    ));
                }
            }
            if let Some(g) = p.attributes.get("grade")
                && cert[19..] != **g
            {
                p.errors.push(format!(
                    "{}：第 20 位等级为 {}，与残疾等级 {g} 不一致",
                    mode.label(col),
                    &cert[19..]
                ));
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------- cell parsers ---

fn id_error_message(e: &IdError, raw: &str) -> String {
    let mut msg = validate::id_problem(e);
    if looks_like_excel_number(raw) {
        msg.push_str("（疑似 Excel 把身份证号当作数字保存，末几位已丢失；请把该列设置为“文本”格式后重新导出）");
    }
    msg
}

/// An 18-digit number ending in 000 or a number in scientific notation:
/// what Excel makes of a long number typed into a General cell.
fn looks_like_excel_number(raw: &str) -> bool {
    let truncated =
        raw.len() == 18 && raw.bytes().all(|b| b.is_ascii_digit()) && raw.ends_with("000");
    truncated || is_scientific(raw)
}

fn is_scientific(raw: &str) -> bool {
    let upper = raw.to_ascii_uppercase();
    match upper.split_once("E+") {
        Some((mantissa, exp)) => {
            !mantissa.is_empty()
                && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !exp.is_empty()
                && exp.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn check_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("过长，最多 {MAX_NAME_CHARS} 个字"));
    }
    if name.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!("不应包含数字：“{name}”（是否填错了列？）"));
    }
    Ok(name.to_string())
}

fn check_ident(value: &str) -> Result<String, String> {
    if value.chars().count() > MAX_IDENT_CHARS {
        return Err(format!("过长，最多 {MAX_IDENT_CHARS} 个字符"));
    }
    if value.chars().any(char::is_control) {
        return Err("含有控制字符".to_string());
    }
    if is_scientific(value) {
        return Err(format!(
            "“{value}”疑似被 Excel 当作数字保存为科学计数法，编号已丢失；请把该列设置为“文本”格式后重新导出"
        ));
    }
    Ok(value.to_string())
}

fn check_text(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("过长，最多 {MAX_TEXT_CHARS} 个字"));
    }
    if text.chars().any(char::is_control) {
        return Err("含有控制字符".to_string());
    }
    Ok(text.to_string())
}

/// Yuan to fen, never through floating point: "1234", "1234.5",
/// "1,234.50", "¥12", "12元" (at most two decimals), and "12.5万" /
/// "12.5万元" (ten-thousands of yuan, at most six decimals).
fn parse_money(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let wan = t
        .strip_suffix("万元")
        .or_else(|| t.strip_suffix('万'))
        .map(str::trim_end);
    let Some(number) = wan else {
        return Money::parse_yuan(t)
            .map(Money::fen)
            .map_err(|e| e.to_string());
    };
    let (int_part, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (number.contains('.') && frac.is_empty()) {
        return Err(format!("金额格式无法识别：{t}"));
    }
    if frac.len() > 6 {
        return Err(format!(
            "以“万”为单位的金额最多保留六位小数（精确到分）：{t}"
        ));
    }
    // The integer part in "yuan" is the number of 万; its fen are 万 × 100.
    let whole_wan_fen = Money::parse_yuan(int_part)
        .map_err(|e| match e {
            MoneyError::Negative(_) => format!("金额不能为负数：{t}"),
            MoneyError::TooLarge(_) => format!("金额过大：{t}"),
            _ => format!("金额格式无法识别：{t}"),
        })?
        .fen();
    let frac_fen: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}")
            .parse()
            .map_err(|_| format!("金额格式无法识别：{t}"))?
    };
    // 1 万 = 1,000,000 fen; `whole_wan_fen` is already 万 × 100.
    whole_wan_fen
        .checked_mul(10_000)
        .and_then(|v| v.checked_add(frac_fen))
        .ok_or_else(|| format!("金额过大：{t}"))
}

/// Square metres with at most two decimals, positive, as "89.50".
fn parse_area(s: &str) -> Result<String, String> {
    let mut t = s.trim();
    for suffix in ["平方米", "平米", "㎡", "m²", "m2", "M2"] {
        if let Some(r) = t.strip_suffix(suffix) {
            t = r.trim_end();
            break;
        }
    }
    let invalid = || format!("应为平方米数，最多两位小数（如 89.5），实为“{s}”");
    let (int_part, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    let int_digits: String = int_part.chars().filter(|&c| c != ',').collect();
    if int_digits.is_empty()
        || !int_digits.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (t.contains('.') && frac.is_empty())
    {
        return Err(invalid());
    }
    if frac.len() > 2 {
        return Err(format!("最多保留两位小数，实为“{s}”"));
    }
    let whole: i64 = int_digits.parse().map_err(|_| invalid())?;
    let hundredths = whole
        .checked_mul(100)
        .and_then(|v| v.checked_add(format!("{frac:0<2}").parse::<i64>().ok()?))
        .ok_or_else(invalid)?;
    if hundredths == 0 {
        return Err("应大于 0".to_string());
    }
    if hundredths > MAX_AREA_HUNDREDTHS {
        return Err(format!("数值过大：{s}"));
    }
    Ok(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

/// A count of months: "4", "4个月".
fn parse_months(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("个月")
        .or_else(|| t.strip_suffix('月'))
        .unwrap_or(t)
        .trim_end();
    match t.parse::<u32>() {
        Ok(n) if n <= MAX_MONTHS => Ok(n),
        _ => Err(format!("应为 0–{MAX_MONTHS} 的整数（月数），实为“{s}”")),
    }
}

fn lookup_stage(s: &str) -> Option<Schooling> {
    Schooling::from_label(s)
        .filter(|v| STAGES.contains(v))
        .or_else(|| STAGE_ALIASES.iter().find(|(a, _)| *a == s).map(|(_, v)| *v))
}

/// Characters of the 统一社会信用代码 in value order (GB 32100-2015: digits
/// and capitals without I, O, S, V, Z).
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The check character of a credit code's first 17 characters (all from
/// [`USCC_CHARS`]).
fn credit_code_check(first17: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(USCC_WEIGHTS) {
        let v = USCC_CHARS.iter().position(|x| x == c)? as u32;
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_CHARS[check as usize])
}

fn check_credit_code(value: &str) -> Result<String, String> {
    let code: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let code = code.to_ascii_uppercase();
    let n = code.chars().count();
    if n != 18 {
        return Err(format!("应为 18 位，实为 {n} 位"));
    }
    let bytes = code.as_bytes();
    if code.len() != 18 || !bytes.iter().all(|b| USCC_CHARS.contains(b)) {
        return Err(format!(
            "只能包含数字和大写字母（不含 I、O、S、V、Z），实为“{code}”"
        ));
    }
    let expected = credit_code_check(&bytes[..17]).expect("characters checked above");
    if expected != bytes[17] {
        return Err(format!(
            "校验位错误：应为 {}，实为 {}",
            expected as char, bytes[17] as char
        ));
    }
    Ok(code)
}

/// 号牌号码: spaces, "·" and "-" dropped, letters upper-cased; 6–10
/// letters, digits or Chinese characters.
fn check_plate(value: &str) -> Result<String, String> {
    let plate: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '-' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let n = plate.chars().count();
    let chars_ok = plate
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ('\u{4E00}'..='\u{9FFF}').contains(&c));
    if (6..=10).contains(&n) && chars_ok {
        Ok(plate)
    } else {
        Err(format!(
            "应为号牌号码（如 浙A12345、浙AD12345），实为“{value}”"
        ))
    }
}

/// The household import's date rules ([`validate::parse_date`]), also
/// accepting an ISO date-time (`2024-05-01T08:00`), as systems export them.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.split_whitespace().next()?;
    validate::parse_date(s.split('T').next()?)
}

/// A month as its first day: `YYYY-MM`, `YYYY/MM`, `YYYY.MM`, `YYYYMM`,
/// `YYYY年M月`, or any full date [`parse_date`] reads (an Excel date cell).
fn parse_month(s: &str) -> Option<NaiveDate> {
    if let Some(d) = parse_date(s) {
        return d.with_day(1);
    }
    let s = s.split_whitespace().next()?;
    let s = s.strip_suffix('月').unwrap_or(s);
    let (y, m) = if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[..4], &s[4..])
    } else {
        let parts: Vec<&str> = s.split(['-', '/', '.', '年']).collect();
        if parts.len() != 2 {
            return None;
        }
        (parts[0], parts[1])
    };
    if y.len() != 4
        || !(1..=2).contains(&m.len())
        || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let y: i32 = y.parse().ok()?;
    if y < 1900 {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m.parse().ok()?, 1)
}

/// The allowed values of an enumerated field, "、"-separated.
fn allowed_values(field: Field) -> Option<String> {
    let list: Vec<&str> = match field {
        Field::Choice(_, choices) => choices.iter().map(|c| c.label).collect(),
        Field::DisabilityType(_) => DisabilityType::all().iter().map(|t| t.label()).collect(),
        Field::Grade(_) => vec!["1", "2", "3", "4"],
        Field::Stage(_) => STAGES.iter().map(|s| s.label()).collect(),
        _ => return None,
    };
    Some(list.join("、"))
}

fn unknown_value(value: &str, field: Field) -> String {
    format!(
        "无法识别“{value}”，可选值：{}",
        allowed_values(field).unwrap_or_default()
    )
}

// ------------------------------------------------------------- templates ---

/// The example ID number of a feed's template.
fn example_id(kind: FeedKind) -> IdNumber {
    let birth = match kind {
        FeedKind::Education => NaiveDate::from_ymd_opt(2010, 9, 1),
        _ => NaiveDate::from_ymd_opt(1968, 3, 12),
    }
    .expect("valid date");
    IdNumber::from_parts("330106", birth, 15).expect("example ID is valid")
}

/// The example credit code: a 个体工商户 in 西湖区 with a computed check
/// character.
fn example_credit_code() -> String {
    let body = b"92330106MA27X8K4Q";
    let check = credit_code_check(body).expect("example body uses valid characters");
    let mut code = String::from_utf8(body.to_vec()).expect("ASCII");
    code.push(check as char);
    code
}

/// The template's example row, in column order.
fn example_row(kind: FeedKind) -> Vec<String> {
    let id = example_id(kind);
    kind.def()
        .cols
        .iter()
        .map(|c| match c.field {
            Field::CreditCode(_) => example_credit_code(),
            _ => c.example.replace("{id}", id.as_str()),
        })
        .collect()
}

/// "必填" / "选填".
fn required_text(col: &Col) -> &'static str {
    if col.required { "必填" } else { "选填" }
}

/// The format / allowed values of a column, for the 说明 sheet.
fn format_text(field: Field) -> String {
    if let Some(list) = allowed_values(field) {
        return list;
    }
    match field {
        Field::Id => "18 位（或 15 位）号码".into(),
        Field::Name => format!("文字，最多 {MAX_NAME_CHARS} 字"),
        Field::Date => "YYYY-MM-DD（如 2024-05-10），也可写 YYYY/MM/DD、YYYY年M月D日".into(),
        Field::Month => "YYYY-MM（如 2024-05），也可写 YYYYMM、YYYY年M月".into(),
        Field::Amount | Field::Money(_) => {
            "金额（元），最多两位小数，如 1234.50 或 1,234.50；也可写“12.5万”；不能为负数".into()
        }
        Field::Ident(_) => format!("文字，最多 {MAX_IDENT_CHARS} 个字符"),
        Field::Text(_) => format!("文字，最多 {MAX_TEXT_CHARS} 字"),
        Field::Area(_) => "平方米，大于 0，最多两位小数".into(),
        Field::Months(_) => format!("0–{MAX_MONTHS} 的整数"),
        Field::CreditCode(_) => "18 位数字和大写字母".into(),
        Field::Plate(_) => "号牌号码，如 浙A12345".into(),
        Field::DisabilityCert(_) => "20 位：身份证号 + 类别代码 + 等级".into(),
        Field::Choice(..) | Field::DisabilityType(_) | Field::Grade(_) | Field::Stage(_) => {
            unreachable!("enumerated fields have allowed values")
        }
    }
}

fn template_notes(kind: FeedKind) -> Vec<String> {
    let def = kind.def();
    vec![
        format!("提供部门：{}", def.department),
        format!("用途：{}", def.purpose),
        format!(
            "1. 每行一条记录。记录以“{}”识别：同一记录重复上报只保留一条，同一文件中重复的行只导入第一行。",
            kind.record_key_description()
        ),
        "2. 表头文字请勿修改；列的顺序可以调整，多出的列会被忽略，空行会被跳过；“选填”的列可以整列删除。".into(),
        "3. 日期写作 YYYY-MM-DD（如 2024-05-10），不能晚于今天；金额以元为单位，最多两位小数，不能为负数。".into(),
        "4. 身份证号、编号等列请保持“文本”格式，避免 Excel 把长数字改成科学计数法或把末几位变成 0。".into(),
        "5. 第 2 行是填写示例，上报前请删除。有误的行不会导入，导入结果会逐行列出原因。".into(),
        "6. 也可以另存为“CSV UTF-8（逗号分隔）”文件上传，列与本表相同；也可以通过数据接口（API）推送。".into(),
    ]
}

/// The upload template of a feed: a sheet named after the feed with the
/// header row and one example row (text-formatted columns, drop-down lists
/// for enumerated columns), and a sheet 说明 describing the feed and each
/// column.
pub fn feed_template_xlsx(kind: FeedKind) -> Vec<u8> {
    let def = kind.def();
    let mut workbook = Workbook::new();
    let build = |workbook: &mut Workbook| -> Result<(), XlsxError> {
        let header = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xD9E1F2))
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter);
        let text = Format::new().set_num_format("@");
        let example = example_row(kind);

        let sheet = workbook.add_worksheet();
        sheet.set_name(kind.label())?;
        for (c, col) in def.cols.iter().enumerate() {
            let c16 = c as u16;
            sheet.write_string_with_format(0, c16, col.header, &header)?;
            let width = display_width(col.header)
                .max(display_width(&example[c]))
                .clamp(10, 40);
            sheet.set_column_width(c16, (width + 2) as f64)?;
            if !col.field.is_numeric() {
                sheet.set_column_format(c16, &text)?;
            }
            let value = &example[c];
            match value.parse::<f64>() {
                _ if value.is_empty() => {}
                Ok(number) if col.field.is_numeric() => {
                    sheet.write_number(1, c16, number)?;
                }
                _ => {
                    sheet.write_string_with_format(1, c16, value, &text)?;
                }
            }
            let values: Vec<&str> = match col.field {
                Field::Choice(_, choices) => choices.iter().map(|c| c.label).collect(),
                Field::DisabilityType(_) => {
                    DisabilityType::all().iter().map(|t| t.label()).collect()
                }
                Field::Grade(_) => vec!["1", "2", "3", "4"],
                Field::Stage(_) => STAGES.iter().map(|s| s.label()).collect(),
                _ => continue,
            };
            // Warning style: synonyms (e.g. 肢体残疾, 在校) are accepted too.
            let dv = DataValidation::new()
                .allow_list_strings(values.as_slice())?
                .set_error_style(DataValidationErrorStyle::Warning)
                .set_error_title("不在可选值中")?
                .set_error_message(format!("可选值：{}", values.join("、")))?;
            sheet.add_data_validation(1, c16, 20_000, c16, &dv)?;
        }
        sheet.set_row_height(0, 22)?;
        sheet.set_freeze_panes(1, 0)?;

        let help = workbook.add_worksheet();
        help.set_name("说明")?;
        let title = Format::new().set_bold().set_font_size(14);
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        let bold = Format::new().set_bold();
        help.write_string_with_format(0, 0, format!("{}数据模板 · 说明", kind.label()), &title)?;
        let mut r = 2u32;
        for note in template_notes(kind) {
            help.write_string(r, 0, note)?;
            r += 1;
        }
        r += 1;
        help.write_string_with_format(r, 0, "各列说明", &bold)?;
        r += 1;
        for (c, h) in ["列名", "是否必填", "填写说明", "格式 / 可选值", "接口字段"]
            .iter()
            .enumerate()
        {
            help.write_string_with_format(r, c as u16, *h, &header)?;
        }
        r += 1;
        for col in def.cols {
            let api = Mode::Api.label(col);
            let api = api
                .split_once('（')
                .map(|(_, f)| f.trim_end_matches('）').to_string())
                .unwrap_or_default();
            let cells = [
                col.header.to_string(),
                required_text(col).to_string(),
                col.help.to_string(),
                format_text(col.field),
                api,
            ];
            for (c, value) in cells.iter().enumerate() {
                help.write_string_with_format(r, c as u16, value, &wrap)?;
            }
            r += 1;
        }
        help.set_column_width(0, 18)?;
        help.set_column_width(1, 10)?;
        help.set_column_width(2, 70)?;
        help.set_column_width(3, 45)?;
        help.set_column_width(4, 30)?;
        Ok(())
    };
    build(&mut workbook).expect("template content is fixed and valid");
    workbook
        .save_to_buffer()
        .expect("writing an in-memory workbook cannot fail")
}

/// The upload template as UTF-8 CSV with BOM (so Excel opens it with the
/// right encoding): header and the example row.
pub fn feed_template_csv(kind: FeedKind) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    writer
        .write_record(kind.columns())
        .and_then(|_| writer.write_record(example_row(kind)))
        .and_then(|_| writer.flush().map_err(csv::Error::from))
        .expect("writing CSV into memory cannot fail");
    writer
        .into_inner()
        .expect("flushing CSV into memory cannot fail")
}

/// The rows of a feed file that were not imported: 行号, the feed's
/// identifying number (e.g. 结算单号), 姓名, masked ID number, 原因.
pub fn feed_rejected_report_xlsx(kind: FeedKind, rejected: &[Rejected]) -> Vec<u8> {
    let def = kind.def();
    let key_header = key_column(def).map_or("记录编号", |c| def.cols[c].header);
    let headers = ["行号", key_header, "姓名", "身份证号(脱敏)", "原因"];
    let rows: Vec<Vec<String>> = rejected
        .iter()
        .map(|r| {
            vec![
                r.line.to_string(),
                r.household_key.clone(),
                r.name.clone(),
                r.id_number_masked.clone(),
                r.reason.clone(),
            ]
        })
        .collect();
    table_xlsx("未导入的行", &headers, &rows)
}

/// Reads an uploaded feed file: [`read_table_columns`] with the feed's
/// [`columns`](FeedKind::columns) and
/// [`required_columns`](FeedKind::required_columns).
pub fn read_feed_table(
    kind: FeedKind,
    filename: &str,
    bytes: &[u8],
    max_rows: usize,
) -> Result<Vec<RawRow>, SheetError> {
    read_table_columns(
        filename,
        bytes,
        kind.columns(),
        kind.required_columns(),
        max_rows,
    )
}

/// Approximate display width in Excel character units: CJK counts double.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) < 0x1100 { 1 } else { 2 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Reader, open_workbook_auto_from_rs};
    use std::io::Cursor;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        date(2025, 6, 30)
    }

    /// A valid ID number born 1970-01-01, distinct for distinct `seq`.
    fn id(seq: u16) -> String {
        IdNumber::from_parts("330106", date(1970, 1, 1), seq)
            .unwrap()
            .as_str()
            .to_string()
    }

    /// `id` with a wrong check character.
    fn bad_check(id: &str) -> String {
        let last = id.chars().last().unwrap();
        let wrong = if last == '1' { '2' } else { '1' };
        format!("{}{wrong}", &id[..17])
    }

    /// The template example row of `kind` with some cells replaced.
    fn row(kind: FeedKind, overrides: &[(&str, &str)]) -> Vec<String> {
        let mut cells = example_row(kind);
        for (header, value) in overrides {
            let i = kind
                .columns()
                .iter()
                .position(|c| c == header)
                .unwrap_or_else(|| panic!("no column {header}"));
            cells[i] = value.to_string();
        }
        cells
    }

    fn csv_line(cells: &[impl AsRef<str>]) -> String {
        cells
            .iter()
            .map(|c| {
                let c = c.as_ref();
                if c.contains([',', '"', '\n']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn csv_of(kind: FeedKind, rows: &[Vec<String>]) -> String {
        let mut out = csv_line(kind.columns());
        out.push('\n');
        for r in rows {
            out.push_str(&csv_line(r));
            out.push('\n');
        }
        out
    }

    /// CSV through the reader and the validator.
    fn run(kind: FeedKind, rows: &[Vec<String>]) -> (Vec<(usize, FeedRecord)>, Vec<Rejected>) {
        let csv = csv_of(kind, rows);
        let raw = read_feed_table(kind, "feed.csv", csv.as_bytes(), 1000).unwrap();
        let (ok, bad) = validate_feed_rows_as_of(kind, &raw, today());
        assert_eq!(ok.len() + bad.len(), raw.len());
        (ok, bad)
    }

    /// The reason of the single rejected row.
    fn reason(kind: FeedKind, overrides: &[(&str, &str)]) -> String {
        let (ok, bad) = run(kind, &[row(kind, overrides)]);
        assert!(ok.is_empty(), "{overrides:?} was accepted");
        assert_eq!(bad.len(), 1);
        bad[0].reason.clone()
    }

    fn accepted(kind: FeedKind, overrides: &[(&str, &str)]) -> FeedRecord {
        let (ok, bad) = run(kind, &[row(kind, overrides)]);
        assert!(bad.is_empty(), "{overrides:?}: {bad:?}");
        ok.into_iter().next().unwrap().1
    }

    #[test]
    fn kinds_codes_and_columns() {
        let expected: [(&str, &str, &[&str]); 12] = [
            (
                "medical",
                "医保医疗费用自付",
                &[
                    "身份证号",
                    "姓名",
                    "结算单号",
                    "结算日期",
                    "医疗总费用",
                    "目录内自付金额",
                    "自付总额",
                    "医疗机构",
                ],
            ),
            (
                "unemployment",
                "人社失业登记",
                &["身份证号", "姓名", "登记编号", "登记日期", "状态"],
            ),
            (
                "disability",
                "残联残疾证",
                &[
                    "身份证号",
                    "姓名",
                    "残疾证号",
                    "残疾类别",
                    "残疾等级",
                    "发证日期",
                ],
            ),
            (
                "death",
                "公安死亡注销",
                &["身份证号", "姓名", "死亡日期", "记录编号"],
            ),
            (
                "hukou",
                "公安户籍变动",
                &["身份证号", "姓名", "变动类型", "变动日期", "记录编号"],
            ),
            (
                "property",
                "不动产登记",
                &[
                    "身份证号",
                    "姓名",
                    "不动产权证号",
                    "登记日期",
                    "建筑面积",
                    "评估价值",
                ],
            ),
            (
                "vehicle",
                "车辆登记",
                &[
                    "身份证号",
                    "姓名",
                    "号牌号码",
                    "登记日期",
                    "车辆类型",
                    "评估价值",
                ],
            ),
            (
                "business",
                "市场监管经营主体",
                &[
                    "身份证号",
                    "姓名",
                    "统一社会信用代码",
                    "成立日期",
                    "注册资本",
                    "状态",
                ],
            ),
            (
                "housing_fund",
                "住房公积金",
                &["身份证号", "姓名", "公积金账号", "缴存月份", "月缴存额"],
            ),
            (
                "utility",
                "水电燃气欠费",
                &[
                    "身份证号",
                    "姓名",
                    "户号",
                    "截至日期",
                    "欠费金额",
                    "欠费月数",
                ],
            ),
            (
                "education",
                "教育学籍",
                &["身份证号", "姓名", "学籍号", "学段", "状态", "变动日期"],
            ),
            (
                "disaster",
                "应急受灾人员",
                &[
                    "身份证号",
                    "姓名",
                    "灾害类型",
                    "受灾日期",
                    "损失金额",
                    "记录编号",
                ],
            ),
        ];
        assert_eq!(FeedKind::all().len(), expected.len());
        for (kind, (code, label, columns)) in FeedKind::all().iter().zip(expected) {
            assert_eq!(kind.code(), code);
            assert_eq!(kind.label(), label);
            assert_eq!(kind.columns(), columns);
            assert_eq!(FeedKind::from_code(code), Some(*kind));
            assert!(!kind.department().is_empty());
            assert!(
                kind.required_columns()
                    .iter()
                    .all(|c| kind.columns().contains(c))
            );
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{code}\""));
            let back: FeedKind = serde_json::from_str(&format!("\"{code}\"")).unwrap();
            assert_eq!(back, *kind);
            // Every key part is an attribute of the feed or its date.
            for part in kind.def().key {
                if let KeyPart::Attr(a) = part {
                    assert!(kind.attribute_keys().contains(a), "{code}: {a}");
                }
            }
            assert!(key_column(kind.def()).is_some());
        }
        assert_eq!(FeedKind::from_code("Medical"), None);
        let err = serde_json::from_str::<FeedKind>("\"bank\"").unwrap_err();
        assert!(
            err.to_string().contains("无法识别的数据类型“bank”"),
            "{err}"
        );
        assert_eq!(FeedKind::HousingFund.to_string(), "住房公积金");
        assert_eq!(
            FeedKind::Education.record_key_description(),
            "学籍号、状态和变动日期"
        );
        assert_eq!(FeedKind::Medical.record_key_description(), "结算单号");
        assert_eq!(
            FeedKind::Vehicle.record_key_description(),
            "号牌号码和登记日期"
        );
        assert_eq!(
            FeedKind::Property.required_columns(),
            &["身份证号", "姓名", "不动产权证号", "登记日期", "建筑面积"]
        );
    }

    #[test]
    fn every_template_round_trips_without_rejections() {
        for &kind in FeedKind::all() {
            let xlsx = feed_template_xlsx(kind);
            let csv = feed_template_csv(kind);
            assert!(csv.starts_with(b"\xEF\xBB\xBF"), "{kind}");

            let mut book = open_workbook_auto_from_rs(Cursor::new(xlsx.clone())).unwrap();
            assert_eq!(
                book.sheet_names(),
                vec![kind.label().to_string(), "说明".into()]
            );
            let help = book.worksheet_range("说明").unwrap();
            let help_text: Vec<String> = help.cells().map(|(_, _, c)| c.to_string()).collect();
            for column in kind.columns() {
                assert!(help_text.iter().any(|t| t == column), "{kind}: {column}");
            }

            let mut records = Vec::new();
            for (name, bytes) in [("模板.xlsx", &xlsx), ("模板.csv", &csv)] {
                let rows = read_table_columns(name, bytes, kind.columns(), kind.columns(), 10)
                    .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
                assert_eq!(rows.len(), 1, "{kind} {name}");
                assert_eq!(rows[0].line, 2);
                let (ok, bad) = validate_feed_rows_as_of(kind, &rows, today());
                assert!(bad.is_empty(), "{kind} {name}: {bad:?}");
                assert_eq!(ok.len(), 1);
                assert_eq!(ok[0].0, 2);
                // Same with the real clock.
                let (ok_now, bad_now) = validate_feed_rows(kind, &rows);
                assert!(bad_now.is_empty() && ok_now == ok, "{kind} {name}");
                records.push(ok.into_iter().next().unwrap().1);
            }
            assert_eq!(records[0], records[1], "{kind}: xlsx and csv differ");
            let rec = &records[0];
            assert_eq!(rec.kind, kind);
            assert_eq!(rec.id_number, example_id(kind).as_str());
            assert_eq!(rec.name, "张三");
            assert!(!rec.record_key.is_empty());
            // Every column of the example is filled, so every attribute is.
            let keys: Vec<&str> = rec.attributes.keys().map(String::as_str).collect();
            let mut expected = kind.attribute_keys();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{kind}");

            // The same record pushed through the API is accepted unchanged,
            // with or without its key.
            assert_eq!(validate_feed_record_as_of(rec, today()).as_ref(), Ok(rec));
            let mut keyless = rec.clone();
            keyless.record_key.clear();
            assert_eq!(
                validate_feed_record_as_of(&keyless, today()).as_ref(),
                Ok(rec)
            );
            let json = serde_json::to_string(rec).unwrap();
            assert!(
                json.starts_with(&format!("{{\"kind\":\"{}\"", kind.code())),
                "{json}"
            );
            let back: FeedRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, rec);
        }
    }

    #[test]
    fn example_records_are_normalised() {
        let r = accepted(FeedKind::Medical, &[]);
        assert_eq!(r.record_key, "JS20240510000123");
        assert_eq!(r.event_date, date(2024, 5, 10));
        assert_eq!(r.amount_fen, Some(612_050));
        assert_eq!(r.attributes["total_cost_fen"], "2350000");
        assert_eq!(r.attributes["self_pay_total_fen"], "860000");
        assert_eq!(r.attributes["settlement_no"], "JS20240510000123");
        assert_eq!(r.attributes["institution"], "杭州市第一人民医院");

        let r = accepted(
            FeedKind::Disability,
            &[("残疾类别", "肢体残疾"), ("残疾等级", "三级")],
        );
        assert_eq!(r.attributes["disability_type"], "physical");
        assert_eq!(r.attributes["grade"], "3");
        assert_eq!(
            r.record_key,
            format!("{}43", example_id(FeedKind::Disability))
        );
        assert_eq!(r.amount_fen, None);

        let r = accepted(FeedKind::Education, &[("学段", "中职"), ("状态", "退学")]);
        assert_eq!(r.attributes["stage"], "senior");
        assert_eq!(r.attributes["status"], "dropped_out");
        assert_eq!(
            r.record_key,
            format!(
                "G{}:dropped_out:2024-03-15",
                example_id(FeedKind::Education)
            )
        );

        let r = accepted(FeedKind::HousingFund, &[("缴存月份", "2024年5月")]);
        assert_eq!(r.event_date, date(2024, 5, 1));
        assert_eq!(r.record_key, "330106001234567:2024-05");
        assert_eq!(r.amount_fen, Some(128_000));

        let r = accepted(
            FeedKind::Business,
            &[("注册资本", "10万"), ("状态", "在营")],
        );
        assert_eq!(r.amount_fen, Some(10_000_000));
        assert_eq!(r.attributes["status"], "active");
        assert!(r.record_key.ends_with(":active"));

        let r = accepted(
            FeedKind::Property,
            &[("建筑面积", "89.5㎡"), ("评估价值", "")],
        );
        assert_eq!(r.attributes["floor_area_m2"], "89.50");
        assert_eq!(r.amount_fen, None);

        let r = accepted(FeedKind::Vehicle, &[("号牌号码", "浙a·12345")]);
        assert_eq!(r.attributes["plate_no"], "浙A12345");
        assert_eq!(r.record_key, "浙A12345:2021-04-02");

        let r = accepted(FeedKind::Utility, &[("欠费月数", "4个月")]);
        assert_eq!(r.attributes["months_in_arrears"], "4");
        assert_eq!(r.record_key, "3301060012345:2024-05-31");

        let r = accepted(FeedKind::Hukou, &[("变动类型", "new_household")]);
        assert_eq!(r.attributes["change_type"], "new_household");

        let r = accepted(FeedKind::Unemployment, &[("状态", "注销")]);
        assert_eq!(r.record_key, "SY330106202400123:cancelled");

        // A 15-digit ID, full-width digits and a lowercase x are normalised.
        let fifteen = "330106680312015";
        let r = accepted(FeedKind::Death, &[("身份证号", fifteen)]);
        assert_eq!(r.id_number, IdNumber::parse(fifteen).unwrap().as_str());
        assert_eq!(r.id_number.len(), 18);
        let wide: String = id(1)
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
            .collect();
        let r = accepted(FeedKind::Death, &[("身份证号", &wide)]);
        assert_eq!(r.id_number, id(1));
    }

    #[test]
    fn wrong_columns_are_named() {
        let csv = "身份证号,姓名,结算日期,医疗机构\n110105194912310021,张三,2024-01-01,某医院\n";
        let err = read_feed_table(FeedKind::Medical, "m.csv", csv.as_bytes(), 10).unwrap_err();
        match &err {
            SheetError::MissingColumns(missing) => assert_eq!(
                missing,
                &["结算单号", "医疗总费用", "目录内自付金额", "自付总额"]
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("缺少以下列：结算单号、医疗总费用、目录内自付金额、自付总额")
        );

        // The household template is not a feed file.
        let household = crate::template_csv();
        let err = read_feed_table(FeedKind::Death, "h.csv", &household, 10).unwrap_err();
        assert!(
            matches!(&err, SheetError::MissingColumns(m) if m == &["死亡日期", "记录编号"]),
            "{err:?}"
        );

        // Optional columns may be left out; order is free; extra columns
        // and header aliases are fine.
        let csv = format!(
            "序号,不动产权证号,公民身份号码,姓名,建筑面积,登记日期\n1,X001,{},张三,120,2020-01-02\n",
            id(3)
        );
        let rows = read_feed_table(FeedKind::Property, "p.csv", csv.as_bytes(), 10).unwrap();
        let (ok, bad) = validate_feed_rows_as_of(FeedKind::Property, &rows, today());
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].1.amount_fen, None);
        assert_eq!(ok[0].1.attributes["floor_area_m2"], "120.00");
        assert_eq!(ok[0].1.id_number, id(3));
    }

    #[test]
    fn each_problem_is_rejected_with_its_reason() {
        use FeedKind::*;
        let good = id(7);
        let bad = bad_check(&good);
        type Case<'a> = (FeedKind, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (Medical, &[("身份证号", &bad)], "身份证号：校验位错误"),
            (Medical, &[("身份证号", "")], "身份证号：不能为空"),
            (
                Medical,
                &[("身份证号", "330106196803120000")],
                "疑似 Excel 把身份证号当作数字保存",
            ),
            (
                Medical,
                &[("结算日期", "2024-13-01")],
                "结算日期：应为 YYYY-MM-DD 格式的日期（如 2024-05-10），实为“2024-13-01”",
            ),
            (
                Medical,
                &[("结算日期", "2025-07-01")],
                "结算日期：不能晚于今天（2025-06-30），实为 2025-07-01",
            ),
            (
                Medical,
                &[("结算日期", "1960-01-01")],
                "结算日期：1960-01-01 早于本人出生日期 1968-03-12",
            ),
            (
                Medical,
                &[("目录内自付金额", "12.345")],
                "目录内自付金额：金额最多保留两位小数（精确到分）：12.345",
            ),
            (
                Medical,
                &[("目录内自付金额", "-5")],
                "目录内自付金额：金额不能为负数：-5",
            ),
            (
                Medical,
                &[("医疗总费用", "一万")],
                "医疗总费用：金额格式无法识别：一万",
            ),
            (
                Medical,
                &[("目录内自付金额", "9000")],
                "目录内自付金额：9000.00 元不能大于自付总额 8600.00 元",
            ),
            (Medical, &[("结算单号", "")], "结算单号：不能为空"),
            (
                Medical,
                &[("结算单号", "1.23457E+17")],
                "结算单号：“1.23457E+17”疑似被 Excel 当作数字保存",
            ),
            (Medical, &[("姓名", "张三3")], "姓名：不应包含数字"),
            (
                Unemployment,
                &[("状态", "暂停")],
                "状态：无法识别“暂停”，可选值：登记、注销",
            ),
            (
                Unemployment,
                &[("状态", "")],
                "状态：不能为空，可选值：登记、注销",
            ),
            (
                Hukou,
                &[("变动类型", "迁移")],
                "变动类型：无法识别“迁移”，可选值：迁入、迁出、分户、立户",
            ),
            (
                Education,
                &[("状态", "休学")],
                "状态：无法识别“休学”，可选值：在读、辍学、毕业",
            ),
            (
                Education,
                &[("学段", "已毕业")],
                "学段：无法识别“已毕业”，可选值：学前、小学、初中、高中/中职、大专及以上",
            ),
            (
                Disability,
                &[("残疾类别", "视觉")],
                "残疾类别：无法识别“视觉”，可选值：视力、听力、言语、肢体、智力、精神、多重",
            ),
            (
                Disability,
                &[("残疾等级", "5")],
                "残疾等级：应为 1–4 的整数",
            ),
            (
                Disability,
                &[("残疾类别", "视力")],
                "残疾证号：第 19 位类别代码为 4，与残疾类别“视力”（代码 1）不一致",
            ),
            (
                Disability,
                &[("残疾证号", &format!("{good}43"))],
                "残疾证号：20 位残疾证号的前 18 位应为本人身份证号",
            ),
            (
                Business,
                &[("统一社会信用代码", "91350100M000100Y44")],
                "统一社会信用代码：校验位错误：应为 3，实为 4",
            ),
            (
                Business,
                &[("状态", "歇业中")],
                "可选值：存续、吊销、注销、迁出、撤销",
            ),
            (
                HousingFund,
                &[("缴存月份", "2025-07")],
                "缴存月份：不能晚于本月（2025-06），实为 2025-07",
            ),
            (
                HousingFund,
                &[("缴存月份", "2024-13")],
                "缴存月份：应为 YYYY-MM 格式的月份",
            ),
            (
                Utility,
                &[("欠费月数", "-1")],
                "欠费月数：应为 0–1200 的整数",
            ),
            (Property, &[("建筑面积", "0")], "建筑面积：应大于 0"),
            (
                Property,
                &[("建筑面积", "89.555")],
                "建筑面积：最多保留两位小数",
            ),
            (Vehicle, &[("号牌号码", "A1")], "号牌号码：应为号牌号码"),
            (Disaster, &[("损失金额", "")], "损失金额：不能为空"),
        ];
        for (kind, overrides, expected) in cases {
            let reason = reason(*kind, overrides);
            assert!(
                reason.contains(expected),
                "{kind} {overrides:?}: “{reason}” lacks “{expected}”"
            );
        }

        // Rejected rows show the masked ID number and the identifying number.
        let (_, rejected) = run(
            FeedKind::Medical,
            &[row(
                FeedKind::Medical,
                &[("身份证号", &bad), ("结算单号", "JS9")],
            )],
        );
        assert_eq!(
            rejected[0].id_number_masked,
            format!("{}************", &bad[..6])
        );
        assert_eq!(rejected[0].household_key, "JS9");
        assert_eq!(rejected[0].name, "张三");
        assert_eq!(rejected[0].line, 2);
        let (_, rejected) = run(
            FeedKind::Medical,
            &[row(FeedKind::Medical, &[("结算日期", "昨天")])],
        );
        assert_eq!(
            rejected[0].id_number_masked,
            example_id(FeedKind::Medical).masked()
        );
        assert!(!rejected[0].id_number_masked.contains("19680312"));
    }

    #[test]
    fn all_problems_of_a_row_are_listed() {
        let kind = FeedKind::Medical;
        let bad = bad_check(&id(2));
        let reason = reason(
            kind,
            &[
                ("身份证号", &bad),
                ("结算日期", "2024/02/30"),
                ("目录内自付金额", "12.345"),
                ("姓名", ""),
            ],
        );
        let parts: Vec<&str> = reason.split('；').collect();
        assert_eq!(parts.len(), 4, "{reason}");
        assert!(parts[0].starts_with("身份证号："));
        assert!(parts[1].starts_with("姓名："));
        assert!(parts[2].starts_with("结算日期："));
        assert!(parts[3].starts_with("目录内自付金额："));
    }

    #[test]
    fn duplicate_keys_keep_the_first_row() {
        let kind = FeedKind::Medical;
        let rows = vec![
            row(kind, &[("结算单号", "A1")]),
            row(kind, &[("结算单号", "A2")]),
            row(kind, &[("结算单号", "A1"), ("目录内自付金额", "10")]),
            row(kind, &[("结算单号", "A1"), ("结算日期", "bad")]),
        ];
        let (ok, bad) = run(kind, &rows);
        assert_eq!(
            ok.iter()
                .map(|(l, r)| (*l, r.record_key.as_str()))
                .collect::<Vec<_>>(),
            vec![(2, "A1"), (3, "A2")]
        );
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 4);
        assert_eq!(bad[0].reason, "与第 2 行重复（结算单号相同）");
        assert_eq!(bad[1].line, 5);
        assert!(bad[1].reason.contains("结算日期："), "{}", bad[1].reason);
        assert!(bad[1].reason.contains("与第 2 行重复"), "{}", bad[1].reason);

        // Derived keys: the same account and month written two ways.
        let kind = FeedKind::HousingFund;
        let rows = vec![
            row(kind, &[("缴存月份", "2024-05")]),
            row(kind, &[("缴存月份", "202405")]),
            row(kind, &[("缴存月份", "2024-06")]),
        ];
        let (ok, bad) = run(kind, &rows);
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        assert_eq!(bad[0].reason, "与第 2 行重复（公积金账号和缴存月份相同）");

        // Registration and cancellation of one unemployment registration are
        // two records.
        let kind = FeedKind::Unemployment;
        let (ok, bad) = run(
            kind,
            &[
                row(kind, &[]),
                row(kind, &[("状态", "注销"), ("登记日期", "2024-09-01")]),
            ],
        );
        assert_eq!((ok.len(), bad.len()), (2, 0));
    }

    #[test]
    fn gbk_csv_is_read() {
        let kind = FeedKind::Disaster;
        let text = csv_of(
            kind,
            &[row(kind, &[("姓名", "欧阳小明"), ("灾害类型", "台风")])],
        );
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "test data must not be UTF-8"
        );
        let rows = read_feed_table(kind, "应急.csv", &gbk, 10).unwrap();
        let (ok, bad) = validate_feed_rows_as_of(kind, &rows, today());
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].1.name, "欧阳小明");
        assert_eq!(ok[0].1.attributes["disaster_type"], "台风");
        assert_eq!(ok[0].1.amount_fen, Some(3_200_000));
    }

    #[test]
    fn amounts_are_exact_fen() {
        assert_eq!(parse_money("1,234.50"), Ok(123_450));
        assert_eq!(parse_money("1234.5"), Ok(123_450));
        assert_eq!(parse_money("¥1,234.5"), Ok(123_450));
        assert_eq!(parse_money("0"), Ok(0));
        assert_eq!(parse_money("0.1"), Ok(10));
        assert_eq!(parse_money("12.5万"), Ok(12_500_000));
        assert_eq!(parse_money("12.345678万元"), Ok(12_345_678));
        assert!(parse_money("1.2345678万").unwrap_err().contains("六位小数"));
        assert!(parse_money("-1万").unwrap_err().contains("负数"));
        assert!(parse_money("万").is_err());
        assert!(parse_money("1.万").is_err());
        assert!(parse_money("12.345").unwrap_err().contains("两位小数"));
        assert!(parse_money("1,23.4").is_err());
        assert!(
            parse_money("99999999999999999")
                .unwrap_err()
                .contains("过大")
        );

        let kind = FeedKind::Medical;
        for (text, fen) in [("1,234.50", 123_450), ("1234.5", 123_450)] {
            let r = accepted(kind, &[("目录内自付金额", text)]);
            assert_eq!(r.amount_fen, Some(fen), "{text}");
        }
        let r = reason(kind, &[("目录内自付金额", "12.345")]);
        assert!(r.contains("最多保留两位小数"), "{r}");

        // Numbers typed in Excel come back as Excel shows them.
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        for (c, h) in kind.columns().iter().enumerate() {
            s.write_string(0, c as u16, *h).unwrap();
        }
        let example = example_row(kind);
        for (c, v) in example.iter().enumerate() {
            s.write_string(1, c as u16, v).unwrap();
        }
        s.write_number(1, 4, 23500.0).unwrap();
        s.write_number(1, 5, 0.1 + 0.2).unwrap();
        s.write_number(1, 6, 1234.5).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let rows = read_feed_table(kind, "n.xlsx", &bytes, 10).unwrap();
        let (ok, bad) = validate_feed_rows_as_of(kind, &rows, today());
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].1.amount_fen, Some(30));
        assert_eq!(ok[0].1.attributes["self_pay_total_fen"], "123450");
    }

    #[test]
    fn api_records() {
        let json = r#"{"kind":"unemployment","id_number":"330106680312015","name":" 李四 ",
            "event_date":"2024-03-01",
            "attributes":{"registration_no":"SY1","status":"注销"}}"#;
        let rec: FeedRecord = serde_json::from_str(json).unwrap();
        assert_eq!(rec.record_key, "");
        assert_eq!(rec.amount_fen, None);
        let n = validate_feed_record_as_of(&rec, today()).unwrap();
        assert_eq!(
            n.id_number,
            IdNumber::parse("330106680312015").unwrap().as_str()
        );
        assert_eq!(n.name, "李四");
        assert_eq!(n.attributes["status"], "cancelled");
        assert_eq!(n.record_key, "SY1:cancelled");
        let out = serde_json::to_value(&n).unwrap();
        assert_eq!(out["kind"], "unemployment");
        assert_eq!(out["event_date"], "2024-03-01");
        assert_eq!(out["record_key"], "SY1:cancelled");

        // The single number of a feed may come as record_key only.
        let base = FeedRecord {
            kind: FeedKind::Medical,
            record_key: "JS1".into(),
            id_number: id(5),
            name: "王五".into(),
            event_date: date(2024, 5, 10),
            amount_fen: Some(100_000),
            attributes: BTreeMap::from([
                ("total_cost_fen".to_string(), "500000".to_string()),
                ("self_pay_total_fen".to_string(), "200000".to_string()),
            ]),
        };
        let n = validate_feed_record_as_of(&base, today()).unwrap();
        assert_eq!(n.attributes["settlement_no"], "JS1");
        assert_eq!(n.record_key, "JS1");

        let check = |f: &dyn Fn(&mut FeedRecord), expected: &str| {
            let mut r = base.clone();
            f(&mut r);
            let err = validate_feed_record_as_of(&r, today()).unwrap_err();
            assert!(err.contains(expected), "“{err}” lacks “{expected}”");
        };
        check(
            &|r| {
                r.attributes.insert("settlement_no".into(), "JS2".into());
            },
            "record_key：应为“JS2”（由结算单号生成），也可以省略由系统生成；实为“JS1”",
        );
        check(
            &|r| {
                r.attributes.insert("hospital".into(), "x".into());
            },
            "attributes 中有未知的键：hospital",
        );
        check(
            &|r| r.amount_fen = Some(-1),
            "目录内自付金额（amount_fen）：金额不能为负数",
        );
        check(
            &|r| r.amount_fen = None,
            "目录内自付金额（amount_fen）：不能为空",
        );
        check(
            &|r| {
                r.attributes
                    .insert("total_cost_fen".into(), "5000.00".into());
            },
            "医疗总费用（attributes.total_cost_fen）：应为以分为单位的整数",
        );
        check(
            &|r| r.event_date = date(2025, 7, 1),
            "结算日期（event_date）：不能晚于今天",
        );
        check(
            &|r| r.id_number = bad_check(&id(5)),
            "身份证号（id_number）：校验位错误",
        );
        check(
            &|r| {
                r.kind = FeedKind::Death;
                r.attributes.clear();
            },
            "amount_fen：公安死亡注销没有金额",
        );
        check(
            &|r| {
                r.kind = FeedKind::Hukou;
                r.amount_fen = None;
                r.attributes = BTreeMap::from([("record_no".into(), "H1".into())]);
            },
            "变动类型（attributes.change_type）：不能为空，可选值：迁入、迁出、分户、立户",
        );

        // Unknown fields and kinds are refused when deserialising.
        let err = serde_json::from_str::<FeedRecord>(
            r#"{"kind":"death","id_number":"x","name":"y","event_date":"2024-01-01","amount":1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("amount"), "{err}");
        let err = serde_json::from_str::<FeedRecord>(
            r#"{"kind":"bank","id_number":"x","name":"y","event_date":"2024-01-01"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("无法识别的数据类型"), "{err}");

        // Housing-fund dates are normalised to the first of the month.
        let r = FeedRecord {
            kind: FeedKind::HousingFund,
            record_key: String::new(),
            id_number: id(6),
            name: "赵六".into(),
            event_date: date(2024, 5, 20),
            amount_fen: Some(128_000),
            attributes: BTreeMap::from([("account_no".into(), "GJJ1".into())]),
        };
        let n = validate_feed_record_as_of(&r, today()).unwrap();
        assert_eq!(n.event_date, date(2024, 5, 1));
        assert_eq!(n.record_key, "GJJ1:2024-05");
    }

    #[test]
    fn credit_codes() {
        assert_eq!(
            check_credit_code("91350100M000100Y43"),
            Ok("91350100M000100Y43".into())
        );
        assert_eq!(
            check_credit_code("91350100m000100y43"),
            Ok("91350100M000100Y43".into())
        );
        assert!(
            check_credit_code("91350100M000100Y4")
                .unwrap_err()
                .contains("18 位")
        );
        assert!(
            check_credit_code("91350100M000100I43")
                .unwrap_err()
                .contains("不含 I")
        );
        assert!(
            check_credit_code("91350100M000100Y44")
                .unwrap_err()
                .contains("校验位")
        );
        assert!(check_credit_code(&example_credit_code()).is_ok());
    }

    #[test]
    fn dates_and_months() {
        assert_eq!(parse_date("2024-01-05"), Some(date(2024, 1, 5)));
        assert_eq!(parse_date("2024年1月5日"), Some(date(2024, 1, 5)));
        assert_eq!(parse_date("20240105"), Some(date(2024, 1, 5)));
        assert_eq!(parse_date("45296"), Some(date(2024, 1, 5)));
        assert_eq!(parse_date("2024-01-05T00:00:00"), Some(date(2024, 1, 5)));
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_month("2024-05"), Some(date(2024, 5, 1)));
        assert_eq!(parse_month("2024/5"), Some(date(2024, 5, 1)));
        assert_eq!(parse_month("202405"), Some(date(2024, 5, 1)));
        assert_eq!(parse_month("2024年5月"), Some(date(2024, 5, 1)));
        assert_eq!(parse_month("2024-05-17"), Some(date(2024, 5, 1)));
        assert_eq!(parse_month("2024-13"), None);
        assert_eq!(parse_month("24-05"), None);
        assert_eq!(parse_month("1899-12"), None);
        // The current month is not in the future.
        let r = accepted(FeedKind::HousingFund, &[("缴存月份", "2025-06")]);
        assert_eq!(r.event_date, date(2025, 6, 1));
        assert_eq!(parse_area("1,234.5平方米"), Ok("1234.50".into()));
        assert_eq!(parse_grade("二级"), Some(2));
        assert_eq!(lookup_stage("高中"), Some(Schooling::Senior));
        assert_eq!(lookup_stage("未上学"), None);
    }

    #[test]
    fn data_sheet_after_a_notes_sheet_is_found() {
        let kind = FeedKind::Death;
        let mut wb = Workbook::new();
        let notes = wb.add_worksheet();
        notes.set_name("说明").unwrap();
        notes.write_string(0, 0, "列名").unwrap();
        notes.write_string(1, 0, "身份证号").unwrap();
        notes.write_string(1, 1, "必填").unwrap();
        let data = wb.add_worksheet();
        data.write_string(0, 0, "死亡人员名单").unwrap();
        for (c, h) in kind.columns().iter().enumerate() {
            data.write_string(1, c as u16, *h).unwrap();
        }
        for (c, v) in example_row(kind).iter().enumerate() {
            data.write_string(2, c as u16, v).unwrap();
        }
        let bytes = wb.save_to_buffer().unwrap();
        let rows = read_feed_table(kind, "d.xlsx", &bytes, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
        let (ok, bad) = validate_feed_rows_as_of(kind, &rows, today());
        assert_eq!((ok.len(), bad.len()), (1, 0));
    }

    #[test]
    fn rejected_report_names_the_feed_number() {
        let kind = FeedKind::Medical;
        let (_, bad) = run(kind, &[row(kind, &[("结算日期", "x")])]);
        let bytes = feed_rejected_report_xlsx(kind, &bad);
        let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range("未导入的行").unwrap();
        let cells: Vec<String> = range.cells().map(|(_, _, c)| c.to_string()).collect();
        assert_eq!(
            &cells[..5],
            &["行号", "结算单号", "姓名", "身份证号(脱敏)", "原因"]
        );
        assert_eq!(cells[5], "2");
        assert_eq!(cells[6], "JS20240510000123");
    }
}
