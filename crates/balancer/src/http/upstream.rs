//! Keep-alive connections to backends, pooled per backend.
//!
//! The proxy checks a connection out *before* it hands a request over: connecting is where
//! refusals and resets-on-connect happen, and until the request is sent it can still go to
//! another backend whole. A connection goes back to its pool when the response's body is
//! done, if it is still good.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::proxy::UpstreamBody;

/// Idle connections kept per backend.
const IDLE_PER_BACKEND: usize = 64;

/// The connections to every backend.
#[derive(Debug, Default)]
pub struct Upstreams {
    idle: Mutex<HashMap<String, Vec<SendRequest<UpstreamBody>>>>,
}

/// A connection checked out for one request.
#[derive(Debug)]
pub struct Checkout {
    /// The connection.
    pub sender: SendRequest<UpstreamBody>,
}

impl Upstreams {
    /// A ready connection to `addr`: an idle one if any, else a new one within `timeout`.
    pub async fn checkout(&self, addr: &str, timeout: Duration) -> io::Result<Checkout> {
        loop {
            let idle = {
                let mut pools = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                pools.get_mut(addr).and_then(Vec::pop)
            };
            match idle {
                // Closed while idle: drop it, try the next.
                Some(mut sender) if !sender.is_closed() => {
                    if sender.ready().await.is_ok() {
                        return Ok(Checkout { sender });
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "backend connection ended");
            }
        });
        Ok(Checkout { sender })
    }

    /// Returns a connection whose response is done.
    pub fn checkin(&self, addr: &str, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        let mut pools = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before inserting: the key is made once per backend, not per request.
        let pool = match pools.get_mut(addr) {
            Some(pool) => pool,
            None => pools.entry(addr.to_string()).or_default(),
        };
        if pool.len() < IDLE_PER_BACKEND {
            pool.push(sender);
        }
    }
}
