use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::*;

const INJECTIONS: &[&str] = &[
    "#let x = 1",
    "]",
    "*粗体*",
    "$x^2$",
    "@ref <lab>",
    "#eval(\"1+1\")",
    "\\u{41} // 注释",
    "#set page(fill: red)",
];

fn sample_notice() -> NoticeDoc {
    NoticeDoc {
        title: "北山街道嘉南社区 最低生活保障 公示".into(),
        village: "嘉南社区".into(),
        intro:
            "根据《社会救助暂行办法》及本省最低生活保障相关规定，经申请、入户调查、民主评议和审核，\
                拟对以下家庭给予最低生活保障，现予公示。"
                .into(),
        rows: vec![
            NoticeLine {
                name: "张*三".into(),
                household_size: 3,
                item: "最低生活保障".into(),
                amount: "1,200.00 元/月".into(),
                reason: "家庭人均收入低于当地低保标准，主要劳动力因病丧失劳动能力".into(),
            },
            NoticeLine {
                name: "李*".into(),
                household_size: 1,
                item: "特困人员供养".into(),
                amount: "".into(),
                reason: "无劳动能力、无生活来源、无法定赡养义务人".into(),
            },
            NoticeLine {
                name: "欧阳*明".into(),
                household_size: 4,
                item: "临时救助".into(),
                amount: "3,000.00 元".into(),
                reason: "突发重大疾病，医疗费用支出较大".into(),
            },
        ],
        start: "2024-05-06".into(),
        end: "2024-05-12".into(),
        objection_contact:
            "可向嘉南社区居委会或北山街道社会救助服务窗口实名反映，监督电话：0571-8888 6666。"
                .into(),
        issuer: "北山街道办事处".into(),
    }
}

fn sample_letter() -> LetterDoc {
    LetterDoc {
        title: "最低生活保障审核确认决定书".into(),
        number: "北街救决〔2024〕12号".into(),
        addressee: "张*三".into(),
        body_paragraphs: vec![
            "你（户）于2024年4月2日提出的最低生活保障申请，经入户调查、信息核对和民主评议，\
             符合最低生活保障条件，本机关决定给予最低生活保障。"
                .into(),
            "保障金自2024年5月起按月发放至你指定的社会保障卡账户。家庭人口、收入或财产状况发生变化的，\
             请于 10 日内主动告知社区（村）或街道（乡镇）。"
                .into(),
        ],
        facts: vec![
            ("申请人".into(), "张*三".into()),
            ("保障人数".into(), "3 人".into()),
            ("保障金额".into(), "1,200.00 元/月".into()),
            ("起始月份".into(), "2024年5月".into()),
        ],
        issuer: "北山街道办事处".into(),
        date: "2024-05-13".into(),
        appeal_note: "如不服本决定，可在收到本决定书之日起 60 日内向区人民政府申请行政复议，\
                      或者在 6 个月内向人民法院提起行政诉讼。"
            .into(),
    }
}

