//! The fuzz targets' committed inputs (`fuzz/seeds/TARGET` and `fuzz/corpus/TARGET` at the
//! workspace's root), for the tests that replay them on stable.

use std::path::{Path, PathBuf};

/// One committed input: where it is (for a failure's message) and its bytes.
#[derive(Debug)]
pub struct Input {
    /// The file, relative to the workspace's root.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The workspace's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every committed input of `target`: its seeds, then its minimised corpus, each sorted by
/// name. Fails the test if there are none: a replay of nothing would pass whatever broke.
pub fn inputs(target: &str) -> Vec<Input> {
    let mut inputs = Vec::new();
    for dir in ["seeds", "corpus"] {
        let rel = format!("fuzz/{dir}/{target}");
        let Ok(entries) = std::fs::read_dir(root().join(&rel)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let name = format!("{rel}/{name}");
            let bytes = std::fs::read(root().join(&name))
                .unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
            inputs.push(Input { name, bytes });
        }
    }
    assert!(
        !inputs.is_empty(),
        "no committed inputs for the fuzz target {target}"
    );
    inputs
}

/// Runs `check` on every committed input of `target`; a failure names the input.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    for input in inputs(target) {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input.bytes)));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            panic!("{}: {why}", input.name);
        }
    }
}
