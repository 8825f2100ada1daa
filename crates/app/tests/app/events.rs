//! `/api/events`: posts and deletions as server-sent events, replayed after `Last-Event-ID`
//! (across a server's restart too), after a user's deletion, past the pruned events (a
//! `reset`), kept alive, and on PostgreSQL the events of one server reaching the listeners of
//! another. Readers that stop reading are in `events_slow.rs`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_app::{AppConfig, FeedPolicy};

use crate::posts::{post, signed_in};
use crate::{both_backends, fresh_store, start_on, start_with, test_config, Backend, Client};

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open event stream.
pub struct Events {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Events {
    /// Opens `/api/events{query}` as `c`, asserting the stream's head.
    pub async fn open(c: &Client, query: &str, last_event_id: Option<i64>) -> Events {
        let id = last_event_id.map(|id| id.to_string());
        let headers: Vec<(&str, &str)> = id.iter().map(|id| ("last-event-id", &id[..])).collect();
        let res = c.open(&format!("/api/events{query}"), &headers).await;
        assert_eq!(res.status(), StatusCode::OK);
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("content-type"), Some("text/event-stream"));
        assert_eq!(header("cache-control"), Some("no-store"));
        let mut events = Events {
            res,
            buf: Vec::new(),
        };
        // The greeting: how soon to reconnect.
        assert_eq!(events.block().await.as_deref(), Some("retry: 1000"));
        events
    }

    /// The next block of lines (an event, a comment); `None` when the stream ends.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.buf[..end].to_vec()).expect("UTF-8");
                self.buf.drain(..end + 2);
                return Some(block);
            }
            let chunk = tokio::time::timeout(switchboard_testkit::PATIENCE, self.res.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads");
            self.buf.extend_from_slice(&chunk?);
        }
    }

    /// The next event with data (comments skipped); `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            let block = self.block().await?;
            if let Some(event) = parse(&block) {
                return Some(event);
            }
        }
    }

    /// The next event, within `patience`; `None` if none came by then.
    pub async fn next_within(&mut self, patience: Duration) -> Option<Sse> {
        tokio::time::timeout(patience, self.next())
            .await
            .ok()
            .flatten()
    }
}

fn parse(block: &str) -> Option<Sse> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        match line.split_once(": ").or_else(|| line.split_once(':')) {
            Some(("id", v)) => id = Some(v.parse().expect("a numeric id")),
            Some(("event", v)) => event = Some(v.to_owned()),
            Some(("data", v)) => data = Some(serde_json::from_str(v).expect("JSON data")),
            _ => {}
        }
    }
    Some(Sse {
        id: id?,
        event: event.expect("a named event"),
        data: data.expect("data"),
    })
}

pub fn feed_config(feed: FeedPolicy) -> AppConfig {
    AppConfig {
        feed,
        ..test_config()
    }
}

