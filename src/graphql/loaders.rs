//! The DataLoaders of one request: every relation field resolves through one of them, so the
//! number of SQL statements of a request does not grow with the number of rows. They hold the
//! request's [`Scope`], and call only `registry` functions, which apply it (and refuse what the
//! scope may not read at all): a loader is never a side door around visibility.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    marker::PhantomData,
    sync::{Arc, OnceLock},
};

use async_graphql::dataloader::Loader;
use entity::{
    api_token, build_event, build_log_line, cloud_image_template, cluster, image_build,
    image_definition, proxmox_endpoint, tenant, user,
};
use sea_orm::DatabaseConnection;

use super::batch::{Batcher, Tick};
use crate::registry::rows::ByIndex;
use crate::{
    auth::Scope,
    error::Error,
    registry::{
        builds::BuildField,
        filter::Filter,
        id::Id,
        logs,
        page::{Page, PageArgs},
        read::{Readable, by_ids},
        relations::{self, BuildsQuery, Owner},
        users,
    },
};

/// Declares the loaders of a request: a field each, made on first use (most requests need a few
/// of them, and a subscription keeps its own for its whole life), its accessor, and `clear`.
macro_rules! loaders {
    ($($(#[$doc:meta])* $name:ident: Batcher<$key:ty, $loader:ty> = $make:expr;)*) => {
        /// Every loader of one request, each made when first asked for.
        pub struct Loaders {
            ctx: LoaderCtx,
            $($name: OnceLock<Batcher<$key, $loader>>,)*
            /// When their batches run: [`Tick::drive`] runs the request's execution.
            pub tick: Tick,
        }

        impl Loaders {
            /// Fresh loaders for one request of a principal with `scope`.
            pub fn new(db: &DatabaseConnection, scope: &Scope) -> Self {
                Loaders {
                    ctx: LoaderCtx {
                        db: db.clone(),
                        scope: scope.clone(),
                    },
                    $($name: OnceLock::new(),)*
                    tick: Tick::default(),
                }
            }

            $(
                $(#[$doc])*
                pub fn $name(&self) -> &Batcher<$key, $loader> {
                    self.$name
                        .get_or_init(|| Batcher::new(($make)(&self.ctx), &self.tick))
                }
            )*

            /// Forgets everything loaded so far: a subscription answers each event as a new
            /// request.
            pub fn clear(&self) {
                $(
                    if let Some(loader) = self.$name.get() {
                        loader.clear();
                    }
                )*
            }
        }
    };
}

loaders! {
    /// Definitions by id.
    definitions: Batcher<Id<image_definition::Entity>, ById<image_definition::Entity>> = ById::new;
    /// Builds by id.
    builds: Batcher<Id<image_build::Entity>, ById<image_build::Entity>> = ById::new;
    /// Endpoints by id.
    endpoints: Batcher<Id<proxmox_endpoint::Entity>, ById<proxmox_endpoint::Entity>> = ById::new;
    /// Clusters by id.
    clusters: Batcher<Id<cluster::Entity>, ById<cluster::Entity>> = ById::new;
    /// Tenants by id.
    tenants: Batcher<Id<tenant::Entity>, ById<tenant::Entity>> = ById::new;
    /// Users by id.
    users: Batcher<Id<user::Entity>, ById<user::Entity>> = ById::new;
    /// Catalog entries by id.
    templates: Batcher<Id<cloud_image_template::Entity>, ById<cloud_image_template::Entity>> =
        ById::new;
    /// Tenant lists by owner.
    tenant_lists: Batcher<Owner, TenantLists> = |ctx: &LoaderCtx| TenantLists(ctx.clone());
    /// Pages of builds by definition.
    build_pages: Batcher<PageKey, BuildPages> = |ctx: &LoaderCtx| BuildPages(ctx.clone());
    /// Counts of builds by definition.
    build_counts: Batcher<CountKey, BuildCounts> = |ctx: &LoaderCtx| BuildCounts(ctx.clone());
    /// Events by build.
    events: Batcher<Id<image_build::Entity>, Events> = |ctx: &LoaderCtx| Events(ctx.clone());
    /// API tokens by user.
    tokens: Batcher<Id<user::Entity>, Tokens> = |ctx: &LoaderCtx| Tokens(ctx.clone());
    /// Pages of log lines by build.
    log_pages: Batcher<LogPageKey, LogPages> = |ctx: &LoaderCtx| LogPages(ctx.clone());
    /// Counts of log lines by build.
    log_counts: Batcher<Id<image_build::Entity>, LogCounts> = |ctx: &LoaderCtx| LogCounts(ctx.clone());
}

/// What every loader needs.
#[derive(Clone)]
pub struct LoaderCtx {
    db: DatabaseConnection,
    scope: Scope,
}

/// Visible rows of `E` by id.
pub struct ById<E> {
    ctx: LoaderCtx,
    entity: PhantomData<fn() -> E>,
}

impl<E> ById<E> {
    fn new(ctx: &LoaderCtx) -> Self {
        ById {
            ctx: ctx.clone(),
            entity: PhantomData,
        }
    }
}

impl<E: Readable> Loader<Id<E>> for ById<E>
where
    E::Model: ByIndex + Sync + Send + Clone,
{
    type Value = E::Model;
    type Error = Error;

    async fn load(&self, keys: &[Id<E>]) -> Result<HashMap<Id<E>, E::Model>, Error> {
        by_ids::<E>(&self.ctx.db, &self.ctx.scope, keys).await
    }
}

/// Tenant lists (`allowedTenants`, `tenants`) by owner.
pub struct TenantLists(LoaderCtx);

impl Loader<Owner> for TenantLists {
    type Value = Vec<tenant::Model>;
    type Error = Error;

    async fn load(&self, keys: &[Owner]) -> Result<HashMap<Owner, Vec<tenant::Model>>, Error> {
        relations::tenants_of(&self.0.db, &self.0.scope, keys).await
    }
}

/// Arguments of a nested list, comparable and hashable by their debug text so that every parent
/// asking the same thing shares one statement.
#[derive(Debug)]
pub struct ArgsKey<T> {
    text: Arc<str>,
    /// The arguments.
    pub args: Arc<T>,
}

impl<T: std::fmt::Debug> ArgsKey<T> {
    /// Wraps `args`.
    pub fn new(args: T) -> Self {
        ArgsKey {
            text: format!("{args:?}").into(),
            args: Arc::new(args),
        }
    }
}

impl<T> Clone for ArgsKey<T> {
    fn clone(&self) -> Self {
        ArgsKey {
            text: self.text.clone(),
            args: self.args.clone(),
        }
    }
}

impl<T> PartialEq for ArgsKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<T> Eq for ArgsKey<T> {}

impl<T> Hash for ArgsKey<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// A definition's id.
type DefinitionId = Id<image_definition::Entity>;
/// Key of [`BuildPages`]: a definition id and what is asked of its builds.
pub type PageKey = (DefinitionId, ArgsKey<BuildsQuery>);
/// Key of [`BuildCounts`]: a definition id and the filter of its builds.
pub type CountKey = (DefinitionId, ArgsKey<Filter<BuildField>>);

/// Pages of visible builds by definition, one statement per distinct arguments.
pub struct BuildPages(LoaderCtx);

impl Loader<PageKey> for BuildPages {
    type Value = Page<image_build::Model>;
    type Error = Error;

    async fn load(&self, keys: &[PageKey]) -> Result<HashMap<PageKey, Self::Value>, Error> {
        let mut result = HashMap::new();
        for (args, parents) in group(keys) {
            let pages =
                relations::builds_of_definitions(&self.0.db, &self.0.scope, &parents, &args.args)
                    .await?;
            for (parent, page) in pages {
                result.insert((parent, args.clone()), page);
            }
        }
        Ok(result)
    }
}

/// Counts of visible builds by definition, one statement per distinct filter.
pub struct BuildCounts(LoaderCtx);

impl Loader<CountKey> for BuildCounts {
    type Value = i64;
    type Error = Error;

    async fn load(&self, keys: &[CountKey]) -> Result<HashMap<CountKey, i64>, Error> {
        let mut result = HashMap::new();
        for (filter, parents) in group(keys) {
            let counts = relations::count_builds_of_definitions(
                &self.0.db,
                &self.0.scope,
                &parents,
                &filter.args,
            )
            .await?;
            for (parent, count) in counts {
                result.insert((parent, filter.clone()), count);
            }
        }
        Ok(result)
    }
}

/// Groups `(parent, args)` keys by their arguments.
fn group<T>(keys: &[(DefinitionId, ArgsKey<T>)]) -> HashMap<ArgsKey<T>, Vec<DefinitionId>> {
    let mut groups: HashMap<ArgsKey<T>, Vec<DefinitionId>> = HashMap::new();
    for (parent, args) in keys {
        groups.entry(args.clone()).or_default().push(*parent);
    }
    groups
}

/// Events of visible builds by build.
pub struct Events(LoaderCtx);

impl Loader<Id<image_build::Entity>> for Events {
    type Value = Vec<build_event::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[Id<image_build::Entity>],
    ) -> Result<HashMap<Id<image_build::Entity>, Self::Value>, Error> {
        relations::events_of_builds(&self.0.db, &self.0.scope, keys).await
    }
}

/// Key of [`LogPages`]: a build id and the page asked of its log.
pub type LogPageKey = (Id<image_build::Entity>, ArgsKey<PageArgs>);

/// Pages of the logs of visible builds, one statement per distinct page arguments.
pub struct LogPages(LoaderCtx);

impl Loader<LogPageKey> for LogPages {
    type Value = Page<build_log_line::Model>;
    type Error = Error;

    async fn load(&self, keys: &[LogPageKey]) -> Result<HashMap<LogPageKey, Self::Value>, Error> {
        let mut groups: HashMap<ArgsKey<PageArgs>, Vec<Id<image_build::Entity>>> = HashMap::new();
        for (build, args) in keys {
            groups.entry(args.clone()).or_default().push(*build);
        }
        let mut result = HashMap::new();
        for (args, builds) in groups {
            let pages =
                logs::lines_of_builds(&self.0.db, &self.0.scope, &builds, &args.args).await?;
            for (build, page) in pages {
                result.insert((build, args.clone()), page);
            }
        }
        Ok(result)
    }
}

/// The number of log lines kept for each visible build, in one statement.
pub struct LogCounts(LoaderCtx);

impl Loader<Id<image_build::Entity>> for LogCounts {
    type Value = i64;
    type Error = Error;

    async fn load(
        &self,
        keys: &[Id<image_build::Entity>],
    ) -> Result<HashMap<Id<image_build::Entity>, i64>, Error> {
        logs::count_of_builds(&self.0.db, &self.0.scope, keys).await
    }
}

/// API tokens by user: each user's, or why the scope may not see them.
pub struct Tokens(LoaderCtx);

impl Loader<Id<user::Entity>> for Tokens {
    type Value = Result<Vec<api_token::Model>, Error>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[Id<user::Entity>],
    ) -> Result<HashMap<Id<user::Entity>, Self::Value>, Error> {
        users::tokens_of(&self.0.db, &self.0.scope, keys).await
    }
}

/// The query of the latest build of each definition.
pub fn latest_build_query() -> BuildsQuery {
    BuildsQuery {
        filter: Filter::everything(),
        sort: Vec::new(),
        page: PageArgs::first(1),
    }
}
