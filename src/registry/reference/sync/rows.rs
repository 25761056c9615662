//! The rows of a sync: each type's NetBox objects as the HTTP side hands them, references as
//! NetBox ids; plain data, never read from or written to a table here.

use chrono::{DateTime, Utc};
use entity::enums::{CatalogOsFamily, EndpointMode, Role};

use super::Kind;

/// A NetBox tenant.
#[derive(Clone, Debug)]
pub struct TenantRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Description.
    pub description: String,
}

/// A NetBox cluster type.
#[derive(Clone, Debug)]
pub struct ClusterTypeRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name (a cluster's `cluster_type`).
    pub name: String,
}

/// A NetBox cluster.
#[derive(Clone, Debug)]
pub struct ClusterRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// NetBox id of its type.
    pub type_id: Option<i32>,
    /// Its type's name.
    pub cluster_type: String,
    /// NetBox id of its tenant.
    pub tenant: Option<i32>,
    /// Description.
    pub description: String,
}

/// A netbox-proxbox Proxmox endpoint; `None` where the plugin's version lacks the field (the
/// local value stays).
#[derive(Clone, Debug)]
pub struct EndpointRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// DNS name.
    pub domain: Option<String>,
    /// Address without its prefix length.
    pub ip_address: Option<String>,
    /// API port.
    pub port: Option<i32>,
    /// Deployment mode.
    pub mode: Option<EndpointMode>,
    /// TLS verification.
    pub verify_ssl: Option<bool>,
    /// Whether builds may write to it.
    pub allow_writes: Option<bool>,
    /// Whether it is in use.
    pub enabled: Option<bool>,
    /// NetBox id of its tenant.
    pub tenant: Option<i32>,
}

/// A NetBox user.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// Login name.
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Whether it may authenticate.
    pub is_active: bool,
    /// Its role here (from `--netbox-role-map`, VIEWER otherwise).
    pub role: Role,
}

/// A netbox-proxbox cloud image template.
#[derive(Clone, Debug)]
pub struct TemplateRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Description.
    pub description: String,
    /// NetBox id of its cluster.
    pub cluster: i32,
    /// VMID of the template.
    pub source_vmid: i32,
    /// Family.
    pub os_family: CatalogOsFamily,
    /// Release.
    pub os_release: String,
    /// Cloud-init user.
    pub default_ciuser: String,
    /// Whether it is offered.
    pub is_active: bool,
    /// NetBox ids of the tenants it is restricted to.
    pub allowed_tenants: Vec<i32>,
}

/// One type's objects as NetBox gave them.
#[derive(Clone, Debug)]
pub enum Rows {
    /// Tenants.
    Tenants(Vec<TenantRow>),
    /// Cluster types.
    ClusterTypes(Vec<ClusterTypeRow>),
    /// Clusters.
    Clusters(Vec<ClusterRow>),
    /// Endpoints.
    Endpoints(Vec<EndpointRow>),
    /// Users (all of them).
    Users(Vec<UserRow>),
    /// Catalog entries.
    Templates(Vec<TemplateRow>),
}

impl Rows {
    /// The type of these rows.
    pub fn kind(&self) -> Kind {
        match self {
            Rows::Tenants(_) => Kind::Tenants,
            Rows::ClusterTypes(_) => Kind::ClusterTypes,
            Rows::Clusters(_) => Kind::Clusters,
            Rows::Endpoints(_) => Kind::Endpoints,
            Rows::Users(_) => Kind::Users,
            Rows::Templates(_) => Kind::Templates,
        }
    }
}
