//! Minimal synchronous W3C WebDriver client for browser tests.
//!
//! Spawns a private `chromedriver` on a free local port, opens one headless
//! Chromium session and exposes a small, blocking API on top of it.
//! Everything is torn down (session deleted, chromedriver killed, temporary
//! profile removed) when the [`Browser`] is dropped.
//!
//! System requirements: `chromium` and `chromedriver` (Debian packages
//! `chromium` and `chromium-driver`); see `scripts/install-test-deps.sh`.
//! The binaries can be overridden with the environment variables
//! `DOUDI_CHROMIUM` and `DOUDI_CHROMEDRIVER`.
//!
//! Include it from a test crate with
//! `mod webdriver;` of the story binary (tests/stories/main.rs; or from a shared
//! `support/mod.rs`).

#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Result type used throughout this module; errors are human-readable strings.
pub type Result<T> = std::result::Result<T, String>;

/// W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const DEFAULT_CHROMEDRIVER: &str = "chromedriver";

/// How often `wait_*` helpers poll.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// HTTP transport
// ---------------------------------------------------------------------------

/// A session-bound HTTP client: `base` is `http://127.0.0.1:<port>/session/<id>`.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Delete,
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        })
    }
}

fn new_agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        // We want the JSON body of 4xx/5xx responses (WebDriver errors).
        .http_status_as_error(false)
        // Never route local WebDriver traffic through an environment proxy.
        .proxy(None)
        .timeout_global(Some(timeout))
        .build();
    config.into()
}

/// Sends one WebDriver command and returns the `value` member of the reply.
fn request(agent: &ureq::Agent, method: Method, url: &str, body: Option<&Value>) -> Result<Value> {
    let what = format!("{method:?} {url}");
    let response = match method {
        Method::Get => agent.get(url).call(),
        Method::Delete => agent.delete(url).call(),
        Method::Post => agent
            .post(url)
            .send_json(body.cloned().unwrap_or_else(|| json!({}))),
    };
    let mut response = response.map_err(|e| format!("WebDriver request {what} failed: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("WebDriver request {what}: reading response body failed: {e}"))?;
    let parsed: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "WebDriver request {what}: HTTP {status}, response is not JSON ({e}): {}",
            truncate(&text, 2000)
        )
    })?;
    let value = parsed.get("value").cloned().unwrap_or(Value::Null);
    let is_error = status >= 400
        || value
            .as_object()
            .is_some_and(|o| o.get("error").is_some_and(Value::is_string));
    if is_error {
        return Err(format_webdriver_error(&what, status, &value));
    }
    Ok(value)
}

fn format_webdriver_error(what: &str, status: u16, value: &Value) -> String {
    let error = value
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    let message = value.get("message").and_then(Value::as_str).unwrap_or("");
    // The chromedriver stacktrace is a wall of native addresses; leave it out.
    let mut shown = value.clone();
    if let Some(obj) = shown.as_object_mut() {
        obj.remove("stacktrace");
    }
    let first_line = message.lines().next().unwrap_or("");
    let summary = if first_line.starts_with(error) {
        first_line.to_string()
    } else {
        format!("{error}: {first_line}")
    };
    format!(
        "WebDriver error on {what}: HTTP {status}: {summary}\n  error JSON: {}",
        truncate(&shown.to_string(), 4000)
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes total)", &s[..end], s.len())
}

