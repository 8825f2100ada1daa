//! HTTP/1.1 keep-alive and h2c on one plain port; what each request learns of its transport.

use switchboard_http::{HttpServer, Limits};

use crate::util::{connect, raw_get, start, Client};

#[tokio::test]
async fn http1_keeps_the_connection_alive_across_requests() {
    let server = start(None, Limits::default());
    let mut stream = connect(server.addr()).await;
    let client_addr = stream.local_addr().unwrap();

    let first = raw_get(&mut stream, "/").await;
    assert_eq!((first.status, first.body.as_str()), (200, "hello"));
    let second = raw_get(&mut stream, "/whoami").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, format!("{client_addr} http HTTP/1.1"));
    assert_eq!(server.gauge.open(), 1, "both requests used one connection");

    drop(stream);
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served_on_the_same_port() {
    let server = start(None, Limits::default());
    let stream = connect(server.addr()).await;
    let client_addr = stream.local_addr().unwrap();
    let mut client = Client::http2(stream).await;

    let (status, version, body) = client.get("/").await.unwrap();
    assert_eq!(
        (status, version, body.as_str()),
        (200, http::Version::HTTP_2, "hello")
    );
    let (_, _, body) = client.get("/whoami").await.unwrap();
    assert_eq!(body, format!("{client_addr} http HTTP/2.0"));

    // And HTTP/1.1 on the same port, through hyper's client this time.
    let mut h1 = Client::http1(connect(server.addr()).await).await;
    let (status, version, _) = h1.get("/").await.unwrap();
    assert_eq!((status, version), (200, http::Version::HTTP_11));

    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_taken_address_is_reported_like_every_other_server() {
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    assert!(!server.is_tls());
    let err = HttpServer::bind(addr, None, Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen on {addr}: address already in use (is another server running there?)"
        )
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_with_a_proxy_header() {
    use switchboard_http::HttpServer;
    use switchboard_testkit::{Running, Shutdown};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = HttpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        None,
        switchboard_http::Limits::default(),
    )
    .unwrap()
    .with_proxy_protocol(vec!["127.0.0.1".parse().unwrap()]);
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let app = crate::util::app(std::sync::Arc::new(tokio::sync::Notify::new()));
    let running = Running::spawn(addr, shutdown.clone(), server.serve(app, shutdown));

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 80\r\nGET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.contains("192.0.2.9:40000 http"), "{answer}");

    // Without the header, a trusted peer's connection is refused: that is a misconfiguration.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    running.stop().await.unwrap();
}
