//! The backup file: a header naming what is inside, the payload compressed with zstd, and a
//! trailer with the SHA-256 of everything before it.
//!
//! ```text
//! SWITCHBOARD-BACKUP 1\n
//! {"engine":"sqlite","schema_version":2,"created_at":"2026-11-22T03:00:00.000Z",...}\n
//! <zstd frames: the SQLite database file, or pg_dump's plain SQL>
//! \nEND sha256=<64 hex digits> payload=<20 decimal digits>\n
//! ```
//!
//! The trailer has a fixed length, so a reader finds it from the end; it is written last, so
//! a file cut short anywhere has none (or one that does not parse) and is refused as
//! truncated, and any changed byte before it fails the checksum. Both are checked before any
//! of the payload is used. `payload` is the uncompressed size, checked again once the payload
//! is decompressed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_store::{Backend, Timestamp};

use crate::error::JobError;

const MAGIC: &[u8] = b"SWITCHBOARD-BACKUP 1\n";
/// The longest header line a reader accepts.
const MAX_HEADER: u64 = 4096;
/// `\nEND sha256=` + 64 + ` payload=` + 20 + `\n`.
const TRAILER_LEN: u64 = 12 + 64 + 9 + 20 + 1;
/// The zstd level: 3 is zstd's default, fast and about as small as 9 for this kind of data.
const LEVEL: i32 = 3;

/// What a backup holds, as its header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The database's schema version (its newest migration) when the backup was taken.
    pub schema_version: i64,
    /// When the backup was taken, RFC 3339 in UTC.
    pub created_at: String,
    /// The same, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// `sqlite-database` (the file) or `pg_dump-plain` (SQL).
    pub payload: String,
    /// Always `zstd`.
    pub compression: String,
}

impl Header {
    /// A header for a backup of `engine` at `schema_version`, taken at `at`.
    pub fn new(engine: Backend, schema_version: i64, at: Timestamp) -> Header {
        Header {
            engine: engine.to_string(),
            schema_version,
            created_at: at.to_rfc3339(),
            created_at_ms: at.as_millis(),
            payload: match engine {
                Backend::Sqlite => "sqlite-database",
                Backend::Postgres => "pg_dump-plain",
            }
            .to_owned(),
            compression: "zstd".to_owned(),
        }
    }

    /// Which backend the backup is of; `None` for one this build does not know.
    pub fn backend(&self) -> Option<Backend> {
        match self.engine.as_str() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" => Some(Backend::Postgres),
            _ => None,
        }
    }

    /// When the backup was taken.
    pub fn created_at(&self) -> Timestamp {
        Timestamp::from_millis(self.created_at_ms)
    }
}

/// A backup file whose checksum has been checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What it holds.
    pub header: Header,
    /// The SHA-256 of the file up to its trailer, in hex.
    pub sha256: String,
    /// The payload's uncompressed size.
    pub payload_bytes: u64,
    /// The file's size.
    pub file_bytes: u64,
    /// Where the compressed payload starts and ends in the file.
    body: (u64, u64),
}

/// Writes a backup file: [`Writer::create`], the payload through [`Write`], then
/// [`Writer::finish`].
pub struct Writer {
    encoder: zstd::stream::write::Encoder<'static, Hashing<File>>,
    payload_bytes: u64,
}

