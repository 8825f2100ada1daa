//! Recently verified sessions, so that a signed-in request costs a map lookup rather than a
//! database round trip (which, on SQLite, is a write: the session's last-seen time).
//!
//! An entry is trusted for [`TRUST`] of the application's clock after the database last
//! confirmed it; then the next request checks the database again (and touches the session
//! there). Sign-out and password changes on this server remove entries at once; a revocation
//! made by another server sharing the database is seen here within [`TRUST`]. Expiry is
//! checked on every hit against the cached lifetimes, so a session never outlives its absolute
//! lifetime here, and its idle time is measured from the last database touch, at most
//! [`TRUST`] stale.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use switchboard_store::{SessionInfo, Timestamp, User};

/// How long a database confirmation is trusted.
pub const TRUST: Duration = Duration::from_secs(1);

/// Entries past this count trigger a sweep of the stale ones.
const SWEEP_AT: usize = 4096;

#[derive(Clone)]
struct Entry {
    session: SessionInfo,
    user: User,
    confirmed_at: Timestamp,
}

/// The cache of verified sessions, keyed by token hash.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// When stale entries were last swept.
    swept_at: Mutex<Timestamp>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache").finish_non_exhaustive()
    }
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session, if the database confirmed it less than [`TRUST`] ago and it has not
    /// expired since.
    pub fn get(&self, token_hash: &[u8; 32], now: Timestamp) -> Option<(SessionInfo, User)> {
        let entries = self.lock();
        let entry = entries.get(token_hash)?;
        let fresh = now < entry.confirmed_at.saturating_add(TRUST) && now >= entry.confirmed_at;
        (fresh && now < entry.session.expires_at).then(|| (entry.session, entry.user.clone()))
    }

    /// Remembers a session the database just confirmed at `now`.
    pub fn put(&self, token_hash: [u8; 32], session: SessionInfo, user: User, now: Timestamp) {
        let mut entries = self.lock();
        if entries.len() >= SWEEP_AT {
            // At most one sweep per trust period, however many misses come.
            let mut swept_at = self.swept_at.lock().unwrap_or_else(|p| p.into_inner());
            if now >= swept_at.saturating_add(TRUST) || now < *swept_at {
                entries.retain(|_, e| now < e.confirmed_at.saturating_add(TRUST));
                *swept_at = now;
            }
        }
        entries.insert(
            token_hash,
            Entry {
                session,
                user,
                confirmed_at: now,
            },
        );
    }

    /// Forgets one session (signed out).
    pub fn remove(&self, token_hash: &[u8; 32]) {
        self.lock().remove(token_hash);
    }

    /// Forgets every session of a user (password changed).
    pub fn remove_user(&self, user_id: i64) {
        self.lock().retain(|_, e| e.user.id != user_id);
    }
}
