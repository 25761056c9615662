//! `ImageDefinition`: its type, filter and ordering inputs, and its queries; its mutations are
//! in `inputs`.

mod inputs;

pub use inputs::{CreateImageDefinitionInput, DefinitionMutation, UpdateImageDefinitionInput};

use async_graphql::{ComplexObject, Context, ID, Object, Result, SimpleObject};
use entity::{cluster, image_definition, proxmox_endpoint};

use super::{
    builds::{ImageBuild, ImageBuildFilter, ImageBuildOrderField},
    connection::{Connection, Count, Node},
    db,
    enums::{BuilderType, OsFamily, ProvisionerRecipe},
    error::{nullable, related},
    ids,
    loaders::{ArgsKey, latest_build_query},
    lookups::{OrderBy, filter_of, sort},
    projection::{self, Reads},
    reference::{Cluster, ProxmoxEndpoint, Tenant},
    request,
    scalars::{DateTime, Json},
};
use crate::{
    definition_filter, definition_sort,
    error::Error,
    graphql_filter, graphql_order, reads,
    registry::{
        definitions::{self, Along, DefinitionField, DefinitionSort},
        filter::{Filter, Lookup, Scalar},
        id::Id,
        page::PageArgs,
        read,
        relations::{BuildsQuery, Owner},
        template,
    },
};

/// A recipe that builds a Proxmox VM template (SPEC §1.1).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ImageDefinition {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<image_definition::Entity>,
    /// Unique display name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// A disabled definition cannot be built.
    pub enabled: bool,
    /// Clone or ISO.
    pub builder_type: BuilderType,
    /// Proxmox node where builds run.
    pub target_node: String,
    /// VMID of the template to clone.
    pub source_template_vmid: Option<i32>,
    /// ISO to install from.
    pub iso_url: Option<String>,
    /// `sha256:<64 hex>` or empty.
    pub iso_checksum: String,
    /// `<storage>:iso/<file>` or empty; wins over `isoUrl`.
    pub iso_storage: String,
    /// Storage for the output disk.
    pub default_storage: String,
    /// Network bridge.
    pub default_bridge: String,
    /// Operating system family.
    pub os_family: OsFamily,
    /// Operating system release.
    pub os_release: String,
    /// Default cloud-init user.
    pub default_ciuser: String,
    /// Provisioning recipe.
    pub provisioner_recipe: ProvisionerRecipe,
    /// Default Packer variables.
    pub default_variables: Json,
    /// Creation time.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: Id<image_definition::Entity>,
    /// Internal: the `proxmox_endpoint_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub proxmox_endpoint_id: Id<proxmox_endpoint::Entity>,
    /// Internal: the `target_cluster_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub target_cluster_id: Option<Id<cluster::Entity>>,
}

impl From<image_definition::Model> for ImageDefinition {
    fn from(m: image_definition::Model) -> Self {
        ImageDefinition {
            id: ids::GlobalId::of_row(m.id),
            row_id: Id::of(&m),
            name: m.name,
            slug: m.slug,
            description: m.description,
            enabled: m.enabled,
            builder_type: m.builder_type.into(),
            target_node: m.target_node,
            source_template_vmid: m.source_template_vmid,
            iso_url: m.iso_url,
            iso_checksum: m.iso_checksum,
            iso_storage: m.iso_storage,
            default_storage: m.default_storage,
            default_bridge: m.default_bridge,
            os_family: m.os_family.into(),
            os_release: m.os_release,
            default_ciuser: m.default_ciuser,
            provisioner_recipe: m.provisioner_recipe.into(),
            default_variables: Json::from(m.default_variables),
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            proxmox_endpoint_id: Id::of_row(m.proxmox_endpoint_id),
            target_cluster_id: m.target_cluster_id.map(Id::of_row),
        }
    }
}

/// The columns each field of an `ImageDefinition` reads (see [`projection`](super::projection)).
pub const READS: Reads = reads!(image_definition {
    "id" => [Id],
    "name" => [Name],
    "slug" => [Slug],
    "description" => [Description],
    "enabled" => [Enabled],
    "builderType" => [BuilderType],
    "targetNode" => [TargetNode],
    "sourceTemplateVmid" => [SourceTemplateVmid],
    "isoUrl" => [IsoUrl],
    "isoChecksum" => [IsoChecksum],
    "isoStorage" => [IsoStorage],
    "defaultStorage" => [DefaultStorage],
    "defaultBridge" => [DefaultBridge],
    "osFamily" => [OsFamily],
    "osRelease" => [OsRelease],
    "defaultCiuser" => [DefaultCiuser],
    "provisionerRecipe" => [ProvisionerRecipe],
    "defaultVariables" => [DefaultVariables],
    "created" => [Created],
    "lastUpdated" => [LastUpdated],
    "proxmoxEndpoint" => [ProxmoxEndpointId],
    "targetCluster" => [TargetClusterId],
    "packerTemplate" => [],
    "allowedTenants" => [],
    "builds" => [],
    "latestBuild" => [],
});

impl Node for ImageDefinition {
    const NAME: &'static str = "ImageDefinition";
}

#[ComplexObject]
impl ImageDefinition {
    /// Where builds run.
    async fn proxmox_endpoint(&self, ctx: &Context<'_>) -> Result<ProxmoxEndpoint> {
        let loaders = &request(ctx).loaders;
        let endpoint = loaders
            .endpoints()
            .load_one(self.proxmox_endpoint_id)
            .await?;
        Ok(endpoint.ok_or(Error::NotFound)?.into())
    }

