//! One connection's life: TLS handshake, protocol detection, the HTTP/1 codec or hyper's
//! HTTP/2, and the timers that end it.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::TokioIo;
use switchboard_net::{ConnectionPermit, Shutdown, TaskTracker};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::activity::{Activity, Verdict, DRAIN_QUIET};
use crate::io::ConnIo;
use crate::service::ConnService;
use crate::transport::Transport;
use crate::{h1, Limits, RequestBody, Scheme};

/// The boxed error hyper and http-body use.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) limits: Limits,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) http2: http2::Builder<TaskExecutor>,
    /// Triggered once the server has stopped accepting: connections then shut down
    /// gracefully.
    pub(crate) shutdown: Shutdown,
    /// Triggered when the grace period is over: connections left are dropped.
    pub(crate) cut: Shutdown,
    /// Peers whose connections open with a PROXY protocol header naming the real client.
    pub(crate) proxy_from: Vec<std::net::IpAddr>,
}

/// Runs hyper's background tasks (one per HTTP/2 stream) on the server's [`TaskTracker`], so
/// that the server waits for them too, and drops them when the grace period is over.
#[derive(Clone, Debug)]
pub(crate) struct TaskExecutor {
    pub(crate) tracker: TaskTracker,
    pub(crate) cut: Shutdown,
}

impl<F> hyper::rt::Executor<F> for TaskExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        let cut = self.cut.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = fut => {}
                () = cut.wait() => {}
            }
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Why a connection ended, for its debug line.
#[derive(Debug)]
struct Ending {
    reason: &'static str,
    error: Option<String>,
}

impl Ending {
    fn because(reason: &'static str) -> Self {
        Ending {
            reason,
            error: None,
        }
    }

    fn failed(reason: &'static str, error: impl ToString) -> Self {
        Ending {
            reason,
            error: Some(error.to_string()),
        }
    }
}

const HEADER_TIMEOUT: &str = "header read timeout";
/// Why a connection that moved no bytes for an idle period while it had a response to send was
/// dropped.
const STALLED: &str = "stalled: no progress while sending";

/// The HTTP/2 connection preface, which a client speaking h2c sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one accepted connection to its end. Holds `permit` for as long.
pub(crate) async fn serve<S, B>(
    mut stream: TcpStream,
    mut peer: SocketAddr,
    shared: Arc<Shared>,
    service: S,
    permit: ConnectionPermit,
) where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let activity = Activity::new(Instant::now());
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    tracing::debug!(%peer, "connection opened");
    if shared.proxy_from.contains(&peer.ip()) {
        // Boxed, until it is read: inline, its buffer and clocks would size every
        // connection's task for all its life.
        let header = Box::pin(switchboard_net::read_proxy_header(&mut stream));
        match before_first_request(&shared, &activity, header).await {
            Ok(Ok(Some(client))) => peer = client,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection closed");
                return;
            }
            Err(ending) => {
                tracing::debug!(%peer, reason = ending.reason, "connection closed");
                return;
            }
        }
    }
    let ending = match &shared.tls {
        None => run(stream, None, peer, Scheme::Http, &shared, service, activity).await,
        // Boxed: a TLS session is large, and so is the handshake's outcome, which the match
        // on it keeps across the connection's life; inline, either would size every
        // connection's task, plain ones included.
        Some(acceptor) => {
            Box::pin(run_tls(stream, acceptor, peer, &shared, service, activity)).await
        }
    };
    drop(permit);
    match ending.error {
        Some(error) => tracing::debug!(%peer, reason = ending.reason, %error, "connection closed"),
        None => tracing::debug!(%peer, reason = ending.reason, "connection closed"),
    }
}

/// Serves a TLS connection: the handshake, then HTTP as ALPN chose (or the first bytes say).
async fn run_tls<S, B>(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    peer: SocketAddr,
    shared: &Shared,
    service: S,
    activity: Arc<Activity>,
) -> Ending
where
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match before_first_request(shared, &activity, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let protocol = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => Some(Protocol::Http2),
                Some(b"http/1.1") => Some(Protocol::Http1),
                _ => None,
            };
            run(
                tls,
                protocol,
                peer,
                Scheme::Https,
                shared,
                service,
                activity,
            )
            .await
        }
        Ok(Err(e)) => Ending::failed("TLS handshake failed", e),
        Err(ending) => ending,
    }
}

/// Runs `step` (the TLS handshake, protocol detection) bounded by the first request's
/// deadline, and abandoned on shutdown once the connection is [`DRAIN_QUIET`] old: nothing
/// has been asked of the server yet, though a client that has just connected may be sending
/// its request.
fn before_first_request<'a, F: Future>(
    shared: &'a Shared,
    activity: &Activity,
    step: F,
) -> BeforeFirstRequest<F, impl Future<Output = ()> + 'a> {
    let header = shared
        .limits
        .header_timeout()
        .map(|limit| activity.accepted() + limit);
    let abandon = activity.accepted() + drain_quiet(&shared.limits);
    BeforeFirstRequest {
        step,
        timer: tokio::time::sleep_until(header.unwrap_or(abandon)),
        shutdown: shared.shutdown.wait(),
        abandon: header.is_none_or(|at| abandon < at).then_some(abandon),
        armed: header.is_some(),
        draining: false,
    }
}

