//! `tenant`: an organisation that owns clusters and endpoints and restricts definitions.

use sea_orm::entity::prelude::*;

/// A tenant row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique display name.
    #[sea_orm(unique)]
    pub name: String,
    /// Unique URL-friendly name.
    #[sea_orm(unique)]
    pub slug: String,
    /// Free text.
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// The NetBox id of a row NetBox owns (SPEC §10); `None` for a row created here.
    pub netbox_id: Option<i32>,
    /// Set on insert.
    pub created: DateTimeUtc,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
