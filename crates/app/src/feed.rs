//! The feed's fan-out: [`Hub`], one per [`App`](crate::App), from the database's events to
//! every event stream (`GET /api/events`) this server holds.
//!
//! One task per server, the pump, reads the events table and sends what is new into one
//! `tokio::sync::broadcast` ring; each listener is a receiver on it (a position in the ring,
//! no task, no buffer of its own). The pump reads when woken: on PostgreSQL by the store's
//! [`FeedListener`](switchboard_store::FeedListener), so a post made through any server on the
//! database reaches this one's listeners, and also after the listener's connection is made
//! again; on SQLite, which has no notifications, by this server's own handlers after they
//! commit ([`Hub::wake`]), and every quarter of a second while anyone listens, for the other
//! servers on the same file. Either way it reads every event after the last it sent, so a
//! lost notification only delays events, never loses them.
//!
//! A listener that falls [`FeedPolicy::buffer`](crate::FeedPolicy::buffer) events behind
//! finds the ring overwritten under it and is dropped (`routes/events.rs`); it reconnects
//! with `Last-Event-ID` and is replayed from the table. The ring is the only memory events
//! take, however many listeners and however slow.
//!
//! The pump starts with the first listener (`Hub::start`) and stops when the hub is dropped.
//! When the server shuts down, `Hub::close` ends every stream at once: an event stream never
//! finishes by itself, and the server would otherwise wait out its grace period for each.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_store::{FeedEvent, FeedEventKind, Post, Store, StoreError};
use tokio::sync::{broadcast, watch, Notify, OnceCell};
use tokio::task::AbortHandle;

/// Events read from the table at a time.
const PAGE: u32 = 100;
/// How often the pump reads a SQLite feed's table for other processes' events.
const POLL: Duration = Duration::from_millis(250);
/// How long the pump waits before reading again after the database failed it.
const RETRY: Duration = Duration::from_secs(1);

/// An event as streams send it: its id, its name and its data, rendered once for every
/// listener.
#[derive(Debug)]
pub struct Announced {
    /// The event's id in the table (the SSE `id`).
    pub id: i64,
    /// `post` or `delete` (the SSE `event`).
    pub kind: FeedEventKind,
    /// The JSON (the SSE `data`): the post, or `{"id": ...}` of the deleted one.
    pub data: String,
}

impl Announced {
    /// What a stream sends for `event`; `None` for a post event whose post has been deleted
    /// since (its deletion comes later).
    pub fn of(event: &FeedEvent) -> Option<Arc<Announced>> {
        let data = match (event.kind, &event.post) {
            (FeedEventKind::Post, Some(post)) => post_json(post),
            (FeedEventKind::Post, None) => return None,
            (FeedEventKind::Delete, _) => json!({ "id": event.post_id }),
        };
        Some(Arc::new(Announced {
            id: event.id,
            kind: event.kind,
            data: data.to_string(),
        }))
    }
}

/// A post as the API shows it.
pub fn post_json(post: &Post) -> Value {
    json!({
        "id": post.id,
        "author": { "id": post.author_id, "username": post.author },
        "text": post.text,
        "created_at": post.created_at.to_rfc3339(),
    })
}

/// The fan-out of one server (see the module's overview).
pub struct Hub {
    /// The ring every listener reads; the pump holds a clone and sends.
    events: broadcast::Sender<Arc<Announced>>,
    /// This server's handlers committed an event (what wakes the pump on SQLite).
    wake: Arc<Notify>,
    /// Set once the pump runs: it has read where the feed stands, so every event after that
    /// will be sent into the ring.
    pump: OnceCell<Pump>,
    /// True once the server is shutting down: every stream ends (`Hub::close`).
    closing: watch::Sender<bool>,
}

/// The running pump, aborted with the hub.
struct Pump(AbortHandle);

impl Drop for Pump {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("listeners", &self.events.receiver_count())
            .field("running", &self.pump.initialized())
            .finish()
    }
}

impl Hub {
    /// A hub whose ring holds `buffer` events.
    pub fn new(buffer: usize) -> Hub {
        let (events, _) = broadcast::channel(buffer.max(1));
        Hub {
            events,
            wake: Arc::new(Notify::new()),
            pump: OnceCell::new(),
            closing: watch::Sender::new(false),
        }
    }

    /// Whether the streams are to end: true once [`Hub::close`] has been called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every stream, now and from now on (the server is shutting down): each client
    /// reconnects, to a server that is not, and is replayed from where it got to.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A new listener's place in the ring: every event the pump sends from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Announced>> {
        self.events.subscribe()
    }

    /// Starts the pump if it is not running: once this returns, every event committed after
    /// the moment it returns (and some before) will be sent into the ring.
    pub async fn start(&self, store: &Store) -> Result<(), StoreError> {
        self.pump
            .get_or_try_init(|| async {
                // Listening before reading where the feed stands: a commit in between wakes it.
                let listener = store.feed_listener().await?;
                let last = store.last_feed_event().await?;
                let task = tokio::spawn(pump(
                    store.clone(),
                    listener,
                    self.events.clone(),
                    self.wake.clone(),
                    last,
                ));
                Ok(Pump(task.abort_handle()))
            })
            .await
            .map(drop)
    }

    /// This server committed a feed event: the pump reads the table now rather than waiting
    /// for the database's notification (on SQLite, the only wake-up there is).
    pub fn wake(&self) {
        if self.pump.initialized() {
            self.wake.notify_one();
        }
    }
}

/// The pump: forever, wait to be woken, then send every event after `last` into the ring.
async fn pump(
    store: Store,
    mut listener: Option<switchboard_store::FeedListener>,
    events: broadcast::Sender<Arc<Announced>>,
    wake: Arc<Notify>,
    mut last: i64,
) {
    loop {
        match &mut listener {
            // Woken by the database (any server's commit, or the connection made again);
            // this server's own commits come that way too.
            Some(listener) => {
                if let Err(e) = listener.changed().await {
                    tracing::warn!(error = %e, "feed: lost the database's notifications; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            // SQLite: this server's own commits wake it at once; another process's on the
            // same file (`up` runs several servers on one) are found by reading the table
            // every `POLL` while anyone listens.
            None => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {
                        if events.receiver_count() == 0 {
                            continue;
                        }
                    }
                }
            }
        }
        loop {
            match store.feed_events_after(last, PAGE).await {
                Ok(page) => {
                    let full = page.len() == PAGE as usize;
                    for event in &page {
                        last = event.id;
                        if let Some(announced) = Announced::of(event) {
                            // No receivers is not an error: no one is listening now.
                            let _ = events.send(announced);
                        }
                    }
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "feed: cannot read the events; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}
