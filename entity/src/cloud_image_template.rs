//! `cloud_image_template`: the catalog of templates that completed builds publish.

use sea_orm::entity::prelude::*;

use crate::enums::CatalogOsFamily;

/// A catalog entry row; unique on (`cluster_id`, `source_vmid`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_image_template")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Display name.
    pub name: String,
    /// Unique URL-friendly name.
    #[sea_orm(unique)]
    pub slug: String,
    /// Free text.
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// The cluster that holds the template.
    pub cluster_id: i32,
    /// VMID of the template on that cluster.
    pub source_vmid: i32,
    /// Operating system family.
    pub os_family: CatalogOsFamily,
    /// Operating system release, e.g. `24.04`.
    pub os_release: String,
    /// Default cloud-init user.
    pub default_ciuser: String,
    /// Whether it is offered.
    pub is_active: bool,
    /// The NetBox id of a row NetBox owns (SPEC §10); `None` for a row created here.
    pub netbox_id: Option<i32>,
    /// The `last_updated` of this row when it was last pushed to NetBox (`--netbox-push-catalog`).
    pub netbox_pushed: Option<DateTimeUtc>,
    /// Set on insert.
    pub created: DateTimeUtc,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
