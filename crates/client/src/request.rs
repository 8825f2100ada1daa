//! A request as the command line describes it: method, URL, headers and body, built from the
//! items before anything is sent (so `--offline` can print exactly what would go out).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use url::Url;

use crate::items::Item;
use crate::session::Auth;

/// How data items become a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// A JSON object (the default).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` (`--form`).
    Form,
    /// `multipart/form-data` (a file item, or `--multipart`).
    Multipart,
}

/// What the request is built from, besides its items.
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    /// The method; by default GET, or POST when there is a body.
    pub method: Option<Method>,
    /// Data items as a form rather than JSON.
    pub form: bool,
    /// A body read from standard input (used when no data items were given).
    pub stdin: Option<Vec<u8>>,
    /// Credentials to send.
    pub auth: Option<Auth>,
}

/// A request ready to print or send.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// The method.
    pub method: Method,
    /// The URL, query items included.
    pub url: Url,
    /// Headers, defaults included (Host and Content-Length are added when sending).
    pub headers: HeaderMap,
    /// The body, possibly empty.
    pub body: Bytes,
}

/// A request that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file named by an item cannot be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `field:=@file` file is not JSON.
    #[error("{path} is not JSON: {source}")]
    JsonFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A header value that HTTP cannot carry.
    #[error("the header {0} has a value HTTP cannot carry")]
    Header(String),
    /// A raw JSON item in a form.
    #[error("'{0}:=' is a JSON value, which a form cannot carry; use {0}=text with --form")]
    JsonInForm(String),
}

