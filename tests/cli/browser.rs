//! `switchboard up` and `serve` in a real browser: headless Chromium driven over WebDriver
//! (chromedriver).
//!
//! The tests need Debian's `chromium` and `chromium-driver` (or `SWITCHBOARD_CHROMIUM` and
//! `SWITCHBOARD_CHROMEDRIVER` naming the programs). Without them each test prints that it was
//! skipped, unless `SWITCHBOARD_TEST_BROWSER` is set (CI sets it): then a missing browser
//! fails the run.
//!
//! With `SWITCHBOARD_SCREENSHOTS=DIR`, the tests save the screenshots the README shows into
//! DIR (relative to the repository).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use switchboard_testkit::{http_get, wait_until_accepting, ChildServer};
use tokio::process::{Child, Command};

use crate::{cli, free_addr, server_pids, start_up};

mod feed;

/// How long a page gets to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// The browser and its driver, found on this machine.
struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn find(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The programs, or `None` after saying the test is skipped; under CI a missing browser
/// fails the test instead.
fn programs(test: &str) -> Option<Programs> {
    let chromium = find("SWITCHBOARD_CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = find("SWITCHBOARD_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(Programs {
            chromium,
            chromedriver,
        }),
        _ => {
            let why = "needs chromium and chromedriver (apt-get install chromium chromium-driver)";
            if std::env::var_os("SWITCHBOARD_TEST_BROWSER").is_some() {
                panic!("{test}: {why}; SWITCHBOARD_TEST_BROWSER is set, so this fails");
            }
            eprintln!("skipped {test}: {why}");
            None
        }
    }
}

/// A headless Chromium session. Dropped, it takes the browser and its driver down with it,
/// whatever state the test left them in.
struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    async fn start(programs: &Programs) -> Browser {
        let addr: SocketAddr = free_addr().await.parse().expect("an address");
        let port = addr.port();
        let driver = Command::new(&programs.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        wait_until_accepting(([127, 0, 0, 1], port).into()).await;
        let profile =
            std::env::temp_dir().join(format!("switchboard_browser_{}", fastrand::u64(..)));
        // The flags keep Chromium from reaching out (there is no network beyond loopback) and
        // let it run as root in a container.
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": programs.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Browser {
            client: Some(client),
            driver,
            profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    /// Waits until `script` (a function body) returns true in the page.
    async fn until(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let value = self.client().execute(script, vec![]).await;
            if matches!(value, Ok(Value::Bool(true))) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let page = self.client().source().await.unwrap_or_default();
                panic!("the page never showed {what} (last answer {value:?}):\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn path(&self) -> String {
        let url = self.client().current_url().await.expect("current url");
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        path
    }

    async fn fill(&self, form: &str, username: &str, password: &str) {
        let c = self.client();
        for (field, value) in [("username", username), ("password", password)] {
            c.find(Locator::Css(&format!("{form} input[name={field}]")))
                .await
                .expect(field)
                .send_keys(value)
                .await
                .expect("type");
        }
        c.find(Locator::Css(&format!("{form} button[type=submit]")))
            .await
            .expect("submit button")
            .click()
            .await
            .expect("click");
    }

    /// Presses the profile page's sign-out button and waits for the home page.
    async fn sign_out(&self) {
        self.client()
            .find(Locator::Css("form[action='/logout'] button"))
            .await
            .expect("sign-out button")
            .click()
            .await
            .expect("click");
        self.until("the home page", "return location.pathname === '/'")
            .await;
    }

    /// Saves a screenshot for the README, when asked to.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SWITCHBOARD_SCREENSHOTS") else {
            return;
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let png = self.client().screenshot().await.expect("screenshot");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed half-way leaves the session open: end every process using this
        // session's profile, then the driver (killed on drop).
        let _ = std::process::Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                &format!("user-data-dir={}", self.profile.display()),
            ])
            .status();
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `switchboard up` with three servers on free ports; returns it, its admin address and its
/// data directory.
async fn up(tag: &str) -> (ChildServer, String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("switchboard_browser_{tag}_{}", fastrand::u32(..)));
    let data = dir.join("data");
    let admin = free_addr().await;
    let up = start_up(
        "3",
        &admin,
        &free_addr().await,
        &["--data", data.to_str().unwrap()],
    )
    .await;
    (up, admin, data)
}

async fn stop(up: ChildServer, data: &Path) {
    up.signal("TERM").await;
    let (status, rest) = up.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}: {rest}");
    let _ = std::fs::remove_dir_all(data.parent().unwrap());
}

