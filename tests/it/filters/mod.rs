//! Filters (SPEC §3.1) through the GraphQL API: every lookup of every filter field of definitions
//! and builds, `q`, `and` / `or` / `not`, the characters SQL treats specially, and the filters of
//! the reference lists.

mod builds;
mod definitions;
mod reference;
mod text;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::enums::{BuilderType, OsFamily, ProvisionerRecipe};
use sea_orm::Set;
use serde_json::{Value, json};

use crate::support::TestApp;

/// A list that can be filtered, and the field that names its rows.
#[derive(Clone, Copy, Debug)]
enum List {
    Definitions,
    Builds,
    Tenants,
    Clusters,
    Endpoints,
    Templates,
    Users,
}

impl List {
    /// (GraphQL field, filter input type, name field of a node).
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            List::Definitions => ("imageDefinitions", "ImageDefinitionFilter", "name"),
            List::Builds => ("imageBuilds", "ImageBuildFilter", "outputName"),
            List::Tenants => ("tenants", "TenantFilter", "name"),
            List::Clusters => ("clusters", "ClusterFilter", "name"),
            List::Endpoints => ("proxmoxEndpoints", "ProxmoxEndpointFilter", "name"),
            List::Templates => ("cloudImageTemplates", "CloudImageTemplateFilter", "name"),
            List::Users => ("users", "UserFilter", "username"),
        }
    }
}

/// The names of the rows of `list` that `token` sees matching `filter`, sorted. Checks on the way
/// that `totalCount` counts exactly these rows.
async fn matching(app: &TestApp, token: &str, list: List, filter: &Value) -> Vec<String> {
    let (field, input, name) = list.parts();
    let query = format!(
        "query($filter: {input}) {{ {field}(filter: $filter, first: 100) {{
            nodes {{ {name} }} totalCount }} }}"
    );
    let body = app
        .as_user(token, &query, json!({ "filter": filter }))
        .await;
    assert!(body.get("errors").is_none(), "{filter}: {body}");
    let connection = &body["data"][field];
    let mut names: Vec<String> = connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{filter}: no nodes in {body}"))
        .iter()
        .map(|node| node[name].as_str().expect("a name").to_owned())
        .collect();
    assert_eq!(
        connection["totalCount"],
        json!(names.len()),
        "{filter}: totalCount disagrees with the rows"
    );
    names.sort();
    names
}

/// One filter and the names it must match.
struct Case(Value, Vec<String>);

fn case(filter: Value, names: &[&str]) -> Case {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    Case(filter, names)
}

/// Checks every case as admin, naming the filter that fails.
async fn expect(app: &TestApp, list: List, cases: impl IntoIterator<Item = Case>) {
    expect_as(app, &app.admin, list, cases).await;
}

async fn expect_as(app: &TestApp, token: &str, list: List, cases: impl IntoIterator<Item = Case>) {
    for Case(filter, names) in cases {
        assert_eq!(
            matching(app, token, list, &filter).await,
            names,
            "{list:?} filtered by {filter}"
        );
    }
}

/// Checks that `not` of each filter matches exactly the rows the filter does not.
async fn expect_complements(app: &TestApp, list: List, filters: &[Value]) {
    let everything = matching(app, &app.admin, list, &json!({})).await;
    for filter in filters {
        let mut both = matching(app, &app.admin, list, filter).await;
        let negated = matching(app, &app.admin, list, &json!({ "not": filter })).await;
        assert!(
            both.iter().all(|name| !negated.contains(name)),
            "{filter} and its negation overlap"
        );
        both.extend(negated);
        both.sort();
        assert_eq!(both, everything, "{filter} and its negation miss rows");
    }
}

/// A timestamp as GraphQL takes it.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The instant of every seeded row: `base` moved by whole seconds.
struct Clock(DateTime<Utc>);

impl Clock {
    fn new() -> Self {
        Clock(packer_gateway::clock::now())
    }

    fn at(&self, seconds: i64) -> DateTime<Utc> {
        self.0 + chrono::Duration::seconds(seconds)
    }

    fn text(&self, seconds: i64) -> String {
        stamp(self.at(seconds))
    }
}

/// Four definitions that differ in every filterable field (see the table in [`definitions`]).
struct Definitions {
    ids: [i32; 4],
    t1: i32,
    t2: i32,
    c1: i32,
    c2: i32,
    e1: i32,
    e2: i32,
    clock: Clock,
}

async fn definitions(app: &TestApp) -> Definitions {
    use {BuilderType as B, OsFamily as Os, ProvisionerRecipe as R};
    let world = app.world().await;
    let seed = app.seed();
    let c2 = seed.cluster("pve-edge").await;
    let e2 = seed.endpoint("pve-edge-api").await;
    let (t1, t2, c1, e1) = (world.t1, world.t2, world.cluster, world.endpoint);
    let clock = Clock::new();
    // Ids increase in this order; times are seconds from the clock's origin.
    #[rustfmt::skip]
    let rows = [
        // name          slug        description              endpoint cluster   node        os             recipe         builder          enabled tenants     created updated
        ("Alpha",       "alpha",    "The first image",       e1,      Some(c1), "pve1",     Os::Ubuntu,    R::UbuntuBase,  B::ProxmoxClone, true,  vec![t1],     -300,   -300),
        ("alphabet",    "alphabet", "",                      e2,      None,     "pve2",     Os::Debian,    R::DebianBase,  B::ProxmoxIso,   false, vec![],       -200,   -50),
        ("Beta",        "beta",     "mentions alpha inside", e1,      Some(c2), "pve-edge", Os::Rocky,     R::DockerHost,  B::ProxmoxClone, true,  vec![t1, t2], -100,   -100),
        ("gamma-ALPHA", "gamma",    "",                      e2,      Some(c1), "pve1",     Os::Almalinux, R::QemuAgent,   B::ProxmoxClone, true,  vec![t2],     -10,    -10),
    ];
    let mut ids = [0; 4];
    for (i, row) in rows.into_iter().enumerate() {
        let (name, slug, description, endpoint, cluster, node, os, recipe, builder, enabled) = (
            row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9,
        );
        let (created, updated) = (clock.at(row.11), clock.at(row.12));
        ids[i] = seed
            .definition(name, endpoint, c1, &row.10, |d| {
                d.slug = Set(slug.into());
                d.description = Set(description.into());
                d.target_cluster_id = Set(cluster);
                d.target_node = Set(node.into());
                d.os_family = Set(os);
                d.provisioner_recipe = Set(recipe);
                d.builder_type = Set(builder);
                d.enabled = Set(enabled);
                d.created = Set(created);
                d.last_updated = Set(updated);
            })
            .await;
    }
    Definitions {
        ids,
        t1,
        t2,
        c1,
        c2,
        e1,
        e2,
        clock,
    }
}

const ALL_DEFINITIONS: [&str; 4] = ["Alpha", "alphabet", "Beta", "gamma-ALPHA"];

/// Five builds that differ in every filterable field (see the table in [`builds`]), of three
/// definitions: d1 ubuntu for t1, d2 debian for everyone, d3 rocky for t2.
struct Builds {
    ids: [i32; 5],
    definitions: [i32; 3],
    t1: i32,
    t2: i32,
    e2: i32,
    user: i32,
    template: i32,
    clock: Clock,
}
