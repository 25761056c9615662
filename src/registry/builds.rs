//! Image builds: their fields, sort keys and visibility. Their lifecycle is [`super::lifecycle`].

use entity::{enums::BuildStatus, image_build, image_definition, image_definition_tenant, user};
use sea_orm::{
    DatabaseConnection, QueryResult, Select,
    sea_query::{Expr, Func},
};

use super::{
    filter::Filter,
    page::{Page, PageArgs, Sort},
    read::{self, Audience, Readable},
    rows::Columns,
    visibility,
};
use crate::{auth::Scope, error::Error, filter_fields, sort_fields};

/// The filterable fields of a build (SPEC §3.1), declared once: see `registry::filter`.
#[macro_export]
macro_rules! build_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            BuildField for image_build search [OutputName, BackendBuildId, Error] {
                /// Id.
                Id id: Id(image_build) = column(Id, not_null),
                /// Definition id.
                Definition definition: Id(image_definition) = column(DefinitionId, not_null),
                /// Status.
                Status status: Choice(BuildStatus) = column(Status, not_null),
                /// Backend build id.
                BackendBuildId backend_build_id: Text = column(BackendBuildId, not_null),
                /// Endpoint id.
                ProxmoxEndpoint proxmox_endpoint: Id(proxmox_endpoint) = column(ProxmoxEndpointId, not_null),
                /// Target node.
                TargetNode target_node: Text = column(TargetNode, not_null),
                /// Output VMID.
                OutputVmid output_vmid: Int = column(OutputVmid, not_null),
                /// Version label.
                ImageVersion image_version: Text = column(ImageVersion, not_null),
                /// Id of the user that queued it.
                CreatedBy created_by: Id(user) = column(CreatedById, nullable),
                /// NetBox job id.
                NetboxJobId netbox_job_id: Int = column(NetboxJobId, nullable),
                /// Catalog entry id.
                CloudImageTemplate cloud_image_template: Id(cloud_image_template) = column(CloudImageTemplateId, nullable),
                /// The definition's operating system family.
                OsFamily os_family: Choice(OsFamily) = through(DefinitionId, image_definition, Id, OsFamily),
                /// A tenant id among the definition's `allowedTenants`.
                Tenant tenant: Id(tenant) = through(DefinitionId, image_definition_tenant, DefinitionId, TenantId),
                /// Start time.
                StartedAt started_at: Time = column(StartedAt, nullable),
                /// End time.
                CompletedAt completed_at: Time = column(CompletedAt, nullable),
                /// Queue time.
                Created created: Time = column(Created, not_null),
            }
        }
    };
}

/// The sort keys of a build, declared once: see [`sort_fields!`](crate::sort_fields).
#[macro_export]
macro_rules! build_sort {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            BuildSort for image_build {
                /// Id.
                Id = (Id, "id", not_null),
                /// Status.
                Status = (Status, "status", not_null),
                /// Output name.
                OutputName = (OutputName, "output_name", not_null),
                /// Output VMID.
                OutputVmid = (OutputVmid, "output_vmid", not_null),
                /// Version label.
                ImageVersion = (ImageVersion, "image_version", not_null),
                /// Start time (not started last when ascending).
                StartedAt = (StartedAt, "started_at", nullable),
                /// End time (not ended last when ascending).
                CompletedAt = (CompletedAt, "completed_at", nullable),
                /// Queue time.
                Created = (Created, "created", not_null),
                /// Last change.
                LastUpdated = (LastUpdated, "last_updated", not_null),
            }
        }
    };
}

build_filter!(
    filter_fields,
    /// The filterable fields of a build (SPEC §3.1); `q` searches output name, backend build id
    /// and error.
);
build_sort!(sort_fields, /// The sortable fields of a build.
);

impl Readable for image_build::Entity {
    type Field = BuildField;
    type Sort = BuildSort;
    const AUDIENCE: Audience = Audience::Everyone;

    fn rows(scope: &Scope) -> Option<Expr> {
        visibility::builds(scope)
    }

    fn default_sort() -> Vec<Sort<BuildSort>> {
        vec![Sort {
            field: BuildSort::Created,
            desc: true,
        }]
    }
}

/// What a page of builds reads, in its own statement: which columns of its builds, and which of
/// the rows they point at (see [`Columns`]: some columns make placeholders of the others).
#[derive(Clone, Copy, Debug)]
pub struct Along {
    /// The columns of the page's builds.
    pub builds: Columns,
    /// Each build's definition, with these columns.
    pub definitions: Option<Columns>,
    /// Each build's creator (for a scope that may read users), with these columns.
    pub creators: Option<Columns>,
}

