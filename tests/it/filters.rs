//! Filters (SPEC §3.1) through the GraphQL API: every lookup of every filter field of definitions
//! and builds, `q`, `and` / `or` / `not`, the characters SQL treats specially, and the filters of
//! the reference lists.

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{
    cluster,
    enums::{BuildStatus, BuilderType, EndpointMode, OsFamily, ProvisionerRecipe, Role},
    proxmox_endpoint,
};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};

use crate::support::{TestApp, code};

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

#[tokio::test]
async fn definition_string_lookups() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"exact": "Alpha"}}), &["Alpha"]),
        case(json!({"name": {"exact": "alpha"}}), &[]),
        case(json!({"name": {"iExact": "ALPHA"}}), &["Alpha"]),
        case(json!({"name": {"contains": "lpha"}}), &["Alpha", "alphabet"]),
        case(json!({"name": {"iContains": "ALPHA"}}), &["Alpha", "alphabet", "gamma-ALPHA"]),
        case(json!({"name": {"startsWith": "al"}}), &["alphabet"]),
        case(json!({"name": {"startsWith": "Al"}}), &["Alpha"]),
        case(json!({"name": {"endsWith": "ALPHA"}}), &["gamma-ALPHA"]),
        case(json!({"name": {"endsWith": "a"}}), &["Alpha", "Beta"]),
        case(json!({"name": {"in": ["Beta", "gamma-ALPHA", "nope"]}}), &["Beta", "gamma-ALPHA"]),
        case(json!({"name": {"in": []}}), &[]),
        case(json!({"name": {"isNull": true}}), &[]),
        case(json!({"name": {"isNull": false}}), &ALL_DEFINITIONS),
        // Several lookups on one field must all hold.
        case(json!({"name": {"contains": "a", "startsWith": "B"}}), &["Beta"]),
        case(json!({"slug": {"exact": "beta"}}), &["Beta"]),
        case(json!({"slug": {"startsWith": "alpha"}}), &["Alpha", "alphabet"]),
        case(json!({"slug": {"iExact": "GAMMA"}}), &["gamma-ALPHA"]),
        case(json!({"targetNode": {"exact": "pve1"}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetNode": {"startsWith": "pve-"}}), &["Beta"]),
        case(json!({"targetNode": {"iContains": "EDGE"}}), &["Beta"]),
        case(json!({"targetNode": {"endsWith": "2"}}), &["alphabet"]),
        case(json!({"targetNode": {"in": ["pve2", "pve-edge"]}}), &["alphabet", "Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_id_lookups() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let [a, b, c, g] = d.ids.map(|id| id.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"id": {"eq": a}}), &["Alpha"]),
        case(json!({"id": {"in": [a, c]}}), &["Alpha", "Beta"]),
        case(json!({"id": {"gt": a}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"id": {"gte": b}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"id": {"lt": c}}), &["Alpha", "alphabet"]),
        case(json!({"id": {"lte": c}}), &["Alpha", "alphabet", "Beta"]),
        case(json!({"id": {"gt": a, "lt": g}}), &["alphabet", "Beta"]),
        case(json!({"id": {"isNull": true}}), &[]),
        case(json!({"id": {"isNull": false}}), &ALL_DEFINITIONS),
        case(json!({"id": {"eq": "999999"}}), &[]),
        case(json!({"id": {"lt": "9223372036854775807"}}), &ALL_DEFINITIONS),
        case(json!({"proxmoxEndpoint": {"eq": d.e2.to_string()}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"proxmoxEndpoint": {"in": [d.e1.to_string()]}}), &["Alpha", "Beta"]),
        case(json!({"targetCluster": {"eq": d.c1.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"in": [d.c2.to_string()]}}), &["Beta"]),
        case(json!({"targetCluster": {"gt": d.c1.to_string()}}), &["Beta"]),
        case(json!({"targetCluster": {"gte": d.c1.to_string()}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"lt": d.c2.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"lte": d.c1.to_string()}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"targetCluster": {"isNull": true}}), &["alphabet"]),
        case(json!({"targetCluster": {"isNull": false}}), &["Alpha", "Beta", "gamma-ALPHA"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_enum_and_boolean_lookups() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"enabled": {"eq": false}}), &["alphabet"]),
        case(json!({"enabled": {"eq": true}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"builderType": {"eq": "PROXMOX_ISO"}}), &["alphabet"]),
        case(json!({"builderType": {"in": ["PROXMOX_CLONE"]}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"builderType": {"in": []}}), &[]),
        case(json!({"osFamily": {"eq": "ROCKY"}}), &["Beta"]),
        case(json!({"osFamily": {"eq": "FREEBSD"}}), &[]),
        case(json!({"osFamily": {"in": ["UBUNTU", "DEBIAN"]}}), &["Alpha", "alphabet"]),
        case(json!({"provisionerRecipe": {"eq": "QEMU_AGENT"}}), &["gamma-ALPHA"]),
        case(json!({"provisionerRecipe": {"in": ["DOCKER_HOST", "UBUNTU_BASE"]}}), &["Alpha", "Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_tenant_filter_matches_allowed_tenants() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let (t1, t2) = (d.t1.to_string(), d.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["Alpha", "Beta"]),
        case(json!({"tenant": {"eq": t2}}), &["Beta", "gamma-ALPHA"]),
        case(json!({"tenant": {"in": [t1, t2]}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"tenant": {"gt": t1}}), &["Beta", "gamma-ALPHA"]),
        // `isNull: true` means unrestricted (no allowed tenant at all).
        case(json!({"tenant": {"isNull": true}}), &["alphabet"]),
        case(json!({"tenant": {"isNull": false}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["alphabet", "gamma-ALPHA"]),
        // Both tenants at once: an `and` of two memberships, not one row equal to both.
        case(json!({"and": [{"tenant": {"eq": t1}}, {"tenant": {"eq": t2}}]}), &["Beta"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_timestamp_lookups() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let t = |s| d.clock.text(s);
    let plus_two = chrono::FixedOffset::east_opt(2 * 3600).expect("an offset");
    let elsewhere = d.clock.at(-10).with_timezone(&plus_two).to_rfc3339();
    #[rustfmt::skip]
    let cases = [
        case(json!({"created": {"gt": t(-300)}}), &["alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"created": {"gte": t(-300)}}), &ALL_DEFINITIONS),
        case(json!({"created": {"lt": t(-100)}}), &["Alpha", "alphabet"]),
        case(json!({"created": {"lte": t(-100)}}), &["Alpha", "alphabet", "Beta"]),
        case(json!({"created": {"gt": t(-200), "lt": t(-10)}}), &["Beta"]),
        case(json!({"created": {"isNull": true}}), &[]),
        case(json!({"created": {"isNull": false}}), &ALL_DEFINITIONS),
        case(json!({"lastUpdated": {"gt": t(-60)}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"lastUpdated": {"gte": t(-50)}}), &["alphabet", "gamma-ALPHA"]),
        case(json!({"lastUpdated": {"lt": t(-100)}}), &["Alpha"]),
        case(json!({"lastUpdated": {"lte": t(-100)}}), &["Alpha", "Beta"]),
        // Another offset, the same instant.
        case(json!({"created": {"gte": elsewhere}}), &["gamma-ALPHA"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn definition_free_text_searches_name_and_description() {
    let app = TestApp::new().await;
    definitions(&app).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"q": "alpha"}), &["Alpha", "alphabet", "Beta", "gamma-ALPHA"]),
        case(json!({"q": "FIRST IMAGE"}), &["Alpha"]),
        case(json!({"q": "inside"}), &["Beta"]),
        case(json!({"q": "zzz"}), &[]),
        case(json!({"q": ""}), &ALL_DEFINITIONS),
        case(json!({"q": "alpha", "enabled": {"eq": false}}), &["alphabet"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn and_or_not_combine() {
    let app = TestApp::new().await;
    let d = definitions(&app).await;
    let (c1, t1, t2) = (d.c1.to_string(), d.t1.to_string(), d.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"and": []}), &ALL_DEFINITIONS),
        case(json!({"or": []}), &[]),
        case(json!({"not": {"or": []}}), &ALL_DEFINITIONS),
        case(json!({"not": {"and": []}}), &[]),
        case(json!({"and": [{"osFamily": {"in": ["UBUNTU", "DEBIAN"]}}, {"enabled": {"eq": true}}]}), &["Alpha"]),
        case(json!({"or": [{"name": {"exact": "Alpha"}}, {"osFamily": {"eq": "ROCKY"}}]}), &["Alpha", "Beta"]),
        // `not` on a nullable column includes the NULL rows: exactly the complement.
        case(json!({"not": {"targetCluster": {"eq": c1}}}), &["alphabet", "Beta"]),
        case(json!({"not": {"targetCluster": {"isNull": true}}}), &["Alpha", "Beta", "gamma-ALPHA"]),
        case(json!({"not": {"not": {"targetCluster": {"eq": c1}}}}), &["Alpha", "gamma-ALPHA"]),
        case(json!({"name": {"startsWith": "a"}, "not": {"enabled": {"eq": false}}}), &[]),
        case(
            json!({"or": [{"and": [{"tenant": {"eq": t2}}, {"osFamily": {"eq": "ALMALINUX"}}]}, {"q": "first"}]}),
            &["Alpha", "gamma-ALPHA"],
        ),
        // The fields of one filter object, `and`, `or` and `not` all hold together.
        case(
            json!({
                "enabled": {"eq": true},
                "and": [{"name": {"iContains": "a"}}],
                "or": [{"tenant": {"eq": t1}}, {"targetNode": {"exact": "pve1"}}],
                "not": {"osFamily": {"eq": "ROCKY"}}
            }),
            &["Alpha", "gamma-ALPHA"],
        ),
    ];
    expect(&app, List::Definitions, cases).await;
    expect_complements(
        &app,
        List::Definitions,
        &[
            json!({"targetCluster": {"eq": c1}}),
            json!({"targetCluster": {"gt": c1}}),
            json!({"targetCluster": {"in": [c1]}}),
            json!({"tenant": {"eq": d.t1.to_string()}}),
            json!({"tenant": {"isNull": true}}),
            json!({"name": {"iContains": "alpha"}}),
        ],
    )
    .await;
}

#[tokio::test]
async fn like_metacharacters_match_themselves() {
    let app = TestApp::new().await;
    let world = app.world().await;
    for name in ["100% done", "a_b", "axb", "abb", r"back\slash", "backslash"] {
        app.seed()
            .definition(name, world.endpoint, world.cluster, &[], |_| {})
            .await;
    }
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "_"}}), &["a_b"]),
        case(json!({"name": {"contains": "%"}}), &["100% done"]),
        case(json!({"name": {"contains": "a_b"}}), &["a_b"]),
        case(json!({"name": {"iContains": "A_B"}}), &["a_b"]),
        case(json!({"name": {"iContains": "%"}}), &["100% done"]),
        case(json!({"name": {"startsWith": "a_"}}), &["a_b"]),
        case(json!({"name": {"startsWith": "%"}}), &[]),
        case(json!({"name": {"endsWith": "_b"}}), &["a_b"]),
        case(json!({"name": {"endsWith": "% done"}}), &["100% done"]),
        case(json!({"name": {"contains": r"\"}}), &[r"back\slash"]),
        case(json!({"name": {"contains": r"k\s"}}), &[r"back\slash"]),
        case(json!({"name": {"exact": "a_b"}}), &["a_b"]),
        case(json!({"name": {"iExact": "A_B"}}), &["a_b"]),
        case(json!({"name": {"iExact": "a%"}}), &[]),
        case(json!({"name": {"in": ["a_b", "a%"]}}), &["a_b"]),
        case(json!({"q": "_"}), &["a_b"]),
        case(json!({"q": "%"}), &["100% done"]),
        case(json!({"q": r"\"}), &[r"back\slash"]),
    ];
    expect(&app, List::Definitions, cases).await;
}

#[tokio::test]
async fn unusual_text_round_trips_and_filters_exactly() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let names = [
        r#"O'Brien "the quoted""#,
        "🚀 Rocket 日本語",
        "'; DROP TABLE image_definition; --",
        "Robert'); DELETE FROM image_build WHERE ('1'='1",
        "$1 ? :name %s {} $$",
        "tab\tand\nnewline",
    ];
    for name in names {
        app.seed()
            .definition(name, world.endpoint, world.cluster, &[], |d| {
                d.description = Set(format!("about {name}"));
            })
            .await;
    }
    for name in names {
        #[rustfmt::skip]
        let cases = [
            case(json!({"name": {"exact": name}}), &[name]),
            case(json!({"name": {"iExact": name}}), &[name]),
            case(json!({"name": {"contains": name}}), &[name]),
            case(json!({"name": {"in": [name]}}), &[name]),
            case(json!({"q": format!("about {name}")}), &[name]),
        ];
        expect(&app, List::Definitions, cases).await;
    }
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "'"}}), &[names[0], names[2], names[3]]),
        case(json!({"name": {"contains": "\""}}), &[names[0]]),
        case(json!({"name": {"iContains": "rocket"}}), &[names[1]]),
        case(json!({"name": {"contains": "🚀"}}), &[names[1]]),
        case(json!({"name": {"endsWith": "日本語"}}), &[names[1]]),
        case(json!({"name": {"contains": "$"}}), &[names[4]]),
        case(json!({"name": {"contains": "\n"}}), &[names[5]]),
        case(json!({}), &names),
    ];
    expect(&app, List::Definitions, cases).await;
    // The text comes back byte for byte.
    let data = app
        .data(
            "{ imageDefinitions { nodes { name description } } }",
            json!({}),
        )
        .await;
    for node in data["imageDefinitions"]["nodes"].as_array().expect("nodes") {
        let name = node["name"].as_str().expect("name");
        assert!(names.contains(&name), "{name:?} did not round-trip");
        assert_eq!(node["description"], json!(format!("about {name}")));
    }
}

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

async fn builds(app: &TestApp) -> Builds {
    use BuildStatus as S;
    let world = app.world().await;
    let seed = app.seed();
    let e2 = seed.endpoint("pve-edge-api").await;
    let (user, _) = app.user(Role::Operator, &[world.t1], true).await;
    let template = seed
        .template("ubuntu-24.04", world.cluster, 1001, &[])
        .await;
    let clock = Clock::new();
    let mut definitions = [0; 3];
    for (i, (name, os, tenants)) in [
        ("d1", OsFamily::Ubuntu, vec![world.t1]),
        ("d2", OsFamily::Debian, vec![]),
        ("d3", OsFamily::Rocky, vec![world.t2]),
    ]
    .into_iter()
    .enumerate()
    {
        definitions[i] = seed
            .definition(name, world.endpoint, world.cluster, &tenants, |d| {
                d.os_family = Set(os);
            })
            .await;
    }
    let [d1, d2, d3] = definitions;
    let (e1, admin, tpl) = (world.endpoint, Some(app.admin_id), Some(template));
    let by_user = Some(user);
    // Ids increase in this order; times are seconds from the clock's origin.
    #[rustfmt::skip]
    let rows = [
        // name def endp status        backend    node        vmid  version       by       job      tpl   started     completed   created error
        ("b1", d1, e1, S::Completed, "job-100", "pve1",     1001, "2026-01-01", admin,   Some(7), tpl,  Some(-500), Some(-400), -600, ""),
        ("b2", d1, e2, S::Failed,    "job-200", "pve2",     1002, "2026-01-02", by_user, None,    None, Some(-300), Some(-200), -350, "disk full: 100% used"),
        ("b3", d2, e1, S::Running,   "",        "pve1",     2001, "2026-02-01", admin,   Some(8), None, Some(-100), None,       -150, ""),
        ("b4", d2, e2, S::Pending,   "",        "pve-edge", 2002, "2026-02-02", None,    None,    None, None,       None,       -50,  ""),
        ("b5", d3, e1, S::Cancelled, "job_300", "pve1",     3001, "2026-03-01", by_user, Some(9), None, None,       Some(-20),  -30,  ""),
    ];
    let mut ids = [0; 5];
    for (i, row) in rows.into_iter().enumerate() {
        let (name, definition, endpoint, status, backend, node, vmid, version) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
        let (created_by, job, template, error) = (row.8, row.9, row.10, row.14);
        let started = row.11.map(|s| clock.at(s));
        let completed = row.12.map(|s| clock.at(s));
        let created = clock.at(row.13);
        ids[i] = seed
            .build(definition, endpoint, status, created, created_by, |b| {
                b.output_name = Set(name.into());
                b.backend_build_id = Set(backend.into());
                b.target_node = Set(node.into());
                b.output_vmid = Set(vmid);
                b.image_version = Set(version.into());
                b.netbox_job_id = Set(job);
                b.cloud_image_template_id = Set(template);
                b.started_at = Set(started);
                b.completed_at = Set(completed);
                b.error = Set(error.into());
            })
            .await;
    }
    Builds {
        ids,
        definitions,
        t1: world.t1,
        t2: world.t2,
        e2,
        user,
        template,
        clock,
    }
}

const ALL_BUILDS: [&str; 5] = ["b1", "b2", "b3", "b4", "b5"];

#[tokio::test]
async fn build_id_and_integer_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let [b1, b2, b3, _, b5] = b.ids.map(|id| id.to_string());
    let [d1, d2, d3] = b.definitions.map(|id| id.to_string());
    let (admin, user) = (app.admin_id.to_string(), b.user.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"id": {"eq": b1}}), &["b1"]),
        case(json!({"id": {"in": [b1, b5]}}), &["b1", "b5"]),
        case(json!({"id": {"gt": b3}}), &["b4", "b5"]),
        case(json!({"id": {"gte": b3}}), &["b3", "b4", "b5"]),
        case(json!({"id": {"lt": b2}}), &["b1"]),
        case(json!({"id": {"lte": b2}}), &["b1", "b2"]),
        case(json!({"id": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"definition": {"eq": d1}}), &["b1", "b2"]),
        case(json!({"definition": {"in": [d2, d3]}}), &["b3", "b4", "b5"]),
        case(json!({"definition": {"gt": d1}}), &["b3", "b4", "b5"]),
        case(json!({"definition": {"lte": d2}}), &["b1", "b2", "b3", "b4"]),
        case(json!({"proxmoxEndpoint": {"eq": b.e2.to_string()}}), &["b2", "b4"]),
        case(json!({"proxmoxEndpoint": {"lt": b.e2.to_string()}}), &["b1", "b3", "b5"]),
        case(json!({"outputVmid": {"eq": 1001}}), &["b1"]),
        case(json!({"outputVmid": {"in": [1002, 2002, 9]}}), &["b2", "b4"]),
        case(json!({"outputVmid": {"gt": 2001}}), &["b4", "b5"]),
        case(json!({"outputVmid": {"gte": 2001}}), &["b3", "b4", "b5"]),
        case(json!({"outputVmid": {"lt": 2001}}), &["b1", "b2"]),
        case(json!({"outputVmid": {"lte": 2001}}), &["b1", "b2", "b3"]),
        case(json!({"outputVmid": {"isNull": true}}), &[]),
        case(json!({"outputVmid": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"createdBy": {"eq": admin}}), &["b1", "b3"]),
        case(json!({"createdBy": {"eq": user}}), &["b2", "b5"]),
        case(json!({"createdBy": {"in": [admin, user]}}), &["b1", "b2", "b3", "b5"]),
        case(json!({"createdBy": {"gt": admin}}), &["b2", "b5"]),
        case(json!({"createdBy": {"isNull": true}}), &["b4"]),
        case(json!({"netboxJobId": {"eq": 7}}), &["b1"]),
        case(json!({"netboxJobId": {"in": [8, 9]}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"gt": 7}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"gte": 8}}), &["b3", "b5"]),
        case(json!({"netboxJobId": {"lt": 9}}), &["b1", "b3"]),
        case(json!({"netboxJobId": {"lte": 9}}), &["b1", "b3", "b5"]),
        case(json!({"netboxJobId": {"isNull": true}}), &["b2", "b4"]),
        case(json!({"cloudImageTemplate": {"eq": b.template.to_string()}}), &["b1"]),
        case(json!({"cloudImageTemplate": {"isNull": true}}), &["b2", "b3", "b4", "b5"]),
    ];
    expect(&app, List::Builds, cases).await;
}

#[tokio::test]
async fn build_string_enum_and_definition_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let (t1, t2) = (b.t1.to_string(), b.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"status": {"eq": "RUNNING"}}), &["b3"]),
        case(json!({"status": {"in": ["COMPLETED", "FAILED"]}}), &["b1", "b2"]),
        case(json!({"backendBuildId": {"exact": "job-100"}}), &["b1"]),
        case(json!({"backendBuildId": {"exact": ""}}), &["b3", "b4"]),
        case(json!({"backendBuildId": {"iExact": "JOB-200"}}), &["b2"]),
        case(json!({"backendBuildId": {"contains": "job"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"contains": "JOB"}}), &[]),
        case(json!({"backendBuildId": {"iContains": "JOB"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"contains": "_"}}), &["b5"]),
        case(json!({"backendBuildId": {"startsWith": "job-"}}), &["b1", "b2"]),
        case(json!({"backendBuildId": {"endsWith": "00"}}), &["b1", "b2", "b5"]),
        case(json!({"backendBuildId": {"in": ["", "job_300"]}}), &["b3", "b4", "b5"]),
        case(json!({"backendBuildId": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"targetNode": {"exact": "pve1"}}), &["b1", "b3", "b5"]),
        case(json!({"targetNode": {"startsWith": "pve-"}}), &["b4"]),
        case(json!({"imageVersion": {"exact": "2026-02-01"}}), &["b3"]),
        case(json!({"imageVersion": {"startsWith": "2026-02"}}), &["b3", "b4"]),
        case(json!({"imageVersion": {"endsWith": "-01"}}), &["b1", "b3", "b5"]),
        case(json!({"imageVersion": {"contains": "-0"}}), &ALL_BUILDS),
        case(json!({"imageVersion": {"in": ["2026-01-02", "2026-03-01"]}}), &["b2", "b5"]),
        case(json!({"osFamily": {"eq": "DEBIAN"}}), &["b3", "b4"]),
        case(json!({"osFamily": {"in": ["UBUNTU", "ROCKY"]}}), &["b1", "b2", "b5"]),
        case(json!({"tenant": {"eq": t1}}), &["b1", "b2"]),
        case(json!({"tenant": {"eq": t2}}), &["b5"]),
        case(json!({"tenant": {"in": [t1, t2]}}), &["b1", "b2", "b5"]),
        case(json!({"tenant": {"isNull": true}}), &["b3", "b4"]),
        case(json!({"tenant": {"isNull": false}}), &["b1", "b2", "b5"]),
        case(json!({"q": "job"}), &["b1", "b2", "b5"]),
        case(json!({"q": "DISK"}), &["b2"]),
        case(json!({"q": "b4"}), &["b4"]),
        case(json!({"q": "%"}), &["b2"]),
        case(json!({"q": "_"}), &["b5"]),
    ];
    expect(&app, List::Builds, cases).await;
}