pin_project_lite::pin_project! {
    /// [`before_first_request`]'s future: a struct rather than an `async` block, because what
    /// it holds is every connection's cost until its first request, and a block keeps more.
    struct BeforeFirstRequest<F, W> {
        #[pin]
        step: F,
        // The header deadline, brought forward to `abandon` when the server drains: one
        // timer for both ends.
        #[pin]
        timer: tokio::time::Sleep,
        #[pin]
        shutdown: W,
        // When the connection is abandoned once the server drains, if that is before the
        // header deadline.
        abandon: Option<Instant>,
        armed: bool,
        draining: bool,
    }
}

impl<F: Future, W: Future<Output = ()>> Future for BeforeFirstRequest<F, W> {
    type Output = Result<F::Output, Ending>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.step.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if !*this.draining && this.shutdown.poll(cx).is_ready() {
            *this.draining = true;
            if let Some(at) = *this.abandon {
                this.timer.as_mut().reset(at);
                *this.armed = true;
            }
        }
        if *this.armed && this.timer.poll(cx).is_ready() {
            return Poll::Ready(Err(Ending::because(
                match (*this.draining, *this.abandon) {
                    (true, Some(_)) => "shutdown before any request",
                    _ => HEADER_TIMEOUT,
                },
            )));
        }
        Poll::Pending
    }
}

/// How long a quiet connection is kept once the server drains: [`DRAIN_QUIET`], or the idle
/// timeout when that is shorter.
fn drain_quiet(limits: &Limits) -> Duration {
    limits
        .idle()
        .map_or(DRAIN_QUIET, |idle| idle.min(DRAIN_QUIET))
}

/// Reads until the first bytes tell HTTP/2's preface from anything else (HTTP/1). Returns the
/// bytes read (for the HTTP/1 codec, or replayed to hyper), or `None` when the client closed
/// without a byte.
async fn detect<T: AsyncRead + Unpin>(io: &mut T) -> std::io::Result<Option<(Protocol, BytesMut)>> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if io.read_buf(&mut buf).await? == 0 {
            return Ok((!buf.is_empty()).then_some((Protocol::Http1, buf)));
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some((Protocol::Http1, buf)));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some((Protocol::Http2, buf)));
        }
    }
}

/// Serves HTTP on an established stream (plain or TLS). `protocol` is what ALPN chose, if
/// anything; otherwise the first bytes decide.
async fn run<T, S, B>(
    mut io: T,
    protocol: Option<Protocol>,
    peer: SocketAddr,
    scheme: Scheme,
    shared: &Shared,
    service: S,
    activity: Arc<Activity>,
) -> Ending
where
    T: Transport + Send + 'static,
    S: Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (protocol, prefix) = match protocol {
        Some(protocol) => (protocol, BytesMut::new()),
        None => match before_first_request(shared, &activity, detect(&mut io)).await {
            Ok(Ok(Some(found))) => found,
            Ok(Ok(None)) => return Ending::because("client closed before a request"),
            Ok(Err(e)) => return Ending::failed("read failed", e),
            Err(ending) => return ending,
        },
    };
    match protocol {
        Protocol::Http1 => {
            let closing = h1::Closing::default();
            // A first request that came while the server drains is its last: the connection
            // may answer it before the drain is seen below.
            if shared.shutdown.is_triggered() {
                closing.finish();
            }
            let settings = h1::Settings {
                peer,
                scheme,
                activity: activity.clone(),
                max_head: shared.limits.max_header_bytes,
                drain_timeout: shared.limits.header_timeout(),
                body_timeout: shared.limits.body_timeout(),
                closing: &closing,
            };
            // A service that answers 101 (a WebSocket, say) takes the connection over; this
            // task then ends, and the upgraded stream is the service's.
            // Boxed once per connection: passed by value, the connection's future would be
            // stored again in each future that takes it along (drive's, this one's).
            let conn = Box::pin(h1::serve(io, prefix, service, settings));
            let graceful = |_: Pin<&mut _>, close| match close {
                Close::Finish => closing.finish(),
                Close::WhenIdle => closing.when_idle(),
            };
            drive(conn, graceful, &activity, shared).await
        }
        Protocol::Http2 => {
            // On HTTP/2, bytes arrive between requests for other reasons (window updates,
            // pings), so they do not start a header clock. Boxed: hyper's HTTP/2 connection is
            // large, and an unboxed one would size every connection's task.
            let io = TokioIo::new(ConnIo::new(io, prefix.freeze(), activity.clone()));
            let service = ConnService {
                inner: service,
                peer,
                scheme,
                activity: activity.clone(),
            };
            let conn = shared.http2.serve_connection(io, service);
            Box::pin(drive(conn, graceful_http2, &activity, shared)).await
        }
    }
}

