//! The role matrix: every operation is allowed exactly to the roles of the spec.

use axum::http::StatusCode;
use entity::enums::{BuildStatus, Role};
use serde_json::json;

use crate::support::{TestApp, World, at, code, unique};

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
