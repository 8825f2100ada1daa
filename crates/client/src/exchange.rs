//! Sending a request: the reqwest client (rustls on the ring provider), redirects followed
//! here hop by hop (so every hop's cookies reach the jar), and failures put in words.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};

use crate::cookies::CookieJar;
use crate::request::RequestSpec;

/// Which HTTP versions to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/2 when the server offers it through ALPN, else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: through ALPN over TLS, with prior knowledge (h2c) without.
    Http2,
}

/// How the client connects.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// Accept any certificate (`--verify no`).
    pub insecure: bool,
    /// Extra trusted CA certificates, PEM.
    pub cacert: Option<Vec<u8>>,
    /// The versions to speak.
    pub http_version: HttpVersion,
    /// Limit for connecting, and for each read of the response.
    pub timeout: Option<Duration>,
    /// Follow redirects, at most this many hops; `None`: return the redirect.
    pub follow: Option<usize>,
}

/// Why nothing (or not all) came back.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot be used (a bad CA file).
    #[error("{0}")]
    Config(String),
    /// No connection: refused, unreachable, a name that does not resolve, TLS refused.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// HOST:PORT.
        target: String,
        /// Why, in words.
        reason: String,
    },
    /// Too slow.
    #[error("{target} did not answer within {timeout:?}")]
    Timeout {
        /// HOST:PORT.
        target: String,
        /// The limit.
        timeout: Duration,
    },
    /// More redirects than allowed.
    #[error("more than {0} redirects; raise --max-redirects")]
    TooManyRedirects(usize),
    /// The connection broke while the answer came.
    #[error("the exchange with {target} failed: {reason}")]
    Broken {
        /// HOST:PORT.
        target: String,
        /// Why, in words.
        reason: String,
    },
}

