//! What bounds the work that hostile or excessive traffic can cause, whatever the transport:
//!
//! - [`Admission::admit`]: at most N requests execute at once, at most M wait for a place, each at
//!   most T — or, when the line has not been empty for [`STANDING_AFTER`] and is half full or
//!   overflowed meanwhile, at most N wait, each only [`STANDING_WAIT`] ([`wait_in_line`]);
//!   beyond, the request is refused at once ([`Busy`], 503 `SERVER_BUSY` at the edge);
//! - [`Admission::rate`]: a token bucket per principal, sized by its role (`--rate-limit`), for
//!   the requests of both doors and the operations of websockets ([`Verdict`], 429
//!   `RATE_LIMITED`);
//! - [`Admission::socket`]: websockets open in total and per principal ([`SocketSlot`]).
//!
//! The bucket arithmetic is a pure function ([`take`]); instants come from the service's
//! [`Clock`], so tests move time instead of sleeping. Nothing here knows HTTP: the edge
//! (`http::admission`) and the websocket transport turn the answers into responses.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::enums::Role;
use lru::LruCache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    auth::Principal,
    clock::Clock,
    config::{Overload, RateLimit, RateSubject},
};

/// Buckets remembered at most (the least recently used is forgotten: a full bucket again).
const BUCKETS: usize = 100_000;

/// How long the line may stay non-empty before it is a standing line: the places do not keep up
/// with the arrivals, which is overload rather than a burst (CoDel's interval).
pub const STANDING_AFTER: Duration = Duration::from_millis(100);

/// How long a request may wait in a standing line (CoDel's target). Under overload the line is
/// always full and most of its requests would wait the whole queue timeout only to be refused:
/// their wait would be added to the refused requests' latency, and the admitted ones' waits to
/// theirs. Refused after a short wait, they ask again (or elsewhere) sooner.
pub const STANDING_WAIT: Duration = Duration::from_millis(5);

/// The admission control of one instance; cheap to share (`Arc`).
pub struct Admission {
    executing: Arc<Semaphore>,
    max_executing: usize,
    queued: AtomicUsize,
    /// When the line was last seen empty, in microseconds of the service's clock.
    empty_at: AtomicI64,
    /// When a request was last refused for want of room in the line, likewise.
    full_at: AtomicI64,
    max_queued: usize,
    queue_timeout: Duration,
    limits: Vec<RateLimit>,
    buckets: Mutex<LruCache<Who, Bucket>>,
    clock: Clock,
    sockets: Arc<Mutex<Sockets>>,
    max_sockets: usize,
    max_sockets_per_principal: usize,
}

/// The request was refused for lack of capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    /// Seconds after which a retry is sensible.
    pub retry_after: u64,
    /// Which capacity was lacking.
    pub reason: Shed,
}

/// Why a request was shed (the `reason` of `requests_shed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Every place was taken and the line was full.
    NoPlace,
    /// No place freed up within the queue timeout.
    QueueTimeout,
    /// The most websockets were open (`--ws-max-sockets`).
    WebsocketCap,
}

impl Shed {
    /// Every reason.
    pub const ALL: [Shed; 3] = [Shed::NoPlace, Shed::QueueTimeout, Shed::WebsocketCap];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Shed::NoPlace => "no_place",
            Shed::QueueTimeout => "queue_timeout",
            Shed::WebsocketCap => "websocket_cap",
        }
    }
}

/// The bounded label of a principal's role in metrics: its role, `anonymous` or `service`.
pub fn role_label(principal: &Principal) -> &'static str {
    match principal {
        Principal::User(caller) => policy_name(RateSubject::Role(caller.role)),
        Principal::Anonymous => "anonymous",
        Principal::Service => "service",
    }
}

/// A place among the executing requests, given back when dropped.
pub type Place = OwnedSemaphorePermit;

impl Admission {
    /// Admission control as configured; `pool` is the size of the database pool (the default
    /// number of requests executing at once is bounded by it, see [`default_executing`]).
    pub fn new(config: &Overload, pool: u32, clock: Clock) -> Self {
        let max_executing = match config.max_concurrent_requests {
            0 => default_executing(pool, cores()),
            n => n as usize,
        };
        Admission {
            executing: Arc::new(Semaphore::new(max_executing)),
            max_executing,
            queued: AtomicUsize::new(0),
            empty_at: AtomicI64::new(clock.now().timestamp_micros()),
            full_at: AtomicI64::new(0),
            max_queued: config.max_queued_requests as usize,
            queue_timeout: config.queue_timeout,
            limits: config.rate_limits.clone(),
            buckets: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(BUCKETS).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            clock,
            sockets: Arc::default(),
            max_sockets: config.ws_max_sockets as usize,
            max_sockets_per_principal: config.ws_max_sockets_per_principal as usize,
        }
    }

