//! Properties: however a message is split across reads, it parses and decodes as it does in
//! one read (refusals included); and a request head written back by the encoder parses the
//! same.

use bytes::BytesMut;
use proptest::prelude::*;
use switchboard_wire::response::{self, Asked};
use switchboard_wire::{encode, request, Decoded, Decoder, Error, Step};

const MAX_HEAD: usize = 16 * 1024;

/// Cut points for a message of `len` bytes: sorted, within it.
fn cuts(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.sort_unstable();
    cuts.push(len);
    cuts
}

/// A chunked body decoded from `wire` arriving in the pieces `cuts` makes, through a
/// `BytesMut`: the body and what was left after it, or the refusal.
fn chunked_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut decoder = Decoder::chunked();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    let mut next = cuts.iter();
    loop {
        match decoder.decode(&mut buf)? {
            Decoded::Data(data) => body.extend_from_slice(&data),
            Decoded::Done => {
                buf.extend_from_slice(&wire[fed..]);
                return Ok((body, buf.to_vec()));
            }
            Decoded::NeedMore => {
                let Some(&end) = next.next() else {
                    return Err(Error::Malformed("ended early"));
                };
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
        }
    }
}

/// The same through [`Decoder::decode_slice`], over one buffer that grows as pieces come, as
/// the load generator reads.
fn chunked_in_place(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut decoder = Decoder::chunked();
    let mut body = Vec::new();
    let (mut at, mut end) = (0, 0);
    let mut next = cuts.iter();
    loop {
        match decoder.decode_slice(&wire[at..end])? {
            Step::Data { skip, len } => {
                body.extend_from_slice(&wire[at + skip..at + skip + len]);
                at += skip + len;
            }
            Step::Done { used } => return Ok((body, wire[at + used..].to_vec())),
            Step::NeedMore { used } => {
                at += used;
                let Some(&cut) = next.next() else {
                    return Err(Error::Malformed("ended early"));
                };
                end = cut.max(end);
            }
        }
    }
}

/// A valid chunked body: its chunks (with or without extensions), trailers, then `rest`.
fn chunked_wire(
    chunks: &[(Vec<u8>, bool)],
    trailers: &[String],
    rest: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut wire = Vec::new();
    let mut body = Vec::new();
    for (data, ext) in chunks {
        encode::chunk_size(&mut wire, data.len() as u64);
        if *ext {
            // Extensions go between the size and its CRLF.
            wire.truncate(wire.len() - 2);
            wire.extend_from_slice(b" ;name=\"a value\";x\r\n");
        }
        wire.extend_from_slice(data);
        wire.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
    }
    wire.extend_from_slice(b"0\r\n");
    for trailer in trailers {
        wire.extend_from_slice(trailer.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(rest);
    (wire, body)
}

fn chunks() -> impl Strategy<Value = Vec<(Vec<u8>, bool)>> {
    prop::collection::vec(
        (prop::collection::vec(any::<u8>(), 1..40), any::<bool>()),
        0..6,
    )
}

fn trailers() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("x-[a-z]{1,8}: [ -~]{0,12}", 0..3)
}

/// What a request head came to, comparable.
#[derive(Debug, PartialEq)]
struct Summary {
    method: String,
    uri: String,
    version: http::Version,
    fields: Vec<(String, Vec<u8>)>,
    framing: request::Framing,
    flags: (bool, bool, bool),
    left: Vec<u8>,
}

fn summary(head: &request::RequestHead, left: &[u8]) -> Summary {
    Summary {
        method: head.request.method().to_string(),
        uri: head.request.uri().to_string(),
        version: head.request.version(),
        fields: head
            .request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        framing: head.framing,
        flags: (head.keep_alive, head.expect_continue, head.upgrade),
        left: left.to_vec(),
    }
}

/// A request head parsed from `wire` arriving in pieces, parsed after each as the server does.
fn request_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<Option<Summary>, Error> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for &end in cuts {
        buf.extend_from_slice(&wire[fed..end]);
        fed = end;
        if let Some(head) = request::parse(&mut buf, MAX_HEAD)? {
            buf.extend_from_slice(&wire[fed..]);
            return Ok(Some(summary(&head, &buf)));
        }
    }
    Ok(None)
}

fn request_wire() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]);
    let target = "/[a-z0-9/._~-]{0,20}(\\?[a-z0-9=&]{0,12})?";
    let fields = prop::collection::vec("x-[a-z0-9-]{1,10}: [!-~]([ -~]{0,15}[!-~])?", 0..6);
    let framing = prop_oneof![
        Just(String::new()),
        (0u64..100_000).prop_map(|n| format!("Content-Length: {n}\r\n")),
        Just("Transfer-Encoding: chunked\r\n".to_string()),
    ];
    let extra = prop::sample::select(vec![
        "",
        "Connection: close\r\n",
        "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n",
        "Expect: 100-continue\r\n",
    ]);
    (method, target, fields, framing, extra, "[ -~]{0,10}").prop_map(
        |(method, target, fields, framing, extra, rest)| {
            let mut wire = format!("{method} {target} HTTP/1.1\r\nHost: example.com\r\n");
            for field in fields {
                wire.push_str(&field);
                wire.push_str("\r\n");
            }
            wire.push_str(&framing);
            wire.push_str(extra);
            wire.push_str("\r\n");
            wire.push_str(&rest);
            wire.into_bytes()
        },
    )
}