/// Builds the reqwest client. Installs rustls's ring provider as the process default first.
pub fn client(config: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("")
        .danger_accept_invalid_certs(config.insecure);
    if let Some(pem) = &config.cacert {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Config(format!("--cacert: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::Config(
                "--cacert: no PEM certificate in the file".into(),
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder = match config.http_version {
        HttpVersion::Auto => builder,
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge(),
    };
    if let Some(timeout) = config.timeout {
        builder = builder.connect_timeout(timeout).read_timeout(timeout);
    }
    builder
        .build()
        .map_err(|e| ClientError::Config(format!("cannot set up the client: {}", words(&e))))
}

/// Seconds since the Unix epoch, for cookie lifetimes.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Puts the jar's cookies for `spec`'s URL on it, unless the user gave a `Cookie` header.
pub fn add_cookies(spec: &mut RequestSpec, jar: &CookieJar, user_cookie: bool) {
    if user_cookie {
        return;
    }
    spec.headers.remove(COOKIE);
    if let Some(cookies) = jar.header_for(&spec.url, now()) {
        if let Ok(value) = HeaderValue::from_str(&cookies) {
            spec.headers.insert(COOKIE, value);
        }
    }
}

/// Sends `spec`, following redirects as `config` says; every response's cookies go into
/// `jar`, and the jar's cookies go with every hop unless `user_cookie` (the user gave a
/// `Cookie` header). Returns the last request sent and its response, body still to be read.
pub async fn send(
    client: &reqwest::Client,
    config: &ClientConfig,
    spec: RequestSpec,
    jar: &mut CookieJar,
    user_cookie: bool,
) -> Result<(RequestSpec, Response), ClientError> {
    let mut spec = spec;
    let mut hops = 0;
    loop {
        add_cookies(&mut spec, jar, user_cookie);
        let mut request = reqwest::Request::new(spec.method.clone(), spec.url.clone());
        *request.headers_mut() = spec.headers.clone();
        if !spec.body.is_empty() {
            *request.body_mut() = Some(spec.body.clone().into());
        }
        let response = client
            .execute(request)
            .await
            .map_err(|e| failure(&e, &spec.url, config.timeout))?;
        for value in response.headers().get_all(SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                jar.store(&spec.url, text, now());
            }
        }
        let Some(max) = config.follow else {
            return Ok((spec, response));
        };
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| spec.url.join(l).ok());
        let Some(next_url) = location.filter(|_| response.status().is_redirection()) else {
            return Ok((spec, response));
        };
        hops += 1;
        if hops > max {
            return Err(ClientError::TooManyRedirects(max));
        }
        spec = redirected(spec, response.status(), next_url);
    }
}

/// The request a redirect asks for: 303 (and 301/302 after a POST) become a GET without a
/// body; 307 and 308 repeat the request. Credentials do not follow to another origin.
fn redirected(mut spec: RequestSpec, status: StatusCode, url: url::Url) -> RequestSpec {
    let to_get = match status {
        StatusCode::SEE_OTHER => spec.method != Method::HEAD,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => spec.method == Method::POST,
        _ => false,
    };
    if to_get {
        spec.method = Method::GET;
        spec.body = bytes::Bytes::new();
        spec.headers.remove(reqwest::header::CONTENT_TYPE);
        spec.headers.remove(reqwest::header::CONTENT_LENGTH);
    }
    if url.origin() != spec.url.origin() {
        spec.headers.remove(AUTHORIZATION);
    }
    spec.url = url;
    spec
}

fn target(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A reqwest failure in words a person can act on.
pub fn failure(e: &reqwest::Error, url: &url::Url, timeout: Option<Duration>) -> ClientError {
    let target = target(url);
    if e.is_timeout() {
        return ClientError::Timeout {
            target,
            timeout: timeout.unwrap_or_default(),
        };
    }
    let reason = words(e);
    if e.is_connect() {
        ClientError::Connect { target, reason }
    } else {
        ClientError::Broken { target, reason }
    }
}

/// The innermost cause, with hints for the common ones.
fn words(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return "connection refused (is the server running?)".into()
                }
                std::io::ErrorKind::TimedOut => return "timed out".into(),
                _ => {}
            }
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_words(tls);
            }
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls_words(tls);
        }
        innermost = err;
        current = err.source();
    }
    let text = innermost.to_string();
    if text.contains("invalid peer certificate") {
        format!(
            "TLS: the server's certificate is not trusted ({text}); \
             use --cacert FILE to trust its CA, or --verify no"
        )
    } else if text.contains("failed to lookup address")
        || text.contains("Name or service not known")
    {
        format!("the host name does not resolve ({text})")
    } else {
        text
    }
}

fn tls_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(why) => format!(
            "TLS: the server's certificate is not trusted ({why:?}); \
             use --cacert FILE to trust its CA, or --verify no"
        ),
        other => format!("TLS: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn spec(method: Method) -> RequestSpec {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer t".parse().unwrap());
        headers.insert(reqwest::header::CONTENT_TYPE, "a/b".parse().unwrap());
        RequestSpec {
            method,
            url: url::Url::parse("http://a:1/x").unwrap(),
            headers,
            body: bytes::Bytes::from_static(b"body"),
        }
    }

    #[test]
    fn redirects_change_method_as_browsers_do() {
        let same = url::Url::parse("http://a:1/y").unwrap();
        let other = url::Url::parse("http://b:1/y").unwrap();
        let r = redirected(spec(Method::POST), StatusCode::SEE_OTHER, same.clone());
        assert_eq!((r.method, r.body.len()), (Method::GET, 0));
        assert!(r.headers.contains_key(AUTHORIZATION));
        let r = redirected(spec(Method::POST), StatusCode::FOUND, same.clone());
        assert_eq!(r.method, Method::GET);
        let r = redirected(spec(Method::PUT), StatusCode::FOUND, same.clone());
        assert_eq!(r.method, Method::PUT);
        let r = redirected(spec(Method::POST), StatusCode::TEMPORARY_REDIRECT, other);
        assert_eq!((r.method, r.body.len()), (Method::POST, 4));
        assert!(!r.headers.contains_key(AUTHORIZATION));
    }
}
