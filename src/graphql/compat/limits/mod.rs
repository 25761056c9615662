//! Query limits (SPEC §5), checked before async-graphql sees a document.
//!
//! async-graphql parses with a recursive pest grammar and walks fragment spreads without
//! memoization, so a hostile document can overflow the stack while parsing or cost exponential
//! time while validating. Every transport therefore parses through [`parse`], which runs, in this
//! order:
//!
//! 1. a size check against `--max-document-bytes`;
//! 2. [`check_nesting`] on the text: one linear scan that refuses brackets nested deeper than
//!    [`max_nesting`] before the parser recurses into them;
//! 3. the parser;
//! 4. [`check_document`] on the parsed document: one memoized pass (each fragment is summarized
//!    once) that measures what validation and execution would see with fragments expanded, and
//!    refuses fragment cycles, deep nesting, too many directives, aliases or fields, and
//!    introspection for principals that may not introspect.
//!
//! Only then does async-graphql validate the document, with its complexity limit: connection
//! fields cost their page size times their selection (`graphql::limits::connection_cost`).
//!
//! Counting rules (the README documents them for clients):
//! - depth: fields on the longest path, fragments expanded; the subtree of an introspection field
//!   (`__schema`, `__type`) counts as one level, and is bounded instead by the introspection list
//!   rule of graphql-js (`fields`, `inputFields`, `interfaces`, `possibleTypes` nest at most
//!   [`MAX_INTROSPECTION_LISTS`] deep) — the standard introspection query of GraphiQL is 14
//!   fields deep, but harmless;
//! - aliases: every alias where it is written, in every operation of the document; an alias
//!   inside a fragment counts once per spread of that fragment, because each spread can execute
//!   it again under another parent;
//! - directives: per location (field, fragment spread, inline fragment, operation, fragment or
//!   variable definition), as written;
//! - fields: every field of every operation with fragments expanded; since every field costs at
//!   least 1, more fields than the complexity limit is refused as `QUERY_TOO_COMPLEX` here,
//!   before async-graphql's own (non-memoized) complexity pass could take exponential time.
//!
//! What async-graphql 7.0.19 offers instead, and why it is not enough (pinned against
//! async-graphql by the tests in `limits/upstream.rs`; ours by the tests of each module and
//! `tests/it/limits.rs`):
//! - its parser (pest, recursive) has no bound on the nesting of values and checks the nesting
//!   of selection sets (64) only after pest has recursed through all of it: a few thousand
//!   brackets overflow a 2 MiB stack and abort the process. No upstream issue found.
//! - `limit_recursive_depth` (default 32), `limit_directives` and the depth and complexity
//!   visitors follow every fragment spread again, without memoization: a document of 30
//!   fragments each spreading the next twice costs 2^30 visits before any limit answers. No
//!   upstream issue found.
//! - a fragment cycle is therefore followed until the recursion depth gives up, and reported as
//!   a parse-stage "recursion depth" error rather than as the validation error it is.
//! - `limit_depth` counts the fields of introspection like any others, so a depth limit of 10
//!   refuses GraphiQL's own introspection query (upstream issue #1696, open).
//! - `limit_directives` counts directives on fields only, not on fragment spreads, inline
//!   fragments, operations or fragment and variable definitions.
//! - its complexity limit (`limit_complexity`) is used, with `graphql::limits::connection_cost`
//!   as the cost of a connection field.

mod directives;
mod document;
mod documents;
mod nesting;
#[cfg(test)]
mod upstream;

use async_graphql::parser::{parse_query, types::ExecutableDocument};

use crate::{
    config::Limits,
    graphql::error::{codes, parse_message},
};
pub use document::check_document;
pub use documents::{Documents, Kept, Parsed};
pub use nesting::check_nesting;

/// How deep selection sets, fragment spreads and inline fragments may nest together: the
/// recursion limit async-graphql applies before validation (refused there as a parse failure;
/// here, earlier, as `QUERY_TOO_DEEP`).
pub const MAX_RECURSION: u64 = 32;

/// How deep the introspection lists `fields`, `inputFields`, `interfaces` and `possibleTypes` may
/// nest, as graphql-js's `MaxIntrospectionDepthRule` allows.
pub const MAX_INTROSPECTION_LISTS: u64 = 2;

/// A document refused by a limit: the code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `extensions.code`.
    pub code: &'static str,
    /// What was exceeded, and the limit.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// How deep brackets (`{`, `[`, `(` together) may nest in a document: room for `max_depth`
/// selection levels plus generous nesting of argument values (filters nest `and`/`or`/`not`).
pub fn max_nesting(limits: &Limits) -> usize {
    limits.max_depth.saturating_add(64)
}

/// Parses `query` under `limits`, for every transport: its size (`QUERY_TOO_LARGE`), its bracket
/// nesting before the parser recurses into it, the parse itself (`GRAPHQL_PARSE_FAILED`), then
/// [`check_document`]. `introspection` says whether the principal may introspect.
pub fn parse(
    query: &str,
    limits: &Limits,
    introspection: bool,
) -> Result<ExecutableDocument, Refusal> {
    if query.len() > limits.max_document_bytes {
        return Err(Refusal::new(
            codes::QUERY_TOO_LARGE,
            format!(
                "the GraphQL document exceeds {} bytes",
                limits.max_document_bytes
            ),
        ));
    }
    check_nesting(query, max_nesting(limits))?;
    let document = match parse_query(query) {
        Ok(document) => document,
        Err(async_graphql::parser::Error::RecursionLimitExceeded) => {
            return Err(Refusal::new(
                codes::QUERY_TOO_DEEP,
                "selections nest too deeply",
            ));
        }
        Err(err) => return Err(Refusal::new(codes::PARSE_FAILED, parse_message(&err))),
    };
    check_document(&document, limits, introspection)?;
    Ok(document)
}

/// The default limits, as the command line gives them.
#[cfg(test)]
fn test_limits() -> Limits {
    Limits {
        body_limit: 256 * 1024,
        max_document_bytes: 128 * 1024,
        max_depth: 10,
        max_complexity: 2000,
        max_aliases: 30,
        max_directives: 5,
        request_timeout: 15,
        max_subscriptions: 50,
    }
}
