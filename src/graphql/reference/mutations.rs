//! Reference-data writes (ADMIN): tenants, clusters, Proxmox endpoints and catalog entries.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant};

use super::{CloudImageTemplate, Cluster, ProxmoxEndpoint, Tenant};
use crate::graphql::{
    enums::{CatalogOsFamily, EndpointMode},
    ids,
    patch::Inputs,
    writer,
};
use crate::registry::reference::{self, ClusterPatch, EndpointPatch, TemplatePatch, TenantPatch};

/// A new tenant.
#[derive(InputObject)]
pub struct CreateTenantInput {
    /// Unique name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
}

/// A change to a tenant.
#[derive(InputObject, Default)]
pub struct UpdateTenantInput {
    /// Unique name.
    pub name: MaybeUndefined<String>,
    /// Unique URL-friendly name.
    pub slug: MaybeUndefined<String>,
    /// Free text.
    pub description: MaybeUndefined<String>,
}

/// A new cluster.
#[derive(InputObject)]
pub struct CreateClusterInput {
    /// Unique name.
    pub name: String,
    /// Free-form type (default `proxmox`).
    pub cluster_type: Option<String>,
    /// Owning tenant.
    pub tenant_id: Option<ID>,
    /// Free text.
    pub description: Option<String>,
}

/// A change to a cluster.
#[derive(InputObject, Default)]
pub struct UpdateClusterInput {
    /// Unique name.
    pub name: MaybeUndefined<String>,
    /// Free-form type.
    pub cluster_type: MaybeUndefined<String>,
    /// Owning tenant; `null` clears it.
    pub tenant_id: MaybeUndefined<ID>,
    /// Free text.
    pub description: MaybeUndefined<String>,
}

/// A new Proxmox endpoint (defaults: port 8006, mode UNDEFINED, verifySsl false, allowWrites
/// false, enabled true).
#[derive(InputObject)]
pub struct CreateProxmoxEndpointInput {
    /// Unique name.
    pub name: String,
    /// DNS name.
    pub domain: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
    /// API port, 1..=65535.
    pub port: Option<i32>,
    /// Deployment mode.
    pub mode: Option<EndpointMode>,
    /// Verify TLS certificates.
    pub verify_ssl: Option<bool>,
    /// Builds may write to it.
    pub allow_writes: Option<bool>,
    /// In use.
    pub enabled: Option<bool>,
    /// Owning tenant.
    pub tenant_id: Option<ID>,
}

/// A change to a Proxmox endpoint.
#[derive(InputObject, Default)]
pub struct UpdateProxmoxEndpointInput {
    /// Unique name.
    pub name: MaybeUndefined<String>,
    /// DNS name; `null` clears it.
    pub domain: MaybeUndefined<String>,
    /// IP address; `null` clears it.
    pub ip_address: MaybeUndefined<String>,
    /// API port.
    pub port: MaybeUndefined<i32>,
    /// Deployment mode.
    pub mode: MaybeUndefined<EndpointMode>,
    /// Verify TLS certificates.
    pub verify_ssl: MaybeUndefined<bool>,
    /// Builds may write to it.
    pub allow_writes: MaybeUndefined<bool>,
    /// In use.
    pub enabled: MaybeUndefined<bool>,
    /// Owning tenant; `null` clears it.
    pub tenant_id: MaybeUndefined<ID>,
}

/// A new catalog entry (defaults: defaultCiuser `cloud-user`, isActive true).
#[derive(InputObject)]
pub struct CreateCloudImageTemplateInput {
    /// Display name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
    /// The cluster that holds it.
    pub cluster_id: ID,
    /// VMID on that cluster; unique per cluster.
    pub source_vmid: i32,
    /// Operating system family.
    pub os_family: CatalogOsFamily,
    /// Operating system release.
    pub os_release: Option<String>,
    /// Default cloud-init user.
    pub default_ciuser: Option<String>,
    /// Offered.
    pub is_active: Option<bool>,
    /// Tenants that may use it; empty means every tenant.
    pub allowed_tenant_ids: Option<Vec<ID>>,
}

