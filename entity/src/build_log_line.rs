//! `build_log_line`: one line of a build's log (SPEC §7.5), numbered 1.. per build (`seq`).

use sea_orm::entity::prelude::*;

/// A log line row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "build_log_line")]
pub struct Model {
    /// Row id (the keyset's tie-breaker; not exposed).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The build it belongs to.
    pub build_id: i32,
    /// Its number in the build's log, from 1, without gaps (dropped lines are below the
    /// lowest kept one).
    pub seq: i32,
    /// When it was written by the backend (or received).
    pub at: DateTimeUtc,
    /// `stdout`, `stderr`, … (free text ≤ 16), `marker` for lines the service wrote.
    pub stream: String,
    /// The text, secrets scrubbed, at most 8 KiB.
    #[sea_orm(column_type = "Text")]
    pub line: String,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
