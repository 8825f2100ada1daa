//! `Upgrade` requests (a WebSocket, say) through the HTTP proxy: sent over a connection of
//! their own; if the backend switches protocols (101), the client's and the backend's upgraded
//! streams are spliced together, with the backend leased for as long as the tunnel lasts.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use switchboard_http::{PeerAddr, RequestBody, Scheme};

use super::headers::strip_hop_by_hop;
use super::proxy::{answer, BoxError, Inner, ProxyBody};
use crate::{Outcome, PickContext};

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

impl Inner {
    /// An `Upgrade` request (a WebSocket, say): sent over a connection of its own; if the
    /// backend switches protocols (101), the client's and the backend's upgraded streams are
    /// spliced together, with the backend leased for as long as the tunnel lasts.
    pub(super) async fn upgrade(
        self: Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> (Response<ProxyBody>, Option<String>) {
        let client_upgrade = switchboard_http::upgrade::on(&mut req);
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
        let protocol = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        self.forwarding_headers(&mut parts.headers, peer, ctx.client, scheme);
        if let Some(protocol) = protocol {
            parts.headers.insert(header::UPGRADE, protocol);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        let Some(backend) = self.pool.pick(&ctx) else {
            let none = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable: no healthy backend",
                false,
            );
            return (none, None);
        };
        let mut lease = backend.lease();
        let addr = backend.addr.clone();
        let connected = tokio::time::timeout(
            self.config.connect_timeout,
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        let Ok(Ok(stream)) = connected else {
            backend.eject(self.config.eject_for);
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
        let sent =
            tokio::time::timeout(self.config.response_timeout, sender.send_request(outgoing)).await;
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
}
