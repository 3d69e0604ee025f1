//! A real browser for the dashboard tests: headless Chromium driven through chromedriver
//! (WebDriver, with `fantoccini`), started fresh per test on a free loopback port with an
//! empty profile, and able to reach loopback only (`--host-resolver-rules` resolves no name).
//!
//! ```ignore
//! browser::session(&app, "adds_a_webhook", |b| async move {
//!     b.sign_in().await;
//!     b.click("#add-webhook").await;
//! })
//! .await;
//! ```
//!
//! Whatever the test's outcome, its last page is saved as `target/screenshots/<name>.png`.
//! Missing Chromium or chromedriver fails the test with how to install them; it never skips.
//!
//! Waiting: `goto` returns once the page has loaded. A click that submits a form may return
//! before the next page is there, so finding an element waits in the driver (WebDriver's
//! implicit wait, [`IMPLICIT_WAIT`] at most) until it appears, returning as soon as it does:
//! tests look for something only the next page has before reading anything else, and before
//! using what the page's script adds, for the script to have run ([`Browser::ready`]). Where
//! a script updates the page, the test awaits the page's own event through `execute_async`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::app::{TestApp, MANAGEMENT_ID, MANAGEMENT_TOKEN};

/// The flags Chromium runs with: headless, nothing fetched in the background, no name
/// resolution (so only loopback addresses can be reached), a laptop-sized window.
const CHROMIUM_FLAGS: [&str; 14] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,800",
    "--hide-scrollbars",
];

/// How long finding an element may wait for it to appear (the longest, not a delay).
const IMPLICIT_WAIT: Duration = Duration::from_secs(10);