fn has_bin(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

/// Text of the PDF via `pdftotext`, with all whitespace removed (line breaks
/// in table cells are layout, not content). `None` if poppler is missing.
fn pdf_text(pdf: &[u8], tag: &str) -> Option<String> {
    if !has_bin("pdftotext") {
        return None;
    }
    let path = tmp_path(tag, "pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&path).ok();
    let text = String::from_utf8(out.stdout).unwrap();
    Some(squash(&text))
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn tmp_path(tag: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("doudi-pdf-test-{}-{tag}.{ext}", std::process::id()))
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check_basic(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    assert!(
        pdf.len() > 1024,
        "PDF suspiciously small: {} bytes",
        pdf.len()
    );
}

/// Assert that every `needle` appears in the extracted text, or — without
/// pdftotext — at least that a Noto font is embedded.
fn check_text(pdf: &[u8], tag: &str, needles: &[&str]) {
    match pdf_text(pdf, tag) {
        Some(text) => {
            for n in needles {
                assert!(
                    text.contains(&squash(n)),
                    "{n:?} missing from PDF text:\n{text}"
                );
            }
        }
        None => {
            eprintln!("pdftotext not installed; only checking the embedded font name");
            assert!(contains_bytes(pdf, b"Noto"), "no Noto font embedded");
        }
    }
}

#[test]
fn notice_renders_with_chinese_text() {
    let doc = sample_notice();
    let pdf = notice_pdf(&doc).unwrap();
    check_basic(&pdf);
    check_text(
        &pdf,
        "notice",
        &[
            "北山街道嘉南社区 最低生活保障 公示",
            "张*三",
            "欧阳*明",
            "1,200.00 元/月",
            "公示期：2024年5月6日至2024年5月12日",
            "监督电话：0571-8888 6666",
            "北山街道办事处",
            "序号",
            "家庭人数",
        ],
    );
}

#[test]
fn letter_renders_with_chinese_text() {
    let doc = sample_letter();
    let pdf = letter_pdf(&doc).unwrap();
    check_basic(&pdf);
    check_text(
        &pdf,
        "letter",
        &[
            "最低生活保障审核确认决定书",
            "北街救决〔2024〕12号",
            "张*三：",
            "保障金额",
            "60 日内",
            "北山街道办事处（盖章）",
            "2024年5月13日",
        ],
    );
}

#[test]
fn embeds_noto_font() {
    // Font names are stored uncompressed in the font dictionaries.
    let pdf = notice_pdf(&sample_notice()).unwrap();
    assert!(contains_bytes(&pdf, b"Noto"), "no Noto font embedded");
}

#[test]
fn markup_in_user_strings_renders_literally() {
    let mut notice = sample_notice();
    notice.title = format!("{} #let x = 1 ]", notice.title);
    notice.intro = INJECTIONS.join(" ");
    notice.village = "]#text(red)[".into();
    notice.rows = INJECTIONS
        .iter()
        .map(|s| NoticeLine {
            name: s.to_string(),
            household_size: 2,
            item: "]".into(),
            amount: "#x".into(),
            reason: s.to_string(),
        })
        .collect();
    notice.objection_contact = "\")) #panic(\"boom\") ((\"".into();
    notice.issuer = "#{1 + 1}".into();
    let pdf = notice_pdf(&notice).unwrap();
    check_basic(&pdf);
    let mut needles = INJECTIONS.to_vec();
    needles.extend([
        "#let x = 1 ]",
        "]#text(red)[",
        "#panic(\"boom\")",
        "#{1 + 1}",
        "#x",
    ]);
    check_text(&pdf, "inject-notice", &needles);

    let mut letter = sample_letter();
    letter.addressee = "#let x = 1".into();
    letter.number = "]".into();
    letter.body_paragraphs = INJECTIONS.iter().map(|s| s.to_string()).collect();
    letter.facts = INJECTIONS
        .iter()
        .map(|s| (s.to_string(), s.to_string()))
        .collect();
    letter.appeal_note = "*不服* $x$".into();
    let pdf = letter_pdf(&letter).unwrap();
    check_basic(&pdf);
    let mut needles = INJECTIONS.to_vec();
    needles.extend(["#let x = 1：", "*不服* $x$"]);
    check_text(&pdf, "inject-letter", &needles);
}

#[test]
fn empty_and_long_documents_render() {
    let mut notice = sample_notice();
    notice.rows.clear();
    let pdf = notice_pdf(&notice).unwrap();
    check_text(&pdf, "empty", &["本期无公示对象"]);

    // Many rows: table spans pages, header repeats, page numbers appear.
    let mut notice = sample_notice();
    let row = notice.rows[0].clone();
    notice.rows = (0..80).map(|_| row.clone()).collect();
    let pdf = notice_pdf(&notice).unwrap();
    check_basic(&pdf);
    check_text(&pdf, "long", &["第 2 页"]);

    let pdf = letter_pdf(&LetterDoc::default()).unwrap();
    check_basic(&pdf);
}

#[test]
fn no_font_is_a_clear_error() {
    let dir = tmp_path("nofont", "d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.ttf"), b"not a font").unwrap();
    let err =
        fonts::load_fonts(&[dir.clone(), Path::new("/nonexistent/doudi").into()]).unwrap_err();
    assert!(matches!(err, PdfError::NoFont(_)));
    let msg = err.to_string();
    assert!(
        msg.starts_with("未找到中文字体：请安装 fonts-noto-cjk"),
        "{msg}"
    );
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn chinese_dates() {
    assert_eq!(chinese_date("2024-05-06"), "2024年5月6日");
    assert_eq!(chinese_date(" 2024-12-31 "), "2024年12月31日");
    assert_eq!(chinese_date("2024-13-01"), "2024-13-01");
    assert_eq!(chinese_date("2024年5月6日"), "2024年5月6日");
    assert_eq!(chinese_date(""), "");
}

/// Writes PNG previews of page 1 (for eyeballing) and prints render timings.
/// Run with `--nocapture` to see the numbers.
#[test]
fn previews_and_timing() {
    let t = Instant::now();
    preload_fonts().unwrap();
    eprintln!("font scan: {:?}", t.elapsed());
    let notice = sample_notice();
    let letter = sample_letter();
    let t = Instant::now();
    notice_pdf(&notice).unwrap();
    eprintln!(
        "first notice render (fonts scanned, font data + library loading): {:?}",
        t.elapsed()
    );
    for _ in 0..3 {
        let t = Instant::now();
        let pdf = notice_pdf(&notice).unwrap();
        eprintln!("notice render: {:?} ({} bytes)", t.elapsed(), pdf.len());
        let t = Instant::now();
        let pdf = letter_pdf(&letter).unwrap();
        eprintln!("letter render: {:?} ({} bytes)", t.elapsed(), pdf.len());
    }
    // Distinct data each time, so typst's memoization cannot replay a
    // previous result for the whole document.
    let mut times = Vec::new();
    for i in 0..20 {
        let mut other = sample_notice();
        other.rows[0].name = format!("王*{i}");
        let t = Instant::now();
        notice_pdf(&other).unwrap();
        times.push(t.elapsed());
        let mut other = sample_letter();
        other.addressee = format!("王*{i}");
        let t = Instant::now();
        letter_pdf(&other).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "render with fresh data (40 renders): min {:?}, median {:?}, max {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );

    if has_bin("pdftoppm") {
        for (tag, pdf) in [
            ("notice", notice_pdf(&notice).unwrap()),
            ("letter", letter_pdf(&letter).unwrap()),
        ] {
            let pdf_path = std::env::temp_dir().join(format!("doudi-pdf-preview-{tag}.pdf"));
            std::fs::write(&pdf_path, &pdf).unwrap();
            let prefix = std::env::temp_dir().join(format!("doudi-pdf-preview-{tag}"));
            let ok = Command::new("pdftoppm")
                .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
                .arg(&pdf_path)
                .arg(&prefix)
                .status()
                .unwrap()
                .success();
            assert!(ok, "pdftoppm failed");
        }
    }
}

#[test]
fn font_dir_with_a_single_collection() {
    // What `DOUDI_FONT_DIR` pointing at a directory with one CJK font gives.
    let src = Path::new(NOTO_CJK_DIR).join("NotoSerifCJK-Regular.ttc");
    if !src.exists() {
        eprintln!("{} missing; skipped", src.display());
        return;
    }
    let dir = tmp_path("onefont", "d");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let link = dir.join("sub").join("serif.TTC");
    std::fs::remove_file(&link).ok();
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let fonts = fonts::load_fonts(std::slice::from_ref(&dir)).unwrap();
    assert!(fonts.face_count() >= 5, "{fonts:?}");
    assert_eq!(fonts.serif[0], "Noto Serif CJK SC", "{fonts:?}");
    // No sans font there: headings fall back to the serif families.
    assert!(fonts.sans.iter().all(|f| f.contains("Serif")), "{fonts:?}");
    std::fs::remove_dir_all(&dir).ok();
}
