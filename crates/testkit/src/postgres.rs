//! [`PgDatabase`]: a PostgreSQL database of a test's own, made on the server that
//! `SWITCHBOARD_TEST_POSTGRES` names and dropped when the test ends.
//!
//! A database rather than a schema, for tests that need the whole of one: `pg_dump` and
//! restores work on databases, and advisory locks are per database. Made and dropped with
//! `psql`, which every machine that runs the PostgreSQL tests has beside the server.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming the PostgreSQL server to test against.
pub const POSTGRES_VAR: &str = "SWITCHBOARD_TEST_POSTGRES";

/// A database made for one test; dropped (connections and all) when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// Its name.
    pub name: String,
    /// A URL for it: the server's URL with the database's name in place of its own.
    pub url: String,
    server: String,
}

impl PgDatabase {
    /// A new, empty database; `None`, having said so on stderr, when `SWITCHBOARD_TEST_POSTGRES`
    /// is not set. Fails the test (never skips it) when the variable is set but the database
    /// cannot be made.
    pub fn create(test: &str) -> Option<PgDatabase> {
        let server = match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: {POSTGRES_VAR} is not set, so {test} did not run on PostgreSQL"
                );
                return None;
            }
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sbtest_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        psql(&server, &format!("CREATE DATABASE {name}"));
        Some(PgDatabase {
            url: with_database(&server, &name),
            name,
            server,
        })
    }

    /// Another database on the same server, also dropped with this one: `sibling("b")` for a
    /// test that restores into a second database.
    pub fn sibling(&self, suffix: &str) -> PgDatabase {
        let name = format!("{}_{suffix}", self.name);
        psql(&self.server, &format!("CREATE DATABASE {name}"));
        PgDatabase {
            url: with_database(&self.server, &name),
            name,
            server: self.server.clone(),
        }
    }

    /// Runs `sql` in this database with psql, and returns what it printed, unaligned and
    /// without headers (`psql -At`).
    pub fn query(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d", &self.server, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|e| panic!("{POSTGRES_VAR} is set but psql cannot run: {e}"));
    assert!(
        out.status.success(),
        "{POSTGRES_VAR} is set to {url:?} but `{sql}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `url` with its database (the path after the host) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
