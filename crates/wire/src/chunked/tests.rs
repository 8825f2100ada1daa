use super::*;
use crate::body::Decoder;

/// Decodes `wire` fed in pieces of `step` bytes: the body and how many bytes after it were
/// left alone, or the error.
fn decode_in_pieces(wire: &[u8], step: usize) -> Result<(Vec<u8>, usize), Error> {
    let mut decoder = Decoder::chunked();
    let mut buf = bytes::BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match decoder.decode(&mut buf)? {
            crate::Decoded::Data(data) => body.extend_from_slice(&data),
            crate::Decoded::Done => return Ok((body, buf.len() + wire.len() - fed)),
            crate::Decoded::NeedMore => {
                if fed == wire.len() {
                    return Err(Error::Malformed("ended early"));
                }
                let end = (fed + step).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
        }
    }
}

#[test]
fn chunked_bodies_decode_however_they_are_split() {
    let wire = b"5\r\nhello\r\n7;name=\"v\"\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
    for step in [1, 2, 3, 7, 100] {
        let (body, left) = decode_in_pieces(wire, step).unwrap();
        assert_eq!(body, b"hello, world", "step {step}");
        assert_eq!(left, 4, "the next request is left alone");
    }
    assert_eq!(
        decode_in_pieces(b"A \r\n0123456789\r\n0\r\n\r\n", 4)
            .unwrap()
            .0
            .len(),
        10
    );
    assert_eq!(
        decode_in_pieces(b"ffffffffffffffff\r\nab", 100).unwrap_err(),
        Error::Malformed("ended early"),
        "16 hex digits are a size"
    );
}

#[test]
fn malformed_chunks_are_refused() {
    for wire in [
        &b"x\r\n"[..],
        b"\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        b"5;a\x01b\r\nhello\r\n0\r\n\r\n",
        b"5;a\nb\r\nhello\r\n0\r\n\r\n",
        b"5;a\rb\r\nhello\r\n0\r\n\r\n",
        b"5;\x7f\r\nhello\r\n0\r\n\r\n",
        b"11111111111111111\r\n",
        b"-5\r\n",
        b"+5\r\n",
        b" 5\r\n",
        b"0x5\r\n",
        b"5 5\r\n",
        b"5\r\r\n",
        b"0\r\n\n",
        b"0\r\nX: 1\n\r\n",
        b"0\r\nX: 1\r\r\n",
        b"0\n\r\n",
    ] {
        assert!(decode_in_pieces(wire, 3).is_err(), "{wire:?}");
        assert!(decode_in_pieces(wire, 1).is_err(), "{wire:?}");
    }
}

#[test]
fn a_long_size_line_or_long_trailers_are_refused() {
    let mut line = b"5;".to_vec();
    line.resize(MAX_CHUNK_LINE + 1, b'a');
    line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    assert_eq!(
        decode_in_pieces(&line, 1000).unwrap_err(),
        Error::Malformed("chunk size line too long")
    );
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < MAX_TRAILERS + 100 {
        trailers.extend_from_slice(b"X-Trailer: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    trailers.extend_from_slice(b"\r\n");
    assert_eq!(
        decode_in_pieces(&trailers, 1000).unwrap_err(),
        Error::Malformed("trailers too large")
    );
}

#[test]
fn a_slice_is_decoded_in_place() {
    let wire = b"3\r\nabc\r\n0\r\n\r\nrest";
    let mut chunked = Chunked::new();
    let mut at = 0;
    let mut body = Vec::new();
    loop {
        match chunked.decode(&wire[at..]).unwrap() {
            Step::Data { skip, len } => {
                body.extend_from_slice(&wire[at + skip..at + skip + len]);
                at += skip + len;
            }
            Step::Done { used } => {
                at += used;
                break;
            }
            Step::NeedMore { .. } => panic!("all of it is there"),
        }
    }
    assert!(chunked.is_done());
    assert_eq!((&body[..], &wire[at..]), (&b"abc"[..], &b"rest"[..]));
}
