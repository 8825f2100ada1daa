//! A `--site` directory served from memory: copies trusted for the recheck period and read
//! again once the file changed, compressed forms made once (`Vary: Accept-Encoding`), `Range`
//! on files held in memory and on files sent from disk, `HEAD`, and 304s for each form.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use switchboard_app::{AppConfig, Site};
use tokio::time::Instant;

use crate::{both_backends, fresh_store, start_on, test_config, Backend, Client, TestApp};

/// A page that compresses well, of about `len` bytes.
fn text(len: usize, seed: u64) -> String {
    let words = [
        "switch", "board", "static", "page", "served", "from", "memory", "cache",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = String::from("<!doctype html>\n<p>");
    while out.len() < len {
        out.push_str(words[rng.usize(..words.len())]);
        out.push(if rng.u8(..10) == 0 { '\n' } else { ' ' });
    }
    out
}

async fn site_app(backend: Backend, recheck: Duration) -> (TestApp, std::path::PathBuf) {
    let (store, dir) = fresh_store(backend).await.expect("backend");
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    let config = AppConfig {
        site: Site::Dir(root.clone()),
        site_recheck: recheck,
        ..test_config()
    };
    (start_on(store, dir, config).await, root)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    out
}

fn write(root: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(root.join(name), contents).unwrap();
}

async fn a_changed_file_is_read_again_after_the_recheck(backend: Backend) {
    let recheck = Duration::from_millis(400);
    let (app, root) = site_app(backend, recheck).await;
    let c = Client::new(&app);
    write(&root, "page.html", "<p>first</p>");
    let first = c.get("/page.html").await;
    assert_eq!(first.text(), "<p>first</p>");
    let etag = first.header("etag").unwrap().to_string();

    let looked = Instant::now();
    write(&root, "page.html", "<p>second, longer</p>");
    let soon = c.get("/page.html").await;
    if looked.elapsed() < recheck {
        // Within the period the copy is trusted: no look at the disk.
        assert_eq!(soon.text(), "<p>first</p>");
        assert_eq!(soon.header("etag"), Some(etag.as_str()));
    }
    tokio::time::sleep(recheck + Duration::from_millis(100)).await;
    let changed = c
        .send(Method::GET, "/page.html", &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.text(), "<p>second, longer</p>");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    // And the new copy is the one kept.
    assert_eq!(c.get("/page.html").await.text(), "<p>second, longer</p>");

    // A file that appears is served at once; one that goes is gone after the period.
    write(&root, "new.html", "<p>new</p>");
    assert_eq!(c.get("/new.html").await.text(), "<p>new</p>");
    std::fs::remove_file(root.join("page.html")).unwrap();
    tokio::time::sleep(recheck + Duration::from_millis(100)).await;
    let gone = c.get("/page.html").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error(), "not found");
    app.running.stop().await.unwrap();
}

