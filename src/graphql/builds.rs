//! `ImageBuild`: its type, filter and ordering inputs, and its queries.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use entity::{cloud_image_template, image_build, image_definition, proxmox_endpoint, user};

use super::{
    connection::{Connection, Count, Node},
    db,
    definitions::{self, ImageDefinition},
    enums::{BuildStatus, StatusColor},
    error::{nullable, related},
    events::BuildEvent,
    ids,
    loaders::ArgsKey,
    logs::BuildLogLine,
    lookups::{OrderBy, filter_of, sort},
    projection::{self, Kept, Reads},
    reference::{CloudImageTemplate, ProxmoxEndpoint, User},
    request,
    scalars::{DateTime, Json},
    writer,
};
use crate::{
    build_filter, build_sort,
    error::Error,
    graphql_filter, graphql_order, reads,
    registry::{
        builds::{self, BuildField, BuildSort, status_color},
        id::Id,
        lifecycle::{self, QueueRequest},
        page::PageArgs,
        read, template,
    },
};

/// One execution of a definition (SPEC §1.2).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ImageBuild {
    /// The global id: opaque, unique across types; `node(id:)` finds the object by it.
    pub id: ids::GlobalId<image_build::Entity>,
    /// Lifecycle state.
    pub status: BuildStatus,
    /// Id assigned by the build backend; empty until known.
    pub backend_build_id: String,
    /// Proxmox node where it runs (copied from the definition when queued).
    pub target_node: String,
    /// VMID of the output template.
    pub output_vmid: i32,
    /// Name of the output template.
    pub output_name: String,
    /// Version label.
    pub image_version: String,
    /// Per-build variable overrides.
    pub variables: Json,
    /// Job timeout in force when it started.
    pub timeout_seconds: Option<i32>,
    /// When it started.
    pub started_at: Option<DateTime>,
    /// When it ended.
    pub completed_at: Option<DateTime>,
    /// Linked NetBox background job.
    pub netbox_job_id: Option<i32>,
    /// Raw response of the build backend.
    pub backend_response: Json,
    /// Error detail on failure.
    pub error: String,
    /// When it was queued.
    pub created: DateTime,
    /// Last change.
    pub last_updated: DateTime,
    /// Internal: the `row_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub row_id: Id<image_build::Entity>,
    /// Internal: the `definition_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub definition_id: Id<image_definition::Entity>,
    /// Internal: the `proxmox_endpoint_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub proxmox_endpoint_id: Id<proxmox_endpoint::Entity>,
    /// Internal: the `created_by_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub created_by_id: Option<Id<user::Entity>>,
    /// Internal: the `cloud_image_template_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub cloud_image_template_id: Option<Id<cloud_image_template::Entity>>,
    /// Internal: the `rebuild_of_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub rebuild_of_id: Option<Id<image_build::Entity>>,
    /// Internal: its definition as its page read it along, when with only some columns.
    #[graphql(skip)]
    pub definition_along: Kept<image_definition::Model>,
}

/// The columns each field of an `ImageBuild` reads (see [`projection`]).
pub const READS: Reads = reads!(image_build {
    "id" => [Id],
    "status" => [Status],
    "backendBuildId" => [BackendBuildId],
    "targetNode" => [TargetNode],
    "outputVmid" => [OutputVmid],
    "outputName" => [OutputName],
    "imageVersion" => [ImageVersion],
    "variables" => [Variables],
    "timeoutSeconds" => [TimeoutSeconds],
    "startedAt" => [StartedAt],
    "completedAt" => [CompletedAt],
    "netboxJobId" => [NetboxJobId],
    "backendResponse" => [BackendResponse],
    "error" => [Error],
    "created" => [Created],
    "lastUpdated" => [LastUpdated],
    "statusColor" => [Status],
    "definition" => [DefinitionId],
    "proxmoxEndpoint" => [ProxmoxEndpointId],
    "createdBy" => [CreatedById],
    "cloudImageTemplate" => [CloudImageTemplateId],
    "rebuildOf" => [RebuildOfId],
    "packerTemplate" => [DefinitionId],
    "log" => [],
    "events" => [],
});

impl From<image_build::Model> for ImageBuild {
    fn from(m: image_build::Model) -> Self {
        ImageBuild {
            id: ids::GlobalId::of_row(m.id),
            row_id: Id::of(&m),
            status: m.status.into(),
            backend_build_id: m.backend_build_id,
            target_node: m.target_node,
            output_vmid: m.output_vmid,
            output_name: m.output_name,
            image_version: m.image_version,
            variables: Json::from(m.variables),
            timeout_seconds: m.timeout_seconds,
            started_at: m.started_at.map(Into::into),
            completed_at: m.completed_at.map(Into::into),
            netbox_job_id: m.netbox_job_id,
            backend_response: Json::from(m.backend_response),
            error: m.error,
            created: m.created.into(),
            last_updated: m.last_updated.into(),
            definition_id: Id::of_row(m.definition_id),
            proxmox_endpoint_id: Id::of_row(m.proxmox_endpoint_id),
            created_by_id: m.created_by_id.map(Id::of_row),
            cloud_image_template_id: m.cloud_image_template_id.map(Id::of_row),
            rebuild_of_id: m.rebuild_of_id.map(Id::of_row),
            definition_along: None,
        }
    }
}

