//! The properties the `client_items` fuzz target checks, here so that the target (under
//! `fuzz/`, built with cargo-fuzz) and the test that replays its corpus on stable run the
//! same checks. [`items`] takes any bytes and panics only when a property fails:
//!
//! - each line, as a command-line argument, parses as an item or is refused naming it,
//!   never with a panic; an item has a name, a header's a valid field name;
//! - an item written back on a command line (its name's separators escaped) parses as the
//!   same item;
//! - the items that read no file build a request (JSON and form) or are refused, never with
//!   a panic.
//!
//! Not part of the crate's interface: hidden from its documentation, used by no other code.

use crate::items::{parse_item, Item};
use crate::request::{build, RequestOptions};

/// A name as written on the command line: its separator characters escaped.
pub fn escaped(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '\\' | ':' | '=' | '@' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `item` as a command-line argument that parses back to it.
pub fn written(item: &Item) -> String {
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    match item {
        // A header's name is a token: nothing in it to escape. The value is trimmed when
        // parsed, so a space after the colon changes nothing, and keeps a value that starts
        // with `=` from making `:=`.
        Item::Header { name, value: None } => format!("{name}:"),
        Item::Header {
            name,
            value: Some(value),
        } if value.is_empty() => format!("{name};"),
        Item::Header {
            name,
            value: Some(value),
        } => format!("{name}: {value}"),
        Item::Query { name, value } => format!("{}=={value}", escaped(name)),
        Item::Data { name, value } => format!("{}={value}", escaped(name)),
        Item::DataFile { name, path: p } => format!("{}=@{}", escaped(name), path(p)),
        Item::Json { name, value } => format!("{}:={value}", escaped(name)),
        Item::JsonFile { name, path: p } => format!("{}:=@{}", escaped(name), path(p)),
        Item::File { name, path: p } => format!("{}@{}", escaped(name), path(p)),
    }
}

/// The item's name.
fn name(item: &Item) -> &str {
    match item {
        Item::Header { name, .. }
        | Item::Query { name, .. }
        | Item::Data { name, .. }
        | Item::DataFile { name, .. }
        | Item::Json { name, .. }
        | Item::JsonFile { name, .. }
        | Item::File { name, .. } => name,
    }
}

/// Whether two items are the same, JSON numbers to within a few units in the last place:
/// serde_json's parser (without its `float_roundtrip` feature) reads some long decimals a
/// unit off the nearest double, so a double's shortest text may read back a unit off (found
/// by fuzzing: `1.2233333333333333e+36`). What the client sends is that shortest text.
fn same(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Json { name, value }, Item::Json { name: n, value: v }) => {
            name == n && close(value, v)
        }
        _ => a == b,
    }
}

fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y))
                    if (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| k == l && close(v, w))
        }
        _ => a == b,
    }
}

/// Checks the item properties on `data`, one argument a line (see the module's overview).
pub fn items(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parsed = Vec::new();
    for arg in text.split('\n') {
        let item = match parse_item(arg) {
            Ok(item) => item,
            Err(e) => {
                assert_eq!(e.item, arg);
                assert!(!e.reason.is_empty());
                continue;
            }
        };
        assert!(!name(&item).is_empty(), "{arg:?}: {item:?} has no name");
        if let Item::Header { name, .. } = &item {
            assert!(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                "{arg:?}: header name {name:?}"
            );
        }
        let again = written(&item);
        match parse_item(&again) {
            Ok(back) => assert!(
                same(&back, &item),
                "{arg:?} written back as {again:?}: {back:?}"
            ),
            Err(e) => panic!("{arg:?} written back as {again:?}: {e}"),
        }
        if !matches!(
            item,
            Item::DataFile { .. } | Item::JsonFile { .. } | Item::File { .. }
        ) {
            parsed.push(item);
        }
    }
    let url = url::Url::parse("http://example.com/a?b=c").expect("a valid URL");
    for form in [false, true] {
        let options = RequestOptions {
            form,
            ..RequestOptions::default()
        };
        // Refused or built; either is fine, a panic is not.
        let _ = build(url.clone(), &parsed, options);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_corpus_keeps_its_properties() {
        switchboard_testkit::corpus::replay("client_items", super::items);
    }
}
