//! The core: every rule and use-case of packer-gateway.
//!
//! This module knows sea-orm and the core [`Error`](crate::error::Error); it never imports
//! `async_graphql`, `axum` or the event hub (`crate::events`, which depends on it). Adapters call
//! one function here per operation. Every read takes the caller's
//! [`Scope`](crate::auth::Scope) and applies it ([`read`]); every status change goes through
//! [`lifecycle`]; every transaction that writes build events keeps the contract of [`events`].

pub mod builds;
pub mod catalog;
pub mod definitions;
pub mod demo;
pub mod events;
pub mod filter;
pub mod id;
pub mod lifecycle;
pub mod logs;
pub mod page;
pub mod read;
pub mod reference;
pub mod relations;
pub mod rows;
pub mod rules;
pub mod settings;
pub mod template;
pub mod tx;
pub mod users;
pub mod visibility;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{Authenticator, Principal},
    clock::Clock,
};
use events::Wake;

/// What every write needs: where, who, when, and whom to tell.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The database.
    pub db: &'a DatabaseConnection,
    /// The event wake-up, told after each commit that wrote events (the hub implements it).
    pub events: &'a dyn Wake,
    /// The clock every timestamp of the write is read from.
    pub clock: &'a Clock,
    /// This instance's memory of tokens, refreshed after each commit that can change what a
    /// token authenticates as (users, tokens, tenants), before the write returns.
    pub auth: &'a Authenticator,
    /// Who acts.
    pub principal: &'a Principal,
}
