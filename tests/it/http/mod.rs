//! GraphQL over HTTP (SPEC §5): negotiation, status codes, limits, GraphiQL, health.

mod endpoints;
mod headers;
mod negotiation;

use axum::{
    body::Body,
    http::{Method, Request, header},
};

use crate::support::TestApp;

const QUERY: &str = "{ pluginSettings { imageFactoryEnabled } }";

fn post(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: String,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    request.body(Body::from(body)).expect("request")
}

fn get(app: &TestApp, query: &str, accept: &str) -> Request<Body> {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    Request::builder()
        .uri(format!("/graphql?{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .expect("request")
}

// --- the edge: what every door gets ------------------------------------------------------------

fn plain(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request")
}