#[tokio::test]
async fn build_timestamp_lookups() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let t = |s| b.clock.text(s);
    #[rustfmt::skip]
    let cases = [
        case(json!({"startedAt": {"gt": t(-300)}}), &["b3"]),
        case(json!({"startedAt": {"gte": t(-300)}}), &["b2", "b3"]),
        case(json!({"startedAt": {"lt": t(-300)}}), &["b1"]),
        case(json!({"startedAt": {"lte": t(-300)}}), &["b1", "b2"]),
        case(json!({"startedAt": {"isNull": true}}), &["b4", "b5"]),
        case(json!({"startedAt": {"isNull": false}}), &["b1", "b2", "b3"]),
        case(json!({"completedAt": {"gt": t(-200)}}), &["b5"]),
        case(json!({"completedAt": {"gte": t(-200)}}), &["b2", "b5"]),
        case(json!({"completedAt": {"lt": t(-200)}}), &["b1"]),
        case(json!({"completedAt": {"lte": t(-200)}}), &["b1", "b2"]),
        case(json!({"completedAt": {"isNull": true}}), &["b3", "b4"]),
        case(json!({"created": {"gt": t(-150)}}), &["b4", "b5"]),
        case(json!({"created": {"gte": t(-150)}}), &["b3", "b4", "b5"]),
        case(json!({"created": {"lt": t(-350)}}), &["b1"]),
        case(json!({"created": {"lte": t(-350)}}), &["b1", "b2"]),
        case(json!({"created": {"isNull": false}}), &ALL_BUILDS),
        case(json!({"not": {"startedAt": {"gt": t(-300)}}}), &["b1", "b2", "b4", "b5"]),
    ];
    expect(&app, List::Builds, cases).await;
    let (admin, t1) = (app.admin_id.to_string(), b.t1.to_string());
    expect_complements(
        &app,
        List::Builds,
        &[
            json!({"startedAt": {"gt": t(-300)}}),
            json!({"completedAt": {"lte": t(-200)}}),
            json!({"createdBy": {"eq": admin}}),
            json!({"netboxJobId": {"lt": 9}}),
            json!({"cloudImageTemplate": {"eq": b.template.to_string()}}),
            json!({"tenant": {"eq": t1}}),
            json!({"osFamily": {"eq": "UBUNTU"}}),
            json!({"q": "job"}),
        ],
    )
    .await;
}

