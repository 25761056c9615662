//! Each type's NetBox object applied to its row: a conflict when a local row holds its name (or
//! slug, or catalog place), otherwise the row built whole from the object and saved.

use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{EndpointMode, Role},
    proxmox_endpoint, tenant, user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use super::{
    pass::{Pass, by_netbox_id, held, local_tenants},
    rows::{ClusterRow, ClusterTypeRow, EndpointRow, TemplateRow, TenantRow, UserRow},
};
use crate::error::Error;

impl Pass<'_> {
    pub(super) async fn tenant(&mut self, row: TenantRow) -> Result<(), Error> {
        let existing = by_netbox_id::<tenant::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::any()
            .add(tenant::Column::Name.eq(&row.name))
            .add(tenant::Column::Slug.eq(&row.slug));
        if held::<tenant::Entity>(self.txn, taken, existing.as_ref().map(|t| t.id)).await? {
            self.conflict(
                row.last_updated,
                format!("tenant `{}`: the name or slug is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let mut next = existing.clone().unwrap_or(tenant::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.slug = row.slug;
        next.description = row.description;
        self.save(existing, next).await
    }

    pub(super) async fn cluster_type(&mut self, row: ClusterTypeRow) -> Result<(), Error> {
        self.applied(row.last_updated);
        let renamed = cluster::Entity::update_many()
            .col_expr(cluster::Column::ClusterType, Expr::value(row.name.clone()))
            .col_expr(cluster::Column::LastUpdated, Expr::value(self.stamp))
            .filter(cluster::Column::NetboxTypeId.eq(row.netbox_id))
            .filter(cluster::Column::ClusterType.ne(row.name))
            .exec(self.txn)
            .await?;
        self.summary.updated += u32::try_from(renamed.rows_affected).unwrap_or(u32::MAX);
        Ok(())
    }

    pub(super) async fn cluster(&mut self, row: ClusterRow) -> Result<(), Error> {
        let existing = by_netbox_id::<cluster::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(cluster::Column::Name.eq(&row.name));
        if held::<cluster::Entity>(self.txn, taken, existing.as_ref().map(|c| c.id)).await? {
            self.conflict(
                row.last_updated,
                format!("cluster `{}`: the name is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let tenants = local_tenants(self.txn, &row.tenant.into_iter().collect::<Vec<_>>()).await?;
        let mut next = existing.clone().unwrap_or(cluster::Model {
            id: 0,
            name: String::new(),
            cluster_type: String::new(),
            tenant_id: None,
            description: String::new(),
            netbox_id: Some(row.netbox_id),
            netbox_type_id: None,
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.cluster_type = row.cluster_type;
        next.netbox_type_id = row.type_id;
        next.tenant_id = row.tenant.and_then(|t| tenants.get(&t).copied());
        next.description = row.description;
        self.save(existing, next).await
    }

    pub(super) async fn endpoint(&mut self, row: EndpointRow) -> Result<(), Error> {
        let existing = by_netbox_id::<proxmox_endpoint::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(proxmox_endpoint::Column::Name.eq(&row.name));
        if held::<proxmox_endpoint::Entity>(self.txn, taken, existing.as_ref().map(|e| e.id))
            .await?
        {
            self.conflict(
                row.last_updated,
                format!("endpoint `{}`: the name is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let tenants = local_tenants(self.txn, &row.tenant.into_iter().collect::<Vec<_>>()).await?;
        let mut next = existing.clone().unwrap_or(proxmox_endpoint::Model {
            id: 0,
            name: String::new(),
            domain: None,
            ip_address: None,
            port: 8006,
            mode: EndpointMode::Undefined,
            verify_ssl: false,
            allow_writes: false,
            enabled: true,
            tenant_id: None,
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.domain = row.domain;
        next.ip_address = row.ip_address;
        if let Some(port) = row.port.filter(|p| (1..=65_535).contains(p)) {
            next.port = port;
        }
        if let Some(mode) = row.mode {
            next.mode = mode;
        }
        if let Some(verify_ssl) = row.verify_ssl {
            next.verify_ssl = verify_ssl;
        }
        if let Some(allow_writes) = row.allow_writes {
            next.allow_writes = allow_writes;
        }
        if let Some(enabled) = row.enabled {
            next.enabled = enabled;
        }
        next.tenant_id = row.tenant.and_then(|t| tenants.get(&t).copied());
        self.save(existing, next).await
    }

    pub(super) async fn user(&mut self, row: UserRow) -> Result<(), Error> {
        let existing = by_netbox_id::<user::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(user::Column::Username.eq(&row.username));
        if held::<user::Entity>(self.txn, taken, existing.as_ref().map(|u| u.id)).await? {
            self.conflict(
                None,
                format!("user `{}`: the username is taken here", row.username),
            );
            return Ok(());
        }
        let mut next = existing.clone().unwrap_or(user::Model {
            id: 0,
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            is_active: true,
            role: Role::Viewer,
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.username = row.username;
        next.first_name = row.first_name;
        next.last_name = row.last_name;
        next.email = row.email;
        next.is_active = row.is_active;
        next.role = row.role;
        self.save(existing, next).await
    }

    pub(super) async fn template(&mut self, row: TemplateRow) -> Result<(), Error> {
        let Some(cluster) = by_netbox_id::<cluster::Entity>(self.txn, row.cluster).await? else {
            self.conflict(
                row.last_updated,
                format!(
                    "template `{}`: its cluster (NetBox id {}) is not synced here",
                    row.slug, row.cluster
                ),
            );
            return Ok(());
        };
        let existing =
            by_netbox_id::<cloud_image_template::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::any()
            .add(cloud_image_template::Column::Slug.eq(&row.slug))
            .add(
                Condition::all()
                    .add(cloud_image_template::Column::ClusterId.eq(cluster.id))
                    .add(cloud_image_template::Column::SourceVmid.eq(row.source_vmid)),
            );
        if held::<cloud_image_template::Entity>(self.txn, taken, existing.as_ref().map(|t| t.id))
            .await?
        {
            self.conflict(
                row.last_updated,
                format!(
                    "template `{}`: the slug or the cluster's VMID {} is taken here",
                    row.slug, row.source_vmid
                ),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let mut next = existing.clone().unwrap_or(cloud_image_template::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            cluster_id: cluster.id,
            source_vmid: row.source_vmid,
            os_family: row.os_family,
            os_release: String::new(),
            default_ciuser: String::new(),
            is_active: true,
            netbox_id: Some(row.netbox_id),
            netbox_pushed: None,
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.slug = row.slug;
        next.description = row.description;
        next.cluster_id = cluster.id;
        next.source_vmid = row.source_vmid;
        next.os_family = row.os_family;
        next.os_release = row.os_release;
        next.default_ciuser = row.default_ciuser;
        next.is_active = row.is_active;
        // Written from NetBox, the row is in step with it: nothing to push back.
        if existing.as_ref() != Some(&next) {
            next.netbox_pushed = Some(self.stamp);
        }
        let tenants = local_tenants(self.txn, &row.allowed_tenants).await?;
        let mut wanted: Vec<i32> = tenants.into_values().collect();
        wanted.sort_unstable();
        let new = existing.is_none();
        let saved = self.save_row(existing, next).await?;
        let mut current: Vec<i32> = cloud_image_template_tenant::Entity::find()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
            .all(self.txn)
            .await?
            .into_iter()
            .map(|link| link.tenant_id)
            .collect();
        current.sort_unstable();
        if current != wanted {
            cloud_image_template_tenant::Entity::delete_many()
                .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
                .exec(self.txn)
                .await?;
            for tenant_id in wanted {
                cloud_image_template_tenant::ActiveModel {
                    template_id: Set(saved.id),
                    tenant_id: Set(tenant_id),
                }
                .insert(self.txn)
                .await?;
            }
            if !new && !saved.changed {
                self.summary.updated += 1;
            }
        }
        Ok(())
    }
}
