//! The plugin settings keep their ranges and stay single.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{RACE, TestApp, code};

#[tokio::test]
async fn settings_keep_their_ranges_and_stay_single() {
    let app = TestApp::with_args(RACE).await;
    let update = |input: Value| {
        let app = &app;
        async move {
            app.as_user(
                &app.admin,
                "mutation ($input: UpdatePluginSettingsInput!) { updatePluginSettings(input: $input) { imageFactoryMaxConcurrentBuilds imageFactoryDefaultJobTimeout } }",
                json!({"input": input}),
            )
            .await
        }
    };
    for bad in [
        json!({"imageFactoryMaxConcurrentBuilds": 0}),
        json!({"imageFactoryMaxConcurrentBuilds": 1001}),
        json!({"imageFactoryDefaultJobTimeout": 59}),
        json!({"imageFactoryDefaultJobTimeout": 604_801}),
    ] {
        let body = update(bad.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        let field = bad
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        assert!(
            body["errors"][0]["extensions"]["fields"][&field].is_array(),
            "{body}"
        );
    }
    let ok = update(
        json!({"imageFactoryMaxConcurrentBuilds": 1000, "imageFactoryDefaultJobTimeout": 60}),
    )
    .await;
    assert_eq!(
        ok["data"]["updatePluginSettings"]["imageFactoryMaxConcurrentBuilds"], 1000,
        "{ok}"
    );
    let bodies =
        join_all((1..=20).map(|n| update(json!({"imageFactoryMaxConcurrentBuilds": n})))).await;
    assert!(
        bodies.iter().all(|b| b.get("errors").is_none()),
        "{bodies:?}"
    );
    assert_eq!(app.count("plugin_settings").await, 1);
    let settings = app
        .data(
            "{ pluginSettings { imageFactoryDefaultJobTimeout } }",
            json!({}),
        )
        .await;
    assert_eq!(
        settings["pluginSettings"]["imageFactoryDefaultJobTimeout"], 60,
        "patches only touch their fields"
    );
}
