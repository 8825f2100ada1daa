//! [`Asset`]: one file of the site, ready to send: its bytes (in memory, or the open file when
//! large), its gzip and brotli forms made once, its validators and the header values every
//! answer carries, made once too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

/// Forms up to this size are held in memory and copied to the socket with their head (one
/// write); larger ones are sent from a file by the kernel (`sendfile(2)` where the connection
/// allows it): a large file of the site from the file itself, kept open, a large compressed
/// form from an anonymous file in memory (`memfd_create(2)`). Copied from the process, a 180 KB
/// gzip form ran at 0.54x nginx's sendfile of the same `.gz` file.
pub(super) const IN_MEMORY_UP_TO: u64 = 64 * 1024;
/// Files up to this size, of a type that compresses, get their gzip and brotli forms.
const COMPRESS_UP_TO: u64 = 8 * 1024 * 1024;
/// Brotli's slowest, smallest setting is used up to this size; a faster one past it.
const BEST_UP_TO: usize = 64 * 1024;

/// A file's bytes, as sent without a content coding.
#[derive(Debug, Clone)]
pub(super) enum Content {
    Memory(Bytes),
    /// Kept open; its length when it was opened.
    File(Arc<File>, u64),
}

impl Content {
    pub(super) fn len(&self) -> u64 {
        match self {
            Content::Memory(bytes) => bytes.len() as u64,
            Content::File(_, len) => *len,
        }
    }
}

/// One representation of a file: the file as it is, or one of its compressed forms.
#[derive(Debug)]
pub(super) struct Form {
    pub(super) content: Content,
    /// Bytes of memory it holds (its bytes, or its anonymous file's).
    held: usize,
    /// Strong, and different for each form (RFC 9110 §8.8.3).
    pub(super) etag: HeaderValue,
    /// `Content-Encoding`, for a compressed form.
    pub(super) encoding: Option<HeaderValue>,
}

/// What the file system said of a file, to tell whether it has changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    modified: SystemTime,
    inode: u64,
    device: u64,
}

impl Stamp {
    pub(super) fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
            inode: meta.ino(),
            device: meta.dev(),
        }
    }
}

/// One file of the site.
#[derive(Debug)]
pub(super) struct Asset {
    pub(super) identity: Form,
    pub(super) gzip: Option<Form>,
    pub(super) br: Option<Form>,
    pub(super) content_type: HeaderValue,
    pub(super) last_modified: SystemTime,
    pub(super) last_modified_header: HeaderValue,
    /// `None` for the embedded files, which change only with the binary.
    pub(super) stamp: Option<Stamp>,
}

impl Asset {
    /// An embedded file: validators from its digest, compressed forms made now.
    pub(super) fn embedded(name: &str, body: &'static [u8], started: SystemTime) -> Asset {
        let digest = Sha256::digest(body);
        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let content_type = super::content_type(Path::new(name));
        Asset::new(
            Content::Memory(Bytes::from_static(body)),
            &tag,
            content_type,
            started,
            None,
            true,
        )
    }

    /// A file of the site directory, opened at `path` (its canonical place), with `meta` as
    /// just read. Compressed forms are made only when `compress` (a file the cache keeps: one
    /// that is not kept would be compressed again for each request).
    pub(super) fn load(path: &Path, meta: &std::fs::Metadata, compress: bool) -> io::Result<Asset> {
        let mut file = File::open(path)?;
        // What was opened is what is described: the metadata of the open file, not the path.
        let meta_now = file.metadata()?;
        let stamp = Stamp::of(&meta_now);
        if stamp != Stamp::of(meta) || !meta_now.is_file() {
            return Err(io::Error::other("the file changed while it was opened"));
        }
        let len = meta_now.len();
        let content = if len <= IN_MEMORY_UP_TO {
            let mut body = Vec::with_capacity(len as usize);
            file.read_to_end(&mut body)?;
            if body.len() as u64 != len {
                return Err(io::Error::other("the file changed while it was read"));
            }
            Content::Memory(Bytes::from(body))
        } else {
            Content::File(Arc::new(file), len)
        };
        let nanos = stamp
            .modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Like nginx: the validator is the length and the modification time.
        let tag = format!("{len:x}-{nanos:x}");
        let compress = compress && len <= COMPRESS_UP_TO;
        Ok(Asset::new(
            content,
            &tag,
            super::content_type(path),
            truncate_to_seconds(stamp.modified),
            Some(stamp),
            compress,
        ))
    }

