//! Property tests of the TOML files (a bounded number of cases, in `cargo test`): any text,
//! and real files mutated, keep the fuzz target's properties; a file parsed, written back and
//! read again gives the same settings.

use proptest::prelude::*;

use crate::{balance, serve};

fn duration() -> impl Strategy<Value = String> {
    "\"[0-9]{1,3}(ms|s|m|h)\""
}

fn size() -> impl Strategy<Value = String> {
    prop_oneof![
        (0usize..10_000_000).prop_map(|n| n.to_string()),
        "\"[0-9]{1,4}(K|M|KiB|MiB)?\""
    ]
}

fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| format!("\"{}.{}.{}.{}\"", b[0], b[1], b[2], b[3])),
        any::<[u16; 8]>().prop_map(|s| format!("\"{}\"", std::net::Ipv6Addr::from(s))),
    ]
}

fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(item, 0..4).prop_map(|items| format!("[{}]", items.join(", ")))
}

fn string() -> impl Strategy<Value = String> {
    "\"[ -!#-\\[\\]-~]{0,20}\""
}

/// `key = value` lines, each key at most once, in the order given.
fn lines(keys: Vec<(&'static str, BoxedStrategy<String>)>) -> impl Strategy<Value = String> {
    keys.into_iter()
        .map(|(key, value)| {
            prop::option::of(value)
                .prop_map(move |v| v.map(|v| format!("{key} = {v}\n")).unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .prop_map(|lines| lines.concat())
}

fn limits() -> Vec<(&'static str, BoxedStrategy<String>)> {
    vec![
        ("grace", duration().boxed()),
        ("max-header-bytes", size().boxed()),
        ("header-read-timeout", duration().boxed()),
        ("body-read-timeout", duration().boxed()),
        ("idle-timeout", duration().boxed()),
        (
            "max-connections",
            (0usize..100_000).prop_map(|n| n.to_string()).boxed(),
        ),
        ("trusted-proxies", list(ip()).boxed()),
    ]
}

fn schedule() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"0 3 * * *\"".to_string()),
        Just("\"*/10 * * * *\"".to_string()),
        "\"[0-9*/ ,-]{1,16}\"",
    ]
}

/// A `serve` file as people write them.
fn serve_text() -> impl Strategy<Value = String> {
    let mut keys = limits();
    keys.extend([
        ("listen", "\"127\\.0\\.0\\.1:[0-9]{1,5}\"".boxed()),
        ("database", "\"sqlite://[a-z/]{1,12}\\.db\"".boxed()),
        ("data", string().boxed()),
        ("backup-dir", string().boxed()),
        ("report-dir", string().boxed()),
        ("site", string().boxed()),
        ("name", string().boxed()),
        (
            "tls-self-signed",
            any::<bool>().prop_map(|b| b.to_string()).boxed(),
        ),
        ("body-limit", size().boxed()),
        ("request-timeout", duration().boxed()),
        ("session-idle", duration().boxed()),
        ("session-lifetime", duration().boxed()),
    ]);
    let count = || (0u32..100).prop_map(|n| n.to_string()).boxed();
    let backup = lines(vec![
        ("schedule", schedule().boxed()),
        ("keep-last", count()),
        ("keep_daily", count()),
        ("keep-weekly", count()),
    ]);
    let cleanup = lines(vec![("schedule", schedule().boxed()), ("batch", count())]);
    (
        lines(keys),
        prop::option::of(backup),
        prop::option::of(schedule()),
        prop::option::of(cleanup),
    )
        .prop_map(|(top, backup, report, cleanup)| {
            let mut text = top;
            if let Some(backup) = backup {
                text.push_str(&format!("[jobs.backup]\n{backup}"));
            }
            if let Some(report) = report {
                text.push_str(&format!("[jobs.report]\nschedule = {report}\n"));
            }
            if let Some(cleanup) = cleanup {
                text.push_str(&format!("[jobs.cleanup]\n{cleanup}"));
            }
            text
        })
}

/// A `balance` file as people write them.
fn balance_text() -> impl Strategy<Value = String> {
    let mut keys = limits();
    keys.extend([
        ("listen", "\"127\\.0\\.0\\.1:[0-9]{1,5}\"".boxed()),
        ("admin", "\"127\\.0\\.0\\.1:[0-9]{1,5}\"".boxed()),
        ("admin-hosts", list(string()).boxed()),
        (
            "mode",
            prop_oneof![Just("\"http\""), Just("\"tcp\""), Just("\"udp\"")]
                .prop_map(String::from)
                .boxed(),
        ),
        (
            "strategy",
            prop_oneof![
                Just("\"round-robin\""),
                Just("\"least-connections\""),
                Just("\"ip-hash\""),
                Just("\"p2c\""),
                Just("\"random\"")
            ]
            .prop_map(String::from)
            .boxed(),
        ),
        (
            "log-format",
            prop_oneof![Just("\"combined\""), Just("\"json\""), Just("\"off\"")]
                .prop_map(String::from)
                .boxed(),
        ),
        ("sticky", any::<bool>().prop_map(|b| b.to_string()).boxed()),
        (
            "proxy-protocol",
            any::<bool>().prop_map(|b| b.to_string()).boxed(),
        ),
    ]);
    let health = lines(vec![
        (
            "check",
            prop_oneof![Just("\"tcp\"".to_string()), "\"/[a-z]{0,8}\""].boxed(),
        ),
        ("interval", duration().boxed()),
        ("timeout", duration().boxed()),
        ("rise", (0u32..10).prop_map(|n| n.to_string()).boxed()),
        ("fall", (0u32..10).prop_map(|n| n.to_string()).boxed()),
    ]);
    let backend = (
        prop_oneof![
            "127\\.0\\.0\\.1:[0-9]{1,5}",
            "[a-z]{1,8}:[0-9]{1,5}",
            "[a-z:]{0,8}"
        ],
        prop::option::of(0u32..20),
    )
        .prop_map(|(addr, weight)| match weight {
            Some(w) => format!("[[backend]]\naddr = \"{addr}\"\nweight = {w}\n"),
            None => format!("[[backend]]\naddr = \"{addr}\"\n"),
        });
    (
        lines(keys),
        prop::option::of(health),
        prop::collection::vec(backend, 0..4),
    )
        .prop_map(|(top, health, backends)| {
            let mut text = top;
            if let Some(health) = health {
                text.push_str(&format!("[health]\n{health}"));
            }
            text.push_str(&backends.concat());
            text
        })
}

/// Sets `flips` bytes of `text` (positions and values given), to make refusals too.
fn mutate(text: &str, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    if !bytes.is_empty() {
        for &(at, b) in flips {
            let at = at % bytes.len();
            bytes[at] = b;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_text_keeps_the_fuzz_targets_properties(text in any::<String>()) {
        super::config(text.as_bytes());
    }

    #[test]
    fn a_damaged_file_is_refused_or_loaded_without_a_panic(
        serve in serve_text(),
        balance in balance_text(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        super::config(serve.as_bytes());
        super::config(balance.as_bytes());
        super::config(&mutate(&serve, &flips));
        super::config(&mutate(&balance, &flips));
    }

    #[test]
    fn a_serve_file_written_back_reads_the_same(text in serve_text()) {
        let file = serve::FileConfig::parse(&text);
        prop_assert!(file.is_ok(), "{:?}: {:?}", text, file);
        let file = file.unwrap();
        let written = toml::to_string(&file).unwrap();
        prop_assert_eq!(serve::FileConfig::parse(&written), Ok(file), "{}", written);
    }

    #[test]
    fn a_balance_file_written_back_reads_the_same(text in balance_text()) {
        let file = balance::FileConfig::parse(&text);
        prop_assert!(file.is_ok(), "{:?}: {:?}", text, file);
        let file = file.unwrap();
        let written = toml::to_string(&file).unwrap();
        prop_assert_eq!(balance::FileConfig::parse(&written), Ok(file), "{}", written);
    }
}

#[test]
fn the_committed_corpus_keeps_its_properties() {
    switchboard_testkit::corpus::replay("config_toml", super::config);
}
