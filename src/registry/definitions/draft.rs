//! A definition as it would be stored, checked against every rule of SPEC §1.1 before it is.

use chrono::{DateTime, Utc};
use entity::{
    cluster,
    enums::{BuilderType, OsFamily, ProvisionerRecipe},
    image_definition, image_definition_tenant, proxmox_endpoint, tenant,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::Value as Json;

use super::DefinitionPatch;
use crate::{
    error::{Error, FieldErrors, conflict_on_unique},
    registry::rules::{Checks, MAX_DESCRIPTION_BYTES, MAX_VALUES, too_many_values},
};

/// A definition as it would be stored, with its tenants.
#[derive(Clone, Debug)]
pub(super) struct Draft {
    pub(super) row: image_definition::Model,
    pub(super) tenants: Vec<i32>,
}

impl Draft {
    /// The defaults of SPEC §1.1 (required fields empty, to be named by the checks).
    pub(super) fn blank(stamp: DateTime<Utc>) -> Self {
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

    pub(super) fn apply(mut self, patch: DefinitionPatch) -> Self {
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
    pub(super) fn check(&self) -> FieldErrors {
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
                "is required when `iso_url` is set",
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
                "`iso_url` or `iso_storage` is required by the proxmox-iso builder",
            ),
        }
        c.0
    }

    /// The rules that need the database: the references exist.
    pub(super) async fn check_references(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<FieldErrors, Error> {
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
        if self.tenants.len() > MAX_VALUES {
            errors.add("allowed_tenant_ids", too_many_values(self.tenants.len()));
        } else if !self.tenants.is_empty() {
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
    pub(super) async fn check_unique(&self, db: &impl ConnectionTrait) -> Result<(), Error> {
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

    pub(super) async fn save(
        self,
        db: &impl ConnectionTrait,
        stamp: DateTime<Utc>,
        new: bool,
        tenants_changed: bool,
    ) -> Result<image_definition::Model, Error> {
        let mut active: image_definition::ActiveModel = self.row.into();
        active.last_updated = Set(stamp);
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
