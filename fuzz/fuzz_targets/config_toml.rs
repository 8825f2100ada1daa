//! Any text as the TOML file of `serve` and of `balance`: parsed or refused in one line,
//! and once parsed merged over the defaults or refused as a usage error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard::fuzzing::config(data);
});
