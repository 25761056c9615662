//! Related objects of a page, loaded in batches (one statement per kind of relation, whatever the
//! number of rows) through the same scoped reads as GraphQL's loaders, and rendered as NetBox's
//! brief nested objects `{id, url, display, name}`.
//!
//! What a scope may not read at all (reference data, for an anonymous reader) the registry
//! refuses; such endpoints, clusters, tenants and users are rendered as `{id, url}` only (GraphQL
//! answers `UNAUTHENTICATED` for them), and such catalog entries as `null`, like a related object
//! the scope may not see (a catalog entry restricted to other tenants).

use std::collections::HashMap;

use entity::{
    cloud_image_template, cluster, image_build, image_definition, proxmox_endpoint, tenant, user,
};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use super::Base;
use crate::registry::rows::ByIndex;
use crate::{
    auth::Scope,
    error::Error,
    registry::{
        id::Id,
        read::{Readable, by_ids},
        relations::{Owner, tenants_of},
    },
};

/// The id in a path segment (`image-builds/{id}/`); anything else names nothing (404).
pub fn path_id<E>(segment: &str) -> Result<Id<E>, Error> {
    Id::parse(segment).ok_or(Error::NotFound)
}

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

/// Rows of `E` by id, or `Hidden` when the scope may not read `E` at all.
enum Related<E: Readable>
where
    E::Model: ByIndex + Sync + Send,
{
    Hidden,
    Rows(HashMap<Id<E>, E::Model>),
}

impl<E: Readable> Default for Related<E>
where
    E::Model: ByIndex + Sync + Send,
{
    fn default() -> Self {
        Related::Rows(HashMap::new())
    }
}

impl<E: Readable> Related<E>
where
    E::Model: ByIndex + Sync + Send,
{
    /// The row `id`, if it is visible; `Err(())` when the scope may not read `E` at all.
    fn get(&self, id: i32) -> Result<Option<&E::Model>, ()> {
        match self {
            Related::Hidden => Err(()),
            Related::Rows(rows) => Ok(rows.get(&Id::of_row(id))),
        }
    }
}

/// The related objects of one page.
#[derive(Default)]
pub struct Refs {
    endpoints: Related<proxmox_endpoint::Entity>,
    clusters: Related<cluster::Entity>,
    /// Allowed tenants by definition (`None`: the scope may not read tenants).
    tenants: Option<HashMap<Owner, Vec<tenant::Model>>>,
    definitions: Related<image_definition::Entity>,
    users: Related<user::Entity>,
    templates: Related<cloud_image_template::Entity>,
    builds: Related<image_build::Entity>,
}

impl Refs {
    /// The endpoints, clusters and allowed tenants of `definitions`.
    pub async fn of_definitions(
        db: &DatabaseConnection,
        scope: &Scope,
        definitions: &[image_definition::Model],
    ) -> Result<Self, Error> {
        let owners: Vec<Owner> = definitions
            .iter()
            .map(|d| Owner::Definition(Id::of(d)))
            .collect();
        Ok(Refs {
            endpoints: load(db, scope, definitions.iter().map(|d| d.proxmox_endpoint_id)).await?,
            clusters: load(
                db,
                scope,
                definitions.iter().filter_map(|d| d.target_cluster_id),
            )
            .await?,
            tenants: if owners.is_empty() {
                Some(HashMap::new())
            } else {
                hidden_as_none(tenants_of(db, scope, &owners).await)?
            },
            ..Refs::default()
        })
    }

    /// The definitions, endpoints, creators, catalog entries and rebuilt builds of `builds`.
    pub async fn of_builds(
        db: &DatabaseConnection,
        scope: &Scope,
        builds: &[image_build::Model],
    ) -> Result<Self, Error> {
        Ok(Refs {
            definitions: load(db, scope, builds.iter().map(|b| b.definition_id)).await?,
            builds: load(db, scope, builds.iter().filter_map(|b| b.rebuild_of_id)).await?,
            endpoints: load(db, scope, builds.iter().map(|b| b.proxmox_endpoint_id)).await?,
            users: load(db, scope, builds.iter().filter_map(|b| b.created_by_id)).await?,
            templates: load(
                db,
                scope,
                builds.iter().filter_map(|b| b.cloud_image_template_id),
            )
            .await?,
            ..Refs::default()
        })
    }

    /// A definition.
    pub fn definition(&self, base: &Base, id: i32) -> Option<Brief> {
        let row = self.definitions.get(id).ok()??;
        Some(Brief::new(
            base,
            kind::DEFINITIONS,
            row.id.into(),
            Some(&row.name),
        ))
    }

    /// A build (named by its output).
    pub fn build(&self, base: &Base, id: i32) -> Option<Brief> {
        let row = self.builds.get(id).ok()??;
        Some(Brief::new(
            base,
            kind::BUILDS,
            row.id.into(),
            Some(&row.output_name),
        ))
    }

    /// An endpoint.
    pub fn endpoint(&self, base: &Base, id: i32) -> Option<Brief> {
        let name = self
            .endpoints
            .get(id)
            .map(|row| row.map(|r| r.name.as_str()));
        reference_brief(base, kind::ENDPOINTS, id, name)
    }

    /// A cluster.
    pub fn cluster(&self, base: &Base, id: i32) -> Option<Brief> {
        let name = self
            .clusters
            .get(id)
            .map(|row| row.map(|r| r.name.as_str()));
        reference_brief(base, kind::CLUSTERS, id, name)
    }

    /// A user (named by its user name).
    pub fn user(&self, base: &Base, id: i32) -> Option<Brief> {
        let name = self
            .users
            .get(id)
            .map(|row| row.map(|r| r.username.as_str()));
        reference_brief(base, kind::USERS, id, name)
    }

    /// A catalog entry (`None` when it is not visible, or not readable at all).
    pub fn template(&self, base: &Base, id: i32) -> Option<Brief> {
        let row = self.templates.get(id).ok()??;
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
            .as_ref()
            .and_then(|tenants| tenants.get(&Owner::Definition(Id::of_row(definition))))
            .map(|tenants| {
                tenants
                    .iter()
                    .map(|t| Brief::new(base, kind::TENANTS, t.id.into(), Some(&t.name)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reference data: named when the scope may read it (`Ok`), else only `{id, url}`; `None` when it
/// is readable but not visible.
fn reference_brief(
    base: &Base,
    kind: &str,
    id: i32,
    name: Result<Option<&str>, ()>,
) -> Option<Brief> {
    let id = i64::from(id);
    match name {
        Err(()) => Some(Brief::new(base, kind, id, None)),
        Ok(name) => Some(Brief::new(base, kind, id, Some(name?))),
    }
}

/// `Ok(None)` for what the scope may not read at all.
fn hidden_as_none<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Unauthenticated) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The visible rows of `E` among `ids`, in one statement (none when there is no id, or when the
/// scope may not read `E` at all: [`Related::Hidden`]).
async fn load<E: Readable>(
    db: &DatabaseConnection,
    scope: &Scope,
    ids: impl Iterator<Item = i32>,
) -> Result<Related<E>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let mut ids: Vec<Id<E>> = ids.map(Id::of_row).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Related::default());
    }
    Ok(match hidden_as_none(by_ids::<E>(db, scope, &ids).await)? {
        Some(rows) => Related::Rows(rows),
        None => Related::Hidden,
    })
}
