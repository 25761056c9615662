//! Who may do what (SPEC §4): the role matrix over every operation, read-only tokens,
//! credentials, anonymous access, and that no token secret or hash ever leaves the service.

use axum::http::StatusCode;
use entity::{
    enums::{BuildStatus, Role},
    image_build, image_definition,
};
use serde_json::{Value, json};

use crate::support::{TestApp, World, at, code, gid, unique};

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    Viewer,
    Operator,
    Worker,
    Admin,
    /// An ADMIN token without `write_enabled`.
    ReadOnlyAdmin,
}

const EVERYONE: &[Role] = &[Role::Viewer, Role::Operator, Role::Worker, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const MANAGERS: &[Role] = &[Role::Operator, Role::Admin];
const BACKEND: &[Role] = &[Role::Worker, Role::Admin];
const CANCELLERS: &[Role] = &[Role::Operator, Role::Worker, Role::Admin];

/// One row of the matrix: an operation (placeholders in braces are filled with fresh fixtures
/// for each call, see [`Fixtures::fill`]), the roles that may run it, and what the others get.
struct Row {
    doc: &'static str,
    roles: &'static [Role],
    denied: &'static str,
}

const fn row(doc: &'static str, roles: &'static [Role]) -> Row {
    Row {
        doc,
        roles,
        denied: "FORBIDDEN",
    }
}

/// Adding an operation to the service means adding one line here.
const MATRIX: &[Row] = &[
    // Reads.
    row("{ imageDefinitions { totalCount nodes { id } } }", EVERYONE),
    row(
        "{ imageDefinition(id: \"{def}\") { id builds { totalCount } latestBuild { id } } }",
        EVERYONE,
    ),
    row("{ imageBuilds { totalCount } }", EVERYONE),
    row(
        "{ imageBuild(id: \"{pending}\") { id events { toStatus } } }",
        EVERYONE,
    ),
    row("{ buildEvents { totalCount } }", EVERYONE),
    row("{ pluginSettings { imageFactoryEnabled } }", EVERYONE),
    row("{ me { username } }", EVERYONE),
    row(
        "{ tenants { totalCount } tenant(id: \"{t1}\") { id } }",
        EVERYONE,
    ),
    row(
        "{ clusters { totalCount } proxmoxEndpoints { totalCount } }",
        EVERYONE,
    ),
    row("{ cloudImageTemplates { totalCount } }", EVERYONE),
    row("{ users { totalCount } }", EVERYONE),
    // Definitions.
    row(
        "mutation { createImageDefinition(input: {name: \"d{n}\", slug: \"d{n}\", proxmoxEndpointId: \"{endpoint0}\", targetClusterId: \"{cluster0}\", targetNode: \"pve1\", sourceTemplateVmid: 9000, defaultStorage: \"local\", osFamily: UBUNTU, osRelease: \"24.04\", provisionerRecipe: UBUNTU_BASE, allowedTenantIds: [\"{t1}\"]}) { id } }",
        MANAGERS,
    ),
    row(
        "mutation { updateImageDefinition(id: \"{def}\", input: {description: \"x\"}) { id } }",
        MANAGERS,
    ),
    row(
        "mutation { deleteImageDefinition(id: \"{def}\") }",
        MANAGERS,
    ),
    // The build lifecycle.
    row(
        "mutation { queueImageBuild(input: {definitionId: \"{def}\", outputVmid: 9100}) { id } }",
        MANAGERS,
    ),
    row(
        "mutation { startImageBuild(id: \"{pending}\") { id } }",
        BACKEND,
    ),
    row(
        "mutation { completeImageBuild(id: \"{running}\") { id } }",
        BACKEND,
    ),
    row(
        "mutation { failImageBuild(id: \"{running}\", error: \"boom\") { id } }",
        BACKEND,
    ),
    row(
        "mutation { cancelImageBuild(id: \"{pending}\") { id } }",
        CANCELLERS,
    ),
    row(
        "mutation { rebuildImage(id: \"{completed}\") { id } }",
        MANAGERS,
    ),
    row(
        "mutation { updatePluginSettings(input: {imageFactoryMaxConcurrentBuilds: 1000}) { imageFactoryEnabled } }",
        ADMIN,
    ),
    // Reference data.
    row(
        "mutation { createTenant(input: {name: \"t{n}\", slug: \"t{n}\"}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { updateTenant(id: \"{tenant}\", input: {description: \"x\"}) { id } }",
        ADMIN,
    ),
    row("mutation { deleteTenant(id: \"{tenant}\") }", ADMIN),
    row(
        "mutation { createCluster(input: {name: \"c{n}\"}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { updateCluster(id: \"{cluster}\", input: {description: \"x\"}) { id } }",
        ADMIN,
    ),
    row("mutation { deleteCluster(id: \"{cluster}\") }", ADMIN),
    row(
        "mutation { createProxmoxEndpoint(input: {name: \"e{n}\", domain: \"e{n}.example.net\"}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { updateProxmoxEndpoint(id: \"{endpoint}\", input: {port: 8007}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { deleteProxmoxEndpoint(id: \"{endpoint}\") }",
        ADMIN,
    ),
    row(
        "mutation { createCloudImageTemplate(input: {name: \"i{n}\", slug: \"i{n}\", clusterId: \"{cluster0}\", sourceVmid: {n}, osFamily: UBUNTU}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { updateCloudImageTemplate(id: \"{template}\", input: {isActive: false}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { deleteCloudImageTemplate(id: \"{template}\") }",
        ADMIN,
    ),
    // Users and tokens.
    row(
        "mutation { createUser(input: {username: \"u{n}\", role: VIEWER}) { id } }",
        ADMIN,
    ),
    row(
        "mutation { updateUser(id: \"{user}\", input: {firstName: \"x\"}) { id } }",
        ADMIN,
    ),
    row("mutation { deleteUser(id: \"{user}\") }", ADMIN),
    row(
        "mutation { createApiToken(input: {description: \"mine\"}) { token apiToken { id } } }",
        EVERYONE,
    ),
    row(
        "mutation { createApiToken(input: {userId: \"{user}\"}) { token } }",
        ADMIN,
    ),
    row("mutation { revokeApiToken(id: \"{my_token}\") }", EVERYONE),
    Row {
        doc: "mutation { revokeApiToken(id: \"{other_token}\") }",
        roles: ADMIN,
        denied: "NOT_FOUND",
    },
];

/// Fixtures for the matrix: the world, a user per role, and fresh rows on demand.
struct Fixtures {
    app: TestApp,
    world: World,
    tokens: Vec<(Who, Option<String>, Option<i32>)>,
}

impl Fixtures {
    async fn new() -> Fixtures {
        let app = TestApp::new().await;
        let world = app.world().await;
        app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
            .await;
        let mut tokens = vec![
            (Who::Anonymous, None, None),
            (Who::Admin, Some(app.admin.clone()), Some(app.admin_id)),
        ];
        for (who, role) in [
            (Who::Viewer, Role::Viewer),
            (Who::Operator, Role::Operator),
            (Who::Worker, Role::Worker),
        ] {
            let (id, token) = app.user(role, &[world.t1], true).await;
            tokens.push((who, Some(token), Some(id)));
        }
        let (_, read_only) = app.user(Role::Admin, &[], false).await;
        tokens.push((Who::ReadOnlyAdmin, Some(read_only), None));
        Fixtures { app, world, tokens }
    }

    /// Replaces every placeholder of `doc` with a fresh fixture.
    async fn fill(&self, doc: &str, caller: Option<i32>) -> String {
        let app = &self.app;
        let seed = app.seed();
        let w = &self.world;
        let mut doc = doc.replace("{t1}", &w.t1.to_string());
        doc = doc.replace("{endpoint0}", &w.endpoint.to_string());
        doc = doc.replace("{cluster0}", &w.cluster.to_string());
        while doc.contains("{n}") {
            let n = 1000 + rand::random::<u32>() % 1_000_000;
            doc = doc.replacen("{n}", &n.to_string(), 1);
            doc = doc.replace("{n}", &n.to_string());
        }
        let definition = || async {
            seed.definition(&unique("def"), w.endpoint, w.cluster, &[w.t1], |_| {})
                .await
        };
        if doc.contains("{def}") {
            doc = doc.replace("{def}", &definition().await.to_string());
        }
        for (placeholder, status) in [
            ("{pending}", BuildStatus::Pending),
            ("{running}", BuildStatus::Running),
            ("{completed}", BuildStatus::Completed),
        ] {
            if doc.contains(placeholder) {
                let build = seed
                    .build(
                        definition().await,
                        w.endpoint,
                        status,
                        at(-60),
                        None,
                        |_| {},
                    )
                    .await;
                doc = doc.replace(placeholder, &build.to_string());
            }
        }
        if doc.contains("{tenant}") {
            doc = doc.replace(
                "{tenant}",
                &seed.tenant(&unique("tenant")).await.to_string(),
            );
        }
        if doc.contains("{cluster}") {
            doc = doc.replace(
                "{cluster}",
                &seed.cluster(&unique("cluster")).await.to_string(),
            );
        }
        if doc.contains("{endpoint}") {
            doc = doc.replace(
                "{endpoint}",
                &seed.endpoint(&unique("endpoint")).await.to_string(),
            );
        }
        if doc.contains("{template}") {
            let data = app
                .data(
                    "mutation ($c: ID!, $s: String!, $v: Int!) { createCloudImageTemplate(input: {name: $s, slug: $s, clusterId: $c, sourceVmid: $v, osFamily: UBUNTU}) { id } }",
                    json!({"c": w.cluster.to_string(), "s": unique("tpl").replace('_', "-"), "v": 100 + rand::random::<u16>() as i32}),
                )
                .await;
            doc = doc.replace(
                "{template}",
                data["createCloudImageTemplate"]["id"]
                    .as_str()
                    .unwrap_or("0"),
            );
        }
        if doc.contains("{user}") || doc.contains("{other_token}") {
            let (user, _) = app.user(Role::Viewer, &[], true).await;
            doc = doc.replace("{user}", &user.to_string());
            let token = self.token_of(user).await;
            doc = doc.replace("{other_token}", &token.to_string());
        }
        if doc.contains("{my_token}") {
            let token = self.token_of(caller.unwrap_or(app.admin_id)).await;
            doc = doc.replace("{my_token}", &token.to_string());
        }
        doc
    }

    async fn token_of(&self, user: i32) -> i32 {
        let (token, _) = packer_gateway::registry::users::create_token(
            &self.app.app.db,
            packer_gateway::registry::users::NewToken {
                user_id: user,
                description: String::new(),
                write_enabled: true,
                expires: None,
            },
        )
        .await
        .expect("a token");
        token.id
    }
}

fn role_of(who: Who) -> Option<Role> {
    match who {
        Who::Anonymous => None,
        Who::Viewer => Some(Role::Viewer),
        Who::Operator => Some(Role::Operator),
        Who::Worker => Some(Role::Worker),
        Who::Admin | Who::ReadOnlyAdmin => Some(Role::Admin),
    }
}

#[tokio::test]
async fn every_operation_is_allowed_exactly_to_the_roles_of_the_spec() {
    let fixtures = Fixtures::new().await;
    let mut failures = Vec::new();
    for row in MATRIX {
        for (who, token, user) in &fixtures.tokens {
            let doc = fixtures.fill(row.doc, *user).await;
            let (status, body) = fixtures.app.post(token.as_deref(), &doc, json!({})).await;
            let mutation = doc.starts_with("mutation");
            let expected = match (who, role_of(*who)) {
                (Who::Anonymous, _) => Some("UNAUTHENTICATED"),
                (Who::ReadOnlyAdmin, _) if mutation => Some("FORBIDDEN"),
                (_, Some(role)) if row.roles.contains(&role) => None,
                _ => Some(row.denied),
            };
            let got = body.get("errors").map(|_| code(&body).to_owned());
            if got.as_deref() != expected {
                failures.push(format!(
                    "{who:?} on {doc}: expected {expected:?}, got {status} {body}"
                ));
            }
            if *who == Who::Anonymous && status != StatusCode::UNAUTHORIZED {
                failures.push(format!("anonymous got HTTP {status} on {doc}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// T1 and T2 each have a restricted definition with a build (and a catalog entry); one
/// definition is open to all.
struct Tenancy {
    app: TestApp,
    viewer: String,
    t2_definition: String,
    t2_build: String,
    t2_template: String,
    open_definition: String,
    t1_definition: String,
}

async fn tenancy() -> Tenancy {
    let app = TestApp::new().await;
    let w = app.world().await;
    let seed = app.seed();
    let t1 = seed
        .definition("T1 image", w.endpoint, w.cluster, &[w.t1], |_| {})
        .await;
    let t2 = seed
        .definition("T2 image", w.endpoint, w.cluster, &[w.t2], |_| {})
        .await;
    let open = seed
        .definition("Open image", w.endpoint, w.cluster, &[], |_| {})
        .await;
    for definition in [t1, t2, open] {
        seed.build(
            definition,
            w.endpoint,
            BuildStatus::Pending,
            at(-10),
            None,
            |_| {},
        )
        .await;
    }
    let t2_build = seed
        .build(t2, w.endpoint, BuildStatus::Running, at(-5), None, |_| {})
        .await;
    let template = app
        .data(
            "mutation ($c: ID!, $t: ID!) { createCloudImageTemplate(input: {name: \"t2 tpl\", slug: \"t2-tpl\", clusterId: $c, sourceVmid: 9999, osFamily: UBUNTU, allowedTenantIds: [$t]}) { id } }",
            json!({"c": w.cluster.to_string(), "t": w.t2.to_string()}),
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[w.t1], true).await;
    Tenancy {
        viewer,
        t2_definition: gid::<image_definition::Entity>(t2),
        t2_build: gid::<image_build::Entity>(t2_build),
        t2_template: template["createCloudImageTemplate"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        open_definition: gid::<image_definition::Entity>(open),
        t1_definition: gid::<image_definition::Entity>(t1),
        app,
    }
}

/// An error body without the parts that legitimately differ between two requests.
fn shape(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(errors) = body["errors"].as_array_mut() {
        for error in errors {
            if let Some(error) = error.as_object_mut() {
                error.remove("locations");
            }
        }
    }
    body
}

#[tokio::test]
async fn another_tenants_objects_are_not_found_exactly_like_missing_ones() {
    let t = tenancy().await;
    let app = &t.app;
    for (query, hidden) in [
        (
            "query ($id: ID!) { imageDefinition(id: $id) { id } }",
            &t.t2_definition,
        ),
        (
            "query ($id: ID!) { imageBuild(id: $id) { id } }",
            &t.t2_build,
        ),
        (
            "query ($id: ID!) { cloudImageTemplate(id: $id) { id } }",
            &t.t2_template,
        ),
        (
            "mutation ($id: ID!) { cancelImageBuild(id: $id) { id } }",
            &t.t2_build,
        ),
    ] {
        let invisible = app.as_user(&t.viewer, query, json!({"id": hidden})).await;
        let missing = app.as_user(&t.viewer, query, json!({"id": "987654"})).await;
        let expected = if query.starts_with("mutation") {
            "FORBIDDEN"
        } else {
            "NOT_FOUND"
        };
        assert_eq!(code(&invisible), expected, "{query}: {invisible}");
        assert_eq!(shape(&invisible), shape(&missing), "{query}");
    }
    // An OPERATOR of T1 gets NOT_FOUND (not FORBIDDEN) on a T2 build it could otherwise cancel.
    let (_, operator) = app.user(Role::Operator, &[], true).await;
    let body = app
        .as_user(
            &operator,
            "mutation ($id: ID!) { cancelImageBuild(id: $id) { id } }",
            json!({"id": t.t2_build}),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn another_tenants_objects_never_appear_in_lists_counts_nested_fields_or_filters() {
    let t = tenancy().await;
    let app = &t.app;
    let as_viewer =
        |query: &'static str, variables: Value| app.as_user(&t.viewer, query, variables);

    let body = as_viewer(
        "{ imageDefinitions { totalCount nodes { id } } }",
        json!({}),
    )
    .await;
    let ids: Vec<&str> = body["data"]["imageDefinitions"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(body["data"]["imageDefinitions"]["totalCount"], 2, "{body}");
    assert!(
        ids.contains(&t.open_definition.as_str()),
        "empty allowed_tenants is visible to all"
    );
    assert!(ids.contains(&t.t1_definition.as_str()));
    assert!(!ids.contains(&t.t2_definition.as_str()));

    let body = as_viewer(
        "{ imageBuilds { totalCount nodes { definition { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["imageBuilds"]["totalCount"], 2, "{body}");
    assert!(
        !body
            .to_string()
            .contains(&format!("\"{}\"", t.t2_definition))
    );

    for (query, variables) in [
        (
            "query ($id: ID!) { imageDefinitions(filter: {id: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_definition}),
        ),
        (
            "query ($id: ID!) { imageBuilds(filter: {definition: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_definition}),
        ),
        (
            "query ($id: ID!) { imageBuilds(filter: {id: {in: [$id]}}) { totalCount } }",
            json!({"id": t.t2_build}),
        ),
        (
            "query ($id: ID!) { buildEvents(filter: {build: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_build}),
        ),
        (
            "query ($id: ID!) { cloudImageTemplates(filter: {id: {eq: $id}}) { totalCount } }",
            json!({"id": t.t2_template}),
        ),
    ] {
        let body = as_viewer(query, variables).await;
        let count = body["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .map(|v| v["totalCount"].clone());
        assert_eq!(count, Some(json!(0)), "{query}: {body}");
    }
    let events = as_viewer("{ buildEvents { totalCount } }", json!({})).await;
    assert_eq!(events["data"]["buildEvents"]["totalCount"], 2, "{events}");

    // Nested fields: a tenant's users reaching builds through definitions see only theirs.
    let body = as_viewer(
        "{ imageDefinitions { nodes { builds { totalCount nodes { id } } latestBuild { id } } } }",
        json!({}),
    )
    .await;
    assert!(
        !body.to_string().contains(&format!("\"{}\"", t.t2_build)),
        "{body}"
    );
    // The administrator sees everything.
    let all = app
        .data(
            "{ imageDefinitions { totalCount } imageBuilds { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        all,
        json!({"imageDefinitions": {"totalCount": 3}, "imageBuilds": {"totalCount": 4}})
    );
}

#[tokio::test]
async fn credentials_are_checked_every_time() {
    let app = TestApp::new().await;
    let query = "{ me { username } }";
    for header in [
        format!("Bearer {}", app.admin),
        format!("Token {}", app.admin),
        format!("bearer {}", app.admin),
    ] {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/graphql")
            .header("content-type", "application/json")
            .header("authorization", header.clone())
            .body(axum::body::Body::from(json!({"query": query}).to_string()))
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{header}: {body}");
    }
    let (status, body) = app
        .post(Some("pgw_not-a-real-token"), query, json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.get("data").is_none());

    // Created, used, revoked.
    let created = app
        .data("mutation { createApiToken(input: {description: \"ci\"}) { token apiToken { id keyPrefix } } }", json!({}))
        .await;
    let secret = created["createApiToken"]["token"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let id = created["createApiToken"]["apiToken"]["id"].clone();
    assert!(
        secret.starts_with(
            created["createApiToken"]["apiToken"]["keyPrefix"]
                .as_str()
                .unwrap_or("?")
        )
    );
    assert_eq!(
        app.post(Some(&secret), query, json!({})).await.0,
        StatusCode::OK
    );
    app.data(
        "mutation ($id: ID!) { revokeApiToken(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        app.post(Some(&secret), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Expired.
    let created = app
        .data("mutation ($e: DateTime!) { createApiToken(input: {expires: $e}) { token apiToken { id } } }", json!({"e": at(2).to_rfc3339()}))
        .await;
    let expiring = created["createApiToken"]["token"]
        .as_str()
        .expect("a secret")
        .to_owned();
    assert_eq!(
        app.post(Some(&expiring), query, json!({})).await.0,
        StatusCode::OK
    );
    // Time passes on the service's clock, not the test's.
    app.app.clock.advance(chrono::Duration::seconds(3));
    assert_eq!(
        app.post(Some(&expiring), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A deactivated user's tokens stop working.
    let (user, token) = app.user(Role::Viewer, &[], true).await;
    app.data(
        "mutation ($id: ID!) { updateUser(id: $id, input: {isActive: false}) { id } }",
        json!({"id": user.to_string()}),
    )
    .await;
    assert_eq!(
        app.post(Some(&token), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn last_used_is_recorded_without_a_write_per_request() {
    let app = TestApp::new().await;
    let (_, token) = app.user(Role::Viewer, &[], true).await;
    let query = "{ me { apiTokens { lastUsed } } }";
    app.as_user(&token, query, json!({})).await;
    app.settle().await;
    let body = app.as_user(&token, query, json!({})).await;
    assert!(
        body["data"]["me"]["apiTokens"][0]["lastUsed"].is_string(),
        "last_used recorded: {body}"
    );
    // Within the minute, requests do not write it again.
    app.settle().await;
    let before = app.statements();
    app.as_user(&token, "{ me { username } }", json!({})).await;
    app.settle().await;
    assert_eq!(
        app.statements() - before,
        1,
        "`me` only: the token is authenticated from memory, and not written again"
    );
}

#[tokio::test]
async fn anonymous_readers_see_unrestricted_definitions_and_their_builds_only() {
    let app = TestApp::with_args(&["--anonymous-read"]).await;
    let w = app.world().await;
    let seed = app.seed();
    let open = seed
        .definition("Open", w.endpoint, w.cluster, &[], |_| {})
        .await;
    let closed = seed
        .definition("Closed", w.endpoint, w.cluster, &[w.t1], |_| {})
        .await;
    seed.build(open, w.endpoint, BuildStatus::Pending, at(0), None, |_| {})
        .await;
    seed.build(
        closed,
        w.endpoint,
        BuildStatus::Pending,
        at(0),
        None,
        |_| {},
    )
    .await;
    let (status, body) = app
        .post(None, "{ imageDefinitions { totalCount nodes { name } } imageBuilds { totalCount nodes { status events { toStatus } } } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["imageDefinitions"],
        json!({"totalCount": 1, "nodes": [{"name": "Open"}]})
    );
    assert_eq!(body["data"]["imageBuilds"]["totalCount"], 1);
    for query in [
        "{ tenants { totalCount } }",
        "{ pluginSettings { imageFactoryEnabled } }",
        "{ users { totalCount } }",
        "{ me { id } }",
        "{ buildEvents { totalCount } }",
        "{ imageDefinitions { nodes { proxmoxEndpoint { name } } } }",
    ] {
        let (_, body) = app.post(None, query, json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{query}: {body}");
    }
    let (status, body) = app
        .post(
            None,
            "mutation { createTenant(input: {name: \"x\", slug: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{status} {body}");
    // Anonymous access is off by default.
    let strict = TestApp::new().await;
    let (status, _) = strict
        .post(None, "{ imageDefinitions { totalCount } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_token_secret_or_hash_is_ever_exposed() {
    let sdl = packer_gateway::graphql::sdl();
    let mut current_type = String::new();
    let mut in_description = false;
    for line in sdl.lines() {
        let line = line.trim();
        if line.starts_with("\"\"\"") {
            in_description = !(in_description || line.len() > 3 && line.ends_with("\"\"\""));
            continue;
        }
        if in_description || line.starts_with('"') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("type ")
            .or_else(|| line.strip_prefix("input "))
        {
            current_type = name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            continue;
        }
        let field = line
            .split(['(', ':'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        for forbidden in ["hash", "secret", "password", "keyhash"] {
            assert!(
                !field.contains(forbidden),
                "{current_type}.{field} exposes a {forbidden}"
            );
        }
        if field == "token" {
            assert_eq!(
                current_type, "CreatedApiToken",
                "only token creation returns a secret"
            );
        }
    }
    // Through the API: a listed token carries its prefix only.
    let app = TestApp::new().await;
    let body = app
        .data(
            "{ me { apiTokens { id keyPrefix description } } }",
            json!({}),
        )
        .await;
    let listed = body.to_string();
    assert!(!listed.contains(&app.admin), "{listed}");
    assert!(
        body["me"]["apiTokens"][0]["keyPrefix"]
            .as_str()
            .is_some_and(|p| p.len() < 16)
    );
}

#[tokio::test]
async fn users_see_their_own_tokens_only() {
    let app = TestApp::new().await;
    let (me, token) = app.user(Role::Operator, &[], true).await;
    let (other, _) = app.user(Role::Operator, &[], true).await;
    let mine = app
        .as_user(
            &token,
            "query ($id: ID!) { user(id: $id) { apiTokens { id } } }",
            json!({"id": me.to_string()}),
        )
        .await;
    assert!(mine.get("errors").is_none(), "{mine}");
    let theirs = app
        .as_user(
            &token,
            "query ($id: ID!) { user(id: $id) { email apiTokens { id } } }",
            json!({"id": other.to_string()}),
        )
        .await;
    assert_eq!(code(&theirs), "FORBIDDEN", "{theirs}");
    assert_eq!(
        theirs["data"]["user"]["email"],
        Value::Null,
        "others' e-mail is hidden"
    );
}

/// The binary on a fresh database: the first start creates `admin` and prints one token, once;
/// the `user` and `token` commands work.
#[tokio::test]
async fn first_start_prints_one_admin_token_and_the_cli_manages_users_and_tokens() {
    if crate::support::postgres().is_some() {
        // The binary's own database handling is the same on both backends; once is enough.
        return;
    }
    let dir = std::env::temp_dir().join(unique("pgw-cli"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let url = format!("sqlite://{}/cli.db", dir.display());
    let binary = env!("CARGO_BIN_EXE_packer-gateway");
    let start = || async {
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--database-url", &url, "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        let mut seen = String::new();
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("listening on") {
                    break;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), read)
            .await
            .expect("the service starts");
        child.kill().await.ok();
        seen
    };
    let first = start().await;
    let token = first
        .split_whitespace()
        .find(|w| w.starts_with("pgw_"))
        .expect("the first start prints a token")
        .to_owned();
    assert!(first.contains("graphiql#token="), "{first}");
    assert!(
        !first.contains('\u{1b}'),
        "no colour codes when standard error is not a terminal: {first}"
    );
    assert!(
        first.contains(&format!("/#token={token}")),
        "the dashboard link: {first}"
    );
    let second = start().await;
    assert!(
        !second.contains("pgw_"),
        "the token is printed once: {second}"
    );

    let run = |args: Vec<String>| {
        let output = std::process::Command::new(binary)
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .expect("run the binary");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (ok, out) = run(vec![
        "user".into(),
        "create".into(),
        "ops".into(),
        "--role".into(),
        "operator".into(),
    ]);
    assert!(ok, "{out}");
    let (ok, secret) = run(vec![
        "token".into(),
        "create".into(),
        "--user".into(),
        "ops".into(),
        "--read-only".into(),
        "--expires".into(),
        "30d".into(),
    ]);
    assert!(ok && secret.trim().starts_with("pgw_"), "{secret}");
    let (ok, out) = run(vec!["token".into(), "revoke".into(), "1".into()]);
    assert!(ok, "{out}");
    assert_ne!(token, secret.trim());
    let _ = std::fs::remove_dir_all(&dir);
}
