//! Request items, in httpie's syntax: what follows the URL on the command line.
//!
//! | item | meaning |
//! |---|---|
//! | `Name:value` | a request header (`Name:` leaves a default header out, `Name;` sends it empty) |
//! | `name==value` | a query parameter |
//! | `field=text` | a JSON string field, or a form field with `--form` |
//! | `field:=json` | a raw JSON value: `n:=5`, `tags:='["a"]'` |
//! | `field=@file` | a JSON string (or form field) read from a file |
//! | `field:=@file` | a raw JSON value read from a file |
//! | `field@file` | a file in a multipart form |
//!
//! The first separator wins, so `X-Token:a=b` is a header and `email=ann@example.com` a field.
//! In a name, `\` makes the next separator character literal (`a\=b=c` is the field `a=b`);
//! values are taken as written.

use std::fmt;
use std::path::PathBuf;

/// One request item, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `Name:value`; `None` (from `Name:`) leaves the header out.
    Header {
        /// The header name.
        name: String,
        /// Its value.
        value: Option<String>,
    },
    /// `name==value`.
    Query {
        /// The parameter name.
        name: String,
        /// Its value.
        value: String,
    },
    /// `field=text`.
    Data {
        /// The field name.
        name: String,
        /// Its text.
        value: String,
    },
    /// `field=@file`: the file's text as the field's value.
    DataFile {
        /// The field name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// `field:=json`.
    Json {
        /// The field name.
        name: String,
        /// The value.
        value: serde_json::Value,
    },
    /// `field:=@file`: the file holds JSON.
    JsonFile {
        /// The field name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// `field@file`: a file uploaded in a multipart form.
    File {
        /// The form field.
        name: String,
        /// The file.
        path: PathBuf,
    },
}

impl Item {
    /// Whether the item goes into the request body.
    pub fn is_data(&self) -> bool {
        !matches!(self, Item::Header { .. } | Item::Query { .. })
    }
}

/// An argument that is not a request item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemError {
    /// The argument as given.
    pub item: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a request item: {} (items look like Header:value, name==query, \
             field=text, field:=json, field@file)",
            self.item, self.reason
        )
    }
}

impl std::error::Error for ItemError {}

#[derive(Clone, Copy)]
enum Kind {
    JsonFile,
    DataFile,
    Json,
    Query,
    Data,
    File,
    Header,
}

/// Longest first where one separator starts another.
const SEPARATORS: [(&str, Kind); 7] = [
    (":=@", Kind::JsonFile),
    ("=@", Kind::DataFile),
    (":=", Kind::Json),
    ("==", Kind::Query),
    ("=", Kind::Data),
    ("@", Kind::File),
    (":", Kind::Header),
];

/// Parses one item.
pub fn parse_item(arg: &str) -> Result<Item, ItemError> {
    let error = |reason: &str| ItemError {
        item: arg.to_string(),
        reason: reason.to_string(),
    };
    let mut name = String::new();
    let mut chars = arg.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some(&(_, next)) = chars.peek() {
                if matches!(next, '\\' | ':' | '=' | '@' | ';') {
                    name.push(next);
                    chars.next();
                    continue;
                }
            }
            name.push(c);
            continue;
        }
        if c == ';' && i + 1 == arg.len() {
            if name.is_empty() {
                return Err(error("the name before the separator is empty"));
            }
            check_header_name(&name).map_err(|r| error(&r))?;
            return Ok(Item::Header {
                name,
                value: Some(String::new()),
            });
        }
        let rest = &arg[i..];
        let Some((sep, kind)) = SEPARATORS.iter().find(|(s, _)| rest.starts_with(s)) else {
            name.push(c);
            continue;
        };
        let value = &rest[sep.len()..];
        if name.is_empty() {
            return Err(error("the name before the separator is empty"));
        }
        return match kind {
            Kind::Header => {
                check_header_name(&name).map_err(|r| error(&r))?;
                let value = value.trim();
                Ok(Item::Header {
                    name,
                    value: (!value.is_empty()).then(|| value.to_string()),
                })
            }
            Kind::Query => Ok(Item::Query {
                name,
                value: value.to_string(),
            }),
            Kind::Data => Ok(Item::Data {
                name,
                value: value.to_string(),
            }),
            Kind::Json => match serde_json::from_str(value) {
                Ok(value) => Ok(Item::Json { name, value }),
                Err(e) => Err(error(&format!("the value after := is not JSON ({e})"))),
            },
            Kind::DataFile | Kind::JsonFile | Kind::File if value.is_empty() => {
                Err(error("the file name after @ is empty"))
            }
            Kind::DataFile => Ok(Item::DataFile {
                name,
                path: value.into(),
            }),
            Kind::JsonFile => Ok(Item::JsonFile {
                name,
                path: value.into(),
            }),
            Kind::File => Ok(Item::File {
                name,
                path: value.into(),
            }),
        };
    }
    Err(error("it has no separator"))
}