async fn delete(c: &Client, id: i64) {
    let a = c
        .send(Method::DELETE, &format!("/api/posts/{id}"), &[], None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
}

async fn posts_and_deletions_stream_live(backend: Backend) {
    let app = start_with(backend, test_config()).await;
    let anon = Client::new(&app);
    let refused = anon.get("/api/events").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error(), "not signed in");

    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    for bad in ["x", "-1", "1.5"] {
        let a = ann
            .send(Method::GET, "/api/events", &[("last-event-id", bad)], None)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        ann.get("/api/events?after=x").await.status,
        StatusCode::BAD_REQUEST
    );
    // What was posted before the stream opened is not sent.
    post(&bob, "before").await;
    let mut events = Events::open(&ann, "", None).await;
    let made = post(&bob, "hello ✓").await;
    let got = events.next().await.unwrap();
    assert_eq!(got.event, "post");
    assert_eq!(got.data, made);
    delete(&bob, made["id"].as_i64().unwrap()).await;
    let gone = events.next().await.unwrap();
    assert_eq!(gone.event, "delete");
    assert_eq!(gone.data, json!({ "id": made["id"] }));
    assert!(gone.id > got.id);
    // Refused posts and deletions are no events.
    bob.post_json("/api/posts", json!({ "text": "" })).await;
    let a = ann
        .send(
            Method::DELETE,
            &format!("/api/posts/{}", made["id"]),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(events.next_within(Duration::from_millis(300)).await, None);
    drop(events);
    assert_documented(&anon, &[&got, &gone]).await;
    app.running.stop().await.unwrap();
}

/// The events as the OpenAPI document describes one (the schema of the 200 answer's
/// `text/event-stream`, one event before OpenAPI 3.2's `itemSchema`): the fields it requires
/// are the ones the stream sends, and the names it lists include every one it sent.
async fn assert_documented(c: &Client, events: &[&Sse]) {
    let doc: Value = c.get("/api/openapi.json").await.json();
    let schema = &doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"];
    assert_eq!(schema["type"], "object", "{schema}");
    assert_eq!(
        schema["required"],
        json!(["id", "event", "data"]),
        "{schema}"
    );
    let names = schema["properties"]["event"]["enum"]
        .as_array()
        .expect("the event names listed");
    for event in events {
        assert!(
            names.contains(&json!(event.event)),
            "{} in {schema}",
            event.event
        );
    }
}

/// Reconnecting with `Last-Event-ID` (or opening with `?after=`) replays what was missed from
/// the table, more than a page of it, then goes on live with no duplicate; a post deleted in
/// the meantime is not replayed, its deletion is.
async fn last_event_id_replays_what_was_missed(backend: Backend) {
    let config = feed_config(FeedPolicy {
        posts_per_window: 1000,
        ..FeedPolicy::default()
    });
    let app = start_with(backend, config).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    let mut events = Events::open(&ann, "", None).await;
    let first = post(&bob, "first").await;
    let seen = events.next().await.unwrap();
    drop(events);

    // Away: 250 posts, one of them deleted.
    let mut missed = Vec::new();
    for i in 0..250 {
        missed.push(post(&bob, &format!("missed {i}")).await);
    }
    let doomed = missed.remove(7)["id"].as_i64().unwrap();
    delete(&bob, doomed).await;

    let mut events = Events::open(&ann, "", Some(seen.id)).await;
    let mut last = seen.id;
    for expected in &missed {
        let got = events.next().await.unwrap();
        assert!(got.id > last, "in order, once each");
        last = got.id;
        assert_eq!((got.event.as_str(), &got.data), ("post", expected));
    }
    let got = events.next().await.unwrap();
    assert_eq!(
        (got.event.as_str(), got.data),
        ("delete", json!({ "id": doomed }))
    );
    // Then live, with nothing sent twice.
    let live = post(&bob, "live").await;
    let got = events.next().await.unwrap();
    assert_eq!(got.data, live);
    assert_eq!(events.next_within(Duration::from_millis(200)).await, None);
    drop(events);

    // `?after=` (what the page knows from /api/posts) does the same; Last-Event-ID wins.
    let mut events = Events::open(&ann, &format!("?after={}", got.id - 1), None).await;
    assert_eq!(events.next().await.unwrap().data, live);
    drop(events);
    let mut events = Events::open(&ann, "?after=0", Some(got.id - 1)).await;
    assert_eq!(events.next().await.unwrap().data, live);
    drop(events);
    let mut events = Events::open(&ann, "?after=0", None).await;
    assert_eq!(events.next().await.unwrap().data, first);
    drop(events);
    app.running.stop().await.unwrap();
}

/// Deleting an account takes its posts with it: a listener gets a `delete` event for each,
/// and a replay from before gets them too, after the posts they delete.
async fn deleting_a_user_streams_the_deletions(backend: Backend) {
    let app = start_with(backend, test_config()).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    let mut events = Events::open(&ann, "", None).await;
    let before = events_id(&mut events, post(&ann, "ann's").await).await;
    let mut bobs = Vec::new();
    for i in 0..3 {
        bobs.push(post(&bob, &format!("bob's {i}")).await);
        assert_eq!(events.next().await.unwrap().data, bobs[i]);
    }

    let store = app.app.store();
    let (bob_user, _) = store.credentials("bob").await.unwrap().unwrap();
    assert!(store
        .delete_user(bob_user.id, app.clock.now())
        .await
        .unwrap());
    for made in &bobs {
        let got = events.next().await.unwrap();
        assert_eq!(
            (got.event.as_str(), got.data),
            ("delete", json!({ "id": made["id"] }))
        );
    }
    assert_eq!(events.next_within(Duration::from_millis(300)).await, None);
    drop(events);

    // Replayed from before Bob posted: his posts are gone, their deletions are not.
    let mut events = Events::open(&ann, "", Some(before)).await;
    for made in &bobs {
        let got = events.next().await.unwrap();
        assert_eq!(
            (got.event.as_str(), got.data),
            ("delete", json!({ "id": made["id"] }))
        );
    }
    assert_eq!(events.next_within(Duration::from_millis(300)).await, None);
    drop(events);
    app.running.stop().await.unwrap();
}

/// A client coming back from before the oldest event kept is not replayed a feed with a hole
/// in it: it gets a `reset` carrying the latest event's id, then live events; one coming back
/// from after what was pruned is replayed as ever.
async fn a_client_behind_the_pruned_events_is_reset(backend: Backend) {
    let app = start_with(backend, test_config()).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    let mut events = Events::open(&ann, "", None).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(events_id(&mut events, post(&bob, &format!("p{i}")).await).await);
    }
    drop(events);

    // The clean-up job's step, with everything so far older than the retention: all go.
    let store = app.app.store();
    let later = app.clock.now().saturating_add(Duration::from_secs(3600));
    assert_eq!(store.prune_feed_events_batch(later, 2).await.unwrap(), 2);
    assert_eq!(store.feed_pruned_through().await.unwrap(), ids[1]);

    // From before the pruned events: a reset, then what comes live.
    for resume in [0, ids[0]] {
        let mut events = Events::open(&ann, "", Some(resume)).await;
        let reset = events.next().await.unwrap();
        assert_documented(&ann, &[&reset]).await;
        assert_eq!(
            (reset.event.as_str(), reset.id, reset.data),
            ("reset", *ids.last().unwrap(), json!({})),
            "from {resume}"
        );
        let live = post(&bob, "live").await;
        let got = events.next().await.unwrap();
        assert_eq!((got.event.as_str(), got.data), ("post", live.clone()));
        ids.push(got.id);
        drop(events);
    }
    // From where the pruning stopped: replayed, no reset.
    let mut events = Events::open(&ann, &format!("?after={}", ids[1]), None).await;
    for id in &ids[2..] {
        let got = events.next().await.unwrap();
        assert_eq!((got.event.as_str(), got.id), ("post", *id));
    }
    assert_eq!(events.next_within(Duration::from_millis(200)).await, None);
    drop(events);

    // Everything pruned (a feed quiet for longer than the retention): the posts page still
    // says where the feed stands, and a stream from there is no reset but live.
    let latest = *ids.last().unwrap();
    store.prune_feed_events_batch(later, 1000).await.unwrap();
    assert!(store.feed_events_after(0, 10).await.unwrap().is_empty());
    let page: Value = ann.get("/api/posts").await.json();
    assert_eq!(page["last_event_id"], json!(latest));
    let mut events = Events::open(&ann, &format!("?after={latest}"), None).await;
    let live = post(&bob, "after the quiet").await;
    let got = events.next().await.unwrap();
    assert_eq!((got.event.as_str(), got.data), ("post", live));
    drop(events);
    app.running.stop().await.unwrap();
}