    /// Requests executing at most at once.
    pub fn max_executing(&self) -> usize {
        self.max_executing
    }

    /// A place to execute: at once when one is free, else after waiting in line — when the line
    /// is not full, and at most the queue timeout ([`wait_in_line`]: less in a standing line).
    pub async fn admit(&self) -> Result<Place, Busy> {
        let busy = |reason| Busy {
            retry_after: 1,
            reason,
        };
        if let Ok(place) = self.executing.clone().try_acquire_owned() {
            return Ok(place);
        }
        let waiting = self.queued.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(self);
        let now = self.clock.now().timestamp_micros();
        if waiting >= self.max_queued {
            self.full_at.store(now, Ordering::SeqCst);
            return Err(busy(Shed::NoPlace));
        }
        if waiting == 0 {
            // The line was empty until this request joined it.
            self.empty_at.store(now, Ordering::SeqCst);
        }
        let empty_at = self.empty_at.load(Ordering::SeqCst);
        let since = now.saturating_sub(empty_at);
        let line = Line {
            non_empty_for: Duration::from_micros(u64::try_from(since).unwrap_or(0)),
            waiting,
            max_queued: self.max_queued,
            overflowed: self.full_at.load(Ordering::SeqCst) > empty_at,
        };
        let Some(wait) = wait_in_line(&line, self.max_executing, self.queue_timeout) else {
            self.full_at.store(now, Ordering::SeqCst);
            return Err(busy(Shed::NoPlace));
        };
        match tokio::time::timeout(wait, self.executing.clone().acquire_owned()).await {
            Ok(Ok(place)) => Ok(place),
            _ => Err(busy(Shed::QueueTimeout)),
        }
    }

    /// Requests executing now (holding a place).
    pub fn executing(&self) -> usize {
        self.max_executing
            .saturating_sub(self.executing.available_permits())
    }

    /// Requests waiting for a place now.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::SeqCst).min(self.max_queued)
    }

    /// Whether any rate limit is configured (without, the edge does not authenticate requests
    /// before their door does).
    pub fn rate_limited(&self) -> bool {
        !self.limits.is_empty()
    }

    /// Takes one token from the bucket of `principal` (`address`: the client's, for anonymous
    /// readers); `None` when no rate limit applies to it.
    pub fn rate(&self, principal: &Principal, address: Option<IpAddr>) -> Option<Verdict> {
        let (subject, who) = match principal {
            Principal::User(caller) => (RateSubject::Role(caller.role), Who::User(caller.user_id)),
            Principal::Anonymous => (
                RateSubject::Anonymous,
                address.map_or(Who::Nobody, Who::Address),
            ),
            Principal::Service => return None,
        };
        let limit = self.limit_of(subject)?;
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.get_or_insert_mut(who, || Bucket::full(&limit, now));
        Some(take(bucket, &limit, now))
    }

    fn limit_of(&self, subject: RateSubject) -> Option<RateLimit> {
        let own = self.limits.iter().find(|l| l.subject == subject);
        own.or_else(|| {
            self.limits
                .iter()
                .find(|l| l.subject == RateSubject::Others)
        })
        .copied()
    }

    /// A websocket's slot: `None` when the most sockets are open.
    pub fn socket(&self) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        if sockets.total >= self.max_sockets {
            return None;
        }
        sockets.total += 1;
        Some(SocketSlot {
            sockets: self.sockets.clone(),
            owner: None,
        })
    }

    /// Counts `slot` as a socket of `principal` (`address` for anonymous readers); false when that
    /// principal already has the most sockets open.
    pub fn claim(
        &self,
        slot: &mut SocketSlot,
        principal: &Principal,
        address: Option<IpAddr>,
    ) -> bool {
        let who = match principal {
            Principal::User(caller) => Who::User(caller.user_id),
            Principal::Anonymous => address.map_or(Who::Nobody, Who::Address),
            Principal::Service => return true,
        };
        if slot.owner == Some(who) {
            return true;
        }
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        let count = sockets.by_owner.get(&who).copied().unwrap_or(0);
        if count >= self.max_sockets_per_principal {
            return false;
        }
        sockets.by_owner.insert(who, count + 1);
        if let Some(previous) = slot.owner.replace(who) {
            sockets.release(previous);
        }
        true
    }

    /// Websockets open now.
    pub fn open_sockets(&self) -> usize {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// What a request joining the line finds there.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    /// How long the line has not been empty.
    pub non_empty_for: Duration,
    /// The requests waiting before this one.
    pub waiting: usize,
    /// The line's length at most (`--max-queued-requests`).
    pub max_queued: usize,
    /// Whether a request was refused for want of room in the line since it was last empty.
    pub overflowed: bool,
}