fn response_wire() -> impl Strategy<Value = Vec<u8>> {
    let status = prop::sample::select(vec![
        "100 Continue",
        "200 OK",
        "204 No Content",
        "304 Not Modified",
        "404 Not Found",
        "503 Service Unavailable",
    ]);
    let framing = prop_oneof![
        Just(String::new()),
        (0u64..100_000).prop_map(|n| format!("Content-Length: {n}\r\n")),
        Just("Transfer-Encoding: chunked\r\n".to_string()),
    ];
    let version = prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]);
    let fields = prop::collection::vec("x-[a-z0-9-]{1,10}: [!-~]{0,15}", 0..6);
    (version, status, fields, framing, any::<bool>()).prop_map(
        |(version, status, fields, framing, close)| {
            let mut wire = format!("{version} {status}\r\n");
            for field in fields {
                wire.push_str(&field);
                wire.push_str("\r\n");
            }
            wire.push_str(&framing);
            if close {
                wire.push_str("Connection: close\r\n");
            }
            wire.push_str("\r\nbody");
            wire.into_bytes()
        },
    )
}

/// Flips `flips` bytes of `wire` (positions and values given), to make refusals too.
fn mutate(mut wire: Vec<u8>, flips: &[(usize, u8)]) -> Vec<u8> {
    if !wire.is_empty() {
        for &(at, b) in flips {
            let at = at % wire.len();
            wire[at] = b;
        }
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_chunked_body_decodes_the_same_however_it_is_split(
        chunks in chunks(),
        trailers in trailers(),
        rest in prop::collection::vec(any::<u8>(), 0..8),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (wire, body) = chunked_wire(&chunks, &trailers, &rest);
        let whole = chunked_in_pieces(&wire, &[wire.len()]);
        prop_assert_eq!(whole.as_ref(), Ok(&(body, rest)));
        let cuts = cuts(wire.len(), &raw_cuts);
        prop_assert_eq!(&chunked_in_pieces(&wire, &cuts), &whole);
        prop_assert_eq!(&chunked_in_place(&wire, &cuts), &whole);
    }

    #[test]
    fn a_damaged_chunked_body_is_refused_the_same_however_it_is_split(
        chunks in chunks(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..3),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (wire, _) = chunked_wire(&chunks, &[], b"");
        let wire = mutate(wire, &flips);
        let whole = chunked_in_pieces(&wire, &[wire.len()]);
        let cuts = cuts(wire.len(), &raw_cuts);
        prop_assert_eq!(&chunked_in_pieces(&wire, &cuts), &whole);
        prop_assert_eq!(&chunked_in_place(&wire, &cuts), &whole);
    }

    #[test]
    fn a_request_head_parses_the_same_however_it_is_split(
        wire in request_wire(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..2),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire = mutate(wire, &flips);
        let whole = request_in_pieces(&wire, &[wire.len()]);
        if flips.is_empty() {
            prop_assert!(matches!(whole, Ok(Some(_))), "{:?}", whole);
        }
        prop_assert_eq!(request_in_pieces(&wire, &cuts(wire.len(), &raw_cuts)), whole);
    }

    #[test]
    fn a_response_head_parses_the_same_however_it_is_split(
        wire in response_wire(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..2),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
        head in any::<bool>(),
    ) {
        let wire = mutate(wire, &flips);
        let asked = Asked { head, upgrade: false };
        let whole = response::parse_status(&wire, asked, MAX_HEAD);
        if flips.is_empty() {
            prop_assert!(matches!(whole, Ok(Some(_))), "{:?}", whole);
        }
        let mut found = Ok(None);
        for end in cuts(wire.len(), &raw_cuts) {
            found = response::parse_status(&wire[..end], asked, MAX_HEAD);
            if !matches!(found, Ok(None)) {
                break;
            }
        }
        prop_assert_eq!(found, whole);
        // The owned form agrees with the borrowed one.
        let owned = response::parse(&mut BytesMut::from(&wire[..]), asked, MAX_HEAD);
        match (whole, owned) {
            (Ok(Some(s)), Ok(Some(h))) => {
                prop_assert_eq!(s.code, h.response.status());
                prop_assert_eq!((s.framing, s.keep_alive), (h.framing, h.keep_alive));
            }
            (Ok(None), Ok(None)) => {}
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "the forms disagree: {:?} and {:?}", a, b),
        }
    }

    #[test]
    fn a_request_head_written_back_parses_the_same(wire in request_wire()) {
        let mut buf = BytesMut::from(&wire[..]);
        let first = request::parse(&mut buf, MAX_HEAD).unwrap().unwrap();
        let mut written = Vec::new();
        encode::request_head(&mut written, &first.request, first.framing);
        let mut again = BytesMut::from(&written[..]);
        let second = request::parse(&mut again, MAX_HEAD).unwrap().unwrap();
        prop_assert!(again.is_empty());
        let mut a = summary(&first, b"");
        let b = summary(&second, b"");
        // The framing field is written last, in lower case.
        a.fields.retain(|(n, _)| n != "content-length" && n != "transfer-encoding");
        a.fields.extend(
            b.fields
                .iter()
                .filter(|(n, _)| n == "content-length" || n == "transfer-encoding")
                .cloned(),
        );
        prop_assert_eq!(a, b);
    }
}
