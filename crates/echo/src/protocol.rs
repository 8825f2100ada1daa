//! The message protocol as a state machine: bytes in, bytes out, no I/O.
//!
//! Every concurrency model drives the same [`Session`], so the benchmark compares models and
//! nothing else.
//!
//! Two framings:
//!
//! - **Raw** (no prefix): RFC 862 echo. Every byte goes back as it came, whatever it is.
//! - **Lines** (a prefix is set): each message is answered with the prefix followed by the
//!   message. A message is a line (up to and including its `\n`), or, for a client that sends no
//!   newline, whatever has arrived when the client pauses. The driver tells the session about a
//!   pause by calling [`Session::flush_partial`] once nothing more is ready to read, so the
//!   classic one-shot client (send `Hello, Server!`, read once) is answered at once.

use std::sync::Arc;

/// Sent before closing a connection whose line is longer than the limit.
pub const ERR_LINE_TOO_LONG: &[u8] = b"ERR line too long\n";
/// Sent to a client that arrives when the server is at its connection limit.
pub const ERR_BUSY: &[u8] = b"ERR server busy\n";
/// Sent instead of a UDP reply that would not fit in one datagram.
pub const ERR_DATAGRAM_TOO_LARGE: &[u8] = b"ERR reply too large for one datagram\n";

/// What to send back after some input, and whether to close afterwards.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Bytes to write to the client, possibly empty.
    pub bytes: &'a [u8],
    /// The conversation is over once `bytes` are written.
    pub close: bool,
}

/// One client's conversation.
#[derive(Debug)]
pub struct Session {
    prefix: Option<Arc<[u8]>>,
    max_line: usize,
    /// The start of a message whose end has not arrived yet (lines framing only).
    pending: Vec<u8>,
    /// Scratch space the reply is built in (lines framing only).
    out: Vec<u8>,
}

impl Session {
    /// A new conversation. With `prefix`, the lines framing; without, raw echo. `max_line`
    /// bounds a line's length, newline excluded (lines framing only).
    pub fn new(prefix: Option<Arc<[u8]>>, max_line: usize) -> Self {
        Session {
            prefix,
            max_line,
            pending: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Some bytes arrived. Returns what to send back.
    pub fn receive<'a>(&'a mut self, input: &'a [u8]) -> Reply<'a> {
        let Some(prefix) = &self.prefix else {
            return Reply {
                bytes: input,
                close: false,
            };
        };
        self.out.clear();
        let mut rest = input;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(end + 1);
            if self.pending.len() + end > self.max_line {
                self.out.extend_from_slice(ERR_LINE_TOO_LONG);
                self.pending.clear();
                return Reply {
                    bytes: &self.out,
                    close: true,
                };
            }
            self.out.extend_from_slice(prefix);
            self.out.append(&mut self.pending);
            self.out.extend_from_slice(line);
            rest = tail;
        }
        if self.pending.len() + rest.len() > self.max_line {
            self.out.extend_from_slice(ERR_LINE_TOO_LONG);
            self.pending.clear();
            return Reply {
                bytes: &self.out,
                close: true,
            };
        }
        self.pending.extend_from_slice(rest);
        Reply {
            bytes: &self.out,
            close: false,
        }
    }

    /// Whether part of a message waits for its end. The driver then checks whether the client
    /// has paused and, if so, calls [`flush_partial`](Self::flush_partial).
    pub fn has_partial(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The client paused, or closed its side: the message waiting for its end is whole.
    /// Returns its answer (empty when nothing was waiting).
    pub fn flush_partial(&mut self) -> &[u8] {
        self.out.clear();
        if let (Some(prefix), false) = (&self.prefix, self.pending.is_empty()) {
            self.out.extend_from_slice(prefix);
            self.out.append(&mut self.pending);
        }
        &self.out
    }
}

/// The answer to one UDP datagram: the datagram itself, after the prefix if there is one.
pub fn datagram_reply(prefix: Option<&[u8]>, datagram: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if let Some(prefix) = prefix {
        out.extend_from_slice(prefix);
    }
    out.extend_from_slice(datagram);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize) -> Session {
        Session::new(Some(Arc::from(&b"> "[..])), max)
    }

    #[test]
    fn raw_echo_returns_input_untouched() {
        let mut s = Session::new(None, 4);
        let input = [0u8, 255, b'\n', 0xc3, 0x28, b'x', b'y', b'z', b'w'];
        assert_eq!(
            s.receive(&input),
            Reply {
                bytes: &input,
                close: false
            }
        );
        assert!(!s.has_partial(), "raw echo never holds bytes back");
    }

    #[test]
    fn each_line_gets_the_prefix() {
        let mut s = lines(100);
        assert_eq!(s.receive(b"a\nbc\n").bytes, b"> a\n> bc\n");
        assert!(!s.has_partial());
    }

    #[test]
    fn a_line_split_across_reads_is_answered_once() {
        let mut s = lines(100);
        assert_eq!(s.receive(b"hel").bytes, b"");
        assert!(s.has_partial());
        assert_eq!(s.receive(b"lo\r\nwor").bytes, b"> hello\r\n");
        assert_eq!(s.receive(b"ld\n").bytes, b"> world\n");
    }

    #[test]
    fn a_pause_ends_a_message_without_newline() {
        let mut s = lines(100);
        assert_eq!(s.receive(b"Hello, Server!").bytes, b"");
        assert_eq!(s.flush_partial(), b"> Hello, Server!");
        assert!(!s.has_partial());
        assert_eq!(s.flush_partial(), b"", "nothing is answered twice");
    }

    #[test]
    fn line_limit_counts_bytes_before_the_newline() {
        let mut s = lines(3);
        assert_eq!(s.receive(b"abc\n").bytes, b"> abc\n");
        let r = s.receive(b"ok\nabcd\n");
        assert_eq!(r.bytes, b"> ok\nERR line too long\n");
        assert!(r.close);
    }

    #[test]
    fn an_unterminated_line_over_the_limit_is_refused_early() {
        let mut s = lines(3);
        assert_eq!(s.receive(b"ab").bytes, b"");
        let r = s.receive(b"cd");
        assert_eq!(r.bytes, ERR_LINE_TOO_LONG);
        assert!(r.close);
    }

    #[test]
    fn datagrams_get_the_prefix() {
        let mut out = Vec::new();
        datagram_reply(Some(b"S: "), b"hi", &mut out);
        assert_eq!(out, b"S: hi");
        datagram_reply(None, &[0, 1], &mut out);
        assert_eq!(out, [0, 1]);
    }
}

/// Properties over generated input (a bounded number of cases, in `cargo test`): however the
/// input is split into reads, the session answers as one read does, as the plain model of the
/// protocol says, and with pauses as the model with a message ended at each pause. The
/// checks are the fuzz target's ([`crate::fuzzing`]).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{fed, model};

