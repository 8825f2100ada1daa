//! Any bytes as a response head and its body (those starting `HTTP/`), or as a chunked body
//! (the rest): split invariance, the two parsing forms agreeing, nothing ambiguous accepted.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_wire::fuzzing::response(data);
});