    fn new(
        content: Content,
        tag: &str,
        content_type: HeaderValue,
        last_modified: SystemTime,
        stamp: Option<Stamp>,
        compress: bool,
    ) -> Asset {
        let (gzip, br) = if compress && compresses(&content_type) {
            match whole(&content) {
                Ok(bytes) => (
                    smaller(&bytes, gzip(&bytes), tag, "gzip"),
                    smaller(&bytes, brotli(&bytes), tag, "br"),
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read a site file to compress it");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        let last_modified_header = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified))
            .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
        Asset {
            identity: Form {
                held: match &content {
                    Content::Memory(bytes) => bytes.len(),
                    Content::File(..) => 0,
                },
                content,
                etag: etag(tag, ""),
                encoding: None,
            },
            gzip,
            br,
            content_type,
            last_modified,
            last_modified_header,
            stamp,
        }
    }

    /// Whether it has compressed forms (and its answers say `Vary: Accept-Encoding`).
    pub(super) fn has_forms(&self) -> bool {
        self.gzip.is_some() || self.br.is_some()
    }

    fn forms(&self) -> impl Iterator<Item = &Form> {
        [Some(&self.identity), self.gzip.as_ref(), self.br.as_ref()]
            .into_iter()
            .flatten()
    }

    /// How many files it holds open (a large file, a large compressed form).
    pub(super) fn open_files(&self) -> usize {
        self.forms()
            .filter(|form| matches!(form.content, Content::File(..)))
            .count()
    }

    /// Bytes of memory it holds.
    pub(super) fn held(&self) -> usize {
        self.forms().map(|form| form.held).sum()
    }
}

/// The whole of a content, in memory (a kept-open file read from its start).
fn whole(content: &Content) -> io::Result<Bytes> {
    match content {
        Content::Memory(bytes) => Ok(bytes.clone()),
        Content::File(file, len) => {
            let mut body = vec![0; *len as usize];
            std::os::unix::fs::FileExt::read_exact_at(&**file, &mut body, 0)?;
            Ok(Bytes::from(body))
        }
    }
}

/// A compressed form worth keeping: one at least an eighth smaller.
fn smaller(
    original: &[u8],
    compressed: io::Result<Vec<u8>>,
    tag: &str,
    coding: &'static str,
) -> Option<Form> {
    let compressed = compressed.ok()?;
    if compressed.len() + original.len() / 8 > original.len() {
        return None;
    }
    let held = compressed.len();
    let content = if held as u64 <= IN_MEMORY_UP_TO {
        Content::Memory(Bytes::from(compressed))
    } else {
        match anonymous_file(&compressed) {
            Ok(file) => Content::File(Arc::new(file), held as u64),
            Err(e) => {
                tracing::debug!(error = %e, "no anonymous file for a compressed form");
                Content::Memory(Bytes::from(compressed))
            }
        }
    };
    Some(Form {
        content,
        held,
        etag: etag(tag, coding),
        encoding: Some(HeaderValue::from_static(coding)),
    })
}

/// `bytes` in an anonymous file in memory, which `sendfile(2)` can send from.
fn anonymous_file(bytes: &[u8]) -> io::Result<File> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(c"switchboard-site", MFdFlags::MFD_CLOEXEC).map_err(io::Error::from)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    Ok(file)
}

fn etag(tag: &str, coding: &str) -> HeaderValue {
    let text = if coding.is_empty() {
        format!("\"{tag}\"")
    } else {
        format!("\"{tag}-{coding}\"")
    };
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let level = if bytes.len() <= BEST_UP_TO {
        flate2::Compression::best()
    } else {
        flate2::Compression::default()
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn brotli(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let quality = if bytes.len() <= BEST_UP_TO { 11 } else { 5 };
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, quality, 22);
    encoder.write_all(bytes)?;
    encoder.flush()?;
    Ok(encoder.into_inner())
}

/// Whether a type is worth compressing: text and the structured formats, not images, fonts
/// or archives, which are compressed already.
fn compresses(content_type: &HeaderValue) -> bool {
    let ct = content_type.as_bytes();
    ct.starts_with(b"text/")
        || [
            &b"application/json"[..],
            b"application/xml",
            b"application/wasm",
            b"application/manifest+json",
            b"image/svg+xml",
        ]
        .iter()
        .any(|t| ct.starts_with(t))
}

pub(super) fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + std::time::Duration::from_secs(secs)
}