async fn compressed_forms_are_made_once_and_negotiated(backend: Backend) {
    let (app, root) = site_app(backend, Duration::from_secs(60)).await;
    let c = Client::new(&app);
    let small = text(20_000, 1);
    let large = text(1 << 20, 2);
    write(&root, "small.html", &small);
    write(&root, "large.css", &large);
    let noise = switchboard_testkit::payload(50_000, 3);
    write(&root, "noise.bin", &noise);

    for (path, original) in [
        ("/small.html", small.as_bytes()),
        ("/large.css", large.as_bytes()),
    ] {
        let plain = c.get(path).await;
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        assert_eq!(plain.header("vary"), Some("accept-encoding"), "{path}");
        assert!(plain.body == original, "{path}: identity altered");
        let identity_tag = plain.header("etag").unwrap().to_string();

        let mut tags = vec![identity_tag.clone()];
        for (accept, coding) in [
            ("gzip", "gzip"),
            ("br", "br"),
            ("gzip, deflate, br", "br"),
            ("br;q=0.5, gzip", "gzip"),
            ("*", "br"),
        ] {
            let a = c
                .send(Method::GET, path, &[("accept-encoding", accept)], None)
                .await;
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(
                a.header("content-encoding"),
                Some(coding),
                "{path} {accept}"
            );
            assert_eq!(a.header("vary"), Some("accept-encoding"));
            assert!(
                a.body.len() < original.len() / 2,
                "{path} {accept}: {} bytes",
                a.body.len()
            );
            let decoded = if coding == "gzip" {
                gunzip(&a.body)
            } else {
                unbrotli(&a.body)
            };
            assert!(
                decoded == original,
                "{path} {accept}: decodes to something else"
            );
            let tag = a.header("etag").unwrap().to_string();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        // Each form has a validator of its own.
        assert_eq!(tags.len(), 3, "{path}: {tags:?}");
        for refused in ["gzip;q=0, br;q=0", "identity", "deflate"] {
            let a = c
                .send(Method::GET, path, &[("accept-encoding", refused)], None)
                .await;
            assert_eq!(a.header("content-encoding"), None, "{path} {refused}");
            assert!(a.body == original);
        }

        // 304 for the form the client has, whichever that is.
        let gz = c
            .send(Method::GET, path, &[("accept-encoding", "gzip")], None)
            .await;
        let gz_tag = gz.header("etag").unwrap().to_string();
        let same = c
            .send(
                Method::GET,
                path,
                &[("accept-encoding", "gzip"), ("if-none-match", &gz_tag)],
                None,
            )
            .await;
        assert_eq!(same.status, StatusCode::NOT_MODIFIED);
        assert!(same.body.is_empty());
        assert_eq!(same.header("vary"), Some("accept-encoding"));
        assert_eq!(same.header("etag"), Some(gz_tag.as_str()));
        let other_form = c
            .send(Method::GET, path, &[("if-none-match", &gz_tag)], None)
            .await;
        assert_eq!(other_form.status, StatusCode::OK);
        assert!(other_form.body == original);
        let by_date = c
            .send(
                Method::GET,
                path,
                &[("if-modified-since", plain.header("last-modified").unwrap())],
                None,
            )
            .await;
        assert_eq!(by_date.status, StatusCode::NOT_MODIFIED);
    }

    // What is compressed already gets no other form, and no Vary.
    let a = c
        .send(
            Method::GET,
            "/noise.bin",
            &[("accept-encoding", "gzip, br")],
            None,
        )
        .await;
    assert_eq!(a.header("content-encoding"), None);
    assert_eq!(a.header("vary"), None);
    assert!(a.body == noise);
    app.running.stop().await.unwrap();
}

async fn ranges_and_head_on_memory_and_disk_files(backend: Backend) {
    let (app, root) = site_app(backend, Duration::from_secs(60)).await;
    let c = Client::new(&app);
    let small = switchboard_testkit::payload(10_000, 4);
    // Past what is held in memory: sent from the file.
    let large = switchboard_testkit::payload(3 << 20, 5);
    write(&root, "small.bin", &small);
    write(&root, "large.bin", &large);

    for (path, body) in [("/small.bin", &small), ("/large.bin", &large)] {
        let len = body.len();
        // Twice: the first fills the cache, the second is served from it.
        for _ in 0..2 {
            let whole = c.get(path).await;
            assert_eq!(whole.status, StatusCode::OK);
            assert_eq!(whole.header("accept-ranges"), Some("bytes"));
            assert_eq!(
                whole.header("content-length"),
                Some(len.to_string().as_str())
            );
            assert!(whole.body == *body, "{path}: whole altered");
        }
        let etag = c.get(path).await.header("etag").unwrap().to_string();
        for (range, start, end) in [
            ("bytes=0-9".to_string(), 0, 10),
            (format!("bytes={}-", len - 100), len - 100, len),
            ("bytes=-2000".into(), len - 2000, len),
            (format!("bytes=5-{}", len * 2), 5, len),
            ("bytes=1000-1000".into(), 1000, 1001),
        ] {
            let a = c.send(Method::GET, path, &[("range", &range)], None).await;
            assert_eq!(a.status, StatusCode::PARTIAL_CONTENT, "{path} {range}");
            let expected = format!("bytes {start}-{}/{len}", end - 1);
            assert_eq!(a.header("content-range"), Some(expected.as_str()));
            assert!(a.body == body[start..end], "{path} {range}: wrong bytes");
        }
        let past = c
            .send(
                Method::GET,
                path,
                &[("range", &format!("bytes={len}-"))],
                None,
            )
            .await;
        assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            past.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
        assert_eq!(past.error(), "range not satisfiable");
        // If-Range: the part while the file is the one the client has, else the whole.
        let current = c
            .send(
                Method::GET,
                path,
                &[("range", "bytes=0-9"), ("if-range", &etag)],
                None,
            )
            .await;
        assert_eq!(current.status, StatusCode::PARTIAL_CONTENT);
        let stale = c
            .send(
                Method::GET,
                path,
                &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
                None,
            )
            .await;
        assert_eq!(stale.status, StatusCode::OK);
        assert!(stale.body == *body);
        // Several ranges, or another unit: the whole.
        for ignored in ["bytes=0-1,5-6", "items=0-1"] {
            let a = c.send(Method::GET, path, &[("range", ignored)], None).await;
            assert_eq!(a.status, StatusCode::OK, "{path} {ignored}");
            assert!(a.body == *body);
        }
        let head = c.send(Method::HEAD, path, &[], None).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(
            head.header("content-length"),
            Some(len.to_string().as_str())
        );
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert!(head.body.is_empty());
        let head_range = c
            .send(Method::HEAD, path, &[("range", "bytes=0-9")], None)
            .await;
        assert_eq!(head_range.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(head_range.header("content-length"), Some("10"));
        assert!(head_range.body.is_empty());
        let not_modified = c
            .send(Method::GET, path, &[("if-none-match", &etag)], None)
            .await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
        assert!(not_modified.body.is_empty());
    }
    app.running.stop().await.unwrap();
}

both_backends!(
    a_changed_file_is_read_again_after_the_recheck,
    compressed_forms_are_made_once_and_negotiated,
    ranges_and_head_on_memory_and_disk_files,
);