/// The id of the next event, which must be `expected`'s post.
async fn events_id(events: &mut Events, expected: Value) -> i64 {
    let got = events.next().await.unwrap();
    assert_eq!(got.data, expected);
    got.id
}

/// A server restarted on the same database replays what a client missed while it was down.
async fn replay_survives_a_restart(backend: Backend) {
    let (store, dir) = fresh_store(backend).await.expect("backend available");
    let before = start_on(store.clone(), dir.clone(), test_config()).await;
    let ann = signed_in(&before, "ann").await;
    let mut events = Events::open(&ann, "", None).await;
    post(&ann, "one").await;
    let seen = events.next().await.unwrap();
    drop(events);
    before.running.stop().await.unwrap();
    drop(before.app);

    let after = start_on(store, dir, test_config()).await;
    let mut ann2 = Client::new(&after);
    ann2.login("ann", crate::PASSWORD).await;
    let two = post(&ann2, "two").await;
    let mut events = Events::open(&ann2, "", Some(seen.id)).await;
    assert_eq!(events.next().await.unwrap().data, two);
    drop(events);
    after.running.stop().await.unwrap();
}

/// An idle stream gets a comment every keep-alive interval.
async fn idle_streams_are_kept_alive(backend: Backend) {
    let config = feed_config(FeedPolicy {
        keep_alive: Duration::from_millis(100),
        ..FeedPolicy::default()
    });
    let app = start_with(backend, config).await;
    let ann = signed_in(&app, "ann").await;
    let mut events = Events::open(&ann, "", None).await;
    for _ in 0..2 {
        let block = tokio::time::timeout(Duration::from_secs(2), events.block())
            .await
            .expect("a keep-alive in time")
            .unwrap();
        assert!(block.starts_with(':'), "{block:?}");
    }
    drop(events);
    app.running.stop().await.unwrap();
}

