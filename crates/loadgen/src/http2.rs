//! HTTP/2 with prior knowledge (h2c) through hyper's client: one stream in flight per
//! connection, as HTTP/1.1 has one request. Bytes counted are the response bodies' (HTTP/2
//! framing is not seen from here).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::Instant;

use crate::engine::Ctx;
use crate::http1::{Shared, Stream};
use crate::stats::ErrorKind;

pub(crate) async fn connection(mut ctx: Ctx, shared: Arc<Shared>) {
    let config = &shared.config;
    let timeout = config.timeout;
    let uri: http::Uri =
        match format!("http://{}{}", config.target.authority, config.target.path).parse() {
            Ok(uri) => uri,
            Err(_) => {
                ctx.error(ErrorKind::Protocol);
                return;
            }
        };
    let body = Bytes::from(config.body.clone());
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut ever_connected = false;
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    while let Some(due) = ctx.next().await {
        sleep.as_mut().reset(Instant::now() + timeout);
        if sender.is_none() {
            let opened = tokio::select! {
                biased;
                s = open(&shared) => s,
                _ = &mut sleep => Err(std::io::ErrorKind::TimedOut.into()),
            };
            match opened {
                Ok(s) => {
                    ctx.connected();
                    ever_connected = true;
                    sender = Some(s);
                }
                Err(e) => {
                    ctx.connect_error(&e);
                    if !ever_connected {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let mut request = http::Request::new(Full::new(body.clone()));
        *request.method_mut() = match config.method.parse() {
            Ok(m) => m,
            Err(_) => {
                ctx.error(ErrorKind::Protocol);
                return;
            }
        };
        *request.uri_mut() = uri.clone();
        for (name, value) in &config.headers {
            if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("connection") {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                request.headers_mut().append(n, v);
            }
        }
        let exchange = async {
            s.ready().await.map_err(|_| ErrorKind::Write)?;
            let response = s.send_request(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut bytes = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(classify)?;
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            Ok::<_, ErrorKind>((status, bytes))
        };
        let result = tokio::select! {
            biased;
            r = exchange => r,
            _ = &mut sleep => Err(ErrorKind::Timeout),
        };
        match result {
            Ok((status, bytes)) => {
                ctx.bytes(bytes);
                ctx.done(due, Some(status));
            }
            Err(kind) => {
                ctx.error(kind);
                sender = None;
            }
        }
    }
}

async fn open(shared: &Shared) -> std::io::Result<SendRequest<Full<Bytes>>> {
    match shared.open().await? {
        Stream::Plain(tcp) => handshake(TokioIo::new(tcp)).await,
        Stream::Tls(tls) => handshake(TokioIo::new(tls)).await,
    }
}

async fn handshake<T>(io: T) -> std::io::Result<SendRequest<Full<Bytes>>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(std::io::Error::other)?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn classify(e: hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_user() {
        ErrorKind::Protocol
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Read
    }
}
