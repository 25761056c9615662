//! Image definitions: their fields, sort keys and visibility, and (with the rules of SPEC §1.1,
//! checked on a `draft`) their writes.

mod draft;

use entity::{
    cluster,
    enums::{BuilderType, OsFamily, ProvisionerRecipe},
    image_build, image_definition, image_definition_tenant, proxmox_endpoint,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryResult, Select, sea_query::Expr,
};
use serde_json::Value as Json;

use super::{
    Ctx,
    filter::Filter,
    id::Id,
    page::{Page, PageArgs, Sort},
    read::{self, Audience, Readable},
    rows::Columns,
    tx::begin_write,
    visibility,
};
use crate::{
    auth::{Action, Scope, policy},
    error::{Error, FieldErrors, conflict_on_reference},
    filter_fields, sort_fields,
};
use draft::Draft;

/// The filterable fields of a definition (SPEC §3.1), declared once: see `registry::filter`.
#[macro_export]
macro_rules! definition_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            DefinitionField for image_definition search [Name, Description] {
                /// Id.
                Id id: Id(image_definition) = column(Id, not_null),
                /// Name.
                Name name: Text = column(Name, not_null),
                /// Slug.
                Slug slug: Text = column(Slug, not_null),
                /// Enabled.
                Enabled enabled: Flag = column(Enabled, not_null),
                /// Builder type.
                BuilderType builder_type: Choice(BuilderType) = column(BuilderType, not_null),
                /// Endpoint id.
                ProxmoxEndpoint proxmox_endpoint: Id(proxmox_endpoint) = column(ProxmoxEndpointId, not_null),
                /// Target cluster id.
                TargetCluster target_cluster: Id(cluster) = column(TargetClusterId, nullable),
                /// Target node.
                TargetNode target_node: Text = column(TargetNode, not_null),
                /// Operating system family.
                OsFamily os_family: Choice(OsFamily) = column(OsFamily, not_null),
                /// Provisioning recipe.
                ProvisionerRecipe provisioner_recipe: Choice(ProvisionerRecipe) = column(ProvisionerRecipe, not_null),
                /// A tenant id among `allowedTenants`; `isNull: true` for unrestricted definitions.
                Tenant tenant: Id(tenant) = through(Id, image_definition_tenant, DefinitionId, TenantId),
                /// Creation time.
                Created created: Time = column(Created, not_null),
                /// Last change.
                LastUpdated last_updated: Time = column(LastUpdated, not_null),
            }
        }
    };
}

/// The sort keys of a definition, declared once: see [`sort_fields!`](crate::sort_fields).
#[macro_export]
macro_rules! definition_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            DefinitionSort for image_definition {
                /// Id.
                Id = (Id, "id", not_null),
                /// Name.
                Name = (Name, "name", not_null),
                /// Slug.
                Slug = (Slug, "slug", not_null),
                /// Enabled.
                Enabled = (Enabled, "enabled", not_null),
                /// Builder type.
                BuilderType = (BuilderType, "builder_type", not_null),
                /// Target node.
                TargetNode = (TargetNode, "target_node", not_null),
                /// Operating system family.
                OsFamily = (OsFamily, "os_family", not_null),
                /// Operating system release.
                OsRelease = (OsRelease, "os_release", not_null),
                /// Creation time.
                Created = (Created, "created", not_null),
                /// Last change.
                LastUpdated = (LastUpdated, "last_updated", not_null),
            }
        }
    };
}

definition_filter!(
    filter_fields,
    /// The filterable fields of a definition (SPEC §3.1); `q` searches name and description.
);
definition_sort!(sort_fields, /// The sortable fields of a definition.
);

/// What a page of definitions reads, in its own statement: which columns of its definitions,
/// and which of the rows they point at (see [`Columns`]: some columns make placeholders of the
/// others).
#[derive(Clone, Copy, Debug)]
pub struct Along {
    /// The columns of the page's definitions.
    pub definitions: Columns,
    /// Each definition's endpoint (for a scope that may read endpoints), with these columns.
    pub endpoints: Option<Columns>,
    /// Each definition's target cluster (for a scope that may read clusters), with these
    /// columns.
    pub clusters: Option<Columns>,
}