    /// Cut points: sorted, within `input`, ending at its end.
    fn sorted(input: &[u8], raw: &[usize]) -> Vec<usize> {
        let mut cuts: Vec<usize> = raw.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(input.len());
        cuts
    }

    fn bytes_with_newlines() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![3 => any::<u8>(), 1 => Just(b'\n')], 0..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_split_answers_as_one_read_and_as_the_model(
            input in bytes_with_newlines(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            prefix in prop::collection::vec(any::<u8>(), 0..8),
            max_line in 1usize..64,
        ) {
            let whole = fed(Some(&prefix), max_line, &input, &[input.len()], false);
            prop_assert_eq!(&whole, &model(&prefix, max_line, &input, &[]));
            let cuts = sorted(&input, &cuts);
            prop_assert_eq!(fed(Some(&prefix), max_line, &input, &cuts, false), whole);
        }

        #[test]
        fn a_pause_after_each_read_ends_a_message_as_the_model_says(
            input in bytes_with_newlines(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            prefix in prop::collection::vec(any::<u8>(), 0..8),
            max_line in 1usize..64,
        ) {
            let cuts = sorted(&input, &cuts);
            prop_assert_eq!(
                fed(Some(&prefix), max_line, &input, &cuts, true),
                model(&prefix, max_line, &input, &cuts)
            );
        }

        #[test]
        fn raw_echo_gives_back_every_byte(input in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut session = Session::new(None, 0);
            let reply = session.receive(&input);
            prop_assert_eq!(reply.bytes, &input[..]);
            prop_assert!(!reply.close);
        }

        #[test]
        fn any_bytes_keep_the_fuzz_targets_properties(
            data in prop::collection::vec(prop_oneof![3 => any::<u8>(), 1 => Just(b'\n')], 0..300),
        ) {
            crate::fuzzing::framing(&data);
        }
    }
}
