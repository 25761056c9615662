//! SQL statements per request (SPEC §3.1): relations go through DataLoaders, so the number of
//! statements of a request does not grow with the number of rows it returns, `totalCount` costs
//! nothing unless selected, and a filter is one `WHERE`.
//!
//! Counts are exact and deterministic: they come from the connection's statement counter, not
//! from timing. A request's token costs [`AUTHENTICATION`] once it is known: tokens are
//! authenticated from memory (one statement the first time an instance sees a token).

use entity::{enums::BuildStatus, enums::Role};
use serde_json::{Value, json};

use crate::support::{TestApp, at};

mod access;
mod builds;
mod definitions;
mod events;

/// What authenticating a request costs once its token is known: nothing. (The first use of a
/// token on an instance costs one statement, which reads the token, its user and the user's
/// tenants together; see `a_known_token_costs_no_statement`.)
const AUTHENTICATION: u64 = 0;

/// Definitions, builds and everything they point at.
struct Fleet {
    tenants: [i32; 3],
    definitions: Vec<i32>,
    builds: Vec<i32>,
}

/// `definitions` definitions (each allowed to one or two of three tenants, or to everyone, on one
/// of four endpoints) and `builds` builds spread over them, queued by five users.
async fn fleet(app: &TestApp, definitions: usize, builds: usize) -> Fleet {
    let world = app.world().await;
    let seed = app.seed();
    let t3 = seed.tenant("Tenant Three").await;
    let tenants = [world.t1, world.t2, t3];
    let mut endpoints = vec![world.endpoint];
    for i in 1..4 {
        endpoints.push(seed.endpoint(&format!("pve-api-{i}")).await);
    }
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(app.user(Role::Operator, &[tenants[i % 3]], true).await.0);
    }
    let mut fleet = Fleet {
        tenants,
        definitions: Vec::new(),
        builds: Vec::new(),
    };
    for i in 0..definitions {
        let allowed: Vec<i32> = match i % 4 {
            0 => vec![],
            1 => vec![tenants[0]],
            2 => vec![tenants[1], tenants[2]],
            _ => vec![tenants[2]],
        };
        fleet.definitions.push(
            seed.definition(
                &format!("def-{i:02}"),
                endpoints[i % 4],
                world.cluster,
                &allowed,
                |_| {},
            )
            .await,
        );
    }
    for i in 0..builds {
        let definition = fleet.definitions[i % definitions];
        fleet.builds.push(
            seed.build(
                definition,
                endpoints[(i / 3) % 4],
                BuildStatus::Completed,
                at(-(i as i64)),
                Some(users[i % 5]),
                |_| {},
            )
            .await,
        );
    }
    fleet
}

/// Keeps the background `last_used` write of the admin token out of every measured window.
///
/// That write happens at most once a minute, in a task of its own, and the statement counter
/// hears of it only when that task next runs, which may be during a later request. Recording a
/// fresh use directly in the database means no request of the test writes it at all. One request
/// then runs, so that nothing done once per process lands in a measurement either.
async fn warm_up(app: &TestApp) {
    app.record_token_use(app.admin_id).await;
    app.data("{ me { id } }", json!({})).await;
}

/// The statements one request runs (authentication included) and its data.
async fn measure(app: &TestApp, query: &str, variables: Value) -> (u64, Value) {
    let before = app.request_statements();
    let data = app.data(query, variables).await;
    (app.request_statements() - before, data)
}

/// A page of builds with the relations a list view asks for.
const BUILD_PAGE: &str = "query($first: Int) { imageBuilds(first: $first) { nodes {
    id status
    definition { name allowedTenants { name } proxmoxEndpoint { name } }
    createdBy { username }
} } }";

/// On PostgreSQL the service's connections plan each prepared statement once (its generic plan)
/// instead of again at every execution; a `plan_cache_mode` in the URL's `options` wins.
#[tokio::test]
async fn postgres_plans_a_prepared_statement_once() {
    use sea_orm::{ConnectionTrait, Statement};
    let show = async |app: &TestApp| {
        let row = app
            .app
            .db
            .query_one_raw(Statement::from_string(
                app.app.db.get_database_backend(),
                "SHOW plan_cache_mode",
            ))
            .await
            .expect("SHOW")
            .expect("a row");
        row.try_get_by_index::<String>(0).expect("a text")
    };
    let app = TestApp::new().await;
    if app.app.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return;
    }
    assert_eq!(show(&app).await, "force_generic_plan");
    let url = format!("{}&options[plan_cache_mode]=force_custom_plan", app.url);
    let chosen = TestApp::on(&url, false, &[]).await;
    assert_eq!(show(&chosen).await, "force_custom_plan");
}
