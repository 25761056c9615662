//! GraphiQL, health, readiness and metrics.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};

use crate::support::TestApp;

#[tokio::test]
async fn graphiql_is_served_without_any_network_asset() {
    let app = TestApp::new().await;
    for uri in ["/graphiql", "/graphql"] {
        let request = Request::builder()
            .uri(uri)
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .body(Body::empty())
            .expect("request");
        let (status, headers, html) = app.send(request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        assert!(html.contains("graphiql"), "{uri}");
        for src in html.split("src=\"").skip(1) {
            assert!(src.starts_with('/'), "a script comes from elsewhere: {src}");
        }
        assert!(
            !html.contains("https://"),
            "the page references the network"
        );
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
    ] {
        let request = Request::builder()
            .uri(format!("/graphiql/assets/{asset}"))
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(body.len() > 1000, "{asset}");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::new().await;
    for uri in ["/healthz", "/readyz", "/metrics"] {
        let request = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}