impl Client {
    fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        request(&self.agent, method, &url, body.as_ref())
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.cmd(Method::Get, path, None)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.cmd(Method::Post, path, Some(body))
    }

    fn get_string(&self, path: &str) -> Result<String> {
        let v = self.get(path)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("WebDriver GET {path}: expected a string, got {v}"))
    }

    fn element(&self, id: String) -> Element {
        Element {
            client: self.clone(),
            id,
            selector: String::new(),
        }
    }

    fn parse_element(&self, v: &Value, selector: &str) -> Result<Element> {
        let id = v
            .get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("WebDriver: expected an element reference, got {v}"))?;
        Ok(Element {
            client: self.clone(),
            id: id.to_string(),
            selector: selector.to_string(),
        })
    }

    /// `prefix` is "" for the document or "/element/<id>" for a subtree.
    fn find_in(&self, prefix: &str, css: &str) -> Result<Element> {
        let v = self
            .post(
                &format!("{prefix}/element"),
                json!({"using": "css selector", "value": css}),
            )
            .map_err(|e| format!("find({css:?}) failed: {e}"))?;
        self.parse_element(&v, css)
    }

    fn find_all_in(&self, prefix: &str, css: &str) -> Result<Vec<Element>> {
        let v = self
            .post(
                &format!("{prefix}/elements"),
                json!({"using": "css selector", "value": css}),
            )
            .map_err(|e| format!("find_all({css:?}) failed: {e}"))?;
        let arr = v
            .as_array()
            .ok_or_else(|| format!("find_all({css:?}): expected an array, got {v}"))?;
        arr.iter().map(|e| self.parse_element(e, css)).collect()
    }
}

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

/// A headless Chromium session driven through a private chromedriver.
pub struct Browser {
    client: Client,
    driver: Child,
    driver_url: String,
    session_id: String,
    temp_dir: PathBuf,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("driver_url", &self.driver_url)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// Kills chromedriver and removes the temp dir if `Browser::start` fails half-way.
struct StartGuard {
    driver: Option<Child>,
    temp_dir: PathBuf,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.driver.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.temp_dir);
    }
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot read local addr: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

fn unique_temp_dir() -> Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "doudi-webdriver-{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create temp dir {}: {e}", dir.display()))?;
    Ok(dir)
}

