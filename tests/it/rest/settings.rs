//! `settings/`: the singleton read, replaced and updated within its ranges, by ADMIN only.

use axum::http::{Method, StatusCode};
use entity::enums::Role;
use serde_json::json;

use super::{call, get};
use crate::support::TestApp;

#[tokio::test]
async fn settings_are_read_replaced_and_updated_within_their_ranges() {
    let app = TestApp::new().await;
    let read = get(&app, "/settings/", &app.admin).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["image_factory_enabled"], false);
    assert_eq!(read.body["image_factory_max_concurrent_builds"], 1);
    assert_eq!(read.body["image_factory_default_job_timeout"], 14400);

    let out_of_range = call(&app, Method::PATCH, "/settings/", Some(&app.admin),
        Some(json!({"image_factory_max_concurrent_builds": 0, "image_factory_default_job_timeout": 10}))).await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        out_of_range.body,
        json!({"image_factory_default_job_timeout": ["must be between 60 and 604800 seconds"],
               "image_factory_max_concurrent_builds": ["must be between 1 and 1000"]})
    );

    let partial = call(
        &app,
        Method::PUT,
        "/settings/",
        Some(&app.admin),
        Some(json!({"image_factory_enabled": true})),
    )
    .await;
    assert_eq!(partial.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        partial.body.as_object().map(|o| o.len()),
        Some(4),
        "{}",
        partial.body
    );

    let mut full = read.body.clone();
    full["image_factory_enabled"] = json!(true);
    full["image_factory_max_concurrent_builds"] = json!(4);
    let put = call(
        &app,
        Method::PUT,
        "/settings/",
        Some(&app.admin),
        Some(full),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["image_factory_max_concurrent_builds"], 4);

    let patched = call(
        &app,
        Method::PATCH,
        "/settings/",
        Some(&app.admin),
        Some(json!({"image_factory_allow_iso_builds": true})),
    )
    .await;
    assert_eq!(patched.body["image_factory_allow_iso_builds"], true);
    assert_eq!(
        patched.body["image_factory_max_concurrent_builds"], 4,
        "unchanged"
    );
    assert_eq!(app.count("plugin_settings").await, 1);

    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    assert_eq!(
        get(&app, "/settings/", &viewer).await.status,
        StatusCode::OK
    );
    let refused = call(
        &app,
        Method::PATCH,
        "/settings/",
        Some(&viewer),
        Some(json!({"image_factory_enabled": false})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