#[tokio::test]
async fn a_visitor_registers_signs_in_sees_the_profile_and_signs_out() {
    let Some(programs) = programs("a_visitor_registers_signs_in_sees_the_profile_and_signs_out")
    else {
        return;
    };
    let (up, _admin, data) = up("site").await;
    let site = format!("http://{}", up.addr);
    let browser = Browser::start(&programs).await;
    let c = browser.client();

    // Sign up: the account is made and its session begins.
    c.goto(&format!("{site}/")).await.expect("open the site");
    browser
        .fill("#signup", "grace", "correct horse battery")
        .await;
    browser
        .until(
            "the profile after signing up",
            "return location.pathname === '/profile' && document.body.innerText.includes('Signed in as grace')",
        )
        .await;

    // Sign out, then sign in with the same name and password.
    browser.sign_out().await;
    browser
        .fill("#signin", "grace", "correct horse battery")
        .await;
    browser
        .until(
            "the profile after signing in",
            "return location.pathname === '/profile' && document.body.innerText.includes('Signed in as grace')",
        )
        .await;
    let served_by = c
        .find(Locator::Id("served-by"))
        .await
        .expect("served-by")
        .text()
        .await
        .expect("text");
    assert!(served_by.starts_with("server-"), "{served_by}");
    browser.screenshot("profile.png").await;

    // Sign out: the profile is closed again.
    browser.sign_out().await;
    c.goto(&format!("{site}/profile")).await.expect("profile");
    let path = browser.path().await;
    assert_eq!(
        path, "/?signin=required",
        "signed out, /profile sends to sign-in"
    );

    browser.close().await;
    stop(up, &data).await;
}

/// The state the dashboard shows for each backend, as `name=state` in table order.
const STATES: &str = "[...document.querySelectorAll('#backends tr')]\
    .map((r) => r.dataset.backend + '=' + r.querySelector('.state').textContent).join(' ')";

#[tokio::test]
async fn the_dashboard_shows_failover_and_changes_the_strategy() {
    let Some(programs) = programs("the_dashboard_shows_failover_and_changes_the_strategy") else {
        return;
    };
    let (up, admin, data) = up("dash").await;
    let browser = Browser::start(&programs).await;
    let c = browser.client();
    c.goto(&format!("http://{admin}/"))
        .await
        .expect("dashboard");
    let all_up = "server-1=up server-2=up server-3=up";
    browser
        .until(
            "three healthy backends",
            &format!("return ({STATES}) === '{all_up}'"),
        )
        .await;

    // A steady load through the balancer while one server is killed, as the README's
    // walkthrough does: bounded in time and rate.
    let bench = tokio::spawn({
        let url = format!("http://{}/add?a=1&b=2", up.addr);
        async move {
            cli()
                .run(
                    &["bench", &url, "-c", "4", "-d", "12s", "--rate", "300"],
                    b"",
                )
                .await
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pids = server_pids(data.to_str().unwrap(), "server-2");
    assert_eq!(pids.len(), 1, "pids of server-2: {pids:?}");
    let pid = &pids[0];
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    browser
        .until(
            "server-2 down",
            &format!("return ({STATES}).includes('server-2=down')"),
        )
        .await;
    browser.screenshot("dashboard-failover.png").await;
    browser
        .until(
            "server-2 back up after its restart",
            &format!(
                "return ({STATES}) === '{all_up}' && \
                 document.querySelector('tr[data-backend=\"server-2\"] .restarts').textContent === '1'"
            ),
        )
        .await;

    // A moment of traffic on all three again, for the picture.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    browser.screenshot("dashboard.png").await;
    let out = bench.await.expect("bench task");
    assert_eq!(out.code(), 0, "{}", out.stderr);

    // The strategy, changed from the page, is the balancer's.
    c.find(Locator::Id("strategy"))
        .await
        .expect("strategy select")
        .select_by_value("round-robin")
        .await
        .expect("choose round-robin");
    let admin_addr = admin.parse().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = http_get(admin_addr, "/status").await;
        if status.contains("\"strategy\":\"round-robin\"") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Reloaded, the page draws the minutes before it was opened from the balancer's history
    // at once, not only what arrives from now on (a point a second).
    c.refresh().await.expect("reload");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let points = c
        .execute(
            "return [...document.querySelectorAll('#rps polyline')]\
             .map((l) => l.getAttribute('points').split(' ').length)\
             .reduce((a, b) => Math.max(a, b), 0)",
            vec![],
        )
        .await
        .expect("count points");
    assert!(
        points.as_u64().unwrap_or(0) >= 8,
        "the chart after a reload has {points} points"
    );

    browser.close().await;
    stop(up, &data).await;
}
