//! The pages: embedded or `--site DIR`; validators, compression, content types, and no way
//! out of the site.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use switchboard_app::{AppConfig, Site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{both_backends, fresh_store, start, start_on, test_config, Backend, Client};

async fn embedded_pages(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    for path in ["/", "/index.html"] {
        let a = c.get(path).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(a
            .text()
            .contains("<form method=\"post\" action=\"/login\">"));
        assert!(a.text().contains("action=\"/api/users\""));
        assert!(a
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'"));
        let etag = a.header("etag").unwrap().to_string();
        let modified = a.header("last-modified").unwrap().to_string();

        let again = c
            .send(Method::GET, path, &[("if-none-match", &etag)], None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        let again = c
            .send(Method::GET, path, &[("if-modified-since", &modified)], None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        let changed = c
            .send(Method::GET, path, &[("if-none-match", "\"other\"")], None)
            .await;
        assert_eq!(changed.status, StatusCode::OK);
    }
    let css = c.get("/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    for encoding in ["gzip", "br"] {
        let a = c
            .send(
                Method::GET,
                "/index.html",
                &[("accept-encoding", encoding)],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header("content-encoding"), Some(encoding));
        assert!(a.body.len() < 2000, "{encoding}: {} bytes", a.body.len());
    }
    let head = c.send(Method::HEAD, "/index.html", &[], None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());

    let missing = c.get("/nope.html").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "not found");
    app.running.stop().await.unwrap();
}

/// Sends a raw request line, exactly as given (clients would normalise `..` away), and returns
/// the status code and body.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

const ESCAPES: &[&str] = &[
    "/../Cargo.toml",
    "/../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/sub/..%2f..%2fsecret.txt",
    "/..%5csecret.txt",
    "//etc/passwd",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/.hidden",
    "/link-out",
    "/link-out/secret.txt",
    "/secret.txt%00.html",
];

async fn directory_site(backend: Backend) {
    let (store, dir) = fresh_store(backend).await.expect("backend");
    let root = dir.join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>mine</h1>").unwrap();
    std::fs::write(root.join("sub/index.html"), "<h1>sub</h1>").unwrap();
    std::fs::write(root.join("app.js"), "let x = 1;").unwrap();
    std::fs::write(root.join("data.json"), "{}").unwrap();
    let big = switchboard_testkit::payload(3 << 20, 9);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join(".hidden"), "dotfile").unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP SECRET").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&dir, root.join("link-out")).unwrap();

    // Every request looks at the disk (the cache's recheck period is `site_cache.rs`'s).
    let config = AppConfig {
        site: Site::Dir(root.clone()),
        site_recheck: Duration::ZERO,
        ..test_config()
    };
    let app = start_on(store, dir, config).await;
    let c = Client::new(&app);
    let index = c.get("/").await;
    assert_eq!(index.text(), "<h1>mine</h1>");
    assert_eq!(c.get("/index.html").await.text(), "<h1>mine</h1>");
    assert_eq!(c.get("/sub/").await.text(), "<h1>sub</h1>");
    assert_eq!(
        c.get("/app.js").await.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        c.get("/data.json").await.header("content-type"),
        Some("application/json")
    );
    // Large files are streamed from disk, whole and with their length.
    let got = c.get("/big.bin").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-length"), Some("3145728"));
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert!(got.body == big, "the streamed file came back altered");
    let head = c.send(Method::HEAD, "/big.bin", &[], None).await;
    assert_eq!(head.header("content-length"), Some("3145728"));
    assert!(head.body.is_empty());
    let etag = index.header("etag").unwrap().to_string();
    let again = c
        .send(Method::GET, "/", &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // A changed file gets a new validator.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(root.join("index.html"), "<h1>mine, changed</h1>").unwrap();
    let changed = c
        .send(Method::GET, "/", &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.text(), "<h1>mine, changed</h1>");

    for target in ESCAPES {
        let (status, text) = raw_get(app.addr, target).await;
        assert!(status == 400 || status == 404, "{target}: {status}");
        assert!(
            !text.contains("TOP SECRET") && !text.contains("dotfile"),
            "{target} leaked"
        );
    }
    app.running.stop().await.unwrap();
}

async fn embedded_site_has_no_way_out(backend: Backend) {
    let app = start(backend).await;
    for target in ESCAPES {
        let (status, text) = raw_get(app.addr, target).await;
        assert!(status == 400 || status == 404, "{target}: {status}");
        assert!(!text.contains("[package]"), "{target} leaked");
    }
    app.running.stop().await.unwrap();
}

both_backends!(embedded_pages, directory_site, embedded_site_has_no_way_out);
