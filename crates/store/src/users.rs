//! Accounts: [`Store`]'s user queries, written once for both engines.

use crate::engine::{begin_write, Engine};
use crate::error::{from_sqlx, from_sqlx_creating_user, StoreError};
use crate::model::{column, count_u64, user_from_row, username_key, USER_COLUMNS};
use crate::{Role, Store, Timestamp, User};

impl Store {
    /// Creates an account. `password_hash` is the application's encoded hash, stored as is.
    ///
    /// [`StoreError::UsernameTaken`] if another user has the same name ignoring case ("Ann" and
    /// "ann" collide). The username is stored as given; the application validates it.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let id: i64 = on_engine!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO users (username, username_key, password_hash, role, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(username)
            .bind(username_key(username))
            .bind(password_hash)
            .bind(role.as_str())
            .bind(now.as_millis())
            .fetch_one(pool)
            .await
        })
        .map_err(from_sqlx_creating_user)?;
        Ok(User {
            id,
            username: username.to_owned(),
            role,
            created_at: now,
        })
    }

    /// The user with this id, if any.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        on_engine!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// The user with this name, ignoring case, and their password hash: for the login handler
    /// only, which verifies the password against the hash.
    pub async fn credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_key = $1");
        on_engine!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(username_key(username))
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            match row {
                Some(row) => Ok(Some((user_from_row(&row)?, column(&row, "password_hash")?))),
                None => Ok(None),
            }
        })
    }

    /// Up to `limit` users with `id > after_id` (all, if `None`), ordered by id ascending: pass
    /// the last id of one page as `after_id` to get the next. No password hashes.
    pub async fn list_users(
        &self,
        limit: u32,
        after_id: Option<i64>,
    ) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        on_engine!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(after_id.unwrap_or(i64::MIN))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            rows.iter().map(user_from_row).collect()
        })
    }

    /// Replaces a user's password hash and deletes all of that user's sessions, in one
    /// transaction: whoever knew the old password is logged out everywhere. `false` if there
    /// is no such user.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        on_engine!(self, |pool| {
            let mut tx = begin_write(pool).await?;
            let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            if updated.rows_affected() == 0 {
                return Ok(false); // dropping `tx` rolls back the empty transaction
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            tx.commit().await.map_err(from_sqlx)?;
            Ok(true)
        })
    }

    /// Deletes a user, and with them (by cascade) their sessions and their posts, each post's
    /// deletion recorded as a feed event in the same transaction (under the feed's lock, as
    /// [`Store::delete_post`] does, and after any post of theirs in flight), so that
    /// listeners and replays see every post go. `false`
    /// if there was none. Their id is never given to another user.
    pub async fn delete_user(&self, user_id: i64, now: Timestamp) -> Result<bool, StoreError> {
        on_engine!(self, |pool| {
            let mut tx = begin_write(pool).await?;
            // A post of theirs in flight commits first, and is counted below; none starts.
            Engine::lock_author(&mut tx, user_id).await?;
            Engine::lock_feed(&mut tx).await?;
            // One event per post, in post order; the cascade below removes the posts.
            let announced = sqlx::query(
                "INSERT INTO feed_events (kind, post_id, author_id, created_at)
                 SELECT 'delete', id, author_id, $2 FROM posts WHERE author_id = $1 ORDER BY id",
            )
            .bind(user_id)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?
            .rows_affected();
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
            if deleted == 0 {
                return Ok(false); // dropping `tx` rolls back the empty transaction
            }
            if announced > 0 {
                let last: i64 = sqlx::query_scalar("SELECT max(id) FROM feed_events")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                Engine::notify_feed(&mut tx, last).await?;
            }
            tx.commit().await.map_err(from_sqlx)?;
            Ok(true)
        })
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = on_engine!(self, |pool| {
            sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(pool)
                .await
        })
        .map_err(from_sqlx)?;
        Ok(count_u64(n))
    }
}
