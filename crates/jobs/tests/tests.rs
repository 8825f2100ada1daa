//! Behaviour tests for `switchboard-jobs`, against real databases: each scenario runs on a
//! SQLite file and, when `SWITCHBOARD_TEST_POSTGRES` is set, on a PostgreSQL database made for
//! it (see `util.rs`).

#[macro_use]
mod util;

mod backup;
mod cleanup;
mod retention;
