//! The nested relations of a page, read before its resolvers run (issue 9).
//!
//! A list resolver knows, by look-ahead, which relations its nodes ask for. Its to-one relations
//! come in the page's own statement (`list_along`); what is left — tenant lists, pages and counts
//! of builds, latest builds, events, the to-ones of joined rows — is read here right after the
//! page, one statement per relation for every node at once, and fed to the request's loaders. The
//! resolvers then hit the loaders' caches: no DataLoader waits its batching delay on the request
//! path, and the statements of a request stay what they were (one per relation, whatever the page
//! size), in a fixed order.
//!
//! Only registry functions read (they apply the request's scope); a relation the scope may not
//! read at all is not prefetched, so its resolver reports the refusal as before.

use std::{borrow::Borrow, collections::HashSet};

use async_graphql::{Context, InputType, Lookahead, SelectionField};
use entity::{cluster, image_build, image_definition, proxmox_endpoint, tenant, user};
use sea_orm::FromQueryResult;

use super::{
    builds::{ImageBuildFilter, ImageBuildOrderField},
    db,
    loaders::{ArgsKey, latest_build_query},
    lookups::{OrderBy, filter_of, sort},
    request,
};
use crate::{
    error::Error,
    registry::{
        id::Id,
        page::PageArgs,
        read::{self, Readable},
        relations::{self, BuildsQuery, Owner},
    },
};

/// The selection of a connection's nodes: `nodes { … }` and `edges { node { … } }` together.
pub fn nodes<'a>(connection: &Lookahead<'a>) -> Option<Lookahead<'a>> {
    let mut fields = connection.field("nodes").selection_fields();
    fields.extend(connection.field("edges").field("node").selection_fields());
    Lookahead::try_from(fields.as_slice()).ok()
}

/// Whether a connection's nodes ask for `field`.
pub fn asks(connection: &Lookahead<'_>, field: &str) -> bool {
    nodes(connection).is_some_and(|n| n.field(field).exists())
}

/// Distinct ids, in order.
fn distinct<E>(ids: impl IntoIterator<Item = Id<E>>) -> Vec<Id<E>> {
    let mut ids: Vec<Id<E>> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Reads the visible rows of `E` among `ids` for the loader `feed`, when the scope may read `E`.
async fn rows_of<E: Readable>(ctx: &Context<'_>, ids: Vec<Id<E>>) -> Result<Vec<E::Model>, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let scope = &request(ctx).scope;
    if ids.is_empty() || read::may_read::<E>(scope).is_err() {
        return Ok(Vec::new());
    }
    Ok(read::by_ids::<E>(db(ctx), scope, &ids)
        .await?
        .into_values()
        .collect())
}

/// What a page of definitions already has in its own statement.
#[derive(Clone, Copy, Debug, Default)]
pub struct Joined {
    /// The to-one relations (endpoint, cluster) were joined into the page.
    pub to_ones: bool,
}

/// Reads what `look` (the selection of one definition) asks of the definitions `rows`: their
/// tenant lists, latest builds, pages and counts of builds, and (unless `joined`) endpoints and
/// clusters; feeds the loaders.
pub async fn definitions(
    ctx: &Context<'_>,
    look: &Lookahead<'_>,
    rows: &[impl Borrow<image_definition::Model>],
    joined: Joined,
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<&image_definition::Model> = rows.iter().map(Borrow::borrow).collect();
    let request = request(ctx);
    let (scope, loaders) = (&request.scope, &request.loaders);
    let ids = distinct(rows.iter().map(|row| Id::of(*row)));
    if !joined.to_ones {
        if look.field("proxmoxEndpoint").exists() {
            let ids = distinct(rows.iter().map(|d| Id::of_row(d.proxmox_endpoint_id)));
            let rows = rows_of::<proxmox_endpoint::Entity>(ctx, ids).await?;
            loaders
                .endpoints
                .feed_many(rows.into_iter().map(|e| (Id::of(&e), e)))
                .await;
        }
        if look.field("targetCluster").exists() {
            let ids = distinct(
                rows.iter()
                    .filter_map(|d| d.target_cluster_id.map(Id::of_row)),
            );
            let rows = rows_of::<cluster::Entity>(ctx, ids).await?;
            loaders
                .clusters
                .feed_many(rows.into_iter().map(|c| (Id::of(&c), c)))
                .await;
        }
    }
    if look.field("allowedTenants").exists() && read::may_read::<tenant::Entity>(scope).is_ok() {
        let owners: Vec<Owner> = ids.iter().map(|id| Owner::Definition(*id)).collect();
        let lists = relations::tenants_of(db(ctx), scope, &owners).await?;
        loaders.tenant_lists.feed_many(lists).await;
    }
    let mut asked = Vec::new();
    if look.field("latestBuild").exists() {
        asked.push((latest_build_query(), None));
    }
    for field in look.field("builds").selection_fields() {
        // Arguments the resolver would refuse are left to it, to report.
        if let Some(query) = builds_query(&field) {
            let counted = Lookahead::from(field).field("totalCount").exists();
            let count = counted.then(|| query.filter.clone());
            asked.push((query, count));
        }
    }
    let mut pages_read = HashSet::new();
    let mut counts_read = HashSet::new();
    for (query, count) in asked {
        let key = ArgsKey::new(query);
        if pages_read.insert(key.clone()) {
            let pages = relations::builds_of_definitions(db(ctx), scope, &ids, &key.args).await?;
            loaders
                .build_pages
                .feed_many(
                    pages
                        .into_iter()
                        .map(|(parent, page)| ((parent, key.clone()), page)),
                )
                .await;
        }
        if let Some(filter) = count {
            let key = ArgsKey::new(filter);
            if counts_read.insert(key.clone()) {
                let counts =
                    relations::count_builds_of_definitions(db(ctx), scope, &ids, &key.args).await?;
                loaders
                    .build_counts
                    .feed_many(
                        counts
                            .into_iter()
                            .map(|(parent, n)| ((parent, key.clone()), n)),
                    )
                    .await;
            }
        }
    }
    Ok(())
}

/// The query of a definition's `builds(…)` field as its resolver builds it, or `None` when its
/// arguments do not parse (the resolver reports them).
fn builds_query(field: &SelectionField<'_>) -> Option<BuildsQuery> {
    let arguments = field.arguments().ok()?;
    let argument = |name: &str| {
        arguments
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, value)| value.clone())
    };
    let filter = <Option<ImageBuildFilter>>::parse(argument("filter")).ok()?;
    let order_by = <Option<Vec<OrderBy<ImageBuildOrderField>>>>::parse(argument("orderBy")).ok()?;
    let first = <Option<i32>>::parse(argument("first")).ok()?;
    let after = <Option<String>>::parse(argument("after")).ok()?;
    let last = <Option<i32>>::parse(argument("last")).ok()?;
    let before = <Option<String>>::parse(argument("before")).ok()?;
    Some(BuildsQuery {
        filter: filter_of(filter, ImageBuildFilter::into_filter).ok()?,
        sort: sort(order_by),
        page: PageArgs::new(first.map(i64::from), after, last.map(i64::from), before).ok()?,
    })
}

