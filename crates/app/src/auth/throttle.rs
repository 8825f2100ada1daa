//! Login throttling, shared by every server on one database (the failures live in the store).
//! The policy is described on [`ThrottlePolicy`](crate::ThrottlePolicy).

use std::net::IpAddr;
use std::time::Duration;

use crate::error::ApiError;
use crate::App;

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
        Attempt {
            address: format!("ip:{ip}"),
            pair: format!("acct:{user}|ip:{ip}"),
            account: format!("acct:{user}"),
        }
    }

    /// Before checking the password: 429 when this address, or this account from this address,
    /// has failed too often; otherwise how long to make the answer wait.
    pub async fn admit(&self, app: &App) -> Result<Duration, ApiError> {
        let policy = app.config().throttle;
        let now = app.clock().now();
        let store = app.store();
        for (key, limit) in [
            (&self.address, policy.per_address),
            (&self.pair, policy.per_account),
        ] {
            let (failures, last) = store.login_failures(key, now, policy.window).await?;
            if failures >= limit {
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
        Ok(slow_down(failures, policy.slow_after))
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
    fn slows_down_gradually_and_caps() {
        assert_eq!(slow_down(3, 3), Duration::ZERO);
        assert_eq!(slow_down(4, 3), Duration::from_millis(100));
        assert_eq!(slow_down(5, 3), Duration::from_millis(200));
        assert_eq!(slow_down(100, 3), Duration::from_secs(2));
    }
}
