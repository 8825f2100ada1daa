//! Responses that carry a `FileRegion`: plain HTTP/1.1 sends the region from the file with
//! `sendfile(2)` (the body is never read), TLS and HTTP/2 read the body; keep-alive, HEAD and
//! a file shorter than its region.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body::Frame;
use switchboard_http::{tls_config_with_cert, Limits, Tls};
use switchboard_net::FileRegion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::util::{connect, raw_get, start_router, tls_connect, Client, TempDir, STEP};

/// Where the region starts in the file, and how long it is (more than socket buffers hold).
const OFFSET: usize = 1000;
const LEN: usize = 3 << 20;

/// A body that fails if it is ever read: what plain HTTP/1.1 must not do with a region.
struct Unreadable(u64);

impl http_body::Body for Unreadable {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other("the body was read"))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0)
    }
}

fn with_region(body: Body, file: &Arc<std::fs::File>, len: usize) -> Response {
    let mut response = body.into_response();
    response.extensions_mut().insert(FileRegion {
        file: Arc::clone(file),
        offset: OFFSET as u64,
        len: len as u64,
    });
    response
}

/// `/file`: the region, its bytes also in the body; `/only-file`: the region, with a body
/// that fails when read; `/cut`: a region longer than the file.
fn files_server(tls: Option<Arc<rustls::ServerConfig>>) -> (crate::util::Server, String, TempDir) {
    let dir = TempDir::new("files");
    let contents: String = (0..OFFSET + LEN)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let path = dir.write("data.txt", &contents);
    let file = Arc::new(std::fs::File::open(path).unwrap());
    let region = contents[OFFSET..].to_string();
    let (f1, f2, f3) = (file.clone(), file.clone(), file);
    let body = Bytes::from(region.clone());
    let router = axum::Router::new()
        .route(
            "/file",
            get(move || async move { with_region(Body::from(body.clone()), &f1, LEN) }),
        )
        .route(
            "/only-file",
            get(move || async move { with_region(Body::new(Unreadable(LEN as u64)), &f2, LEN) }),
        )
        .route(
            "/cut",
            get(move || async move {
                with_region(Body::new(Unreadable(LEN as u64 + 10)), &f3, LEN + 10)
            }),
        );
    let server = start_router(router, Arc::new(Notify::new()), tls, Limits::default());
    (server, region, dir)
}

#[tokio::test]
async fn plain_http1_sends_the_region_from_the_file() {
    let (server, region, _dir) = files_server(None);
    let mut stream = connect(server.addr()).await;
    // Twice on one connection: the framing after a region sent from the file holds.
    for path in ["/only-file", "/file", "/only-file"] {
        let response = raw_get(&mut stream, path).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response.body == region,
            "{path}: the region came back altered"
        );
    }
    stream
        .write_all(b"HEAD /only-file HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(STEP, stream.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {LEN}\r\n")),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {head}"
    );
    let after = raw_get(&mut stream, "/file").await;
    assert_eq!(after.status, 200);
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_file_shorter_than_its_region_cuts_the_connection() {
    let (server, region, _dir) = files_server(None);
    let mut stream = connect(server.addr()).await;
    stream
        .write_all(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut got))
        .await
        .expect("closed in time")
        .unwrap();
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        got.len() - end,
        region.len(),
        "the file's bytes, and not one more"
    );
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn tls_and_http2_read_the_body_instead() {
    let tls = Tls::SelfSigned {
        names: vec!["localhost".into()],
    };
    let (config, chain) = tls_config_with_cert(&tls).unwrap().unwrap();
    let (server, region, _dir) = files_server(Some(config));
    let mut stream = tls_connect(server.addr(), &chain[0], &[b"http/1.1"]).await;
    let response = raw_get(&mut stream, "/file").await;
    assert_eq!(response.status, 200);
    assert!(
        response.body == region,
        "over TLS, the region came back altered"
    );
    let stream = tls_connect(server.addr(), &chain[0], &[b"h2"]).await;
    let mut h2 = Client::http2(stream).await;
    let (status, _, body) = h2.get("/file").await.unwrap();
    assert_eq!(status, 200);
    assert!(body == region, "over HTTP/2, the region came back altered");
    // Where the body is what is sent, a body that cannot be read fails the answer.
    let mut stream = tls_connect(server.addr(), &chain[0], &[b"http/1.1"]).await;
    stream
        .write_all(b"GET /only-file HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(STEP, stream.read_to_end(&mut got)).await;
    assert!(
        got.len() < LEN,
        "{} bytes of a body that cannot be read",
        got.len()
    );
    server.running.stop().await.unwrap();
}