/// What a page of builds already has in its own statement.
#[derive(Debug, Default)]
pub struct BuildsJoined {
    /// The definitions of the builds, when they were joined into the page.
    pub definitions: Option<Vec<image_definition::Model>>,
    /// The creators were joined into the page.
    pub creators: bool,
}

/// Reads what `look` (the selection of one build) asks of the builds `rows`: their definitions
/// (unless joined) and what is asked of those, endpoints, creators (unless joined), events and
/// their actors; feeds the loaders.
pub async fn builds(
    ctx: &Context<'_>,
    look: &Lookahead<'_>,
    rows: &[impl Borrow<image_build::Model>],
    joined: BuildsJoined,
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<&image_build::Model> = rows.iter().map(Borrow::borrow).collect();
    let request = request(ctx);
    let (scope, loaders) = (&request.scope, &request.loaders);
    let definition = look.field("definition");
    if definition.exists() {
        let parents = match joined.definitions {
            Some(parents) => parents,
            None => {
                let ids = distinct(rows.iter().map(|b| Id::of_row(b.definition_id)));
                let parents = rows_of::<image_definition::Entity>(ctx, ids).await?;
                loaders
                    .definitions
                    .feed_many(parents.iter().map(|d| (Id::of(d), d.clone())))
                    .await;
                parents
            }
        };
        definitions(ctx, &definition, &parents, Joined::default()).await?;
    }
    if look.field("proxmoxEndpoint").exists() {
        let ids = distinct(rows.iter().map(|b| Id::of_row(b.proxmox_endpoint_id)));
        let rows = rows_of::<proxmox_endpoint::Entity>(ctx, ids).await?;
        loaders
            .endpoints
            .feed_many(rows.into_iter().map(|e| (Id::of(&e), e)))
            .await;
    }
    if !joined.creators && look.field("createdBy").exists() {
        let ids = distinct(rows.iter().filter_map(|b| b.created_by_id.map(Id::of_row)));
        let rows = rows_of::<user::Entity>(ctx, ids).await?;
        loaders
            .users
            .feed_many(rows.into_iter().map(|u| (Id::of(&u), u)))
            .await;
    }
    let events = look.field("events");
    if events.exists() {
        let ids = distinct(rows.iter().map(|row| Id::of(*row)));
        let lists = relations::events_of_builds(db(ctx), scope, &ids).await?;
        if events.field("actor").exists() {
            let actors = distinct(
                lists
                    .values()
                    .flatten()
                    .filter_map(|e| e.actor_id.map(Id::of_row)),
            );
            let actors = rows_of::<user::Entity>(ctx, actors).await?;
            loaders
                .users
                .feed_many(actors.into_iter().map(|u| (Id::of(&u), u)))
                .await;
        }
        loaders.events.feed_many(lists).await;
    }
    Ok(())
}
