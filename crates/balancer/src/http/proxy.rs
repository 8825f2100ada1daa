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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt as _;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body::Body;
use switchboard_http::{PeerAddr, RequestBody};

use super::access_log::{AccessLog, Entry};
use super::answer::{answer, failed, no_backend, timed_out, Answer, ProxyBody};
use super::client::{Conn, Fault, Outgoing, ResponseBody};
use super::config::HttpProxyConfig;
use super::headers::{for_backend, smuggling};
use super::relay::relay;
use super::retry::{after_timeout, next, Next, Replays, RetryBudget};
use super::upstream::Upstreams;
use super::{sticky, upgrade};
use crate::{Lease, Outcome, PickContext, Pool};

/// The HTTP proxy service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct HttpProxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Arc<Pool>,
    /// Shared with the answers being relayed, which give their connections back.
    upstreams: Arc<Upstreams>,
    config: HttpProxyConfig,
    budget: RetryBudget,
    access_log: Option<AccessLog>,
}

impl HttpProxy {
    /// A proxy over `pool`. With an access log configured, must be called in a tokio runtime
    /// (the log's writer starts).
    pub fn new(pool: Arc<Pool>, config: HttpProxyConfig) -> Self {
        let access_log = config.access_log.map(AccessLog::start);
        HttpProxy {
            inner: Arc::new(Inner {
                pool,
                upstreams: Arc::default(),
                config,
                budget: RetryBudget::default(),
                access_log,
            }),
        }
    }

    /// Access log lines dropped because the output could not keep up.
    pub fn dropped_log_lines(&self) -> u64 {
        self.inner.access_log.as_ref().map_or(0, AccessLog::dropped)
    }
}

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