/// A change to a catalog entry.
#[derive(InputObject, Default)]
pub struct UpdateCloudImageTemplateInput {
    /// Display name.
    pub name: MaybeUndefined<String>,
    /// Unique URL-friendly name.
    pub slug: MaybeUndefined<String>,
    /// Free text.
    pub description: MaybeUndefined<String>,
    /// The cluster that holds it.
    pub cluster_id: MaybeUndefined<ID>,
    /// VMID on that cluster.
    pub source_vmid: MaybeUndefined<i32>,
    /// Operating system family.
    pub os_family: MaybeUndefined<CatalogOsFamily>,
    /// Operating system release.
    pub os_release: MaybeUndefined<String>,
    /// Default cloud-init user.
    pub default_ciuser: MaybeUndefined<String>,
    /// Offered.
    pub is_active: MaybeUndefined<bool>,
    /// Tenants that may use it.
    pub allowed_tenant_ids: MaybeUndefined<Vec<ID>>,
}

/// Mutations of reference data.
#[derive(Default)]
pub struct ReferenceMutation;

#[Object]
impl ReferenceMutation {
    /// Creates a tenant (ADMIN).
    async fn create_tenant(&self, ctx: &Context<'_>, input: CreateTenantInput) -> Result<Tenant> {
        let patch = TenantPatch {
            name: Some(input.name),
            slug: Some(input.slug),
            description: input.description,
        };
        Ok(reference::save_tenant(writer(ctx), None, patch)
            .await?
            .into())
    }

