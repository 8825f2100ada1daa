//! Feed listeners that stop reading: one that falls `buffer` events behind is dropped when it
//! reads again, one that never does is cut off by the idle timeout, and the others go on.

use std::time::Duration;

use serde_json::Value;
use switchboard_app::FeedPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::events::{feed_config, Events};
use crate::posts::{post, signed_in};
use crate::{
    both_backends, fresh_store, start_on_with_limits, start_with, Backend, Client, TestApp,
};

/// A client with a small receive window, which opens `/api/events` as `c`, reads the head and
/// then nothing; and what it read.
async fn stalled_listener(app: &TestApp, c: &Client) -> (tokio::net::TcpStream, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(app.addr).await.unwrap();
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nCookie: sb_session={}\r\n\r\n",
        app.addr,
        c.cookie.as_deref().unwrap()
    );
    slow.write_all(request.as_bytes()).await.unwrap();
    let mut got = vec![0; 512];
    let n = slow.read(&mut got).await.unwrap();
    got.truncate(n);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    (slow, got)
}

/// `n` posts of 2,000 bytes by `c`'s user: 6 MB for 3,000, more than the kernel's socket
/// buffers hold, however they are tuned. Straight into the store but for the last (which
/// wakes the server's pump), so that this takes seconds, not minutes.
async fn post_many(app: &TestApp, c: &Client, n: usize) {
    let store = app.app.store();
    let me: Value = c.get("/api/profile").await.json();
    let author = me["user"]["id"].as_i64().unwrap();
    let text = "😀".repeat(500);
    let limit = switchboard_store::PostLimit {
        posts: 100_000,
        window: Duration::from_secs(60),
    };
    for _ in 1..n {
        store
            .create_post(author, &text, app.clock.now(), limit)
            .await
            .unwrap();
    }
    post(c, &text).await;
}

/// A reader that stops reading is dropped once it is `buffer` events behind, rather than
/// held: its stream ends where it fell behind, and reconnecting replays the rest.
async fn a_slow_reader_is_dropped(backend: Backend) {
    // 6 MB of events: more than the kernel's socket buffers hold, however they are tuned.
    const POSTS: usize = 3000;
    let config = feed_config(FeedPolicy {
        posts_per_window: 10_000,
        buffer: 128,
        ..FeedPolicy::default()
    });
    let app = start_with(backend, config).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;

    let (mut slow, mut got) = stalled_listener(&app, &ann).await;
    post_many(&app, &bob, POSTS).await;

    // Now it reads, with a window wide enough to drain the sockets at once: what they held,
    // then the end of the stream.
    socket2::SockRef::from(&slow)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    let read_all = async {
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = slow.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
            if n == 0 || got.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(switchboard_testkit::PATIENCE, read_all)
        .await
        .expect("the stream ended: the reader was dropped");
    let body = String::from_utf8_lossy(&got);
    let ids: Vec<i64> = body
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert!(
        ids.len() < POSTS,
        "dropped before the end, after {} of {POSTS}",
        ids.len()
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Reconnecting where it got to brings the rest.
    let resume = ids.last().copied().unwrap_or(0);
    let mut events = Events::open(&ann, &format!("?after={resume}"), None).await;
    let mut rest = 0;
    while ids.len() + rest < POSTS {
        let event = events.next().await.expect("the rest");
        assert_eq!(event.event, "post");
        rest += 1;
    }
    assert_eq!(events.next_within(Duration::from_millis(200)).await, None);
    drop(events);
    drop(slow);
    app.running.stop().await.unwrap();
}

/// A listener that never reads again is cut off by the server's idle timeout once its socket
/// is full and no byte has moved for an idle period (the ring never gets to drop it: its
/// stream is not polled while the socket is full), and meanwhile the other listeners get
/// every event.
async fn a_listener_that_never_reads_is_cut_off(backend: Backend) {
    const POSTS: usize = 3000;
    let idle = Duration::from_secs(1);
    let config = feed_config(FeedPolicy {
        posts_per_window: 10_000,
        // Room for all of them: the reading listener is never dropped for lagging.
        buffer: 4096,
        keep_alive: Duration::from_millis(200),
        ..FeedPolicy::default()
    });
    let limits = switchboard_http::Limits {
        idle_timeout: idle,
        ..switchboard_http::Limits::default()
    };
    let (store, dir) = fresh_store(backend).await.expect("backend available");
    let app = start_on_with_limits(store, dir, config, limits).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    let mut reading = Events::open(&bob, "", None).await;
    let (mut slow, mut got) = stalled_listener(&app, &ann).await;

    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < POSTS {
            let event = reading.next().await.expect("the reading listener stays");
            assert_eq!(event.event, "post");
            ids.push(event.id);
        }
        (ids, reading)
    });
    post_many(&app, &bob, POSTS).await;
    let (ids, mut reading) = tokio::time::timeout(switchboard_testkit::PATIENCE, reader)
        .await
        .expect("the reading listener got every event in time")
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, once each");

    // The stalled one: what its sockets held, then the connection's end, with no end of
    // stream (it was cut, not finished), within an idle period or two of its last byte.
    socket2::SockRef::from(&slow)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    let read_all = async {
        let mut chunk = vec![0; 64 * 1024];
        loop {
            match slow.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(switchboard_testkit::PATIENCE, read_all)
        .await
        .expect("the stalled listener's connection was closed");
    let body = String::from_utf8_lossy(&got);
    let received = body.lines().filter(|l| l.starts_with("id: ")).count();
    assert!(received < POSTS, "cut off after {received} of {POSTS}");
    assert!(!got.ends_with(b"\r\n0\r\n\r\n"), "cut, not ended");

    // The reading listener goes on.
    let live = post(&ann, "after").await;
    assert_eq!(reading.next().await.unwrap().data, live);
    drop(reading);
    app.running.stop().await.unwrap();
}

both_backends!(
    a_slow_reader_is_dropped,
    a_listener_that_never_reads_is_cut_off
);
