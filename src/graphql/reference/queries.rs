//! Reference queries: filters, orderings, lookups and lists of tenants, clusters, Proxmox
//! endpoints, catalog entries and users, and `me`.

use async_graphql::{Context, Enum, ID, MergedObject, Object, Result};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use super::{CloudImageTemplate, Cluster, ProxmoxEndpoint, Tenant, User};
use crate::{
    error::Error,
    filter_input,
    graphql::{
        enums::{CatalogOsFamily, EndpointMode, Role},
        lookups::{BooleanLookup, ChoiceLookup, DateTimeLookup, IdLookup, IntLookup, StringLookup},
        reference_reader, request,
    },
    registry::reference::{ClusterField, EndpointField, TemplateField, TenantField, UserField},
};

filter_input! {
    /// Filters tenants.
    pub struct TenantFilter => TenantField {
        /// Id.
        id: IdLookup => Id,
        /// Name.
        name: StringLookup => Name,
        /// Slug.
        slug: StringLookup => Slug,
        /// Creation time.
        created: DateTimeLookup => Created,
        /// Last change.
        last_updated: DateTimeLookup => LastUpdated,
    }
}

filter_input! {
    /// Filters clusters.
    pub struct ClusterFilter => ClusterField {
        /// Id.
        id: IdLookup => Id,
        /// Name.
        name: StringLookup => Name,
        /// Cluster type.
        cluster_type: StringLookup => ClusterType,
        /// Tenant id.
        tenant: IdLookup => Tenant,
        /// Creation time.
        created: DateTimeLookup => Created,
    }
}

filter_input! {
    /// Filters Proxmox endpoints.
    pub struct ProxmoxEndpointFilter => EndpointField {
        /// Id.
        id: IdLookup => Id,
        /// Name.
        name: StringLookup => Name,
        /// Domain.
        domain: StringLookup => Domain,
        /// IP address.
        ip_address: StringLookup => IpAddress,
        /// Port.
        port: IntLookup => Port,
        /// Mode.
        mode: ChoiceLookup<EndpointMode> => Mode,
        /// Enabled.
        enabled: BooleanLookup => Enabled,
        /// Allows writes.
        allow_writes: BooleanLookup => AllowWrites,
        /// Tenant id.
        tenant: IdLookup => Tenant,
        /// Creation time.
        created: DateTimeLookup => Created,
    }
}

filter_input! {
    /// Filters catalog entries.
    pub struct CloudImageTemplateFilter => TemplateField {
        /// Id.
        id: IdLookup => Id,
        /// Name.
        name: StringLookup => Name,
        /// Slug.
        slug: StringLookup => Slug,
        /// Cluster id.
        cluster: IdLookup => Cluster,
        /// VMID on the cluster.
        source_vmid: IntLookup => SourceVmid,
        /// Operating system family.
        os_family: ChoiceLookup<CatalogOsFamily> => OsFamily,
        /// Operating system release.
        os_release: StringLookup => OsRelease,
        /// Offered.
        is_active: BooleanLookup => IsActive,
        /// A tenant id among `allowedTenants`; `isNull: true` for unrestricted entries.
        tenant: IdLookup => Tenant,
        /// Creation time.
        created: DateTimeLookup => Created,
    }
}

filter_input! {
    /// Filters users.
    pub struct UserFilter => UserField {
        /// Id.
        id: IdLookup => Id,
        /// User name.
        username: StringLookup => Username,
        /// E-mail address.
        email: StringLookup => Email,
        /// Role.
        role: ChoiceLookup<Role> => Role,
        /// Active.
        is_active: BooleanLookup => IsActive,
        /// A tenant id among its tenants.
        tenant: IdLookup => Tenant,
        /// Creation time.
        created: DateTimeLookup => Created,
    }
}

/// The sortable fields of a tenant.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::reference::TenantSort")]
pub enum TenantOrderField {
    /// Id.
    Id,
    /// Name.
    Name,
    /// Slug.
    Slug,
    /// Creation time.
    Created,
}

/// The sortable fields of a cluster.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::reference::ClusterSort")]
pub enum ClusterOrderField {
    /// Id.
    Id,
    /// Name.
    Name,
    /// Creation time.
    Created,
}

/// The sortable fields of a Proxmox endpoint.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::reference::EndpointSort")]
pub enum ProxmoxEndpointOrderField {
    /// Id.
    Id,
    /// Name.
    Name,
    /// Creation time.
    Created,
}

