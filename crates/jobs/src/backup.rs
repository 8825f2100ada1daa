//! Taking a backup: a consistent copy of the live database, compressed into a backup file in
//! the backup directory, named by the time it was taken.
//!
//! - **SQLite**: `VACUUM INTO` a snapshot file beside the backups (one read transaction: the
//!   database as it was at that instant, while writers carry on in WAL mode), then the snapshot
//!   is compressed into the backup and deleted. Never a copy of the live file, which could
//!   catch a write half done.
//! - **PostgreSQL**: `pg_dump` (plain SQL, no owners or privileges, so it restores into any
//!   database), its output compressed as it comes. `pg_dump` reads everything in one
//!   repeatable-read transaction, so the dump is consistent while the servers keep writing.
//!
//! Files are written under a dot-name (`.NAME.partial`) and renamed when whole and synced, so
//! a listing never shows half a backup.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use switchboard_store::{Backend, Store, Timestamp};

use crate::error::JobError;
use crate::format::{Header, Writer};
use crate::{pgtools, Cancel};

/// A backup that was written.
#[derive(Debug, Clone)]
pub struct BackupFile {
    /// Where it is.
    pub path: PathBuf,
    /// What it holds.
    pub header: Header,
    /// SHA-256 of the file up to its trailer, in hex.
    pub sha256: String,
    /// The uncompressed size of what it holds.
    pub payload_bytes: u64,
    /// The file's size.
    pub file_bytes: u64,
}

/// The suffix every backup file's name ends with.
pub const SUFFIX: &str = ".backup";

/// `switchboard-2026-11-22T03-00-00.000Z.sqlite.backup`: the time it was taken (UTC, so names
/// sort in time order) and the engine.
pub fn file_name(header: &Header) -> String {
    format!(
        "switchboard-{}.{}{SUFFIX}",
        header.created_at.replace(':', "-"),
        header.engine
    )
}

/// Removes the files it holds when dropped, unless disarmed: a backup that fails or is
/// cancelled leaves nothing behind.
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Takes a backup of `store` (reached at `database_url`, which `pg_dump` needs) into `dir`,
/// creating the directory if needed. `now` is the time the backup is named by.
pub async fn take(
    store: &Store,
    database_url: &str,
    dir: &Path,
    now: Timestamp,
    cancel: &Cancel,
) -> Result<BackupFile, JobError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| JobError::io(format!("cannot create {}", dir.display()), e))?;
    let backend = store.backend();
    // Found before anything starts: a missing pg_dump is the likeliest failure.
    let pg_dump = match backend {
        Backend::Postgres => Some(pgtools::find("pg_dump")?),
        Backend::Sqlite => None,
    };
    let header = Header::new(backend, store.schema_version().await?, now);
    let name = file_name(&header);
    let path = dir.join(&name);
    if path.exists() {
        return Err(JobError::Refused(format!(
            "{} already exists: one backup per millisecond",
            path.display()
        )));
    }
    let partial = dir.join(format!(".{name}.partial"));
    let mut leftovers = Leftovers(vec![partial.clone()]);
    let (sha256, payload_bytes, file_bytes) = match pg_dump {
        None => {
            let snapshot = dir.join(format!(".{name}.snapshot"));
            let _ = std::fs::remove_file(&snapshot);
            leftovers.0.push(snapshot.clone());
            store.snapshot_sqlite(&snapshot).await?;
            let (header, partial, cancel) = (header.clone(), partial.clone(), cancel.clone());
            blocking(move || compress_file(&snapshot, &partial, &header, &cancel)).await?
        }
        Some(pg_dump) => {
            let (header, partial, cancel) = (header.clone(), partial.clone(), cancel.clone());
            let url = database_url.to_owned();
            blocking(move || dump_postgres(&pg_dump, &url, &partial, &header, &cancel)).await?
        }
    };
    std::fs::rename(&partial, &path)
        .map_err(|e| JobError::io(format!("cannot rename {}", partial.display()), e))?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all(); // the rename itself, on disk
    }
    drop(leftovers); // the snapshot goes; the partial name no longer exists
    tracing::info!(file = %path.display(), bytes = file_bytes, payload = payload_bytes, "backup written");
    Ok(BackupFile {
        path,
        header,
        sha256,
        payload_bytes,
        file_bytes,
    })
}

/// Runs blocking file work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| JobError::Failed(format!("the backup's worker failed: {e}")))?
}

/// Copies `from` into `out` in chunks, stopping when `cancel` says so.
fn copy(from: &mut impl Read, out: &mut impl Write, cancel: &Cancel) -> Result<(), JobError> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(JobError::io("cannot read the database's copy".into(), e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| JobError::io("cannot write the backup".into(), e))?;
    }
}

fn compress_file(
    snapshot: &Path,
    partial: &Path,
    header: &Header,
    cancel: &Cancel,
) -> Result<(String, u64, u64), JobError> {
    let mut input = File::open(snapshot)
        .map_err(|e| JobError::io(format!("cannot open {}", snapshot.display()), e))?;
    let mut writer = Writer::create(partial, header)?;
    copy(&mut input, &mut writer, cancel)?;
    writer
        .finish()
        .map_err(|e| JobError::io(format!("cannot finish {}", partial.display()), e))
}

fn dump_postgres(
    pg_dump: &Path,
    url: &str,
    partial: &Path,
    header: &Header,
    cancel: &Cancel,
) -> Result<(String, u64, u64), JobError> {
    let mut writer = Writer::create(partial, header)?;
    let mut child = pgtools::command(pg_dump, url)
        .args(["--format=plain", "--no-owner", "--no-privileges"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| JobError::Tool(format!("cannot run {}: {e}", pg_dump.display())))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Read apart, so a talkative pg_dump never blocks on a full pipe.
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let copied = copy(&mut stdout, &mut writer, cancel);
    if copied.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| JobError::Tool(format!("pg_dump: {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    copied?;
    if !status.success() {
        return Err(JobError::Tool(format!(
            "pg_dump failed ({status}): {}",
            pgtools::last_line(&stderr)
        )));
    }
    writer
        .finish()
        .map_err(|e| JobError::io(format!("cannot finish {}", partial.display()), e))
}
