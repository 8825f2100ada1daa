//! Password hashing with Argon2id (OWASP Password Storage cheat sheet: m ≥ 19 MiB, t = 2,
//! p = 1), stored as PHC strings.
//!
//! Hashing is deliberately slow and memory-hungry, so it runs on tokio's blocking pool, never
//! on the async workers, and a semaphore caps how many run at once (one per core): a burst of
//! logins queues here, boundedly, instead of stalling other requests or taking 19 MiB times
//! the burst.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit.
    waiting: Arc<AtomicUsize>,
    /// A hash of no one's password, verified when the user does not exist, so that a wrong
    /// name and a wrong password take about the same time.
    decoy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Argon2id with `memory_kib` of memory, two passes, one lane.
    pub fn new(memory_kib: u32) -> Result<Self, ApiError> {
        let params = Params::new(memory_kib, 2, 1, None).map_err(ApiError::internal)?;
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        let decoy = hash_with(&params, "decoy password, never anyone's")?;
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            decoy: decoy.into(),
        })
    }

    /// The PHC string for `password`, with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let params = self.params.clone();
        self.off_thread(move || hash_with(&params, &password))
            .await?
    }

    /// Whether `password` matches the stored PHC string. With `None` (no such user), verifies
    /// against the decoy and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.to_string());
        let ok = self
            .off_thread(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return false;
                };
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .await?;
        Ok(real && ok)
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the job,
    /// so a request abandoned mid-hash (timeout, reset) still holds its slot until the hash
    /// ends: the cap bounds the hashes really running. Past `MAX_WAITING` queued, the answer
    /// is 503 at once rather than a longer queue.
    async fn off_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = WaitingGuard::enter(&self.waiting);
                if waiting.count > MAX_WAITING {
                    return Err(ApiError {
                        retry_after: Some(1),
                        ..ApiError::new(
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "too many sign-ins at once; try again shortly",
                        )
                    });
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(ApiError::internal)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

/// Hash requests that may wait for a permit before more are refused with 503.
const MAX_WAITING: usize = 256;

/// Counts a request among the waiting while it lives.
struct WaitingGuard<'a> {
    waiting: &'a AtomicUsize,
    count: usize,
}

impl<'a> WaitingGuard<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Self {
        let count = waiting.fetch_add(1, Ordering::Relaxed) + 1;
        WaitingGuard { waiting, count }
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_phc_strings() {
        let passwords = Passwords::new(19 * 1024).unwrap();
        let hash = passwords
            .hash("correct horse battery".into())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords
            .verify("correct horse battery".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!passwords
            .verify("wrong horse battery".into(), Some(hash))
            .await
            .unwrap());
        assert!(!passwords
            .verify("decoy password, never anyone's".into(), None)
            .await
            .unwrap());
    }
}