/// Passes writes through to `inner`, hashing them.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Writer {
    /// Creates `path` (which must not exist) and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Writer, JobError> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| JobError::io(format!("cannot create {}", path.display()), e))?;
        let mut out = Hashing {
            inner: file,
            hash: Sha256::new(),
        };
        let mut line = serde_json::to_vec(header)
            .map_err(|e| JobError::Failed(format!("cannot write the header: {e}")))?;
        line.push(b'\n');
        let wrote = out.write_all(MAGIC).and_then(|()| out.write_all(&line));
        wrote.map_err(|e| JobError::io(format!("cannot write {}", path.display()), e))?;
        let encoder = zstd::stream::write::Encoder::new(out, LEVEL)
            .map_err(|e| JobError::io("cannot start zstd".to_owned(), e))?;
        Ok(Writer {
            encoder,
            payload_bytes: 0,
        })
    }

    /// Ends the payload, writes the trailer and syncs the file to disk. Returns the checksum
    /// (hex), the payload's size and the file's.
    pub fn finish(self) -> io::Result<(String, u64, u64)> {
        let Hashing {
            inner: mut file,
            hash,
        } = self.encoder.finish()?;
        let sha256 = hex(&hash.finalize());
        let trailer = format!("\nEND sha256={sha256} payload={:020}\n", self.payload_bytes);
        debug_assert_eq!(trailer.len() as u64, TRAILER_LEN);
        file.write_all(trailer.as_bytes())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        Ok((sha256, self.payload_bytes, size))
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.encoder.write(buf)?;
        self.payload_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

/// Reads only the header of the backup at `path`: enough to list it, not to trust it.
pub fn read_header(path: &Path) -> Result<Header, JobError> {
    let file =
        File::open(path).map_err(|e| JobError::io(format!("cannot open {}", path.display()), e))?;
    let mut reader = BufReader::new(file);
    Ok(read_header_from(path, &mut reader)?.0)
}

/// The header and the offset just past it.
fn read_header_from(path: &Path, reader: &mut impl BufRead) -> Result<(Header, u64), JobError> {
    let not_ours = || JobError::NotABackup(path.display().to_string());
    let mut magic = vec![0u8; MAGIC.len()];
    match reader.read_exact(&mut magic) {
        Ok(()) if magic == MAGIC => {}
        Ok(()) => return Err(not_ours()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(not_ours()),
        Err(e) => return Err(JobError::io(format!("cannot read {}", path.display()), e)),
    }
    let mut line = Vec::new();
    reader
        .take(MAX_HEADER)
        .read_until(b'\n', &mut line)
        .map_err(|e| JobError::io(format!("cannot read {}", path.display()), e))?;
    if line.last() != Some(&b'\n') {
        return Err(JobError::Truncated(path.display().to_string()));
    }
    let header: Header = serde_json::from_slice(&line)
        .map_err(|_| JobError::Corrupt(format!("{}: the header does not parse", path.display())))?;
    Ok((header, (MAGIC.len() + line.len()) as u64))
}

/// Checks that `path` is a whole backup whose checksum matches: the first thing done with a
/// file before anything is restored from it.
pub fn verify(path: &Path) -> Result<Verified, JobError> {
    let shown = path.display().to_string();
    let io_err = |e| JobError::io(format!("cannot read {shown}"), e);
    let file = File::open(path).map_err(io_err)?;
    let file_bytes = file.metadata().map_err(io_err)?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (header, body_start) = read_header_from(path, &mut reader)?;
    if file_bytes < body_start + TRAILER_LEN {
        return Err(JobError::Truncated(shown));
    }
    let body_end = file_bytes - TRAILER_LEN;
    let mut trailer = vec![0u8; TRAILER_LEN as usize];
    let file = reader.get_mut();
    file.seek(SeekFrom::Start(body_end)).map_err(io_err)?;
    file.read_exact(&mut trailer).map_err(io_err)?;
    let (expected, payload_bytes) =
        parse_trailer(&trailer).ok_or_else(|| JobError::Truncated(shown.clone()))?;

    let file = reader.get_mut();
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut hash = Sha256::new();
    let mut limited = BufReader::with_capacity(256 * 1024, file.take(body_end));
    loop {
        let chunk = limited.fill_buf().map_err(io_err)?;
        if chunk.is_empty() {
            break;
        }
        hash.update(chunk);
        let n = chunk.len();
        limited.consume(n);
    }
    let sha256 = hex(&hash.finalize());
    if sha256 != expected {
        return Err(JobError::Corrupt(format!(
            "{shown}: checksum mismatch (the file says sha256 {expected}, its contents hash \
             to {sha256})"
        )));
    }
    Ok(Verified {
        header,
        sha256,
        payload_bytes,
        file_bytes,
        body: (body_start, body_end),
    })
}

fn parse_trailer(trailer: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(trailer).ok()?;
    let rest = text.strip_prefix("\nEND sha256=")?.strip_suffix('\n')?;
    let (sha, payload) = rest.split_once(" payload=")?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((sha.to_owned(), payload.parse().ok()?))
}

/// Decompresses a verified backup's payload into `out`, checking that it comes to the size
/// the trailer gives. `keep_going` is asked between chunks; when it says no, this stops with
/// [`JobError::Cancelled`].
pub fn unpack(
    path: &Path,
    verified: &Verified,
    out: &mut impl Write,
    keep_going: &dyn Fn() -> bool,
) -> Result<u64, JobError> {
    let shown = path.display().to_string();
    let mut file = File::open(path).map_err(|e| JobError::io(format!("cannot read {shown}"), e))?;
    let (start, end) = verified.body;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| JobError::io(format!("cannot read {shown}"), e))?;
    let mut decoder = zstd::stream::read::Decoder::new(file.take(end - start))
        .map_err(|e| JobError::io("cannot start zstd".to_owned(), e))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        if !keep_going() {
            return Err(JobError::Cancelled);
        }
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(JobError::Corrupt(format!(
                    "{shown}: the compressed data does not decompress: {e}"
                )))
            }
        };
        out.write_all(&buf[..n])
            .map_err(|e| JobError::io("cannot write the restored data".to_owned(), e))?;
        total += n as u64;
    }
    if total != verified.payload_bytes {
        return Err(JobError::Corrupt(format!(
            "{shown}: the payload decompresses to {total} bytes, not the {} its trailer gives",
            verified.payload_bytes
        )));
    }
    Ok(total)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchboard_format_{}_{}",
            std::process::id(),
            name
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("b.backup")
    }

    fn write(path: &Path, payload: &[u8]) -> Header {
        let header = Header::new(
            Backend::Sqlite,
            2,
            Timestamp::from_millis(1_795_312_800_000),
        );
        let mut w = Writer::create(path, &header).unwrap();
        w.write_all(payload).unwrap();
        let (_, n, size) = w.finish().unwrap();
        assert_eq!(n, payload.len() as u64);
        assert_eq!(size, std::fs::metadata(path).unwrap().len());
        header
    }

    #[test]
    fn round_trip() {
        let path = temp("round_trip");
        let payload: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let header = write(&path, &payload);
        assert_eq!(read_header(&path).unwrap(), header);
        assert_eq!(header.created_at, "2026-11-22T02:00:00.000Z");
        let verified = verify(&path).unwrap();
        assert_eq!(verified.payload_bytes, payload.len() as u64);
        assert!(verified.file_bytes < payload.len() as u64 / 4, "compressed");
        let mut out = Vec::new();
        unpack(&path, &verified, &mut out, &|| true).unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn truncation_and_corruption_are_found() {
        let path = temp("damage");
        let payload = vec![7u8; 100_000];
        write(&path, &payload);
        let good = std::fs::read(&path).unwrap();

        for cut in [0, 5, MAGIC.len() + 3, good.len() / 2, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            let err = verify(&path).unwrap_err().to_string();
            assert!(
                err.contains("truncated") || err.contains("not a switchboard backup"),
                "cut at {cut}: {err}"
            );
        }
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let err = verify(&path).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        std::fs::write(&path, b"PRAGMA foreign_keys=OFF;\n").unwrap();
        let err = verify(&path).unwrap_err().to_string();
        assert!(err.contains("not a switchboard backup"), "{err}");
    }
}
