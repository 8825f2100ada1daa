//! [`Cache`]: a site directory's files as last read, so that a request for one costs no
//! system call: no open, stat, read or path resolution per request. A copy is trusted for the
//! recheck period (`AppConfig::site_recheck`, a second by default); then the first request to
//! find it due looks at the disk again (the others go on with the copy meanwhile), and a file
//! whose length, modification time or inode changed is read again, its compressed forms made
//! again. nginx's `open_file_cache` works the same way, with a minute.
//!
//! Entries are keyed by the request's path as it came, so a hit costs one map lookup; each
//! spelling of a file is an entry of its own, and the cache is bounded in entries, in bytes
//! held and in files kept open: past any, a file is served from the disk, uncompressed, as it always was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use super::asset::{Asset, Stamp};
use crate::error::ApiError;

/// The most paths the cache keeps.
const MAX_ENTRIES: usize = 4096;
/// The most bytes its copies and compressed forms may hold.
const MAX_HELD: usize = 64 << 20;
/// The most files it keeps open (large files and large compressed forms: each is a file
/// descriptor for as long as it is kept).
const MAX_OPEN: usize = 256;

/// The site directory's files as last read.
#[derive(Debug)]
pub(super) struct Cache {
    root: PathBuf,
    recheck_ms: u64,
    epoch: Instant,
    entries: RwLock<Entries>,
    /// One look at the disk at a time: a file read and compressed once, however many
    /// requests came for it before it was.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Box<str>, Arc<Cached>>,
    /// Bytes held by every entry's copies.
    held: usize,
    /// Entries holding an open file.
    open: usize,
}

#[derive(Debug)]
struct Cached {
    asset: Arc<Asset>,
    /// When the disk was last looked at for it, in milliseconds since the cache's epoch.
    checked: AtomicU64,
}

/// What a look at the disk found.
enum Found {
    Unchanged,
    Loaded(Arc<Asset>),
}

impl Cache {
    /// The files under `root` (canonical), trusted for `recheck` after each look.
    pub(super) fn new(root: PathBuf, recheck: Duration) -> Cache {
        Cache {
            root,
            recheck_ms: u64::try_from(recheck.as_millis()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
            entries: RwLock::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `path`'s file without a look at the disk: a copy checked within the recheck period.
    /// `None` when there is none, or when it is due and this request is the one to look.
    pub(super) fn fresh(&self, path: &str) -> Option<Arc<Asset>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let cached = entries.map.get(path)?;
        let checked = cached.checked.load(Ordering::Relaxed);
        let now = self.now_ms();
        if now.saturating_sub(checked) < self.recheck_ms {
            return Some(Arc::clone(&cached.asset));
        }
        // Due: whoever moves the time on looks; the others keep the copy until it has.
        match cached
            .checked
            .compare_exchange(checked, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => None,
            Err(_) => Some(Arc::clone(&cached.asset)),
        }
    }

    /// `path`'s file, as the disk has it now: the copy when the file has not changed, else
    /// read again (and kept, while the cache has room). 404 for a path that is not a file of
    /// the site.
    pub(super) async fn get(&self, path: &str) -> Result<Arc<Asset>, ApiError> {
        let relative = super::safe_relative(path).ok_or_else(ApiError::not_found)?;
        let _one = self.loading.lock().await;
        let (previous, room) = {
            let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
            let previous = entries.map.get(path).map(|c| Arc::clone(&c.asset));
            let room = entries.map.len() < MAX_ENTRIES && entries.held < MAX_HELD;
            (previous, room)
        };
        let keep = previous.is_some() || room;
        let root = self.root.clone();
        let stamp = previous.as_ref().and_then(|p| p.stamp);
        let found = tokio::task::spawn_blocking(move || look(&root, &relative, stamp, keep)).await;
        match (found, previous) {
            (Ok(Some(Found::Unchanged)), Some(previous)) => {
                let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(cached) = entries.map.get(path) {
                    cached.checked.store(self.now_ms(), Ordering::Relaxed);
                }
                Ok(previous)
            }
            (Ok(Some(Found::Loaded(asset))), _) => {
                if keep {
                    self.keep(path, Arc::clone(&asset));
                }
                Ok(asset)
            }
            _ => {
                self.forget(path);
                Err(ApiError::not_found())
            }
        }
    }

    /// Keeps `asset` for `path`, in place of what was there, if it fits.
    fn keep(&self, path: &str, asset: Arc<Asset>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = entries.map.remove(path) {
            entries.held -= old.asset.held();
            entries.open -= old.asset.open_files();
        }
        let held = asset.held();
        let open = asset.open_files();
        if entries.map.len() >= MAX_ENTRIES
            || entries.held + held > MAX_HELD
            || entries.open + open > MAX_OPEN
        {
            return;
        }
        entries.held += held;
        entries.open += open;
        let cached = Cached {
            asset,
            checked: AtomicU64::new(self.now_ms()),
        };
        entries.map.insert(path.into(), Arc::new(cached));
    }

    fn forget(&self, path: &str) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = entries.map.remove(path) {
            entries.held -= old.asset.held();
            entries.open -= old.asset.open_files();
        }
    }
}

/// Finds `relative` under `root` (a directory's `index.html` for a directory) and, unless it
/// still matches `stamp`, reads it. `None`: no such file within the site. Blocking.
fn look(root: &Path, relative: &Path, stamp: Option<Stamp>, compress: bool) -> Option<Found> {
    let mut path = root.join(relative);
    let mut meta = std::fs::metadata(&path).ok()?;
    if meta.is_dir() {
        path.push("index.html");
        meta = std::fs::metadata(&path).ok()?;
    }
    // Symbolic links may point anywhere: what counts is where the file really is, looked at
    // again each time, as a link may have been moved.
    let real = std::fs::canonicalize(&path).ok()?;
    if !real.starts_with(root) || !meta.is_file() {
        return None;
    }
    if stamp == Some(Stamp::of(&meta)) {
        return Some(Found::Unchanged);
    }
    match Asset::load(&real, &meta, compress) {
        Ok(asset) => Some(Found::Loaded(Arc::new(asset))),
        Err(e) => {
            tracing::debug!(path = %real.display(), error = %e, "cannot read a site file");
            None
        }
    }
}