/// HTTP/2's graceful close, whichever was asked: GOAWAY, then the open streams finish (the
/// client knows which of its requests will be answered, so there is nothing to wait for).
/// Asking twice is asking once.
fn graceful_http2<I, S, B>(conn: Pin<&mut http2::Connection<I, S, TaskExecutor>>, _: Close)
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    TaskExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    conn.graceful_shutdown();
}

/// A graceful close, as [`drive`] asks for it.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// The server is shutting down: no new keep-alive; what has come is answered.
    Finish,
    /// The connection is idle (its idle timeout, or quiet while the server drains): close it
    /// unless a request has begun.
    WhenIdle,
}

/// Drives a connection (ours on HTTP/1, hyper's on HTTP/2) to its end, enforcing the limits:
/// header timeouts drop it, idle time and shutdown shut it down gracefully, the end of the
/// grace period drops it. On shutdown a connection finishes what it has begun and closes once
/// quiet ([`DRAIN_QUIET`] after its last response).
async fn drive<C, E>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>, Close),
    activity: &Arc<Activity>,
    shared: &Shared,
) -> Ending
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut conn = pin!(conn);
    let mut timer = pin!(tokio::time::sleep_until(activity.accepted()));
    // Made once: the loop turns for every request, and each new `wait()` future registers a
    // waiter under a lock (and unregisters it when dropped).
    // The server's signal the connection waits for: its shutdown, then, once draining, the
    // end of the grace period. One at a time, in one place: the task holds it while idle.
    let mut signal = pin!(shared.shutdown.wait());
    // The timer and the two signals wake the task through the activity's quiet waker, and
    // are polled only when it says one of them may have news: polling a waiting signal takes
    // a lock, and the task wakes for every request.
    let quiet = &activity.quiet;
    let quiet_waker = Waker::from(activity.clone());
    let mut armed = true;
    let mut draining = false;
    // Draining with a request in flight: judge the connection again when it is over.
    let mut watch_idle = false;
    let mut closing: Option<&'static str> = None;
    loop {
        let event = poll_fn(|cx| {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(Event::Ended(result));
            }
            if activity.take_head_started() {
                return Poll::Ready(Event::Check);
            }
            if watch_idle && activity.is_idle() {
                watch_idle = false;
                return Poll::Ready(Event::Check);
            }
            quiet.task.register(cx.waker());
            if !quiet.woken.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            let mut cx = Context::from_waker(&quiet_waker);
            if armed && timer.as_mut().poll(&mut cx).is_ready() {
                return Poll::Ready(Event::Check);
            }
            if signal.as_mut().poll(&mut cx).is_ready() {
                return Poll::Ready(if draining {
                    Event::Cut
                } else {
                    Event::Shutdown
                });
            }
            Poll::Pending
        })
        .await;
        // Whatever happened, look at every quiet branch again next time: one may have been
        // skipped, or its state (the timer's deadline, draining) changed.
        quiet.woken.store(true, Ordering::Release);
        match event {
            Event::Ended(result) => {
                return match result {
                    Ok(()) => Ending::because(closing.unwrap_or("client closed")),
                    Err(e) => Ending::failed("HTTP error", e),
                };
            }
            Event::Shutdown => {
                draining = true;
                signal.set(shared.cut.wait());
                if closing.is_none() {
                    graceful(conn.as_mut(), Close::Finish);
                    closing = Some("server shutdown");
                }
                if !activity.is_idle() {
                    // Judged when the request is over. Not now: while a request is in flight
                    // only the timer may look (its looks, an idle period apart, are what tell
                    // a stalled response).
                    watch_idle = true;
                    continue;
                }
            }
            Event::Cut => return Ending::because("cut at end of grace"),
            Event::Check => {}
        }
        watch_idle = draining && !activity.is_idle();
        match activity.verdict(Instant::now(), &shared.limits, draining) {
            Verdict::Wait(Some(at)) => {
                timer.as_mut().reset(at);
                armed = true;
            }
            Verdict::Wait(None) => armed = false,
            Verdict::Idle => match closing {
                None => {
                    graceful(conn.as_mut(), Close::WhenIdle);
                    closing = Some("idle timeout");
                    // A graceful close waits for the response being written; one a client
                    // never reads would wait forever. Give it one more idle period.
                    match shared.limits.idle() {
                        Some(idle) => {
                            timer.as_mut().reset(Instant::now() + idle);
                            armed = true;
                        }
                        None => armed = false,
                    }
                }
                Some("idle timeout") => return Ending::because(STALLED),
                Some(_) => {
                    graceful(conn.as_mut(), Close::WhenIdle);
                    armed = false;
                }
            },
            Verdict::HeaderTimeout => return Ending::because(HEADER_TIMEOUT),
            Verdict::Stalled => return Ending::because(STALLED),
        }
    }
}

/// What woke [`drive`]'s loop.
enum Event<E> {
    /// The connection ended.
    Ended(Result<(), E>),
    /// A timer fired or a request head started: time to judge the connection.
    Check,
    /// The server is shutting down.
    Shutdown,
    /// The grace period is over.
    Cut,
}
