//! Automatic persisted queries, Apollo's protocol.
//!
//! async-graphql 7.0.19's `ApolloPersistedQueries` extension is not used (no upstream issue found;
//! the test below pins it): it answers a miss with `PersistedQueryNotFound` but no
//! `extensions.code`; it runs inside `Schema::execute`, so a hit hands the executor a parsed
//! document with an empty `query` — past our limits, which read the text before execution
//! ([`super::limits`]), and past our parameter parsing, which refuses a request without
//! `query`; it keeps any document that parses, before validation; and its LRU is bounded by count
//! only.
//!
//! A client sends `extensions: {persistedQuery: {version: 1, sha256Hash: "<hex>"}}` instead of
//! the document, over GET (the extension as JSON in the query string) or POST:
//! - a hash the service does not know: a request error with the code
//!   `PERSISTED_QUERY_NOT_FOUND` and the message `PersistedQueryNotFound` — what Apollo Client's
//!   persisted-query link (either one) and urql's persisted exchange (the message) look for
//!   before sending the document again — answered with HTTP 200 (see the handler);
//! - the document with its hash: the hash is checked (SHA-256 of the document's UTF-8 text, in
//!   hexadecimal) — a mismatch is 400 `BAD_REQUEST` — and the document is kept once it passed
//!   the limits, then runs;
//! - a hash the service knows: its document runs, as if it had been sent.
//!
//! A document found by its hash goes through every check a sent one does (`prepare`): the limits
//! depend on the principal, so they are never skipped. The cache is one per process and bounded
//! by count and by bytes (`--apq-max-entries`, `--apq-max-bytes`), the least recently used
//! dropped first; several instances each keep their own (a miss costs one round trip). With
//! `--apq-max-entries 0` persisted queries are off: a hash-only request gets
//! `PERSISTED_QUERY_NOT_SUPPORTED` (`PersistedQueryNotSupported`), after which clients stop
//! sending hashes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::limits::Refusal;
use crate::http::codes as edge_codes;

/// The codes and messages of the protocol (Apollo's).
pub mod codes {
    /// The hash is not known: send the document with it.
    pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// The message clients match for [`NOT_FOUND`].
    pub const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";
    /// Persisted queries are off: stop sending hashes.
    pub const NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    /// The message clients match for [`NOT_SUPPORTED`].
    pub const NOT_SUPPORTED_MESSAGE: &str = "PersistedQueryNotSupported";
}

/// A request's `extensions.persistedQuery`: the SHA-256 of its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persisted {
    /// 64 lowercase hexadecimal digits.
    pub hash: String,
}

