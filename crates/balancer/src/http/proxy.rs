//! [`HttpProxy`]: the balancer's HTTP mode, a service the `switchboard-http` server runs.
//!
//! For each request: refuse request-smuggling shapes (400, connection closed); choose a
//! backend; check a connection out (a refusal ejects the backend and the request goes to the
//! next one, whole, since nothing was sent); strip hop-by-hop headers and add the forwarding
//! ones; send; stream the answer back. The backend stays leased until the answer's body is
//! done. An idempotent request without a body may be sent once more after a reset, within
//! the retry budget; any other request that may have reached a backend is never sent twice.
//! Requests go to backends through the HTTP/1.1 client in `client.rs`, inline in this task.
//!
//! A failure says whose fault it is, and that decides the rest: the client's (its body
//! malformed or cut short, or the client gone) is a 400 on a closed connection, never sent
//! again and never held against the backend; the backend's is a 502, counted on it; the
//! balancer's own is a 500. Either way a backend connection with part of the request on it
//! is closed. A request cancelled (its future dropped: the client gone, the server stopping)
//! is not held against its backend either.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use switchboard_http::{PeerAddr, RequestBody, Scheme};

use super::access_log::{AccessLog, Entry, LogFormat};
use super::budget::RetryBudget;
use super::client::{Failure, Fault, Outgoing, ResponseBody};
use super::headers::{smuggling, strip_hop_by_hop};
use super::upstream::Upstreams;
use crate::{Lease, Outcome, PickContext, Pool};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every answer the proxy gives.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// HTTP mode's settings.
#[derive(Debug, Clone)]
pub struct HttpProxyConfig {
    /// A backend that does not accept within this is treated as refusing.
    pub connect_timeout: Duration,
    /// A backend that has not begun its answer within this: 504.
    pub response_timeout: Duration,
    /// How long a refusing backend gets no traffic.
    pub eject_for: Duration,
    /// Peers whose X-Forwarded-For, Forwarded and X-Real-IP are believed (their client is the
    /// real one).
    pub trusted_proxies: Vec<IpAddr>,
    /// An access log line per request, in this format; `None`: no access log.
    pub access_log: Option<LogFormat>,
    /// Cookie stickiness: a client's first answer carries a cookie naming its backend, and
    /// later requests go back to that backend while it is healthy.
    pub sticky: bool,
}

impl Default for HttpProxyConfig {
    fn default() -> Self {
        HttpProxyConfig {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
            eject_for: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            access_log: None,
            sticky: false,
        }
    }
}

/// The HTTP proxy service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct HttpProxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) pool: Arc<Pool>,
    pub(super) upstreams: Upstreams,
    pub(super) config: HttpProxyConfig,
    pub(super) budget: RetryBudget,
    pub(super) access_log: Option<AccessLog>,
}

impl HttpProxy {
    /// A proxy over `pool`. With an access log configured, must be called in a tokio runtime
    /// (the log's writer starts).
    pub fn new(pool: Arc<Pool>, config: HttpProxyConfig) -> Self {
        let access_log = config.access_log.map(AccessLog::start);
        HttpProxy {
            inner: Arc::new(Inner {
                pool,
                upstreams: Upstreams::default(),
                config,
                budget: RetryBudget::default(),
                access_log,
            }),
        }
    }
}

impl HttpProxy {
    /// Access log lines dropped because the output could not keep up.
    pub fn dropped_log_lines(&self) -> u64 {
        self.inner.access_log.as_ref().map_or(0, AccessLog::dropped)
    }
}

/// A proxied request's answer, and the backend that gave it, if any.
type Answer = (Response<ProxyBody>, Option<String>);

/// The answer, boxed: what every request's future comes down to.
type AnswerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

fn answered((response, _): Answer) -> Result<Response<ProxyBody>, Infallible> {
    Ok(response)
}

impl tower_service::Service<Request<RequestBody>> for HttpProxy {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future =
        futures_util::future::Map<AnswerFuture, fn(Answer) -> Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let inner = self.inner.clone();
        let answer: AnswerFuture = if inner.access_log.is_some() {
            Box::pin(async move { (inner.handle(req).await, None) })
        } else {
            inner.forward(req)
        };
        answer.map(answered as fn(Answer) -> _)
    }
}