impl Node for ImageBuild {
    const NAME: &'static str = "ImageBuild";
}

#[ComplexObject]
impl ImageBuild {
    /// The badge colour of its status.
    async fn status_color(&self) -> StatusColor {
        status_color(self.status.into()).into()
    }

    /// The definition built.
    async fn definition(&self, ctx: &Context<'_>) -> Result<ImageDefinition> {
        let definition = match &self.definition_along {
            Some(read) => read.as_deref().cloned(),
            None => {
                let loaders = &request(ctx).loaders;
                loaders.definitions().load_one(self.definition_id).await?
            }
        };
        Ok(definition.ok_or(Error::NotFound)?.into())
    }

    /// Where it runs.
    async fn proxmox_endpoint(&self, ctx: &Context<'_>) -> Result<ProxmoxEndpoint> {
        let loaders = &request(ctx).loaders;
        let endpoint = loaders
            .endpoints()
            .load_one(self.proxmox_endpoint_id)
            .await?;
        Ok(endpoint.ok_or(Error::NotFound)?.into())
    }

    /// The user that queued it (null once that user is deleted).
    async fn created_by(&self, ctx: &Context<'_>) -> Option<User> {
        related(
            ctx,
            request(ctx)
                .loaders
                .users()
                .load_optional(self.created_by_id),
        )
        .await
    }

    /// The catalog entry it produced.
    async fn cloud_image_template(&self, ctx: &Context<'_>) -> Option<CloudImageTemplate> {
        related(
            ctx,
            request(ctx)
                .loaders
                .templates()
                .load_optional(self.cloud_image_template_id),
        )
        .await
    }

    /// The completed build this one rebuilds.
    async fn rebuild_of(&self, ctx: &Context<'_>) -> Option<ImageBuild> {
        related(
            ctx,
            request(ctx)
                .loaders
                .builds()
                .load_optional(self.rebuild_of_id),
        )
        .await
    }

    /// The HCL2 Packer template this build runs: its definition's, with the build's effective
    /// variables (SPEC §7.4).
    async fn packer_template(&self, ctx: &Context<'_>) -> Result<String> {
        let loaders = &request(ctx).loaders;
        let build = loaders
            .builds()
            .load_one(self.row_id)
            .await?
            .ok_or(Error::NotFound)?;
        let definition = loaders
            .definitions()
            .load_one(self.definition_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(template::render(&definition, Some(&build))?)
    }

    /// Its log, oldest line first (SPEC §7.5); `after` is a cursor of this connection.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<BuildLogLine>> {
        let args = PageArgs::new(first.map(i64::from), after, None, None)?;
        let page = request(ctx)
            .loaders
            .log_pages()
            .load_one((self.row_id, ArgsKey::new(args)))
            .await?
            .ok_or(Error::NotFound)?;
        Ok(Connection::new(
            page,
            Count::LogLines(self.row_id),
            BuildLogLine::from,
        ))
    }