    /// Changes a tenant (ADMIN).
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTenantInput,
    ) -> Result<Tenant> {
        let id = ids::parse::<tenant::Entity>(&id, "id")?;
        let mut i = Inputs::default();
        let patch = TenantPatch {
            name: i.keep("name", input.name),
            slug: i.keep("slug", input.slug),
            description: i.keep("description", input.description),
        };
        i.finish()?;
        Ok(reference::save_tenant(writer(ctx), Some(id), patch)
            .await?
            .into())
    }

    /// Deletes a tenant (ADMIN); one named in an `allowedTenants` list is a `CONFLICT`.
    async fn delete_tenant(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<tenant::Entity>(&id, "id")?;
        Ok(reference::delete::<tenant::Entity>(writer(ctx), id)
            .await
            .map(ids::render)?)
    }

    /// Creates a cluster (ADMIN).
    async fn create_cluster(
        &self,
        ctx: &Context<'_>,
        input: CreateClusterInput,
    ) -> Result<Cluster> {
        let mut i = Inputs::default();
        let patch = ClusterPatch {
            name: Some(input.name),
            cluster_type: input.cluster_type,
            tenant_id: Some(
                input
                    .tenant_id
                    .and_then(|id| i.id::<tenant::Entity>("tenant_id", &id)),
            ),
            description: input.description,
        };
        i.finish()?;
        Ok(reference::save_cluster(writer(ctx), None, patch)
            .await?
            .into())
    }

    /// Changes a cluster (ADMIN).
    async fn update_cluster(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateClusterInput,
    ) -> Result<Cluster> {
        let id = ids::parse::<cluster::Entity>(&id, "id")?;
        let mut i = Inputs::default();
        let tenant = i.nullable(input.tenant_id);
        let patch = ClusterPatch {
            name: i.keep("name", input.name),
            cluster_type: i.keep("cluster_type", input.cluster_type),
            tenant_id: tenant.map(|t| t.and_then(|id| i.id::<tenant::Entity>("tenant_id", &id))),
            description: i.keep("description", input.description),
        };
        i.finish()?;
        Ok(reference::save_cluster(writer(ctx), Some(id), patch)
            .await?
            .into())
    }

    /// Deletes a cluster (ADMIN); one that definitions or the catalog use is a `CONFLICT`.
    async fn delete_cluster(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<cluster::Entity>(&id, "id")?;
        Ok(reference::delete::<cluster::Entity>(writer(ctx), id)
            .await
            .map(ids::render)?)
    }

    /// Creates a Proxmox endpoint (ADMIN).
    async fn create_proxmox_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateProxmoxEndpointInput,
    ) -> Result<ProxmoxEndpoint> {
        let mut i = Inputs::default();
        let patch = EndpointPatch {
            name: Some(input.name),
            domain: Some(input.domain),
            ip_address: Some(input.ip_address),
            port: input.port,
            mode: input.mode.map(Into::into),
            verify_ssl: input.verify_ssl,
            allow_writes: input.allow_writes,
            enabled: input.enabled,
            tenant_id: Some(
                input
                    .tenant_id
                    .and_then(|id| i.id::<tenant::Entity>("tenant_id", &id)),
            ),
        };
        i.finish()?;
        Ok(reference::save_endpoint(writer(ctx), None, patch)
            .await?
            .into())
    }

    /// Changes a Proxmox endpoint (ADMIN).
    async fn update_proxmox_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProxmoxEndpointInput,
    ) -> Result<ProxmoxEndpoint> {
        let id = ids::parse::<proxmox_endpoint::Entity>(&id, "id")?;
        let mut i = Inputs::default();
        let tenant = i.nullable(input.tenant_id);
        let patch = EndpointPatch {
            name: i.keep("name", input.name),
            domain: i.nullable(input.domain),
            ip_address: i.nullable(input.ip_address),
            port: i.keep("port", input.port),
            mode: i.keep("mode", input.mode).map(Into::into),
            verify_ssl: i.keep("verify_ssl", input.verify_ssl),
            allow_writes: i.keep("allow_writes", input.allow_writes),
            enabled: i.keep("enabled", input.enabled),
            tenant_id: tenant.map(|t| t.and_then(|id| i.id::<tenant::Entity>("tenant_id", &id))),
        };
        i.finish()?;
        Ok(reference::save_endpoint(writer(ctx), Some(id), patch)
            .await?
            .into())
    }

    /// Deletes a Proxmox endpoint (ADMIN); one still referenced is a `CONFLICT`.
    async fn delete_proxmox_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<proxmox_endpoint::Entity>(&id, "id")?;
        Ok(
            reference::delete::<proxmox_endpoint::Entity>(writer(ctx), id)
                .await
                .map(ids::render)?,
        )
    }

    /// Creates a catalog entry (ADMIN).
    async fn create_cloud_image_template(
        &self,
        ctx: &Context<'_>,
        input: CreateCloudImageTemplateInput,
    ) -> Result<CloudImageTemplate> {
        let mut i = Inputs::default();
        let patch = TemplatePatch {
            name: Some(input.name),
            slug: Some(input.slug),
            description: input.description,
            cluster_id: i.id::<cluster::Entity>("cluster_id", &input.cluster_id),
            source_vmid: Some(input.source_vmid),
            os_family: Some(input.os_family.into()),
            os_release: input.os_release,
            default_ciuser: input.default_ciuser,
            is_active: input.is_active,
            allowed_tenant_ids: Some(i.ids::<tenant::Entity>(
                "allowed_tenant_ids",
                &input.allowed_tenant_ids.unwrap_or_default(),
            )),
        };
        i.finish()?;
        Ok(reference::save_template(writer(ctx), None, patch)
            .await?
            .into())
    }

    /// Changes a catalog entry (ADMIN).
    async fn update_cloud_image_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCloudImageTemplateInput,
    ) -> Result<CloudImageTemplate> {
        let id = ids::parse::<cloud_image_template::Entity>(&id, "id")?;
        let mut i = Inputs::default();
        let cluster = i.keep("cluster_id", input.cluster_id);
        let tenants = i.keep("allowed_tenant_ids", input.allowed_tenant_ids);
        let patch = TemplatePatch {
            name: i.keep("name", input.name),
            slug: i.keep("slug", input.slug),
            description: i.keep("description", input.description),
            cluster_id: cluster.and_then(|id| i.id::<cluster::Entity>("cluster_id", &id)),
            source_vmid: i.keep("source_vmid", input.source_vmid),
            os_family: i.keep("os_family", input.os_family).map(Into::into),
            os_release: i.keep("os_release", input.os_release),
            default_ciuser: i.keep("default_ciuser", input.default_ciuser),
            is_active: i.keep("is_active", input.is_active),
            allowed_tenant_ids: tenants
                .map(|ids| i.ids::<tenant::Entity>("allowed_tenant_ids", &ids)),
        };
        i.finish()?;
        Ok(reference::save_template(writer(ctx), Some(id), patch)
            .await?
            .into())
    }

    /// Deletes a catalog entry (ADMIN); builds that produced it keep their history.
    async fn delete_cloud_image_template(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<cloud_image_template::Entity>(&id, "id")?;
        Ok(
            reference::delete::<cloud_image_template::Entity>(writer(ctx), id)
                .await
                .map(ids::render)?,
        )
    }
}
