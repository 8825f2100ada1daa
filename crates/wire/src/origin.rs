//! Where a request says it comes from, and which host it names: what a server checks against
//! cross-site request forgery ([`is_cross_site`]) and DNS rebinding ([`is_local_or_named`]).
//! Only the headers are read; what to refuse, and how, is the server's.

use std::net::{Ipv4Addr, Ipv6Addr};

use http::header::{self, HeaderMap};

/// Whether a browser says the request came from another site. Fetch metadata decides when it
/// is sent (`Sec-Fetch-Site` other than `same-origin` or `none`); else an `Origin` must match
/// `Host`, or `authority`, the request URI's (HTTP/2 sends `:authority` rather than `Host`).
/// A request with neither comes from no browser, and is not cross-site.
pub fn is_cross_site(headers: &HeaderMap, authority: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(authority)
    else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    !origin_host.eq_ignore_ascii_case(host)
}

/// Whether `authority` (a `Host` value or a URI's authority, with or without a port) names
/// the server in a way DNS rebinding cannot borrow: an IP literal (IPv4, or IPv6 in
/// brackets), `localhost` or a name under `.localhost` (which browsers resolve to loopback
/// themselves), or one of `names`, compared without case. Rebinding needs a DNS name the
/// attacker controls; any other name is refused.
pub fn is_local_or_named(authority: &str, names: &[String]) -> bool {
    let Some(host) = host_part(authority.trim()) else {
        return false;
    };
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || (lower.len() > ".localhost".len() && lower.ends_with(".localhost"))
        || names.iter().any(|n| n.eq_ignore_ascii_case(host))
}

/// The host of `host[:port]` or `[v6][:port]`; `None` when the port is not digits.
fn host_part(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, rest) = authority.split_at(end);
        match rest {
            "" => (host, ""),
            _ => (host, rest.strip_prefix(':')?),
        }
    } else {
        authority.split_once(':').unwrap_or((authority, ""))
    };
    (!host.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cross(h: HeaderMap) -> bool {
        is_cross_site(&h, None)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_first() {
        assert!(!cross(headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross(headers(&[("sec-fetch-site", "none")])));
        assert!(cross(headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross(headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn over_http2_the_authority_stands_for_host() {
        let h = headers(&[("origin", "https://a.test")]);
        assert!(!is_cross_site(&h, Some("a.test")));
        assert!(is_cross_site(&h, Some("b.test")));
    }

    #[test]
    fn else_origin_must_match_host() {
        assert!(!cross(headers(&[
            ("origin", "http://a.test:8080"),
            ("host", "a.test:8080")
        ])));
        assert!(cross(headers(&[
            ("origin", "https://evil.test"),
            ("host", "a.test:8080")
        ])));
        assert!(cross(headers(&[("origin", "null"), ("host", "a.test")])));
        assert!(
            !cross(headers(&[("host", "a.test")])),
            "no browser, no forgery"
        );
    }

    #[test]
    fn ip_literals_and_localhost_are_local() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8081",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:8081",
            "[fe80::1]:1",
            "localhost",
            "LocalHost:8081",
            "app.localhost:8081",
            " localhost:8081 ",
        ] {
            assert!(is_local_or_named(host, &[]), "{host}");
        }
    }

    #[test]
    fn other_names_only_when_configured() {
        let names = ["lb.internal".to_string()];
        for host in ["lb.internal", "LB.Internal:8081"] {
            assert!(is_local_or_named(host, &names), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8081",
            "lb.internal.evil.example",
            "localhost.evil.example",
            "evillocalhost",
            ".localhost",
            "localhost.",
            "127.1",
            "0x7f.0.0.1",
            "[::1",
            "[evil.example]",
            "::1",
            "127.0.0.1:http",
            "127.0.0.1:80:80",
            "[::1]x",
            "user@127.0.0.1",
            "",
            ":8081",
        ] {
            assert!(!is_local_or_named(host, &names), "{host:?}");
        }
    }
}