/// What [`Inner::prepare`] makes of a request.
enum Step {
    /// Answered already (refused).
    Answered(Response<ProxyBody>),
    /// Asks to switch protocols.
    Upgrade(Request<RequestBody>),
    /// Ready to go to a backend. Boxed (a small allocation, from the allocator's fast path)
    /// so that the request's future holds a pointer to it, not its few hundred bytes.
    Send(Box<Job>),
}

/// A request ready for a backend: its head rewritten for forwarding.
struct Job {
    parts: http::request::Parts,
    body: RequestBody,
    /// The origin form the backend gets.
    uri: Uri,
    ctx: PickContext,
}

/// An answer of the proxy's own: `{"error": message}`, closing the connection when asked.
pub(super) fn answer(status: StatusCode, message: &str, close: bool) -> Response<ProxyBody> {
    let mut body = serde_json::json!({ "error": message }).to_string();
    body.push('\n');
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether a failure is the connection going away (reset, closed, broken), as opposed to an
/// answer that could not be understood.
fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// The answer to a request that failed: the client's fault is a 400 (the connection closed,
/// what is left of its body unreadable), or a 408 when its body came too slowly; the
/// balancer's a 500, the backend's a 502.
fn failed(failure: &Failure) -> Response<ProxyBody> {
    match failure.fault {
        Fault::Client if failure.is_client_timeout() => answer(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout: the request body did not arrive in time",
            true,
        ),
        Fault::Client => answer(
            StatusCode::BAD_REQUEST,
            &format!("bad request: {}", failure.cause),
            true,
        ),
        Fault::Balancer => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the request could not be forwarded",
            true,
        ),
        Fault::Backend => answer(
            StatusCode::BAD_GATEWAY,
            "bad gateway: the backend failed",
            false,
        ),
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// The cookie that pins a client to a backend.
const STICKY_COOKIE: &str = "sb_backend";

/// The healthy backend a request's sticky cookie names, if stickiness is on.
fn sticky_target(pool: &Pool, sticky: bool, headers: &HeaderMap) -> Option<Arc<crate::Backend>> {
    if !sticky {
        return None;
    }
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == STICKY_COOKIE)
        .map(|(_, value)| value.trim().to_string())?;
    pool.backends()
        .iter()
        .find(|b| b.is_healthy() && b.sticky_token() == token)
        .cloned()
}

impl Inner {
    /// Forwards a request and logs it.
    async fn handle(self: Arc<Self>, req: Request<RequestBody>) -> Response<ProxyBody> {
        let Some(log) = self.access_log.clone() else {
            return self.forward(req).await.0;
        };
        let started = tokio::time::Instant::now();
        let header = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut entry = Entry {
            client: req.extensions().get::<PeerAddr>().map(|p| p.0.ip()),
            time: std::time::SystemTime::now(),
            method: req.method().to_string(),
            target: req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            version: if req.version() == http::Version::HTTP_2 {
                "HTTP/2.0"
            } else {
                "HTTP/1.1"
            },
            status: 0,
            bytes: None,
            referer: header(header::REFERER),
            user_agent: header(header::USER_AGENT),
            backend: None,
            duration: Duration::ZERO,
        };
        let (response, backend) = self.forward(req).await;
        entry.status = response.status().as_u16();
        entry.bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        entry.backend = backend;
        entry.duration = started.elapsed();
        log.log(&entry);
        response
    }

    /// Forwards a request; answers with the response and the backend that gave it, if any.
    /// What can be done before the first wait is done here, so the future holds only what the
    /// waits need: one that took the whole request along was several kilobytes, past the
    /// allocator's per-thread cache, and this runs for every request.
    fn forward(self: Arc<Self>, req: Request<RequestBody>) -> AnswerFuture {
        match self.prepare(req) {
            Step::Answered(response) => Box::pin(std::future::ready((response, None))),
            Step::Upgrade(req) => Box::pin(self.upgrade(req)),
            Step::Send(job) => Box::pin(self.send(job)),
        }
    }

    /// Everything before the first wait: refusals, and the head rewritten for forwarding.
    fn prepare(&self, req: Request<RequestBody>) -> Step {
        self.budget.earn();
        if let Some((status, why)) = smuggling(req.headers()) {
            tracing::info!(reason = why, "request refused");
            let message = if status == StatusCode::BAD_REQUEST {
                format!("bad request: {why}")
            } else {
                format!("not implemented: {why}")
            };
            return Step::Answered(answer(status, &message, true));
        }
        if super::upgrade::wants_upgrade(req.headers()) {
            return Step::Upgrade(req);
        }
        let (mut parts, body) = req.into_parts();
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        let scheme = parts
            .extensions
            .get::<Scheme>()
            .copied()
            .unwrap_or(Scheme::Http);
        let ctx = PickContext {
            client: self.client_ip(peer, &parts.headers),
        };
        // HTTP/2 carries the host in `:authority`; an HTTP/1.1 request must say it in Host.
        if !parts.headers.contains_key(header::HOST) {
            if let Some(host) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, host);
            }
        }
        // Hop-by-hop fields first: a client's `Connection` cannot name the fields added here.
        strip_hop_by_hop(&mut parts.headers);
        self.forwarding_headers(&mut parts.headers, peer, ctx.client, scheme);
        // Backends get the origin form (path and query); an HTTP/1 request has it already.
        let uri: Uri = if parts.uri.scheme().is_none() && parts.uri.authority().is_none() {
            parts.uri.clone()
        } else {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            path.parse().unwrap_or_else(|_| Uri::from_static("/"))
        };
        Step::Send(Box::new(Job {
            parts,
            body,
            uri,
            ctx,
        }))
    }

    /// Sends a prepared request to a backend (another, when the first refuses or resets an
    /// idempotent request), and relays the answer.
    async fn send(self: Arc<Self>, mut job: Box<Job>) -> (Response<ProxyBody>, Option<String>) {
        // Used in place, through the box: moved out, they would take room in this future.
        let (parts, uri, ctx, body) = (&job.parts, &job.uri, &job.ctx, &mut job.body);
        // A bodiless idempotent request may be sent again after a reset; any other goes once.
        let replayable = is_idempotent(&parts.method) && body.is_end_stream();
        let mut resets_left = u32::from(replayable);
        // Encoded once, whichever backend it goes to (with a small body, or what has come).
        let mut outgoing = match Outgoing::encode(&parts.method, uri, &parts.headers, body).await {
            Ok(outgoing) => Some(outgoing),
            Err(failure) => {
                tracing::info!(error = %failure.cause, "request failed before it was sent");
                return (failed(&failure), None);
            }
        };

        // Stickiness: the backend the client's cookie names goes first, while it is healthy.
        let mut pinned = sticky_target(&self.pool, self.config.sticky, &parts.headers);
        let pinned_token = pinned.as_ref().map(|b| b.sticky_token());
        for _ in 0..self.pool.len().max(1) * 2 {
            let Some(backend) = pinned.take().or_else(|| self.pool.pick(ctx)) else {
                break;
            };
            let mut lease = backend.lease();
            // Cancelled (this future dropped), the request was given up by its client (gone:
            // an HTTP/2 reset, say) or the server (stopping), never failed by the backend.
            lease.abandon_if_dropped();
            let conn = match self
                .upstreams
                .checkout(&backend.addr, self.config.connect_timeout)
                .await
            {
                Ok(conn) => conn,
                Err(e) => {
                    // Nothing was sent: the request goes to another backend, whole.
                    tracing::warn!(backend = %backend.addr, error = %e, "backend refused; ejected");
                    backend.eject(self.config.eject_for);
                    lease.finish(Outcome::Failed);
                    continue;
                }
            };
            let Some(out) = outgoing.take() else { break };
            let replay = if replayable { out.replay() } else { None };
            let sent = tokio::time::timeout(self.config.response_timeout, conn.request(out)).await;
            match sent {
                Ok(Ok((head, body))) => {
                    lease.answered();
                    let mut relayed = relay(self.clone(), head, body, lease);
                    if self.config.sticky {
                        let token = backend.sticky_token();
                        if pinned_token.as_deref() != Some(token.as_str()) {
                            let cookie =
                                format!("{STICKY_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
                            if let Ok(v) = HeaderValue::from_str(&cookie) {
                                relayed.headers_mut().append(header::SET_COOKIE, v);
                            }
                        }
                    }
                    // The backend's name is for the access log only.
                    let named = self.access_log.is_some().then(|| backend.addr.clone());
                    return (relayed, named);
                }
                Ok(Err(failure)) if failure.fault != Fault::Backend => {
                    // Not the backend's doing: nothing is held against it and the request is
                    // not sent again; the connection, with part of the request, is closed.
                    tracing::info!(backend = %backend.addr, error = %failure.cause, sent = failure.sent, "request failed, not by the backend");
                    lease.finish(Outcome::Abandoned);
                    return (failed(&failure), Some(backend.addr.clone()));
                }
                Ok(Err(mut failure)) => {
                    lease.finish(Outcome::Failed);
                    if let Some(out) = failure.unsent.take() {
                        // Not one byte reached the backend (the connection failed on the first
                        // write), so it may go anywhere, whatever its method.
                        tracing::debug!(backend = %backend.addr, error = %failure.cause, "request not sent; trying again");
                        outgoing = Some(out);
                        continue;
                    }
                    // Only a reset (or a close before the answer) is replayed: a malformed
                    // answer would most likely come again.
                    if let Some(again) = replay.filter(|_| is_reset(&failure.cause)) {
                        if resets_left > 0 && self.budget.spend() {
                            resets_left -= 1;
                            tracing::info!(backend = %backend.addr, error = %failure.cause, "reset; sending the idempotent request again");
                            outgoing = Some(again);
                            continue;
                        }
                    }
                    tracing::warn!(backend = %backend.addr, error = %failure.cause, "backend failed mid-request");
                    return (failed(&failure), Some(backend.addr.clone()));
                }
                Err(_) => {
                    lease.finish(Outcome::Failed);
                    return (
                        answer(
                            StatusCode::GATEWAY_TIMEOUT,
                            "gateway timeout: the backend did not answer in time",
                            false,
                        ),
                        Some(backend.addr.clone()),
                    );
                }
            }
        }
        (
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable: no healthy backend",
                false,
            ),
            None,
        )
    }
}

