//! The mutations of definitions and their inputs (SPEC §3.2).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use entity::{cluster, image_definition, proxmox_endpoint, tenant};

use super::{super::scalars::Json, ImageDefinition};
use crate::{
    error::Error,
    graphql::{
        enums::{BuilderType, OsFamily, ProvisionerRecipe},
        ids,
        patch::Inputs,
        writer,
    },
    registry::{self, definitions::DefinitionPatch},
};

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
    pub default_variables: Option<Json>,
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
    pub default_variables: MaybeUndefined<Json>,
    /// Tenants that may use it; empty means every tenant.
    pub allowed_tenant_ids: MaybeUndefined<Vec<ID>>,
}

impl CreateImageDefinitionInput {
    fn into_patch(self) -> Result<DefinitionPatch, Error> {
        let mut inputs = Inputs::default();
        let patch = DefinitionPatch {
            proxmox_endpoint_id: inputs
                .id::<proxmox_endpoint::Entity>("proxmox_endpoint_id", &self.proxmox_endpoint_id),
            target_cluster_id: Some(
                self.target_cluster_id
                    .and_then(|id| inputs.id::<cluster::Entity>("target_cluster_id", &id)),
            ),
            allowed_tenant_ids: Some(inputs.ids::<tenant::Entity>(
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
            proxmox_endpoint_id: endpoint
                .and_then(|id| i.id::<proxmox_endpoint::Entity>("proxmox_endpoint_id", &id)),
            target_cluster_id: cluster
                .map(|id| id.and_then(|id| i.id::<cluster::Entity>("target_cluster_id", &id))),
            allowed_tenant_ids: tenants
                .map(|ids| i.ids::<tenant::Entity>("allowed_tenant_ids", &ids)),
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
        let id = ids::parse::<image_definition::Entity>(&id, "id")?;
        let patch = input.into_patch()?;
        Ok(registry::definitions::update(writer(ctx), id, patch)
            .await?
            .into())
    }

    /// Deletes a definition without builds; one with builds is a `CONFLICT`.
    async fn delete_image_definition(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let id = ids::parse::<image_definition::Entity>(&id, "id")?;
        let deleted = registry::definitions::delete(writer(ctx), id).await?;
        Ok(ids::render(deleted))
    }
}
