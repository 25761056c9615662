//! `ImageDefinition`: its type, filter and ordering inputs, and its queries.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, Result,
    SimpleObject,
};
use chrono::{DateTime, Utc};
use entity::image_definition;

use super::{
    builds::{ImageBuild, ImageBuildFilter, ImageBuildOrderField},
    connection::{Connection, Count, Node},
    db,
    enums::{BuilderType, OsFamily, ProvisionerRecipe},
    loaders::{ArgsKey, latest_build_query},
    lookups::{
        BooleanLookup, ChoiceLookup, DateTimeLookup, IdLookup, OrderBy, StringLookup, filter_of,
        parse_id, sort,
    },
    patch::Inputs,
    reader,
    reference::{Cluster, ProxmoxEndpoint, Tenant},
    reference_reader, writer,
};
use crate::{
    error::Error,
    filter_input,
    registry::{
        self,
        definitions::{DefinitionField, DefinitionPatch},
        page::PageArgs,
        read::{self, id_of},
        relations::{BuildsQuery, TenantLink},
    },
};

/// A recipe that builds a Proxmox VM template (SPEC §1.1).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ImageDefinition {
    /// Id.
    pub id: ID,
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
    pub default_variables: Json<serde_json::Value>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: i64,
    /// Internal: the `proxmox_endpoint_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub proxmox_endpoint_id: i64,
    /// Internal: the `target_cluster_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub target_cluster_id: Option<i64>,
}

impl From<image_definition::Model> for ImageDefinition {
    fn from(m: image_definition::Model) -> Self {
        ImageDefinition {
            id: ID::from(m.id.to_string()),
            row_id: id_of(&m),
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
            default_variables: Json(m.default_variables),
            created: m.created,
            last_updated: m.last_updated,
            proxmox_endpoint_id: i64::from(m.proxmox_endpoint_id),
            target_cluster_id: m.target_cluster_id.map(i64::from),
        }
    }
}

impl Node for ImageDefinition {
    const NAME: &'static str = "ImageDefinition";
}

#[ComplexObject]
impl ImageDefinition {
    /// Where builds run.
    async fn proxmox_endpoint(&self, ctx: &Context<'_>) -> Result<ProxmoxEndpoint> {
        let loaders = &reference_reader(ctx)?.loaders;
        let endpoint = loaders.endpoints.load_one(self.proxmox_endpoint_id).await?;
        Ok(endpoint.ok_or(Error::NotFound)?.into())
    }

    /// The cluster that receives the resulting template.
    async fn target_cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        let Some(id) = self.target_cluster_id else {
            return Ok(None);
        };
        let cluster = reference_reader(ctx)?.loaders.clusters.load_one(id).await?;
        Ok(cluster.map(Into::into))
    }

    /// The tenants that may use it; empty means every tenant.
    async fn allowed_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        let loaders = &reference_reader(ctx)?.loaders;
        let tenants = loaders
            .tenant_lists
            .load_one((TenantLink::Definition, self.row_id))
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
        filter: Option<ImageBuildFilter>,
        order_by: Option<Vec<OrderBy<ImageBuildOrderField>>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<ImageBuild>> {
        let loaders = &reader(ctx)?.loaders;
        let filter = filter_of(filter, ImageBuildFilter::into_filter)?;
        let query = BuildsQuery {
            filter: filter.clone(),
            sort: sort(order_by),
            page: PageArgs::new(first.map(i64::from), after, last.map(i64::from), before)?,
        };
        let page = loaders
            .build_pages
            .load_one((self.row_id, ArgsKey::new(query)))
            .await?
            .ok_or(Error::NotFound)?;
        let count = Count::Batched((self.row_id, ArgsKey::new(filter)));
        Ok(Connection::new(page, count, ImageBuild::from))
    }

    /// Its most recently queued build.
    async fn latest_build(&self, ctx: &Context<'_>) -> Result<Option<ImageBuild>> {
        let loaders = &reader(ctx)?.loaders;
        let page = loaders
            .build_pages
            .load_one((self.row_id, ArgsKey::new(latest_build_query())))
            .await?;
        Ok(page
            .and_then(|p| p.rows.into_iter().next())
            .map(|(_, b)| b.into()))
    }
}

filter_input! {
    /// Filters definitions; every field set must match.
    pub struct ImageDefinitionFilter => DefinitionField {
        /// Id.
        id: IdLookup => Id,
        /// Name.
        name: StringLookup => Name,
        /// Slug.
        slug: StringLookup => Slug,
        /// Enabled.
        enabled: BooleanLookup => Enabled,
        /// Builder type.
        builder_type: ChoiceLookup<BuilderType> => BuilderType,
        /// Endpoint id.
        proxmox_endpoint: IdLookup => ProxmoxEndpoint,
        /// Target cluster id.
        target_cluster: IdLookup => TargetCluster,
        /// Target node.
        target_node: StringLookup => TargetNode,
        /// Operating system family.
        os_family: ChoiceLookup<OsFamily> => OsFamily,
        /// Provisioning recipe.
        provisioner_recipe: ChoiceLookup<ProvisionerRecipe> => ProvisionerRecipe,
        /// A tenant id among `allowedTenants`; `isNull: true` for unrestricted definitions.
        tenant: IdLookup => Tenant,
        /// Creation time.
        created: DateTimeLookup => Created,
        /// Last change.
        last_updated: DateTimeLookup => LastUpdated,
    }
}

