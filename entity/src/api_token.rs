//! `api_token`: a credential. The secret itself is never stored, only its SHA-256.

use sea_orm::entity::prelude::*;

/// An API token row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The owner.
    pub user_id: i32,
    /// SHA-256 of the secret, hex; unique.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The first characters of the secret, to recognise it in lists.
    pub key_prefix: String,
    /// Free text.
    pub description: String,
    /// A token without it may only read.
    pub write_enabled: bool,
    /// After this instant the token is refused.
    pub expires: Option<DateTimeUtc>,
    /// A disabled token is refused.
    pub enabled: bool,
    /// Last authentication, at most a minute stale.
    pub last_used: Option<DateTimeUtc>,
    /// Set on insert.
    pub created: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
