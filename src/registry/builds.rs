//! Image builds: reads, and the lifecycle of SPEC §2.

use entity::{enums::BuildStatus, image_build, image_definition, image_definition_tenant};
use sea_orm::sea_query::Expr;

use super::{
    page::Sort,
    read::Readable,
    visibility::{self, Scope},
};
use crate::{filter_fields, sort_fields};

filter_fields! {
    /// The filterable fields of a build (SPEC §3.1); `q` searches output name, backend build id
    /// and error.
    pub enum BuildField for image_build {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `definition`
        Definition => column(DefinitionId, Number, not_null, "definition"),
        /// `status`
        Status => column(Status, Choice, not_null, "status"),
        /// `backend_build_id`
        BackendBuildId => column(BackendBuildId, Text, not_null, "backend_build_id"),
        /// `proxmox_endpoint`
        ProxmoxEndpoint => column(ProxmoxEndpointId, Number, not_null, "proxmox_endpoint"),
        /// `target_node`
        TargetNode => column(TargetNode, Text, not_null, "target_node"),
        /// `output_vmid`
        OutputVmid => column(OutputVmid, Number, not_null, "output_vmid"),
        /// `image_version`
        ImageVersion => column(ImageVersion, Text, not_null, "image_version"),
        /// `created_by`
        CreatedBy => column(CreatedById, Number, nullable, "created_by"),
        /// `netbox_job_id`
        NetboxJobId => column(NetboxJobId, Number, nullable, "netbox_job_id"),
        /// `cloud_image_template`
        CloudImageTemplate => column(CloudImageTemplateId, Number, nullable, "cloud_image_template"),
        /// The definition's `os_family`.
        OsFamily => through(DefinitionId, image_definition, Id, OsFamily, Choice, "os_family"),
        /// The definition's `allowed_tenants`.
        Tenant => through(DefinitionId, image_definition_tenant, DefinitionId, TenantId, Number, "tenant"),
        /// `started_at`
        StartedAt => column(StartedAt, Time, nullable, "started_at"),
        /// `completed_at`
        CompletedAt => column(CompletedAt, Time, nullable, "completed_at"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
    }
    search [OutputName, BackendBuildId, Error]
}

sort_fields! {
    /// The sortable fields of a build.
    pub enum BuildSort for image_build {
        /// `id`
        Id => (Id, "id", not_null),
        /// `status`
        Status => (Status, "status", not_null),
        /// `output_name`
        OutputName => (OutputName, "output_name", not_null),
        /// `output_vmid`
        OutputVmid => (OutputVmid, "output_vmid", not_null),
        /// `image_version`
        ImageVersion => (ImageVersion, "image_version", not_null),
        /// `started_at`
        StartedAt => (StartedAt, "started_at", nullable),
        /// `completed_at`
        CompletedAt => (CompletedAt, "completed_at", nullable),
        /// `created`
        Created => (Created, "created", not_null),
        /// `last_updated`
        LastUpdated => (LastUpdated, "last_updated", not_null),
    }
}

impl Readable for image_build::Entity {
    type Field = BuildField;
    type Sort = BuildSort;

    fn scope(scope: &Scope) -> Option<Expr> {
        visibility::builds(scope)
    }

    fn default_sort() -> Vec<Sort<BuildSort>> {
        vec![Sort {
            field: BuildSort::Created,
            desc: true,
        }]
    }
}

/// The badge colour of a status (SPEC §1.2), for every UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The badge colour of `status`.
pub fn status_color(status: BuildStatus) -> StatusColor {
    match status {
        BuildStatus::Completed => StatusColor::Green,
        BuildStatus::Running => StatusColor::Blue,
        BuildStatus::Failed => StatusColor::Red,
        BuildStatus::Cancelled => StatusColor::Yellow,
        BuildStatus::Pending => StatusColor::Grey,
    }
}
