//! The route table's rules as a client sees them, over a real socket: every route is counted
//! under its own label, a private route's answers say `Cache-Control: no-store` (through the
//! router and through a fast path alike) and no other route's do, and a path the table does
//! not name is counted under the fallback's label.

use std::net::SocketAddr;

use reqwest::StatusCode;
use switchboard_http::{HttpServer, Limits};
use switchboard_store::{Role, Store, Timestamp};
use switchboard_testkit::{Running, Shutdown, PATIENCE};

use super::{RouteId, FALLBACK_LABEL, ROUTES};
use crate::auth::session::new_token;
use crate::{App, AppConfig, Clock};

struct Served {
    app: App,
    addr: SocketAddr,
    running: Running,
    http: reqwest::Client,
}

async fn serve() -> Served {
    let dir = std::env::temp_dir().join(format!(
        "switchboard_routes_{}_{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.join("app.db").display()))
        .await
        .expect("open SQLite");
    // A manual clock: the session cache's vouching does not run out mid-test.
    let clock = Clock::manual(Timestamp::from_millis(1_800_000_000_000));
    let app = App::new(store, AppConfig::default(), clock).expect("app");
    let server =
        HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).expect("bind");
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let running = Running::spawn(
        addr,
        shutdown.clone(),
        server.serve(app.service(), shutdown),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Served {
        app,
        addr,
        running,
        http,
    }
}

impl Served {
    /// `GET path`: the status and the `Cache-Control` field.
    async fn get(&self, path: &str, bearer: Option<&str>) -> (StatusCode, Option<String>) {
        let mut req = self.http.get(format!("http://{}{path}", self.addr));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let res = tokio::time::timeout(PATIENCE, req.send())
            .await
            .expect("answer in time")
            .expect("answer");
        let cache_control = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status(), cache_control)
    }

    async fn metrics(&self) -> String {
        let res = self
            .http
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .expect("metrics");
        res.text().await.unwrap()
    }
}

fn counted(metrics: &str, label: &str, status: StatusCode) -> bool {
    metrics.contains(&format!(
        "switchboard_http_requests_total{{route=\"{label}\",method=\"GET\",status=\"{}\"}} 1",
        status.as_u16()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_the_private_rule_follow_the_table() {
    let served = serve().await;
    let mut answered = Vec::new();
    for route in ROUTES {
        let (status, cache_control) = served.get(route.path, None).await;
        assert_eq!(
            cache_control.as_deref() == Some("no-store"),
            route.private,
            "GET {} answered {status} with Cache-Control {cache_control:?}",
            route.path
        );
        answered.push((route.path, status));
    }
    let (unknown, cache_control) = served.get("/no/such/path", None).await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_eq!(cache_control, None);
    // A file of the site the table does not name: answered by the fallback, counted as one.
    let (stylesheet, _) = served.get("/style.css", None).await;
    assert_eq!(stylesheet, StatusCode::OK);

    let metrics = served.metrics().await;
    for (path, status) in answered {
        assert!(
            counted(&metrics, path, status),
            "GET {path} ({status}) is not counted under its own label:\n{metrics}"
        );
    }
    assert!(
        metrics.contains(&format!(
            "switchboard_http_requests_total{{route=\"{FALLBACK_LABEL}\",method=\"GET\",status=\"404\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "switchboard_http_requests_total{{route=\"{FALLBACK_LABEL}\",method=\"GET\",status=\"200\"}} 1"
        )),
        "{metrics}"
    );
    // No label outside the table's.
    let labels: Vec<&str> = RouteId::all().map(RouteId::label).collect();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        if let Some(rest) = line.split_once("route=\"").map(|(_, rest)| rest) {
            let label = rest.split('"').next().unwrap();
            assert!(
                labels.contains(&label),
                "{label} is not the table's: {line}"
            );
        }
    }
    served.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_path_keeps_its_routes_rules() {
    let served = serve().await;
    let store = served.app.store();
    let now = served.app.clock().now();
    let user = store
        .create_user("ann", "not a real hash", Role::User, now)
        .await
        .unwrap();
    let (token, hash) = new_token();
    store
        .create_session(
            &hash,
            user.id,
            now,
            now.saturating_add(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let profile = ROUTES
        .iter()
        .find(|route| route.private && route.fast.is_some())
        .expect("a private route with a fast path");
    // The first answer asks the database (through the router) and fills the session cache;
    // the second is the fast path's.
    for round in 0..2 {
        let cached = served.app.sessions().get(&hash, now).is_some();
        assert_eq!(
            cached,
            round == 1,
            "the session cache before answer {round}"
        );
        let (status, cache_control) = served.get(profile.path, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{}", profile.path);
        assert_eq!(
            cache_control.as_deref(),
            Some("no-store"),
            "{}",
            profile.path
        );
    }
    let metrics = served.metrics().await;
    assert!(
        metrics.contains(&format!(
            "switchboard_http_requests_total{{route=\"{}\",method=\"GET\",status=\"200\"}} 2",
            profile.path
        )),
        "{metrics}"
    );
    served.running.stop().await.unwrap();
}

#[test]
fn every_path_is_named_once() {
    for (i, route) in ROUTES.iter().enumerate() {
        assert!(route.path.starts_with('/'), "{}", route.path);
        assert_eq!(RouteId::of(route.path), RouteId(i), "{} twice", route.path);
        assert_eq!(RouteId(i).label(), route.path);
    }
    assert_eq!(RouteId::all().count(), ROUTES.len() + 1);
    assert_eq!(RouteId::of("/no/such/path"), RouteId::FALLBACK);
    assert_eq!(RouteId::of("/style.css").label(), FALLBACK_LABEL);
    assert!(!RouteId::FALLBACK.is_private());
    // The fallback's fast path is the site's cache.
    assert!(matches!(
        RouteId::FALLBACK.fast(),
        Some(super::Fast::Get(_))
    ));
}

#[test]
fn templated_paths_name_their_entry() {
    let post = RouteId::of("/api/posts/{id}");
    assert_eq!(post.label(), "/api/posts/{id}");
    assert_eq!(RouteId::of("/api/posts/42"), post);
    assert!(RouteId::of("/api/posts/42").is_private());
    assert_eq!(RouteId::of("/api/posts"), RouteId::of("/api/posts"));
    assert_ne!(RouteId::of("/api/posts"), post);
    for other in [
        "/api/posts/",
        "/api/posts/1/2",
        "/api/post/1",
        "/api/posts//",
    ] {
        assert_eq!(RouteId::of(other), RouteId::FALLBACK, "{other}");
    }
}
