//! [`StoreError`]: what can go wrong, sorted by what the caller should do about it.

use sqlx::{Postgres, Sqlite};

use crate::engine::Engine;

/// Why a store operation failed.
///
/// Every message is one line. None contains a password hash or a session token hash: queries
/// pass them as bound parameters, and database messages never echo parameters back.
/// Nor does a [`StoreError::BadUrl`] repeat the URL, which may hold a database password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The URL (or schema name) given to [`Store::open`](crate::Store::open) is not one the
    /// store can use. A configuration mistake: retrying will not help.
    #[error("bad database URL: {0}")]
    BadUrl(String),
    /// The database cannot be reached right now: connection refused or timed out, no pooled
    /// connection free within the acquire timeout, the server shutting down, SQLite's file
    /// locked past the busy timeout. The application maps this to 503; a retry may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// [`Store::create_user`](crate::Store::create_user) was given a username that, ignoring
    /// case, belongs to an existing user.
    #[error("username is already taken")]
    UsernameTaken,
    /// Anything else the database reported: a constraint violated (a session for a user that
    /// does not exist), a row that does not decode, a migration that changed after it ran.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// True for [`StoreError::Unavailable`]: the operation may succeed if retried later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Collapses line breaks so a multi-line driver message stays on one log line.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sorts a driver error into [`StoreError`]'s variants. Kept private so `sqlx` does not leak
/// into the public API through a `From` impl.
pub(crate) fn from_sqlx(error: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &error {
        E::Configuration(_) => StoreError::BadUrl(one_line(&error.to_string())),
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            StoreError::Unavailable(one_line(&error.to_string()))
        }
        E::Database(db) if means_unavailable(db.as_ref()) => {
            StoreError::Unavailable(one_line(db.message()))
        }
        _ => StoreError::Database(one_line(&error.to_string())),
    }
}

/// Like [`from_sqlx`], for inserting a user: a unique violation can only be the
/// case-insensitive username key, so it becomes [`StoreError::UsernameTaken`].
pub(crate) fn from_sqlx_creating_user(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UsernameTaken,
        _ => from_sqlx(error),
    }
}

/// Whether a database error says "cannot serve you now" rather than "this request is wrong",
/// by the codes of the engine that raised it ([`Engine::unavailable_code`]).
fn means_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        Sqlite::unavailable_code(&code)
    } else {
        Postgres::unavailable_code(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(Sqlite::unavailable_code("5"));
        assert!(Sqlite::unavailable_code("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(!Sqlite::unavailable_code("2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(Postgres::unavailable_code("08006"));
        assert!(Postgres::unavailable_code("57P01"));
        assert!(!Postgres::unavailable_code("23505")); // unique_violation
        assert!(!Postgres::unavailable_code("42P01")); // undefined_table
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\nb \r\n c"), "a b c");
        let e = from_sqlx(sqlx::Error::PoolTimedOut);
        assert!(e.is_unavailable());
        assert!(!e.to_string().contains('\n'));
    }
}
