//! [`Engine`]: what differs between SQLite and PostgreSQL, and nothing else.
//!
//! The queries are written once (see the crate overview) and reach an engine's own ways only
//! through this trait, implemented for `sqlx::Sqlite` in `sqlite.rs` and for `sqlx::Postgres`
//! in `postgres.rs`, beside the code that opens each kind of database. A query belongs here
//! only when it cannot be one text for both: keep it that way, so that reading one engine's
//! file shows everything that is special about that engine.

use std::future::Future;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Pool, Transaction};

use crate::error::{from_sqlx, StoreError};
use crate::migrate::Migration;
use crate::{Leadership, SessionInfo, Timestamp, User};

/// How long an operation waits for a free pooled connection before reporting `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// One database engine, as the store uses it. `Self` is sqlx's type for the engine, whose
/// `Database::NAME` (`SQLite`, `PostgreSQL`) names it in messages.
pub(crate) trait Engine: sqlx::Database {
    /// The statement that opens a transaction that will write (see [`begin_write`]).
    const BEGIN_WRITE: &'static str;

    /// How many connections the pool keeps at the most.
    const POOL_SIZE: u32;

    /// The engine's migrations, in the order they apply.
    const MIGRATIONS: &'static [Migration];

    /// Lists the tables of the store's schema but the migrations' record, by name (one text
    /// column): what [`Store::row_counts`](crate::Store::row_counts) counts.
    const TABLES: &'static str;

    /// Whether an error code of this engine means "cannot serve you now" (busy, shutting down,
    /// unreachable) rather than "this request is wrong": such errors become
    /// [`StoreError::Unavailable`], which the application answers with 503.
    fn unavailable_code(code: &str) -> bool;

    /// The first step of the migration transaction, before it reads which migrations ran:
    /// waits until no other opener of the same database (and `schema`, where the engine has
    /// them) is migrating, and creates `schema` if given.
    ///
    /// `schema` is a validated plain identifier, safe to splice into SQL.
    fn lock_for_migrations<'c>(
        conn: &'c mut Self::Connection,
        schema: Option<&'c str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'c;

    /// [`Store::touch_session`](crate::Store::touch_session): touches a live session and
    /// returns it with its user, or deletes it if it is dead.
    fn touch_session(
        pool: &Pool<Self>,
        token_hash: &[u8; 32],
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> impl Future<Output = Result<Option<(SessionInfo, User)>, StoreError>> + Send;

    /// [`Store::try_lead`](crate::Store::try_lead): becomes, without waiting, the one process
    /// on this database that runs the scheduled jobs; `None` if another is.
    fn try_lead(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<Leadership>, StoreError>> + Send;

    /// [`Store::record_login_failure`](crate::Store::record_login_failure): forgets the key's
    /// failures at or before `window_start`, records one at `now`, and counts those after
    /// `window_start`.
    fn record_login_failure(
        pool: &Pool<Self>,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The step of a transaction that writes a feed event
    /// ([`Store::create_post`](crate::Store::create_post), `delete_post`, `delete_user`) just
    /// before its event is inserted, held until it commits: marks it as a writer of the feed
    /// in flight, one that [`Engine::settle_feed`] waits for. Writers do not wait for each
    /// other here, so their commits (and their disks' flushes) go together.
    fn lock_feed<'t>(
        tx: &'t mut Transaction<'static, Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 't;

    /// The first step of a reader of the feed's events: waits until no writer of the feed is
    /// in flight (between [`Engine::lock_feed`] and its commit, in any process), and keeps new
    /// ones out until this transaction ends. Event ids are handed out before commit, in no
    /// commit order of their own; once no writer is in flight, every id up to the greatest
    /// committed one is committed or will never be, so what this transaction reads next has
    /// no hole that a later commit would fill.
    fn settle_feed<'t>(
        tx: &'t mut Transaction<'static, Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 't;

    /// In [`Store::create_post`](crate::Store::create_post), before the posts of the window
    /// are counted: waits until no other post by `author` is in flight, so two at once cannot
    /// both pass the limit.
    fn lock_author<'t>(
        tx: &'t mut Transaction<'static, Self>,
        author: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 't;

    /// The last step before committing feed event `event_id`: tells the other processes on
    /// the database, at commit, that there is something new (see
    /// [`FeedListener`](crate::FeedListener)).
    fn notify_feed<'t>(
        tx: &'t mut Transaction<'static, Self>,
        event_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 't;
}

/// Begins a transaction that will write, with the engine's [`Engine::BEGIN_WRITE`]. Dropping
/// it without `commit` rolls it back.
pub(crate) async fn begin_write<E: Engine>(
    pool: &Pool<E>,
) -> Result<Transaction<'static, E>, StoreError> {
    pool.begin_with(E::BEGIN_WRITE).await.map_err(from_sqlx)
}

/// The pool requests use: up to [`Engine::POOL_SIZE`] connections made with `options`, each
/// when first needed.
pub(crate) fn pool<E: Engine>(options: <E::Connection as Connection>::Options) -> Pool<E> {
    PoolOptions::<E>::new()
        .max_connections(E::POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}
