//! Reference data (SPEC §1.4): tenants, clusters, Proxmox endpoints, the cloud image catalog and
//! users — their types here, their queries in `queries`, their writes in `mutations`.

mod mutations;
mod queries;

pub use mutations::ReferenceMutation;
pub use queries::{
    CloudImageTemplateOrderField, ClusterOrderField, ProxmoxEndpointOrderField, ReferenceQuery,
    TenantOrderField, UserOrderField,
};

use async_graphql::{ComplexObject, Context, Result, SimpleObject};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use super::{
    connection::Node,
    enums::{CatalogOsFamily, EndpointMode, Role},
    error::nullable,
    ids, request,
    scalars::DateTime,
};
use crate::{
    error::Error,
    registry::{id::Id, relations::Owner, users},
};

/// An organisation that owns clusters and endpoints and restricts definitions.
#[derive(SimpleObject, Clone)]
pub struct Tenant {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<tenant::Entity>,
    /// Unique name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
}

impl From<tenant::Model> for Tenant {
    fn from(m: tenant::Model) -> Self {
        Tenant {
            id: ids::GlobalId::of_row(m.id),
            name: m.name,
            slug: m.slug,
            description: m.description,
            created: m.created.into(),
            last_updated: m.last_updated.into(),
        }
    }
}

impl Node for Tenant {
    const NAME: &'static str = "Tenant";
}

/// A NetBox cluster that receives templates.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Cluster {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<cluster::Entity>,
    /// Unique name.
    pub name: String,
    /// Free-form type, e.g. `proxmox`.
    pub cluster_type: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `tenant_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub tenant_id: Option<Id<tenant::Entity>>,
}

impl From<cluster::Model> for Cluster {
    fn from(m: cluster::Model) -> Self {
        Cluster {
            id: ids::GlobalId::of_row(m.id),
            name: m.name,
            cluster_type: m.cluster_type,
            description: m.description,
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            tenant_id: m.tenant_id.map(Id::of_row),
        }
    }
}

impl Node for Cluster {
    const NAME: &'static str = "Cluster";
}

#[ComplexObject]
impl Cluster {
    /// Owning tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Option<Tenant> {
        nullable(ctx, load_tenant(ctx, self.tenant_id)).await
    }
}

/// A Proxmox VE endpoint where builds run. No credential is stored or exposed.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ProxmoxEndpoint {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<proxmox_endpoint::Entity>,
    /// Unique name.
    pub name: String,
    /// DNS name.
    pub domain: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
    /// API port.
    pub port: i32,
    /// Deployment mode.
    pub mode: EndpointMode,
    /// Whether TLS certificates are verified.
    pub verify_ssl: bool,
    /// Whether builds may write to it.
    pub allow_writes: bool,
    /// Whether it is in use.
    pub enabled: bool,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `tenant_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub tenant_id: Option<Id<tenant::Entity>>,
}

impl From<proxmox_endpoint::Model> for ProxmoxEndpoint {
    fn from(m: proxmox_endpoint::Model) -> Self {
        ProxmoxEndpoint {
            id: ids::GlobalId::of_row(m.id),
            name: m.name,
            domain: m.domain,
            ip_address: m.ip_address,
            port: m.port,
            mode: m.mode.into(),
            verify_ssl: m.verify_ssl,
            allow_writes: m.allow_writes,
            enabled: m.enabled,
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            tenant_id: m.tenant_id.map(Id::of_row),
        }
    }
}

impl Node for ProxmoxEndpoint {
    const NAME: &'static str = "ProxmoxEndpoint";
}

#[ComplexObject]
impl ProxmoxEndpoint {
    /// Owning tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Option<Tenant> {
        nullable(ctx, load_tenant(ctx, self.tenant_id)).await
    }
}

/// A template in the cloud image catalog, published by completed builds.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct CloudImageTemplate {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<cloud_image_template::Entity>,
    /// Display name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// VMID of the template on its cluster.
    pub source_vmid: i32,
    /// Operating system family.
    pub os_family: CatalogOsFamily,
    /// Operating system release.
    pub os_release: String,
    /// Default cloud-init user.
    pub default_ciuser: String,
    /// Whether it is offered.
    pub is_active: bool,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: Id<cloud_image_template::Entity>,
    /// Internal: the `cluster_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub cluster_id: Id<cluster::Entity>,
}

impl From<cloud_image_template::Model> for CloudImageTemplate {
    fn from(m: cloud_image_template::Model) -> Self {
        CloudImageTemplate {
            id: ids::GlobalId::of_row(m.id),
            row_id: Id::of(&m),
            name: m.name,
            slug: m.slug,
            description: m.description,
            source_vmid: m.source_vmid,
            os_family: m.os_family.into(),
            os_release: m.os_release,
            default_ciuser: m.default_ciuser,
            is_active: m.is_active,
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            cluster_id: Id::of_row(m.cluster_id),
        }
    }
}

impl Node for CloudImageTemplate {
    const NAME: &'static str = "CloudImageTemplate";
}

#[ComplexObject]
impl CloudImageTemplate {
    /// The cluster that holds it.
    async fn cluster(&self, ctx: &Context<'_>) -> Result<Cluster> {
        let cluster = request(ctx)
            .loaders
            .clusters()
            .load_one(self.cluster_id)
            .await?;
        Ok(cluster.ok_or(Error::NotFound)?.into())
    }

    /// The tenants that may use it; empty means every tenant.
    async fn allowed_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        load_tenants(ctx, Owner::Template(self.row_id)).await
    }
}

/// A person or machine that holds tokens.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct User {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<user::Entity>,
    /// Unique login name.
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Whether it may authenticate.
    pub is_active: bool,
    /// What it may do.
    pub role: Role,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: Id<user::Entity>,
    /// Internal: the row, for the rules on what of it is private; not exposed.
    #[graphql(skip)]
    pub row: user::Model,
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User {
            id: ids::GlobalId::of_row(m.id),
            row_id: Id::of(&m),
            username: m.username.clone(),
            first_name: m.first_name.clone(),
            last_name: m.last_name.clone(),
            is_active: m.is_active,
            role: m.role.into(),
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            row: m,
        }
    }
}

impl Node for User {
    const NAME: &'static str = "User";
}

#[ComplexObject]
impl User {
    /// E-mail address: shown to the user itself and to administrators only, null otherwise.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        users::email(&request(ctx).scope, &self.row)
    }

    /// Its tenants.
    async fn tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        load_tenants(ctx, Owner::User(self.row_id)).await
    }

    /// Its API tokens (never their secrets): for the user itself and administrators only.
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<super::users::ApiToken>> {
        let tokens = request(ctx).loaders.tokens().load_one(self.row_id).await?;
        Ok(tokens
            .unwrap_or_else(|| Ok(Vec::new()))?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

async fn load_tenant(ctx: &Context<'_>, id: Option<Id<tenant::Entity>>) -> Result<Option<Tenant>> {
    let tenant = request(ctx).loaders.tenants().load_optional(id).await?;
    Ok(tenant.map(Into::into))
}

async fn load_tenants(ctx: &Context<'_>, owner: Owner) -> Result<Vec<Tenant>> {
    let tenants = request(ctx).loaders.tenant_lists().load_one(owner).await?;
    Ok(tenants
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect())
}
