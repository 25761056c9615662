//! Related objects of a page, loaded in batches (one statement per kind of relation, whatever the
//! number of rows) through the same scoped reads as GraphQL's loaders, and rendered as NetBox's
//! brief nested objects `{id, url, display, name}`.
//!
//! A principal that may not read reference data (an anonymous reader) gets endpoints, clusters,
//! tenants and users as `{id, url}` only, as GraphQL refuses it those objects; a related object
//! the principal may not see (a catalog entry restricted to other tenants) is `null`.

use std::collections::HashMap;

use entity::{
    cloud_image_template, cluster, image_build, image_definition, proxmox_endpoint, tenant, user,
};
use sea_orm::{DatabaseConnection, FromQueryResult};
use serde::Serialize;

use super::Base;
use crate::{
    auth::{Action, Principal},
    error::Error,
    registry::{
        read::{Readable, by_ids},
        relations::{TenantLink, tenants_of},
    },
};

/// The URL segment of each kind of object (`/api/plugins/packer/<segment>/<id>/`).
pub mod kind {
    /// Image definitions.
    pub const DEFINITIONS: &str = "image-definitions";
    /// Image builds.
    pub const BUILDS: &str = "image-builds";
    /// Proxmox endpoints (served in brief).
    pub const ENDPOINTS: &str = "proxmox-endpoints";
    /// Clusters (served in brief).
    pub const CLUSTERS: &str = "clusters";
    /// Tenants (served in brief).
    pub const TENANTS: &str = "tenants";
    /// Users (served in brief).
    pub const USERS: &str = "users";
    /// Catalog entries (served in brief).
    pub const TEMPLATES: &str = "cloud-image-templates";
}

/// A brief nested object.
#[derive(Clone, Debug, Serialize)]
pub struct Brief {
    /// Its id.
    pub id: i64,
    /// Where it is served.
    pub url: String,
    /// How it is shown (its name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Brief {
    /// The brief object `id` of `kind`, named `name`.
    pub fn new(base: &Base, kind: &str, id: i64, name: Option<&str>) -> Self {
        Brief {
            id,
            url: base.object(kind, id),
            display: name.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }
}

/// The related objects of one page.
#[derive(Default)]
pub struct Refs {
    /// Whether the principal may read reference data (else only ids are shown).
    reference: bool,
    endpoints: HashMap<i64, proxmox_endpoint::Model>,
    clusters: HashMap<i64, cluster::Model>,
    tenants: HashMap<i64, Vec<tenant::Model>>,
    definitions: HashMap<i64, image_definition::Model>,
    users: HashMap<i64, user::Model>,
    templates: HashMap<i64, cloud_image_template::Model>,
    builds: HashMap<i64, image_build::Model>,
}

impl Refs {
    /// The endpoints, clusters and allowed tenants of `definitions`.
    pub async fn of_definitions(
        db: &DatabaseConnection,
        principal: &Principal,
        definitions: &[image_definition::Model],
    ) -> Result<Self, Error> {
        let mut refs = Refs::for_principal(principal);
        if refs.reference {
            refs.endpoints = load::<proxmox_endpoint::Entity>(
                db,
                principal,
                definitions.iter().map(|d| d.proxmox_endpoint_id),
            )
            .await?;
            refs.clusters = load::<cluster::Entity>(
                db,
                principal,
                definitions.iter().filter_map(|d| d.target_cluster_id),
            )
            .await?;
            let ids: Vec<i64> = definitions.iter().map(|d| i64::from(d.id)).collect();
            if !ids.is_empty() {
                refs.tenants = tenants_of(db, TenantLink::Definition, &ids).await?;
            }
        }
        Ok(refs)
    }

