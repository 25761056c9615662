//! `user`: a person or a machine that holds tokens.

use sea_orm::entity::prelude::*;

use crate::enums::Role;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique login name.
    #[sea_orm(unique)]
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// An inactive user cannot authenticate.
    pub is_active: bool,
    /// What the user may do.
    pub role: Role,
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
