//! Parsers for flag values that clap does not know: durations, byte sizes and host names.

use std::time::Duration;

/// A duration: `500ms`, `5s`, `2m`, `1h 30m` (humantime's forms), or a bare number of seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}); try 500ms, 5s or 2m"))
}

/// A size in bytes: `65536`, `64K`/`64KiB` (×1024), `1M`/`1MiB`, `1G`/`1GiB`.
pub fn bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("'{s}' is not a size; try 4096, 64K or 1M");
    let n: usize = digits.parse().map_err(|_| bad())?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// A host name alone (`lb.example.com`): letters, digits, `.`, `-` and `_`; no port, no
/// scheme.
pub fn host_name(s: &str) -> Result<String, String> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if plain {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a host name; try lb.example.com, without a port"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("soon").unwrap_err().contains("not a duration"));
        assert!(duration("-1s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("4096"), Ok(4096));
        assert_eq!(bytes("64K"), Ok(65536));
        assert_eq!(bytes("64KiB"), Ok(65536));
        assert_eq!(bytes("1m"), Ok(1 << 20));
        assert!(bytes("").is_err());
        assert!(bytes("12 parsecs").is_err());
        assert!(bytes("99999999999999999999G").is_err());
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name("lb.example.com"), Ok("lb.example.com".into()));
        assert_eq!(host_name("admin_1-a"), Ok("admin_1-a".into()));
        for bad in ["", "lb.example.com:8081", "http://lb", "[::1]", "a b"] {
            assert!(
                host_name(bad).unwrap_err().contains("not a host name"),
                "{bad}"
            );
        }
    }
}
