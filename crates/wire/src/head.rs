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

/// Whether a line of `head` ends in LF without CR.
fn bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
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
