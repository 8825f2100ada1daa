//! A small cookie jar (RFC 6265's storage model): cookies scoped to the host that set them (or
//! the domain they name), to a path, to HTTPS when `Secure`, and to their lifetime.

use serde::{Deserialize, Serialize};
use url::Url;

/// One stored cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The host that set it, or the domain it names.
    pub domain: String,
    /// Sent to `domain` only, not to its subdomains (no `Domain` attribute was given).
    #[serde(default)]
    pub host_only: bool,
    /// Sent for this path and below.
    pub path: String,
    /// Sent over HTTPS only.
    #[serde(default)]
    pub secure: bool,
    /// When it expires, in seconds since the Unix epoch; `None`: kept until replaced.
    #[serde(default)]
    pub expires: Option<u64>,
}

/// The cookies a session keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// The cookies, in the order they were stored.
    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    /// Stores what a `Set-Cookie` header from `url` says, at `now` (seconds since the epoch).
    /// A cookie for another domain is ignored; an expired one removes the stored one.
    pub fn store(&mut self, url: &Url, set_cookie: &str, now: u64) {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return;
        };
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.trim().trim_matches('"').to_string(),
            domain: host.clone(),
            host_only: true,
            path: default_path(url),
            secure: false,
            expires: None,
        };
        let mut max_age = None;
        let mut expires = None;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            let val = val.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "domain" if !val.is_empty() => {
                    let domain = val.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_matches(&host, &domain) {
                        return;
                    }
                    cookie.domain = domain;
                    cookie.host_only = false;
                }
                "path" if val.starts_with('/') => cookie.path = val.to_string(),
                "secure" => cookie.secure = true,
                "max-age" => max_age = val.parse::<i64>().ok(),
                "expires" => {
                    expires = httpdate::parse_http_date(val).ok().map(|t| {
                        t.duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs())
                    })
                }
                _ => {}
            }
        }
        cookie.expires = match (max_age, expires) {
            (Some(age), _) if age <= 0 => Some(0),
            (Some(age), _) => Some(now.saturating_add(age.unsigned_abs())),
            (None, at) => at,
        };
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_none_or(|at| at > now) {
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header for a request to `url` at `now`, if any cookie applies.
    pub fn header_for(&self, url: &Url, now: u64) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let path = url.path();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                let host_ok = if c.host_only {
                    c.domain == host
                } else {
                    domain_matches(&host, &c.domain)
                };
                host_ok
                    && path_matches(path, &c.path)
                    && (!c.secure || url.scheme() == "https")
                    && c.expires.is_none_or(|at| at > now)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(pairs.join("; "))
    }

    /// Drops expired cookies.
    pub fn purge(&mut self, now: u64) {
        self.cookies.retain(|c| c.expires.is_none_or(|at| at > now));
    }
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

fn default_path(url: &Url) -> String {
    let path = url.path();
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn cookies_go_back_to_their_host_and_path() {
        let mut jar = CookieJar::default();
        let login = url("http://localhost:8080/login");
        jar.store(
            &login,
            "sb_session=abc; HttpOnly; SameSite=Lax; Path=/",
            100,
        );
        jar.store(&login, "other=1; Path=/api", 100);
        assert_eq!(
            jar.header_for(&url("http://localhost:8080/api/profile"), 101),
            Some("other=1; sb_session=abc".into())
        );
        assert_eq!(
            jar.header_for(&url("http://localhost:8080/apix"), 101),
            Some("sb_session=abc".into())
        );
        assert_eq!(jar.header_for(&url("http://example.com/"), 101), None);
        assert_eq!(jar.header_for(&url("http://sub.localhost/"), 101), None);
    }

    #[test]
    fn domain_secure_and_expiry() {
        let mut jar = CookieJar::default();
        let site = url("https://www.example.com/a/b");
        jar.store(&site, "d=1; Domain=.example.com", 100);
        jar.store(&site, "s=2; Secure", 100);
        jar.store(&site, "evil=3; Domain=other.com", 100);
        jar.store(&site, "short=4; Max-Age=10", 100);
        assert_eq!(
            jar.header_for(&url("http://api.example.com/a/x"), 101),
            Some("d=1".into())
        );
        assert_eq!(
            jar.header_for(&url("https://www.example.com/a/c"), 105),
            Some("d=1; s=2; short=4".into())
        );
        assert_eq!(
            jar.header_for(&url("https://www.example.com/a/c"), 200),
            Some("d=1; s=2".into())
        );
        jar.store(&site, "d=; Domain=example.com; Max-Age=0", 100);
        jar.store(
            &site,
            "s=gone; Secure; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            100,
        );
        assert_eq!(
            jar.header_for(&url("https://www.example.com/a/c"), 101),
            Some("short=4".into())
        );
        jar.purge(500);
        assert!(jar.cookies().is_empty());
    }
}
