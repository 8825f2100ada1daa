//! TLS: ALPN picks h2 or HTTP/1.1; certificates from files; errors that read as one line.

use std::time::Duration;

use switchboard_http::{tls_config, tls_config_with_cert, Limits, Tls};
use tokio::io::AsyncWriteExt;

use crate::util::{
    closed_within, connect, eof_within, quick_limits, raw_get, start, tls_connect, Client, TempDir,
};

fn self_signed() -> Tls {
    Tls::SelfSigned {
        names: vec!["localhost".into(), "127.0.0.1".into()],
    }
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http1_over_a_self_signed_certificate() {
    let (config, chain) = tls_config_with_cert(&self_signed()).unwrap().unwrap();
    let server = start(Some(config), Limits::default());

    let stream = tls_connect(server.addr(), &chain[0], &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let client_addr = stream.get_ref().0.local_addr().unwrap();
    let mut h2 = Client::http2(stream).await;
    let (status, version, body) = h2.get("/whoami").await.unwrap();
    assert_eq!((status, version), (200, http::Version::HTTP_2));
    assert_eq!(body, format!("{client_addr} https HTTP/2.0"));

    let mut stream = tls_connect(server.addr(), &chain[0], &[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let client_addr = stream.get_ref().0.local_addr().unwrap();
    let response = raw_get(&mut stream, "/whoami").await;
    assert_eq!(response.body, format!("{client_addr} https HTTP/1.1"));
    let response = raw_get(&mut stream, "/").await;
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));

    // A client that offers no ALPN gets HTTP/1.1.
    let stream = tls_connect(server.addr(), &chain[0], &[]).await;
    let mut h1 = Client::http1(stream).await;
    let (status, version, _) = h1.get("/").await.unwrap();
    assert_eq!((status, version), (200, http::Version::HTTP_11));

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_handshake_or_a_silent_client_touches_no_one_else() {
    let (config, chain) = tls_config_with_cert(&self_signed()).unwrap().unwrap();
    let server = start(Some(config), quick_limits());

    // Plain HTTP on the TLS port: the handshake fails and the connection closes.
    let mut plain = connect(server.addr()).await;
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    eof_within(&mut plain, Duration::from_secs(5)).await;

    // A client that connects and says nothing is closed after the header timeout, which
    // covers the handshake.
    let mut silent = connect(server.addr()).await;
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    let mut good = tls_connect(server.addr(), &chain[0], &[b"http/1.1"]).await;
    assert_eq!(raw_get(&mut good, "/").await.status, 200);
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn certificate_and_key_files_are_loaded() {
    let dir = TempDir::new("files");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.write("cert.pem", made.cert.pem());
    let key = dir.write("key.pem", made.key_pair.serialize_pem());

    let config = tls_config(&Tls::Files { cert, key }).unwrap().unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    let server = start(Some(config), Limits::default());
    let stream = tls_connect(server.addr(), made.cert.der(), &[b"h2"]).await;
    let mut client = Client::http2(stream).await;
    assert_eq!(client.get("/").await.unwrap().2, "hello");
    server.running.stop().await.unwrap();

    assert!(tls_config(&Tls::Off).unwrap().is_none());
}

#[test]
fn bad_files_give_one_clear_line() {
    let dir = TempDir::new("errors");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.write("cert.pem", made.cert.pem());
    let key = dir.write("key.pem", made.key_pair.serialize_pem());
    let other_key = dir.write("other-key.pem", other.key_pair.serialize_pem());
    let garbage = dir.write("garbage.pem", "this is not PEM at all\n");
    let pem = made.cert.pem();
    let truncated = dir.write("truncated.pem", &pem[..pem.len() / 2]);
    let missing = dir.0.join("missing.pem");

    let error = |cert: &std::path::Path, key: &std::path::Path| {
        tls_config(&Tls::Files {
            cert: cert.to_owned(),
            key: key.to_owned(),
        })
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        error(&missing, &key),
        format!(
            "cannot read TLS certificate {}: No such file or directory",
            missing.display()
        )
    );
    assert_eq!(
        error(&cert, &missing),
        format!(
            "cannot read TLS private key {}: No such file or directory",
            missing.display()
        )
    );
    assert_eq!(
        error(&garbage, &key),
        format!("no certificate found in {}", garbage.display())
    );
    assert_eq!(
        error(&cert, &cert),
        format!("no private key found in {}", cert.display())
    );
    assert_eq!(
        error(&truncated, &key),
        format!(
            "{} is not valid PEM: missing \"-----END CERTIFICATE-----\"",
            truncated.display()
        )
    );
    assert_eq!(
        error(&cert, &other_key),
        format!(
            "certificate and key do not match ({} and {})",
            cert.display(),
            other_key.display()
        )
    );
    let bad_name = tls_config(&Tls::SelfSigned {
        names: vec!["not a host name!".into()],
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        bad_name,
        "cannot create a self-signed certificate: 'not a host name!' is not a DNS name or an IP address"
    );
}

#[tokio::test]
async fn a_streamed_frame_over_tls_reaches_the_client_while_the_body_waits() {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::routing::get;
    use tokio::io::AsyncReadExt;
    use tokio::sync::Notify;

    // One large frame, then nothing until the test is over (an event stream between events).
    let frame = 4 << 20;
    let router = axum::Router::new().route(
        "/events",
        get(move || async move { Body::new(OneThenWait(Some(vec![b'~'; frame].into()))) }),
    );
    let (config, chain) = tls_config_with_cert(&self_signed()).unwrap().unwrap();
    let limits = Limits {
        grace: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = crate::util::start_router(router, Arc::new(Notify::new()), Some(config), limits);
    let mut stream = tls_connect(server.addr(), &chain[0], &[b"http/1.1"]).await;
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Read late and slowly, so that the socket is full while the frame is written.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The whole chunk: its data and the CRLF after it.
    let mut got = 0;
    let mut buf = vec![0u8; 8 * 1024];
    let mut start = Vec::new();
    let mut last = Vec::new();
    while got < frame || !last.ends_with(b"~\r\n") {
        let n = tokio::time::timeout(crate::util::STEP, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("stuck after {got} bytes of the frame"))
            .unwrap();
        assert!(n > 0, "closed");
        if start.len() < 64 {
            start.extend_from_slice(&buf[..n]);
        }
        got += buf[..n].iter().filter(|&&b| b == b'~').count();
        last.extend_from_slice(&buf[..n]);
        last.drain(..last.len().saturating_sub(3));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(start.starts_with(b"HTTP/1.1 200 OK\r\n"));
    server.running.stop().await.unwrap();
}

/// A body of one frame, then pending for ever.
struct OneThenWait(Option<bytes::Bytes>);

impl http_body::Body for OneThenWait {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(data) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(data)))),
            None => std::task::Poll::Pending,
        }
    }
}
