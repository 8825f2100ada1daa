//! The fuzz targets' committed inputs (seeds and the minimised corpus under `fuzz/`),
//! replayed through the targets' own checks on stable; and the smuggling shapes among the
//! seeds, refused.

use bytes::BytesMut;
use switchboard_testkit::corpus;
use switchboard_wire::response::{self, Asked};
use switchboard_wire::{fuzzing, request};

#[test]
fn the_request_corpus_keeps_its_properties() {
    corpus::replay("wire_request", fuzzing::request);
}

#[test]
fn the_response_corpus_keeps_its_properties() {
    corpus::replay("wire_response", fuzzing::response);
}

#[test]
fn the_smuggling_seeds_are_refused() {
    let mut seen = 0;
    for input in corpus::inputs("wire_request") {
        if input.name.contains("/smuggle-") {
            let parsed = request::parse(&mut BytesMut::from(&input.bytes[..]), fuzzing::MAX_HEAD);
            assert!(parsed.is_err(), "{}: {parsed:?}", input.name);
            seen += 1;
        }
    }
    for input in corpus::inputs("wire_response") {
        if input.name.contains("/smuggle-") {
            for head in [false, true] {
                let asked = Asked {
                    head,
                    upgrade: false,
                };
                let parsed = response::parse_status(&input.bytes, asked, fuzzing::MAX_HEAD);
                assert!(parsed.is_err(), "{}: {parsed:?}", input.name);
            }
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} smuggling seeds");
}
