//! Choice columns, stored as the strings of SPEC §1 (`proxmox-clone`, `running`, …).

use sea_orm::entity::prelude::*;

/// How Packer creates the VM: by cloning a template or by installing from an ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum BuilderType {
    /// Clone an existing Proxmox template (`proxmox-clone`).
    #[sea_orm(string_value = "proxmox-clone")]
    ProxmoxClone,
    /// Install from an ISO (`proxmox-iso`).
    #[sea_orm(string_value = "proxmox-iso")]
    ProxmoxIso,
}

/// The lifecycle state of a build (SPEC §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum BuildStatus {
    /// Queued, not started.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Started by the backend.
    #[sea_orm(string_value = "running")]
    Running,
    /// Ended in error (or timed out).
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Ended successfully.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Cancelled before it ended.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// Operating system family of a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum OsFamily {
    /// Ubuntu.
    #[sea_orm(string_value = "ubuntu")]
    Ubuntu,
    /// Debian.
    #[sea_orm(string_value = "debian")]
    Debian,
    /// Rocky Linux.
    #[sea_orm(string_value = "rocky")]
    Rocky,
    /// AlmaLinux.
    #[sea_orm(string_value = "almalinux")]
    Almalinux,
    /// FreeBSD.
    #[sea_orm(string_value = "freebsd")]
    Freebsd,
}

/// Operating system family of a catalog entry (the catalog knows fewer families).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum CatalogOsFamily {
    /// Ubuntu.
    #[sea_orm(string_value = "ubuntu")]
    Ubuntu,
    /// Debian.
    #[sea_orm(string_value = "debian")]
    Debian,
    /// Rocky Linux.
    #[sea_orm(string_value = "rocky")]
    Rocky,
    /// Alpine Linux.
    #[sea_orm(string_value = "alpine")]
    Alpine,
    /// Anything the catalog has no family for.
    #[sea_orm(string_value = "generic")]
    Generic,
}

/// The provisioning recipe Packer runs inside the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum ProvisionerRecipe {
    /// Base Ubuntu image.
    #[sea_orm(string_value = "ubuntu-base")]
    UbuntuBase,
    /// Base Debian image.
    #[sea_orm(string_value = "debian-base")]
    DebianBase,
    /// A Docker host.
    #[sea_orm(string_value = "docker-host")]
    DockerHost,
    /// Only the QEMU guest agent.
    #[sea_orm(string_value = "qemu-agent")]
    QemuAgent,
}

/// How a Proxmox endpoint is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EndpointMode {
    /// Not known yet.
    #[sea_orm(string_value = "undefined")]
    Undefined,
    /// A single node.
    #[sea_orm(string_value = "standalone")]
    Standalone,
    /// A Proxmox cluster.
    #[sea_orm(string_value = "cluster")]
    Cluster,
}

/// What a user may do (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// Reads what its tenants may see.
    #[sea_orm(string_value = "viewer")]
    Viewer,
    /// Manages definitions of its tenants and queues builds.
    #[sea_orm(string_value = "operator")]
    Operator,
    /// The build backend: reports build progress.
    #[sea_orm(string_value = "worker")]
    Worker,
    /// Everything.
    #[sea_orm(string_value = "admin")]
    Admin,
}
