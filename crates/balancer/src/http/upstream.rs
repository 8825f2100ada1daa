//! Keep-alive connections to backends, pooled per backend.
//!
//! The proxy checks a connection out *before* it hands a request over: connecting is where
//! refusals and resets-on-connect happen, and until the request is sent it can still go to
//! another backend whole. An idle connection the backend has closed (or sent anything on)
//! is dropped at checkout, before a byte is written to it. A connection goes back to its pool
//! when the response's body has ended cleanly and the response allowed keep-alive. The
//! connections are `client.rs`'s own (why not hyper's is said there).

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use super::client::Conn;

/// Idle connections kept per backend.
const IDLE_PER_BACKEND: usize = 64;

/// The connections to every backend.
#[derive(Debug, Default)]
pub struct Upstreams {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
}

impl Upstreams {
    /// A connection to `addr`: an idle one if any is still good (unless `fresh`), else a new
    /// one within `timeout`.
    ///
    /// `fresh` is for a request sent again after a connection failed under it: a backend
    /// that was killed resets all its connections at once, and the others, idle in the pool,
    /// look good until a request is written to one, which would spend the request's one
    /// replay on a second dead connection. A new connection to a dead backend is refused
    /// instead, and a refusal sends the request on to another backend whole.
    pub(super) async fn checkout(
        &self,
        addr: &str,
        timeout: Duration,
        fresh: bool,
    ) -> io::Result<Conn> {
        if !fresh {
            while let Some(mut conn) = self.pop_idle(addr) {
                // Closed while idle: drop it, try the next.
                if conn.is_usable() {
                    return Ok(conn);
                }
            }
        }
        // Boxed: connecting (name resolution included) is a large future, and unboxed it
        // would size every request's, most of which take a pooled connection.
        Box::pin(Conn::connect(addr, timeout)).await
    }

    /// The connection to `addr` that went idle last, if any.
    fn pop_idle(&self, addr: &str) -> Option<Conn> {
        let mut pools = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        pools.get_mut(addr).and_then(Vec::pop)
    }

    /// Returns a connection whose response is done.
    pub(super) fn checkin(&self, addr: &str, conn: Conn) {
        let mut pools = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before inserting: the key is made once per backend, not per request.
        let pool = match pools.get_mut(addr) {
            Some(pool) => pool,
            None => pools.entry(addr.to_string()).or_default(),
        };
        if pool.len() < IDLE_PER_BACKEND {
            pool.push(conn);
        }
    }
}
