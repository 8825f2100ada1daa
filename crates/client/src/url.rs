//! The URL on the command line, with httpie's shorthands: `:8080/add` is
//! `http://localhost:8080/add`, `:/path` is `http://localhost/path`, and a URL without a scheme
//! is `http://`.

use std::fmt;

use url::Url;

/// A URL that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a usable URL: {}", self.url, self.reason)
    }
}

impl std::error::Error for UrlError {}

/// Expands the shorthands and parses; only `http` and `https` are accepted.
pub fn parse_url(given: &str) -> Result<Url, UrlError> {
    let error = |reason: String| UrlError {
        url: given.to_string(),
        reason,
    };
    let given_trimmed = given.trim();
    if given_trimmed.is_empty() {
        return Err(error("it is empty".into()));
    }
    let full = if let Some(rest) = given_trimmed.strip_prefix(':') {
        if rest.starts_with('/') || rest.is_empty() {
            format!("http://localhost{rest}")
        } else {
            format!("http://localhost:{rest}")
        }
    } else if given_trimmed.contains("://") {
        given_trimmed.to_string()
    } else {
        format!("http://{given_trimmed}")
    };
    let url = Url::parse(&full).map_err(|e| error(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(error(format!("the scheme {other} is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error("it has no host".into()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands() {
        let cases = [
            (":8080/add", "http://localhost:8080/add"),
            (":8080", "http://localhost:8080/"),
            (":/health", "http://localhost/health"),
            (":", "http://localhost/"),
            ("localhost:8080", "http://localhost:8080/"),
            ("localhost:8080/a?b=c", "http://localhost:8080/a?b=c"),
            ("example.com", "http://example.com/"),
            ("127.0.0.1:9/x", "http://127.0.0.1:9/x"),
            ("[::1]:8080/x", "http://[::1]:8080/x"),
            ("https://example.com/", "https://example.com/"),
            ("HTTP://Example.COM/A", "http://example.com/A"),
        ];
        for (given, want) in cases {
            assert_eq!(
                parse_url(given).map(String::from),
                Ok(want.to_string()),
                "{given}"
            );
        }
    }

    #[test]
    fn bad_urls() {
        let cases = [
            ("", "empty"),
            ("ftp://example.com/", "not http or https"),
            (":99999", "invalid port"),
            ("http://", "empty host"),
            ("http://exa mple.com", "invalid"),
        ];
        for (given, reason) in cases {
            let e = parse_url(given).expect_err(given);
            assert!(e.to_string().contains(reason), "{given}: {e}");
        }
    }
}