/// A page of definitions and the reference rows they point at, read in one statement.
pub struct PageAlong {
    /// The page.
    pub page: Page<image_definition::Model>,
    /// The endpoints of its definitions, when asked for and readable.
    pub endpoints: Vec<proxmox_endpoint::Model>,
    /// The target clusters of its definitions, when asked for and readable.
    pub clusters: Vec<cluster::Model>,
}

/// One page of the visible definitions matching `filter`, in `sort`, with the to-one relations
/// `along` asks for (and `scope` may read) LEFT JOINed into the page's statement.
pub async fn list_along(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<DefinitionField>,
    sort: Vec<Sort<DefinitionSort>>,
    args: &PageArgs,
    along: Along,
) -> Result<PageAlong, Error> {
    const ENDPOINT: &str = "pgw_endpoint";
    const CLUSTER: &str = "pgw_cluster";
    let endpoints = along
        .endpoints
        .filter(|_| read::may_read::<proxmox_endpoint::Entity>(scope).is_ok());
    let clusters = along
        .clusters
        .filter(|_| read::may_read::<cluster::Entity>(scope).is_ok());
    let backend = db.get_database_backend();
    let join = |select: Select<image_definition::Entity>| {
        let select = read::join_one::<_, proxmox_endpoint::Entity>(
            select,
            image_definition::Column::ProxmoxEndpointId,
            proxmox_endpoint::Column::Id,
            (ENDPOINT, endpoints),
            backend,
        );
        read::join_one::<_, cluster::Entity>(
            select,
            image_definition::Column::TargetClusterId,
            cluster::Column::Id,
            (CLUSTER, clusters),
            backend,
        )
    };
    // The joined columns follow the definition's (from `at` on), in the order of `join`.
    let also = |row: &QueryResult, endpoint_at: usize| {
        let cluster_at = endpoint_at + read::width::<proxmox_endpoint::Model>(endpoints);
        Ok((
            read::joined_row::<proxmox_endpoint::Entity>(row, endpoint_at, (ENDPOINT, endpoints))?,
            read::joined_row::<cluster::Entity>(row, cluster_at, (CLUSTER, clusters))?,
        ))
    };
    let (page, rows) = read::list_also::<image_definition::Entity, _>(
        db,
        scope,
        filter,
        sort,
        args,
        along.definitions,
        join,
        also,
    )
    .await?;
    let mut result = PageAlong {
        page,
        endpoints: Vec::new(),
        clusters: Vec::new(),
    };
    for (endpoint, cluster) in rows {
        result.endpoints.extend(endpoint);
        result.clusters.extend(cluster);
    }
    Ok(result)
}

impl Readable for image_definition::Entity {
    type Field = DefinitionField;
    type Sort = DefinitionSort;
    const AUDIENCE: Audience = Audience::Everyone;

    fn rows(scope: &Scope) -> Option<Expr> {
        visibility::definitions(
            scope,
            Expr::col((image_definition::Entity, image_definition::Column::Id)),
        )
    }

    fn default_sort() -> Vec<Sort<DefinitionSort>> {
        vec![Sort {
            field: DefinitionSort::Name,
            desc: false,
        }]
    }
}

/// A change to a definition: `None` keeps a field; for nullable fields `Some(None)` clears it.
/// Creation applies the same patch to the defaults, and names what is missing.
#[derive(Clone, Debug, Default)]
pub struct DefinitionPatch {
    /// `name`
    pub name: Option<String>,
    /// `slug`
    pub slug: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `enabled`
    pub enabled: Option<bool>,
    /// `builder_type`
    pub builder_type: Option<BuilderType>,
    /// `proxmox_endpoint`
    pub proxmox_endpoint_id: Option<i32>,
    /// `target_cluster`
    pub target_cluster_id: Option<Option<i32>>,
    /// `target_node`
    pub target_node: Option<String>,
    /// `source_template_vmid`
    pub source_template_vmid: Option<Option<i32>>,
    /// `iso_url`
    pub iso_url: Option<Option<String>>,
    /// `iso_checksum`
    pub iso_checksum: Option<String>,
    /// `iso_storage`
    pub iso_storage: Option<String>,
    /// `default_storage`
    pub default_storage: Option<String>,
    /// `default_bridge`
    pub default_bridge: Option<String>,
    /// `os_family`
    pub os_family: Option<OsFamily>,
    /// `os_release`
    pub os_release: Option<String>,
    /// `default_ciuser`
    pub default_ciuser: Option<String>,
    /// `provisioner_recipe`
    pub provisioner_recipe: Option<ProvisionerRecipe>,
    /// `default_variables`
    pub default_variables: Option<Json>,
    /// `allowed_tenants`
    pub allowed_tenant_ids: Option<Vec<i32>>,
}

