//! Masking of personal data for lists, exports and logs, so that screens
//! which only need to recognise a person do not disclose full details
//! (个人信息保护法: minimum necessary disclosure).

/// Mobile numbers (11 digits starting with 1) keep the carrier prefix and
/// the last four: `13812345678` → `138****5678`. Anything else keeps only
/// its last four characters: `0571-88881234` → `*********1234`.
pub fn mask_phone(s: &str) -> String {
    let s = s.trim();
    let chars: Vec<char> = s.chars().collect();
    let is_mobile = chars.len() == 11 && chars[0] == '1' && chars.iter().all(char::is_ascii_digit);
    if is_mobile {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[7..].iter().collect();
        return format!("{head}****{tail}");
    }
    let keep = chars.len().min(4);
    let hidden = chars.len() - keep;
    let mut out = "*".repeat(hidden);
    out.extend(&chars[hidden..]);
    out
}

/// Keeps the surname (first character) and, for names of three or more
/// characters, the last character: 张三 → 张*, 张小三 → 张*三,
/// 欧阳小明 → 欧**明. A single character is returned unchanged.
pub fn mask_name(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    match chars.len() {
        0 | 1 => chars.into_iter().collect(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone(" 13812345678 "), "138****5678");
        assert_eq!(mask_phone("0571-88881234"), "*********1234");
        assert_eq!(mask_phone("88881234"), "****1234");
        assert_eq!(mask_phone("23812345678"), "*******5678");
        assert_eq!(mask_phone("1234"), "1234");
        assert_eq!(mask_phone("12"), "12");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn names() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张小三"), "张*三");
        assert_eq!(mask_name("欧阳小明"), "欧**明");
        assert_eq!(mask_name(" 李四 "), "李*");
        assert_eq!(mask_name("王"), "王");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("阿卜杜·热合曼"), "阿*****曼");
    }
}
