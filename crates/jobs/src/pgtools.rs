//! Running PostgreSQL's own tools: `pg_dump` for backups, `psql` for restores.
//!
//! They are looked up on the `PATH` first, so that a missing one is reported in words before
//! anything starts. The connection URL goes to them without its password, which travels in
//! `PGPASSWORD` instead: a command line is visible to every user of the machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::JobError;

/// The program `name` on the `PATH`, or an error saying it is not there and how to get it.
pub fn find(name: &str) -> Result<PathBuf, JobError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            JobError::Tool(format!(
                "{name} is not on the PATH: PostgreSQL backups and restores need PostgreSQL's \
                 client tools (Debian: apt-get install postgresql-client)"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program` set up to connect to `url`: `--dbname` without the password, the password (if
/// any) in the environment.
pub fn command(program: &Path, url: &str) -> Command {
    let (url, password) = split_password(url);
    let mut cmd = Command::new(program);
    cmd.arg("--dbname").arg(url);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.env("PGAPPNAME", "switchboard");
    cmd
}

/// `postgres://user:secret@host/db` -> (`postgres://user@host/db`, `Some("secret")`), the
/// password percent-decoded.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    let password = percent_encoding::percent_decode_str(password)
        .decode_utf8_lossy()
        .into_owned();
    (format!("{scheme}://{user}@{host}{tail}"), Some(password))
}

/// The last line a tool wrote on standard error, for an error message.
pub fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no message")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://ann:s%40cret@db:5432/app?sslmode=disable"),
            (
                "postgres://ann@db:5432/app?sslmode=disable".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:5432/test"),
            ("postgres://postgres@127.0.0.1:5432/test".to_owned(), None)
        );
    }

    #[test]
    fn a_missing_tool_is_named() {
        let err = find("no-such-tool-here").unwrap_err().to_string();
        assert!(
            err.contains("no-such-tool-here is not on the PATH"),
            "{err}"
        );
    }
}