/// A server shutting down ends its streams at once (their clients reconnect elsewhere)
/// rather than waiting out its grace period for them.
async fn shutting_down_ends_the_streams(backend: Backend) {
    let app = start_with(backend, test_config()).await;
    let ann = signed_in(&app, "ann").await;
    let mut events = Events::open(&ann, "", None).await;
    let started = tokio::time::Instant::now();
    let stopping = tokio::spawn(app.running.stop());
    assert_eq!(events.next().await, None, "the stream ended");
    stopping.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
}

both_backends!(
    shutting_down_ends_the_streams,
    posts_and_deletions_stream_live,
    last_event_id_replays_what_was_missed,
    deleting_a_user_streams_the_deletions,
    a_client_behind_the_pruned_events_is_reset,
    replay_survives_a_restart,
    idle_streams_are_kept_alive,
);

/// Two servers on one PostgreSQL database: a post through one reaches a listener of the
/// other (the database's notifications), and so does a deletion, also across the loss of
/// the servers' notification connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_servers_share_the_feed() {
    let Some((store, other, dir, schema)) = crate::shared_postgres().await else {
        eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES is not set, so postgres_servers_share_the_feed did not run");
        return;
    };
    let a = start_on(store, dir.clone(), test_config()).await;
    let b = start_on(other, dir, test_config()).await;

    let ann_on_a = signed_in(&a, "ann").await;
    let mut bob_on_b = Client::new(&b);
    bob_on_b.register("bob", crate::PASSWORD).await;
    bob_on_b.login("bob", crate::PASSWORD).await;

    let mut on_a = Events::open(&ann_on_a, "", None).await;
    let mut on_b = Events::open(&bob_on_b, "", None).await;
    let made = post(&bob_on_b, "from b").await;
    assert_eq!(on_a.next().await.unwrap().data, made, "b's post on a");
    assert_eq!(on_b.next().await.unwrap().data, made, "b's post on b");
    let mine = post(&ann_on_a, "from a").await;
    assert_eq!(on_b.next().await.unwrap().data, mine, "a's post on b");
    assert_eq!(on_a.next().await.unwrap().data, mine);
    delete(&ann_on_a, mine["id"].as_i64().unwrap()).await;
    let gone = on_b.next().await.unwrap();
    assert_eq!(
        (gone.event.as_str(), gone.data),
        ("delete", json!({ "id": mine["id"] }))
    );
    assert_eq!(on_a.next().await.unwrap().id, gone.id);

    // Both servers' notification connections killed: what is posted meanwhile still comes,
    // read from the table once they are back, and so does what is posted after.
    let url = std::env::var("SWITCHBOARD_TEST_POSTGRES").unwrap();
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query = 'LISTEN \"switchboard_feed_' || left(md5('{schema}'), 16) || '\"'"
    );
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-d", &url, "-c", &kill])
        .output()
        .expect("run psql");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "{out:?}");
    let meanwhile = post(&bob_on_b, "while the notifications were down").await;
    assert_eq!(on_a.next().await.unwrap().data, meanwhile);
    assert_eq!(on_b.next().await.unwrap().data, meanwhile);
    let after = post(&ann_on_a, "after").await;
    assert_eq!(on_b.next().await.unwrap().data, after);
    assert_eq!(on_a.next().await.unwrap().data, after);
    drop((on_a, on_b));
    a.running.stop().await.unwrap();
    b.running.stop().await.unwrap();
}

/// Two servers on one SQLite file (as `up` runs them): SQLite has no notifications, but a
/// post through one still reaches the other's listeners, within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_servers_on_one_file_share_the_feed() {
    let (store, dir) = fresh_store(Backend::Sqlite).await.unwrap();
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let other = switchboard_app::Store::open(&url).await.unwrap();
    let a = start_on(store, dir.clone(), test_config()).await;
    let b = start_on(other, dir, test_config()).await;
    let ann_on_a = signed_in(&a, "ann").await;
    let mut bob_on_b = Client::new(&b);
    bob_on_b.register("bob", crate::PASSWORD).await;
    bob_on_b.login("bob", crate::PASSWORD).await;

    let mut on_a = Events::open(&ann_on_a, "", None).await;
    let made = post(&bob_on_b, "from b").await;
    let got = on_a
        .next_within(Duration::from_secs(1))
        .await
        .expect("b's post on a within a second");
    assert_eq!(got.data, made);
    drop(on_a);
    a.running.stop().await.unwrap();
    b.running.stop().await.unwrap();
}
