//! Image definitions: reads, and (with the rules of SPEC §1.1) writes.

use entity::{
    cluster,
    enums::{BuilderType, OsFamily, ProvisionerRecipe},
    image_build, image_definition, image_definition_tenant, proxmox_endpoint, tenant,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, Set, sea_query::Expr,
};
use serde_json::Value as Json;

use super::{
    Ctx, now,
    page::Sort,
    read::{self, Readable},
    rules::{Checks, MAX_DESCRIPTION_BYTES},
    tx::begin_write,
    visibility::{self, Scope},
};
use crate::{
    auth::{Action, policy},
    error::{Error, FieldErrors, conflict_on_reference, conflict_on_unique},
    filter_fields, sort_fields,
};

filter_fields! {
    /// The filterable fields of a definition (SPEC §3.1); `q` searches name and description.
    pub enum DefinitionField for image_definition {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `name`
        Name => column(Name, Text, not_null, "name"),
        /// `slug`
        Slug => column(Slug, Text, not_null, "slug"),
        /// `enabled`
        Enabled => column(Enabled, Flag, not_null, "enabled"),
        /// `builder_type`
        BuilderType => column(BuilderType, Choice, not_null, "builder_type"),
        /// `proxmox_endpoint`
        ProxmoxEndpoint => column(ProxmoxEndpointId, Number, not_null, "proxmox_endpoint"),
        /// `target_cluster`
        TargetCluster => column(TargetClusterId, Number, nullable, "target_cluster"),
        /// `target_node`
        TargetNode => column(TargetNode, Text, not_null, "target_node"),
        /// `os_family`
        OsFamily => column(OsFamily, Choice, not_null, "os_family"),
        /// `provisioner_recipe`
        ProvisionerRecipe => column(ProvisionerRecipe, Choice, not_null, "provisioner_recipe"),
        /// `allowed_tenants`; `isNull: true` means unrestricted.
        Tenant => through(Id, image_definition_tenant, DefinitionId, TenantId, Number, "tenant"),
        /// `created`
        Created => column(Created, Time, not_null, "created"),
        /// `last_updated`
        LastUpdated => column(LastUpdated, Time, not_null, "last_updated"),
    }
    search [Name, Description]
}

sort_fields! {
    /// The sortable fields of a definition.
    pub enum DefinitionSort for image_definition {
        /// `id`
        Id => (Id, "id", not_null),
        /// `name`
        Name => (Name, "name", not_null),
        /// `slug`
        Slug => (Slug, "slug", not_null),
        /// `enabled`
        Enabled => (Enabled, "enabled", not_null),
        /// `builder_type`
        BuilderType => (BuilderType, "builder_type", not_null),
        /// `target_node`
        TargetNode => (TargetNode, "target_node", not_null),
        /// `os_family`
        OsFamily => (OsFamily, "os_family", not_null),
        /// `os_release`
        OsRelease => (OsRelease, "os_release", not_null),
        /// `created`
        Created => (Created, "created", not_null),
        /// `last_updated`
        LastUpdated => (LastUpdated, "last_updated", not_null),
    }
}

impl Readable for image_definition::Entity {
    type Field = DefinitionField;
    type Sort = DefinitionSort;