/// How long a request joining `line` may wait for one of `places`, or `None` when it is
/// refused at once: the queue timeout, unless the line is *standing* — it has not been empty for
/// [`STANDING_AFTER`] and is at least half full or overflowed meanwhile. The places do not keep
/// up with the arrivals then (overload rather than a burst), and the line keeps only as many
/// requests as there are places, each waiting at most [`STANDING_WAIT`]; the others are refused
/// at once. A request that waits and is refused pays twice for its turn on the worker threads
/// (once to arrive, once to be refused): a full line of them, as many as 64 refused after each
/// wait, was the refused requests' p99 under issue 14's overload. A line that is never empty but
/// short is a steady load the places keep up with (32 clients asking again at once on 2 cores):
/// it is served, not refused.
pub fn wait_in_line(line: &Line, places: usize, queue_timeout: Duration) -> Option<Duration> {
    let standing = line.non_empty_for > STANDING_AFTER
        && (line.waiting * 2 >= line.max_queued || line.overflowed);
    if !standing {
        Some(queue_timeout)
    } else if line.waiting < places {
        Some(queue_timeout.min(STANDING_WAIT))
    } else {
        None
    }
}

/// Requests executing at once by default: two per core, bounded by the database pool. A list
/// request alternates between the CPU (GraphQL, serialisation) and waiting for the database, so
/// two per core keep the cores busy; more only share the same cores, and every admitted request
/// then takes longer (on 2 cores, 16 at once put the admitted p99 over 500 ms under issue 14's
/// overload, 4 kept it within). More than the pool would only wait inside the pool.
pub fn default_executing(pool: u32, cores: usize) -> usize {
    cores
        .max(1)
        .saturating_mul(2)
        .min(usize::try_from(pool).unwrap_or(usize::MAX))
        .max(1)
}

/// The cores this process may run on (1 when unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Decrements the line's length when the request leaves it, noting when it left it empty.
struct Leave<'a>(&'a Admission);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if self.0.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            let now = self.0.clock.now().timestamp_micros();
            self.0.empty_at.store(now, Ordering::SeqCst);
        }
    }
}

/// Whose bucket or sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    User(i32),
    Address(IpAddr),
    /// An anonymous reader whose address is unknown (in-process calls).
    Nobody,
}

#[derive(Default)]
struct Sockets {
    total: usize,
    by_owner: HashMap<Who, usize>,
}

impl Sockets {
    fn release(&mut self, who: Who) {
        if let Some(count) = self.by_owner.get_mut(&who) {
            *count -= 1;
            if *count == 0 {
                self.by_owner.remove(&who);
            }
        }
    }
}

/// A websocket counted among the open ones (and, once claimed, among its principal's) until it
/// is dropped.
pub struct SocketSlot {
    sockets: Arc<Mutex<Sockets>>,
    owner: Option<Who>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        sockets.total -= 1;
        if let Some(owner) = self.owner {
            sockets.release(owner);
        }
    }
}

/// A token bucket: what it held at an instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(limit: &RateLimit, now: DateTime<Utc>) -> Self {
        Bucket {
            tokens: limit.burst,
            at: now,
        }
    }
}

/// The answer of a bucket, with what the IETF `RateLimit` fields say about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket's size (the policy's quota).
    pub quota: u64,
    /// The policy's window: seconds to fill an empty bucket.
    pub window: u64,
    /// Whole tokens left after this request.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until one token is available (0 when allowed).
    pub retry_after: u64,
    /// The policy's name: the role it is sized for.
    pub policy: &'static str,
}

