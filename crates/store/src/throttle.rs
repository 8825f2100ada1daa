//! Login throttling: [`Store`]'s queries on failed sign-ins, written once for both engines
//! (recording one is an [`Engine`] method: PostgreSQL does it in one statement, SQLite in a
//! transaction).

use std::time::Duration;

use crate::engine::Engine;
use crate::error::{from_sqlx, StoreError};
use crate::model::count_u32;
use crate::{Store, Timestamp};

impl Store {
    /// Records one failed login for `key` at `now` and returns how many failures `key` has in
    /// the window after recording it.
    ///
    /// A failure at `at` is in the window while `at > now - window`; older ones for this key
    /// are deleted first. Concurrent calls for one key may each miss the others' uncommitted
    /// failure; [`Store::login_failures`] before the next attempt sees them all.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let window_start = now.saturating_sub(window);
        on_engine!(self, |pool| {
            Engine::record_login_failure(pool, key, now, window_start).await
        })
    }

    /// How many failures `key` has in the window ending at `now`, and when the latest was.
    pub async fn login_failures(
        &self,
        key: &str,
        now: Timestamp,
        window: Duration,
    ) -> Result<(u32, Option<Timestamp>), StoreError> {
        let window_start = now.saturating_sub(window);
        let (n, latest): (i64, Option<i64>) = on_engine!(self, |pool| {
            sqlx::query_as(
                "SELECT count(*), max(at) FROM login_failures WHERE key = $1 AND at > $2",
            )
            .bind(key)
            .bind(window_start.as_millis())
            .fetch_one(pool)
            .await
        })
        .map_err(from_sqlx)?;
        Ok((count_u32(n), latest.map(Timestamp::from_millis)))
    }

    /// Forgets every failure of `key` (after a successful login, say).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        on_engine!(self, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(drop)
        })
        .map_err(from_sqlx)
    }

    /// Deletes every failure of every key recorded before `before`; returns how many.
    ///
    /// `record_login_failure` only trims the key it records, so keys never seen again (an
    /// address that tried once) stay until a janitor calls this with `now - window`.
    pub async fn prune_login_failures(&self, before: Timestamp) -> Result<u64, StoreError> {
        on_engine!(self, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(before.as_millis())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(from_sqlx)
    }
}
