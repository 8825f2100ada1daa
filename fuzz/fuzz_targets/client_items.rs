//! Any text, one command-line argument a line, as the client's request items: parsed or
//! refused naming the argument, written back and parsed the same, built into a request or
//! refused, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_client::fuzzing::items(data);
});
