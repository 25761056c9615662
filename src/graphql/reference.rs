//! Reference data (SPEC §1.4): tenants, clusters, Proxmox endpoints, the cloud image catalog and
//! users — their types here, their queries in [`queries`], their writes in [`mutations`].

mod mutations;
mod queries;

pub use mutations::ReferenceMutation;
pub use queries::{
    CloudImageTemplateOrderField, ClusterOrderField, ProxmoxEndpointOrderField, ReferenceQuery,
    TenantOrderField, UserOrderField,
};

use async_graphql::{ComplexObject, Context, ID, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use super::{
    connection::Node,
    enums::{CatalogOsFamily, EndpointMode, Role},
    reference_reader, request,
};
use crate::{
    auth::Principal,
    error::Error,
    registry::{read::id_of, relations::TenantLink},
};

/// An organisation that owns clusters and endpoints and restricts definitions.
#[derive(SimpleObject, Clone)]
pub struct Tenant {
    /// Id.
    pub id: ID,
    /// Unique name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

impl From<tenant::Model> for Tenant {
    fn from(m: tenant::Model) -> Self {
        Tenant {
            id: ID::from(m.id.to_string()),
            name: m.name,
            slug: m.slug,
            description: m.description,
            created: m.created,
            last_updated: m.last_updated,
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
    /// Id.
    pub id: ID,
    /// Unique name.
    pub name: String,
    /// Free-form type, e.g. `proxmox`.
    pub cluster_type: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
    /// Internal: the `tenant_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub tenant_id: Option<i64>,
}

impl From<cluster::Model> for Cluster {
    fn from(m: cluster::Model) -> Self {
        Cluster {
            id: ID::from(m.id.to_string()),
            name: m.name,
            cluster_type: m.cluster_type,
            description: m.description,
            created: m.created,
            last_updated: m.last_updated,
            tenant_id: m.tenant_id.map(i64::from),
        }
    }
}

impl Node for Cluster {
    const NAME: &'static str = "Cluster";
}

#[ComplexObject]
impl Cluster {
    /// Owning tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<Tenant>> {
        load_tenant(ctx, self.tenant_id).await
    }
}

/// A Proxmox VE endpoint where builds run. No credential is stored or exposed.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ProxmoxEndpoint {
    /// Id.
    pub id: ID,
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
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
    /// Internal: the `tenant_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub tenant_id: Option<i64>,
}

impl From<proxmox_endpoint::Model> for ProxmoxEndpoint {
    fn from(m: proxmox_endpoint::Model) -> Self {
        ProxmoxEndpoint {
            id: ID::from(m.id.to_string()),
            name: m.name,
            domain: m.domain,
            ip_address: m.ip_address,
            port: m.port,
            mode: m.mode.into(),
            verify_ssl: m.verify_ssl,
            allow_writes: m.allow_writes,
            enabled: m.enabled,
            created: m.created,
            last_updated: m.last_updated,
            tenant_id: m.tenant_id.map(i64::from),
        }
    }
}

impl Node for ProxmoxEndpoint {
    const NAME: &'static str = "ProxmoxEndpoint";
}

#[ComplexObject]
impl ProxmoxEndpoint {
    /// Owning tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Option<Tenant>> {
        load_tenant(ctx, self.tenant_id).await
    }
}

/// A template in the cloud image catalog, published by completed builds.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct CloudImageTemplate {
    /// Id.
    pub id: ID,
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
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: i64,
    /// Internal: the `cluster_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub cluster_id: i64,
}

impl From<cloud_image_template::Model> for CloudImageTemplate {
    fn from(m: cloud_image_template::Model) -> Self {
        CloudImageTemplate {
            id: ID::from(m.id.to_string()),
            row_id: id_of(&m),
            name: m.name,
            slug: m.slug,
            description: m.description,
            source_vmid: m.source_vmid,
            os_family: m.os_family.into(),
            os_release: m.os_release,
            default_ciuser: m.default_ciuser,
            is_active: m.is_active,
            created: m.created,
            last_updated: m.last_updated,
            cluster_id: i64::from(m.cluster_id),
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
        let cluster = reference_reader(ctx)?
            .loaders
            .clusters
            .load_one(self.cluster_id)
            .await?;
        Ok(cluster.ok_or(Error::NotFound)?.into())
    }

    /// The tenants that may use it; empty means every tenant.
    async fn allowed_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        load_tenants(ctx, TenantLink::Template, self.row_id).await
    }
}

/// A person or machine that holds tokens.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct User {
    /// Id.
    pub id: ID,
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
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: i64,
    /// Internal: the `email_address` key, for loaders; not exposed.
    #[graphql(skip)]
    pub email_address: String,
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        User {
            id: ID::from(m.id.to_string()),
            row_id: id_of(&m),
            username: m.username,
            first_name: m.first_name,
            last_name: m.last_name,
            is_active: m.is_active,
            role: m.role.into(),
            created: m.created,
            last_updated: m.last_updated,
            email_address: m.email,
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
        let shown = match &request(ctx).principal {
            Principal::Service => true,
            Principal::User(caller) => {
                caller.role == entity::enums::Role::Admin
                    || i64::from(caller.user_id) == self.row_id
            }
            Principal::Anonymous => false,
        };
        shown.then_some(self.email_address.as_str())
    }

    /// Its tenants.
    async fn tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        load_tenants(ctx, TenantLink::User, self.row_id).await
    }

    /// Its API tokens (never their secrets): for the user itself and administrators only.
    async fn api_tokens(&self, ctx: &Context<'_>) -> Result<Vec<super::users::ApiToken>> {
        let request = reference_reader(ctx)?;
        let allowed = match &request.principal {
            Principal::Service => true,
            Principal::User(caller) => {
                caller.role == entity::enums::Role::Admin
                    || i64::from(caller.user_id) == self.row_id
            }
            Principal::Anonymous => false,
        };
        if !allowed {
            return Err(
                Error::forbidden("only the user itself and administrators see its tokens").into(),
            );
        }
        let tokens = request.loaders.tokens.load_one(self.row_id).await?;
        Ok(tokens
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

async fn load_tenant(ctx: &Context<'_>, id: Option<i64>) -> Result<Option<Tenant>> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(reference_reader(ctx)?
        .loaders
        .tenants
        .load_one(id)
        .await?
        .map(Into::into))
}

async fn load_tenants(ctx: &Context<'_>, link: TenantLink, owner: i64) -> Result<Vec<Tenant>> {
    let tenants = reference_reader(ctx)?
        .loaders
        .tenant_lists
        .load_one((link, owner))
        .await?;
    Ok(tenants
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect())
}