    /// The cluster that receives the resulting template.
    async fn target_cluster(&self, ctx: &Context<'_>) -> Option<Cluster> {
        related(
            ctx,
            request(ctx)
                .loaders
                .clusters()
                .load_optional(self.target_cluster_id),
        )
        .await
    }

    /// The HCL2 Packer template a build of it runs, with its default variables (SPEC §7.4; a
    /// build's own `packerTemplate` has the build's values).
    async fn packer_template(&self, ctx: &Context<'_>) -> Result<String> {
        let loaders = &request(ctx).loaders;
        let definition = loaders
            .definitions()
            .load_one(self.row_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(template::render(&definition, None)?)
    }

    /// The tenants that may use it; empty means every tenant.
    async fn allowed_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        let tenants = request(ctx)
            .loaders
            .tenant_lists()
            .load_one(Owner::Definition(self.row_id))
            .await?;
        Ok(tenants
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Its builds (newest first unless ordered otherwise).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn builds(
        &self,
        ctx: &Context<'_>,
        // Boxed: an `ImageBuildFilter` is ~1.9 KB, and the future of any field of a definition
        // is as large as the largest field's (this one's, holding its arguments); each field's
        // future is moved into an allocation of its own, so unboxed, every `id` and `name` of a
        // page of definitions was a 2.2 KB copy.
        filter: Option<Box<ImageBuildFilter>>,
        order_by: Option<Vec<OrderBy<ImageBuildOrderField>>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<ImageBuild>> {
        let loaders = &request(ctx).loaders;
        let filter = filter_of(filter, |filter| filter.into_filter())?;
        let query = BuildsQuery {
            filter: filter.clone(),
            sort: sort(order_by),
            page: PageArgs::new(first.map(i64::from), after, last.map(i64::from), before)?,
        };
        let page = loaders
            .build_pages()
            .load_one((self.row_id, ArgsKey::new(query)))
            .await?
            .ok_or(Error::NotFound)?;
        let count = Count::Batched((self.row_id, ArgsKey::new(filter)));
        Ok(Connection::new(page, count, ImageBuild::from))
    }

    /// Its most recently queued build.
    async fn latest_build(&self, ctx: &Context<'_>) -> Option<ImageBuild> {
        nullable(ctx, async {
            let loaders = &request(ctx).loaders;
            let page = loaders
                .build_pages()
                .load_one((self.row_id, ArgsKey::new(latest_build_query())))
                .await?;
            Ok(page
                .and_then(|p| p.rows.into_iter().next())
                .map(|(_, b)| b.into()))
        })
        .await
    }
}

definition_filter!(
    graphql_filter,
    /// Filters definitions; every field set must match.
    ImageDefinitionFilter
);
definition_sort!(
    graphql_order,
    /// The sortable fields of a definition.
    ImageDefinitionOrderField
);

/// Queries of definitions.
#[derive(Default)]
pub struct DefinitionQuery;

#[Object]
impl DefinitionQuery {
    /// One definition, by `id` or by `slug`. Nullable, so that a missing one (`NOT_FOUND`)
    /// nulls only this field, not the whole response.
    async fn image_definition(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> Option<ImageDefinition> {
        nullable(ctx, async move {
            let scope = &request(ctx).scope;
            let definition = match (id, slug) {
                (Some(id), None) => {
                    let id = ids::parse(&id, "id")?;
                    // Only the columns its fields read (see `projection`).
                    let columns = projection::columns(READS, &[ctx.field()]);
                    read::get_some::<image_definition::Entity>(db(ctx), scope, id, columns).await?
                }
                (None, Some(slug)) => {
                    let filter =
                        Filter::Field(DefinitionField::Slug, Lookup::Eq(Scalar::Text(slug)));
                    read::list::<image_definition::Entity>(
                        db(ctx),
                        scope,
                        &filter,
                        Vec::new(),
                        &PageArgs::first(1),
                    )
                    .await?
                    .rows
                    .into_iter()
                    .next()
                    .map(|(_, row)| row)
                    .ok_or(Error::NotFound)?
                }
                _ => return Err(Error::bad_input("id", "give exactly one of id and slug").into()),
            };
            Ok(Some(definition.into()))
        })
        .await
    }

    /// Definitions, by name unless ordered otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn image_definitions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ImageDefinitionFilter>,
        order_by: Option<Vec<OrderBy<ImageDefinitionOrderField>>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<ImageDefinition>> {
        let filter = filter_of(filter, ImageDefinitionFilter::into_filter)?;
        let args = PageArgs::new(first.map(i64::from), after, last.map(i64::from), before)?;
        // The page's statement selects the columns its nodes' fields read, and brings the
        // to-one relations they ask for, whole, for the loaders their fields read (see
        // `projection`).
        let nodes = projection::nodes(ctx);
        let along = Along {
            definitions: projection::columns(READS, &nodes),
            endpoints: projection::whole(&nodes, "proxmoxEndpoint"),
            clusters: projection::whole(&nodes, "targetCluster"),
        };
        let request = request(ctx);
        let result = definitions::list_along(
            db(ctx),
            &request.scope,
            &filter,
            sort(order_by),
            &args,
            along,
        )
        .await?;
        let loaders = &request.loaders;
        loaders
            .endpoints()
            .feed_many(result.endpoints.into_iter().map(|e| (Id::of(&e), e)));
        loaders
            .clusters()
            .feed_many(result.clusters.into_iter().map(|c| (Id::of(&c), c)));
        Ok(Connection::of(result.page, ImageDefinition::from))
    }
}
