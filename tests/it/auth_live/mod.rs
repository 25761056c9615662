//! Credentials changes take effect everywhere (issue 9, SPEC §9): revoking or expiring a token,
//! deactivating its user, changing the user's role or tenants, deleting a tenant — at once on the
//! instance that made the change (over HTTP and on its open websockets), and within a second on
//! another instance sharing the database (its `LISTEN` on PostgreSQL, the generation poll on
//! SQLite and as the safety net). Tokens are authenticated from memory, and that memory is
//! bounded.
//!
//! Nothing here sleeps to synchronise: each effect is awaited with a deadline (the spec's second
//! for another instance), and expiry is reached by moving the service's clock.

mod at_once;
mod instances;
mod rescoping;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use entity::enums::Role;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::{
    support::{Server, TestApp, World, within},
    ws_client::{Client, SUBSCRIPTION},
};

/// How long another instance may take to apply a change (SPEC §9).
const A_SECOND: Duration = Duration::from_secs(1);

/// The close code of refused credentials.
const FORBIDDEN: u16 = 4403;

/// What every test reads with a user's token.
const ME: &str = "{ me { id username role tenants { id } apiTokens { id } } }";

/// A user with a token.
struct Subject {
    token: String,
    /// The user's row id.
    user_id: i32,
    /// The user's GraphQL id.
    id: String,
    /// Its token's GraphQL id.
    token_id: String,
}

impl Subject {
    async fn new(app: &TestApp, role: Role, tenants: &[i32]) -> Subject {
        let (user_id, token) = app.user(role, tenants, true).await;
        let body = app.as_user(&token, ME, json!({})).await;
        let me = &body["data"]["me"];
        Subject {
            id: me["id"].as_str().expect("an id").to_owned(),
            token_id: me["apiTokens"][0]["id"]
                .as_str()
                .expect("a token id")
                .to_owned(),
            token,
            user_id,
        }
    }

    /// Its status over HTTP on `app` (`me`).
    async fn status(&self, app: &TestApp) -> StatusCode {
        app.post(Some(&self.token), "{ me { id } }", json!({}))
            .await
            .0
    }

    /// A websocket to `server` acknowledged with its token, subscribed (`live`) to every status
    /// change it may see.
    async fn subscribe(&self, server: &Server, protocol: &'static str) -> Client {
        let mut client = Client::connect(server, Some(protocol), None).await;
        client.init(&self.token).await;
        client.subscribe("live", SUBSCRIPTION, json!({})).await;
        client
    }
}

/// Runs an admin mutation on `app` and returns its data.
async fn admin(app: &TestApp, mutation: &str, variables: Value) -> Value {
    app.data(mutation, variables).await
}

async fn update_user(app: &TestApp, user: &Subject, input: Value) {
    admin(
        app,
        "mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }",
        json!({"id": user.id, "input": input}),
    )
    .await;
}

async fn revoke(app: &TestApp, user: &Subject) {
    admin(
        app,
        "mutation ($id: ID!) { revokeApiToken(id: $id) }",
        json!({"id": user.token_id}),
    )
    .await;
}

/// The GraphQL ids of `tenants`, in that order, as the API names them.
async fn tenant_ids(app: &TestApp, tenants: &[i32]) -> Vec<String> {
    let body = app
        .data("{ tenants(first: 100) { nodes { id name } } }", json!({}))
        .await;
    let names = tenant_names(app, tenants).await;
    names
        .iter()
        .map(|name| {
            body["tenants"]["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|n| n["name"] == name.as_str()))
                .and_then(|n| n["id"].as_str())
                .expect("the tenant is listed")
                .to_owned()
        })
        .collect()
}

async fn tenant_names(app: &TestApp, tenants: &[i32]) -> Vec<String> {
    let mut names = Vec::new();
    for id in tenants {
        let row = entity::tenant::Entity::find_by_id(*id)
            .one(&app.app.db)
            .await
            .expect("read a tenant")
            .expect("the tenant exists");
        names.push(row.name);
    }
    names
}

/// Awaits the close of `client` with 4403 for at most `deadline` (the legacy protocol gets its
/// `connection_error` first).
async fn closed_forbidden(client: &mut Client, legacy: bool, deadline: Duration) {
    let start = Instant::now();
    if legacy {
        let message = tokio::time::timeout(deadline, client.recv())
            .await
            .expect("connection_error in time");
        assert_eq!(message["type"], "connection_error", "{message}");
    }
    let left = deadline.saturating_sub(start.elapsed());
    let (code, _) = tokio::time::timeout(left, client.closed())
        .await
        .unwrap_or_else(|_| panic!("the socket was not closed within {deadline:?}"));
    assert_eq!(code, FORBIDDEN);
}

/// Definitions restricted to T1 and to T2, on `world`.
async fn two_definitions(app: &TestApp, world: &World) -> (i32, i32) {
    let seed = app.seed();
    let one = seed
        .definition("Of T1", world.endpoint, world.cluster, &[world.t1], |_| {})
        .await;
    let two = seed
        .definition("Of T2", world.endpoint, world.cluster, &[world.t2], |_| {})
        .await;
    (one, two)
}