    fn scope(scope: &Scope) -> Option<Expr> {
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

/// A definition as it would be stored, with its tenants.
#[derive(Clone, Debug)]
struct Draft {
    row: image_definition::Model,
    tenants: Vec<i32>,
}

impl Draft {
    /// The defaults of SPEC §1.1 (required fields empty, to be named by the checks).
    fn blank() -> Self {
        let stamp = now();
        Draft {
            row: image_definition::Model {
                id: 0,
                name: String::new(),
                slug: String::new(),
                description: String::new(),
                enabled: true,
                builder_type: BuilderType::ProxmoxClone,
                proxmox_endpoint_id: 0,
                target_cluster_id: None,
                target_node: String::new(),
                source_template_vmid: None,
                iso_url: None,
                iso_checksum: String::new(),
                iso_storage: String::new(),
                default_storage: String::new(),
                default_bridge: "vmbr0".to_owned(),
                os_family: OsFamily::Ubuntu,
                os_release: String::new(),
                default_ciuser: "ubuntu".to_owned(),
                provisioner_recipe: ProvisionerRecipe::UbuntuBase,
                default_variables: Json::Object(Default::default()),
                created: stamp,
                last_updated: stamp,
            },
            tenants: Vec::new(),
        }
    }

    fn apply(mut self, patch: DefinitionPatch) -> Self {
        let row = &mut self.row;
        macro_rules! set {
            ($($field:ident),*) => {
                $(if let Some(value) = patch.$field { row.$field = value; })*
            };
        }
        set!(
            enabled,
            builder_type,
            proxmox_endpoint_id,
            target_cluster_id,
            source_template_vmid,
            iso_url,
            iso_checksum,
            iso_storage,
            default_storage,
            default_bridge,
            os_family,
            os_release,
            default_ciuser,
            provisioner_recipe,
            default_variables,
            description,
            slug,
            target_node
        );
        if let Some(name) = patch.name {
            row.name = name.trim().to_owned();
        }
        if let Some(mut tenants) = patch.allowed_tenant_ids {
            tenants.sort_unstable();
            tenants.dedup();
            self.tenants = tenants;
        }
        self
    }

    /// Every field rule and builder rule of SPEC §1.1 that needs no database.
    fn check(&self) -> FieldErrors {
        let row = &self.row;
        let mut c = Checks::default();
        c.required_text("name", &row.name, 255);
        c.slug("slug", &row.slug);
        c.check(
            "description",
            row.description.len() <= MAX_DESCRIPTION_BYTES,
            "must be at most 64 KiB",
        );
        c.required_text("target_node", &row.target_node, 255);
        if let Some(vmid) = row.source_template_vmid {
            c.vmid("source_template_vmid", vmid);
        }
        if let Some(url) = &row.iso_url {
            c.iso_url("iso_url", url);
            c.check(
                "iso_checksum",
                !row.iso_checksum.is_empty(),
                "is required when iso_url is set",
            );
        }
        c.checksum("iso_checksum", &row.iso_checksum);
        c.iso_volume("iso_storage", &row.iso_storage);
        c.required_text("default_storage", &row.default_storage, 255);
        c.bridge("default_bridge", &row.default_bridge);
        c.required_text("os_release", &row.os_release, 64);
        c.unix_user("default_ciuser", &row.default_ciuser);
        c.variables("default_variables", &row.default_variables);
        match row.builder_type {
            BuilderType::ProxmoxClone => {
                c.check(
                    "target_cluster_id",
                    row.target_cluster_id.is_some(),
                    "is required by the proxmox-clone builder",
                );
                c.check(
                    "source_template_vmid",
                    row.source_template_vmid.is_some(),
                    "is required by the proxmox-clone builder",
                );
            }
            BuilderType::ProxmoxIso => c.check(
                "iso_url",
                row.iso_url.is_some() || !row.iso_storage.is_empty(),
                "iso_url or iso_storage is required by the proxmox-iso builder",
            ),
        }
        c.0
    }

    /// The rules that need the database: the references exist.
    async fn check_references(&self, db: &impl ConnectionTrait) -> Result<FieldErrors, Error> {
        let mut errors = FieldErrors::default();
        let endpoint = proxmox_endpoint::Entity::find_by_id(self.row.proxmox_endpoint_id)
            .count(db)
            .await?;
        if endpoint == 0 {
            errors.add("proxmox_endpoint_id", "does not name an endpoint");
        }
        if let Some(cluster_id) = self.row.target_cluster_id {
            let found = cluster::Entity::find_by_id(cluster_id).count(db).await?;
            if found == 0 {
                errors.add("target_cluster_id", "does not name a cluster");
            }
        }
        if !self.tenants.is_empty() {
            let found = tenant::Entity::find()
                .filter(tenant::Column::Id.is_in(self.tenants.iter().copied()))
                .count(db)
                .await?;
            if found as usize != self.tenants.len() {
                errors.add("allowed_tenant_ids", "names a tenant that does not exist");
            }
        }
        Ok(errors)
    }

    /// Name and slug are free (other than on `self`).
    async fn check_unique(&self, db: &impl ConnectionTrait) -> Result<(), Error> {
        let mut errors = FieldErrors::default();
        let others = image_definition::Entity::find()
            .filter(image_definition::Column::Id.ne(self.row.id))
            .filter(
                Condition::any()
                    .add(image_definition::Column::Name.eq(self.row.name.as_str()))
                    .add(image_definition::Column::Slug.eq(self.row.slug.as_str())),
            )
            .all(db)
            .await?;
        for other in others {
            if other.name == self.row.name {
                errors.add("name", "is already taken");
            }
            if other.slug == self.row.slug {
                errors.add("slug", "is already taken");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Conflict(errors))
        }
    }

    async fn save(
        self,
        db: &impl ConnectionTrait,
        new: bool,
        tenants_changed: bool,
    ) -> Result<image_definition::Model, Error> {
        let mut active: image_definition::ActiveModel = self.row.into();
        active.last_updated = Set(now());
        let saved = if new {
            active.id = NotSet;
            active.insert(db).await
        } else {
            active.reset_all().update(db).await
        }
        .map_err(unique_violation)?;
        if tenants_changed {
            image_definition_tenant::Entity::delete_many()
                .filter(image_definition_tenant::Column::DefinitionId.eq(saved.id))
                .exec(db)
                .await?;
            if !self.tenants.is_empty() {
                image_definition_tenant::Entity::insert_many(self.tenants.iter().map(|tenant| {
                    image_definition_tenant::ActiveModel {
                        definition_id: Set(saved.id),
                        tenant_id: Set(*tenant),
                    }
                }))
                .exec(db)
                .await?;
            }
        }
        Ok(saved)
    }
}

/// A lost race on a unique index: which of name and slug it was.
fn unique_violation(err: sea_orm::DbErr) -> Error {
    let field = match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(detail)) if detail.contains("slug") => {
            "slug"
        }
        _ => "name",
    };
    conflict_on_unique(err, field, "is already taken")
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
    let draft = Draft::blank().apply(patch);
    policy::may_manage_definition(ctx.principal, &draft.tenants)?;
    let txn = begin_write(ctx.db).await?;
    let mut errors = draft.check();
    errors.merge(missing);
    errors.merge(draft.check_references(&txn).await?);
    errors.into_result()?;
    draft.check_unique(&txn).await?;
    let saved = draft.save(&txn, true, true).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Updates a definition with patch semantics; the builder rules hold for the merged result.
pub async fn update(
    ctx: Ctx<'_>,
    id: i64,
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
    let saved = draft.save(&txn, false, tenants_changed).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a definition that has no build (build history is never lost).
pub async fn delete(ctx: Ctx<'_>, id: i64) -> Result<i32, Error> {
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
    Ok(current.id)
}
