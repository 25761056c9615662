//! Served from the binary: headers, caching, nothing from elsewhere.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_its_headers() {
    let app = TestApp::new().await;
    let get = |uri: &str| {
        Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(Body::empty())
            .expect("a request")
    };

    let (status, headers, page) = app.send(get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let policy = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ASCII");
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("http"),
        "{policy}"
    );

    // Every file the page names is served under one versioned folder, cached for good.
    let version = regex::Regex::new(r"dashboard/([0-9a-f]{16})/js/main\.js")
        .expect("a regex")
        .captures(&page)
        .expect("a versioned folder in the page")[1]
        .to_owned();
    for (file, content_type) in [
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
        ("vendor/preact/preact.mjs", "text/javascript; charset=utf-8"),
        (
            "vendor/graphql-ws/client.js",
            "text/javascript; charset=utf-8",
        ),
        ("vendor/htm/LICENSE", "text/plain; charset=utf-8"),
    ] {
        assert!(
            file.starts_with("vendor/") || page.contains(&format!("dashboard/{version}/{file}")),
            "the page names {file}"
        );
        let (status, headers, body) = app.send(get(&format!("/dashboard/{version}/{file}"))).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{file}");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(!body.is_empty(), "{file}");
    }
    // Nothing in the page or its modules comes from another host.
    for file in ["js/main.js", "js/live.js", "js/api.js", "app.css"] {
        let (_, _, body) = app.send(get(&format!("/dashboard/{version}/{file}"))).await;
        assert!(!body.contains("://"), "{file} names another host");
    }
    assert!(!page.contains("://"), "the page names another host");

    // Another version, or a file that does not exist: 404.
    for uri in [
        "/dashboard/0000000000000000/js/main.js".to_owned(),
        format!("/dashboard/{version}/js/nope.js"),
        format!("/dashboard/{version}/../Cargo.toml"),
    ] {
        assert_eq!(app.send(get(&uri)).await.0, StatusCode::NOT_FOUND, "{uri}");
    }

    // `/` takes nothing from GraphiQL, GraphQL or REST.
    let (status, headers, _) = app.send(get("/graphiql")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let (status, body) = app
        .post(Some(&app.admin.clone()), "{ me { username } }", json!({}))
        .await;
    assert_eq!(
        (status, body["data"]["me"]["username"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    let rest = Request::builder()
        .uri("/api/plugins/packer/settings/")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::empty())
        .expect("a request");
    assert_eq!(app.send(rest).await.0, StatusCode::OK);
}
