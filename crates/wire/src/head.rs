//! What parsing request and response heads share: the field limit, `httparse`'s errors in
//! words, the line-ending rule, and where each field is in the head.

use crate::Error;

/// The most header fields a head may have; more is too large (431 for a request, as hyper
/// answers).
pub const MAX_HEADERS: usize = 100;

/// Where one field's name and value are in a head, as offsets from its start.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    pub(crate) name: (usize, usize),
    pub(crate) value: (usize, usize),
}

thread_local! {
    /// The spans of the head being parsed, kept between heads: they are found while
    /// `httparse` borrows the buffer and used after the head is split off it. A buffer kept
    /// per thread rather than an array per call: zeroing room for [`MAX_HEADERS`] fields on
    /// every head cost more than parsing a typical one.
    static SPANS: std::cell::RefCell<Vec<Span>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's span buffer, emptied; [`give_back`] returns it.
pub(crate) fn take_spans() -> Vec<Span> {
    let mut spans = SPANS.take();
    spans.clear();
    spans
}

/// Returns the buffer [`take_spans`] gave.
pub(crate) fn give_back(spans: Vec<Span>) {
    SPANS.set(spans);
}

/// The offsets of `s`, a slice of the buffer that starts at address `base`. An empty slice
/// may point anywhere: it is `(0, 0)`.
pub(crate) fn offsets(base: usize, s: &[u8]) -> (usize, usize) {
    if s.is_empty() {
        return (0, 0);
    }
    let start = s.as_ptr() as usize - base;
    (start, start + s.len())
}

/// Checks a complete head of `len` bytes against `max` and the line-ending rule.
pub(crate) fn check(head: &[u8], max: usize) -> Result<(), Error> {
    if head.len() > max {
        return Err(Error::TooLarge);
    }
    // httparse takes a bare LF for a line ending (and refuses a bare CR); every real peer
    // sends CRLF, and the chunked framing refuses bare LF too.
    if bare_lf(head) {
        return Err(Error::Malformed("invalid line ending"));
    }
    Ok(())
}

/// What an incomplete head of `len` bytes so far comes to: more is needed, or it is already
/// over `max`.
pub(crate) fn partial<T>(len: usize, max: usize) -> Result<Option<T>, Error> {
    if len > max {
        Err(Error::TooLarge)
    } else {
        Ok(None)
    }
}

/// Whether a line of `head` ends in LF without CR. Eight bytes at a time: only a word that
/// holds an LF is looked at byte by byte. This runs on every head the server, the balancer
/// and the load generator read; byte by byte it took about twice as long (some 95 ns for a
/// typical 150-byte answer head against 50).
fn bare_lf(head: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bare_at = |i: usize| head[i] == b'\n' && (i == 0 || head[i - 1] != b'\r');
    let mut words = head.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        // Zero bytes where the word has an LF; a zero byte sets its high bit here.
        let x = u64::from_le_bytes(bytes) ^ (ONES * u64::from(b'\n'));
        if x.wrapping_sub(ONES) & !x & HIGH != 0 && (start..start + 8).any(bare_at) {
            return true;
        }
        start += 8;
    }
    (start..head.len()).any(bare_at)
}

/// `httparse`'s refusal, as a refusal of ours.
pub(crate) fn refused(e: httparse::Error) -> Error {
    Error::Malformed(match e {
        httparse::Error::TooManyHeaders => return Error::TooLarge,
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "unsupported HTTP version",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bare_lf_is_found_anywhere() {
        for (head, bare) in [
            (&b""[..], false),
            (b"\r\n", false),
            (b"a\r\nb\r\n\r\n", false),
            (b"\n", true),
            (b"\r", false),
            (b"a\nb\r\n", true),
            (b"a\r\nb\n", true),
            (b"a\r\r\n\n", true),
            (b"\n\r\n", true),
            (b"0123456\n", true),
            (b"01234567\n", true),
            (b"0123456\r\n", false),
            (b"01234567\r\n89\n", true),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Y: zzzzzzzz\r\n\r\n",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Y: zzzzzzzz\n\r\n",
                true,
            ),
        ] {
            assert_eq!(super::bare_lf(head), bare, "{head:?}");
        }
    }
}
