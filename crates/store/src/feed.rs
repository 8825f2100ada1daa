//! The feed: [`Store`]'s queries on posts and their events, written once for both engines.
//!
//! Every post made or deleted writes a row of `feed_events` in the same transaction. A reader
//! that has seen every event up to some id and asks for those after it
//! ([`Store::feed_events_after`]) must miss none, though ids are handed out before commit:
//! on SQLite one writer at a time (`BEGIN IMMEDIATE`) commits them in order; on PostgreSQL
//! writers mark themselves in flight just before inserting their event (`Engine::lock_feed`,
//! an advisory lock held shared, so that their commits go together), and a reader first waits
//! until none is (`Engine::settle_feed`, the same lock held exclusive for its one query), so
//! that no id below what it reads can be committed later. On PostgreSQL the transaction also
//! sends a `NOTIFY` (delivered at commit) that [`FeedListener`] receives on every server.
//!
//! The events are kept for a while, not for ever: the clean-up job deletes the oldest
//! ([`Store::prune_feed_events_batch`]) and records how far it went
//! ([`Store::feed_pruned_through`]), so a reader coming back from further than that knows it
//! cannot be replayed what it missed.

use std::time::Duration;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::engine::{begin_write, Engine};
use crate::error::{from_sqlx, StoreError};
use crate::model::column;
use crate::{Pool, Store, Timestamp};

pub use crate::postgres::FeedListener;

/// A post, with its author's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Assigned by the database, never reused.
    pub id: i64,
    /// Who wrote it.
    pub author_id: i64,
    /// Their username, as they typed it at sign-up.
    pub author: String,
    /// What they wrote.
    pub text: String,
    /// When, as the application's clock said.
    pub created_at: Timestamp,
}

/// What a feed event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEventKind {
    /// A post was made.
    Post,
    /// A post was deleted.
    Delete,
}

impl FeedEventKind {
    /// `"post"` or `"delete"`: the stored form, and the SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedEventKind::Post => "post",
            FeedEventKind::Delete => "delete",
        }
    }
}

/// One row of the feed's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Its place in the feed: ascending in commit order.
    pub id: i64,
    /// What happened.
    pub kind: FeedEventKind,
    /// To which post.
    pub post_id: i64,
    /// For a [`FeedEventKind::Post`], the post, unless it has been deleted since (its deletion
    /// is a later event); `None` for a deletion.
    pub post: Option<Post>,
}

/// How many posts one author may make in a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostLimit {
    /// Posts allowed in the window.
    pub posts: u32,
    /// The window.
    pub window: Duration,
}

/// What [`Store::create_post`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// The post, and the id of the event that announces it.
    Created {
        /// The new post.
        post: Post,
        /// Its event's id.
        event_id: i64,
    },
    /// The author has made [`PostLimit::posts`] posts in the window already; nothing was
    /// written. The oldest of them leaves the window in `retry_after`.
    Throttled {
        /// How long until one more post is allowed.
        retry_after: Duration,
    },
}

/// What [`Store::delete_post`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted; the id of the event that announces it.
    Deleted {
        /// Its event's id.
        event_id: i64,
    },
    /// No such post.
    NotFound,
    /// The post is someone else's, and the caller may not delete others' posts.
    NotAllowed,
}

/// The columns [`post_from_row`] reads, for `SELECT {POST_COLUMNS} FROM posts p JOIN users u`.
const POST_COLUMNS: &str = "p.id, p.author_id, u.username, p.body, p.created_at";

/// Builds a [`Post`] from a row with the columns of [`POST_COLUMNS`].
fn post_from_row<'r, R>(row: &'r R) -> Result<Post, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Post {
        id: column(row, "id")?,
        author_id: column(row, "author_id")?,
        author: column(row, "username")?,
        text: column(row, "body")?,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
    })
}

