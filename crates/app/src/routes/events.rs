//! `GET /api/events`: the feed as server-sent events, for signed-in users.
//!
//! Each event has the id of its row in the feed's events table, the name `post` (data: the
//! post) or `delete` (data: `{"id": ...}` of the deleted post). A client that reconnects with
//! `Last-Event-ID` (browsers do it by themselves), or opens the stream with `?after=ID` (the
//! `last_event_id` of the posts page it shows), first gets every event after that id from the
//! table, then the live ones, with no gap and no duplicate between the two: the stream
//! subscribes to the server's ring first, then reads the table, and skips live events it has
//! already sent. A stream with neither starts at the latest event.
//!
//! Events are kept for a while (`FeedPolicy::retention`): a client coming back from before
//! the oldest kept (the store's `feed_pruned_through`) gets a `reset` event instead of a
//! replay with a hole in it, with the latest event's id, and reloads the posts.
//!
//! A listener holds a receiver on the ring and a little state, no task of its own; the
//! replay is read a page at a time as the client takes it. A listener that falls so far
//! behind that the ring has overwritten what it has not read yet is dropped: its stream ends,
//! and the client reconnects and is replayed from the table (see `feed.rs`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_store::Store;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::feed::Announced;
use crate::App;

/// Events read from the table at a time while replaying.
const REPLAY_PAGE: u32 = 100;
/// How soon a browser reconnects after the stream ends (sent as `retry:`).
const RETRY: Duration = Duration::from_secs(1);

/// Where the stream starts.
#[derive(Deserialize)]
pub struct Start {
    after: Option<i64>,
}

/// `GET /api/events[?after=ID]`.
pub async fn stream(
    State(app): State<App>,
    _auth: Authenticated,
    headers: HeaderMap,
    start: Result<Query<Start>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(start) = start.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id"))?,
        ),
        None => start.after,
    };
    if resume.is_some_and(|id| id < 0) {
        return Err(ApiError::bad_request("after must be an event id"));
    }
    let hub = app.feed();
    // Subscribed first, then the table read: whatever is committed after the read arrives
    // in the ring.
    let live = hub.subscribe();
    hub.start(app.store()).await?;
    let after = match resume {
        Some(id) => id,
        None => app.store().last_feed_event().await?,
    };
    let listener = Listener {
        live,
        closing: hub.closing(),
        store: app.store().clone(),
        seen: after,
        replay: VecDeque::new(),
        replaying: resume.is_some(),
        greeted: false,
    };
    let keep_alive = KeepAlive::new().interval(app.config().feed.keep_alive);
    Ok(Sse::new(listener.events())
        .keep_alive(keep_alive)
        .into_response())
}

/// One stream's state.
struct Listener {
    /// Its place in the server's ring.
    live: broadcast::Receiver<Arc<Announced>>,
    /// True once the server shuts down: the stream ends.
    closing: watch::Receiver<bool>,
    /// Where the replay is read from.
    store: Store,
    /// Every event up to this id has been sent, is queued in `replay`, or needs no sending
    /// (known to the client, or a post deleted since): live events up to it are skipped.
    seen: i64,
    /// A page of the replay not yet sent.
    replay: VecDeque<Arc<Announced>>,
    /// Whether the table may hold events after `seen` not yet read.
    replaying: bool,
    /// Whether `retry:` has gone out.
    greeted: bool,
}

