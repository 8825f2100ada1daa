//! The records the store hands out: [`User`], [`Role`], [`SessionInfo`].

use std::fmt;
use std::str::FromStr;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::StoreError;
use crate::Timestamp;

/// An account, as everyone but the login handler sees it: no password hash here (that comes
/// only from [`Store::credentials`](crate::Store::credentials)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Assigned by the database, never reused (SQLite `AUTOINCREMENT`, PostgreSQL identity).
    pub id: i64,
    /// As the user typed it at sign-up; uniqueness ignores case.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// When the account was created, as the application's clock said.
    pub created_at: Timestamp,
}

/// What a user may do. Stored as the text `'user'` or `'admin'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// An ordinary account.
    User,
    /// May manage other accounts.
    Admin,
}

impl Role {
    /// `"user"` or `"admin"`: the stored form, and what [`Role::from_str`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`Role::from_str`] was given something other than `user` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected \"user\" or \"admin\"")]
pub struct ParseRoleError(String);

impl FromStr for Role {
    type Err = ParseRoleError;

    /// Exactly `"user"` or `"admin"`, lower case, as stored.
    fn from_str(s: &str) -> Result<Role, ParseRoleError> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(ParseRoleError(other.chars().take(32).collect())),
        }
    }
}

/// A live session, as [`Store::touch_session`](crate::Store::touch_session) returns it. The
/// token itself is not here: the store only ever had its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Whose session it is.
    pub user_id: i64,
    /// When the user logged in.
    pub created_at: Timestamp,
    /// The `now` of the most recent successful touch (this one included).
    pub last_seen_at: Timestamp,
    /// The absolute end: from this instant on the session is dead, however active.
    pub expires_at: Timestamp,
}

/// The columns [`user_from_row`] reads, for `SELECT {USER_COLUMNS} FROM users ...`.
pub(crate) const USER_COLUMNS: &str = "id, username, role, created_at";

/// The lower-cased username that uniqueness and lookups use, so "Ann" and "ann" collide.
pub(crate) fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// Reads one typed column, turning a decode failure into [`StoreError::Database`].
pub(crate) fn column<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name).map_err(crate::error::from_sqlx)
}

/// Builds a [`User`] from a row with the columns `id, username, role, created_at`.
pub(crate) fn user_from_row<'r, R>(row: &'r R) -> Result<User, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: i64 = column(row, "id")?;
    let role: &str = column(row, "role")?;
    let role = role
        .parse()
        .map_err(|e: ParseRoleError| StoreError::Database(format!("user {id}: {e}")))?;
    Ok(User {
        id,
        username: column(row, "username")?,
        role,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
    })
}

/// Builds a [`SessionInfo`] from a row with the columns
/// `user_id, created_at, last_seen_at, expires_at`.
pub(crate) fn session_from_row<'r, R>(row: &'r R) -> Result<SessionInfo, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(SessionInfo {
        user_id: column(row, "user_id")?,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
        last_seen_at: Timestamp::from_millis(column(row, "last_seen_at")?),
        expires_at: Timestamp::from_millis(column(row, "expires_at")?),
    })
}

/// Converts a database count to `u64`; counts are never negative.
pub(crate) fn count_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Converts a database count to `u32`, saturating.
pub(crate) fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("root"));
    }

    #[test]
    fn username_keys_ignore_case() {
        assert_eq!(username_key("Ann"), username_key("aNN"));
        assert_ne!(username_key("ann"), username_key("anne"));
    }
}
