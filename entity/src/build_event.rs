//! `build_event`: one row per committed status change (SPEC §1.5); its id is the event cursor.

use sea_orm::entity::prelude::*;

use crate::enums::BuildStatus;

/// A build event row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "build_event")]
pub struct Model {
    /// Monotonically increasing; never reused.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The build that changed.
    pub build_id: i32,
    /// Status before (null when the build was created).
    pub from_status: Option<BuildStatus>,
    /// Status after.
    pub to_status: BuildStatus,
    /// Who caused it (null for the service itself, e.g. the timeout reaper).
    pub actor_id: Option<i32>,
    /// Free text, e.g. the error of a failure.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// When it was committed.
    pub at: DateTimeUtc,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
