//! `Upgrade` requests (a WebSocket, say) through the HTTP proxy: sent over a connection of
//! their own; if the backend switches protocols (101), the client's and the backend's upgraded
//! streams are spliced together, with the backend leased for as long as the tunnel lasts.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use switchboard_http::upgrade::OnUpgrade;
use switchboard_http::RequestBody;

use super::answer::{answer, Answer, BoxError};
use super::config::HttpProxyConfig;
use super::headers::{for_backend, strip_hop_by_hop};
use crate::{Backend, Outcome, PickContext};

/// The body of an upgrade request, as hyper's client sends it.
type UpstreamBody = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;

/// Whether the request asks to switch protocols (`Connection: upgrade` and `Upgrade: ...`).
pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// An upgrade request rewritten for a backend: its head as [`for_backend`] makes it, with
/// the `Upgrade` it asked for put back (hop-by-hop, but the point of the request).
pub(super) struct Prepared {
    req: Request<RequestBody>,
    client_upgrade: OnUpgrade,
    /// The client as the strategies see it.
    pub(super) ctx: PickContext,
}

/// Takes the client's side of the upgrade and rewrites the head for a backend.
pub(super) fn prepare(trusted: &[IpAddr], mut req: Request<RequestBody>) -> Prepared {
    let client_upgrade = switchboard_http::upgrade::on(&mut req);
    let (mut parts, body) = req.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    let ctx = for_backend(trusted, &mut parts);
    if let Some(protocol) = protocol {
        parts.headers.insert(header::UPGRADE, protocol);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    Prepared {
        req: Request::from_parts(parts, body),
        client_upgrade,
        ctx,
    }
}

/// Sends a prepared upgrade request to `backend` over a connection of its own; if the
/// backend switches protocols (101), the client's and the backend's upgraded streams are
/// spliced together, with the backend leased for as long as the tunnel lasts.
pub(super) async fn tunnel(
    backend: Arc<Backend>,
    prepared: Prepared,
    config: &HttpProxyConfig,
) -> Answer {
    let Prepared {
        req,
        client_upgrade,
        ..
    } = prepared;
    let (parts, body) = req.into_parts();
    let mut lease = backend.lease();
    let addr = backend.addr.clone();
    let connected = tokio::time::timeout(
        config.connect_timeout,
        tokio::net::TcpStream::connect(&addr),
    )
    .await;
    let Ok(Ok(stream)) = connected else {
        backend.eject(config.eject_for);
        lease.finish(Outcome::Failed);
        let down = answer(
            StatusCode::BAD_GATEWAY,
            "bad gateway: the backend refused",
            false,
        );
        return (down, Some(addr));
    };
    let _ = stream.set_nodelay(true);
    let handshake = hyper::client::conn::http1::handshake::<_, UpstreamBody>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await;
    let Ok((mut sender, conn)) = handshake else {
        lease.finish(Outcome::Failed);
        let failed = answer(
            StatusCode::BAD_GATEWAY,
            "bad gateway: the backend failed",
            false,
        );
        return (failed, Some(addr));
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut outgoing = Request::from_parts(parts, body.map_err(BoxError::from).boxed());
    *outgoing.version_mut() = http::Version::HTTP_11;
    let sent = tokio::time::timeout(config.response_timeout, sender.send_request(outgoing)).await;
    let mut response = match sent {
        Ok(Ok(response)) => response,
        _ => {
            lease.finish(Outcome::Failed);
            let failed = answer(
                StatusCode::BAD_GATEWAY,
                "bad gateway: the backend failed",
                false,
            );
            return (failed, Some(addr));
        }
    };
    lease.answered();
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Declined: an ordinary answer.
        let (parts, body) = response.into_parts();
        let mut declined = Response::from_parts(parts, body.map_err(BoxError::from).boxed());
        strip_hop_by_hop(declined.headers_mut());
        return (declined, Some(addr));
    }
    let backend_upgrade = hyper::upgrade::on(&mut response);
    let tunnel_addr = addr.clone();
    tokio::spawn(async move {
        let _lease = lease;
        let joined = tokio::try_join!(
            async { client_upgrade.await.map_err(|e| e.to_string()) },
            async { backend_upgrade.await.map_err(|e| e.to_string()) },
        );
        match joined {
            Ok((mut client, upstream)) => {
                let mut upstream = hyper_util::rt::TokioIo::new(upstream);
                let moved = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                tracing::debug!(backend = %tunnel_addr, ?moved, "upgraded connection closed");
            }
            Err(e) => tracing::debug!(backend = %tunnel_addr, error = %e, "upgrade failed"),
        }
    });
    // The 101 goes back with its Upgrade and Connection headers: they are the point.
    let (parts, _) = response.into_parts();
    let switching = Response::from_parts(
        parts,
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    (switching, Some(addr))
}