/// Builds a [`FeedEvent`] from a row of [`Store::feed_events_after`]'s query.
fn event_from_row<'r, R>(row: &'r R) -> Result<FeedEvent, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: i64 = column(row, "id")?;
    let kind = match column::<_, &str>(row, "kind")? {
        "post" => FeedEventKind::Post,
        "delete" => FeedEventKind::Delete,
        other => {
            return Err(StoreError::Database(format!(
                "feed event {id}: unknown kind {other:?}"
            )))
        }
    };
    let post_id: i64 = column(row, "post_id")?;
    let post = match (
        kind,
        column::<_, Option<i64>>(row, "author_id")?,
        column::<_, Option<String>>(row, "username")?,
        column::<_, Option<String>>(row, "body")?,
        column::<_, Option<i64>>(row, "created_at")?,
    ) {
        (FeedEventKind::Post, Some(author_id), Some(author), Some(text), Some(created_at)) => {
            Some(Post {
                id: post_id,
                author_id,
                author,
                text,
                created_at: Timestamp::from_millis(created_at),
            })
        }
        _ => None,
    };
    Ok(FeedEvent {
        id,
        kind,
        post_id,
        post,
    })
}

const INSERT_EVENT: &str = "INSERT INTO feed_events (kind, post_id, author_id, created_at)
                            VALUES ($1, $2, $3, $4) RETURNING id";