/// The sortable fields of a catalog entry.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::reference::TemplateSort")]
pub enum CloudImageTemplateOrderField {
    /// Id.
    Id,
    /// Name.
    Name,
    /// Slug.
    Slug,
    /// VMID on the cluster.
    SourceVmid,
    /// Creation time.
    Created,
}

/// The sortable fields of a user.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::reference::UserSort")]
pub enum UserOrderField {
    /// Id.
    Id,
    /// User name.
    Username,
    /// Creation time.
    Created,
}

/// Declares the lookup-by-id and list queries of one reference aggregate.
macro_rules! reference_queries {
    (
        $query:ident, $entity:ident, $node:ident, $filter:ident, $order:ident,
        $one:ident, $many:ident, $one_doc:literal, $many_doc:literal
    ) => {
        /// Queries of one reference aggregate.
        #[derive(Default)]
        pub struct $query;

        #[Object]
        impl $query {
            #[doc = $one_doc]
            async fn $one(&self, ctx: &Context<'_>, id: ID) -> Result<Option<$node>> {
                let request = reference_reader(ctx)?;
                let id = crate::graphql::lookups::parse_id(&id, "id")?;
                let row = crate::registry::read::get::<$entity::Entity>(
                    crate::graphql::db(ctx),
                    &request.scope,
                    id,
                )
                .await?;
                // Nullable, so that a missing one nulls only this field.
                Ok(Some(row.into()))
            }

            #[doc = $many_doc]
            #[graphql(complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)")]
            async fn $many(
                &self,
                ctx: &Context<'_>,
                filter: Option<$filter>,
                order_by: Option<Vec<crate::graphql::lookups::OrderBy<$order>>>,
                first: Option<i32>,
                after: Option<String>,
                last: Option<i32>,
                before: Option<String>,
            ) -> Result<crate::graphql::connection::Connection<$node>> {
                let request = reference_reader(ctx)?;
                let filter = crate::graphql::lookups::filter_of(filter, $filter::into_filter)?;
                let args = crate::registry::page::PageArgs::new(
                    first.map(i64::from),
                    after,
                    last.map(i64::from),
                    before,
                )?;
                let page = crate::registry::read::list::<$entity::Entity>(
                    crate::graphql::db(ctx),
                    &request.scope,
                    &filter,
                    crate::graphql::lookups::sort(order_by),
                    &args,
                )
                .await?;
                Ok(crate::graphql::connection::Connection::of(page, $node::from))
            }
        }
    };
}

reference_queries!(
    TenantQuery,
    tenant,
    Tenant,
    TenantFilter,
    TenantOrderField,
    tenant,
    tenants,
    "One tenant.",
    "Tenants, by name unless ordered otherwise."
);
reference_queries!(
    ClusterQuery,
    cluster,
    Cluster,
    ClusterFilter,
    ClusterOrderField,
    cluster,
    clusters,
    "One cluster.",
    "Clusters, by name unless ordered otherwise."
);
reference_queries!(
    EndpointQuery,
    proxmox_endpoint,
    ProxmoxEndpoint,
    ProxmoxEndpointFilter,
    ProxmoxEndpointOrderField,
    proxmox_endpoint,
    proxmox_endpoints,
    "One Proxmox endpoint.",
    "Proxmox endpoints, by name unless ordered otherwise."
);
reference_queries!(
    TemplateQuery,
    cloud_image_template,
    CloudImageTemplate,
    CloudImageTemplateFilter,
    CloudImageTemplateOrderField,
    cloud_image_template,
    cloud_image_templates,
    "One catalog entry.",
    "Catalog entries, by name unless ordered otherwise."
);
reference_queries!(
    UserQuery,
    user,
    User,
    UserFilter,
    UserOrderField,
    user,
    users,
    "One user.",
    "Users, by user name unless ordered otherwise."
);

/// `me`: the caller.
#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let request = request(ctx);
        let Some(id) = request.principal.user_id() else {
            return Err(Error::Unauthenticated.into());
        };
        let user = request.loaders.users.load_one(i64::from(id)).await?;
        Ok(user.ok_or(Error::Unauthenticated)?.into())
    }
}

/// Every reference query.
#[derive(MergedObject, Default)]
pub struct ReferenceQuery(
    TenantQuery,
    ClusterQuery,
    EndpointQuery,
    TemplateQuery,
    UserQuery,
    MeQuery,
);
