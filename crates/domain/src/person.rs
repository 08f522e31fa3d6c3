//! People: the small closed vocabularies used on member records, plus the
//! [`Coded`] trait every such vocabulary implements.
//!
//! Each value has two names: a stable ASCII `code` that is stored in the
//! database and exchanged over the API (so renaming a Chinese label never
//! breaks stored data), and a Chinese `label` shown to users.

/// A closed vocabulary with a stable storage code and a Chinese label.
pub trait Coded: Sized + Copy + 'static {
    /// Stable ASCII snake_case code stored in the database.
    fn code(&self) -> &'static str;
    /// Chinese label shown to users.
    fn label(&self) -> &'static str;
    /// Every value, in display order.
    fn all() -> &'static [Self];

    /// Looks a value up by its storage code (exact match).
    fn from_code(s: &str) -> Option<Self> {
        Self::all().iter().copied().find(|v| v.code() == s)
    }

    /// Looks a value up by what a person typed or a spreadsheet contained:
    /// trims, then matches the label, the code, or one alternative of a
    /// slash-separated label (e.g. "中职" for "高中/中职").
    fn from_label(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Self::all()
            .iter()
            .copied()
            .find(|v| v.label() == s || v.code() == s || v.label().split('/').any(|part| part == s))
    }
}

/// Generates a fieldless enum together with its [`Coded`] implementation,
/// `Display` (the label) and serde support (the code), so the three can never
/// drift apart.
///
/// ```text
/// coded_enum! {
///     /// Doc for the enum.
///     pub enum Sex {
///         Male("male", "男"),
///         Female("female", "女"),
///     }
/// }
/// ```
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident ($code:literal, $label:literal) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::person::Coded for $name {
            fn code(&self) -> &'static str {
                match self { $( Self::$variant => $code ),+ }
            }
            fn label(&self) -> &'static str {
                match self { $( Self::$variant => $label ),+ }
            }
            fn all() -> &'static [Self] {
                &[ $( Self::$variant ),+ ]
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::person::Coded::label(self))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::person::Coded::code(self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                <Self as $crate::person::Coded>::from_code(&s).ok_or_else(|| {
                    let valid: Vec<&str> = <Self as $crate::person::Coded>::all()
                        .iter()
                        .map($crate::person::Coded::code)
                        .collect();
                    <D::Error as ::serde::de::Error>::custom(format!(
                        "无法识别的代码“{}”，可选值：{}",
                        s,
                        valid.join("、")
                    ))
                })
            }
        }
    };
}
pub(crate) use coded_enum;

coded_enum! {
    /// Sex as recorded on the resident identity card.
    pub enum Sex {
        Male("male", "男"),
        Female("female", "女"),
    }
}

coded_enum! {
    /// Relation of a household member to the head of household.
    pub enum Relation {
        Head("head", "户主"),
        Spouse("spouse", "配偶"),
        Child("child", "子女"),
        Parent("parent", "父母"),
        Grandchild("grandchild", "孙子女"),
        Grandparent("grandparent", "祖父母"),
        Sibling("sibling", "兄弟姐妹"),
        ChildInLaw("child_in_law", "儿媳/女婿"),
        Other("other", "其他"),
    }
}

coded_enum! {
    /// Disability type as on the national disability certificate (残疾人证).
    pub enum DisabilityType {
        Visual("visual", "视力"),
        Hearing("hearing", "听力"),
        Speech("speech", "言语"),
        Physical("physical", "肢体"),
        Intellectual("intellectual", "智力"),
        Mental("mental", "精神"),
        Multiple("multiple", "多重"),
    }
}

coded_enum! {
    /// Employment situation; drives income assessment and work-capacity rules.
    pub enum Employment {
        Employed("employed", "在业"),
        Flexible("flexible", "灵活就业"),
        Farming("farming", "务农"),
        Unemployed("unemployed", "失业"),
        NoCapacity("no_capacity", "无劳动能力"),
        Retired("retired", "退休"),
        Student("student", "在校学生"),
        PreSchool("pre_school", "学龄前"),
        Other("other", "其他"),
    }
}

coded_enum! {
    /// Current schooling stage; education assistance depends on it.
    pub enum Schooling {
        None("none", "未上学"),
        PreSchool("pre_school", "学前"),
        Primary("primary", "小学"),
        Junior("junior", "初中"),
        Senior("senior", "高中/中职"),
        College("college", "大专及以上"),
        Graduated("graduated", "已毕业/非在校"),
    }
}

