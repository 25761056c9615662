//! Time. Every instant the service compares or stores — token expiry, `last_used`, the timeout
//! reaper, the timestamps of writes — is read from one [`Clock`], which the [`App`] carries and
//! tests can move forward.
//!
//! [`App`]: crate::app::App

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use tokio::sync::Notify;

/// The service's clock: the system time plus an offset that only tests move ([`Clock::advance`]).
/// Clones share the offset, so moving the clock of an `App` moves it for every request, loader
/// and background task of that `App`, and for nothing else.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
    /// Wakes [`Clock::sleep_until`] when the clock is moved.
    moved: Arc<Notify>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current instant, truncated to microseconds so that SQLite and PostgreSQL store,
    /// compare and return exactly the same value.
    pub fn now(&self) -> DateTime<Utc> {
        let offset = Duration::microseconds(self.offset_micros.load(Ordering::SeqCst));
        (Utc::now() + offset).trunc_subsecs(6)
    }

    /// Moves this clock (and its clones) forward by `by`: how tests let time pass without
    /// waiting for it.
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Waits until this clock reads `at` or later: a timer on the system clock that also ends
    /// when the clock is moved past `at` ([`Clock::advance`]), so that what happens at an instant
    /// (a token expiring under an open websocket) happens in tests without waiting for it.
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        loop {
            // Registered before the time is read: a move in between still wakes this loop.
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            let left = at - self.now();
            let Ok(left) = left.to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = moved => {}
            }
        }
    }
}

/// The system time, truncated like [`Clock::now`]: for what runs outside any `App` (seeding rows,
/// the command line).
pub fn now() -> DateTime<Utc> {
    Clock::system().now()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::Clock;

    #[test]
    fn an_advanced_clock_and_its_clones_move_together() {
        let clock = Clock::system();
        let clone = clock.clone();
        let before = clock.now();
        clone.advance(Duration::hours(2));
        assert!(clock.now() - before >= Duration::hours(2));
        assert!(Clock::system().now() - before < Duration::hours(1));
        assert_eq!(clock.now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[tokio::test]
    async fn a_sleep_ends_when_the_clock_is_moved_past_its_instant() {
        let clock = Clock::system();
        let until = clock.now() + Duration::hours(1);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(until).await }
        });
        clock.advance(Duration::minutes(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "half-way there");
        clock.advance(Duration::minutes(31));
        tokio::time::timeout(std::time::Duration::from_secs(10), sleeper)
            .await
            .expect("the sleep ends once the clock is past its instant")
            .expect("the sleeper");
        // An instant already past returns at once.
        clock.sleep_until(until).await;
    }
}
