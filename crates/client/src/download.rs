//! `--download`: the body into a file, named after the response or the URL, never over an
//! existing file unless the name was chosen with `-o`; a progress bar on a terminal.

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH};
use reqwest::Response;

/// Why the body was not saved.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The file chosen from the response exists.
    #[error("{0} already exists; choose another name with -o FILE")]
    Exists(PathBuf),
    /// The file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The body broke off.
    #[error("the download broke off: {0}")]
    Body(String),
}

/// The file name a response suggests: `Content-Disposition`'s `filename`, else the URL's last
/// path segment, else `index.html`; never a path, never hidden.
pub fn file_name(response: &Response) -> String {
    let from_header = response
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name);
    let from_url = || {
        response
            .url()
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_string))
            .map(|s| {
                percent_encoding::percent_decode_str(&s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    from_header
        .and_then(|n| safe_name(&n))
        .or_else(|| from_url().and_then(|n| safe_name(&n)))
        .unwrap_or_else(|| "index.html".to_string())
}

fn disposition_file_name(value: &str) -> Option<String> {
    value.split(';').find_map(|part| {
        let (key, val) = part.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("filename"))
            .then(|| val.trim().trim_matches('"').to_string())
    })
}

fn safe_name(name: &str) -> Option<String> {
    let base = name
        .rsplit(['/', '\\'])
        .next()?
        .trim()
        .trim_start_matches('.');
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    (!clean.is_empty()).then_some(clean)
}

/// Writes the body to `path`; `chosen` (from `-o`) may replace a file, a name taken from the
/// response may not. Returns the bytes written.
pub async fn save(
    mut response: Response,
    path: &Path,
    chosen: bool,
    progress: bool,
) -> Result<u64, DownloadError> {
    let write_error = |source| DownloadError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if chosen {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            DownloadError::Exists(path.to_path_buf())
        } else {
            write_error(e)
        }
    })?;
    let mut file = std::io::BufWriter::new(file);
    let total = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = if progress {
        let bar = match total {
            Some(len) => indicatif::ProgressBar::new(len).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                    .expect("a valid template"),
            ),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Some(bar)
    } else {
        None
    };
    let mut written = 0u64;
    let result = async {
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DownloadError::Body(e.to_string()))?
        {
            file.write_all(&chunk).map_err(write_error)?;
            written += chunk.len() as u64;
            if let Some(bar) = &bar {
                bar.set_position(written);
            }
        }
        file.flush().map_err(write_error)
    }
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if result.is_err() && !chosen {
        let _ = std::fs::remove_file(path);
    }
    result.map(|()| written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"report.pdf\""),
            Some("report.pdf".into())
        );
        assert_eq!(safe_name("../../etc/passwd"), Some("passwd".into()));
        assert_eq!(safe_name(".bashrc"), Some("bashrc".into()));
        assert_eq!(safe_name("a\\b.txt"), Some("b.txt".into()));
        assert_eq!(safe_name(""), None);
        assert_eq!(safe_name(".."), None);
    }
}
