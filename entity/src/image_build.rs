//! `image_build`: one execution of a definition (SPEC §1.2).

use sea_orm::entity::prelude::*;

use crate::enums::BuildStatus;

/// An image build row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "image_build")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The definition built.
    pub definition_id: i32,
    /// Lifecycle state.
    pub status: BuildStatus,
    /// Id assigned by the build backend; empty until known.
    pub backend_build_id: String,
    /// Copied from the definition when queued.
    pub proxmox_endpoint_id: i32,
    /// Copied from the definition when queued.
    pub target_node: String,
    /// VMID of the output template.
    pub output_vmid: i32,
    /// Name of the output template.
    pub output_name: String,
    /// Version label.
    pub image_version: String,
    /// Per-build variable overrides.
    pub variables: Json,
    /// Job timeout in force when the build started.
    pub timeout_seconds: Option<i32>,
    /// Set by start.
    pub started_at: Option<DateTimeUtc>,
    /// Set by complete, fail and cancel.
    pub completed_at: Option<DateTimeUtc>,
    /// The user that queued it (null once that user is deleted).
    pub created_by_id: Option<i32>,
    /// Linked NetBox background job.
    pub netbox_job_id: Option<i32>,
    /// Catalog entry this build produced.
    pub cloud_image_template_id: Option<i32>,
    /// Raw backend response.
    pub backend_response: Json,
    /// Error detail on failure.
    #[sea_orm(column_type = "Text")]
    pub error: String,
    /// The completed build this one rebuilds.
    pub rebuild_of_id: Option<i32>,
    /// Set on insert.
    pub created: DateTimeUtc,
    /// Set on every write.
    pub last_updated: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
