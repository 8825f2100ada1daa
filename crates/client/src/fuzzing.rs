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
        assert_eq!(
            parse_item(&again).as_ref(),
            Ok(&item),
            "{arg:?} written back as {again:?}"
        );
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