/// The sortable fields of a definition.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::registry::definitions::DefinitionSort")]
pub enum ImageDefinitionOrderField {
    /// Id.
    Id,
    /// Name.
    Name,
    /// Slug.
    Slug,
    /// Enabled.
    Enabled,
    /// Builder type.
    BuilderType,
    /// Target node.
    TargetNode,
    /// Operating system family.
    OsFamily,
    /// Operating system release.
    OsRelease,
    /// Creation time.
    Created,
    /// Last change.
    LastUpdated,
}

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
    ) -> Result<Option<ImageDefinition>> {
        let request = reader(ctx)?;
        let definition = match (id, slug) {
            (Some(id), None) => {
                read::get::<image_definition::Entity>(db(ctx), &request.scope, parse_id(&id, "id")?)
                    .await?
            }
            (None, Some(slug)) => {
                let filter = crate::registry::filter::Filter::Field(
                    DefinitionField::Slug,
                    crate::registry::filter::Lookup::Eq(slug.into()),
                );
                read::list::<image_definition::Entity>(
                    db(ctx),
                    &request.scope,
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
        let request = reader(ctx)?;
        let filter = filter_of(filter, ImageDefinitionFilter::into_filter)?;
        let args = PageArgs::new(first.map(i64::from), after, last.map(i64::from), before)?;
        let page = read::list::<image_definition::Entity>(
            db(ctx),
            &request.scope,
            &filter,
            sort(order_by),
            &args,
        )
        .await?;
        Ok(Connection::of(page, ImageDefinition::from))
    }
}

/// A new definition (SPEC §1.1); defaults: `enabled` true, `builderType` PROXMOX_CLONE,
/// `defaultBridge` vmbr0, `defaultCiuser` ubuntu, `defaultVariables` {}.
#[derive(InputObject)]
pub struct CreateImageDefinitionInput {
    /// Unique display name.
    pub name: String,
    /// Unique URL-friendly name.
    pub slug: String,
    /// Free text.
    pub description: Option<String>,
    /// A disabled definition cannot be built.
    pub enabled: Option<bool>,
    /// Clone or ISO.
    pub builder_type: Option<BuilderType>,
    /// Where builds run.
    pub proxmox_endpoint_id: ID,
    /// The cluster that receives the template (required by PROXMOX_CLONE).
    pub target_cluster_id: Option<ID>,
    /// Proxmox node where builds run.
    pub target_node: String,
    /// VMID of the template to clone (required by PROXMOX_CLONE).
    pub source_template_vmid: Option<i32>,
    /// ISO to install from.
    pub iso_url: Option<String>,
    /// `sha256:<64 hex>`; required with `isoUrl`.
    pub iso_checksum: Option<String>,
    /// `<storage>:iso/<file>`.
    pub iso_storage: Option<String>,
    /// Storage for the output disk.
    pub default_storage: String,
    /// Network bridge.
    pub default_bridge: Option<String>,
    /// Operating system family.
    pub os_family: OsFamily,
    /// Operating system release.
    pub os_release: String,
    /// Default cloud-init user.
    pub default_ciuser: Option<String>,
    /// Provisioning recipe.
    pub provisioner_recipe: ProvisionerRecipe,
    /// Default Packer variables (SPEC §1.6).
    pub default_variables: Option<Json<serde_json::Value>>,
    /// Tenants that may use it; empty means every tenant.
    pub allowed_tenant_ids: Option<Vec<ID>>,
}

/// A change to a definition: absent fields are unchanged, `null` clears a nullable field.
#[derive(InputObject, Default)]
pub struct UpdateImageDefinitionInput {
    /// Unique display name.
    pub name: MaybeUndefined<String>,
    /// Unique URL-friendly name.
    pub slug: MaybeUndefined<String>,
    /// Free text.
    pub description: MaybeUndefined<String>,
    /// A disabled definition cannot be built.
    pub enabled: MaybeUndefined<bool>,
    /// Clone or ISO.
    pub builder_type: MaybeUndefined<BuilderType>,
    /// Where builds run.
    pub proxmox_endpoint_id: MaybeUndefined<ID>,
    /// The cluster that receives the template.
    pub target_cluster_id: MaybeUndefined<ID>,
    /// Proxmox node where builds run.
    pub target_node: MaybeUndefined<String>,
    /// VMID of the template to clone.
    pub source_template_vmid: MaybeUndefined<i32>,
    /// ISO to install from.
    pub iso_url: MaybeUndefined<String>,
    /// `sha256:<64 hex>`.
    pub iso_checksum: MaybeUndefined<String>,
    /// `<storage>:iso/<file>`.
    pub iso_storage: MaybeUndefined<String>,
    /// Storage for the output disk.
    pub default_storage: MaybeUndefined<String>,
    /// Network bridge.
    pub default_bridge: MaybeUndefined<String>,
    /// Operating system family.
    pub os_family: MaybeUndefined<OsFamily>,
    /// Operating system release.
    pub os_release: MaybeUndefined<String>,
    /// Default cloud-init user.
    pub default_ciuser: MaybeUndefined<String>,
    /// Provisioning recipe.
    pub provisioner_recipe: MaybeUndefined<ProvisionerRecipe>,
    /// Default Packer variables.
    pub default_variables: MaybeUndefined<Json<serde_json::Value>>,
    /// Tenants that may use it; empty means every tenant.
    pub allowed_tenant_ids: MaybeUndefined<Vec<ID>>,
}

impl CreateImageDefinitionInput {
    fn into_patch(self) -> Result<DefinitionPatch, Error> {
        let mut inputs = Inputs::default();
        let patch = DefinitionPatch {
            proxmox_endpoint_id: inputs.id("proxmox_endpoint_id", &self.proxmox_endpoint_id),
            target_cluster_id: Some(
                self.target_cluster_id
                    .and_then(|id| inputs.id("target_cluster_id", &id)),
            ),
            allowed_tenant_ids: Some(inputs.ids(
                "allowed_tenant_ids",
                &self.allowed_tenant_ids.unwrap_or_default(),
            )),
            name: Some(self.name),
            slug: Some(self.slug),
            description: self.description,
            enabled: self.enabled,
            builder_type: self.builder_type.map(Into::into),
            target_node: Some(self.target_node),
            source_template_vmid: Some(self.source_template_vmid),
            iso_url: Some(self.iso_url),
            iso_checksum: self.iso_checksum,
            iso_storage: self.iso_storage,
            default_storage: Some(self.default_storage),
            default_bridge: self.default_bridge,
            os_family: Some(self.os_family.into()),
            os_release: Some(self.os_release),
            default_ciuser: self.default_ciuser,
            provisioner_recipe: Some(self.provisioner_recipe.into()),
            default_variables: self.default_variables.map(|v| v.0),
        };
        inputs.finish()?;
        Ok(patch)
    }
}

impl UpdateImageDefinitionInput {
    fn into_patch(self) -> Result<DefinitionPatch, Error> {
        let mut i = Inputs::default();
        let endpoint = i.keep("proxmox_endpoint_id", self.proxmox_endpoint_id);
        let cluster = i.nullable(self.target_cluster_id);
        let tenants = i.keep("allowed_tenant_ids", self.allowed_tenant_ids);
        let patch = DefinitionPatch {
            proxmox_endpoint_id: endpoint.and_then(|id| i.id("proxmox_endpoint_id", &id)),
            target_cluster_id: cluster.map(|id| id.and_then(|id| i.id("target_cluster_id", &id))),
            allowed_tenant_ids: tenants.map(|ids| i.ids("allowed_tenant_ids", &ids)),
            name: i.keep("name", self.name),
            slug: i.keep("slug", self.slug),
            description: i.keep("description", self.description),
            enabled: i.keep("enabled", self.enabled),
            builder_type: i.keep("builder_type", self.builder_type).map(Into::into),
            target_node: i.keep("target_node", self.target_node),
            source_template_vmid: i.nullable(self.source_template_vmid),
            iso_url: i.nullable(self.iso_url),
            iso_checksum: i.keep("iso_checksum", self.iso_checksum),
            iso_storage: i.keep("iso_storage", self.iso_storage),
            default_storage: i.keep("default_storage", self.default_storage),
            default_bridge: i.keep("default_bridge", self.default_bridge),
            os_family: i.keep("os_family", self.os_family).map(Into::into),
            os_release: i.keep("os_release", self.os_release),
            default_ciuser: i.keep("default_ciuser", self.default_ciuser),
            provisioner_recipe: i
                .keep("provisioner_recipe", self.provisioner_recipe)
                .map(Into::into),
            default_variables: i
                .keep("default_variables", self.default_variables)
                .map(|v| v.0),
        };
        i.finish()?;
        Ok(patch)
    }
}

/// Mutations of definitions.
#[derive(Default)]
pub struct DefinitionMutation;

#[Object]
impl DefinitionMutation {
    /// Creates a definition; every rule violation is reported at once in `extensions.fields`.
    async fn create_image_definition(
        &self,
        ctx: &Context<'_>,
        input: CreateImageDefinitionInput,
    ) -> Result<ImageDefinition> {
        let patch = input.into_patch()?;
        Ok(registry::definitions::create(writer(ctx), patch)
            .await?
            .into())
    }

    /// Changes a definition; the builder rules are checked against the merged result.
    async fn update_image_definition(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateImageDefinitionInput,
    ) -> Result<ImageDefinition> {
        let id = parse_id(&id, "id")?;
        let patch = input.into_patch()?;
        Ok(registry::definitions::update(writer(ctx), id, patch)
            .await?
            .into())
    }

    /// Deletes a definition without builds; one with builds is a `CONFLICT`.
    async fn delete_image_definition(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = parse_id(&id, "id")?;
        let deleted = registry::definitions::delete(writer(ctx), id).await?;
        Ok(ID::from(deleted.to_string()))
    }
}
