//! Reference queries: filters, orderings, lookups and lists of tenants, clusters, Proxmox
//! endpoints, catalog entries and users, and `me`.

use async_graphql::{Context, ID, MergedObject, Object, Result};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use super::{CloudImageTemplate, Cluster, ProxmoxEndpoint, Tenant, User};
use crate::{
    cluster_filter, cluster_sort, endpoint_filter, endpoint_sort,
    error::Error,
    graphql::{error::nullable, ids, request},
    graphql_filter, graphql_order,
    registry::id::Id,
    registry::reference::{
        ClusterField, ClusterSort, EndpointField, EndpointSort, TemplateField, TemplateSort,
        TenantField, TenantSort, UserField, UserSort,
    },
    template_filter, template_sort, tenant_filter, tenant_sort, user_filter, user_sort,
};

tenant_filter!(
    graphql_filter,
    /// Filters tenants.
    TenantFilter
);
tenant_sort!(
    graphql_order,
    /// The sortable fields of a tenant.
    TenantOrderField
);
cluster_filter!(
    graphql_filter,
    /// Filters clusters.
    ClusterFilter
);
cluster_sort!(
    graphql_order,
    /// The sortable fields of a cluster.
    ClusterOrderField
);
endpoint_filter!(
    graphql_filter,
    /// Filters Proxmox endpoints.
    ProxmoxEndpointFilter
);
endpoint_sort!(
    graphql_order,
    /// The sortable fields of a Proxmox endpoint.
    ProxmoxEndpointOrderField
);
template_filter!(
    graphql_filter,
    /// Filters catalog entries.
    CloudImageTemplateFilter
);
template_sort!(
    graphql_order,
    /// The sortable fields of a catalog entry.
    CloudImageTemplateOrderField
);
user_filter!(
    graphql_filter,
    /// Filters users.
    UserFilter
);
user_sort!(
    graphql_order,
    /// The sortable fields of a user.
    UserOrderField
);

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
            async fn $one(&self, ctx: &Context<'_>, id: ID) -> Option<$node> {
                nullable(ctx, async move {
                    let id = ids::parse::<$entity::Entity>(&id, "id")?;
                    let row = crate::registry::read::get::<$entity::Entity>(
                        crate::graphql::db(ctx),
                        &request(ctx).scope,
                        id,
                    )
                    .await?;
                    // Nullable, so that a missing one nulls only this field.
                    Ok(Some(row.into()))
                })
                .await
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
                let filter = crate::graphql::lookups::filter_of(filter, $filter::into_filter)?;
                let args = crate::registry::page::PageArgs::new(
                    first.map(i64::from),
                    after,
                    last.map(i64::from),
                    before,
                )?;
                let page = crate::registry::read::list::<$entity::Entity>(
                    crate::graphql::db(ctx),
                    &request(ctx).scope,
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
        let user = request.loaders.users().load_one(Id::of_row(id)).await?;
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
