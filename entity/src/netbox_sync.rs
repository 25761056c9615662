//! `netbox_sync`: per synced NetBox type, the cursor of the incremental pass and the outcome of
//! the last one (SPEC §10).

use sea_orm::entity::prelude::*;

/// The state of one synced type.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "netbox_sync")]
pub struct Model {
    /// The type: `tenants`, `cluster_types`, `clusters`, `endpoints`, `users`, `templates`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The newest NetBox `last_updated` seen (the next pass asks for `last_updated__gte` it).
    pub cursor: Option<DateTimeUtc>,
    /// When the last pass ended.
    pub last_pass: Option<DateTimeUtc>,
    /// When the last successful pass ended.
    pub last_success: Option<DateTimeUtc>,
    /// `ok` or `failed`.
    pub outcome: String,
    /// Why the last pass failed (empty after a success).
    #[sea_orm(column_type = "Text")]
    pub error: String,
    /// Rows created by the last successful pass.
    pub created: i32,
    /// Rows updated by it.
    pub updated: i32,
    /// Rows deleted by it.
    pub deleted: i32,
    /// Rows deleted in NetBox but kept here because something references them.
    pub kept: i32,
    /// NetBox objects not applied because a local row holds their name.
    pub conflicts: i32,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
