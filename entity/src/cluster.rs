//! `cluster`: a NetBox cluster that receives templates.

use sea_orm::entity::prelude::*;

/// A cluster row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cluster")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique name.
    #[sea_orm(unique)]
    pub name: String,
    /// Free-form cluster type, e.g. `proxmox`.
    pub cluster_type: String,
    /// Owning tenant, if any.
    pub tenant_id: Option<i32>,
    /// Free text.
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// The NetBox id of a row NetBox owns (SPEC §10); `None` for a row created here.
    pub netbox_id: Option<i32>,
    /// The NetBox id of its cluster type (a rename of the type renames `cluster_type`).
    pub netbox_type_id: Option<i32>,
    /// Set on insert.
    pub created: DateTimeUtc,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
