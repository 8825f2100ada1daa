//! Restoring a backup into a database, all or nothing.
//!
//! The file is checked first, whole: its checksum, then that its engine matches the target's
//! and that its schema is one this build knows. Then the target: a database with tables in
//! it is refused unless `force` (a restore replaces, it never merges), and so is a SQLite file
//! a running server holds. Only then is anything written:
//!
//! - **SQLite**: the database is unpacked beside the target under a dot-name, checked with
//!   `PRAGMA integrity_check`, and renamed over the target (its old `-wal` and `-shm` removed
//!   first, so none of the old database's log is replayed into the new one). A failure at any
//!   step leaves the target as it was.
//! - **PostgreSQL**: the dump is fed to `psql` inside one transaction (`BEGIN`, with `force`
//!   the dropping of every schema, the dump, `COMMIT` only once the whole payload has been
//!   unpacked), with `ON_ERROR_STOP`: an error anywhere rolls everything back.
//!
//! Afterwards the target is opened as a server would open it (migrating it forward if the
//! backup is of an older schema) and its tables counted, for the report.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use switchboard_store::{Backend, Contents, Store};

use crate::backup::blocking;
use crate::error::JobError;
use crate::format::{self, Header, Verified};
use crate::pgtools;

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// What the backup held.
    pub header: Header,
    /// Whether there were tables in the target that the restore replaced (`force`).
    pub replaced: bool,
    /// The target's tables afterwards, with their row counts.
    pub tables: Vec<(String, u64)>,
    /// The target's schema version afterwards (newer than the backup's if it was migrated).
    pub schema_version: i64,
}

/// Drops every schema but PostgreSQL's own, and makes `public` anew: what `force` does first,
/// inside the restore's transaction.
const DROP_EVERYTHING: &str = "DO $switchboard$ DECLARE s name; BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END $switchboard$;
CREATE SCHEMA public;
";

/// Restores the backup at `file` into the database at `url`.
pub async fn restore(file: &Path, url: &str, force: bool) -> Result<Restored, JobError> {
    let checked = file.to_owned();
    let verified = blocking(move || format::verify(&checked)).await?;
    let header = verified.header.clone();
    let (backend, sqlite_path) = switchboard_store::url_target(url)?;
    let Some(engine) = header.backend() else {
        return Err(JobError::Refused(format!(
            "{} is a backup of an engine this build does not know ({:?})",
            file.display(),
            header.engine
        )));
    };
    if engine != backend {
        return Err(JobError::Refused(format!(
            "{} is a backup of a {engine} database; --database names a {backend} one",
            file.display()
        )));
    }
    let known = switchboard_store::latest_schema_version(backend);
    if header.schema_version > known {
        return Err(JobError::Refused(format!(
            "{} has schema version {}, newer than this build's {known}: restore it with a newer \
             switchboard",
            file.display(),
            header.schema_version
        )));
    }
    let psql = match backend {
        Backend::Postgres => Some(pgtools::find("psql")?),
        Backend::Sqlite => None,
    };
    let replaced = match switchboard_store::contents(url).await? {
        Contents::Missing => false,
        Contents::Tables(tables) if tables.is_empty() => false,
        Contents::Tables(tables) if !force => {
            return Err(JobError::Refused(format!(
                "the target database is not empty ({} tables: {}); pass --force to replace it",
                tables.len(),
                summary(&tables)
            )))
        }
        Contents::Tables(_) => true,
    };
    match (sqlite_path, psql) {
        (Some(target), _) => restore_sqlite(file, verified, &target).await?,
        (None, Some(psql)) => {
            let (file, url) = (file.to_owned(), url.to_owned());
            blocking(move || restore_postgres(&psql, &file, &verified, &url, replaced)).await?
        }
        (None, None) => unreachable!("a PostgreSQL target has psql"),
    }
    let store = Store::open(url).await?;
    let counted =
        async { Ok::<_, JobError>((store.row_counts().await?, store.schema_version().await?)) }
            .await;
    store.close().await;
    let (tables, schema_version) = counted?;
    tracing::info!(file = %file.display(), replaced, "backup restored");
    Ok(Restored {
        header,
        replaced,
        tables,
        schema_version,
    })
}

/// The first few table names, for a message.
fn summary(tables: &[String]) -> String {
    let mut shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    if tables.len() > shown.len() {
        shown.push("...");
    }
    shown.join(", ")
}

/// `NAME-wal`, `NAME-shm` beside `db`.
fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}

async fn restore_sqlite(file: &Path, verified: Verified, target: &Path) -> Result<(), JobError> {
    if switchboard_store::sqlite_in_use(target) {
        return Err(JobError::Refused(format!(
            "{} is in use by a running server: stop it before restoring",
            target.display()
        )));
    }
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    std::fs::create_dir_all(&dir)
        .map_err(|e| JobError::io(format!("cannot create {}", dir.display()), e))?;
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let partial = dir.join(format!(".{name}.restore-partial"));
    let _ = std::fs::remove_file(&partial);
    let guard = RemoveOnDrop(partial.clone());
    let (from, into) = (file.to_owned(), partial.clone());
    blocking(move || {
        let mut out = File::create(&into)
            .map_err(|e| JobError::io(format!("cannot create {}", into.display()), e))?;
        format::unpack(&from, &verified, &mut out, &|| true)?;
        out.sync_all()
            .map_err(|e| JobError::io(format!("cannot write {}", into.display()), e))
    })
    .await?;
    switchboard_store::check_sqlite_file(&partial)
        .await
        .map_err(|e| JobError::Corrupt(format!("{}: {e}", file.display())))?;
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(sidecar(target, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(JobError::io(
                    format!("cannot remove the old {suffix} file"),
                    e,
                ))
            }
            _ => {}
        }
    }
    std::fs::rename(&partial, target).map_err(|e| {
        JobError::io(
            format!("cannot move the restored file to {}", target.display()),
            e,
        )
    })?;
    std::mem::forget(guard);
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn restore_postgres(
    psql: &Path,
    file: &Path,
    verified: &Verified,
    url: &str,
    replace: bool,
) -> Result<(), JobError> {
    let mut child = pgtools::command(psql, url)
        .args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| JobError::Tool(format!("cannot run {}: {e}", psql.display())))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let fed = (|| {
        let begin = if replace {
            format!("BEGIN;\n{DROP_EVERYTHING}")
        } else {
            "BEGIN;\n".to_owned()
        };
        stdin
            .write_all(begin.as_bytes())
            .map_err(|e| JobError::io("cannot write to psql".into(), e))?;
        format::unpack(file, verified, &mut stdin, &|| true)?;
        // Only a whole payload is committed; psql ending without this rolls it all back.
        stdin
            .write_all(b"\nCOMMIT;\n")
            .map_err(|e| JobError::io("cannot write to psql".into(), e))
    })();
    if fed.is_err() {
        // Close the connection before anything could commit (nothing can: no COMMIT was sent).
        let _ = child.kill();
    }
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| JobError::Tool(format!("psql: {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    if !status.success() && status.code().is_some() {
        // psql's own word beats our broken pipe.
        return Err(JobError::Tool(format!(
            "the restore failed and was rolled back: psql: {}",
            pgtools::last_line(&stderr)
        )));
    }
    fed?;
    if !status.success() {
        return Err(JobError::Tool(format!("psql ended with {status}")));
    }
    Ok(())
}