impl Persisted {
    /// Reads the `persistedQuery` extension; the error is a message for the client (400).
    pub fn from_json(value: &Json) -> Result<Persisted, String> {
        let Json::Object(map) = value else {
            return Err("`extensions.persistedQuery` must be an object".to_owned());
        };
        if map.get("version").and_then(Json::as_i64) != Some(1) {
            return Err("unsupported persisted query version: only version 1 is".to_owned());
        }
        let hash = map
            .get("sha256Hash")
            .and_then(Json::as_str)
            .filter(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                "`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits".to_owned()
            })?;
        Ok(Persisted {
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// The document a request runs, and the hash to keep it under once it passed the limits.
#[derive(Debug, PartialEq, Eq)]
pub struct Document {
    /// The document.
    pub query: String,
    /// Set when the request sent the document with its hash.
    pub store: Option<String>,
}

/// The bounded cache of persisted documents, by hash.
pub struct PersistedQueries {
    max_entries: usize,
    max_bytes: usize,
    cache: Mutex<Lru>,
}

impl PersistedQueries {
    /// A cache of at most `max_entries` documents and `max_bytes` bytes (0 entries: off).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        PersistedQueries {
            max_entries,
            max_bytes,
            cache: Mutex::new(Lru::default()),
        }
    }

    /// The document of a request that sent `query`, `persisted`, or both (see the module docs).
    /// A request with neither never gets here (`params` refuses it).
    pub fn document(
        &self,
        query: Option<String>,
        persisted: Option<&Persisted>,
    ) -> Result<Document, Refusal> {
        let Some(persisted) = persisted else {
            return Ok(Document {
                query: query.unwrap_or_default(),
                store: None,
            });
        };
        match query {
            Some(query) => {
                let hash = hex::encode(Sha256::digest(query.as_bytes()));
                if hash != persisted.hash {
                    return Err(Refusal::new(
                        edge_codes::BAD_REQUEST,
                        "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query",
                    ));
                }
                let store = (self.max_entries > 0).then_some(hash);
                Ok(Document { query, store })
            }
            None if self.max_entries == 0 => Err(Refusal::new(
                codes::NOT_SUPPORTED,
                codes::NOT_SUPPORTED_MESSAGE,
            )),
            None => match self.lock().get(&persisted.hash) {
                Some(query) => Ok(Document {
                    query: query.to_string(),
                    store: None,
                }),
                None => Err(Refusal::new(codes::NOT_FOUND, codes::NOT_FOUND_MESSAGE)),
            },
        }
    }

    /// Keeps `query` under `hash` (a document that passed the limits), dropping the least
    /// recently used beyond the bounds; a document larger than the whole cache is not kept.
    pub fn store(&self, hash: String, query: &str) {
        let size = entry_size(&hash, query);
        if self.max_entries == 0 || size > self.max_bytes {
            return;
        }
        let mut cache = self.lock();
        cache.insert(hash, Arc::from(query), size);
        while cache.entries.len() > self.max_entries || cache.bytes > self.max_bytes {
            cache.evict_oldest();
        }
    }

    /// How many documents are kept, and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        let cache = self.lock();
        (cache.entries.len(), cache.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves a consistent cache (every step completes or
        // does nothing), so a poisoned lock is taken as it is.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The bytes an entry counts for: its document and its key.
fn entry_size(hash: &str, query: &str) -> usize {
    hash.len() + query.len()
}

/// Documents by hash, with their last use; `order` holds every entry by last use.
#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    order: BTreeMap<u64, String>,
    clock: u64,
    bytes: usize,
}

struct Entry {
    query: Arc<str>,
    used: u64,
    size: usize,
}

impl Lru {
    fn get(&mut self, hash: &str) -> Option<Arc<str>> {
        self.clock += 1;
        let now = self.clock;
        let entry = self.entries.get_mut(hash)?;
        self.order.remove(&entry.used);
        entry.used = now;
        self.order.insert(now, hash.to_owned());
        Some(entry.query.clone())
    }

    fn insert(&mut self, hash: String, query: Arc<str>, size: usize) {
        if self.get(&hash).is_some() {
            return;
        }
        self.clock += 1;
        self.order.insert(self.clock, hash.clone());
        self.bytes += size;
        self.entries.insert(
            hash,
            Entry {
                query,
                used: self.clock,
                size,
            },
        );
    }

    fn evict_oldest(&mut self) {
        let Some((_, hash)) = self.order.pop_first() else {
            return;
        };
        if let Some(entry) = self.entries.remove(&hash) {
            self.bytes -= entry.size;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Document, Persisted, PersistedQueries, codes};

    fn hash(query: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(query.as_bytes()))
    }

    fn persisted(query: &str) -> Persisted {
        Persisted { hash: hash(query) }
    }

    #[test]
    fn the_extension_is_version_1_with_a_sha256() {
        let good = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38";
        assert_eq!(
            Persisted::from_json(&json!({"version": 1, "sha256Hash": good.to_uppercase()})),
            Ok(Persisted {
                hash: good.to_owned()
            })
        );
        for bad in [
            json!({"version": 2, "sha256Hash": good}),
            json!({"sha256Hash": good}),
            json!({"version": 1, "sha256Hash": "abc"}),
            json!({"version": 1, "sha256Hash": 1}),
            json!({"version": 1}),
            json!("x"),
        ] {
            assert!(Persisted::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_miss_then_the_document_then_a_hit() {
        let cache = PersistedQueries::new(10, 1 << 20);
        let query = "{ me { id } }";
        let miss = cache.document(None, Some(&persisted(query)));
        assert_eq!(
            miss.map_err(|r| (r.code, r.message)),
            Err((codes::NOT_FOUND, codes::NOT_FOUND_MESSAGE.into()))
        );
        let sent = cache
            .document(Some(query.into()), Some(&persisted(query)))
            .ok();
        assert_eq!(
            sent,
            Some(Document {
                query: query.into(),
                store: Some(hash(query))
            })
        );
        cache.store(hash(query), query);
        let hit = cache.document(None, Some(&persisted(query))).ok();
        assert_eq!(
            hit,
            Some(Document {
                query: query.into(),
                store: None
            })
        );
        let wrong = cache.document(Some("{ x }".into()), Some(&persisted(query)));
        assert!(wrong.is_err());
    }

    #[test]
    fn the_least_recently_used_go_first_by_count_and_by_bytes() {
        let queries: Vec<String> = (0..4).map(|i| format!("{{ q{i} }}")).collect();
        let size = 64 + queries[0].len();
        let cache = PersistedQueries::new(3, 1 << 20);
        for query in &queries[..3] {
            cache.store(hash(query), query);
        }
        // q0 is used, so q1 is the least recently used when q3 comes.
        assert!(cache.document(None, Some(&persisted(&queries[0]))).is_ok());
        cache.store(hash(&queries[3]), &queries[3]);
        let kept = |cache: &PersistedQueries, i: usize| {
            cache.document(None, Some(&persisted(&queries[i]))).is_ok()
        };
        assert_eq!(cache.usage(), (3, 3 * size));
        assert!(kept(&cache, 0) && !kept(&cache, 1) && kept(&cache, 2) && kept(&cache, 3));

        let cache = PersistedQueries::new(100, 2 * size);
        for query in &queries {
            cache.store(hash(query), query);
        }
        assert_eq!(cache.usage(), (2, 2 * size));
        assert!(kept(&cache, 2) && kept(&cache, 3));
        // Larger than the whole cache: not kept, nothing dropped.
        let huge = format!("{{ {} }}", "a".repeat(2 * size));
        cache.store(hash(&huge), &huge);
        assert_eq!(cache.usage(), (2, 2 * size));
        // Storing again does not count twice.
        cache.store(hash(&queries[3]), &queries[3]);
        assert_eq!(cache.usage(), (2, 2 * size));
    }

    /// The insufficiency: async-graphql's extension answers a miss without a code, and a hit
    /// reaches the executor with an empty `query` (checks of the text never see the document).
    #[tokio::test]
    async fn async_graphql_answers_a_miss_without_a_code_and_a_hit_without_the_text() {
        use async_graphql::{
            EmptyMutation, EmptySubscription, Object, Schema,
            extensions::apollo_persisted_queries::{ApolloPersistedQueries, LruCacheStorage},
        };

        struct Query;

        #[Object]
        impl Query {
            async fn a(&self) -> i32 {
                1
            }
        }

        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(ApolloPersistedQueries::new(LruCacheStorage::new(10)))
            .finish();
        let request = |query: Option<&str>| {
            let mut body = json!({
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash("{ a }")}}
            });
            body["query"] = json!(query.unwrap_or_default());
            serde_json::from_value::<async_graphql::Request>(body).expect("a request")
        };
        let miss = schema.execute(request(None)).await;
        assert_eq!(miss.errors[0].message, "PersistedQueryNotFound");
        assert!(
            miss.errors[0].extensions.is_none(),
            "the bug is gone: review persisted.rs"
        );
        assert!(schema.execute(request(Some("{ a }"))).await.is_ok());
        // The hit runs with `query` empty: what our limits would have checked is "".
        let hit = request(None);
        assert_eq!(hit.query, "");
        assert!(schema.execute(hit).await.is_ok());
    }

    #[test]
    fn off_means_not_supported() {
        let cache = PersistedQueries::new(0, 1 << 20);
        let query = "{ me { id } }";
        let refused = cache.document(None, Some(&persisted(query)));
        assert_eq!(refused.map_err(|r| r.code), Err(codes::NOT_SUPPORTED));
        let sent = cache
            .document(Some(query.into()), Some(&persisted(query)))
            .ok();
        assert_eq!(
            sent,
            Some(Document {
                query: query.into(),
                store: None
            })
        );
    }
}
