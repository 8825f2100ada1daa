//! The properties the `echo_framing` fuzz target checks, here so that the target (under
//! `fuzz/`, built with cargo-fuzz), the property tests and the test that replays the
//! target's corpus on stable run the same checks. [`framing`] takes any bytes and panics
//! only when a property fails:
//!
//! - raw echo gives every byte back as it came, however the input is split;
//! - the lines framing answers the same however the input is split, and as the protocol
//!   written plainly ([`model`]) says;
//! - with the client pausing after each read, the answers are those of the plain model with
//!   a message ended at each pause too.
//!
//! The input's first byte sets the line limit, the second the prefix's length; the prefix
//! follows, then what the client sends.
//!
//! Not part of the crate's interface: hidden from its documentation, used by no other code.

use std::sync::Arc;

use crate::protocol::{Session, ERR_LINE_TOO_LONG};

/// The protocol written plainly: each message whole, after the prefix; the first message
/// over the limit ends the conversation with the error. Messages end at a newline, and at
/// each of `pauses` (offsets into `input`) where one has begun.
pub fn model(prefix: &[u8], max_line: usize, input: &[u8], pauses: &[usize]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pauses = pauses.iter().copied().peekable();
    for (i, &b) in input.iter().enumerate() {
        if i - start + usize::from(b != b'\n') > max_line {
            out.extend_from_slice(ERR_LINE_TOO_LONG);
            return (out, true);
        }
        if b == b'\n' {
            out.extend_from_slice(prefix);
            out.extend_from_slice(&input[start..=i]);
            start = i + 1;
        }
        while let Some(&pause) = pauses.peek() {
            if pause > i + 1 {
                break;
            }
            pauses.next();
            if pause == i + 1 && start < pause {
                out.extend_from_slice(prefix);
                out.extend_from_slice(&input[start..pause]);
                start = pause;
            }
        }
    }
    (out, false)
}

/// Feeds `input` to a session in the pieces `cuts` (sorted offsets, the last the input's
/// end) makes of it, the client pausing after each piece when `pause`: what was answered,
/// and whether the session closed.
pub fn fed(
    prefix: Option<&[u8]>,
    max_line: usize,
    input: &[u8],
    cuts: &[usize],
    pause: bool,
) -> (Vec<u8>, bool) {
    let mut session = Session::new(prefix.map(Arc::from), max_line);
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let reply = session.receive(&input[at..cut]);
        out.extend_from_slice(reply.bytes);
        if reply.close {
            return (out, true);
        }
        at = cut;
        if pause && session.has_partial() {
            out.extend_from_slice(session.flush_partial());
        }
        assert!(
            !pause || !session.has_partial(),
            "a flush leaves nothing waiting"
        );
    }
    (out, false)
}

/// Cut points for `input`: drawn from its bytes (a run is repeatable), sorted, within it,
/// ending at its end.
fn cuts(input: &[u8], salt: u64) -> Vec<usize> {
    let mut seed = input.iter().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let count = 1 + next() % 8;
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| (next() % (input.len() as u64 + 1)) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    cuts
}

/// Checks the framing properties on `data` (see the module's overview).
pub fn framing(data: &[u8]) {
    let [limit, prefix_len, rest @ ..] = data else {
        return;
    };
    let max_line = usize::from(*limit);
    let (prefix, input) = rest.split_at(usize::from(*prefix_len % 8).min(rest.len()));
    let mut splits = vec![vec![input.len()], cuts(input, 1), cuts(input, 2)];
    if input.len() <= 512 {
        splits.push((1..=input.len()).collect());
    }
    let whole = model(prefix, max_line, input, &[]);
    for cuts in &splits {
        let raw = fed(None, max_line, input, cuts, false);
        assert_eq!(raw, (input.to_vec(), false), "raw echo, split at {cuts:?}");
        let lines = fed(Some(prefix), max_line, input, cuts, false);
        assert_eq!(lines, whole, "lines, split at {cuts:?}");
        let paused = fed(Some(prefix), max_line, input, cuts, true);
        assert_eq!(
            paused,
            model(prefix, max_line, input, cuts),
            "lines, a pause after each of {cuts:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_corpus_keeps_its_properties() {
        switchboard_testkit::corpus::replay("echo_framing", super::framing);
    }
}
