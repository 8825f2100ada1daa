//! Behaviour tests for `switchboard-store`, against real databases.
//!
//! Each behaviour is written once, as an `async fn(&Store)`, and `both_backends!` runs it on a
//! fresh SQLite file and, when `SWITCHBOARD_TEST_POSTGRES` holds a URL, in a fresh PostgreSQL
//! schema (see `util.rs`). Tests about opening databases are in `open.rs`; writers racing on
//! one database, in `concurrency.rs`.

#[macro_use]
mod util;

mod concurrency;
mod feed;
mod open;
mod sessions;
mod throttle;
mod users;
