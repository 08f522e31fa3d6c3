//! Evidence attached to an application (身份证复印件, 诊断证明, 收入证明 …):
//! which files are taken. The type is decided by the file's content, not by
//! its name: a name ending in .png must hold a PNG (issue 10, item 11), so a
//! page of HTML renamed to a picture is refused before it is stored.

/// The largest attachment taken, in bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachmentType {
    Pdf,
    Jpeg,
    Png,
}

impl AttachmentType {
    pub fn content_type(self) -> &'static str {
        match self {
            AttachmentType::Pdf => "application/pdf",
            AttachmentType::Jpeg => "image/jpeg",
            AttachmentType::Png => "image/png",
        }
    }

    fn label(self) -> &'static str {
        match self {
            AttachmentType::Pdf => "PDF",
            AttachmentType::Jpeg => "JPG",
            AttachmentType::Png => "PNG",
        }
    }

    fn by_extension(filename: &str) -> Option<AttachmentType> {
        let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "pdf" => Some(AttachmentType::Pdf),
            "jpg" | "jpeg" => Some(AttachmentType::Jpeg),
            "png" => Some(AttachmentType::Png),
            _ => None,
        }
    }

    /// What the bytes are, by their signature: PDF header, JPEG start of
    /// image, PNG signature followed by its IHDR chunk.
    pub fn of_content(bytes: &[u8]) -> Option<AttachmentType> {
        if bytes.starts_with(b"%PDF-") {
            Some(AttachmentType::Pdf)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(AttachmentType::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
            Some(AttachmentType::Png)
        } else {
            None
        }
    }
}

/// Checks one upload; the refusal names the file and says what is taken.
pub fn check(filename: &str, bytes: &[u8]) -> Result<AttachmentType, String> {
    let Some(named) = AttachmentType::by_extension(filename) else {
        return Err(format!(
            "附件“{filename}”的类型不支持：只接受 PDF、JPG、PNG"
        ));
    };
    if bytes.len() > MAX_BYTES {
        return Err(format!("附件“{filename}”超过 10 MB，请压缩或分开上传"));
    }
    match AttachmentType::of_content(bytes) {
        Some(found) if found == named => Ok(found),
        Some(found) => Err(format!(
            "附件“{filename}”的内容是 {} 文件，与文件名不符；请改正文件名后重新上传",
            found.label()
        )),
        None => Err(format!(
            "附件“{filename}”不是有效的 {} 文件（内容无法识别）；请重新扫描或导出后上传",
            named.label()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn real_files_are_taken_by_their_content() {
        assert_eq!(check("证明.pdf", b"%PDF-1.7\n..."), Ok(AttachmentType::Pdf));
        assert_eq!(
            check("身份证.JPG", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]),
            Ok(AttachmentType::Jpeg)
        );
        assert_eq!(check("户口本.png", PNG), Ok(AttachmentType::Png));
    }

    #[test]
    fn html_dressed_as_a_picture_is_refused() {
        let e = check("照片.png", b"<html><script>alert(1)</script></html>").unwrap_err();
        assert!(e.contains("不是有效的 PNG"), "{e}");
        // A PNG signature alone, followed by markup instead of its header chunk.
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(b"<html><script>alert(1)</script>");
        assert!(check("照片.png", &fake).is_err());
    }

    #[test]
    fn a_name_that_disagrees_with_the_content_is_refused() {
        let e = check("扫描件.jpg", b"%PDF-1.4").unwrap_err();
        assert!(e.contains("内容是 PDF"), "{e}");
    }

    #[test]
    fn other_types_and_oversize_files_are_refused() {
        assert!(
            check("表格.xlsx", b"PK\x03\x04")
                .unwrap_err()
                .contains("只接受")
        );
        assert!(check("无扩展名", b"%PDF-1.4").is_err());
        let mut big = b"%PDF-1.4".to_vec();
        big.resize(MAX_BYTES + 1, b' ');
        assert!(check("大文件.pdf", &big).unwrap_err().contains("10 MB"));
    }
}
