//! Sessions: cookies and credentials kept between runs in a JSON file, readable by its owner
//! only.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::cookies::CookieJar;

/// Credentials sent with every request of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Auth {
    /// HTTP Basic.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token.
        token: String,
    },
}

impl Auth {
    /// The `Authorization` header's value.
    pub fn header_value(&self) -> String {
        use base64::Engine;
        match self {
            Auth::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Auth::Bearer { token } => format!("Bearer {token}"),
        }
    }
}

/// What a session file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Credentials, if any were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Cookies the servers set.
    #[serde(default)]
    pub cookies: CookieJar,
}

/// A session file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The name is neither a path nor a plain name.
    #[error("'{0}' is not a session name: use letters, digits, '-', '_' and '.', or a path")]
    BadName(String),
    /// Reading failed.
    #[error("cannot read session {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a session.
    #[error("session {path} is damaged: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error("cannot save session {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where session `name` for `url` lives: a name with a `/` (or ending in `.json`) is a path;
/// a plain name is `SESSIONS/HOST_PORT/NAME.json` under `sessions_dir`.
pub fn session_path(name: &str, url: &Url, sessions_dir: &Path) -> Result<PathBuf, SessionError> {
    if name.contains('/') || name.ends_with(".json") {
        return Ok(PathBuf::from(name));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.starts_with('.') || !name.chars().all(plain) {
        return Err(SessionError::BadName(name.to_string()));
    }
    let host: String = url
        .host_str()
        .unwrap_or("")
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .collect();
    let port = url.port_or_known_default().unwrap_or(0);
    Ok(sessions_dir
        .join(format!("{host}_{port}"))
        .join(format!("{name}.json")))
}

impl Session {
    /// Reads the session at `path`; a file that does not exist yet is an empty session.
    pub fn load(path: &Path) -> Result<Session, SessionError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SessionError::Parse {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Session::default()),
            Err(source) => Err(SessionError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the session to `path` (directories `0700`, the file `0600`), replacing the old
    /// file in one step.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let write_error = |source| SessionError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(write_error)?;
        }
        let mut json = serde_json::to_vec_pretty(self).expect("a session serializes");
        json.push(b'\n');
        let file_name = path
            .file_name()
            .map_or_else(|| "session".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let result = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_for_names() {
        let url = Url::parse("http://localhost:8080/login").unwrap();
        let dir = Path::new("/cfg/switchboard/sessions");
        assert_eq!(
            session_path("ann", &url, dir).unwrap(),
            dir.join("localhost_8080/ann.json")
        );
        let https = Url::parse("https://[::1]/").unwrap();
        assert_eq!(
            session_path("ann", &https, dir).unwrap(),
            dir.join("___1__443/ann.json")
        );
        assert_eq!(
            session_path("./s.json", &url, dir).unwrap(),
            PathBuf::from("./s.json")
        );
        assert_eq!(
            session_path("/tmp/x", &url, dir).unwrap(),
            PathBuf::from("/tmp/x")
        );
        for bad in ["", "..", "a b", "ann\\x"] {
            assert!(session_path(bad, &url, dir).is_err(), "{bad}");
        }
    }

    #[test]
    fn basic_and_bearer() {
        let basic = Auth::Basic {
            username: "ann".into(),
            password: "pw".into(),
        };
        assert_eq!(basic.header_value(), "Basic YW5uOnB3");
        let bearer = Auth::Bearer { token: "t".into() };
        assert_eq!(bearer.header_value(), "Bearer t");
    }
}
