//! `credentials_generation`: one counter the database moves, in the same transaction, whenever
//! what a token authenticates as changes (see the migration that creates its triggers).

use sea_orm::entity::prelude::*;

/// The one row (`id` 1).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials_generation")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Moves on every change of credentials.
    pub generation: i64,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
