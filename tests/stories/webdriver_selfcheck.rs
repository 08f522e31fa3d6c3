//! Self-check for the WebDriver test client (tests/stories/webdriver.rs)
//! against a tiny std-only HTTP server. Needs chromium + chromedriver
//! (scripts/install-test-deps.sh).

use crate::webdriver;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use webdriver::Browser;

const FORM_PAGE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Self-check form</title></head>
<body>
<h1 id="heading">表单 self-check</h1>
<form method="post" action="/submit">
  <label>Name <input type="text" name="name" id="name" value="prefill"></label>
  <select name="color" id="color">
    <option value="red">Red</option>
    <option value="green">Green</option>
    <option value="blue &quot;deep&quot;">Blue</option>
  </select>
  <button type="submit" id="go">Send</button>
</form>
<ul><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
<div id="late"></div>
<script>
  setTimeout(function () {
    var p = document.createElement('p');
    p.id = 'delayed'; p.textContent = 'appeared';
    document.getElementById('late').appendChild(p);
  }, 400);
</script>
</body></html>"#;

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn handle(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;

    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let (status, html) = match (method, path) {
        ("GET", "/") => ("200 OK", FORM_PAGE.to_string()),
        ("POST", "/submit") => {
            let form = parse_form(&String::from_utf8_lossy(&body));
            let name = form.get("name").cloned().unwrap_or_default();
            let color = form.get("color").cloned().unwrap_or_default();
            (
                "200 OK",
                format!(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Result</title></head>\
                     <body><p id=\"result\">Hello, {}! Color: {}</p></body></html>",
                    html_escape(&name),
                    html_escape(&color)
                ),
            )
        }
        _ => (
            "404 Not Found",
            "<html><body>not found</body></html>".to_string(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
        html.len()
    )?;
    stream.flush()
}

fn start_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = handle(stream);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn base64_decoder_rfc4648_vectors() {
    let cases: [(&str, &str); 7] = [
        ("", ""),
        ("Zg==", "f"),
        ("Zm8=", "fo"),
        ("Zm9v", "foo"),
        ("Zm9vYg==", "foob"),
        ("Zm9vYmE=", "fooba"),
        ("Zm9vYmFy", "foobar"),
    ];
    for (enc, dec) in cases {
        assert_eq!(
            webdriver::base64_decode(enc).unwrap(),
            dec.as_bytes(),
            "{enc}"
        );
    }
    assert_eq!(
        webdriver::base64_decode("+/+/").unwrap(),
        vec![0xfb, 0xff, 0xbf]
    );
    assert!(webdriver::base64_decode("Zm9v!").is_err());
}

#[test]
fn browser_fills_and_submits_a_form() {
    let base = start_server();
    let browser = Browser::start().unwrap_or_else(|e| panic!("Browser::start failed: {e}"));

    browser.goto(&format!("{base}/")).unwrap();
    assert_eq!(browser.title().unwrap(), "Self-check form");
    assert_eq!(browser.current_url().unwrap(), format!("{base}/"));
    assert!(browser.page_source().unwrap().contains("表单 self-check"));
    assert_eq!(
        browser.find("#heading").unwrap().text().unwrap(),
        "表单 self-check"
    );

    // find_all
    let items: Vec<String> = browser
        .find_all("li.item")
        .unwrap()
        .iter()
        .map(|e| e.text().unwrap())
        .collect();
    assert_eq!(items, ["one", "two", "three"]);
    assert!(browser.find_all(".does-not-exist").unwrap().is_empty());

    // Error messages carry the WebDriver error JSON.
    let err = browser.find("#nope").unwrap_err();
    assert!(
        err.contains("no such element") && err.contains("#nope"),
        "{err}"
    );
    assert!(err.contains("error JSON"), "{err}");

    // wait_for polls until the delayed element exists.
    let delayed = browser
        .wait_for("#delayed", Duration::from_secs(5))
        .unwrap();
    assert_eq!(delayed.text().unwrap(), "appeared");
    let err = browser
        .wait_for("#never", Duration::from_millis(300))
        .unwrap_err();
    assert!(err.contains("timed out"), "{err}");

    // attributes / clear / send_keys / select
    let input = browser.find("#name").unwrap();
    assert_eq!(input.attr("value").unwrap().as_deref(), Some("prefill"));
    assert_eq!(input.attr("data-missing").unwrap(), None);
    input.clear().unwrap();
    input.send_keys("Zhang San 张三").unwrap();
    assert_eq!(input.value().unwrap(), "Zhang San 张三");

    let select = browser.find("#color").unwrap();
    select.select_by_value("blue \"deep\"").unwrap();
    assert_eq!(select.value().unwrap(), "blue \"deep\"");
    select.select_by_value("green").unwrap();
    assert_eq!(select.value().unwrap(), "green");
    assert!(select.select_by_value("purple").is_err());

    // screenshot
    let shot = std::env::temp_dir()
        .join(format!("doudi-wd-selfcheck-{}", std::process::id()))
        .join("form.png");
    browser.screenshot_png(&shot).unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 1000);
    let _ = std::fs::remove_dir_all(shot.parent().unwrap());

    // execute
    let v = browser
        .execute(
            "return arguments[0].id + ':' + (1 + 2);",
            vec![input.to_arg()],
        )
        .unwrap();
    assert_eq!(v, serde_json::json!("name:3"));

    // submit
    browser.find("#go").unwrap().click().unwrap();
    let result = browser
        .wait_for("#result", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        result.text().unwrap(),
        "Hello, Zhang San 张三! Color: green"
    );
    assert_eq!(browser.current_url().unwrap(), format!("{base}/submit"));
    assert_eq!(browser.title().unwrap(), "Result");
}

#[test]
fn two_browsers_in_parallel() {
    let base = start_server();
    let a = Browser::start().unwrap_or_else(|e| panic!("Browser::start failed: {e}"));
    let b = Browser::start().unwrap_or_else(|e| panic!("Browser::start failed: {e}"));
    assert_ne!(a.session_id(), b.session_id());
    a.goto(&format!("{base}/")).unwrap();
    b.goto(&format!("{base}/missing")).unwrap();
    assert_eq!(a.title().unwrap(), "Self-check form");
    assert!(b.page_source().unwrap().contains("not found"));
}