/// The tenants a definition is restricted to.
async fn tenants_of(db: &impl ConnectionTrait, definition: i32) -> Result<Vec<i32>, Error> {
    Ok(image_definition_tenant::Entity::find()
        .filter(image_definition_tenant::Column::DefinitionId.eq(definition))
        .all(db)
        .await?
        .into_iter()
        .map(|link| link.tenant_id)
        .collect())
}

/// Creates a definition (SPEC §1.1): every violation is reported at once.
pub async fn create(
    ctx: Ctx<'_>,
    patch: DefinitionPatch,
) -> Result<image_definition::Model, Error> {
    ctx.principal.authorize(Action::ManageDefinitions)?;
    let mut missing = FieldErrors::default();
    for (field, given) in [
        ("os_family", patch.os_family.is_some()),
        ("provisioner_recipe", patch.provisioner_recipe.is_some()),
        ("proxmox_endpoint_id", patch.proxmox_endpoint_id.is_some()),
    ] {
        if !given {
            missing.add(field, "is required");
        }
    }
    let draft = Draft::blank(ctx.clock.now()).apply(patch);
    policy::may_manage_definition(ctx.principal, &draft.tenants)?;
    let txn = begin_write(ctx.db).await?;
    let mut errors = draft.check();
    errors.merge(missing);
    errors.merge(draft.check_references(&txn).await?);
    errors.into_result()?;
    draft.check_unique(&txn).await?;
    let saved = draft.save(&txn, ctx.clock.now(), true, true).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Updates a definition with patch semantics; the builder rules hold for the merged result.
pub async fn update(
    ctx: Ctx<'_>,
    id: Id<image_definition::Entity>,
    patch: DefinitionPatch,
) -> Result<image_definition::Model, Error> {
    ctx.principal.authorize(Action::ManageDefinitions)?;
    let txn = begin_write(ctx.db).await?;
    let current = read::get::<image_definition::Entity>(&txn, &ctx.principal.scope(), id).await?;
    let tenants = tenants_of(&txn, current.id).await?;
    policy::may_manage_definition(ctx.principal, &tenants)?;
    let tenants_changed = patch.allowed_tenant_ids.is_some();
    let draft = Draft {
        row: current,
        tenants,
    }
    .apply(patch);
    policy::may_manage_definition(ctx.principal, &draft.tenants)?;
    let mut errors = draft.check();
    errors.merge(draft.check_references(&txn).await?);
    errors.into_result()?;
    draft.check_unique(&txn).await?;
    let saved = draft
        .save(&txn, ctx.clock.now(), false, tenants_changed)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a definition that has no build (build history is never lost).
pub async fn delete(
    ctx: Ctx<'_>,
    id: Id<image_definition::Entity>,
) -> Result<Id<image_definition::Entity>, Error> {
    ctx.principal.authorize(Action::ManageDefinitions)?;
    let txn = begin_write(ctx.db).await?;
    let current = read::get::<image_definition::Entity>(&txn, &ctx.principal.scope(), id).await?;
    policy::may_manage_definition(ctx.principal, &tenants_of(&txn, current.id).await?)?;
    let builds = image_build::Entity::find()
        .filter(image_build::Column::DefinitionId.eq(current.id))
        .count(&txn)
        .await?;
    if builds > 0 {
        return Err(Error::Conflict(FieldErrors::one(
            "id",
            format!("has {builds} builds; build history is never deleted (disable it instead)"),
        )));
    }
    image_definition::Entity::delete_by_id(current.id)
        .exec(&txn)
        .await
        .map_err(|err| {
            conflict_on_reference(err, "id", "has builds; build history is never deleted")
        })?;
    txn.commit().await?;
    Ok(Id::of(&current))
}
