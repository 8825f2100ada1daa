//! Any bytes (a line limit, a prefix, then what a client sends) through the message
//! protocol: the same answers however the input is split, as the plain model says, and with
//! pauses as the model with a message ended at each.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchboard_echo::fuzzing::framing(data);
});