#[tokio::test]
async fn filters_and_counts_stay_within_the_visible_rows() {
    let app = TestApp::new().await;
    let b = builds(&app).await;
    let (_, viewer) = app.user(Role::Viewer, &[b.t2], false).await;
    let t1 = b.t1.to_string();
    #[rustfmt::skip]
    let cases = [
        case(json!({}), &["b3", "b4", "b5"]),
        case(json!({"tenant": {"eq": t1}}), &[]),
        case(json!({"definition": {"eq": b.definitions[0].to_string()}}), &[]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["b3", "b4", "b5"]),
        case(json!({"q": "job"}), &["b5"]),
    ];
    expect_as(&app, &viewer, List::Builds, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({}), &["d2", "d3"]),
        case(json!({"tenant": {"eq": t1}}), &[]),
        case(json!({"or": [{"name": {"exact": "d1"}}, {"tenant": {"isNull": true}}]}), &["d2"]),
    ];
    expect_as(&app, &viewer, List::Definitions, cases).await;
}

#[tokio::test]
async fn malformed_filter_values_are_bad_user_input() {
    let app = TestApp::new().await;
    for (list, filter, field) in [
        (List::Definitions, json!({"id": {"eq": "abc"}}), "id"),
        (
            List::Definitions,
            json!({"tenant": {"in": ["1", "x"]}}),
            "tenant",
        ),
        (
            List::Definitions,
            json!({"not": {"proxmoxEndpoint": {"gt": "-3"}}}),
            "proxmoxEndpoint",
        ),
        (List::Builds, json!({"createdBy": {"eq": "0"}}), "createdBy"),
        (
            List::Builds,
            json!({"or": [{"definition": {"lte": "1.5"}}]}),
            "definition",
        ),
    ] {
        let (field_name, input, _) = list.parts();
        let body = app
            .as_user(
                &app.admin,
                &format!("query($f: {input}) {{ {field_name}(filter: $f) {{ totalCount }} }}"),
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{filter}: {body}");
        assert!(
            body["errors"][0]["extensions"]["fields"][field].is_array(),
            "{filter}: the error should name `{field}`: {body}"
        );
    }
}

#[tokio::test]
async fn reference_lists_filter() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let db = &app.app.db;

    // A second cluster owned by t1.
    let c2 = seed.cluster("pve-lab").await;
    let mut row = cluster::Entity::find_by_id(c2)
        .one(db)
        .await
        .expect("read")
        .expect("cluster")
        .into_active_model();
    row.tenant_id = Set(Some(world.t1));
    row.update(db).await.expect("update cluster");

    // A second endpoint that differs in everything.
    let e2 = seed.endpoint("edge-api").await;
    let mut row = proxmox_endpoint::Entity::find_by_id(e2)
        .one(db)
        .await
        .expect("read")
        .expect("endpoint")
        .into_active_model();
    row.port = Set(443);
    row.domain = Set(Some("pve.example.net".into()));
    row.enabled = Set(false);
    row.allow_writes = Set(false);
    row.mode = Set(EndpointMode::Standalone);
    row.tenant_id = Set(Some(world.t2));
    row.update(db).await.expect("update endpoint");

    seed.template("tpl-one", world.cluster, 9001, &[world.t1])
        .await;
    seed.template("tpl-any", c2, 9002, &[]).await;

    let (t1, t2) = (world.t1.to_string(), world.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "One"}}), &["Tenant One"]),
        case(json!({"slug": {"exact": "tenant-two"}}), &["Tenant Two"]),
        case(json!({"id": {"gt": t1}}), &["Tenant Two"]),
        case(json!({"q": "tenant"}), &["Tenant One", "Tenant Two"]),
    ];
    expect(&app, List::Tenants, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["pve-lab"]),
        case(json!({"tenant": {"isNull": true}}), &["pve-prod"]),
        case(json!({"clusterType": {"exact": "proxmox"}}), &["pve-lab", "pve-prod"]),
        case(json!({"name": {"iContains": "LAB"}}), &["pve-lab"]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["pve-prod"]),
    ];
    expect(&app, List::Clusters, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"port": {"gt": 1000}}), &["pve-api"]),
        case(json!({"port": {"lte": 443}}), &["edge-api"]),
        case(json!({"domain": {"isNull": true}}), &["pve-api"]),
        case(json!({"domain": {"endsWith": ".net"}}), &["edge-api"]),
        case(json!({"enabled": {"eq": false}}), &["edge-api"]),
        case(json!({"allowWrites": {"eq": true}}), &["pve-api"]),
        case(json!({"mode": {"eq": "STANDALONE"}}), &["edge-api"]),
        case(json!({"mode": {"in": ["CLUSTER", "UNDEFINED"]}}), &["pve-api"]),
        case(json!({"tenant": {"eq": t2}}), &["edge-api"]),
        case(json!({"not": {"domain": {"contains": "example"}}}), &["pve-api"]),
        // `q` also looks in the nullable domain; its negation still includes the NULL rows.
        case(json!({"q": "EXAMPLE"}), &["edge-api"]),
        case(json!({"not": {"q": "example"}}), &["pve-api"]),
        case(json!({"not": {"q": "edge"}}), &["pve-api"]),
    ];
    expect(&app, List::Endpoints, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["tpl-one"]),
        case(json!({"tenant": {"isNull": true}}), &["tpl-any"]),
        case(json!({"sourceVmid": {"gt": 9001}}), &["tpl-any"]),
        case(json!({"cluster": {"eq": c2.to_string()}}), &["tpl-any"]),
        case(json!({"osFamily": {"eq": "UBUNTU"}}), &["tpl-any", "tpl-one"]),
        case(json!({"isActive": {"eq": false}}), &[]),
        case(json!({"name": {"startsWith": "tpl-o"}}), &["tpl-one"]),
    ];
    expect(&app, List::Templates, cases).await;
    let (viewer, _) = app.user(Role::Viewer, &[world.t1], false).await;
    let (worker, _) = app.user(Role::Worker, &[], false).await;
    let usernames = users_by_id(&app).await;
    let (viewer, worker) = (&usernames[&viewer], &usernames[&worker]);
    #[rustfmt::skip]
    let cases = [
        case(json!({"role": {"eq": "VIEWER"}}), &[viewer]),
        case(json!({"role": {"in": ["ADMIN", "WORKER"]}}), &["admin", worker]),
        case(json!({"tenant": {"eq": t1}}), &[viewer]),
        case(json!({"tenant": {"isNull": true}}), &["admin", worker]),
        case(json!({"username": {"exact": "admin"}}), &["admin"]),
        case(json!({"isActive": {"eq": true}}), &["admin", viewer, worker]),
    ];
    expect(&app, List::Users, cases).await;
}

/// Every user name by id.
async fn users_by_id(app: &TestApp) -> std::collections::HashMap<i32, String> {
    entity::user::Entity::find()
        .all(&app.app.db)
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect()
}
