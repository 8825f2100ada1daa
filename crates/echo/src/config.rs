//! The message server's typed configuration. The binary builds it from flags; tests build it
//! directly.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs its conversations with many clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Model {
    /// One tokio task per client on an event loop: thousands of clients for a few kilobytes
    /// each. The right choice almost always.
    #[default]
    Async,
    /// One OS thread per client, blocking I/O: simple and fast for tens or hundreds of
    /// clients, but every client costs a thread (a stack, a scheduler entry), so it is capped
    /// by the connection limit.
    Threaded,
    /// One client at a time, the others wait in the accept backlog until it leaves. Only for
    /// seeing why servers are concurrent.
    Sequential,
}

impl Model {
    /// Every model, in the order `--help` lists them.
    pub const ALL: [Model; 3] = [Model::Async, Model::Threaded, Model::Sequential];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Async => "async",
            Model::Threaded => "threaded",
            Model::Sequential => "sequential",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown model '{s}' (expected async, threaded or sequential)"))
    }
}

/// Everything the message server needs to know besides where to listen.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// The concurrency model for TCP clients.
    pub model: Model,
    /// Answer UDP datagrams on the same port as TCP.
    pub udp: bool,
    /// With a prefix, messages are lines and each is answered with the prefix before it;
    /// without, bytes are echoed as they are.
    pub prefix: Option<Arc<[u8]>>,
    /// Clients served at once; one more is told `ERR server busy` and closed.
    pub max_connections: usize,
    /// The longest line, newline excluded, in lines framing.
    pub max_line: usize,
    /// A client silent this long is closed. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// After shutdown starts, how long open conversations may go on before they are closed.
    pub grace: Duration,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            model: Model::Async,
            udp: true,
            prefix: None,
            max_connections: 10_000,
            max_line: 64 * 1024,
            idle_timeout: Some(Duration::from_secs(300)),
            grace: Duration::from_secs(5),
        }
    }
}

impl EchoConfig {
    pub(crate) fn session(&self) -> crate::Session {
        crate::Session::new(self.prefix.clone(), self.max_line)
    }
}
