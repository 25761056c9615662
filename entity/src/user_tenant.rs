//! `user_tenant`: The tenants a user belongs to.

use sea_orm::entity::prelude::*;

/// A link row between a user and a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_tenant")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i32,
    /// The tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i32,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
