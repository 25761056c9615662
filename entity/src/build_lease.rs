//! `build_lease`: the dispatcher that owns a running build, until when (SPEC §7.1).

use sea_orm::entity::prelude::*;

/// A lease on one running build.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "build_lease")]
pub struct Model {
    /// The build (one lease per build).
    #[sea_orm(primary_key, auto_increment = false)]
    pub build_id: i32,
    /// The id of the dispatcher that holds it.
    pub owner: String,
    /// The backend that runs the build (`proxbox`, `packer`).
    pub backend: String,
    /// Past this instant the owner counts as dead and another dispatcher adopts the build.
    pub expires: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
