//! Any bytes as a request head: split invariance, nothing ambiguous accepted, and the head
//! written back parses the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_wire::fuzzing::request(data);
});
