//! GraphQL's shapes of what goes wrong: the body of an edge [`Failure`] ([`render`], mounted with
//! the GraphQL door), and the errors of an executed response made safe to send ([`sanitize`]).

use async_graphql::ServerError;
use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value as Json, json};

use super::media::{MediaType, negotiate_accept};
use crate::{
    graphql::error::{InternalDetail, code_of, codes, request_code, set_code},
    http::{Failure, Rendering},
};

/// The GraphQL body of a failure (an `http::Render` function): `{"errors": [{message,
/// extensions: {code, …}}]}` in the negotiated media type (`application/json` when none is).
pub fn render(failure: &Failure, rendering: &Rendering<'_>) -> Response {
    let media = negotiate_accept(rendering.accept).unwrap_or(MediaType::Json);
    let (message, mut extensions) = match failure {
        // The core error's message and extensions (`fields`, `from`, …) as resolvers would
        // report them.
        Failure::Core(err) => {
            let err = async_graphql::Error::from(err.clone());
            let extensions = serde_json::to_value(err.extensions)
                .ok()
                .and_then(|value| match value {
                    Json::Object(map) => Some(map),
                    _ => None,
                })
                .unwrap_or_default();
            (err.message, extensions)
        }
        _ => (failure.message(), Map::new()),
    };
    extensions.insert("code".to_owned(), json!(failure.code()));
    if failure.shows_request_id() {
        extensions.insert("requestId".to_owned(), json!(rendering.request_id));
    }
    let body = json!({"errors": [{"message": message, "extensions": extensions}]});
    json_response(media, StatusCode::OK, body.to_string())
}

/// A response of `media` (the edge adds the request id).
pub fn json_response(media: MediaType, status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

/// Gives every error a code, and replaces internal ones by a generic message and the request id
/// after logging their detail (once, here, with that id).
pub fn sanitize(err: &mut ServerError, request_id: &str) {
    if let Some(detail) = err
        .source
        .as_ref()
        .and_then(|source| source.downcast_ref::<InternalDetail>())
    {
        tracing::error!(request_id, path = ?err.path, detail = %detail.0, "internal error");
        err.message = "internal server error".to_owned();
        err.source = None;
        if let Some(extensions) = err.extensions.as_mut() {
            extensions.set("requestId", request_id);
        }
    }
    if code_of(err).is_none() {
        // Errors async-graphql raises itself: before execution (no path) they are request
        // errors of validation, whose limits have codes of their own; during execution they are
        // argument values that did not coerce.
        let code = if err.path.is_empty() {
            request_code(&err.message)
        } else {
            codes::BAD_USER_INPUT
        };
        set_code(err, code);
    }
}

/// A GraphQL error with a code, as JSON.
pub fn error(message: &str, code: &str) -> Json {
    json!({"message": message, "extensions": {"code": code}})
}