/// What one attempt at a backend came to.
enum Attempt {
    /// The backend answered; it stays leased until the answer's body is done.
    Answered(Response<()>, ResponseBody, Lease),
    /// The request goes to another backend (or again to this one).
    Again(Outgoing),
    /// The client gets this.
    Failed(Response<ProxyBody>),
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
            Step::Upgrade(req) => Box::pin(async move {
                let prepared = upgrade::prepare(&self.config.trusted_proxies, req);
                match self.pool.pick(&prepared.ctx) {
                    Some(backend) => upgrade::tunnel(backend, prepared, &self.config).await,
                    None => (no_backend(), None),
                }
            }),
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
        if upgrade::wants_upgrade(req.headers()) {
            return Step::Upgrade(req);
        }
        let (mut parts, body) = req.into_parts();
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
        let ctx = for_backend(&self.config.trusted_proxies, &mut parts);
        // Backends get the origin form (path and query); an HTTP/1 request has it already.
        let uri: Uri = if parts.uri.scheme().is_none() && parts.uri.authority().is_none() {
            parts.uri.clone()
        } else {
            // `http://a?b` is `/?b`: the origin form, never `?b`.
            let path = switchboard_wire::encode::origin_form(&parts.uri);
            path.parse().unwrap_or_else(|_| Uri::from_static("/"))
        };
        Step::Send(Box::new(Job {
            parts,
            body,
            uri,
            ctx,
        }))
    }

    /// Sends a prepared request to a backend (another, when the first refuses, or resets an
    /// idempotent request: [`next`] decides), and relays the answer.
    async fn send(self: Arc<Self>, mut job: Box<Job>) -> Answer {
        // The job is used in place, through the box: neither moved out nor borrowed across a
        // wait, since either would take room in this future.
        let mut replays = Replays::new(&job.parts.method, job.body.is_end_stream());
        // Encoded once, whichever backend it goes to (with a small body, or what has come).
        let Job {
            parts, uri, body, ..
        } = &mut *job;
        let mut outgoing = match Outgoing::encode(&parts.method, uri, &parts.headers, body).await {
            Ok(outgoing) => outgoing,
            Err(failure) => {
                tracing::info!(error = %failure.cause, "request failed before it was sent");
                return (failed(&failure), None);
            }
        };
        // Stickiness: the backend the client's cookie names goes first, while it is healthy.
        let mut pinned = self
            .config
            .sticky
            .then(|| sticky::target(&self.pool, &job.parts.headers))
            .flatten();
        // Which backend the cookie named (a pointer in this future, not its token's string).
        let cookie_named = pinned.clone();
        // After a failed attempt, pooled connections are not trusted (see `checkout`), and
        // the backend that failed it is the last choice.
        let mut fresh = false;
        let mut failed: Option<Arc<crate::Backend>> = None;
        for _ in 0..self.pool.len().max(1) * 2 {
            let pick = || match &failed {
                Some(failed) => self.pool.pick_other(&job.ctx, failed),
                None => self.pool.pick(&job.ctx),
            };
            let Some(backend) = pinned.take().or_else(pick) else {
                break;
            };
            let mut lease = backend.lease();
            // Cancelled (this future dropped), the request was given up by its client (gone:
            // an HTTP/2 reset, say) or the server (stopping), never failed by the backend.
            lease.abandon_if_dropped();
            let Some((conn, lease)) = self.checkout(lease, fresh).await else {
                // Nothing was sent: the request goes to another backend, whole.
                continue;
            };
            match self.attempt(lease, conn, outgoing, &mut replays).await {
                Attempt::Again(out) => {
                    outgoing = out;
                    fresh = true;
                    failed = Some(backend.clone());
                }
                Attempt::Failed(response) => return (response, Some(backend.addr.clone())),
                Attempt::Answered(head, body, mut lease) => {
                    lease.answered();
                    let mut relayed = relay(self.upstreams.clone(), head, body, lease);
                    if self.config.sticky {
                        let again = cookie_named
                            .as_ref()
                            .is_some_and(|b| Arc::ptr_eq(b, &backend));
                        sticky::pin(relayed.headers_mut(), &backend, again);
                    }
                    // The backend's name is for the access log only.
                    let named = self.access_log.is_some().then(|| backend.addr.clone());
                    return (relayed, named);
                }
            }
        }
        (no_backend(), None)
    }

    /// A connection to the leased backend (a new one if `fresh`); a refusal ejects it and
    /// fails the lease.
    async fn checkout(&self, lease: Lease, fresh: bool) -> Option<(Conn, Lease)> {
        let backend = lease.backend();
        let connect = self.config.connect_timeout;
        match self.upstreams.checkout(&backend.addr, connect, fresh).await {
            Ok(conn) => Some((conn, lease)),
            Err(e) => {
                tracing::warn!(backend = %backend.addr, error = %e, "backend refused; ejected");
                backend.eject(self.config.eject_for);
                lease.finish(Outcome::Failed);
                None
            }
        }
    }

    /// Sends the request on `conn` and waits for the answer's head, within the response
    /// timeout. A failure ends the lease: held against the backend only when it is the
    /// backend's fault.
    async fn attempt(
        &self,
        lease: Lease,
        conn: Conn,
        out: Outgoing,
        replays: &mut Replays,
    ) -> Attempt {
        let replay = replays.copy(&out);
        let sent = tokio::time::timeout(self.config.response_timeout, conn.request(out)).await;
        let failure = match sent {
            Ok(Ok((head, body))) => return Attempt::Answered(head, body, lease),
            Ok(Err(failure)) => failure,
            Err(_) => {
                let addr = lease.backend().addr.clone();
                lease.finish(Outcome::Failed);
                if let Some(again) = after_timeout(replay, replays, &self.budget) {
                    tracing::info!(backend = %addr, "no answer in time; sending the idempotent request again");
                    return Attempt::Again(again);
                }
                tracing::warn!(backend = %addr, "no answer in time");
                return Attempt::Failed(timed_out());
            }
        };
        // Failures only: an Arc's count, so the lease can end before the log line.
        let backend = lease.backend().clone();
        let addr = &backend.addr;
        match next(failure, replay, replays, &self.budget) {
            Next::Resend(out) => {
                lease.finish(Outcome::Failed);
                tracing::debug!(backend = %addr, "request not sent; trying again");
                Attempt::Again(out)
            }
            Next::Replay(out) => {
                lease.finish(Outcome::Failed);
                tracing::info!(backend = %addr, "reset; sending the idempotent request again");
                Attempt::Again(out)
            }
            Next::Fail(failure) if failure.fault == Fault::Backend => {
                lease.finish(Outcome::Failed);
                tracing::warn!(backend = %addr, error = %failure.cause, "backend failed mid-request");
                Attempt::Failed(failed(&failure))
            }
            Next::Fail(failure) => {
                // Not the backend's doing: nothing is held against it and the request is not
                // sent again; the connection, with part of the request, is closed.
                lease.finish(Outcome::Abandoned);
                tracing::info!(backend = %addr, error = %failure.cause, sent = failure.sent, "request failed, not by the backend");
                Attempt::Failed(failed(&failure))
            }
        }
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
            .body(RequestBody::full(bytes::Bytes::from_static(
                b"{\"input\":[1]}",
            )))
            .unwrap();
        let Step::Send(job) = proxy.inner.prepare(request) else {
            panic!("a plain POST is sent");
        };
        let size = std::mem::size_of_val(&proxy.inner.clone().send(job));
        assert!(size < 1024, "{size} bytes");
    }
}
