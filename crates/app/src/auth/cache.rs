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
//!
//! An entry also keeps the body of `GET /api/profile` for its session, made at the first hit
//! after each confirmation: a signed-in request answered from here costs the token's hash and
//! a map lookup, not the JSON and its dates written out again.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use switchboard_store::{SessionInfo, Timestamp, User};

/// How long a database confirmation is trusted.
pub const TRUST: Duration = Duration::from_secs(1);

/// Entries past this count trigger a sweep of the stale ones.
const SWEEP_AT: usize = 4096;

struct Entry {
    session: SessionInfo,
    user: User,
    confirmed_at: Timestamp,
    /// The profile's body (see [`SessionCache::profile`]); made again with the entry.
    profile: OnceLock<Bytes>,
}

impl Entry {
    fn vouches_at(&self, now: Timestamp) -> bool {
        now < self.confirmed_at.saturating_add(TRUST)
            && now >= self.confirmed_at
            && now < self.session.expires_at
    }
}

/// The cache of verified sessions, keyed by token hash.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// When stale entries were last swept.
    swept_at: Mutex<Timestamp>,
    /// Recent revocations, by token hash and by user: a request that read a session from the
    /// database just before it was revoked must not put it back here afterwards.
    revoked: Mutex<Revoked>,
}

#[derive(Default)]
struct Revoked {
    sessions: HashMap<[u8; 32], Timestamp>,
    users: HashMap<i64, Timestamp>,
}

impl Revoked {
    fn forget_before(&mut self, cutoff: Timestamp) {
        self.sessions.retain(|_, at| *at > cutoff);
        self.users.retain(|_, at| *at > cutoff);
    }
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
        entry
            .vouches_at(now)
            .then(|| (entry.session, entry.user.clone()))
    }

    /// The body of the session's profile answer, if the cache vouches for the session now
    /// (as [`get`](Self::get)): made by `make` at the first ask after each confirmation, then
    /// shared (a `Bytes` clone) until the entry is confirmed again or removed.
    pub fn profile(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
        make: impl FnOnce(&SessionInfo, &User) -> Bytes,
    ) -> Option<Bytes> {
        let entries = self.lock();
        let entry = entries.get(token_hash)?;
        if !entry.vouches_at(now) {
            return None;
        }
        Some(
            entry
                .profile
                .get_or_init(|| make(&entry.session, &entry.user))
                .clone(),
        )
    }

    fn revoked(&self) -> std::sync::MutexGuard<'_, Revoked> {
        self.revoked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a session the database just confirmed at `now`, unless it (or its user's
    /// sessions) was revoked within the trust period: the confirmation may predate that.
    pub fn put(&self, token_hash: [u8; 32], session: SessionInfo, user: User, now: Timestamp) {
        {
            let mut revoked = self.revoked();
            revoked.forget_before(now.saturating_sub(TRUST));
            if revoked.sessions.contains_key(&token_hash) || revoked.users.contains_key(&user.id) {
                return;
            }
        }
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
                profile: OnceLock::new(),
            },
        );
    }

    /// Forgets one session (signed out at `now`).
    pub fn remove(&self, token_hash: &[u8; 32], now: Timestamp) {
        self.revoked().sessions.insert(*token_hash, now);
        self.lock().remove(token_hash);
    }

    /// Forgets every session of a user (password changed at `now`).
    pub fn remove_user(&self, user_id: i64, now: Timestamp) {
        self.revoked().users.insert(user_id, now);
        self.lock().retain(|_, e| e.user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::Role;

    fn user() -> User {
        User {
            id: 7,
            username: "ann".into(),
            role: Role::User,
            created_at: Timestamp::from_millis(0),
        }
    }

    fn session(expires: i64) -> SessionInfo {
        SessionInfo {
            user_id: 7,
            created_at: Timestamp::from_millis(0),
            last_seen_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(expires),
        }
    }

    #[test]
    fn trusts_for_a_second_then_asks_again() {
        let cache = SessionCache::default();
        let t = Timestamp::from_millis(10_000);
        cache.put([1; 32], session(1_000_000), user(), t);
        assert!(cache
            .get(&[1; 32], t.saturating_add(Duration::from_millis(999)))
            .is_some());
        assert!(cache.get(&[1; 32], t.saturating_add(TRUST)).is_none());
    }

    #[test]
    fn the_profile_is_made_once_per_confirmation() {
        let cache = SessionCache::default();
        let t = Timestamp::from_millis(10_000);
        let made = std::cell::Cell::new(0);
        let make = |_: &SessionInfo, u: &User| {
            made.set(made.get() + 1);
            Bytes::from(format!("{}#{}", u.username, made.get()))
        };
        assert!(
            cache.profile(&[1; 32], t, make).is_none(),
            "nothing cached yet"
        );
        cache.put([1; 32], session(1_000_000), user(), t);
        assert_eq!(cache.profile(&[1; 32], t, make).unwrap(), "ann#1");
        let later = t.saturating_add(Duration::from_millis(500));
        assert_eq!(cache.profile(&[1; 32], later, make).unwrap(), "ann#1");
        assert_eq!(made.get(), 1);
        // Stale: the database must be asked again, and the answer made anew after.
        assert!(cache
            .profile(&[1; 32], t.saturating_add(TRUST), make)
            .is_none());
        let again = t.saturating_add(TRUST);
        cache.put([1; 32], session(1_000_000), user(), again);
        assert_eq!(cache.profile(&[1; 32], again, make).unwrap(), "ann#2");
        // Expired or signed out: nothing.
        cache.put([2; 32], session(10_500), user(), t);
        assert!(cache.profile(&[2; 32], later, make).is_none());
        cache.remove(&[1; 32], again);
        assert!(cache.profile(&[1; 32], again, make).is_none());
    }

    #[test]
    fn a_confirmation_racing_a_revocation_is_not_kept() {
        let cache = SessionCache::default();
        let t = Timestamp::from_millis(10_000);
        // Signed out at t; a request that read the session just before puts it back at t.
        cache.remove(&[1; 32], t);
        cache.put([1; 32], session(1_000_000), user(), t);
        assert!(cache.get(&[1; 32], t).is_none());
        // Likewise for every session of a user whose password changed.
        cache.remove_user(7, t);
        cache.put([2; 32], session(1_000_000), user(), t);
        assert!(cache.get(&[2; 32], t).is_none());
        // Later confirmations are kept again.
        let later = t.saturating_add(TRUST);
        cache.put([3; 32], session(1_000_000), user(), later);
        assert!(cache.get(&[3; 32], later).is_some());
    }
}
