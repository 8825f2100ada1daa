//! What bounds an HTTP/1 connection in time and bytes: the idle and header clocks, the drain
//! of an unread body, and the lingering close that lets an error answer be read.

use super::*;

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_at_the_idle_timeout_and_not_before() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let server = start(limits);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"hello") {
            break tokio::time::Instant::now();
        }
    };
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).await.unwrap(), 0);
    let idle = end.elapsed();
    assert!(
        idle >= Duration::from_secs(60) && idle < Duration::from_secs(61),
        "closed after {idle:?}"
    );
    server.running.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_later_request_head_is_timed_from_its_first_byte() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let server = start(limits);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut chunk = [0u8; 1024];
    let mut got = Vec::new();
    while !got.ends_with(b"hello") {
        let n = stream.read(&mut chunk).await.unwrap();
        got.extend_from_slice(&chunk[..n]);
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(
        stream.read(&mut chunk).await.unwrap(),
        0,
        "closed without an answer"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "closed after {took:?}"
    );
    server.running.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn draining_an_unread_body_has_a_deadline() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let server = start(limits);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello")
        .await
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "hello");
    let answered = tokio::time::Instant::now();
    // The rest of the body, one byte every 5 s (well within the idle timeout): the drain
    // gives up at the header-read timeout, and the connection closes.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..995 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
        writer
    });
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest).await;
    let took = answered.elapsed();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
    trickle.abort();
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_drain_limit_counts_chunk_framing() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    let mut buf = Vec::new();
    send(
        &mut stream,
        b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .await;
    assert_eq!(answer(&mut stream, &mut buf, false).await.body, "hello");
    // 20 bytes of data in 80 KiB of framing: more than the drain limit on the wire.
    let chunk = format!("1;ext={}\r\nx\r\n", "a".repeat(4000));
    let mut rest = chunk.repeat(20);
    rest.push_str("0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    send(&mut stream, rest.as_bytes()).await;
    closed_within(&mut stream, STEP).await;
    server.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_error_answer_survives_the_unread_body_behind_it() {
    let server = start(Limits::default());
    let mut stream = connect(server.addr()).await;
    // The client sends its body before it reads anything; the server answers 413 without
    // reading it, and closes. Closing with the body unread would reset the connection and
    // drop the end of the answer the client has not yet received.
    let head = format!(
        "POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        8 << 20
    );
    send(&mut stream, head.as_bytes()).await;
    send(&mut stream, &vec![b'y'; 256 * 1024]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = answer(&mut stream, &mut Vec::new(), false).await;
    assert_eq!(refused.status, 413);
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.body.len(), 4 << 20);
    closed_within(&mut stream, STEP).await;
    drop(stream);
    server.running.stop().await.unwrap();
}

/// Reads the whole body: its length, or 408 when the connection says it came too slowly.
async fn read_body(req: Request) -> Response {
    match req.into_body().collect().await {
        Ok(body) => body.to_bytes().len().to_string().into_response(),
        Err(e) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(e) = cause {
                if e.downcast_ref::<switchboard_http::BodyError>()
                    .is_some_and(|b| b.is_timeout())
                {
                    return StatusCode::REQUEST_TIMEOUT.into_response();
                }
                cause = e.source();
            }
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

fn body_reader() -> Server {
    let limits = Limits {
        body_read_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let router = Router::new().route("/read", post(read_body));
    start_router(router, Arc::new(Notify::new()), None, limits)
}

#[tokio::test(start_paused = true)]
async fn a_body_trickled_slower_than_the_minimum_rate_times_out() {
    let server = body_reader();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    // A byte a second: each earns two milliseconds beyond the ten seconds.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..99 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
        writer
    });
    // Read without a step timeout: the answer is due ten (paused) seconds from now.
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let n = reader.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&chunk[..n]);
    }
    let took = started.elapsed();
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 408 "), "{head}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "answered after {took:?}"
    );
    assert!(head.contains("connection: close\r\n"), "{head}");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest).await;
    trickle.abort();
    server.running.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_body_is_not_cut_short() {
    let server = body_reader();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    // 15 s at 1,000 bytes a second: longer than the timeout, at twice the minimum rate.
    send(
        &mut stream,
        b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 15000\r\n\r\n",
    )
    .await;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(&[b'x'; 100]).await.unwrap();
    }
    let answer = answer(&mut stream, &mut Vec::new(), false).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "15000"));
    server.running.stop().await.unwrap();
}
