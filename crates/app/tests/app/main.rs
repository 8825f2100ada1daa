//! The application over real HTTP on 127.0.0.1, against SQLite and, when
//! `SWITCHBOARD_TEST_POSTGRES` is set, PostgreSQL.
//!
//! Scenarios are written once as `async fn(TestApp)`; `both_backends!` runs each against both
//! databases.
#![allow(missing_docs)] // test helpers, documented where it helps

mod access;
mod bodies;
mod calc;
mod events;
mod events_slow;
mod jobs;
mod openapi;
mod ops;
mod posts;
mod sessions;
mod site;
mod site_cache;
mod users;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchboard_app::{App, AppConfig, Clock, Role, Store, Timestamp};
use switchboard_http::{HttpServer, Limits};
use switchboard_testkit::{Running, Shutdown};

/// Which database a scenario runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running application with its own fresh database.
pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub app: App,
    pub clock: Clock,
    pub running: Running,
    pub dir: PathBuf,
}

/// A unique name for this test's database or directory.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// Opens a fresh store: `None` when the backend is PostgreSQL and no server was given (the
/// caller skips, saying so).
pub async fn fresh_store(backend: Backend) -> Option<(Store, PathBuf)> {
    let dir = std::env::temp_dir().join(unique("switchboard_app_test"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.join("app.db").display());
            Store::open(&url).await.expect("open SQLite")
        }
        Backend::Postgres => {
            let url = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok()?;
            Store::open_postgres_in_schema(&url, &unique("app"))
                .await
                .unwrap_or_else(|e| panic!("SWITCHBOARD_TEST_POSTGRES={url} is set but: {e}"))
        }
    };
    Some((store, dir))
}

/// Two stores on one fresh PostgreSQL schema, as two servers on one database have, and the
/// schema's name: `None` when no server was given.
pub async fn shared_postgres() -> Option<(Store, Store, PathBuf, String)> {
    let url = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok()?;
    let dir = std::env::temp_dir().join(unique("switchboard_app_test"));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = unique("app");
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = Store::open_postgres_in_schema(&url, &schema)
            .await
            .unwrap_or_else(|e| panic!("SWITCHBOARD_TEST_POSTGRES={url} is set but: {e}"));
        stores.push(store);
    }
    let second = stores.pop()?;
    Some((stores.pop()?, second, dir, schema))
}

/// Starts the application on `store` with `config`, on a manual clock.
pub async fn start_on(store: Store, dir: PathBuf, config: AppConfig) -> TestApp {
    start_on_with_limits(store, dir, config, Limits::default()).await
}

/// Starts the application on `store` with `config`, served under `limits`.
pub async fn start_on_with_limits(
    store: Store,
    dir: PathBuf,
    config: AppConfig,
    limits: Limits,
) -> TestApp {
    let clock = Clock::manual(Timestamp::from_millis(1_800_000_000_000));
    let app = App::new(store, config, clock.clone()).expect("app");
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, limits).expect("bind");
    let addr = server.local_addr();
    let gauge = server.connections();
    app.set_connection_gauge(move || gauge.open());
    let shutdown = Shutdown::new();
    tokio::spawn({
        let (app, shutdown) = (app.clone(), shutdown.clone());
        async move {
            shutdown.wait().await;
            app.close_streams();
        }
    });
    let service = app.service();
    let running = Running::spawn(addr, shutdown.clone(), server.serve(service, shutdown));
    TestApp {
        base: format!("http://{addr}"),
        addr,
        app,
        clock,
        running,
        dir,
    }
}

/// The configuration tests use: the defaults, named.
pub fn test_config() -> AppConfig {
    AppConfig {
        name: "test-server".into(),
        ..AppConfig::default()
    }
}

/// Runs a scenario against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var_os("SWITCHBOARD_TEST_POSTGRES").is_none() {
                    eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES is not set, so the PostgreSQL variant of {} did not run", stringify!($scenario));
                    return;
                }
                super::$scenario($crate::Backend::Postgres).await;
            }
        }
    )*};
}

/// Starts the application on a fresh database of `backend` with the test configuration.
pub async fn start(backend: Backend) -> TestApp {
    start_with(backend, test_config()).await
}

/// Starts the application on a fresh database of `backend` with `config`.
pub async fn start_with(backend: Backend, config: AppConfig) -> TestApp {
    let (store, dir) = fresh_store(backend).await.expect("backend available");
    start_on(store, dir, config).await
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `{"error": ...}` message, asserting the error shape.
    pub fn error(&self) -> String {
        let json = self.json();
        json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {json}"))
            .to_string()
    }

    /// The session cookie's value from Set-Cookie, if one was set.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("sb_session="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    }
}

/// A client: a browser-like one keeps the session cookie; any may present a bearer token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub cookie: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn new(app: &TestApp) -> Self {
        Self::from_address(app, "127.0.0.1".parse().unwrap())
    }

    /// A client connecting from another loopback address (127.0.0.0/8 is all ours).
    pub fn from_address(app: &TestApp, local: IpAddr) -> Self {
        // Built with the client crate's features too (`cargo test` across the workspace), reqwest
        // has rustls without a provider of its own: give it ring, as everywhere else.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
            bearer: None,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, format!("sb_session={cookie}"));
        }
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).unwrap());
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let res = tokio::time::timeout(switchboard_testkit::PATIENCE, req.send())
            .await
            .expect("answer in time")
            .expect("request");
        Answer {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.bytes().await.expect("body").to_vec(),
        }
    }

    /// Sends a GET with this client's credentials and `headers`, and returns as soon as the
    /// head has come: for a body that streams.
    pub async fn open(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, format!("sb_session={cookie}"));
        }
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).unwrap());
        }
        tokio::time::timeout(switchboard_testkit::PATIENCE, req.send())
            .await
            .expect("answer in time")
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.send(
            Method::POST,
            path,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            Method::POST,
            path,
            &[("sec-fetch-site", "same-origin")],
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    /// Registers `name` with `password`; asserts 201.
    pub async fn register(&self, name: &str, password: &str) -> Value {
        let a = self
            .post_json(
                "/api/users",
                serde_json::json!({ "username": name, "password": password }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        a.json()
    }

    /// Signs in, keeping the cookie; asserts 200.
    pub async fn login(&mut self, name: &str, password: &str) -> Value {
        let a = self
            .post_json(
                "/login",
                serde_json::json!({ "username": name, "password": password }),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        self.cookie = Some(a.session_cookie().expect("session cookie"));
        a.json()
    }
}

/// Makes `name` an admin directly in the store, as `switchboard users create --admin` does.
pub async fn create_admin(app: &TestApp, name: &str, password: &str) {
    let hash = app.app.hash_password(password.into()).await.unwrap();
    app.app
        .store()
        .create_user(name, &hash, Role::Admin, app.clock.now())
        .await
        .unwrap();
}

pub const PASSWORD: &str = "correct horse battery staple";
