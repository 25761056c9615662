//! What the catalog push (`--netbox-push-catalog`) must send to NetBox and what it sent: the
//! entries written here since they were last in step with NetBox.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{cloud_image_template, cloud_image_template_tenant, cluster, tenant};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};

use crate::{error::Error, registry::tx::begin_write};

/// A catalog entry to push to NetBox (`--netbox-push-catalog`), with its references as NetBox ids.
#[derive(Clone, Debug)]
pub struct Unpushed {
    /// The entry.
    pub entry: cloud_image_template::Model,
    /// The NetBox id of its cluster.
    pub cluster: i32,
    /// The NetBox ids of the tenants it is restricted to.
    pub tenants: Vec<i32>,
}

/// The catalog entries changed here since they were last in step with NetBox (never pushed, or
/// written since — a build published them), on clusters NetBox owns. An entry restricted to a
/// tenant NetBox does not know is left out: pushed without it, it would be open to more tenants
/// in NetBox than here.
pub async fn unpushed(db: &impl ConnectionTrait) -> Result<Vec<Unpushed>, Error> {
    let clusters: HashMap<i32, i32> = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|c| c.netbox_id.map(|n| (c.id, n)))
        .collect();
    let tenants: HashMap<i32, Option<i32>> = tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.netbox_id))
        .collect();
    let mut found = Vec::new();
    for entry in cloud_image_template::Entity::find().all(db).await? {
        let dirty = entry
            .netbox_pushed
            .is_none_or(|pushed| entry.last_updated > pushed);
        let Some(cluster) = clusters.get(&entry.cluster_id).copied() else {
            continue;
        };
        if !dirty {
            continue;
        }
        let links = cloud_image_template_tenant::Entity::find()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(entry.id))
            .all(db)
            .await?;
        let mapped: Option<Vec<i32>> = links
            .iter()
            .map(|link| tenants.get(&link.tenant_id).copied().flatten())
            .collect();
        let Some(tenants) = mapped else {
            tracing::warn!(
                slug = entry.slug,
                "catalog entry not pushed: one of its tenants is not in NetBox"
            );
            continue;
        };
        found.push(Unpushed {
            entry,
            cluster,
            tenants,
        });
    }
    Ok(found)
}

/// Records that catalog entry `id`, as it was at `last_updated`, is NetBox's object `netbox_id`
/// now; an entry written since stays to be pushed again.
pub async fn pushed(
    db: &sea_orm::DatabaseConnection,
    id: i32,
    last_updated: DateTime<Utc>,
    netbox_id: i32,
) -> Result<(), Error> {
    let txn = begin_write(db).await?;
    cloud_image_template::Entity::update_many()
        .col_expr(
            cloud_image_template::Column::NetboxId,
            Expr::value(netbox_id),
        )
        .col_expr(
            cloud_image_template::Column::NetboxPushed,
            Expr::value(last_updated),
        )
        .filter(cloud_image_template::Column::Id.eq(id))
        .filter(cloud_image_template::Column::LastUpdated.eq(last_updated))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