impl Store {
    /// Makes a post by `author_id`, unless they have made `limit.posts` posts in the window
    /// ending at `now` (counted from the feed's events, so deleting posts does not make room),
    /// and records its event, in one transaction. The text is stored as given: the
    /// application checks its length.
    pub async fn create_post(
        &self,
        author_id: i64,
        text: &str,
        now: Timestamp,
        limit: PostLimit,
    ) -> Result<Posted, StoreError> {
        let window_start = now.saturating_sub(limit.window);
        on_engine!(self, |pool| {
            let mut tx = begin_write(pool).await?;
            Engine::lock_author(&mut tx, author_id).await?;
            let (recent, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT count(*), min(created_at) FROM feed_events
                 WHERE author_id = $1 AND kind = 'post' AND created_at > $2",
            )
            .bind(author_id)
            .bind(window_start.as_millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            if recent >= i64::from(limit.posts) {
                let leaves = oldest.map_or(now.as_millis(), |t| {
                    t.saturating_add(i64::try_from(limit.window.as_millis()).unwrap_or(i64::MAX))
                });
                let wait = u64::try_from(leaves.saturating_sub(now.as_millis())).unwrap_or(0);
                return Ok(Posted::Throttled {
                    retry_after: Duration::from_millis(wait),
                });
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO posts (author_id, body, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(author_id)
            .bind(text)
            .bind(now.as_millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            let sql = format!(
                "SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id \
                 WHERE p.id = $1"
            );
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            let post = post_from_row(&row)?;
            // In flight as a writer of the feed only from here to the commit: the shorter,
            // the less a reader waits.
            Engine::lock_feed(&mut tx).await?;
            let event_id: i64 = sqlx::query_scalar(INSERT_EVENT)
                .bind(FeedEventKind::Post.as_str())
                .bind(post.id)
                .bind(author_id)
                .bind(now.as_millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            Engine::notify_feed(&mut tx, event_id).await?;
            tx.commit().await.map_err(from_sqlx)?;
            Ok(Posted::Created { post, event_id })
        })
    }

    /// Deletes post `post_id` on behalf of user `by`, who may delete it if it is theirs or if
    /// `any` (an admin), and records its event, in one transaction.
    pub async fn delete_post(
        &self,
        post_id: i64,
        by: i64,
        any: bool,
        now: Timestamp,
    ) -> Result<Deleted, StoreError> {
        on_engine!(self, |pool| {
            let mut tx = begin_write(pool).await?;
            let author: Option<i64> =
                sqlx::query_scalar("SELECT author_id FROM posts WHERE id = $1")
                    .bind(post_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
            let Some(author) = author else {
                return Ok(Deleted::NotFound);
            };
            if author != by && !any {
                return Ok(Deleted::NotAllowed);
            }
            sqlx::query("DELETE FROM posts WHERE id = $1")
                .bind(post_id)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            Engine::lock_feed(&mut tx).await?;
            let event_id: i64 = sqlx::query_scalar(INSERT_EVENT)
                .bind(FeedEventKind::Delete.as_str())
                .bind(post_id)
                .bind(author)
                .bind(now.as_millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            Engine::notify_feed(&mut tx, event_id).await?;
            tx.commit().await.map_err(from_sqlx)?;
            Ok(Deleted::Deleted { event_id })
        })
    }

    /// The post with this id, if any.
    pub async fn post(&self, post_id: i64) -> Result<Option<Post>, StoreError> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $1"
        );
        on_engine!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(post_id)
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            row.as_ref().map(post_from_row).transpose()
        })
    }

    /// Up to `limit` posts with `id < before` (all, if `None`), newest first: pass the last id
    /// of one page as `before` to get the next.
    pub async fn list_posts(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p JOIN users u ON u.id = p.author_id
             WHERE p.id < $1 ORDER BY p.id DESC LIMIT $2"
        );
        on_engine!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(before.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            rows.iter().map(post_from_row).collect()
        })
    }

    /// The id of the latest feed event, 0 if there has never been one: where a reader that
    /// wants only what happens from now on starts. Pruning does not take it back: with every
    /// event pruned, it is the last pruned, so that a reader starting there is not told it
    /// is behind what was pruned.
    pub async fn last_feed_event(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = on_engine!(self, |pool| {
            let mut tx = pool.begin().await.map_err(from_sqlx)?;
            Engine::settle_feed(&mut tx).await?;
            let id = sqlx::query_scalar(
                "SELECT coalesce(max(id), (SELECT through FROM feed_pruned)) FROM feed_events",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            tx.commit().await.map_err(from_sqlx)?;
            Ok::<_, StoreError>(id)
        })?;
        Ok(id.unwrap_or(0))
    }

    /// Up to `limit` feed events with `id > after`, in id order, each post event with its
    /// post (unless deleted since).
    pub async fn feed_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        on_engine!(self, |pool| {
            let mut tx = pool.begin().await.map_err(from_sqlx)?;
            Engine::settle_feed(&mut tx).await?;
            let rows = sqlx::query(
                "SELECT e.id, e.kind, e.post_id, p.author_id, u.username, p.body, p.created_at
                 FROM feed_events e
                 LEFT JOIN posts p ON p.id = e.post_id AND e.kind = 'post'
                 LEFT JOIN users u ON u.id = p.author_id
                 WHERE e.id > $1 ORDER BY e.id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            tx.commit().await.map_err(from_sqlx)?;
            rows.iter().map(event_from_row).collect()
        })
    }

    /// Deletes the oldest feed events made before `before`, about `limit` at a time (the
    /// `limit` oldest such, and any older by id): a prefix of the feed, so that
    /// [`Store::feed_pruned_through`] can say where what is kept begins. Returns how many
    /// were deleted; called until it returns less than `limit`, it clears them all without
    /// one long write lock.
    pub async fn prune_feed_events_batch(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        on_engine!(self, |pool| {
            let mut tx = begin_write(pool).await?;
            // As a reader does: no writer in flight, so no id below what is read here can be
            // committed later (held for this batch only).
            Engine::settle_feed(&mut tx).await?;
            let through: Option<i64> = sqlx::query_scalar(
                "SELECT max(id) FROM (SELECT id FROM feed_events WHERE created_at < $1
                                      ORDER BY id LIMIT $2) oldest",
            )
            .bind(before.as_millis())
            .bind(i64::from(limit))
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            let Some(through) = through else {
                return Ok(0);
            };
            // Only committed ids are seen, and none is in flight (settled above): no event up
            // to `through` is still to come.
            let deleted = sqlx::query("DELETE FROM feed_events WHERE id <= $1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
            sqlx::query("UPDATE feed_pruned SET through = $1 WHERE through < $1")
                .bind(through)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            tx.commit().await.map_err(from_sqlx)?;
            Ok(deleted)
        })
    }

    /// The greatest id of the feed's events that may have been pruned (0 if none): a reader
    /// that has seen the events up to an id below it cannot be replayed what it missed.
    pub async fn feed_pruned_through(&self) -> Result<i64, StoreError> {
        on_engine!(self, |pool| {
            sqlx::query_scalar("SELECT through FROM feed_pruned")
                .fetch_optional(pool)
                .await
        })
        .map_err(from_sqlx)
        .map(|through| through.unwrap_or(0))
    }

    /// On PostgreSQL, a listener that wakes whenever any server on this database (and schema)
    /// commits a feed event: one connection of its own, outside the pool. `None` on SQLite,
    /// where the one process that writes knows when it did.
    pub async fn feed_listener(&self) -> Result<Option<FeedListener>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(pool) => FeedListener::open(pool).await.map(Some),
        }
    }
}