/// How long chromedriver may take to say it is ready.
const DRIVER_START: Duration = Duration::from_secs(30);

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Where screenshots go: `<target>/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

/// A chromedriver process, stopped when dropped.
struct Driver {
    url: String,
    _process: Child,
    profile: tempfile::TempDir,
    chromium: PathBuf,
}

impl Driver {
    async fn start() -> Self {
        let (Some(chromium), Some(chromedriver)) =
            (find_program("chromium"), find_program("chromedriver"))
        else {
            panic!(
                "the dashboard's browser tests need Chromium and chromedriver on PATH; \
                 run scripts/setup/browser.sh (scripts/test.sh runs it)"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let stdout = process.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(DRIVER_START, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("started successfully") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(ready, Ok(true)), "chromedriver did not start");
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
            profile: tempfile::tempdir().expect("a profile directory"),
            chromium,
        }
    }

    async fn open(&self) -> Client {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
            "timeouts": {"implicit": IMPLICIT_WAIT.as_millis() as u64, "pageLoad": 30_000, "script": 10_000},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// The browser as a test drives it, pointed at one running app.
#[derive(Debug, Clone)]
pub struct Browser {
    pub client: Client,
    pub base_url: String,
}

/// Runs `body` with a fresh browser on `app`, then saves the last page as
/// `target/screenshots/<name>.png` and closes the browser, whatever the outcome.
pub async fn session<F, Fut>(app: &TestApp, name: &str, body: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = ()>,
{
    let driver = Driver::start().await;
    let browser = Browser {
        client: driver.open().await,
        base_url: app.base_url.clone(),
    };
    let outcome = AssertUnwindSafe(body(browser.clone())).catch_unwind().await;
    let saved = browser.save_screenshot(&screenshot_dir(), name).await;
    let _ = browser.client.clone().close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    saved.expect("the screenshot is saved");
}

impl Browser {
    /// Opens a path of the app.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base_url))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The element matching `css`; fails the test naming it if there is none.
    pub async fn el(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let path = self.path().await;
                panic!("no element `{css}` on {path}: {e}")
            }
        }
    }

    /// Every element matching `css` (waiting, as [`Browser::el`] does, for a first one).
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// The form control whose `<label>` reads `label` (its own text, hints left out), as a
    /// person finds it; fails the test naming the label if there is none.
    pub async fn labelled(&self, label: &str) -> Element {
        let xpath = format!(
            "//*[@id = //label[normalize-space(text()[1]) = {}]/@for]",
            xpath_text(label)
        );
        self.by_xpath(&xpath, &format!("a field labelled {label:?}"))
            .await
    }

    /// The section whose heading reads `heading` (a region named by it).
    pub async fn region(&self, heading: &str) -> Element {
        let xpath = format!(
            "//section[@aria-labelledby = //*[self::h1 or self::h2 or self::h3][normalize-space() = {}]/@id]",
            xpath_text(heading)
        );
        self.by_xpath(&xpath, &format!("a section named {heading:?}"))
            .await
    }

    /// The group (`<fieldset>`) whose legend reads `legend`.
    pub async fn group(&self, legend: &str) -> Element {
        let xpath = format!(
            "//fieldset[legend[normalize-space() = {}]]",
            xpath_text(legend)
        );
        self.by_xpath(&xpath, &format!("a group named {legend:?}"))
            .await
    }

    /// Whether `outer` holds `inner` in the page.
    pub async fn contains(&self, outer: &Element, inner: &Element) -> bool {
        let args = vec![
            serde_json::to_value(outer).expect("an element reference"),
            serde_json::to_value(inner).expect("an element reference"),
        ];
        self.client
            .execute("return arguments[0].contains(arguments[1]);", args)
            .await
            .map(|v| v.as_bool() == Some(true))
            .expect("the page answers")
    }

    /// The button (or the link styled as one) that reads `name`, inside what matches `css`.
    pub async fn button_in(&self, css: &str, name: &str) -> Element {
        let scope = self.el(css).await;
        let xpath = format!(
            ".//*[self::button or self::a or self::summary][normalize-space() = {}]",
            xpath_text(name)
        );
        match scope.find(Locator::XPath(&xpath)).await {
            Ok(element) => element,
            Err(e) => {
                let path = self.path().await;
                panic!("no button {name:?} in `{css}` on {path}: {e}")
            }
        }
    }

    /// The names of the buttons inside what matches `css`, as shown.
    pub async fn button_names(&self, css: &str) -> Vec<String> {
        let scope = self.el(css).await;
        let mut names = Vec::new();
        for button in scope
            .find_all(Locator::Css("button, a.button, a.menu-item"))
            .await
            .unwrap_or_default()
        {
            let text = button
                .prop("textContent")
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            names.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        names
    }

    async fn by_xpath(&self, xpath: &str, what: &str) -> Element {
        match self.client.find(Locator::XPath(xpath)).await {
            Ok(element) => element,
            Err(e) => {
                let path = self.path().await;
                panic!("no {what} on {path}: {e}")
            }
        }
    }

    /// Whether something matches `css` on the page as it is now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.client
            .execute(
                "return document.querySelector(arguments[0]) !== null;",
                vec![Value::String(css.to_owned())],
            )
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or_else(|e| panic!("query `{css}`: {e}"))
    }

    /// Clicks what matches `css` (waiting for the page it opens, if any).
    pub async fn click(&self, css: &str) {
        self.el(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Waits for `css` (something only the expected page has), then for that page's script
    /// to have run, so that what the script adds can be used.
    pub async fn ready(&self, css: &str) {
        self.el(css).await;
        self.el("html[data-ready]").await;
    }

    /// Replaces the text of the field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.el(css).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("typing into the field");
    }

    /// The visible text of what matches `css`.
    pub async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.expect("its text")
    }

    /// Waits until what matches `css` shows `needle`, and returns its text: after a click
    /// that submits a form, the old page (and its old flash) may still be the one shown when
    /// the click returns. Gives up (failing the test) after [`IMPLICIT_WAIT`].
    pub async fn text_with(&self, css: &str, needle: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let shown = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains(needle) {
                return shown;
            }
            assert!(
                started.elapsed() < IMPLICIT_WAIT,
                "`{css}` never showed {needle:?}; it shows {shown:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Signs in with the test app's management key.
    pub async fn sign_in(&self) {
        self.goto("/dashboard/login").await;
        self.fill("#management_id", MANAGEMENT_ID).await;
        self.fill("#management_token", MANAGEMENT_TOKEN).await;
        self.click("#sign-in").await;
        self.el("#logout").await;
        assert!(
            !self.path().await.starts_with("/dashboard/login"),
            "signed in: {}",
            self.path().await
        );
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Saves the current page as `<dir>/<name>.png`.
    pub async fn save_screenshot(&self, dir: &std::path::Path, name: &str) -> std::io::Result<()> {
        let png = self
            .client
            .screenshot()
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{name}.png")), png)
    }
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes: quotes are joined in).
fn xpath_text(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
