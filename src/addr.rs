//! Addresses from the command line.

use std::net::SocketAddr;

use switchboard_net::{resolve, ResolveError};

use crate::failure::Failure;

/// Resolves the address given to `flag` (`--listen`, `--admin`, ...): a malformed value is a
/// usage error naming the flag, a name that does not resolve is a runtime failure.
pub async fn listen_addr(flag: &str, value: &str) -> Result<SocketAddr, Failure> {
    match resolve(value).await {
        Ok(addrs) => Ok(addrs[0]),
        Err(e @ ResolveError::Malformed(_)) => Err(Failure::usage(format!("{flag}: {e}"))),
        Err(e) => Err(Failure::runtime(e)),
    }
}