coded_enum! {
    /// The six activities of daily living used to assess self-care ability
    /// (生活自理能力), e.g. for 特困 care classification.
    pub enum SelfCareItem {
        Eating("eating", "进食"),
        Dressing("dressing", "穿衣"),
        Transfer("transfer", "上下床"),
        Toileting("toileting", "如厕"),
        IndoorWalking("indoor_walking", "室内行走"),
        Bathing("bathing", "洗澡"),
    }
}

coded_enum! {
    /// Overall self-care level derived from the six items.
    pub enum SelfCareLevel {
        Full("full", "完全自理"),
        Partial("partial", "部分丧失"),
        Lost("lost", "完全丧失"),
    }
}

/// Which daily-living activities a person is UNABLE to perform, as a bitmask
/// (bit i = `SelfCareItem::all()[i]`). Stored as one small integer so the
/// assessment is a single column, and the level is always derived, never
/// stored separately where it could disagree.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(from = "u8", into = "u8")]
pub struct SelfCare(u8);

impl SelfCare {
    /// Mask of all defined item bits.
    const MASK: u8 = 0b0011_1111;

    /// Builds from stored bits; bits beyond the six defined items are
    /// dropped so `unable_count` can never count phantom items.
    pub fn from_bits(bits: u8) -> Self {
        SelfCare(bits & Self::MASK)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    fn bit(item: SelfCareItem) -> u8 {
        let index = SelfCareItem::all()
            .iter()
            .position(|i| *i == item)
            .expect("every SelfCareItem is in all()");
        1 << index
    }

    /// Whether the person is unable to perform `item`.
    pub fn unable(self, item: SelfCareItem) -> bool {
        self.0 & Self::bit(item) != 0
    }

    /// Returns a copy with `item` marked unable (or able).
    pub fn with(self, item: SelfCareItem, unable: bool) -> Self {
        if unable {
            SelfCare(self.0 | Self::bit(item))
        } else {
            SelfCare(self.0 & !Self::bit(item))
        }
    }

    pub fn unable_count(self) -> u32 {
        self.0.count_ones()
    }

    /// 0 items unable: full self-care; 1–3: partially lost; 4 or more: lost.
    pub fn level(self) -> SelfCareLevel {
        match self.unable_count() {
            0 => SelfCareLevel::Full,
            1..=3 => SelfCareLevel::Partial,
            _ => SelfCareLevel::Lost,
        }
    }
}

impl From<u8> for SelfCare {
    fn from(bits: u8) -> Self {
        SelfCare::from_bits(bits)
    }
}

impl From<SelfCare> for u8 {
    fn from(s: SelfCare) -> u8 {
        s.bits()
    }
}

/// Grades 1 and 2 are "severe" (重度残疾), which several policies treat
/// specially (e.g. 单人保 for severely disabled adults).
pub fn disability_is_severe(grade: u8) -> bool {
    matches!(grade, 1 | 2)
}

/// Disability certificates carry grades 1 (most severe) to 4.
pub fn validate_disability_grade(grade: u8) -> Result<(), String> {
    if (1..=4).contains(&grade) {
        Ok(())
    } else {
        Err(format!("残疾等级应为1至4级，实为 {grade}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn codes_unique<T: Coded>() {
        let codes: HashSet<_> = T::all().iter().map(|v| v.code()).collect();
        let labels: HashSet<_> = T::all().iter().map(|v| v.label()).collect();
        assert_eq!(codes.len(), T::all().len());
        assert_eq!(labels.len(), T::all().len());
        for v in T::all() {
            assert!(
                v.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "code {} is not snake_case",
                v.code()
            );
            assert_eq!(T::from_code(v.code()).map(|x| x.code()), Some(v.code()));
            assert_eq!(T::from_label(v.label()).map(|x| x.code()), Some(v.code()));
        }
    }

    #[test]
    fn all_vocabularies_have_unique_codes_and_labels() {
        codes_unique::<Sex>();
        codes_unique::<Relation>();
        codes_unique::<DisabilityType>();
        codes_unique::<Employment>();
        codes_unique::<Schooling>();
        codes_unique::<SelfCareItem>();
        codes_unique::<SelfCareLevel>();
    }

    #[test]
    fn from_label_trims_and_accepts_codes_and_alternatives() {
        assert_eq!(Sex::from_label(" 男 "), Some(Sex::Male));
        assert_eq!(Sex::from_label("female"), Some(Sex::Female));
        assert_eq!(Relation::from_label("女婿"), Some(Relation::ChildInLaw));
        assert_eq!(
            Relation::from_label("儿媳/女婿"),
            Some(Relation::ChildInLaw)
        );
        assert_eq!(Schooling::from_label("中职"), Some(Schooling::Senior));
        assert_eq!(Schooling::from_label("未上学"), Some(Schooling::None));
        assert_eq!(Sex::from_label(""), None);
        assert_eq!(Sex::from_label("未知"), None);
        assert_eq!(Sex::from_code("男"), None);
    }

    #[test]
    fn display_is_label_and_serde_is_code() {
        assert_eq!(Employment::NoCapacity.to_string(), "无劳动能力");
        assert_eq!(
            serde_json::to_string(&Employment::NoCapacity).unwrap(),
            "\"no_capacity\""
        );
        let back: Employment = serde_json::from_str("\"no_capacity\"").unwrap();
        assert_eq!(back, Employment::NoCapacity);
        let err = serde_json::from_str::<Employment>("\"nope\"").unwrap_err();
        assert!(err.to_string().contains("无法识别的代码"));
    }

    #[test]
    fn self_care_bits_and_levels() {
        let s = SelfCare::default();
        assert_eq!(s.level(), SelfCareLevel::Full);
        let s = s.with(SelfCareItem::Bathing, true);
        assert!(s.unable(SelfCareItem::Bathing));
        assert!(!s.unable(SelfCareItem::Eating));
        assert_eq!(s.level(), SelfCareLevel::Partial);
        let s = s
            .with(SelfCareItem::Eating, true)
            .with(SelfCareItem::Dressing, true);
        assert_eq!(s.unable_count(), 3);
        assert_eq!(s.level(), SelfCareLevel::Partial);
        let s = s.with(SelfCareItem::Toileting, true);
        assert_eq!(s.level(), SelfCareLevel::Lost);
        let s = s.with(SelfCareItem::Toileting, false);
        assert_eq!(s.unable_count(), 3);
        assert_eq!(SelfCare::from_bits(s.bits()), s);
        assert_eq!(SelfCare::from_bits(0xFF).unable_count(), 6);
        assert_eq!(SelfCare::from_bits(0xFF).level(), SelfCareLevel::Lost);
        assert_eq!(serde_json::to_string(&s).unwrap(), s.bits().to_string());
    }

    #[test]
    fn disability_grades() {
        assert!(disability_is_severe(1));
        assert!(disability_is_severe(2));
        assert!(!disability_is_severe(3));
        assert!(!disability_is_severe(4));
        assert!(!disability_is_severe(0));
        for g in 1..=4 {
            assert!(validate_disability_grade(g).is_ok());
        }
        assert_eq!(
            validate_disability_grade(5).unwrap_err(),
            "残疾等级应为1至4级，实为 5"
        );
        assert!(validate_disability_grade(0).is_err());
    }
}

/// A person's name may hold letters of any script and the separators of
/// transliterated names (`·` in 买买提·吐尔逊, a space or hyphen in Latin
/// names), and must begin with a letter. Anything else — digits, `=`, `<`,
/// brackets, quotes — is refused: a name is never markup or a spreadsheet
/// formula (`=HYPERLINK(…)`), and a digit usually means a column was mixed up.
pub fn check_name_characters(name: &str) -> Result<(), String> {
    let separators = ['·', '•', '．', '.', ' ', '-', '\''];
    match name.chars().next() {
        None => return Err("不能为空".into()),
        Some(first) if !first.is_alphabetic() => {
            return Err(format!("应以文字开头：“{name}”"));
        }
        _ => {}
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !c.is_alphabetic() && !separators.contains(c))
    {
        return Err(if bad.is_ascii_digit() {
            format!("不应包含数字：“{name}”（是否填错了列？）")
        } else {
            format!("含有不能用于姓名的字符“{bad}”：“{name}”")
        });
    }
    Ok(())
}

#[cfg(test)]
mod name_tests {
    use super::check_name_characters;

    #[test]
    fn names_are_letters_and_separators() {
        for ok in [
            "张三",
            "买买提·吐尔逊",
            "阿卜杜热合曼·买买提依明",
            "Anna-Lena O'Neil",
            "欧阳 娜娜",
        ] {
            assert_eq!(check_name_characters(ok), Ok(()), "{ok}");
        }
        for bad in [
            "=HYPERLINK(\"http://x\",\"张三\")",
            "<script>alert(1)</script>",
            "张三<b>",
            "+张三",
            "-1",
            "@SUM(A1)",
            "张三1",
            "李四\"",
            "",
        ] {
            assert!(check_name_characters(bad).is_err(), "{bad:?} refused");
        }
        assert!(check_name_characters("张三1").unwrap_err().contains("数字"));
        assert!(check_name_characters("张<三").unwrap_err().contains("“<”"));
    }
}
