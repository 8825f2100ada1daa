//! The site: the pages built into the binary, or a directory's files (`--site DIR`), served
//! from memory.
//!
//! Written here rather than taken from tower-http's `ServeDir` because that has no ETag, and
//! conditional requests (ETag and Last-Modified, answered 304) are part of the contract; and
//! because a file served per request (stat, open, read, a compression layer compressing it
//! again) ran at 0.17-0.38x nginx's requests per second.
//!
//! - `asset.rs`: [`Asset`](asset::Asset), a file ready to send: in memory up to 64 KiB, else
//!   the file kept open; its gzip and brotli forms made once, for the types that compress (a
//!   large one in an anonymous file in memory, to be sent with `sendfile(2)` too); its
//!   validators and header values.
//! - `cache.rs`: a directory's assets by request path, checked against the disk at most once
//!   per `AppConfig::site_recheck`, bounded in entries and bytes.
//! - `answer.rs`: the answer for an asset: the form the client accepts (`Vary:
//!   Accept-Encoding`), 304, `Range` (206, 416), `HEAD`.
//! - `body.rs`: a kept-open file as a body, for the servers that cannot send it with
//!   `sendfile(2)` (the response also carries a [`FileRegion`](switchboard_net::FileRegion)
//!   for those that can).
//!
//! Two ways in, as for the other routes: [`cached`], the fast path (`service.rs`), answers
//! from memory what is there and trusted, with no wait; [`serve`], the router's handler for
//! the rest (a first request, a file due for a look at the disk), reads the disk on the
//! blocking pool and fills the cache.
//!
//! No request reaches a file outside the site: the path is percent-decoded once, then any
//! `..`, `.`, backslash, NUL or dot-file segment is refused (404), and the resolved file must
//! still lie under the site's canonical root (symbolic links included), checked on every look
//! at the disk.

mod answer;
mod asset;
mod body;
mod cache;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::{App, Site};
use asset::Asset;
use cache::Cache;

/// The site's files.
#[derive(Debug)]
pub struct SiteFiles(Files);

#[derive(Debug)]
enum Files {
    /// Built in, held in memory with their validators and compressed forms made once.
    Embedded(HashMap<&'static str, Arc<Asset>>),
    /// Under a canonical directory, cached.
    Dir(Cache),
}

const EMBEDDED: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../../../site/index.html")),
    ("style.css", include_bytes!("../../../site/style.css")),
];

impl SiteFiles {
    /// Loads the site: the embedded files, or checks the directory exists. A directory's
    /// files are trusted for `recheck` after each look at them.
    pub fn load(site: &Site, recheck: Duration) -> Result<SiteFiles, String> {
        match site {
            Site::Embedded => {
                // The binary's files change only with the binary: its start stands in for
                // their modification time.
                let started = asset::truncate_to_seconds(SystemTime::now());
                let assets = EMBEDDED
                    .iter()
                    .map(|(name, body)| (*name, Arc::new(Asset::embedded(name, body, started))))
                    .collect();
                Ok(SiteFiles(Files::Embedded(assets)))
            }
            Site::Dir(dir) => {
                let root = dir
                    .canonicalize()
                    .map_err(|e| format!("--site {}: {e}", dir.display()))?;
                if !root.is_dir() {
                    return Err(format!("--site {}: not a directory", dir.display()));
                }
                Ok(SiteFiles(Files::Dir(Cache::new(root, recheck))))
            }
        }
    }

    /// `path`'s file, if it can be had at once: an embedded one, or a trusted copy.
    fn at_once(&self, path: &str) -> Option<Arc<Asset>> {
        match &self.0 {
            Files::Embedded(assets) => {
                let key = match path.strip_prefix('/')? {
                    "" => "index.html",
                    key => key,
                };
                assets.get(key).cloned()
            }
            Files::Dir(cache) => cache.fresh(path),
        }
    }

    async fn find(&self, path: &str) -> Result<Arc<Asset>, ApiError> {
        match &self.0 {
            Files::Embedded(assets) => {
                let relative = safe_relative(path).ok_or_else(ApiError::not_found)?;
                let key = if relative.as_os_str().is_empty() {
                    "index.html"
                } else {
                    relative.to_str().unwrap_or("")
                };
                assets.get(key).cloned().ok_or_else(ApiError::not_found)
            }
            Files::Dir(cache) => cache.get(path).await,
        }
    }
}

/// The fast path (`GET` and `HEAD`): the answer from memory, or `None` for the router
/// ([`serve`]) when the file is not there or is due for a look at the disk.
pub fn cached(app: &App, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let asset = app.site().at_once(uri.path())?;
    Some(answer::respond(&asset, headers))
}

/// `GET` (and `HEAD`) of a site path.
pub async fn serve(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::not_found().into_response();
    }
    match app.site().find(uri.path()).await {
        Ok(asset) => answer::respond(&asset, &headers),
        Err(e) => e.into_response(),
    }
}

/// The path under the site root that `path` names, or `None` if it tries to leave it or is
/// not a plain name.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    if decoded.contains(['\0', '\\']) {
        return None;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(':') {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

fn content_type(path: &Path) -> HeaderValue {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    HeaderValue::from_static(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_site() {
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        assert_eq!(safe_relative("/a/b.css"), Some(PathBuf::from("a/b.css")));
        assert_eq!(safe_relative("//a//b"), Some(PathBuf::from("a/b")));
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a/%2e%2e%2f%2e%2e%2fx",
            "/..%5c..%5cwindows",
            "/.env",
            "/a/.git/config",
            "/x%00.html",
            "/C:/Windows",
            "/%ff",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }
}