/// Takes one token from `bucket` at `now` if it holds one (refilled at the limit's rate since it
/// was last used, up to its burst).
pub fn take(bucket: &mut Bucket, limit: &RateLimit, now: DateTime<Utc>) -> Verdict {
    let elapsed = (now - bucket.at).as_seconds_f64().max(0.0);
    let tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
    let allowed = tokens >= 1.0;
    let tokens = if allowed { tokens - 1.0 } else { tokens };
    *bucket = Bucket { tokens, at: now };
    let seconds = |tokens: f64| (tokens / limit.per_second).max(0.0).ceil() as u64;
    Verdict {
        allowed,
        quota: limit.burst.floor() as u64,
        window: seconds(limit.burst).max(1),
        remaining: tokens.floor() as u64,
        reset: seconds(limit.burst - tokens),
        retry_after: if allowed {
            0
        } else {
            seconds(1.0 - tokens).max(1)
        },
        policy: policy_name(limit.subject),
    }
}

fn policy_name(subject: RateSubject) -> &'static str {
    match subject {
        RateSubject::Role(Role::Viewer) => "viewer",
        RateSubject::Role(Role::Operator) => "operator",
        RateSubject::Role(Role::Worker) => "worker",
        RateSubject::Role(Role::Admin) => "admin",
        RateSubject::Anonymous => "anonymous",
        RateSubject::Others => "default",
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::{
        Bucket, Line, RateLimit, RateSubject, STANDING_WAIT, default_executing, take, wait_in_line,
    };

    #[test]
    fn a_standing_line_keeps_as_many_as_the_places_briefly() {
        let timeout = std::time::Duration::from_millis(250);
        let ms = std::time::Duration::from_millis;
        let line = |non_empty_for, waiting, overflowed| Line {
            non_empty_for,
            waiting,
            max_queued: 64,
            overflowed,
        };
        // A burst: the line has been there for less than the interval.
        assert_eq!(
            wait_in_line(&line(ms(0), 63, true), 4, timeout),
            Some(timeout)
        );
        assert_eq!(
            wait_in_line(&line(ms(100), 63, true), 4, timeout),
            Some(timeout)
        );
        // Overload: the line has not been empty for longer, and is at least half full, or
        // overflowed meanwhile. It keeps as many as the places, briefly; the others are refused.
        assert_eq!(wait_in_line(&line(ms(101), 32, false), 4, timeout), None);
        assert_eq!(wait_in_line(&line(ms(60_000), 63, false), 4, timeout), None);
        assert_eq!(wait_in_line(&line(ms(60_000), 5, true), 4, timeout), None);
        assert_eq!(
            wait_in_line(&line(ms(60_000), 3, true), 4, timeout),
            Some(STANDING_WAIT)
        );
        // A steady load: never empty, but short, and it never overflowed.
        assert_eq!(
            wait_in_line(&line(ms(60_000), 28, false), 4, timeout),
            Some(timeout)
        );
        // A queue timeout shorter than the standing wait stays.
        assert_eq!(wait_in_line(&line(ms(500), 0, true), 4, ms(1)), Some(ms(1)));
    }

    #[test]
    fn by_default_two_requests_execute_per_core_within_the_pool() {
        assert_eq!(default_executing(16, 2), 4);
        assert_eq!(default_executing(16, 1), 2);
        assert_eq!(default_executing(16, 0), 2);
        assert_eq!(default_executing(16, 64), 16);
        assert_eq!(default_executing(8, 4), 8);
        assert_eq!(default_executing(0, 4), 1);
    }

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let limit = RateLimit {
            subject: RateSubject::Others,
            per_second: 2.0,
            burst: 3.0,
        };
        let start = Utc.timestamp_opt(1_000_000, 0).single().unwrap_or_default();
        let mut bucket = Bucket::full(&limit, start);
        let remaining: Vec<_> = (0..3)
            .map(|_| take(&mut bucket, &limit, start))
            .map(|v| (v.allowed, v.remaining))
            .collect();
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0)]);
        let refused = take(&mut bucket, &limit, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 1);
        assert_eq!((refused.quota, refused.window, refused.reset), (3, 2, 2));
        // Half a second later one token has come back, and only one.
        let later = start + Duration::milliseconds(500);
        assert!(take(&mut bucket, &limit, later).allowed);
        assert!(!take(&mut bucket, &limit, later).allowed);
        // Long after, the bucket is full, not fuller.
        let much_later = later + Duration::seconds(3600);
        let verdict = take(&mut bucket, &limit, much_later);
        assert_eq!((verdict.allowed, verdict.remaining), (true, 2));
    }
}
