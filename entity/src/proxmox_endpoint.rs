//! `proxmox_endpoint`: where builds run. No credential is ever stored here.

use sea_orm::entity::prelude::*;

use crate::enums::EndpointMode;

/// A Proxmox endpoint row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proxmox_endpoint")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique name.
    #[sea_orm(unique)]
    pub name: String,
    /// DNS name, if any.
    pub domain: Option<String>,
    /// IP address, if any.
    pub ip_address: Option<String>,
    /// API port, 1..=65535.
    pub port: i32,
    /// Deployment mode.
    pub mode: EndpointMode,
    /// Whether TLS certificates are verified.
    pub verify_ssl: bool,
    /// Whether builds may write to it.
    pub allow_writes: bool,
    /// Whether it is in use.
    pub enabled: bool,
    /// Owning tenant, if any.
    pub tenant_id: Option<i32>,
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
