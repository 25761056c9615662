//! Catalog entries written by hand (ADMIN); completed builds publish theirs (`registry::catalog`).

use entity::{cloud_image_template, cloud_image_template_tenant, cluster, enums::CatalogOsFamily};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::writes::{all_exist, apply, exists, persist};
use crate::{
    auth::{Action, Scope},
    error::{Error, FieldErrors},
    registry::{Ctx, id::Id, read, rules::Checks, tx::begin_write},
};

/// A change to a catalog entry.
#[derive(Clone, Debug, Default)]
pub struct TemplatePatch {
    /// `name`
    pub name: Option<String>,
    /// `slug`
    pub slug: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `cluster`
    pub cluster_id: Option<i32>,
    /// `source_vmid`
    pub source_vmid: Option<i32>,
    /// `os_family`
    pub os_family: Option<CatalogOsFamily>,
    /// `os_release`
    pub os_release: Option<String>,
    /// `default_ciuser`
    pub default_ciuser: Option<String>,
    /// `is_active`
    pub is_active: Option<bool>,
    /// `allowed_tenants`
    pub allowed_tenant_ids: Option<Vec<i32>>,
}

/// Creates or (with `id`) updates a catalog entry.
pub async fn save_template(
    ctx: Ctx<'_>,
    id: Option<Id<cloud_image_template::Entity>>,
    patch: TemplatePatch,
) -> Result<cloud_image_template::Model, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let txn = begin_write(ctx.db).await?;
    let stamp = ctx.clock.now();
    let mut missing = FieldErrors::default();
    let mut row = match id {
        Some(id) => read::get::<cloud_image_template::Entity>(&txn, &Scope::service(), id).await?,
        None => {
            for (field, given) in [
                ("cluster_id", patch.cluster_id.is_some()),
                ("source_vmid", patch.source_vmid.is_some()),
                ("os_family", patch.os_family.is_some()),
            ] {
                if !given {
                    missing.add(field, "is required");
                }
            }
            cloud_image_template::Model {
                id: 0,
                name: String::new(),
                slug: String::new(),
                description: String::new(),
                cluster_id: 0,
                source_vmid: 100,
                os_family: CatalogOsFamily::Generic,
                os_release: String::new(),
                default_ciuser: "cloud-user".to_owned(),
                is_active: true,
                netbox_id: None,
                netbox_pushed: None,
                created: stamp,
                last_updated: stamp,
            }
        }
    };
    if let Some(name) = &patch.name {
        row.name = name.trim().to_owned();
    }
    let tenants = patch.allowed_tenant_ids.clone();
    apply!(
        row,
        patch,
        slug,
        description,
        cluster_id,
        source_vmid,
        os_family,
        os_release,
        default_ciuser,
        is_active
    );
    let mut c = Checks::default();
    c.0.merge(missing);
    c.required_text("name", &row.name, 255);
    c.slug("slug", &row.slug);
    c.max_len("description", &row.description, 65_536);
    c.vmid("source_vmid", row.source_vmid);
    c.max_len("os_release", &row.os_release, 64);
    c.unix_user("default_ciuser", &row.default_ciuser);
    if row.cluster_id != 0 {
        exists::<cluster::Entity>(&txn, &mut c, "cluster_id", Some(row.cluster_id)).await?;
    }
    if let Some(tenants) = &tenants {
        all_exist(&txn, &mut c, "allowed_tenant_ids", tenants).await?;
    }
    c.0.into_result()?;
    let mut active: cloud_image_template::ActiveModel = row.into();
    active.last_updated = Set(stamp);
    let saved = persist(&txn, active, id.is_none()).await?;
    if let Some(tenants) = tenants {
        cloud_image_template_tenant::Entity::delete_many()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
            .exec(&txn)
            .await?;
        let mut tenants = tenants;
        tenants.sort_unstable();
        tenants.dedup();
        if !tenants.is_empty() {
            cloud_image_template_tenant::Entity::insert_many(tenants.into_iter().map(
                |tenant_id| cloud_image_template_tenant::ActiveModel {
                    template_id: Set(saved.id),
                    tenant_id: Set(tenant_id),
                },
            ))
            .exec(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    Ok(saved)
}
