//! Whose fault a failed request is: a client's malformed or cut-short body, or a client that
//! went away (HTTP/1 or an HTTP/2 stream cancelled, mid-body or while the backend works), is
//! answered 400 (when anyone is left to read it), never retried and never held against the
//! backend, whose connection is closed if any of the request reached it; a backend that
//! resets or answers garbage while the body goes out is a 502 held against it.

use std::sync::Mutex;

use super::*;

/// What a backend connection received, and whether it saw the balancer close it.
#[derive(Debug, Default, Clone)]
struct Seen {
    bytes: Vec<u8>,
    closed: bool,
}

/// Every connection the recording backends accepted, in order.
type Log = Arc<Mutex<Vec<Seen>>>;

/// What a recording backend does once it has a request head.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Goes on reading, never answers.
    Listen,
    /// Resets the connection.
    Reset,
    /// Answers what is not HTTP, then goes on reading.
    Garbage,
}

/// `n` backends that record every connection they accept in one log.
async fn recording_backends(n: usize, then: Then) -> (Vec<(SocketAddr, u32)>, Log) {
    let log = Log::default();
    let mut addrs = Vec::new();
    for _ in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push((listener.local_addr().unwrap(), 1));
        let log = log.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let at = {
                    let mut all = log.lock().unwrap();
                    all.push(Seen::default());
                    all.len() - 1
                };
                tokio::spawn(record(s, log.clone(), at, then));
            }
        });
    }
    (addrs, log)
}

async fn record(mut s: TcpStream, log: Log, at: usize, then: Then) {
    let mut chunk = [0u8; 4096];
    let mut headed = false;
    loop {
        let n = s.read(&mut chunk).await.unwrap_or(0);
        let head_now = {
            let mut all = log.lock().unwrap();
            let seen = &mut all[at];
            if n == 0 {
                seen.closed = true;
                return;
            }
            seen.bytes.extend_from_slice(&chunk[..n]);
            !headed && seen.bytes.windows(4).any(|w| w == b"\r\n\r\n")
        };
        if !head_now {
            continue;
        }
        headed = true;
        match then {
            Then::Listen => {}
            Then::Reset => {
                // A zero linger does not block the close: it sends a reset.
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                return;
            }
            Then::Garbage => {
                let _ = s.write_all(b"NOT HTTP AT ALL\r\n\r\n").await;
            }
        }
    }
}

/// Waits until `check` holds, for at most five seconds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How a client's request ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Sends the rest, then waits for the answer.
    Rest(&'static str),
    /// Half-closes (nothing more to send) and waits for the answer.
    HalfClose,
    /// Goes away.
    Close,
}

