//! Every query of SPEC §3.1 answers: lookups by id and slug with their errors, every relation
//! field, `statusColor`, `pluginSettings`, `buildEvents`, `me`, the reference lookups and lists,
//! and no secret anywhere in the schema.

mod caller;
mod events;
mod lookups;
mod nulls;
mod reference;
mod relations;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{
    build_event, cluster,
    enums::{BuildStatus, Role},
    image_build, image_definition, proxmox_endpoint, user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::{Value, json};

use crate::support::{TestApp, at, code, gid};

/// A small graph in which every relation is set once and left empty once.
struct Graph {
    t1: i32,
    t2: i32,
    /// Owned by t1.
    cluster: i32,
    /// Owned by t2.
    endpoint: i32,
    /// On `cluster`, for t1 and t2.
    definition: i32,
    /// No cluster, no tenant, no build.
    bare: i32,
    /// On `cluster`, for t2.
    template: i32,
    /// An OPERATOR of t1 that queued `completed`.
    user: i32,
    /// Completed, produced `template`, with three events.
    completed: i32,
    /// The pending rebuild of `completed`, queued by nobody.
    rebuild: i32,
}

async fn graph(app: &TestApp) -> Graph {
    let world = app.world().await;
    let seed = app.seed();
    let db = &app.app.db;
    cluster::Entity::update_many()
        .col_expr(cluster::Column::TenantId, Expr::value(world.t1))
        .filter(cluster::Column::Id.eq(world.cluster))
        .exec(db)
        .await
        .expect("own the cluster");
    proxmox_endpoint::Entity::update_many()
        .col_expr(proxmox_endpoint::Column::TenantId, Expr::value(world.t2))
        .filter(proxmox_endpoint::Column::Id.eq(world.endpoint))
        .exec(db)
        .await
        .expect("own the endpoint");
    let (user, _) = app.user(Role::Operator, &[world.t1], true).await;
    let definition = seed
        .definition(
            "Ubuntu 24.04",
            world.endpoint,
            world.cluster,
            &[world.t2, world.t1],
            |d| d.slug = Set("ubuntu-2404".into()),
        )
        .await;
    let bare = seed
        .definition("Bare", world.endpoint, world.cluster, &[], |d| {
            d.slug = Set("bare".into());
            d.target_cluster_id = Set(None);
        })
        .await;
    let template = seed
        .template("ubuntu-2404-20260101", world.cluster, 1234, &[world.t2])
        .await;
    // Ten minutes ago, with a microsecond part that a millisecond clock would lose.
    let queued = at(-600).trunc_subsecs(0) + chrono::Duration::microseconds(123_456);
    let completed = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Completed,
            queued,
            Some(user),
            |b| {
                b.backend_build_id = Set("job-1".into());
                b.output_vmid = Set(1234);
                b.output_name = Set("ubuntu-2404-20260101".into());
                b.image_version = Set("2026-01-01".into());
                b.variables = Set(json!({"cores": 2}));
                b.timeout_seconds = Set(Some(3600));
                b.completed_at = Set(Some(at(-300)));
                b.netbox_job_id = Set(Some(42));
                b.cloud_image_template_id = Set(Some(template));
                b.backend_response = Set(json!({"ok": true}));
            },
        )
        .await;
    for (from, to, message, seconds) in [
        (BuildStatus::Pending, BuildStatus::Running, "started", -590),
        (BuildStatus::Running, BuildStatus::Completed, "done", -300),
    ] {
        build_event::ActiveModel {
            build_id: Set(completed),
            from_status: Set(Some(from)),
            to_status: Set(to),
            actor_id: Set(Some(app.admin_id)),
            message: Set(message.into()),
            at: Set(at(seconds)),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("event");
    }
    let rebuild = seed
        .build(
            definition,
            world.endpoint,
            BuildStatus::Pending,
            at(-100),
            None,
            |b| b.rebuild_of_id = Set(Some(completed)),
        )
        .await;
    Graph {
        t1: world.t1,
        t2: world.t2,
        cluster: world.cluster,
        endpoint: world.endpoint,
        definition,
        bare,
        template,
        user,
        completed,
        rebuild,
    }
}

/// An id as a client coming from REST gives it: the row's integer (still accepted, see
/// `graphql::ids`).
fn id(n: i32) -> String {
    n.to_string()
}

/// The global id GraphQL answers for a definition.
fn definition_id(n: i32) -> String {
    gid::<image_definition::Entity>(n)
}

/// The global id GraphQL answers for a build.
fn build_id(n: i32) -> String {
    gid::<image_build::Entity>(n)
}

/// The global id GraphQL answers for a user.
fn user_id(n: i32) -> String {
    gid::<user::Entity>(n)
}

/// The instant of a GraphQL `DateTime`.
fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("{value} is not a DateTime"))
        .with_timezone(&Utc)
}

/// Checks that a body has `code` on its first error, with `data.<field>` null and the sibling
/// `pluginSettings` answered: a failed lookup nulls itself, not the whole response.
fn failed_alone(body: &Value, field: &str, expected: &str) {
    assert_eq!(code(body), expected, "{body}");
    assert_eq!(body["data"][field], Value::Null, "{body}");
    assert_eq!(
        body["data"]["pluginSettings"]["imageFactoryEnabled"],
        json!(false),
        "the sibling field should survive: {body}"
    );
}