fn check_header_name(name: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.chars().all(token) {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid header name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(name: &str, value: Option<&str>) -> Item {
        Item::Header {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn every_kind_of_item() {
        let cases: Vec<(&str, Item)> = vec![
            ("Accept:text/html", header("Accept", Some("text/html"))),
            ("X-Token: abc ", header("X-Token", Some("abc"))),
            ("X-Equation:a=b", header("X-Equation", Some("a=b"))),
            ("User-Agent:", header("User-Agent", None)),
            ("X-Empty;", header("X-Empty", Some(""))),
            (
                "a==5",
                Item::Query {
                    name: "a".into(),
                    value: "5".into(),
                },
            ),
            (
                "q==x=y",
                Item::Query {
                    name: "q".into(),
                    value: "x=y".into(),
                },
            ),
            (
                "name=ann",
                Item::Data {
                    name: "name".into(),
                    value: "ann".into(),
                },
            ),
            (
                "email=ann@example.com",
                Item::Data {
                    name: "email".into(),
                    value: "ann@example.com".into(),
                },
            ),
            (
                "empty=",
                Item::Data {
                    name: "empty".into(),
                    value: "".into(),
                },
            ),
            (
                "n:=5",
                Item::Json {
                    name: "n".into(),
                    value: json!(5),
                },
            ),
            (
                "input:=[1,2,3]",
                Item::Json {
                    name: "input".into(),
                    value: json!([1, 2, 3]),
                },
            ),
            (
                r#"tags:=["a"]"#,
                Item::Json {
                    name: "tags".into(),
                    value: json!(["a"]),
                },
            ),
            (
                "ok:=true",
                Item::Json {
                    name: "ok".into(),
                    value: json!(true),
                },
            ),
            (
                "bio=@bio.txt",
                Item::DataFile {
                    name: "bio".into(),
                    path: "bio.txt".into(),
                },
            ),
            (
                "cfg:=@cfg.json",
                Item::JsonFile {
                    name: "cfg".into(),
                    path: "cfg.json".into(),
                },
            ),
            (
                "avatar@/tmp/me.png",
                Item::File {
                    name: "avatar".into(),
                    path: "/tmp/me.png".into(),
                },
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_item(arg), Ok(want), "{arg}");
        }
    }

    #[test]
    fn escapes_make_separators_literal_in_names() {
        let cases: Vec<(&str, Item)> = vec![
            (
                r"a\=b=c",
                Item::Data {
                    name: "a=b".into(),
                    value: "c".into(),
                },
            ),
            (
                r"x\:y=z",
                Item::Data {
                    name: "x:y".into(),
                    value: "z".into(),
                },
            ),
            (
                r"at\@home==1",
                Item::Query {
                    name: "at@home".into(),
                    value: "1".into(),
                },
            ),
            (
                r"back\\slash=v",
                Item::Data {
                    name: r"back\slash".into(),
                    value: "v".into(),
                },
            ),
            (
                r"path=C:\dir\file",
                Item::Data {
                    name: "path".into(),
                    value: r"C:\dir\file".into(),
                },
            ),
            (
                r"semi\;=1",
                Item::Data {
                    name: "semi;".into(),
                    value: "1".into(),
                },
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_item(arg), Ok(want), "{arg}");
        }
    }

    #[test]
    fn bad_items_say_why() {
        let cases = [
            ("justaword", "no separator"),
            ("=value", "name before the separator is empty"),
            (":=5", "name before the separator is empty"),
            // Found by fuzzing: taken for a header with no name, sent empty.
            (";", "name before the separator is empty"),
            ("n:=fiv", "not JSON"),
            ("n:=", "not JSON"),
            ("file@", "file name after @ is empty"),
            ("bad header:x", "not a valid header name"),
            ("Ünï:x", "not a valid header name"),
        ];
        for (arg, reason) in cases {
            let e = parse_item(arg).expect_err(arg);
            assert!(e.to_string().contains(reason), "{arg}: {e}");
            assert!(e.to_string().contains(&format!("'{arg}'")), "{arg}: {e}");
        }
    }

    #[test]
    fn data_items_are_told_apart() {
        assert!(!parse_item("A:b").unwrap().is_data());
        assert!(!parse_item("a==b").unwrap().is_data());
        assert!(parse_item("a=b").unwrap().is_data());
        assert!(parse_item("a@b").unwrap().is_data());
    }
}

/// Properties over generated items (a bounded number of cases, in `cargo test`).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::escaped;

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::char::range('a', 'z'),
                1 => prop::sample::select(vec![':', '=', '@', ';', '\\', '-', '.', ' ', 'é']),
            ],
            1..16,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    /// Arguments that look like items: names with separators and escapes in them, a
    /// separator, values of any kind; some lines of them.
    fn arguments() -> impl Strategy<Value = String> {
        let sep = prop::sample::select(vec![":", "==", "=", ":=", "@", "=@", ":=@", ";", "\\"]);
        let arg = (
            name(),
            sep,
            any::<String>(),
            "[ =@:;\\\\a-z0-9\"\\[\\]{}]{0,12}",
        )
            .prop_map(|(name, sep, any, near)| format!("{name}{sep}{near}{any}"));
        prop::collection::vec(arg, 1..4).prop_map(|args| args.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn an_item_written_back_parses_the_same(args in arguments()) {
            crate::fuzzing::items(args.as_bytes());
        }

        #[test]
        fn any_argument_parses_or_is_refused_without_a_panic(arg in any::<String>()) {
            if let Err(e) = parse_item(&arg) {
                prop_assert_eq!(e.item, arg);
            }
        }

        #[test]
        fn a_query_item_gives_back_its_name_and_value(name in name(), value in any::<String>()) {
            let item = parse_item(&format!("{}=={value}", escaped(&name))).unwrap();
            prop_assert_eq!(item, Item::Query { name, value });
        }

        #[test]
        fn a_data_item_gives_back_its_name_and_value(
            name in name(),
            value in any::<String>().prop_filter("not a file or query", |v| {
                !v.starts_with('@') && !v.starts_with('=')
            }),
        ) {
            let item = parse_item(&format!("{}={value}", escaped(&name))).unwrap();
            prop_assert_eq!(item, Item::Data { name, value });
        }

        #[test]
        fn a_json_item_gives_back_its_value(name in name(), n in any::<i64>(), s in any::<String>()) {
            let value = serde_json::json!({ "n": n, "s": s });
            let item = parse_item(&format!("{}:={value}", escaped(&name))).unwrap();
            prop_assert_eq!(item, Item::Json { name, value });
        }
    }
}
