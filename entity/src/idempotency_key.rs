//! `idempotency_key`: the first result of a keyed `queueImageBuild` (SPEC §3.2).

use sea_orm::entity::prelude::*;

/// An idempotency key row; unique on (`user_id`, `key`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The principal that used the key.
    pub user_id: i32,
    /// The client's key.
    pub key: String,
    /// SHA-256 of the canonical request input, hex.
    pub request_hash: String,
    /// The build the first request created.
    pub build_id: i32,
    /// Set on insert.
    pub created: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
