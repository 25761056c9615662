//! Subscriptions take and answer global ids; REST keeps integers.

use serde_json::{Value, json};

use crate::support::{build_gid, row_of};

use super::graph;

#[tokio::test]
async fn subscriptions_take_and_answer_global_ids() {
    let g = graph().await;
    let app = &g.app;
    let data = app
        .data("{ imageBuild(id: \"1\") { events { id } } }", json!({}))
        .await;
    let event = data["imageBuild"]["events"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(row_of(&event), 1);
    // An event's id is also what `afterEventId` takes; another type's id is refused.
    let server = app.serve().await;
    let mut client =
        crate::ws_client::Client::connect(&server, Some(crate::ws_client::TRANSPORT_WS), None)
            .await;
    client.init(&app.admin).await;
    client
        .subscribe(
            "bad",
            crate::ws_client::SUBSCRIPTION,
            json!({"after": build_gid(g.build)}),
        )
        .await;
    let message = client.recv().await;
    assert_eq!(message["id"], "bad", "{message}");
    let errors = &message["payload"];
    let errors = if errors.is_array() {
        errors.clone()
    } else {
        errors["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rest_keeps_integer_ids() {
    let g = graph().await;
    let request = axum::http::Request::builder()
        .uri(format!("/api/plugins/packer/image-builds/{}/", g.build))
        .header("authorization", format!("Token {}", g.app.admin))
        .body(axum::body::Body::empty())
        .expect("a request");
    let (status, _, body) = g.app.send(request).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["id"], json!(g.build));
    assert_eq!(body["definition"]["id"], json!(g.definition));
    let request = axum::http::Request::builder()
        .uri(format!(
            "/api/plugins/packer/image-builds/{}/",
            build_gid(g.build)
        ))
        .header("authorization", format!("Token {}", g.app.admin))
        .body(axum::body::Body::empty())
        .expect("a request");
    let (status, _, _) = g.app.send(request).await;
    assert_eq!(status, 404, "REST paths take integers only");
}