impl Listener {
    fn events(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        stream::unfold(self, |mut listener| async move {
            let event = listener.next().await?;
            Some((Ok(event), listener))
        })
    }

    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if *self.closing.borrow() {
            return None;
        }
        if !self.greeted {
            self.greeted = true;
            return Some(Event::default().retry(RETRY));
        }
        loop {
            if let Some(announced) = self.replay.pop_front() {
                return Some(self.send(&announced));
            }
            if self.replaying {
                let page = match self.store.feed_events_after(self.seen, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        // The client reconnects and is replayed from where it got to.
                        tracing::warn!(error = %e, "feed replay failed; ending the stream");
                        return None;
                    }
                };
                // Read after the page: if events after `seen` had been pruned by then, the
                // page may lack some, and the client must start again from the posts.
                match self.store.feed_pruned_through().await {
                    Ok(pruned) if pruned > self.seen => return self.reset().await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "feed replay failed; ending the stream");
                        return None;
                    }
                }
                self.replaying = page.len() == REPLAY_PAGE as usize;
                if let Some(last) = page.last() {
                    // Read, and sent before anything live: a post deleted since is skipped.
                    self.seen = last.id;
                }
                self.replay.extend(page.iter().filter_map(Announced::of));
                continue;
            }
            if self.replay.capacity() > 0 {
                // Done with the table: the page's memory goes back while the stream idles.
                self.replay = VecDeque::new();
            }
            let received = tokio::select! {
                received = self.live.recv() => received,
                _ = self.closing.wait_for(|closing| *closing) => return None,
            };
            match received {
                Ok(announced) if announced.id <= self.seen => continue,
                Ok(announced) => return Some(self.send(&announced)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "feed listener too slow; dropped");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The client asked for events from before what the table keeps: a `reset`, with the id
    /// of the latest event, tells it to load the posts again; live events follow from there.
    async fn reset(&mut self) -> Option<Event> {
        let latest = match self.store.last_feed_event().await {
            Ok(latest) => latest,
            Err(e) => {
                tracing::warn!(error = %e, "feed replay failed; ending the stream");
                return None;
            }
        };
        self.seen = self.seen.max(latest);
        self.replaying = false;
        self.replay.clear();
        Some(
            Event::default()
                .id(itoa::Buffer::new().format(self.seen))
                .event("reset")
                .data("{}"),
        )
    }

    fn send(&mut self, announced: &Announced) -> Event {
        self.seen = self.seen.max(announced.id);
        Event::default()
            .id(itoa::Buffer::new().format(announced.id))
            .event(announced.kind.as_str())
            .data(&announced.data)
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// `/api/events`.
pub fn openapi() -> Value {
    json!({ "get": {
        "summary": "The feed as server-sent events",
        "description": "Events `post` (data: the post, as in /api/posts) and `delete` (data: `{\"id\": ...}` of the deleted post), each with its id. Reconnecting with `Last-Event-ID` (or opening with `after`) replays every event after it first; from further back than the events kept (`--feed-retention`), an event `reset` (data `{}`, with the latest id) says to load the posts again instead. A client that falls too far behind is disconnected, and reconnects.",
        "security": [{ "session": [] }, { "bearer": [] }],
        "parameters": [
            { "name": "after", "in": "query", "schema": { "type": "integer", "format": "int64", "minimum": 0 }, "description": "Start after this event id (`last_event_id` of /api/posts); Last-Event-ID wins" },
            { "name": "Last-Event-ID", "in": "header", "schema": { "type": "integer", "format": "int64", "minimum": 0 } }
        ],
        "responses": {
            // Before OpenAPI 3.2's `itemSchema`, a `text/event-stream` schema describes one
            // event (its `id`, `event` and `data` fields), as tools such as Schemathesis read it.
            "200": { "description": "The stream", "content": { "text/event-stream": { "schema": {
                "type": "object", "required": ["id", "event", "data"],
                "properties": {
                    "id": { "type": "string", "pattern": "^[0-9]+$", "description": "The event's id, for Last-Event-ID" },
                    "event": { "enum": ["post", "delete", "reset"] },
                    "data": { "type": "string", "contentMediaType": "application/json", "description": "post: the post, as in /api/posts; delete: {\"id\": ...}; reset: {}" },
                    "retry": { "type": "integer" }
                }
            } } } },
            "400": error_response("after or Last-Event-ID is not an event id"),
            "401": error_response("Not signed in"),
            "503": error_response("The database is unavailable")
        }
    }})
}