fn log_tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Result<Browser> {
        let chromium =
            std::env::var("DOUDI_CHROMIUM").unwrap_or_else(|_| DEFAULT_CHROMIUM.to_string());
        let chromedriver = std::env::var("DOUDI_CHROMEDRIVER")
            .unwrap_or_else(|_| DEFAULT_CHROMEDRIVER.to_string());

        let temp_dir = unique_temp_dir()?;
        let mut guard = StartGuard {
            driver: None,
            temp_dir: temp_dir.clone(),
        };

        let profile_dir = temp_dir.join("profile");
        std::fs::create_dir_all(&profile_dir)
            .map_err(|e| format!("cannot create {}: {e}", profile_dir.display()))?;
        let log_path = temp_dir.join("chromedriver.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone log handle: {e}"))?;

        let port = free_port()?;
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot spawn {chromedriver:?}: {e} \
                     (install it with scripts/install-test-deps.sh)"
                )
            })?;
        guard.driver = Some(child);

        let driver_url = format!("http://127.0.0.1:{port}");
        let agent = new_agent(Duration::from_secs(90));

        // Wait for GET /status to report ready.
        let status_agent = new_agent(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last_err: String;
        loop {
            if let Some(child) = guard.driver.as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    return Err(format!(
                        "chromedriver exited early with {exit}; log:\n{}",
                        log_tail(&log_path)
                    ));
                }
            }
            match request(
                &status_agent,
                Method::Get,
                &format!("{driver_url}/status"),
                None,
            ) {
                Ok(v) if v.get("ready").and_then(Value::as_bool) == Some(true) => break,
                Ok(v) => last_err = format!("not ready: {v}"),
                Err(e) => last_err = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver on port {port} not ready after 10 s: {last_err}; log:\n{}",
                    log_tail(&log_path)
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }

        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", profile_dir.display()),
        ];
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": 30000, "script": 30000},
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": args,
                    }
                }
            }
        });
        let value = request(
            &agent,
            Method::Post,
            &format!("{driver_url}/session"),
            Some(&caps),
        )
        .map_err(|e| {
            format!(
                "creating a Chromium session failed: {e}\nchromedriver log:\n{}",
                log_tail(&log_path)
            )
        })?;
        let session_id = value
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("new session reply has no sessionId: {value}"))?
            .to_string();

        let driver = guard.driver.take().expect("driver present");
        // Temp dir ownership moves to Browser.
        guard.temp_dir = PathBuf::new();
        drop(guard);

        Ok(Browser {
            client: Client {
                agent,
                base: format!("{driver_url}/session/{session_id}"),
            },
            driver,
            driver_url,
            session_id,
            temp_dir,
        })
    }

    /// The WebDriver session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Navigates to `url` and waits for the page load to complete.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.client
            .post("/url", json!({"url": url}))
            .map(|_| ())
            .map_err(|e| format!("goto({url:?}) failed: {e}"))
    }

    /// Resizes the window (a phone is 390 × 844).
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.client
            .post("/window/rect", json!({"width": width, "height": height}))
            .map(|_| ())
    }

    pub fn back(&self) -> Result<()> {
        self.client.post("/back", json!({})).map(|_| ())
    }

    pub fn refresh(&self) -> Result<()> {
        self.client.post("/refresh", json!({})).map(|_| ())
    }

    pub fn current_url(&self) -> Result<String> {
        self.client.get_string("/url")
    }

    pub fn title(&self) -> Result<String> {
        self.client.get_string("/title")
    }

    /// The serialized DOM of the current page.
    pub fn page_source(&self) -> Result<String> {
        self.client.get_string("/source")
    }

    /// First element matching the CSS selector (error if none).
    pub fn find(&self, css: &str) -> Result<Element> {
        self.client.find_in("", css)
    }

    /// All elements matching the CSS selector (possibly empty).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        self.client.find_all_in("", css)
    }

    /// Polls until an element matching `css` exists, or `timeout` elapses.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find(css) {
                Ok(el) => return Ok(el),
                Err(e) => {
                    if Instant::now() >= deadline {
                        let url = self.current_url().unwrap_or_else(|e| format!("<{e}>"));
                        return Err(format!(
                            "wait_for({css:?}) timed out after {timeout:?} on {url}; last error: {e}"
                        ));
                    }
                }
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls `cond` until it returns `Ok(true)`, or `timeout` elapses.
    /// Errors from `cond` are treated as "not yet" and reported on timeout.
    pub fn wait_until<F>(&self, what: &str, timeout: Duration, mut cond: F) -> Result<()>
    where
        F: FnMut(&Browser) -> Result<bool>,
    {
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            match cond(self) {
                Ok(true) => return Ok(()),
                Ok(false) => last = String::from("condition was false"),
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                let url = self.current_url().unwrap_or_else(|e| format!("<{e}>"));
                return Err(format!(
                    "wait_until({what}) timed out after {timeout:?} on {url}: {last}"
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Runs synchronous JavaScript (`return ...;`) and returns its JSON result.
    /// Pass elements as arguments with [`Element::to_arg`].
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.client
            .post("/execute/sync", json!({"script": script, "args": args}))
            .map_err(|e| format!("execute script failed: {e}"))
    }

    /// Saves a PNG screenshot of the viewport to `path` (parent dirs are created).
    pub fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let b64 = self.client.get_string("/screenshot")?;
        let bytes = base64_decode(&b64)?;
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
        }
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let quick = new_agent(Duration::from_secs(10));
        let _ = request(
            &quick,
            Method::Delete,
            &format!("{}/session/{}", self.driver_url, self.session_id),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if !self.temp_dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.temp_dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Element
// ---------------------------------------------------------------------------

/// A reference to a DOM element in the browser session.
///
/// Holds its own handle to the session, so it does not borrow the `Browser`;
/// using it after the `Browser` is dropped returns an error.
#[derive(Clone)]
pub struct Element {
    client: Client,
    id: String,
    selector: String,
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("selector", &self.selector)
            .field("id", &self.id)
            .finish()
    }
}

impl Element {
    fn path(&self, suffix: &str) -> String {
        format!("/element/{}{}", self.id, suffix)
    }

    fn ctx(&self, op: &str, e: String) -> String {
        format!("{op} on element {:?} failed: {e}", self.selector)
    }

    /// The WebDriver element id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// JSON form of this element for [`Browser::execute`] arguments.
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    pub fn click(&self) -> Result<()> {
        self.client
            .post(&self.path("/click"), json!({}))
            .map(|_| ())
            .map_err(|e| self.ctx("click", e))
    }

    /// Types `text` into the element (appends to the current value).
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.client
            .post(&self.path("/value"), json!({"text": text}))
            .map(|_| ())
            .map_err(|e| self.ctx("send_keys", e))
    }

    pub fn clear(&self) -> Result<()> {
        self.client
            .post(&self.path("/clear"), json!({}))
            .map(|_| ())
            .map_err(|e| self.ctx("clear", e))
    }

    /// Rendered (visible) text of the element.
    pub fn text(&self) -> Result<String> {
        self.client
            .get_string(&self.path("/text"))
            .map_err(|e| self.ctx("text", e))
    }

    /// HTML attribute value; `None` if the attribute is absent.
    pub fn attr(&self, name: &str) -> Result<Option<String>> {
        let v = self
            .client
            .get(&self.path(&format!("/attribute/{}", percent_encode(name))))
            .map_err(|e| self.ctx(&format!("attr({name:?})"), e))?;
        Ok(json_to_opt_string(v))
    }

    /// DOM property value (e.g. `value`, `checked`); `None` if null/undefined.
    pub fn property(&self, name: &str) -> Result<Option<String>> {
        let v = self
            .client
            .get(&self.path(&format!("/property/{}", percent_encode(name))))
            .map_err(|e| self.ctx(&format!("property({name:?})"), e))?;
        Ok(json_to_opt_string(v))
    }

    /// Current `value` property (what the user typed / selected).
    pub fn value(&self) -> Result<String> {
        Ok(self.property("value")?.unwrap_or_default())
    }

    pub fn tag_name(&self) -> Result<String> {
        self.client
            .get_string(&self.path("/name"))
            .map_err(|e| self.ctx("tag_name", e))
    }

    pub fn is_displayed(&self) -> Result<bool> {
        let v = self
            .client
            .get(&self.path("/displayed"))
            .map_err(|e| self.ctx("is_displayed", e))?;
        Ok(v.as_bool().unwrap_or(false))
    }

    pub fn is_selected(&self) -> Result<bool> {
        let v = self
            .client
            .get(&self.path("/selected"))
            .map_err(|e| self.ctx("is_selected", e))?;
        Ok(v.as_bool().unwrap_or(false))
    }

    pub fn is_enabled(&self) -> Result<bool> {
        let v = self
            .client
            .get(&self.path("/enabled"))
            .map_err(|e| self.ctx("is_enabled", e))?;
        Ok(v.as_bool().unwrap_or(false))
    }

    /// First descendant matching `css`.
    pub fn find(&self, css: &str) -> Result<Element> {
        self.client
            .find_in(&self.path(""), css)
            .map_err(|e| self.ctx("find", e))
    }

    /// All descendants matching `css`.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        self.client
            .find_all_in(&self.path(""), css)
            .map_err(|e| self.ctx("find_all", e))
    }

    /// For a `<select>`: selects the `<option>` whose `value` attribute equals `value`.
    pub fn select_by_value(&self, value: &str) -> Result<()> {
        let css = format!("option[value=\"{}\"]", css_escape_string(value));
        let option = self
            .client
            .find_in(&self.path(""), &css)
            .map_err(|e| self.ctx(&format!("select_by_value({value:?})"), e))?;
        if option.is_selected()? {
            return Ok(());
        }
        option
            .click()
            .map_err(|e| self.ctx(&format!("select_by_value({value:?})"), e))
    }
}

fn json_to_opt_string(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// Escapes a string for use inside a double-quoted CSS string.
fn css_escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            _ => out.push(c),
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// base64
// ---------------------------------------------------------------------------

/// Decodes standard (RFC 4648) base64; whitespace is ignored, padding optional.
pub fn base64_decode(input: &str) -> Result<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut seen_pad = false;
    for (i, &c) in input.as_bytes().iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            seen_pad = true;
            continue;
        }
        if seen_pad {
            return Err(format!("base64: data after padding at byte {i}"));
        }
        let v = val(c)
            .ok_or_else(|| format!("base64: invalid character {:?} at byte {i}", c as char))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("base64: truncated input".to_string());
    }
    Ok(out)
}
