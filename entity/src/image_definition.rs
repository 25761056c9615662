//! `image_definition`: the recipe of an image (SPEC §1.1).

use sea_orm::entity::prelude::*;

use crate::enums::{BuilderType, OsFamily, ProvisionerRecipe};

/// An image definition row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "image_definition")]
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
    /// Free text, at most 64 KiB.
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// A disabled definition cannot be built.
    pub enabled: bool,
    /// Clone or ISO.
    pub builder_type: BuilderType,
    /// Where builds run.
    pub proxmox_endpoint_id: i32,
    /// The cluster that receives the resulting template.
    pub target_cluster_id: Option<i32>,
    /// Proxmox node where the build runs.
    pub target_node: String,
    /// VMID of the template to clone.
    pub source_template_vmid: Option<i32>,
    /// ISO to install from.
    pub iso_url: Option<String>,
    /// `sha256:<64 hex>` or empty.
    pub iso_checksum: String,
    /// `<storage>:iso/<file>` or empty.
    pub iso_storage: String,
    /// Storage for the output disk.
    pub default_storage: String,
    /// Network bridge.
    pub default_bridge: String,
    /// Operating system family.
    pub os_family: OsFamily,
    /// Operating system release, e.g. `24.04`.
    pub os_release: String,
    /// Default cloud-init user.
    pub default_ciuser: String,
    /// Provisioning recipe.
    pub provisioner_recipe: ProvisionerRecipe,
    /// Default Packer variables (SPEC §1.6).
    pub default_variables: Json,
    /// Set on insert.
    pub created: DateTimeUtc,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
