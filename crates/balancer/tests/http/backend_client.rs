//! The balancer's HTTP/1.1 client to its backends, against backends that answer from a script:
//! chunked and close-delimited answers, interim answers, pooled connections the backend
//! closed, malformed and cut-short answers, request bodies (many small chunks gathered into
//! few), an early answer to an upload, targets sent in origin form.

use super::*;

/// A backend that answers each request with the bytes `script` gives for it (by its number,
/// from 0, across connections) and closes the connection after it when told. Counts the
/// connections it accepts and the requests it reads (bodies by Content-Length are read too).
async fn scripted_backend(
    script: fn(u64) -> (&'static [u8], bool),
) -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (a, r) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            buf.drain(..end + 4 + length);
                            let (answer, close) = script(r.fetch_add(1, Ordering::SeqCst));
                            if s.write_all(answer).await.is_err() || close {
                                return;
                            }
                            continue;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted, requests)
}

#[tokio::test]
async fn chunked_answers_are_relayed_and_the_connection_kept() {
    let (backend, accepted, _) = scripted_backend(|_| {
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
            false,
        )
    })
    .await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    for _ in 0..5 {
        let answer = send_raw(
            lb.addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        // Chunked again towards the client, however the pieces fall.
        let text: String = body
            .split("\r\n")
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(text, "hello world", "{body:?}");
        assert!(body.ends_with("0\r\n\r\n"), "{body:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one backend connection");
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn interim_answers_are_skipped() {
    let (backend, _, _) = scripted_backend(|_| {
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
        )
    })
    .await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    let (status, body) = send(
        lb.addr,
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn close_delimited_answers_end_when_the_backend_closes() {
    let (backend, accepted, _) =
        scripted_backend(|_| (b"HTTP/1.1 200 OK\r\n\r\nall of it, until the close", true)).await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    for _ in 0..3 {
        let answer = send_raw(
            lb.addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("all of it, until the close"), "{answer}");
        assert!(answer.ends_with("0\r\n\r\n"), "complete: {answer:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "never reused");
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_pooled_connection_the_backend_closed_is_not_used() {
    // Every answer says keep-alive, then the backend closes anyway.
    let (backend, accepted, requests) =
        scripted_backend(|_| (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true)).await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    assert_eq!(fetch(lb.addr, "/").await, (200, "ok".to_string()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fetch(lb.addr, "/").await, (200, "ok".to_string()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Not even a POST, which could not be sent twice, fails on the closed connection.
    let (status, body) = send(
        lb.addr,
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(requests.load(Ordering::SeqCst), 3, "each request sent once");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_answers_are_502() {
    for script in [
        (|_| {
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok"[..],
                false,
            )
        }) as fn(u64) -> (&'static [u8], bool),
        |_| (b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false),
        |_| {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
                false,
            )
        },
        |_| (b"NOT HTTP AT ALL\r\n\r\n", false),
        |_| (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", false),
    ] {
        let (backend, accepted, requests) = scripted_backend(script).await;
        let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
        let (status, body) = fetch(lb.addr, "/").await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(requests.load(Ordering::SeqCst), 1, "not replayed");
        // The connection was closed, not pooled.
        assert_eq!(fetch(lb.addr, "/").await.0, 502);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        lb.stop().await.unwrap();
    }
}

#[tokio::test]
async fn an_answer_cut_short_closes_the_client_connection_without_a_complete_message() {
    for script in [
        (|_| {
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.."[..],
                true,
            )
        }) as fn(u64) -> (&'static [u8], bool),
        |_| {
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                true,
            )
        },
    ] {
        let (backend, _, _) = scripted_backend(script).await;
        let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
        // A keep-alive request: only a close ends the read.
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            send_raw(lb.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        )
        .await
        .expect("the client connection is closed");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        if answer.contains("content-length: 100") {
            assert!(body.len() < 100, "{body:?}");
        } else {
            assert!(!body.ends_with("0\r\n\r\n"), "no last chunk: {body:?}");
        }
        lb.stop().await.unwrap();
    }
}

#[tokio::test]
async fn request_bodies_reach_the_backend_whole_by_length_or_chunked() {
    let app = Router::new().fallback(any(|body: axum::body::Bytes| async move {
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        format!("{} {sum}", body.len())
    }));
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let backend = server.local_addr();
    let shutdown = Shutdown::new();
    let _backend = Running::spawn(backend, shutdown.clone(), server.serve(app, shutdown));
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    // Small (with the head), large (streamed after it), and chunked.
    for size in [10usize, 100_000] {
        let body: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let sum: u64 = body.bytes().map(u64::from).sum();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n{body}"
        );
        assert_eq!(
            send(lb.addr, &request).await,
            (200, format!("{size} {sum}"))
        );
    }
    let chunked = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let sum: u64 = "abcde".bytes().map(u64::from).sum();
    assert_eq!(send(lb.addr, chunked).await, (200, format!("5 {sum}")));
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn an_absolute_form_target_reaches_the_backend_in_origin_form() {
    let app = Router::new().fallback(any(|uri: axum::http::Uri| async move { uri.to_string() }));
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let backend = server.local_addr();
    let shutdown = Shutdown::new();
    let _backend = Running::spawn(backend, shutdown.clone(), server.serve(app, shutdown));
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    // Found by fuzzing the request encoder: with no path before the query, the target went
    // out as `?b=c`, which no server takes.
    for (target, origin) in [
        ("http://x?b=c", "/?b=c"),
        ("http://x", "/"),
        ("http://x/p/q?r", "/p/q?r"),
        ("/p?q", "/p?q"),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(
            send(lb.addr, &request).await,
            (200, origin.to_string()),
            "{target}"
        );
    }
    lb.stop().await.unwrap();
}

/// Reads from `s` into `buf` until `found` finds what it looks for in `buf[from..]`; returns
/// where it is (from `from`).
async fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    from: usize,
    found: impl Fn(&[u8]) -> Option<usize>,
) -> usize {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(at) = buf.get(from..).and_then(&found) {
            return at;
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the request ended early");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A backend that reads a chunked request and answers how many chunks its body came in, and
/// how many bytes it had.
async fn chunk_counting_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let crlf = |b: &[u8]| b.windows(2).position(|w| w == b"\r\n");
                let mut buf = Vec::new();
                let head = read_until(&mut s, &mut buf, 0, |b| {
                    b.windows(4).position(|w| w == b"\r\n\r\n")
                })
                .await;
                let mut at = head + 4;
                let (mut chunks, mut length) = (0, 0);
                loop {
                    let line = read_until(&mut s, &mut buf, at, crlf).await;
                    let size = std::str::from_utf8(&buf[at..at + line]).unwrap();
                    let size = usize::from_str_radix(size, 16).unwrap();
                    at += line + 2;
                    if size == 0 {
                        break;
                    }
                    read_until(&mut s, &mut buf, at, |b| (b.len() >= size + 2).then_some(0)).await;
                    assert_eq!(&buf[at + size..at + size + 2], b"\r\n");
                    at += size + 2;
                    chunks += 1;
                    length += size;
                }
                let answer = format!("{chunks} {length}");
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                            answer.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn many_small_chunks_reach_the_backend_gathered_into_few() {
    let backend = chunk_counting_backend().await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    // Far more than goes with the head: most of it streams.
    let chunks = 50_000;
    let mut request = String::from(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..chunks {
        request.push_str("1\r\nx\r\n");
    }
    request.push_str("0\r\n\r\n");
    let (status, body) = send(lb.addr, &request).await;
    assert_eq!(status, 200, "{body}");
    let (count, length) = body.split_once(' ').unwrap();
    assert_eq!(length, chunks.to_string(), "the whole body");
    let count: usize = count.parse().unwrap();
    assert!(count <= chunks / 100, "{count} chunks reached the backend");
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn an_early_answer_to_a_large_upload_reaches_the_client() {
    // A backend that refuses the upload from its head alone and reads no more of it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
                    .await;
                tokio::time::sleep(Duration::from_secs(20)).await;
            });
        }
    });
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);

    // 64 MiB announced: far more than the sockets between here and the backend hold.
    let length = 64 * 1024 * 1024;
    let stream = TcpStream::connect(lb.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
    write.write_all(head.as_bytes()).await.unwrap();
    let uploading = tokio::spawn(async move {
        let block = vec![b'x'; 64 * 1024];
        for _ in 0..length / block.len() {
            if write.write_all(&block).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !answer.ends_with(b"too large") {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the backend's answer within 10 s, not after the response timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    uploading.abort();
    lb.stop().await.unwrap();
}

/// A backend whose every connection answers its first request and resets at its second, as
/// a killed backend resets all its connections at once. The first two connections hold their
/// answers until both have a request, so that the balancer pools two. Counts the resets.
async fn resetting_backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resets = Arc::new(AtomicU64::new(0));
    let both = Arc::new(tokio::sync::Barrier::new(2));
    let accepted = Arc::new(AtomicU64::new(0));
    let r = resets.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (r, both) = (r.clone(), both.clone());
            let first_two = accepted.fetch_add(1, Ordering::SeqCst) < 2;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let mut answered = false;
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if answered {
                            r.fetch_add(1, Ordering::SeqCst);
                            // A zero linger does not block the close: it sends a reset.
                            #[allow(deprecated)]
                            let _ = s.set_linger(Some(Duration::ZERO));
                            return;
                        }
                        if first_two {
                            both.wait().await;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                        answered = true;
                        continue;
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, resets)
}

#[tokio::test]
async fn a_get_reset_is_sent_again_on_a_new_connection_not_another_pooled_one() {
    let (backend, resets) = resetting_backend().await;
    let (lb, _) = balancer(&[(backend, 1)], StrategyKind::RoundRobin);
    // Two at once: two connections answer, and both wait in the pool.
    let (a, b) = tokio::join!(fetch(lb.addr, "/"), fetch(lb.addr, "/"));
    assert_eq!((a.0, b.0), (200, 200));
    // The next takes a pooled one, which resets; sent again on the other pooled one, it would
    // meet a second reset and fail.
    assert_eq!(fetch(lb.addr, "/").await, (200, "ok".to_string()));
    assert_eq!(
        resets.load(Ordering::SeqCst),
        1,
        "one reset, then a new connection"
    );
    lb.stop().await.unwrap();
}

/// A backend that reads a request head and resets the connection, every time: a server being
/// killed, whose listener still takes connections for a moment. Counts the resets.
async fn always_resetting_backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resets = Arc::new(AtomicU64::new(0));
    let r = resets.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                r.fetch_add(1, Ordering::SeqCst);
                // A zero linger does not block the close: it sends a reset.
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
            });
        }
    });
    (addr, resets)
}

/// A backend that answers `/` at once and holds `/slow` until `release` is notified.
async fn holding_backend(release: Arc<tokio::sync::Notify>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let release = release.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let slow = buf.starts_with(b"GET /slow ");
                        buf.drain(..end + 4);
                        if slow {
                            release.notified().await;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// A killed backend has no requests in flight (they all failed), so least connections would
/// give it the request it just reset, again: the request sent again goes to another backend.
#[tokio::test]
async fn a_get_reset_is_sent_again_to_another_backend_not_the_one_that_failed_it() {
    let (dying, resets) = always_resetting_backend().await;
    let release = Arc::new(tokio::sync::Notify::new());
    let busy = holding_backend(release.clone()).await;
    let (lb, pool) = balancer(&[(busy, 1), (dying, 1)], StrategyKind::LeastConnections);
    // One request held in flight on the busy backend (the first pick of two idle ones), so
    // the dying one has the fewest.
    let addr = lb.addr;
    let held = tokio::spawn(async move { fetch(addr, "/slow").await });
    let busy_backend = pool.backends()[0].clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        while busy_backend.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the slow request in flight on the busy backend");
    assert_eq!(fetch(lb.addr, "/").await, (200, "ok".to_string()));
    assert_eq!(
        resets.load(Ordering::SeqCst),
        1,
        "reset once, then sent elsewhere"
    );
    release.notify_one();
    assert_eq!(held.await.unwrap(), (200, "ok".to_string()));
    lb.stop().await.unwrap();
}
