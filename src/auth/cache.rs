//! The memory of [`Authenticator`](super::Authenticator): what each token hash authenticates as
//! (known tokens, usable or not), and the hashes no token has (unknown, for a little while). Both
//! are bounded; this module is plain data, no I/O and no clock of its own.
//!
//! An *epoch* orders lookups against changes: a lookup notes the epoch before it reads the
//! database and stores its answer only if no change of credentials was noticed meanwhile (the
//! epoch moves first thing when one is), so an answer read before a change never outlives it.

use std::{
    collections::{HashMap, hash_map::RandomState},
    num::NonZeroUsize,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use lru::LruCache;

use super::Caller;

/// A `last_used` never recorded.
const NEVER: i64 = i64::MIN;

/// What a known token authenticates as.
#[derive(Debug)]
pub(super) struct Entry {
    /// The stored hash of the token (the key it is cached under).
    pub(super) hash: String,
    /// The user and token, as a request's principal carries them.
    pub(super) caller: Caller,
    /// The token is enabled and its user active (expiry is checked on every use).
    pub(super) enabled: bool,
    /// The last use recorded, in microseconds since the epoch ([`NEVER`]).
    last_used: AtomicI64,
}

impl Entry {
    /// An entry for `caller`'s token, last used at `last_used`.
    pub(super) fn new(
        hash: String,
        caller: Caller,
        enabled: bool,
        last_used: Option<DateTime<Utc>>,
    ) -> Entry {
        Entry {
            hash,
            caller,
            enabled,
            last_used: AtomicI64::new(last_used.map_or(NEVER, |t| t.timestamp_micros())),
        }
    }

    /// Whether the token authenticates at `now`.
    pub(super) fn usable(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.caller.expires.is_none_or(|expires| expires > now)
    }

    /// Records a use at `now`; true when it is the first for `precision` (then the caller writes
    /// it to the database — exactly one of the requests racing here gets true).
    pub(super) fn touch(&self, now: DateTime<Utc>, precision: Duration) -> bool {
        let now = now.timestamp_micros();
        let last = self.last_used.load(Ordering::SeqCst);
        let precision = i64::try_from(precision.as_micros()).unwrap_or(i64::MAX);
        if last != NEVER && now.saturating_sub(last) < precision {
            return false;
        }
        self.last_used
            .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Keeps the later of the two recorded uses (a reloaded row may be older than this memory).
    fn keep_last_use_of(&self, older: &Entry) {
        self.last_used
            .fetch_max(older.last_used.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// What the cache knows of a hash.
pub(super) enum Cached {
    /// A token: usable or not, [`Entry::usable`] says.
    Known(Arc<Entry>),
    /// No token has this hash (recently looked up).
    Unknown,
    /// Not in memory: look it up.
    Miss,
}

/// How many entries the cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSize {
    /// Known tokens.
    pub known: usize,
    /// Hashes no token has.
    pub unknown: usize,
}

/// Known tokens and unknown hashes, each at most `capacity`.
pub(super) struct Cache {
    known: Bounded<Arc<Entry>>,
    unknown: Bounded<Instant>,
    unknown_for: Duration,
    epoch: u64,
}

impl Cache {
    /// An empty cache of at most `capacity` known tokens and as many unknown hashes, which are
    /// forgotten after `unknown_for`.
    pub(super) fn new(capacity: usize, unknown_for: Duration) -> Cache {
        Cache {
            known: Bounded::new(capacity),
            unknown: Bounded::new(capacity),
            unknown_for,
            epoch: 0,
        }
    }

    /// What is known of `hash` at `now`.
    pub(super) fn get(&mut self, hash: &str, now: Instant) -> Cached {
        if let Some(entry) = self.known.get(hash) {
            return Cached::Known(entry);
        }
        match self.unknown.get(hash) {
            Some(until) if until > now => Cached::Unknown,
            Some(_) => {
                self.unknown.remove(hash);
                Cached::Miss
            }
            None => Cached::Miss,
        }
    }

    /// The epoch to pass to [`Cache::store`] with the answer of a lookup starting now.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Stores the answer of a lookup of `hash` that began at `epoch` (`None`: no such token);
    /// drops it when a change of credentials was noticed since (it may predate the change).
    pub(super) fn store(
        &mut self,
        epoch: u64,
        hash: String,
        found: Option<Arc<Entry>>,
        now: Instant,
    ) {
        if epoch != self.epoch {
            return;
        }
        match found {
            Some(entry) => self.known.insert(hash, entry),
            None => self.unknown.insert(hash, now + self.unknown_for),
        }
    }

    /// A change of credentials was noticed: no lookup begun before it may store its answer, the
    /// unknown hashes are forgotten, and the known ones are returned, to be read again.
    pub(super) fn invalidate(&mut self) -> Vec<String> {
        self.epoch += 1;
        self.unknown.clear();
        self.known.keys()
    }

    /// The known tokens of `hashes`, read again after a change: each is replaced by what was
    /// read (`fresh`), or forgotten when nothing was (the token or its user is gone). A hash
    /// evicted meanwhile stays out.
    pub(super) fn reloaded(&mut self, hashes: &[String], mut fresh: HashMap<String, Entry>) {
        for hash in hashes {
            match fresh.remove(hash) {
                Some(entry) => {
                    let entry = Arc::new(entry);
                    if let Some(previous) = self.known.replace(hash, entry.clone()) {
                        entry.keep_last_use_of(&previous);
                    }
                }
                None => {
                    self.known.remove(hash);
                }
            }
        }
    }

    /// Forgets every known token (when they could not be read again after a change).
    pub(super) fn forget(&mut self) {
        self.epoch += 1;
        self.known.clear();
        self.unknown.clear();
    }

    /// How many entries are held.
    pub(super) fn size(&self) -> CacheSize {
        CacheSize {
            known: self.known.len(),
            unknown: self.unknown.len(),
        }
    }
}

/// A map of at most `capacity` entries that forgets the least recently used one first (`lru`,
/// already in the tree through async-graphql), hashed with the standard library's SipHash: the
/// keys come from clients.
struct Bounded<V> {
    map: LruCache<String, V, RandomState>,
}

impl<V: Clone> Bounded<V> {
    fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Bounded {
            map: LruCache::with_hasher(capacity, RandomState::new()),
        }
    }

    fn get(&mut self, key: &str) -> Option<V> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: String, value: V) {
        self.map.put(key, value);
    }

    /// Replaces the value of `key`, without counting it as a use; returns the old one (nothing
    /// when absent).
    fn replace(&mut self, key: &str, value: V) -> Option<V> {
        let slot = self.map.peek_mut(key)?;
        Some(std::mem::replace(slot, value))
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        self.map.pop(key)
    }

    fn keys(&self) -> Vec<String> {
        self.map.iter().map(|(key, _)| key.clone()).collect()
    }

    fn clear(&mut self) {
        self.map.clear();
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::Arc,
        time::{Duration, Instant},
    };

    use chrono::{TimeZone, Utc};
    use entity::enums::Role;

    use super::{Bounded, Cache, Cached, Entry};
    use crate::auth::Caller;

    fn entry(hash: &str, user_id: i32) -> Entry {
        Entry::new(
            hash.to_owned(),
            Caller {
                user_id,
                username: format!("user{user_id}"),
                role: Role::Viewer,
                tenants: vec![],
                token_id: user_id,
                write_enabled: true,
                expires: None,
            },
            true,
            None,
        )
    }

    #[test]
    fn a_bounded_map_never_holds_more_than_its_capacity_and_keeps_what_is_used() {
        let mut map = Bounded::new(10);
        map.insert("kept".to_owned(), 0);
        for i in 0..1000 {
            map.insert(format!("k{i}"), i);
            assert!(map.len() <= 10, "{} entries", map.len());
            // Read on every round: a used entry is never the one dropped.
            assert_eq!(map.get("kept"), Some(0));
        }
        assert_eq!(map.get("k0"), None, "old unused entries are dropped");
        assert_eq!(map.get("k999"), Some(999));
        assert_eq!(map.replace("kept", 7), Some(0));
        assert_eq!(map.replace("absent", 7), None);
        assert_eq!(map.get("absent"), None);
        // As many entries as the capacity, used in turn, all stay.
        for round in 0..3 {
            for i in 0..10 {
                map.insert(format!("r{i}"), round);
            }
        }
        assert!((0..10).all(|i| map.get(&format!("r{i}")) == Some(2)));
    }

    #[test]
    fn unknown_hashes_are_remembered_briefly() {
        let mut cache = Cache::new(100, Duration::from_secs(10));
        let now = Instant::now();
        cache.store(cache.epoch(), "nope".to_owned(), None, now);
        assert!(matches!(cache.get("nope", now), Cached::Unknown));
        let later = now + Duration::from_secs(11);
        assert!(matches!(cache.get("nope", later), Cached::Miss));
        assert_eq!(cache.size().unknown, 0);
    }

    #[test]
    fn a_lookup_that_began_before_a_change_is_not_stored() {
        let mut cache = Cache::new(100, Duration::from_secs(10));
        let now = Instant::now();
        let epoch = cache.epoch();
        assert!(cache.invalidate().is_empty());
        cache.store(epoch, "h".to_owned(), Some(Arc::new(entry("h", 1))), now);
        assert!(matches!(cache.get("h", now), Cached::Miss));
        cache.store(
            cache.epoch(),
            "h".to_owned(),
            Some(Arc::new(entry("h", 1))),
            now,
        );
        assert!(matches!(cache.get("h", now), Cached::Known(_)));
    }

    #[test]
    fn a_reload_replaces_what_was_read_and_forgets_what_is_gone() {
        let mut cache = Cache::new(100, Duration::from_secs(10));
        let now = Instant::now();
        for (hash, user) in [("a", 1), ("b", 2)] {
            let epoch = cache.epoch();
            cache.store(
                epoch,
                hash.to_owned(),
                Some(Arc::new(entry(hash, user))),
                now,
            );
        }
        let hashes = cache.invalidate();
        assert_eq!(hashes.len(), 2);
        let mut changed = entry("a", 1);
        changed.caller.role = Role::Operator;
        cache.reloaded(&hashes, HashMap::from([("a".to_owned(), changed)]));
        match cache.get("a", now) {
            Cached::Known(entry) => assert_eq!(entry.caller.role, Role::Operator),
            _ => panic!("a is known"),
        }
        assert!(matches!(cache.get("b", now), Cached::Miss));
    }

    #[test]
    fn expiry_and_last_use_are_checked_against_the_given_instant() {
        let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
        let mut token = entry("h", 1);
        token.caller.expires = Some(at(100));
        assert!(token.usable(at(99)));
        assert!(!token.usable(at(100)));
        let minute = Duration::from_secs(60);
        assert!(token.touch(at(0), minute), "the first use is recorded");
        assert!(!token.touch(at(59), minute));
        assert!(token.touch(at(60), minute));
    }
}