/// A page of builds and the rows its builds point at, read in one statement.
pub struct PageAlong {
    /// The page.
    pub page: Page<image_build::Model>,
    /// The definitions of its builds, when asked for (a definition is visible with its builds).
    pub definitions: Option<Vec<image_definition::Model>>,
    /// The creators of its builds, when asked for and readable (`None`: not read).
    pub creators: Option<Vec<user::Model>>,
}

/// The table aliases of the relations joined into a page of builds.
const DEFINITION: &str = "pgw_definition";
const CREATOR: &str = "pgw_creator";

/// One page of the visible builds matching `filter`, in `sort`, with the to-one relations
/// `along` asks for LEFT JOINed into the page's statement: the relations of a page cost no
/// statement of their own. Creators are joined only when `scope` may read users.
pub async fn list_along(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<BuildField>,
    sort: Vec<Sort<BuildSort>>,
    args: &PageArgs,
    along: Along,
) -> Result<PageAlong, Error> {
    let definitions = along.definitions;
    let creators = along
        .creators
        .filter(|_| read::may_read::<user::Entity>(scope).is_ok());
    let backend = db.get_database_backend();
    let join = |select: Select<image_build::Entity>| {
        let select = read::join_one::<_, image_definition::Entity>(
            select,
            image_build::Column::DefinitionId,
            image_definition::Column::Id,
            (DEFINITION, definitions),
            backend,
        );
        read::join_one::<_, user::Entity>(
            select,
            image_build::Column::CreatedById,
            user::Column::Id,
            (CREATOR, creators),
            backend,
        )
    };
    // The joined columns follow the build's (from `at` on), in the order of `join`.
    let also = |row: &QueryResult, definition_at: usize| {
        let creator_at = definition_at + read::width::<image_definition::Model>(definitions);
        Ok((
            read::joined_row::<image_definition::Entity>(
                row,
                definition_at,
                (DEFINITION, definitions),
            )?,
            read::joined_row::<user::Entity>(row, creator_at, (CREATOR, creators))?,
        ))
    };
    let (page, rows) = read::list_also::<image_build::Entity, _>(
        db,
        scope,
        filter,
        sort,
        args,
        along.builds,
        join,
        also,
    )
    .await?;
    let (mut found_definitions, mut found_creators) = (Vec::new(), Vec::new());
    for (definition, creator) in rows {
        found_definitions.extend(definition);
        found_creators.extend(creator);
    }
    Ok(PageAlong {
        page,
        definitions: definitions.map(|_| found_definitions),
        creators: creators.map(|_| found_creators),
    })
}

/// The badge colour of a status (SPEC §1.2), for every UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusColor {
    /// Completed.
    Green,
    /// Running.
    Blue,
    /// Failed.
    Red,
    /// Cancelled.
    Yellow,
    /// Pending.
    Grey,
}

/// The badge colour of `status`.
pub fn status_color(status: BuildStatus) -> StatusColor {
    match status {
        BuildStatus::Completed => StatusColor::Green,
        BuildStatus::Running => StatusColor::Blue,
        BuildStatus::Failed => StatusColor::Red,
        BuildStatus::Cancelled => StatusColor::Yellow,
        BuildStatus::Pending => StatusColor::Grey,
    }
}

/// How many builds `scope` sees in each status, and when the oldest pending one was queued: the
/// operations metrics (SPEC §9). Two statements.
pub async fn census(
    db: &impl sea_orm::ConnectionTrait,
    scope: &Scope,
) -> Result<Census, crate::error::Error> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let visible = || {
        let query = image_build::Entity::find();
        match visibility::builds(scope) {
            Some(condition) => query.filter(condition),
            None => query,
        }
    };
    let by_status: Vec<(BuildStatus, i64)> = visible()
        .select_only()
        .column(image_build::Column::Status)
        .column_as(
            Expr::expr(Func::count(Expr::col(image_build::Column::Id))),
            "count",
        )
        .group_by(image_build::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let oldest_pending: Option<Option<chrono::DateTime<chrono::Utc>>> = visible()
        .filter(image_build::Column::Status.eq(BuildStatus::Pending))
        .select_only()
        .column_as(
            Expr::expr(Func::min(Expr::col(image_build::Column::Created))),
            "oldest",
        )
        .into_tuple()
        .one(db)
        .await?;
    Ok(Census {
        by_status,
        oldest_pending: oldest_pending.flatten(),
    })
}

/// What [`census`] counts.
#[derive(Clone, Debug)]
pub struct Census {
    /// Builds per status (statuses without builds are absent).
    pub by_status: Vec<(BuildStatus, i64)>,
    /// When the oldest pending build was queued.
    pub oldest_pending: Option<chrono::DateTime<chrono::Utc>>,
}
