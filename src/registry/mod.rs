//! The core: every rule and use-case of packer-gateway.
//!
//! This module knows sea-orm and the core [`Error`](crate::error::Error); it never imports
//! `async_graphql` or `axum`. Adapters call one function here per operation.

pub mod builds;
pub mod catalog;
pub mod definitions;
pub mod demo;
pub mod events;
pub mod filter;
pub mod lifecycle;
pub mod page;
pub mod read;
pub mod reference;
pub mod relations;
pub mod rules;
pub mod settings;
pub mod tx;
pub mod users;
pub mod visibility;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;

use crate::{auth::Principal, events::Events};

/// What every write needs: where, who, and whom to tell.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The database.
    pub db: &'a DatabaseConnection,
    /// The event wake-up, told after each commit that wrote events.
    pub events: &'a Events,
    /// Who acts.
    pub principal: &'a Principal,
}

/// The current instant, truncated to microseconds so that SQLite and PostgreSQL store, compare
/// and return exactly the same value.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
