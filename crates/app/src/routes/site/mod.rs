//! The site: the pages built into the binary, or a directory's files (`--site DIR`).
//!
//! Written here rather than taken from tower-http's `ServeDir` because that has no ETag, and
//! conditional requests (ETag and Last-Modified, answered 304) are part of the contract.
//!
//! No request reaches a file outside the site: the path is percent-decoded once, then any
//! `..`, `.`, backslash, NUL or dot-file segment is refused (404), and the resolved file must
//! still lie under the site's canonical root (symbolic links included).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::{App, Site};

/// Files larger than this are streamed from disk rather than read whole.
const STREAM_OVER: u64 = 1024 * 1024;

/// One file ready to send.
#[derive(Debug)]
pub struct Asset {
    content: Content,
    content_type: HeaderValue,
    etag: HeaderValue,
    last_modified: SystemTime,
}

#[derive(Debug)]
enum Content {
    /// In memory (embedded pages, small files).
    Memory(Bytes),
    /// An open file of this length, streamed.
    File(tokio::fs::File, u64),
}

impl Asset {
    /// Another handle on an in-memory asset (cheap: the bytes are shared).
    fn share(&self) -> Option<Asset> {
        match &self.content {
            Content::Memory(bytes) => Some(Asset {
                content: Content::Memory(bytes.clone()),
                content_type: self.content_type.clone(),
                etag: self.etag.clone(),
                last_modified: self.last_modified,
            }),
            Content::File(..) => None,
        }
    }
}

/// The site's files.
#[derive(Debug)]
pub enum SiteFiles {
    /// Built in, held in memory with their validators computed once.
    Embedded(HashMap<&'static str, Asset>),
    /// Under this canonical directory, read per request.
    Dir(PathBuf),
}

const EMBEDDED: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../../site/index.html")),
    ("style.css", include_bytes!("../../site/style.css")),
];

impl SiteFiles {
    /// Loads the site: the embedded files, or checks the directory exists.
    pub fn load(site: &Site) -> Result<SiteFiles, String> {
        match site {
            Site::Embedded => {
                // The binary's files change only with the binary: its start stands in for
                // their modification time.
                let started = truncate_to_seconds(SystemTime::now());
                let assets = EMBEDDED
                    .iter()
                    .map(|(name, body)| {
                        let digest = Sha256::digest(body);
                        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                        let asset = Asset {
                            content: Content::Memory(Bytes::from_static(body)),
                            content_type: content_type(Path::new(name)),
                            etag: HeaderValue::from_str(&format!("\"{tag}\""))
                                .unwrap_or(HeaderValue::from_static("\"0\"")),
                            last_modified: started,
                        };
                        (*name, asset)
                    })
                    .collect();
                Ok(SiteFiles::Embedded(assets))
            }
            Site::Dir(dir) => {
                let root = dir
                    .canonicalize()
                    .map_err(|e| format!("--site {}: {e}", dir.display()))?;
                if !root.is_dir() {
                    return Err(format!("--site {}: not a directory", dir.display()));
                }
                Ok(SiteFiles::Dir(root))
            }
        }
    }

    async fn find(&self, path: &str) -> Result<Asset, ApiError> {
        let relative = safe_relative(path).ok_or_else(ApiError::not_found)?;
        match self {
            SiteFiles::Embedded(assets) => {
                let key = if relative.as_os_str().is_empty() {
                    "index.html"
                } else {
                    relative.to_str().unwrap_or("")
                };
                assets
                    .get(key)
                    .and_then(Asset::share)
                    .ok_or_else(ApiError::not_found)
            }
            SiteFiles::Dir(root) => read_file(root, &relative).await,
        }
    }
}

async fn read_file(root: &Path, relative: &Path) -> Result<Asset, ApiError> {
    let mut path = root.join(relative);
    let mut meta = tokio::fs::metadata(&path)
        .await
        .map_err(|_| ApiError::not_found())?;
    if meta.is_dir() {
        path.push("index.html");
        meta = tokio::fs::metadata(&path)
            .await
            .map_err(|_| ApiError::not_found())?;
    }
    // Symbolic links may point anywhere: what counts is where the file really is.
    let real = tokio::fs::canonicalize(&path)
        .await
        .map_err(|_| ApiError::not_found())?;
    if !real.starts_with(root) || !meta.is_file() {
        return Err(ApiError::not_found());
    }
    let len = meta.len();
    let content = if len > STREAM_OVER {
        let file = tokio::fs::File::open(&real)
            .await
            .map_err(|_| ApiError::not_found())?;
        Content::File(file, len)
    } else {
        let body = tokio::fs::read(&real)
            .await
            .map_err(|_| ApiError::not_found())?;
        Content::Memory(Bytes::from(body))
    };
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Like nginx: the validator is the length and the modification time.
    let etag = format!("\"{len:x}-{nanos:x}\"");
    Ok(Asset {
        content,
        content_type: content_type(&real),
        etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        last_modified: truncate_to_seconds(modified),
    })
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
        Ok(asset) => respond(asset, &headers),
        Err(e) => e.into_response(),
    }
}

/// The embedded home page's answer, when the pages are the embedded ones.
pub fn embedded_index(files: &SiteFiles, headers: &HeaderMap) -> Option<Response> {
    match files {
        SiteFiles::Embedded(assets) => assets
            .get("index.html")
            .and_then(Asset::share)
            .map(|a| respond(a, headers)),
        SiteFiles::Dir(_) => None,
    }
}

fn respond(asset: Asset, headers: &HeaderMap) -> Response {
    let last_modified = HeaderValue::from_str(&httpdate::fmt_http_date(asset.last_modified))
        .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
    let validators = [
        (header::ETAG, asset.etag.clone()),
        (header::LAST_MODIFIED, last_modified),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if not_modified(&asset, headers) {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, asset.content_type)];
    match asset.content {
        Content::Memory(bytes) => (validators, content_type, bytes).into_response(),
        Content::File(file, len) => (
            validators,
            content_type,
            [(header::CONTENT_LENGTH, HeaderValue::from(len))],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
    }
}

/// RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since.
fn not_modified(asset: &Asset, headers: &HeaderMap) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let ours = asset.etag.to_str().unwrap_or("");
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == ours);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| asset.last_modified <= since)
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

fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + std::time::Duration::from_secs(secs)
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
