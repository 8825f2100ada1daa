//! Bodies: decoded the same however they are split, through both of the decoder's forms.

use bytes::BytesMut;

use super::splits;
use crate::{Decoded, Decoder, Error, Step};

/// A body decoded from `data` arriving in the pieces `cuts` makes, through a `BytesMut`: the
/// body and the bytes after it once it ended (`None` while it had not), or the refusal.
fn in_pieces(
    mut decoder: Decoder,
    data: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    let mut next = cuts.iter();
    loop {
        match decoder.decode(&mut buf)? {
            Decoded::Data(bytes) => {
                assert!(!bytes.is_empty(), "empty data");
                body.extend_from_slice(&bytes);
            }
            Decoded::Done => {
                assert!(decoder.is_done());
                buf.extend_from_slice(&data[fed..]);
                return Ok((body, Some(buf.to_vec())));
            }
            Decoded::NeedMore => {
                let Some(&end) = next.next() else {
                    return Ok((body, None));
                };
                buf.extend_from_slice(&data[fed..end]);
                fed = end;
            }
        }
    }
}

/// The same through [`Decoder::decode_slice`], over one buffer that grows as pieces come, as
/// the load generator reads.
fn in_place(
    mut decoder: Decoder,
    data: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let mut body = Vec::new();
    let (mut at, mut end) = (0, 0);
    let mut next = cuts.iter();
    loop {
        let slice = &data[at..end];
        match decoder.decode_slice(slice)? {
            Step::Data { skip, len } => {
                assert!(
                    len > 0 && skip + len <= slice.len(),
                    "{skip} + {len} of {}",
                    slice.len()
                );
                body.extend_from_slice(&slice[skip..skip + len]);
                at += skip + len;
            }
            Step::Done { used } => {
                assert!(used <= slice.len() && decoder.is_done());
                return Ok((body, Some(data[at + used..].to_vec())));
            }
            Step::NeedMore { used } => {
                assert!(used <= slice.len());
                at += used;
                let Some(&cut) = next.next() else {
                    return Ok((body, None));
                };
                end = cut.max(end);
            }
        }
    }
}

/// Decodes `data` with `decoder` whole and split, both forms, and checks they all agree.
pub(crate) fn decodes_alike(decoder: Decoder, data: &[u8]) {
    let whole = in_pieces(decoder.clone(), data, &[data.len()]);
    if let (Decoder::Length(n), Ok((body, _))) = (&decoder, &whole) {
        assert_eq!(body.len() as u64, (*n).min(data.len() as u64));
    }
    assert_eq!(
        in_place(decoder.clone(), data, &[data.len()]),
        whole,
        "in place"
    );
    for cuts in splits(data) {
        assert_eq!(
            in_pieces(decoder.clone(), data, &cuts),
            whole,
            "split at {cuts:?}"
        );
        assert_eq!(
            in_place(decoder.clone(), data, &cuts),
            whole,
            "in place, split at {cuts:?}"
        );
    }
}

/// Checks that any bytes, as a chunked body, decode the same however they are split.
pub fn chunked(data: &[u8]) {
    decodes_alike(Decoder::chunked(), data);
}
