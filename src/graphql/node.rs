//! Relay's Global Object Identification: `interface Node { id: ID! }`, implemented by every
//! object with an identity, and `node(id:)` / `nodes(ids:)`, which find any of them by its global
//! id (see [`super::ids`] and `registry::id`).
//!
//! A lookup reads through the request's loaders and the registry's scoped reads, like every
//! relation: an object the caller may not see is `null`, exactly like one that does not exist,
//! and a type the caller may not read at all (reference data for an anonymous reader) is
//! `UNAUTHENTICATED`, as its own lookup (`tenant(id:)`) is. A malformed id, or an id of no type of
//! this service, is `BAD_USER_INPUT`. `nodes(ids:)` batches: ids of one type cost one statement.

use async_graphql::{Context, ID, Object, Result};
use entity::{
    api_token, build_event, cloud_image_template, cluster, image_build, image_definition,
    plugin_settings, proxmox_endpoint, tenant, user,
};
use futures_util::future::try_join_all;

use super::{db, error::nullable, ids, request};
use crate::{
    error::Error,
    registry::{id::Id, read, settings, users},
};

pub use interface::Node;

/// The most ids `nodes(ids:)` takes at once (the largest page of a connection).
pub const MAX_IDS: usize = 100;

mod interface {
    #![expect(
        missing_docs,
        reason = "async-graphql's `Interface` derive generates an undocumented `id` method"
    )]

    use async_graphql::{ID, Interface};

    use crate::graphql::{
        builds::ImageBuild,
        definitions::ImageDefinition,
        events::BuildEvent,
        reference::{CloudImageTemplate, Cluster, ProxmoxEndpoint, Tenant, User},
        settings::PluginSettings,
        users::ApiToken,
    };

    /// An object with a global id.
    #[derive(Interface, Clone)]
    #[graphql(field(
        name = "id",
        ty = "ID",
        desc = "The global id: opaque, unique across types; `node(id:)` finds the object by it."
    ))]
    pub enum Node {
        /// A definition.
        ImageDefinition(ImageDefinition),
        /// A build.
        ImageBuild(ImageBuild),
        /// A status change of a build.
        BuildEvent(BuildEvent),
        /// A tenant.
        Tenant(Tenant),
        /// A cluster.
        Cluster(Cluster),
        /// A Proxmox endpoint.
        ProxmoxEndpoint(ProxmoxEndpoint),
        /// A catalog entry.
        CloudImageTemplate(CloudImageTemplate),
        /// A user.
        User(User),
        /// An API token.
        ApiToken(ApiToken),
        /// The plugin settings.
        PluginSettings(PluginSettings),
    }
}

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this global id; null when there is none or the caller may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Option<Node> {
        nullable(ctx, async move { Ok(node(ctx, &id, "id").await?) }).await
    }

    /// The objects with these global ids (at most 100), in the same order; null for each one
    /// there is none of or the caller may not see.
    #[graphql(complexity = "1 + ids.len() * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_IDS {
            return Err(Error::bad_input("ids", format!("at most {MAX_IDS} ids at once")).into());
        }
        Ok(try_join_all(ids.iter().map(|id| node(ctx, id, "ids"))).await?)
    }
}

/// The node of `id`; `field` names the argument in errors.
async fn node(ctx: &Context<'_>, id: &ID, field: &str) -> Result<Option<Node>, Error> {
    let global = ids::global(id).ok_or_else(|| ids::not_an_id(field))?;
    let request = request(ctx);
    let loaders = &request.loaders;
    let scope = &request.scope;
    if let Some(id) = global.of::<image_definition::Entity>() {
        return Ok(loaders
            .definitions()
            .load_one(id)
            .await?
            .map(|m| Node::ImageDefinition(m.into())));
    }
    if let Some(id) = global.of::<image_build::Entity>() {
        return Ok(loaders
            .builds()
            .load_one(id)
            .await?
            .map(|m| Node::ImageBuild(m.into())));
    }
    if let Some(id) = global.of::<build_event::Entity>() {
        let event = read::get::<build_event::Entity>(db(ctx), scope, id).await;
        return Ok(found(event)?.map(|m| Node::BuildEvent(m.into())));
    }
    if let Some(id) = global.of::<tenant::Entity>() {
        return Ok(loaders
            .tenants()
            .load_one(id)
            .await?
            .map(|m| Node::Tenant(m.into())));
    }
    if let Some(id) = global.of::<cluster::Entity>() {
        return Ok(loaders
            .clusters()
            .load_one(id)
            .await?
            .map(|m| Node::Cluster(m.into())));
    }
    if let Some(id) = global.of::<proxmox_endpoint::Entity>() {
        return Ok(loaders
            .endpoints()
            .load_one(id)
            .await?
            .map(|m| Node::ProxmoxEndpoint(m.into())));
    }
    if let Some(id) = global.of::<cloud_image_template::Entity>() {
        return Ok(loaders
            .templates()
            .load_one(id)
            .await?
            .map(|m| Node::CloudImageTemplate(m.into())));
    }
    if let Some(id) = global.of::<user::Entity>() {
        return Ok(loaders
            .users()
            .load_one(id)
            .await?
            .map(|m| Node::User(m.into())));
    }
    if let Some(id) = global.of::<api_token::Entity>() {
        let token = users::token(db(ctx), scope, id).await;
        return Ok(found(token)?.map(|m| Node::ApiToken(m.into())));
    }
    if let Some(id) = global.of::<plugin_settings::Entity>() {
        let settings = settings::get(db(ctx), scope).await?;
        return Ok((Id::of(&settings) == id).then(|| Node::PluginSettings(settings.into())));
    }
    Err(ids::not_an_id(field))
}

/// `NOT_FOUND` as none: `node` answers null for what does not exist or is not visible.
fn found<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(row) => Ok(Some(row)),
        Err(Error::NotFound) => Ok(None),
        Err(err) => Err(err),
    }
}
