//! Authentication, roles, tenant isolation and transport refusals over REST.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{call, get};
use crate::support::TestApp;

#[tokio::test]
async fn smoke() {
    let app = TestApp::new().await;
    let reply = get(&app, "/image-definitions/", &app.admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
    let reply = call(&app, Method::GET, "/image-definitions/", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
}
