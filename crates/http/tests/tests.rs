//! The HTTP transport over real sockets on 127.0.0.1, each test bounded in time.

mod files;
mod h1;
mod limits;
mod protocols;
mod shutdown;
mod tls;
mod util;