/// A client that sends `first`, then (with a `log`) waits until a backend has accepted a new
/// connection and received the whole head on it, then ends as `end` says. Returns the answer
/// (empty when it went away).
async fn client(lb: SocketAddr, first: &str, log: Option<&Log>, end: End) -> String {
    let before = log.map(|log| log.lock().unwrap().len());
    let mut s = TcpStream::connect(lb).await.unwrap();
    s.write_all(first.as_bytes()).await.unwrap();
    if let (Some(log), Some(before)) = (log, before) {
        eventually("a backend has the head", || {
            let all = log.lock().unwrap();
            all.get(before)
                .is_some_and(|c| c.bytes.windows(4).any(|w| w == b"\r\n\r\n"))
        })
        .await;
    }
    match end {
        End::Rest(rest) => s.write_all(rest.as_bytes()).await.unwrap(),
        End::HalfClose => s.shutdown().await.unwrap(),
        End::Close => return String::new(),
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer in time");
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts an answer of the balancer's own: this status, and a JSON `{"error": ...}` body.
fn assert_own_answer(answer: &str, status: u16) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "wanted {status}: {answer}"
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert!(json["error"].is_string(), "{body}");
}

/// Waits until nothing is in flight on any backend.
async fn settled(pool: &Pool) {
    eventually("no request in flight", || {
        pool.backends().iter().all(|b| b.in_flight() == 0)
    })
    .await;
}

/// Asserts that nothing is held against any backend, once nothing is in flight.
async fn assert_not_blamed(pool: &Pool) {
    settled(pool).await;
    for b in pool.backends().iter() {
        assert_eq!(b.errors(), 0, "errors held against {}", b.addr);
        assert!(!b.is_ejected(), "{} ejected", b.addr);
        assert!(
            b.recent_latency([0.5]).is_none(),
            "no answer time recorded for {}",
            b.addr
        );
    }
}

const CHUNKED: &str =
    "POST /process HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_malformed_first_chunk_is_400_and_reaches_no_backend() {
    let (backends, log) = recording_backends(2, Then::Listen).await;
    let (lb, pool) = balancer(&backends, StrategyKind::RoundRobin);
    for _ in 0..3 {
        for size in ["FFFFFFFFFFFFFFFFFF", "zz"] {
            let request = format!("{CHUNKED}{size}\r\nabc\r\n0\r\n\r\n");
            let answer = client(lb.addr, &request, None, End::HalfClose).await;
            assert_own_answer(&answer, 400);
        }
    }
    assert_not_blamed(&pool).await;
    assert_eq!(
        log.lock().unwrap().len(),
        0,
        "found malformed before a backend was chosen"
    );
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_small_body_shorter_than_its_length_is_400_and_reaches_no_backend() {
    let (backends, log) = recording_backends(1, Then::Listen).await;
    let (lb, pool) = balancer(&backends, StrategyKind::RoundRobin);
    let request = "POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfive.";
    let answer = client(lb.addr, request, None, End::HalfClose).await;
    assert_own_answer(&answer, 400);
    assert_not_blamed(&pool).await;
    assert_eq!(log.lock().unwrap().len(), 0);
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_fault_after_the_head_went_out_closes_the_backend_connection_unblamed() {
    let (backends, log) = recording_backends(2, Then::Listen).await;
    let (lb, pool) = balancer(&backends, StrategyKind::RoundRobin);
    let chunked = format!("{CHUNKED}5\r\nhello\r\n");
    // Longer than is read with the head, so it streams.
    let large = format!(
        "POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{}",
        "x".repeat(50_000)
    );
    let cases = [
        (
            &chunked,
            End::Rest("FFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"),
        ),
        (&chunked, End::Rest("zz\r\nabc\r\n0\r\n\r\n")),
        // Cut short, the client still there to read the answer.
        (&chunked, End::HalfClose),
        (&large, End::HalfClose),
        // Gone: no one to answer.
        (&chunked, End::Close),
        (&large, End::Close),
    ];
    for (i, (first, end)) in cases.into_iter().enumerate() {
        let answer = client(lb.addr, first, Some(&log), end).await;
        if !matches!(end, End::Close) {
            assert_own_answer(&answer, 400);
        }
        eventually("the backend connection is closed", || {
            log.lock().unwrap()[i].closed
        })
        .await;
        assert_eq!(log.lock().unwrap().len(), i + 1, "not sent again: {end:?}");
    }
    assert_not_blamed(&pool).await;
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_stops_coming_is_408_and_not_held_against_the_backend() {
    let (backends, log) = recording_backends(1, Then::Listen).await;
    let limits = Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (lb, pool) = balancer_limited(
        &backends,
        StrategyKind::RoundRobin,
        HttpProxyConfig::default(),
        limits,
    );
    // A little of the body (each 500 bytes would buy a second more), then nothing: the
    // client neither sends the rest nor goes away.
    let first = format!(
        "POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{}",
        "x".repeat(100)
    );
    let mut s = TcpStream::connect(lb.addr).await.unwrap();
    s.write_all(first.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&out);
    assert_own_answer(&answer, 408);
    eventually("the backend connection is closed", || {
        log.lock().unwrap()[0].closed
    })
    .await;
    assert_not_blamed(&pool).await;
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_backend_that_fails_while_the_body_goes_out_is_502_and_blamed() {
    for then in [Then::Reset, Then::Garbage] {
        let (backends, log) = recording_backends(2, then).await;
        let (lb, pool) = balancer(&backends, StrategyKind::RoundRobin);
        // The body is not over (the client is still sending) when the backend fails.
        let mut s = TcpStream::connect(lb.addr).await.unwrap();
        s.write_all(format!("{CHUNKED}5\r\nhello\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("answer in time");
        assert_own_answer(&String::from_utf8_lossy(&out), 502);
        // Gone, so that the balancer does not linger over the rest of its body.
        drop(s);
        settled(&pool).await;
        let errors: u64 = pool.backends().iter().map(|b| b.errors()).sum();
        assert_eq!(errors, 1, "{then:?}: held against the backend");
        assert_eq!(
            log.lock().unwrap().len(),
            1,
            "{then:?}: a POST under way is not sent again"
        );
        lb.stop().await.unwrap();
    }
}

/// An HTTP/2 request to the recording backend, its body `hello` and not ended, with the
/// backend holding its head; the client then cancels it once `ended` says whether it ended the
/// body first.
async fn http2_cancelled(ended: bool) {
    let (backends, log) = recording_backends(1, Then::Listen).await;
    let (lb, pool) = balancer(&backends, StrategyKind::RoundRobin);
    let tcp = TcpStream::connect(lb.addr).await.unwrap();
    let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.unwrap();
    let request = http::Request::post("http://x/process").body(()).unwrap();
    let (_answer, mut body) = h2.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from_static(b"hello"), ended)
        .unwrap();
    let until = if ended {
        &b"0\r\n\r\n"[..]
    } else {
        b"\r\n\r\n"
    };
    eventually("a backend has the request", || {
        log.lock()
            .unwrap()
            .first()
            .is_some_and(|c| c.bytes.windows(until.len()).any(|w| w == until))
    })
    .await;
    // Gone: the server drops the request's future, lease and all.
    body.send_reset(h2::Reason::CANCEL);
    eventually("the backend connection is closed", || {
        log.lock().unwrap()[0].closed
    })
    .await;
    assert_not_blamed(&pool).await;
    lb.stop().await.unwrap();
}

#[tokio::test]
async fn an_http2_client_that_cancels_mid_body_is_not_held_against_the_backend() {
    http2_cancelled(false).await;
}

#[tokio::test]
async fn an_http2_client_that_cancels_while_the_backend_works_is_not_held_against_it() {
    http2_cancelled(true).await;
}