    /// Its status changes, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<BuildEvent>> {
        let events = request(ctx).loaders.events().load_one(self.row_id).await?;
        Ok(events
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

build_filter!(
    graphql_filter,
    /// Filters builds; every field set must match.
    ImageBuildFilter
);
build_sort!(
    graphql_order,
    /// The sortable fields of a build.
    ImageBuildOrderField
);

/// Queries of builds.
#[derive(Default)]
pub struct BuildQuery;

#[Object]
impl BuildQuery {
    /// One build. Nullable, so that a missing one (`NOT_FOUND`) nulls only this field, not the
    /// whole response.
    async fn image_build(&self, ctx: &Context<'_>, id: ID) -> Option<ImageBuild> {
        nullable(ctx, async move {
            let id = ids::parse(&id, "id")?;
            // Only the columns its fields read (see `projection`).
            let columns = projection::columns(READS, &[ctx.field()]);
            let scope = &request(ctx).scope;
            let build = read::get_some::<image_build::Entity>(db(ctx), scope, id, columns).await?;
            Ok(Some(build.into()))
        })
        .await
    }

    /// Builds, newest first unless ordered otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn image_builds(
        &self,
        ctx: &Context<'_>,
        filter: Option<ImageBuildFilter>,
        order_by: Option<Vec<OrderBy<ImageBuildOrderField>>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<ImageBuild>> {
        let filter = filter_of(filter, ImageBuildFilter::into_filter)?;
        let args = PageArgs::new(first.map(i64::from), after, last.map(i64::from), before)?;
        // The page's statement selects the columns its nodes' fields read, and brings the
        // to-one relations they ask for (see `projection`).
        let nodes = projection::nodes(ctx);
        let along = builds::Along {
            builds: projection::columns(READS, &nodes),
            definitions: projection::columns_below(
                definitions::READS,
                &projection::field(&nodes, "definition"),
            ),
            // Whole: a user's row is narrow, and the same users are often asked for elsewhere
            // in the request (the actors of the builds' events), which the loaders then answer.
            creators: projection::whole(&nodes, "createdBy"),
        };
        let request = request(ctx);
        let result = builds::list_along(
            db(ctx),
            &request.scope,
            &filter,
            sort(order_by),
            &args,
            along,
        )
        .await?;
        let loaders = &request.loaders;
        let definitions = projection::kept(along.definitions, result.definitions, Id::of, |d| {
            loaders
                .definitions()
                .feed_many(d.into_iter().map(|d| (Id::of(&d), d)))
        });
        loaders.users().feed_many(
            result
                .creators
                .into_iter()
                .flatten()
                .map(|u| (Id::of(&u), u)),
        );
        Ok(Connection::of(result.page, |row| {
            let mut build = ImageBuild::from(row);
            build.definition_along =
                projection::along(definitions.as_ref(), Some(build.definition_id));
            build
        }))
    }
}

/// A build to queue (SPEC §2.2).
#[derive(InputObject)]
pub struct QueueImageBuildInput {
    /// The definition to build.
    pub definition_id: ID,
    /// VMID of the output template (100..=999999999).
    pub output_vmid: i32,
    /// Name of the output template; default `<slug>-<YYYYMMDD>`.
    pub output_name: Option<String>,
    /// Version label; default the queue date `YYYY-MM-DD`.
    pub image_version: Option<String>,
    /// Per-build variable overrides (SPEC §1.6); needs `imageFactoryAllowCustomVariables`.
    pub variables: Option<Json>,
    /// Repeating the request with the same key and input returns the first result.
    pub idempotency_key: Option<String>,
}

/// Mutations of the build lifecycle (SPEC §2).
#[derive(Default)]
pub struct BuildMutation;

#[Object]
impl BuildMutation {
    /// Queues a build, checking the gates of SPEC §2.2 in order.
    async fn queue_image_build(
        &self,
        ctx: &Context<'_>,
        input: QueueImageBuildInput,
    ) -> Result<ImageBuild> {
        let request = QueueRequest {
            definition: ids::parse(&input.definition_id, "definition_id")?,
            output_vmid: input.output_vmid,
            output_name: input.output_name,
            image_version: input.image_version,
            variables: input.variables.map(|v| v.0),
            idempotency_key: input.idempotency_key,
        };
        Ok(lifecycle::queue(writer(ctx), request).await?.into())
    }

    /// Starts a pending build (WORKER), unless `imageFactoryMaxConcurrentBuilds` already run.
    async fn start_image_build(
        &self,
        ctx: &Context<'_>,
        id: ID,
        backend_build_id: Option<String>,
        netbox_job_id: Option<i32>,
    ) -> Result<ImageBuild> {
        let id = ids::parse(&id, "id")?;
        Ok(
            lifecycle::start(writer(ctx), id, backend_build_id, netbox_job_id)
                .await?
                .into(),
        )
    }

    /// Completes a running build (WORKER) and publishes it to the catalog.
    async fn complete_image_build(
        &self,
        ctx: &Context<'_>,
        id: ID,
        output_vmid: Option<i32>,
        backend_response: Option<Json>,
    ) -> Result<ImageBuild> {
        let id = ids::parse(&id, "id")?;
        let response = backend_response.map(|v| v.0);
        Ok(lifecycle::complete(writer(ctx), id, output_vmid, response)
            .await?
            .into())
    }

    /// Fails a pending or running build (WORKER).
    async fn fail_image_build(
        &self,
        ctx: &Context<'_>,
        id: ID,
        error: String,
        backend_response: Option<Json>,
    ) -> Result<ImageBuild> {
        let id = ids::parse(&id, "id")?;
        let response = backend_response.map(|v| v.0);
        Ok(lifecycle::fail(writer(ctx), id, error, response)
            .await?
            .into())
    }

    /// Cancels a pending or running build.
    async fn cancel_image_build(&self, ctx: &Context<'_>, id: ID) -> Result<ImageBuild> {
        let id = ids::parse(&id, "id")?;
        Ok(lifecycle::cancel(writer(ctx), id).await?.into())
    }

    /// Queues a new build of a completed build, with the same parameters.
    async fn rebuild_image(&self, ctx: &Context<'_>, id: ID) -> Result<ImageBuild> {
        let id = ids::parse(&id, "id")?;
        Ok(lifecycle::rebuild(writer(ctx), id).await?.into())
    }
}