    /// The definitions, endpoints, creators, catalog entries and rebuilt builds of `builds`.
    pub async fn of_builds(
        db: &DatabaseConnection,
        principal: &Principal,
        builds: &[image_build::Model],
    ) -> Result<Self, Error> {
        let mut refs = Refs::for_principal(principal);
        refs.definitions =
            load::<image_definition::Entity>(db, principal, builds.iter().map(|b| b.definition_id))
                .await?;
        refs.builds = load::<image_build::Entity>(
            db,
            principal,
            builds.iter().filter_map(|b| b.rebuild_of_id),
        )
        .await?;
        if refs.reference {
            refs.endpoints = load::<proxmox_endpoint::Entity>(
                db,
                principal,
                builds.iter().map(|b| b.proxmox_endpoint_id),
            )
            .await?;
            refs.users =
                load::<user::Entity>(db, principal, builds.iter().filter_map(|b| b.created_by_id))
                    .await?;
            refs.templates = load::<cloud_image_template::Entity>(
                db,
                principal,
                builds.iter().filter_map(|b| b.cloud_image_template_id),
            )
            .await?;
        }
        Ok(refs)
    }

    fn for_principal(principal: &Principal) -> Self {
        Refs {
            reference: principal.authorize(Action::ReadReference).is_ok(),
            ..Refs::default()
        }
    }

    /// A definition.
    pub fn definition(&self, base: &Base, id: i32) -> Option<Brief> {
        let row = self.definitions.get(&i64::from(id))?;
        Some(Brief::new(
            base,
            kind::DEFINITIONS,
            row.id.into(),
            Some(&row.name),
        ))
    }

    /// A build (named by its output).
    pub fn build(&self, base: &Base, id: i32) -> Option<Brief> {
        let row = self.builds.get(&i64::from(id))?;
        Some(Brief::new(
            base,
            kind::BUILDS,
            row.id.into(),
            Some(&row.output_name),
        ))
    }

    /// An endpoint.
    pub fn endpoint(&self, base: &Base, id: i32) -> Option<Brief> {
        self.reference_brief(base, kind::ENDPOINTS, id, |refs, id| {
            refs.endpoints.get(&id).map(|row| row.name.clone())
        })
    }

    /// A cluster.
    pub fn cluster(&self, base: &Base, id: i32) -> Option<Brief> {
        self.reference_brief(base, kind::CLUSTERS, id, |refs, id| {
            refs.clusters.get(&id).map(|row| row.name.clone())
        })
    }

    /// A user (named by its user name).
    pub fn user(&self, base: &Base, id: i32) -> Option<Brief> {
        self.reference_brief(base, kind::USERS, id, |refs, id| {
            refs.users.get(&id).map(|row| row.username.clone())
        })
    }

    /// A catalog entry (`None` when it is not visible).
    pub fn template(&self, base: &Base, id: i32) -> Option<Brief> {
        if !self.reference {
            return None;
        }
        let row = self.templates.get(&i64::from(id))?;
        Some(Brief::new(
            base,
            kind::TEMPLATES,
            row.id.into(),
            Some(&row.name),
        ))
    }

    /// The allowed tenants of a definition, by name.
    pub fn tenants(&self, base: &Base, definition: i32) -> Vec<Brief> {
        self.tenants
            .get(&i64::from(definition))
            .map(|tenants| {
                tenants
                    .iter()
                    .map(|t| Brief::new(base, kind::TENANTS, t.id.into(), Some(&t.name)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reference data: named when the principal may read it, else only `{id, url}`.
    fn reference_brief(
        &self,
        base: &Base,
        kind: &str,
        id: i32,
        name: impl FnOnce(&Self, i64) -> Option<String>,
    ) -> Option<Brief> {
        let id = i64::from(id);
        if !self.reference {
            return Some(Brief::new(base, kind, id, None));
        }
        let name = name(self, id)?;
        Some(Brief::new(base, kind, id, Some(&name)))
    }
}

/// The visible rows of `E` among `ids`, in one statement (none when there is no id).
async fn load<E: Readable>(
    db: &DatabaseConnection,
    principal: &Principal,
    ids: impl Iterator<Item = i32>,
) -> Result<HashMap<i64, E::Model>, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let mut ids: Vec<i64> = ids.map(i64::from).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    by_ids::<E>(db, &principal.scope(), &ids).await
}
