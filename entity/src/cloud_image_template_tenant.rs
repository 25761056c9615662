//! `cloud_image_template_tenant`: Which tenants may use a catalog entry (empty = every tenant).

use sea_orm::entity::prelude::*;

/// A link row between a cloud image template and a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_image_template_tenant")]
pub struct Model {
    /// The cloud image template.
    #[sea_orm(primary_key, auto_increment = false)]
    pub template_id: i32,
    /// The tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: i32,
}

/// No navigable relations: joins are written where they are needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
