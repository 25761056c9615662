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

/// The service's clock: the system time plus an offset that only tests move ([`Clock::advance`]).
/// Clones share the offset, so moving the clock of an `App` moves it for every request, loader
/// and background task of that `App`, and for nothing else.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
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
}
