//! Requests to the service, and what to read from their answers.

use super::TestApp;
use axum::{
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use entity::{build_event, image_build};
use http_body_util::BodyExt;
use packer_gateway::registry::id::{Global, Id, Named};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tower::ServiceExt;

impl TestApp {
    /// Sends a raw request.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// POSTs a GraphQL request as `token` and returns status and JSON body.
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/graphql-response+json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = json!({"query": query, "variables": variables}).to_string();
        let (status, _, body) = self
            .send(request.body(Body::from(body)).expect("a request"))
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Runs a GraphQL request as admin and returns its `data`, failing on any error.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(&self.admin.clone()), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Runs a GraphQL request as `token` and returns its body.
    pub async fn as_user(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post(Some(token), query, variables).await.1
    }

    /// SQL statements run so far.
    pub fn statements(&self) -> u64 {
        self.app.statement_count()
    }

    /// SQL statements requests ran so far while answering (not their background work).
    pub fn request_statements(&self) -> u64 {
        self.app.request_statement_count()
    }

    /// Records a use of `user`'s tokens just now, directly in the database: authenticating them
    /// writes no `last_used` during a following measurement.
    pub async fn record_token_use(&self, user: i32) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        entity::api_token::Entity::update_many()
            .col_expr(
                entity::api_token::Column::LastUsed,
                Expr::value(packer_gateway::clock::now()),
            )
            .filter(entity::api_token::Column::UserId.eq(user))
            .exec(&self.app.db)
            .await
            .expect("record a use of the user's tokens");
    }

    /// Waits until the background `last_used` write of a token's use has landed (the only
    /// statement a request leaves behind it), so that a following count is exact.
    pub async fn settle(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.app.auth.settled())
            .await
            .expect("the token's last use recorded within 10 s");
    }
}

/// The fields named in the `extensions.fields` of the first error of a body (`BAD_USER_INPUT`,
/// `CONFLICT`).
pub fn fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default()
}

/// The global id GraphQL gives the row `id` of `E` (`registry::id`): what every `id` field
/// answers.
pub fn gid<E: Named>(id: impl Into<i64>) -> String {
    Id::<E>::new(id.into()).expect("a positive id").global()
}

/// The global id of the build event `id` (what `eventId` answers).
pub fn event_gid(id: i64) -> String {
    gid::<build_event::Entity>(id)
}

/// The global id of the build `id`.
pub fn build_gid(id: i32) -> String {
    gid::<image_build::Entity>(id)
}

/// The row's integer behind a global id GraphQL answered (REST's id, the database's key).
pub fn row_of(global: &str) -> i64 {
    Global::parse(global)
        .unwrap_or_else(|| panic!("a global id: {global}"))
        .value()
}

/// [`row_of`] as the `INTEGER` key it is.
pub fn key_of(global: &str) -> i32 {
    i32::try_from(row_of(global)).expect("an INTEGER key")
}

/// The `extensions.code` of the first error of a body.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// The fields every mutation test reads back from a build.
pub const BUILD: &str = "id status statusColor outputVmid outputName imageVersion startedAt completedAt \
    timeoutSeconds error backendBuildId netboxJobId rebuildOf { id } createdBy { username } \
    cloudImageTemplate { id name slug } definition { id } events { id fromStatus toStatus }";

impl TestApp {
    /// Turns the image factory on, with `extra` settings.
    pub async fn enable_factory(&self, extra: Value) {
        let mut input = json!({"imageFactoryEnabled": true});
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        self.data(
            "mutation ($input: UpdatePluginSettingsInput!) { updatePluginSettings(input: $input) { imageFactoryEnabled } }",
            json!({"input": input}),
        )
        .await;
    }

    /// Creates a definition as admin through the API; returns its id.
    pub async fn create_definition(&self, input: Value) -> String {
        let data = self
            .data(
                "mutation ($input: CreateImageDefinitionInput!) { createImageDefinition(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        data["createImageDefinition"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    /// Runs `queueImageBuild` as `token`; returns the body.
    pub async fn queue_build(&self, token: &str, input: Value) -> Value {
        self.as_user(
            token,
            &format!("mutation ($input: QueueImageBuildInput!) {{ queueImageBuild(input: $input) {{ {BUILD} }} }}"),
            json!({"input": input}),
        )
        .await
    }

    /// Runs a lifecycle mutation (`startImageBuild`, …) on `id` as `token`; returns the body.
    pub async fn lifecycle(&self, token: &str, mutation: &str, id: &str, args: &str) -> Value {
        self.as_user(
            token,
            &format!("mutation ($id: ID!) {{ {mutation}(id: $id{args}) {{ {BUILD} }} }}"),
            json!({"id": id}),
        )
        .await
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.app.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}
