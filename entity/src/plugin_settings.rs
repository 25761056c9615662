//! `plugin_settings`: the singleton row of SPEC §1.3 (its id is always 1).

use sea_orm::entity::prelude::*;

/// The settings row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plugin_settings")]
pub struct Model {
    /// Always 1 (a CHECK constraint keeps it single).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Master switch: no build is queued while false.
    pub image_factory_enabled: bool,
    /// At most this many builds run at once.
    pub image_factory_max_concurrent_builds: i32,
    /// Seconds before a running build times out.
    pub image_factory_default_job_timeout: i32,
    /// Whether `proxmox-iso` builds may be queued.
    pub image_factory_allow_iso_builds: bool,
    /// Whether per-build variables are accepted.
    pub image_factory_allow_custom_variables: bool,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
