//! [`FileRegion`]: a response body that is part of an open file, for a server that can send it
//! from the file itself.

use std::fs::File;
use std::sync::Arc;

/// Put in a response's extensions by a service whose body is `len` bytes of `file` from
/// `offset` (a large static file, say). A server that can move them from the file to the socket
/// in the kernel (`sendfile(2)` on plain TCP, HTTP/1.1) does so and never reads the body; any
/// other (TLS, HTTP/2) reads the body as usual, so the body must hold the same bytes. Here, so
/// that the application needs no server to say it.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The open file; shared, as it stays open for as long as a cache keeps it.
    pub file: Arc<File>,
    /// Where the bytes begin.
    pub offset: u64,
    /// How many there are: the body's length.
    pub len: u64,
}
