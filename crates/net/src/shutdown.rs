//! The shutdown signal every server watches.

use tokio_util::sync::CancellationToken;

/// A shutdown signal: triggered once, seen by every clone.
///
/// Async code awaits [`wait`](Self::wait); blocking code checks
/// [`is_triggered`](Self::is_triggered). The binary triggers it from SIGINT or SIGTERM through
/// [`on_signals`](Self::on_signals); tests trigger it directly.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers shutdown. Calling it again does nothing.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has been triggered.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    /// Triggers this signal on the first SIGINT or SIGTERM (Ctrl-C elsewhere). Must be called
    /// inside a tokio runtime; the listening task lives as long as the runtime.
    pub fn on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            termination_signal().await;
            // Trigger first: nothing, not even a failing log line, may stand between the
            // signal and the shutdown.
            this.trigger();
            tracing::info!("shutdown signal received");
        });
    }
}

#[cfg(unix)]
async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for signals; stop the server by killing it");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn termination_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
