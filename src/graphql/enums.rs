//! The GraphQL faces of the entity choice columns (SCREAMING_SNAKE_CASE values), converted both
//! ways by async-graphql's `remote` derive so no conversion is written by hand.

use async_graphql::Enum;

/// How Packer creates the VM.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::BuilderType")]
pub enum BuilderType {
    /// Clone an existing Proxmox template.
    ProxmoxClone,
    /// Install from an ISO.
    ProxmoxIso,
}

/// The lifecycle state of a build.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::BuildStatus")]
pub enum BuildStatus {
    /// Queued, not started.
    Pending,
    /// Started by the backend.
    Running,
    /// Ended in error or timed out.
    Failed,
    /// Ended successfully.
    Completed,
    /// Cancelled before it ended.
    Cancelled,
}

/// Operating system family of a definition.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OsFamily")]
pub enum OsFamily {
    /// Ubuntu.
    Ubuntu,
    /// Debian.
    Debian,
    /// Rocky Linux.
    Rocky,
    /// AlmaLinux.
    Almalinux,
    /// FreeBSD.
    Freebsd,
}

/// Operating system family of a catalog entry.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::CatalogOsFamily")]
pub enum CatalogOsFamily {
    /// Ubuntu.
    Ubuntu,
    /// Debian.
    Debian,
    /// Rocky Linux.
    Rocky,
    /// Alpine Linux.
    Alpine,
    /// Any other family.
    Generic,
}

/// The provisioning recipe Packer runs inside the VM.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ProvisionerRecipe")]
pub enum ProvisionerRecipe {
    /// Base Ubuntu image.
    UbuntuBase,
    /// Base Debian image.
    DebianBase,
    /// A Docker host.
    DockerHost,
    /// Only the QEMU guest agent.
    QemuAgent,
}

/// How a Proxmox endpoint is deployed.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::EndpointMode")]
pub enum EndpointMode {
    /// Not known yet.
    Undefined,
    /// A single node.
    Standalone,
    /// A Proxmox cluster.
    Cluster,
}

/// What a user may do.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Role")]
pub enum Role {
    /// Reads what its tenants may see.
    Viewer,
    /// Manages its tenants' definitions and queues builds.
    Operator,
    /// The build backend: reports build progress.
    Worker,
    /// Everything.
    Admin,
}

/// The badge colour of a build status.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::builds::StatusColor")]
pub enum StatusColor {
    /// Completed.
    Green,
    /// Running.
    Blue,
    /// Failed.
    Red,
    /// Cancelled.
    Yellow,
    /// Pending.
    Grey,
}

/// Sort direction.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}
