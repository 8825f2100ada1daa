//! Health, readiness, metrics, and the headers every response carries.

use reqwest::{Method, StatusCode};

use crate::{both_backends, start, Backend, Client, PASSWORD};

async fn health_and_metrics(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    let h = c.get("/healthz").await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.json()["status"], "ok");
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    let expected = match backend {
        crate::Backend::Sqlite => "sqlite",
        crate::Backend::Postgres => "postgres",
    };
    assert_eq!(r.json()["database"], expected);

    let mut ann = Client::new(&app);
    ann.register("ann", PASSWORD).await;
    ann.login("ann", PASSWORD).await;
    c.get("/add?a=1&b=2").await;
    c.get("/add?a=x").await;
    c.get("/no/such/page").await;
    let m = c.get("/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = m.text();
    for line in [
        "switchboard_http_requests_total{route=\"/add\",method=\"GET\",status=\"200\"} 1",
        "switchboard_http_requests_total{route=\"/add\",method=\"GET\",status=\"400\"} 1",
        "switchboard_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1",
        "switchboard_http_requests_total{route=\"/api/users\",method=\"POST\",status=\"201\"} 1",
        "switchboard_http_request_duration_seconds_count{route=\"/add\"} 2",
        "switchboard_sessions_active 1",
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(
        text.contains("switchboard_http_open_connections "),
        "{text}"
    );

    // The database goes away: not ready, but alive.
    app.app.store().close().await;
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error(), "database unreachable");
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    app.running.stop().await.unwrap();
}

async fn every_response_says_who_served_it(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/add?a=1&b=1"),
        (Method::GET, "/add"),
        (Method::GET, "/api/profile"),
        (Method::GET, "/missing"),
        (Method::DELETE, "/add"),
        (Method::POST, "/api/process"),
    ] {
        let a = c.send(method.clone(), path, &[], None).await;
        assert_eq!(
            a.header("x-served-by"),
            Some("test-server"),
            "{method} {path}"
        );
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{method} {path}"
        );
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{method} {path}");
        assert!(
            a.header("strict-transport-security").is_none(),
            "no HSTS without TLS"
        );
        if a.status.is_client_error() {
            a.error();
        }
    }
    let wrong_method = c.send(Method::DELETE, "/add", &[], None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error(), "method not allowed");
    for path in ["/", "/index.html"] {
        let a = c.send(Method::POST, path, &[], None).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "POST {path}");
        assert_eq!(a.error(), "method not allowed");
    }
    let nowhere = c.send(Method::POST, "/no/such/thing", &[], None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    nowhere.error();
    // What carries a user's data is never cached.
    assert_eq!(
        c.get("/api/profile").await.header("cache-control"),
        Some("no-store")
    );
    assert_eq!(c.get("/add?a=1&b=1").await.header("cache-control"), None);
    app.running.stop().await.unwrap();
}

both_backends!(health_and_metrics, every_response_says_who_served_it);
