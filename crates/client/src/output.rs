//! How requests and responses are shown: which parts (`--print`), and how (`--pretty`): JSON
//! indented with its fields in the order they came, and coloured for a terminal.

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Version};

use crate::request::RequestSpec;

/// The parts to print, httpie's letters: `H` request head, `B` request body, `h` response
/// head, `b` response body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// `H`.
    pub request_head: bool,
    /// `B`.
    pub request_body: bool,
    /// `h`.
    pub response_head: bool,
    /// `b`.
    pub response_body: bool,
}

impl Parts {
    /// Parses letters from `HBhb`.
    pub fn parse(letters: &str) -> Result<Parts, String> {
        let mut parts = Parts::default();
        for c in letters.chars() {
            match c {
                'H' => parts.request_head = true,
                'B' => parts.request_body = true,
                'h' => parts.response_head = true,
                'b' => parts.response_body = true,
                _ => {
                    return Err(format!(
                        "'{letters}' is not a set of parts: use H (request headers), B (request \
                         body), h (response headers), b (response body)"
                    ))
                }
            }
        }
        if parts == Parts::default() {
            return Err("--print needs at least one of H, B, h, b".into());
        }
        Ok(parts)
    }

    /// Whether any part of the request is printed.
    pub fn any_request(&self) -> bool {
        self.request_head || self.request_body
    }

    /// Whether any part of the response is printed.
    pub fn any_response(&self) -> bool {
        self.response_head || self.response_body
    }
}

/// How bodies and heads are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Indent JSON.
    pub format: bool,
    /// ANSI colours.
    pub colors: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const CYAN: &str = "\x1b[36m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

fn headers_text(out: &mut String, headers: &HeaderMap, style: Style) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        if style.colors {
            out.push_str(&format!("{CYAN}{name}{RESET}: {value}\n"));
        } else {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
}

/// The request line and headers as they go out (`Host` included), ending with a blank line.
pub fn request_head(spec: &RequestSpec, version: Version, style: Style) -> String {
    let mut target = spec.url.path().to_string();
    if let Some(query) = spec.url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut out = if style.colors {
        format!(
            "{BOLD}{}{RESET} {CYAN}{target}{RESET} {}\n",
            spec.method,
            version_text(version)
        )
    } else {
        format!("{} {target} {}\n", spec.method, version_text(version))
    };
    let mut headers = HeaderMap::new();
    let host = match (spec.url.host_str(), spec.url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    };
    if let Ok(host) = host.parse() {
        headers.insert(reqwest::header::HOST, host);
    }
    for (name, value) in &spec.headers {
        headers.append(name, value.clone());
    }
    if !spec.body.is_empty() && !headers.contains_key(reqwest::header::CONTENT_LENGTH) {
        headers.insert(reqwest::header::CONTENT_LENGTH, spec.body.len().into());
    }
    headers_text(&mut out, &headers, style);
    out.push('\n');
    out
}

/// The status line and headers, ending with a blank line.
pub fn response_head(
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    style: Style,
) -> String {
    let line = format!(
        "{} {} {}",
        version_text(version),
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    let mut out = if style.colors {
        let color = match status.as_u16() {
            200..=299 => GREEN,
            300..=399 => YELLOW,
            _ => RED,
        };
        format!("{BOLD}{color}{}{RESET}\n", line.trim_end())
    } else {
        format!("{}\n", line.trim_end())
    };
    headers_text(&mut out, headers, style);
    out.push('\n');
    out
}

/// Whether a `Content-Type` is JSON (`application/json`, `application/problem+json`, ...).
pub fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// Whether bytes look binary: not UTF-8, or holding NUL.
pub fn looks_binary(body: &[u8]) -> bool {
    body.contains(&0) || std::str::from_utf8(body).is_err()
}

/// The note shown on a terminal instead of binary data.
pub const BINARY_NOTE: &str = "+-----------------------------------------+\n\
                               | NOTE: binary data not shown in terminal |\n\
                               +-----------------------------------------+\n";

/// A body as shown: JSON reformatted when `style.format` asks and the body is JSON (by type,
/// or by looks when it has no type); anything else untouched.
pub fn body(bytes: &[u8], content_type: Option<&str>, style: Style) -> Vec<u8> {
    if !(style.format || style.colors) {
        return bytes.to_vec();
    }
    let json_like = is_json_type(content_type)
        || (content_type.is_none() && matches!(bytes.first(), Some(b'{' | b'[')));
    if json_like && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let mut out = json(text, style);
            out.push('\n');
            return out.into_bytes();
        }
    }
    bytes.to_vec()
}

/// Re-lays out valid JSON: four-space indents (with `format`), colours (with `colors`); the
/// order of fields and the text of numbers stay as they came.
pub fn json(input: &str, style: Style) -> String {
    let mut out = String::with_capacity(input.len() * 2);
    let mut depth = 0usize;
    let mut chars = input.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        if style.format {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', depth * 4));
        }
    };
    let paint = |out: &mut String, color: &str, text: &str| {
        if style.colors {
            out.push_str(color);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::from('"');
                while let Some(c) = chars.next() {
                    s.push(c);
                    if c == '\\' {
                        if let Some(escaped) = chars.next() {
                            s.push(escaped);
                        }
                    } else if c == '"' {
                        break;
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let is_key = chars.peek() == Some(&':');
                paint(&mut out, if is_key { BLUE } else { GREEN }, &s);
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(c);
                    out.push(close);
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                if style.format {
                    newline(&mut out, depth);
                } else {
                    out.push(' ');
                }
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => {
                let mut literal = String::from(c);
                while chars
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !",:]}".contains(*c))
                {
                    literal.extend(chars.next());
                }
                let color = if c == 'n' || c == 't' || c == 'f' {
                    MAGENTA
                } else {
                    YELLOW
                };
                paint(&mut out, color, &literal);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let p = Parts::parse("Hb").unwrap();
        assert!(p.request_head && !p.request_body && !p.response_head && p.response_body);
        assert!(Parts::parse("x").is_err());
        assert!(Parts::parse("").is_err());
    }

    #[test]
    fn json_is_indented_in_order() {
        let style = Style {
            format: true,
            colors: false,
        };
        let text = json(r#"{"z":1,"a":[1, 2.50],"e":{},"s":"a\"}","n":null}"#, style);
        assert_eq!(
            text,
            "{\n    \"z\": 1,\n    \"a\": [\n        1,\n        2.50\n    ],\n    \"e\": {},\n    \
             \"s\": \"a\\\"}\",\n    \"n\": null\n}"
        );
        let colored = json(
            r#"{"k":"v"}"#,
            Style {
                format: false,
                colors: true,
            },
        );
        assert_eq!(colored, "{\x1b[34m\"k\"\x1b[0m: \x1b[32m\"v\"\x1b[0m}");
    }

    #[test]
    fn bodies_are_formatted_only_when_json() {
        let style = Style {
            format: true,
            colors: false,
        };
        assert_eq!(
            body(b"{\"a\":1}", Some("application/json"), style),
            b"{\n    \"a\": 1\n}\n"
        );
        assert_eq!(body(b"{\"a\":1}", Some("text/plain"), style), b"{\"a\":1}");
        assert_eq!(
            body(b"{broken", Some("application/json"), style),
            b"{broken"
        );
        assert_eq!(
            body(b"{\"a\":1}", Some("application/json"), Style::default()),
            b"{\"a\":1}"
        );
        assert!(is_json_type(Some(
            "application/problem+json; charset=utf-8"
        )));
        assert!(looks_binary(b"\x00\x01"));
        assert!(!looks_binary("héllo".as_bytes()));
    }
}
