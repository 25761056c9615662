//! Documents already parsed and found within the limits, by their text (issue 9).
//!
//! A client sends the same few documents again and again, with different variables. Parsing one
//! (async-graphql's pest parser) and checking it against the limits was about 8% of the CPU of a
//! request for one build by id; a document found here is cloned instead. The cache is bounded:
//! at most [`ENTRIES`] documents of at most [`MAX_BYTES`] bytes each, the least recently used
//! dropped first. Only documents that passed every check of [`super::parse`] are kept, apart for
//! principals that may introspect and those that may not (the checks differ), so a document
//! served from here is one [`super::parse`] would have accepted.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
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
    kept: [Mutex<LruCache<String, Arc<ExecutableDocument>>>; 2],
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
    ) -> Result<ExecutableDocument, Refusal> {
        let kept = &self.kept[usize::from(!introspection)];
        let cacheable = query.len() <= MAX_BYTES;
        if cacheable && let Some(document) = lock(kept).get(query).cloned() {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = super::parse(query, limits, introspection)?;
        if cacheable {
            lock(kept).put(query.to_owned(), Arc::new(document.clone()));
        }
        Ok(document)
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
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        assert_eq!(documents.counts(), [1, 0]);
        // Apart for principals that may not introspect: their checks differ.
        documents.parse(query, &limits, false).expect("parses");
        assert_eq!(documents.counts(), [1, 1]);
    }

    #[test]
    fn refused_and_large_documents_are_not_kept_and_the_cache_is_bounded() {
        let documents = Documents::default();
        let limits = test_limits();
        let refused = documents.parse("{ imageBuild(", &limits, true);
        assert_eq!(refused.expect_err("refused").code, codes::PARSE_FAILED);
        // Still refused the second time: nothing was kept.
        assert!(documents.parse("{ imageBuild(", &limits, true).is_err());
        let large = format!("{{ __typename {} }}", "__typename ".repeat(MAX_BYTES / 10));
        documents.parse(&large, &limits, true).expect("parses");
        assert_eq!(documents.counts(), [0, 0]);
        for i in 0..ENTRIES + 10 {
            let query = format!("{{ a{i}: __typename }}");
            documents.parse(&query, &limits, true).expect("parses");
        }
        assert_eq!(documents.counts(), [ENTRIES, 0]);
    }
}
