//! Sessions: [`Store`]'s session queries, written once for both engines (touching one is an
//! [`Engine`] method: PostgreSQL does it in one statement, SQLite in a transaction).

use crate::engine::Engine;
use crate::error::{from_sqlx, StoreError};
use crate::model::count_u64;
use crate::{SessionInfo, Store, Timestamp, User};

impl Store {
    /// Records a new session for `user_id`, last seen `now`, dead from `expires_at` on.
    ///
    /// `token_hash` is the SHA-256 of the token the client holds. A `user_id` with no user is a
    /// [`StoreError::Database`] (foreign key), as is a token hash already in use.
    pub async fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        on_engine!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(&token_hash[..])
            .bind(user_id)
            .bind(now.as_millis())
            .bind(expires_at.as_millis())
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(from_sqlx)
    }

    /// Looks a session up for an authenticated request, in one round trip where the engine
    /// allows (PostgreSQL: one statement; SQLite: one in-process transaction).
    ///
    /// If the session exists, `now < expires_at` and `last_seen_at >= idle_cutoff` (pass
    /// `now - idle timeout`), sets `last_seen_at = now` (never moving it backwards, should
    /// processes' clocks disagree) and returns it with its user. A session found dead is
    /// deleted, and `None` returned, as for one that does not exist.
    pub async fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<Option<(SessionInfo, User)>, StoreError> {
        on_engine!(self, |pool| {
            Engine::touch_session(pool, token_hash, now, idle_cutoff).await
        })
    }

    /// Deletes one session (logout). `false` if there was none.
    pub async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let deleted = on_engine!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(&token_hash[..])
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(from_sqlx)?;
        Ok(deleted > 0)
    }

    /// Deletes every session of a user ("log out everywhere"); returns how many there were.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        on_engine!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(from_sqlx)
    }

    /// Deletes every dead session (`expires_at <= now` or `last_seen_at < idle_cutoff`);
    /// returns how many. For a periodic janitor: `touch_session` already refuses dead ones.
    pub async fn delete_expired_sessions(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        on_engine!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                .bind(now.as_millis())
                .bind(idle_cutoff.as_millis())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(from_sqlx)
    }

    /// How many sessions are alive (`now < expires_at` and `last_seen_at >= idle_cutoff`).
    pub async fn count_active_sessions(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let n: i64 = on_engine!(self, |pool| {
            sqlx::query_scalar(
                "SELECT count(*) FROM sessions WHERE expires_at > $1 AND last_seen_at >= $2",
            )
            .bind(now.as_millis())
            .bind(idle_cutoff.as_millis())
            .fetch_one(pool)
            .await
        })
        .map_err(from_sqlx)?;
        Ok(count_u64(n))
    }
}
