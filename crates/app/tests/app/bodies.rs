//! Request bodies the application will not wait for: declared over the body limit (413 at
//! once, on every route), or trickled in slower than the body-read timeout allows (408).

use std::time::Duration;

use serde_json::Value;
use switchboard_http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::{fresh_store, start_on_with_limits, test_config, Backend, TestApp};

const LIMIT: usize = 1000;

async fn start_limited(limits: Limits) -> TestApp {
    let (store, dir) = fresh_store(Backend::Sqlite).await.expect("SQLite");
    let config = switchboard_app::AppConfig {
        body_limit: LIMIT,
        ..test_config()
    };
    start_on_with_limits(store, dir, config, limits).await
}

/// Reads one answer off `stream`: status, head (lower-cased) and body, up to the close.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> (u16, String, String) {
    let mut got = Vec::new();
    timeout(within, stream.read_to_end(&mut got))
        .await
        .expect("answered and closed in time")
        .expect("read");
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_at_once_on_every_route() {
    let app = start_limited(Limits::default()).await;
    let routes = [
        "/process",
        "/api/process",
        "/api/users",
        "/login",
        "/logout",
        "/register",
        "/api/profile/password",
        "/add",
        "/no-such-route",
    ];
    for path in routes {
        for declared in ["1001", "2000000", "99999999999"] {
            let mut stream = TcpStream::connect(app.addr).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {declared}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            // Not a byte of the body is sent: the answer must not wait for it.
            let started = Instant::now();
            let (status, head, body) = read_answer(&mut stream, Duration::from_secs(5)).await;
            assert_eq!(status, 413, "{path} with {declared}: {head}{body}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{path}: took {:?}",
                started.elapsed()
            );
            assert!(head.contains("connection: close"), "{path}: {head}");
            let error: Value = serde_json::from_str(&body).expect("a JSON body");
            assert_eq!(
                error["error"],
                format!(
                    "request body of {declared} bytes is larger than the limit of {LIMIT} bytes"
                ),
            );
        }
    }
    // Chunked, the length is not declared: refused once the limit is passed.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 600, " ".repeat(600));
    let request = format!(
        "POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, head, body) = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status, 413, "{head}{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "request body is larger than the limit"
    );
    // At the limit, the body is read as usual.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let json = format!("{{\"input\": [1, 2]}}{}", " ".repeat(LIMIT - 17));
    assert_eq!(json.len(), LIMIT);
    let request = format!(
        "POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {LIMIT}\r\nConnection: close\r\n\r\n{json}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, _, body) = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"result":3}"#));
    app.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_trickled_in_too_slowly_gets_408() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let app = start_limited(limits).await;
    for path in ["/process", "/api/users"] {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let (mut reader, mut writer) = stream.into_split();
        let trickle = tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if writer.write_all(b" ").await.is_err() {
                    break;
                }
            }
        });
        let mut got = Vec::new();
        timeout(Duration::from_secs(5), reader.read_to_end(&mut got))
            .await
            .expect("answered in time")
            .expect("read");
        trickle.abort();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408 "), "{path}: {text}");
        assert!(
            text.ends_with(r#"{"error":"the request body did not arrive in time"}"#),
            "{path}: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: took {:?}",
            started.elapsed()
        );
    }
    app.running.stop().await.unwrap();
}
