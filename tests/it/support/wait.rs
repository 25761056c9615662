//! Waiting for something to become true, with a deadline.

use std::time::Duration;

/// Awaits `check`, every 20 ms, for at most 30 s.
pub async fn wait_for(what: &str, check: impl AsyncFnMut() -> bool) {
    within(Duration::from_secs(30), what, check).await;
}

/// Awaits `condition`, every 20 ms, failing when it is still false after `deadline` (a
/// guarantee of the service when the deadline is tight, e.g. "within a second").
pub async fn within(deadline: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
