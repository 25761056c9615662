//! Null propagation as the specification has it ("Handling Field Errors"), at the API boundary:
//! a failed nullable field is null and its error names its path; its siblings, its parent and
//! the rest of a list answer. async-graphql 7.0.19 would null the nearest nullable ancestor
//! instead; the resolvers of nullable fields answer through `graphql::error::nullable` (see
//! `graphql::compat::nullable`).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{
    support::TestApp,
    ws_client::{Client, TRANSPORT_WS, app_with_definition},
};

use super::build_id;

/// The codes and paths of a body's errors.
fn errors(body: &Value) -> Vec<(String, Value)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let code = e["extensions"]["code"].as_str().unwrap_or_default();
                    (code.to_owned(), e["path"].clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_missing_build_nulls_only_its_own_field() {
    let app = TestApp::new().await;
    let (status, body) = app
        .post(
            Some(&app.admin.clone()),
            "query($id: ID!) { pluginSettings { imageFactoryEnabled }
                               imageBuild(id: $id) { id status } }",
            json!({"id": build_id(999_999)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"pluginSettings": {"imageFactoryEnabled": false}, "imageBuild": null})
    );
    assert_eq!(
        errors(&body),
        vec![("NOT_FOUND".to_owned(), json!(["imageBuild"]))]
    );
    assert_eq!(
        body["errors"][0]["locations"],
        json!([{"line": 2, "column": 32}])
    );
}

/// The only errors async-graphql raises before a nullable field's resolver runs would be its
/// arguments' values; an `ID` that async-graphql's parser would refuse is refused before
/// execution, as a request error, so it never nulls anything.
#[tokio::test]
async fn an_id_that_cannot_parse_is_a_request_error() {
    let app = TestApp::new().await;
    for id in [
        json!(18_446_744_073_709_551_615_u64),
        json!(1.5),
        json!(true),
    ] {
        let (_, body) = app
            .post(
                Some(&app.admin.clone()),
                "query($id: ID!) { pluginSettings { imageFactoryEnabled } imageBuild(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert!(body.get("data").is_none(), "{id}: {body}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
        assert!(body["errors"][0].get("path").is_none(), "{id}: {body}");
    }
}

/// An anonymous reader may read open builds but not users: each build's `createdBy` fails
/// (`UNAUTHENTICATED`) and is null, every build and its other fields answer.
#[tokio::test]
async fn a_failed_relation_in_a_list_nulls_only_itself() {
    let (app, definition) = app_with_definition(&["--anonymous-read"]).await;
    let (first, _) = app.queue(definition).await;
    let (second, _) = app.queue(definition).await;
    let (status, body) = app
        .post(
            None,
            "{ imageBuilds(first: 5) { totalCount nodes { id createdBy { username } status } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"imageBuilds": {"totalCount": 2, "nodes": [
            {"id": build_id(second), "createdBy": null, "status": "PENDING"},
            {"id": build_id(first), "createdBy": null, "status": "PENDING"},
        ]}})
    );
    assert_eq!(
        errors(&body),
        vec![
            (
                "UNAUTHENTICATED".to_owned(),
                json!(["imageBuilds", "nodes", 0, "createdBy"])
            ),
            (
                "UNAUTHENTICATED".to_owned(),
                json!(["imageBuilds", "nodes", 1, "createdBy"])
            ),
        ]
    );
}

/// The same in a subscription event: the anonymous subscriber's `actor` fails and is null, the
/// event and its build answer.
#[tokio::test]
async fn a_failed_relation_of_an_event_nulls_only_itself() {
    let (app, definition) = app_with_definition(&["--anonymous-read"]).await;
    let server = app.serve().await;
    let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
    client.init_with(json!({})).await;
    client
        .subscribe(
            "1",
            "subscription { buildStatusChanged { status actor { username } build { id } } }",
            json!({}),
        )
        .await;
    app.wait_for_subscribers(1).await;
    let (build, _) = app.queue(definition).await;
    let message = client.recv().await;
    assert_eq!(message["type"], "next", "{message}");
    let payload = &message["payload"];
    assert_eq!(
        payload["data"],
        json!({"buildStatusChanged": {
            "status": "PENDING", "actor": null, "build": {"id": build_id(build)}
        }})
    );
    assert_eq!(
        errors(payload),
        vec![(
            "UNAUTHENTICATED".to_owned(),
            json!(["buildStatusChanged", "actor"])
        )]
    );
    server.shutdown().await;
}
