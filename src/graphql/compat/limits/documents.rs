//! Documents already parsed and found within the limits, by their text (issue 9).
//!
//! A client sends the same few documents again and again, with different variables. Parsing one
//! (async-graphql's pest parser) and checking it against the limits was about 8% of the CPU of a
//! request for one build by id; a document found here is cloned instead. The cache is bounded:
//! at most [`ENTRIES`] documents of at most [`MAX_BYTES`] bytes each, the least recently used
//! dropped first. Only documents that passed every check of [`super::parse`] are kept, apart for
//! principals that may introspect and those that may not (the checks differ), so a document
//! served from here is one [`super::parse`] would have accepted.
//!
//! An entry also remembers whether async-graphql's full validation has passed it ([`Kept`]): its
//! rules then give the same answer again (they read the document and the schema; the values of
//! variables, which one of them also reads, are checked before execution by
//! `compat::variables`), so the request runs on a schema that only keeps the rules execution
//! depends on (`compat::Schemas::pick`). The full validation was ~16% of the instructions of a
//! request for one build by id.

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

use super::Refusal;
use crate::{config::Limits, graphql::lock};

/// Documents kept, for each kind of principal.
pub const ENTRIES: usize = 128;

/// The largest document kept, in bytes: the documents of applications, not whatever a client
/// sends once (which would make the cache's memory grow with what strangers send).
pub const MAX_BYTES: usize = 4 * 1024;

/// Parsed documents by text (see the module docs).
pub struct Documents {
    /// For principals that may introspect, then for those that may not.
    kept: [Mutex<LruCache<String, Arc<Kept>>>; 2],
}

/// A document kept, and whether the full validation has passed it.
#[derive(Debug)]
pub struct Kept {
    document: ExecutableDocument,
    validated: AtomicBool,
}

impl Kept {
    /// Whether the full validation has passed the document.
    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    /// Records that the full validation passed the document.
    pub fn passed(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }
}

/// A document parsed (or found) and within the limits.
pub struct Parsed {
    /// The document, the request's own copy.
    pub document: ExecutableDocument,
    /// Its entry in the cache (`None`: too large to keep).
    pub kept: Option<Arc<Kept>>,
}

impl Default for Documents {
    fn default() -> Self {
        let entries = NonZeroUsize::new(ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Documents {
            kept: [
                Mutex::new(LruCache::new(entries)),
                Mutex::new(LruCache::new(entries)),
            ],
        }
    }
}

impl Documents {
    /// [`super::parse`], answered from the cache when `query` was parsed before for the same
    /// kind of principal.
    pub fn parse(
        &self,
        query: &str,
        limits: &Limits,
        introspection: bool,
    ) -> Result<Parsed, Refusal> {
        let cache = &self.kept[usize::from(!introspection)];
        let cacheable = query.len() <= MAX_BYTES;
        if cacheable && let Some(kept) = lock(cache).get(query).cloned() {
            return Ok(Parsed {
                document: kept.document.clone(),
                kept: Some(kept),
            });
        }
        let document = super::parse(query, limits, introspection)?;
        let kept = cacheable.then(|| {
            let kept = Arc::new(Kept {
                document: document.clone(),
                validated: AtomicBool::new(false),
            });
            lock(cache).put(query.to_owned(), kept.clone());
            kept
        });
        Ok(Parsed { document, kept })
    }

    /// How many documents are kept, for each kind of principal.
    pub fn counts(&self) -> [usize; 2] {
        [lock(&self.kept[0]).len(), lock(&self.kept[1]).len()]
    }
}

#[cfg(test)]
mod tests {
    use super::{Documents, ENTRIES, MAX_BYTES};
    use crate::graphql::{compat::limits::test_limits, error::codes};

    #[test]
    fn a_document_is_parsed_once_and_answered_the_same_from_the_cache() {
        let documents = Documents::default();
        let limits = test_limits();
        let query = "query($id: ID!) { imageBuild(id: $id) { id status } }";
        let first = documents.parse(query, &limits, true).expect("parses");
        let second = documents.parse(query, &limits, true).expect("parses");
        assert_eq!(
            format!("{:?}", first.document),
            format!("{:?}", second.document)
        );
        assert_eq!(documents.counts(), [1, 0]);
        // One entry, which remembers a passed validation for the next request.
        let (first, second) = (first.kept.expect("kept"), second.kept.expect("kept"));
        assert!(std::sync::Arc::ptr_eq(&first, &second));
        assert!(!second.validated());
        first.passed();
        let third = documents.parse(query, &limits, true).expect("parses");
        assert!(third.kept.expect("kept").validated());
        // Apart for principals that may not introspect: their checks differ.
        documents.parse(query, &limits, false).expect("parses");
        assert_eq!(documents.counts(), [1, 1]);
    }

    #[test]
    fn refused_and_large_documents_are_not_kept_and_the_cache_is_bounded() {
        let documents = Documents::default();
        let limits = test_limits();
        let refused = documents.parse("{ imageBuild(", &limits, true);
        assert_eq!(refused.err().expect("refused").code, codes::PARSE_FAILED);
        // Still refused the second time: nothing was kept.
        assert!(documents.parse("{ imageBuild(", &limits, true).is_err());
        let large = format!("{{ __typename {} }}", "__typename ".repeat(MAX_BYTES / 10));
        let large = documents.parse(&large, &limits, true).expect("parses");
        assert!(large.kept.is_none());
        assert_eq!(documents.counts(), [0, 0]);
        for i in 0..ENTRIES + 10 {
            let query = format!("{{ a{i}: __typename }}");
            documents.parse(&query, &limits, true).expect("parses");
        }
        assert_eq!(documents.counts(), [ENTRIES, 0]);
    }
}
