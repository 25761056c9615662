//! The core: every rule and use-case of packer-gateway.
//!
//! This module knows sea-orm and the core [`Error`](crate::error::Error); it never imports
//! `async_graphql` or `axum`. Adapters call one function here per operation.

pub mod builds;
pub mod definitions;
pub mod demo;
pub mod events;
pub mod filter;
pub mod page;
pub mod read;
pub mod reference;
pub mod relations;
pub mod settings;
pub mod users;
pub mod visibility;

use chrono::{DateTime, SubsecRound, Utc};

/// The current instant, truncated to microseconds so that SQLite and PostgreSQL store, compare
/// and return exactly the same value.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
