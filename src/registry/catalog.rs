//! Catalog publish (SPEC §2.3): a completed build of a definition with a target cluster creates
//! or updates the catalog entry keyed by (cluster, VMID), in the build's transaction.

use chrono::{DateTime, Utc};
use entity::{
    cloud_image_template, cloud_image_template_tenant,
    enums::{CatalogOsFamily, OsFamily},
    image_build, image_definition, image_definition_tenant,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::error::Error;

/// Publishes `build` of `definition` at `stamp`; returns the catalog entry's id, if one was
/// published.
pub async fn publish(
    txn: &impl ConnectionTrait,
    stamp: DateTime<Utc>,
    build: &image_build::Model,
    definition: &image_definition::Model,
) -> Result<Option<i32>, Error> {
    let Some(cluster_id) = definition.target_cluster_id else {
        return Ok(None);
    };
    let existing = cloud_image_template::Entity::find()
        .filter(cloud_image_template::Column::ClusterId.eq(cluster_id))
        .filter(cloud_image_template::Column::SourceVmid.eq(build.output_vmid))
        .one(txn)
        .await?;
    let slug = free_slug(
        txn,
        &slug_of(&build.output_name, build.output_vmid),
        existing.as_ref().map(|e| e.id),
        cluster_id,
    )
    .await?;
    let is_new = existing.is_none();
    let mut entry: cloud_image_template::ActiveModel = match existing {
        Some(existing) => existing.into(),
        None => cloud_image_template::ActiveModel {
            cluster_id: Set(cluster_id),
            source_vmid: Set(build.output_vmid),
            description: Set(String::new()),
            created: Set(stamp),
            ..Default::default()
        },
    };
    entry.name = Set(build.output_name.clone());
    entry.slug = Set(slug);
    entry.os_family = Set(catalog_family(definition.os_family));
    entry.os_release = Set(definition.os_release.clone());
    entry.default_ciuser = Set(definition.default_ciuser.clone());
    entry.is_active = Set(true);
    entry.last_updated = Set(stamp);
    let entry = if is_new {
        entry.insert(txn).await?
    } else {
        entry.update(txn).await?
    };
    let entry_id = entry.id;
    cloud_image_template_tenant::Entity::delete_many()
        .filter(cloud_image_template_tenant::Column::TemplateId.eq(entry_id))
        .exec(txn)
        .await?;
    let tenants: Vec<i32> = image_definition_tenant::Entity::find()
        .filter(image_definition_tenant::Column::DefinitionId.eq(definition.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|link| link.tenant_id)
        .collect();
    if !tenants.is_empty() {
        cloud_image_template_tenant::Entity::insert_many(tenants.into_iter().map(|tenant_id| {
            cloud_image_template_tenant::ActiveModel {
                template_id: Set(entry_id),
                tenant_id: Set(tenant_id),
            }
        }))
        .exec(txn)
        .await?;
    }
    Ok(Some(entry_id))
}

/// The catalog knows fewer families than definitions; the others are `generic`.
pub fn catalog_family(family: OsFamily) -> CatalogOsFamily {
    match family {
        OsFamily::Ubuntu => CatalogOsFamily::Ubuntu,
        OsFamily::Debian => CatalogOsFamily::Debian,
        OsFamily::Rocky => CatalogOsFamily::Rocky,
        OsFamily::Almalinux | OsFamily::Freebsd => CatalogOsFamily::Generic,
    }
}

/// `slugify(output_name)-vmid`.
pub fn slug_of(output_name: &str, vmid: i32) -> String {
    let mut slug = String::with_capacity(output_name.len() + 12);
    for c in output_name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if c == '_' || c == '-' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let base = if slug.is_empty() { "image" } else { slug };
    format!("{base}-{vmid}")
}

/// `slug`, or — when another entry (on another cluster) holds it — `slug-c<cluster>`.
async fn free_slug(
    txn: &impl ConnectionTrait,
    slug: &str,
    own: Option<i32>,
    cluster_id: i32,
) -> Result<String, Error> {
    let holder = cloud_image_template::Entity::find()
        .filter(cloud_image_template::Column::Slug.eq(slug))
        .one(txn)
        .await?;
    Ok(match holder {
        Some(holder) if Some(holder.id) != own => format!("{slug}-c{cluster_id}"),
        _ => slug.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::slug_of;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(
            slug_of("ubuntu-2404-base-20261125", 9000),
            "ubuntu-2404-base-20261125-9000"
        );
        assert_eq!(slug_of("Ubuntu 24.04 (base)", 101), "ubuntu-24-04-base-101");
        assert_eq!(slug_of("🦀", 101), "image-101");
    }
}