/// The backend's answer on its way to the client. When its body ends cleanly, the backend
/// connection goes back to the pool (if the answer allowed keep-alive) and the lease ends;
/// dropped early or failed, the connection is closed and the lease let go.
fn relay(
    proxy: Arc<Inner>,
    head: Response<()>,
    body: ResponseBody,
    lease: Lease,
) -> Response<ProxyBody> {
    let (mut parts, ()) = head.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = http::Version::HTTP_11;
    let mut relayed = Relayed {
        body,
        done: Some(Done { proxy, lease }),
    };
    // An empty body (204, 304, a HEAD's answer) may never be polled: done already.
    relayed.check_in_if_done();
    Response::from_parts(parts, relayed.boxed())
}

/// What a relayed answer holds until its body ends: the lease (which names the backend).
struct Done {
    proxy: Arc<Inner>,
    lease: Lease,
}

/// A backend's response body as the client's server sees it.
struct Relayed {
    body: ResponseBody,
    done: Option<Done>,
}

impl Relayed {
    fn check_in_if_done(&mut self) {
        if !self.body.is_done() {
            return;
        }
        if let Some(done) = self.done.take() {
            if let Some(conn) = self.body.take_idle() {
                let addr = &done.lease.backend().addr;
                done.proxy.upstreams.checkin(addr, conn);
            }
        }
    }
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let data = std::task::ready!(this.body.poll_data(cx));
        // The server stops polling a body that says it has ended, so the end is caught here,
        // not only at a final `None`.
        this.check_in_if_done();
        Poll::Ready(data.map(|d| d.map(Frame::data).map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future boxed for every request stays in the allocator's per-thread cache (under
    /// 1 KiB): what it holds across its waits is all it costs.
    #[test]
    fn the_future_boxed_per_request_fits_the_allocators_thread_cache() {
        let backends = vec![crate::Backend::new("127.0.0.1:1", 1)];
        let pool = Arc::new(Pool::new(backends, crate::StrategyKind::RoundRobin));
        let proxy = HttpProxy::new(pool, HttpProxyConfig::default());
        let request = Request::post("/process")
            .header(header::HOST, "x")
            .body(RequestBody::full(Bytes::from_static(b"{\"input\":[1]}")))
            .unwrap();
        let Step::Send(job) = proxy.inner.prepare(request) else {
            panic!("a plain POST is sent");
        };
        let size = std::mem::size_of_val(&proxy.inner.clone().send(job));
        assert!(size < 1024, "{size} bytes");
    }
}