const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// Builds the request from its URL, items and options.
pub fn build(url: Url, items: &[Item], options: RequestOptions) -> Result<RequestSpec, BuildError> {
    let mut url = url;
    let has_files = items.iter().any(|i| matches!(i, Item::File { .. }));
    let kind = if has_files {
        BodyKind::Multipart
    } else if options.form {
        BodyKind::Form
    } else {
        BodyKind::Json
    };
    let has_data = items.iter().any(Item::is_data);

    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::USER_AGENT,
        HeaderValue::from_static(USER_AGENT),
    );
    let accept = if has_data && kind == BodyKind::Json {
        "application/json, */*;q=0.5"
    } else {
        "*/*"
    };
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    if let Some(auth) = &options.auth {
        let value = HeaderValue::from_str(&auth.header_value())
            .map_err(|_| BuildError::Header("Authorization".into()))?;
        headers.insert(AUTHORIZATION, value);
    }

    let (body, content_type) = if has_data {
        match kind {
            BodyKind::Json => (json_body(items)?, Some("application/json".to_string())),
            BodyKind::Form => (
                form_body(items)?,
                Some("application/x-www-form-urlencoded".to_string()),
            ),
            BodyKind::Multipart => {
                let boundary = format!("switchboard{:016x}", fastrand::u64(..));
                (
                    multipart_body(items, &boundary)?,
                    Some(format!("multipart/form-data; boundary={boundary}")),
                )
            }
        }
    } else {
        match options.stdin.filter(|s| !s.is_empty()) {
            Some(input) => {
                let content_type = if options.form {
                    Some("application/x-www-form-urlencoded".to_string())
                } else if serde_json::from_slice::<serde::de::IgnoredAny>(&input).is_ok() {
                    Some("application/json".to_string())
                } else {
                    None
                };
                (input, content_type)
            }
            None => (Vec::new(), None),
        }
    };
    if let Some(content_type) = content_type {
        let value = HeaderValue::from_str(&content_type)
            .map_err(|_| BuildError::Header("Content-Type".into()))?;
        headers.insert(CONTENT_TYPE, value);
    }

    // The user's headers and query parameters come last: they win over the defaults.
    let mut replaced: Vec<HeaderName> = Vec::new();
    for item in items {
        match item {
            Item::Header { name, value } => {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| BuildError::Header(name.clone()))?;
                match value {
                    None => {
                        headers.remove(&header);
                    }
                    Some(value) => {
                        let value = HeaderValue::from_str(value)
                            .map_err(|_| BuildError::Header(name.clone()))?;
                        if replaced.contains(&header) {
                            headers.append(header, value);
                        } else {
                            headers.insert(header.clone(), value);
                            replaced.push(header);
                        }
                    }
                }
            }
            Item::Query { name, value } => {
                url.query_pairs_mut().append_pair(name, value);
            }
            _ => {}
        }
    }

    let method = options.method.unwrap_or(if body.is_empty() {
        Method::GET
    } else {
        Method::POST
    });
    Ok(RequestSpec {
        method,
        url,
        headers,
        body: Bytes::from(body),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(|source| BuildError::File {
        path: path.to_path_buf(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, BuildError> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|_| BuildError::File {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// A JSON object in the order the fields were given; a repeated field keeps its last value.
fn json_body(items: &[Item]) -> Result<Vec<u8>, BuildError> {
    let mut fields: Vec<(&str, serde_json::Value)> = Vec::new();
    for item in items {
        let (name, value) = match item {
            Item::Data { name, value } => (name, serde_json::Value::String(value.clone())),
            Item::DataFile { name, path } => (name, serde_json::Value::String(read_text(path)?)),
            Item::Json { name, value } => (name, value.clone()),
            Item::JsonFile { name, path } => {
                let bytes = read(path)?;
                let value =
                    serde_json::from_slice(&bytes).map_err(|source| BuildError::JsonFile {
                        path: path.clone(),
                        source,
                    })?;
                (name, value)
            }
            _ => continue,
        };
        match fields.iter_mut().find(|(n, _)| *n == name.as_str()) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    let mut out = Vec::from(&b"{"[..]);
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        serde_json::to_writer(&mut out, name).expect("a string serializes");
        out.extend_from_slice(b": ");
        serde_json::to_writer(&mut out, value).expect("a value serializes");
    }
    out.push(b'}');
    Ok(out)
}

fn form_fields(items: &[Item]) -> Result<Vec<(&str, String)>, BuildError> {
    let mut fields = Vec::new();
    for item in items {
        match item {
            Item::Data { name, value } => fields.push((name.as_str(), value.clone())),
            Item::DataFile { name, path } => fields.push((name.as_str(), read_text(path)?)),
            Item::Json { name, .. } | Item::JsonFile { name, .. } => {
                return Err(BuildError::JsonInForm(name.clone()))
            }
            _ => {}
        }
    }
    Ok(fields)
}

fn form_body(items: &[Item]) -> Result<Vec<u8>, BuildError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_fields(items)? {
        form.append_pair(name, &value);
    }
    Ok(form.finish().into_bytes())
}

fn multipart_body(items: &[Item], boundary: &str) -> Result<Vec<u8>, BuildError> {
    let quote = |s: &str| {
        s.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let mut out = Vec::new();
    for (name, value) in form_fields(items)? {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(name)
            )
            .as_bytes(),
        );
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for item in items {
        if let Item::File { name, path } = item {
            let content = read(path)?;
            let file_name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; \
                     filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                    quote(name),
                    quote(&file_name),
                    guess_type(path)
                )
                .as_bytes(),
            );
            out.extend_from_slice(&content);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(out)
}

/// A media type from a file's extension; `application/octet-stream` when unknown.
pub fn guess_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::parse_item;

    fn spec(args: &[&str], options: RequestOptions) -> Result<RequestSpec, BuildError> {
        let items: Vec<Item> = args.iter().map(|a| parse_item(a).unwrap()).collect();
        build(
            Url::parse("http://localhost:8080/api").unwrap(),
            &items,
            options,
        )
    }

    #[test]
    fn json_in_the_order_given() {
        let s = spec(
            &["b=x", "a:=[1,2,3]", "X-A:1", "q==1 2", "b=y"],
            RequestOptions::default(),
        )
        .unwrap();
        assert_eq!(s.method, Method::POST);
        assert_eq!(&s.body[..], br#"{"b": "y", "a": [1,2,3]}"#);
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.headers["accept"], "application/json, */*;q=0.5");
        assert_eq!(s.headers["x-a"], "1");
        assert_eq!(s.url.as_str(), "http://localhost:8080/api?q=1+2");
    }

    #[test]
    fn without_data_it_is_a_get() {
        let s = spec(&["a==1", "User-Agent:"], RequestOptions::default()).unwrap();
        assert_eq!(s.method, Method::GET);
        assert!(s.body.is_empty());
        assert!(!s.headers.contains_key("user-agent"));
        assert!(!s.headers.contains_key("content-type"));
        assert_eq!(s.headers["accept"], "*/*");
    }

    #[test]
    fn forms_and_stdin() {
        let form = RequestOptions {
            form: true,
            ..Default::default()
        };
        let s = spec(&["name=ann lee", "x=1&2"], form.clone()).unwrap();
        assert_eq!(&s.body[..], b"name=ann+lee&x=1%262");
        assert_eq!(
            s.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert!(matches!(
            spec(&["n:=1"], form),
            Err(BuildError::JsonInForm(_))
        ));
        let piped = RequestOptions {
            stdin: Some(b"{\"input\": [1]}".to_vec()),
            ..Default::default()
        };
        let s = spec(&[], piped).unwrap();
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.headers["content-type"], "application/json");
        let empty = RequestOptions {
            stdin: Some(Vec::new()),
            method: None,
            ..Default::default()
        };
        assert_eq!(spec(&[], empty).unwrap().method, Method::GET);
    }

    #[test]
    fn files_make_a_multipart_form() {
        let dir = std::env::temp_dir().join(format!("sb_client_mp_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("note.txt");
        std::fs::write(&file, "hello").unwrap();
        let item = format!("doc@{}", file.display());
        let s = spec(&["title=x", &item], RequestOptions::default()).unwrap();
        let ct = s.headers["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
        let body = String::from_utf8(s.body.to_vec()).unwrap();
        assert!(body.contains("name=\"title\"\r\n\r\nx\r\n"), "{body}");
        assert!(
            body.contains(
                "name=\"doc\"; filename=\"note.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            ),
            "{body}"
        );
        let missing = spec(&["doc@/no/such/file"], RequestOptions::default());
        assert!(matches!(missing, Err(BuildError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn auth_becomes_a_header_an_item_can_override() {
        let options = RequestOptions {
            auth: Some(Auth::Bearer { token: "t".into() }),
            ..Default::default()
        };
        let s = spec(&[], options.clone()).unwrap();
        assert_eq!(s.headers["authorization"], "Bearer t");
        let s = spec(&["Authorization:Token x"], options).unwrap();
        assert_eq!(s.headers["authorization"], "Token x");
    }
}
