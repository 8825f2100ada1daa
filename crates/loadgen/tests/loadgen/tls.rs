//! https against `switchboard_http::HttpServer` with a self-signed certificate.

use std::convert::Infallible;

use axum::routing::get;
use axum::Router;
use switchboard_http::{tls_config_with_cert, HttpServer, Limits, Tls};
use switchboard_loadgen::{HttpTarget, Stop};
use switchboard_testkit::{Running, Shutdown};

use crate::{http_config, run_http};

/// A TLS server answering `ok`, and its certificate as PEM.
fn start() -> (Running, Vec<u8>) {
    let tls = Tls::SelfSigned { names: Vec::new() };
    let (config, chain) = tls_config_with_cert(&tls).unwrap().unwrap();
    let server = HttpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        Some(config),
        Limits::default(),
    )
    .unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let app = Router::new().route("/", get(|| async { Ok::<_, Infallible>("ok") }));
    let running = Running::spawn(addr, shutdown.clone(), server.serve(app, shutdown));
    (running, pem(chain[0].as_ref()))
}

fn pem(der: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                b64.push(b'=');
            }
        }
    }
    let mut out = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in b64.chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_servers_certificate_or_insecure() {
    let (server, cert) = start();
    let mut config = http_config(server.addr, "/", 2, Stop::Requests(100));
    config.target =
        HttpTarget::parse(&format!("https://127.0.0.1:{}/", server.addr.port())).unwrap();
    config.ca_pem = Some(cert);
    let report = run_http(config.clone()).await;
    assert_eq!(report.mode, "http/1.1+tls");
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());

    config.http2 = true;
    let report = run_http(config.clone()).await;
    assert_eq!(report.mode, "h2");
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());

    config.http2 = false;
    config.ca_pem = None;
    config.insecure = true;
    let report = run_http(config.clone()).await;
    assert_eq!(report.status.get("200"), Some(&100), "{}", report.text());

    // A certificate nobody vouches for is refused at the handshake.
    config.insecure = false;
    config.ca_pem = Some(pem(
        b"not the server's certificate, but not PEM-invalid either",
    ));
    let refused = tokio::task::spawn_blocking(move || {
        switchboard_loadgen::run_http(&config, &switchboard_loadgen::Progress::new())
    })
    .await
    .unwrap();
    match refused {
        Ok(report) => assert_eq!(report.connected, 0, "{}", report.text()),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}"),
    }
    server.stop().await.unwrap();
}
