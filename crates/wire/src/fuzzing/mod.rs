//! The properties the fuzz targets check, here so that the targets (under `fuzz/`, built
//! with cargo-fuzz) and the tests that replay their corpus on stable run the same checks.
//! Each function takes any bytes and panics only when a property fails:
//!
//! - [`request`]: a request head parses the same however it is split across reads; what is
//!   accepted is unambiguous (one framing, a plain length, exactly `chunked`, one `Host` in
//!   HTTP/1.1); written back by [`crate::encode::request_head`] it parses the same.
//! - [`response`]: bytes starting `HTTP/` as a response: a response head parses the same however it is split, in both forms
//!   ([`crate::response::parse_status`] and [`crate::response::parse`]), for every kind of
//!   request it may answer; what is accepted is unambiguous; its body, by length or chunked,
//!   decodes the same however it is split, through both of [`crate::Decoder`]'s forms.
//!   Any other bytes as a chunked body ([`chunked`]).
//! - [`chunked`]: any bytes as a chunked body decode (or are refused) the same however they
//!   are split.
//!
//! Not part of the crate's interface: hidden from its documentation, used by no other code.

mod body;
mod heads;

pub use body::chunked;
pub use heads::request;

/// Checks the response properties on `data` if it starts `HTTP/`, else the chunked body's:
/// one target for both (see the module's overview).
pub fn response(data: &[u8]) {
    if data.starts_with(b"HTTP/") {
        heads::response(data);
    } else {
        chunked(data);
    }
}

/// The largest head the checks allow, as the server's default does.
pub const MAX_HEAD: usize = 16 * 1024;

/// Inputs up to this long are also fed one byte at a time (every prefix parsed): longer ones
/// would make each run quadratic.
const BYTEWISE: usize = 512;

/// Cut points for `data`, drawn from its own bytes so that a run is repeatable: sorted, within
/// it, ending at its end. `salt` draws another set.
pub(crate) fn cuts(data: &[u8], salt: u64) -> Vec<usize> {
    // FNV-1a over the input, then splitmix64 for the draws.
    let mut seed = data.iter().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut next = || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let count = 1 + next() % 8;
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| (next() % (data.len() as u64 + 1)) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.push(data.len());
    cuts
}

/// Every split the checks try for `data`: whole, two sets of drawn cuts, and for a short
/// input one byte at a time.
pub(crate) fn splits(data: &[u8]) -> Vec<Vec<usize>> {
    let mut splits = vec![cuts(data, 1), cuts(data, 2)];
    if data.len() <= BYTEWISE {
        splits.push((1..=data.len()).collect());
    }
    splits
}
