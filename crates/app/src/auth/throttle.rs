//! Login throttling, shared by every server on one database (the failures live in the store).
//! The policy is described on [`ThrottlePolicy`](crate::ThrottlePolicy).
//!
//! Attempts still being checked count too: a failure is recorded only after the password hash,
//! so without this, many concurrent guesses would all see the same count and pass.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::App;

/// The client's address: the peer's, or, when the peer is a trusted proxy
/// ([`AppConfig::trusted_proxies`](crate::AppConfig::trusted_proxies)), the one its
/// `X-Real-IP` names (unspecified when the server does not say).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<App> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<switchboard_net::PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        if !app.config().trusted_proxies.contains(&peer) {
            return Ok(ClientIp(peer));
        }
        let named = parts
            .headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(ClientIp(named.unwrap_or(peer)))
    }
}

/// Attempts under way, per key, in this process.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<String, u32>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Holds an attempt's place among those under way until dropped.
pub struct Admitted<'a> {
    in_flight: &'a InFlight,
    keys: [String; 2],
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut counts = self.in_flight.lock();
        for key in &self.keys {
            if let Some(n) = counts.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(key);
                }
            }
        }
    }
}

/// The address as the throttle counts it: IPv4 whole; IPv6 by its /64, the block one
/// subscriber gets, so rotating addresses within it gains nothing.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Registrations count per address over the same sliding window as failed logins (the store's
/// counter), so no one address can fill the users table or the hashing queue.
pub async fn admit_registration(app: &App, ip: IpAddr) -> Result<String, ApiError> {
    let policy = app.config().throttle;
    let key = format!("register:{}", address_key(ip));
    let now = app.clock().now();
    let (count, last) = app.store().login_failures(&key, now, policy.window).await?;
    if count >= policy.registrations_per_address {
        let since_last = last.map_or(0, |t| (now.as_millis() - t.as_millis()).max(0) as u64);
        let retry_ms = (policy.window.as_millis() as u64).saturating_sub(since_last);
        return Err(ApiError::too_many_requests(
            "too many sign-ups from this address; try again later",
            retry_ms.div_ceil(1000),
        ));
    }
    app.store()
        .record_login_failure(&key, now, policy.window)
        .await?;
    Ok(key)
}

/// The throttle's keys for one login attempt.
pub struct Attempt {
    address: String,
    pair: String,
    account: String,
}

impl Attempt {
    /// An attempt to sign in as `username` from `ip`.
    pub fn new(username: &str, ip: IpAddr) -> Self {
        let user = username.to_lowercase();
        let ip = address_key(ip);
        Attempt {
            address: format!("ip:{ip}"),
            pair: format!("acct:{user}|ip:{ip}"),
            account: format!("acct:{user}"),
        }
    }

    /// Before checking the password: 429 when this address, or this account from this address,
    /// has failed too often (attempts under way count as failures); otherwise how long to make
    /// the answer wait, and the attempt's place among those under way, to hold until the
    /// outcome is recorded.
    pub async fn admit<'a>(&self, app: &'a App) -> Result<(Duration, Admitted<'a>), ApiError> {
        let policy = app.config().throttle;
        let now = app.clock().now();
        let store = app.store();
        let in_flight = app.login_attempts();
        let mut under_way = [0u32; 2];
        {
            let mut counts = in_flight.lock();
            for (i, key) in [&self.address, &self.pair].into_iter().enumerate() {
                let n = counts.entry(key.clone()).or_insert(0);
                under_way[i] = *n;
                *n += 1;
            }
        }
        let admitted = Admitted {
            in_flight,
            keys: [self.address.clone(), self.pair.clone()],
        };
        let limits = [
            (&self.address, policy.per_address),
            (&self.pair, policy.per_account),
        ];
        for ((key, limit), under_way) in limits.into_iter().zip(under_way) {
            let (failures, last) = store.login_failures(key, now, policy.window).await?;
            if failures + under_way >= limit {
                let since_last =
                    last.map_or(0, |t| (now.as_millis() - t.as_millis()).max(0) as u64);
                let retry_ms = (policy.window.as_millis() as u64).saturating_sub(since_last);
                return Err(ApiError::too_many_requests(
                    "too many failed sign-ins; try again later",
                    retry_ms.div_ceil(1000),
                ));
            }
        }
        let (failures, _) = store
            .login_failures(&self.account, now, policy.window)
            .await?;
        Ok((slow_down(failures, policy.slow_after), admitted))
    }

    /// The password was wrong (or the user unknown).
    pub async fn failed(&self, app: &App) -> Result<(), ApiError> {
        let now = app.clock().now();
        let window = app.config().throttle.window;
        for key in [&self.address, &self.pair, &self.account] {
            app.store().record_login_failure(key, now, window).await?;
        }
        Ok(())
    }

    /// The password was right: this address's record for this account is wiped. The address's
    /// own count stays, or one valid account would reset an attacker's budget.
    pub async fn succeeded(&self, app: &App) -> Result<(), ApiError> {
        app.store().clear_login_failures(&self.pair).await?;
        Ok(())
    }
}

/// No delay up to `slow_after` failures, then 100 ms doubling per failure, at most 2 s.
fn slow_down(failures: u32, slow_after: u32) -> Duration {
    if failures <= slow_after {
        return Duration::ZERO;
    }
    let doublings = (failures - slow_after - 1).min(5);
    Duration::from_millis(100 << doublings).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_block() {
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7"
        );
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_eq!(
            address_key("2001:db8:1:2::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn slows_down_gradually_and_caps() {
        assert_eq!(slow_down(3, 3), Duration::ZERO);
        assert_eq!(slow_down(4, 3), Duration::from_millis(100));
        assert_eq!(slow_down(5, 3), Duration::from_millis(200));
        assert_eq!(slow_down(100, 3), Duration::from_secs(2));
    }
}
