//! GraphQL over HTTP on `/graphql`, conformant to the GraphQL-over-HTTP specification (SPEC §5).
//!
//! `async-graphql-axum` is not used: its handler (for 7.0.x) runs mutations over GET, accepts
//! `text/plain` and other simple-request bodies (`receive_body` reads any content type as JSON),
//! reads bodies of any size, always allows batching, and has no `Accept` negotiation. What the
//! edge does for every door (request id, body limit and media type, credentials, timeout,
//! panics, status of a failure) is not repeated here. In order:
//!
//! - the response is `application/graphql-response+json` or `application/json` as `Accept` asks,
//!   406 when neither is acceptable ([`super::media`]);
//! - `POST` takes `application/json` (UTF-8) only, anything else is 415 — before the credentials
//!   are looked at;
//! - missing or bad credentials are 401 `UNAUTHENTICATED`, before the body is read;
//! - a body over the limit is 413; a JSON array (batching) is 400 `BATCHING_NOT_SUPPORTED`;
//!   malformed parameters are 400 `BAD_REQUEST` ([`super::params`]);
//! - a persisted query's hash names its document ([`super::persisted`]): an unknown hash is
//!   `PERSISTED_QUERY_NOT_FOUND` with HTTP 200, a hash that does not match the document sent with
//!   it 400 `BAD_REQUEST`;
//! - then the document goes through the query limits ([`super::limits`]): 413 `QUERY_TOO_LARGE`,
//!   or a request error with the limit's code — no resolver runs and no statement but the
//!   authentication's; anonymous principals get the schema without introspection or suggestions;
//! - `GET` runs queries only: a mutation is 405 with `Allow: POST`;
//! - a request error (the document does not parse or validate, a variable does not coerce) has
//!   no `data` key, and is 400 under `application/graphql-response+json`, 200 under
//!   `application/json` as the specification asks of that legacy type;
//! - an internal error is logged, once, with the request id, and the client gets a generic
//!   message and that `requestId` ([`super::render::sanitize`]).

use std::borrow::Cow;

use async_graphql::{ServerError, parser::types::OperationType};
use axum::{
    body::Body,
    extract::{RawQuery, State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    Door,
    media::{MediaType, Negotiated, negotiate, not_acceptable, wants_html},
    params::Params,
    persisted,
    prepare::{Prepared, prepare},
    render::{json_response, sanitize},
    ws,
};
use crate::{
    auth::Principal,
    error::Error,
    graphql::error::{self, codes},
    http::{
        Credentials, Failure, RequestId,
        admission::ClientAddress,
        body::{self, JsonContent},
        codes as edge_codes, cors, graphiql,
    },
    telemetry::names,
};

/// `POST /graphql`.
pub async fn post(
    State(door): State<Door>,
    RequestId(request_id): RequestId,
    Negotiated(media): Negotiated,
    _: JsonContent,
    principal: Principal,
    body: Body,
) -> Result<Response, Failure> {
    let body = body::read(body, door.app.config.limits.body_limit).await?;
    let params = Params::from_body(&body)?;
    run(&door, principal, media, params, &request_id, Method::Post).await
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), GraphiQL for browsers, queries for
/// everyone else.
pub async fn get(
    State(door): State<Door>,
    RequestId(request_id): RequestId,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    credentials: Credentials,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    if let Ok(upgrade) = upgrade {
        cors::check_websocket_origin(&door.app.config.clients, &headers)?;
        return ws::upgrade(door, upgrade, credentials, address);
    }
    let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).collect();
    let asks = |name: &str| pairs.iter().any(|(key, _)| key == name);
    if wants_html(&headers) && !asks("query") && !asks("extensions") {
        return Ok(graphiql::page().await);
    }
    let media = negotiate(&headers).ok_or_else(not_acceptable)?;
    let principal = credentials.principal(&door.app).await?;
    let params = Params::from_query(pairs)?;
    run(&door, principal, media, params, &request_id, Method::Get).await
}

/// Any method but GET and POST on `/graphql`: 405 with `Allow`.
pub async fn method_not_allowed() -> impl IntoResponse {
    (
        [(header::ALLOW, HeaderValue::from_static("GET, POST"))],
        Failure::http(
            StatusCode::METHOD_NOT_ALLOWED,
            edge_codes::BAD_REQUEST,
            "/graphql accepts GET (queries) and POST",
        ),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Checks the limits (SPEC §5) and executes: nothing reaches a resolver, and no statement but the
/// authentication runs, unless every limit is met.
async fn run(
    door: &Door,
    principal: Principal,
    media: MediaType,
    params: Params,
    request_id: &str,
    method: Method,
) -> Result<Response, Failure> {
    let mut prepared = match prepare(door, principal, params) {
        Ok(prepared) => prepared,
        Err(refusal) if refusal.code == codes::QUERY_TOO_LARGE => {
            return Err(Failure::http(
                StatusCode::PAYLOAD_TOO_LARGE,
                refusal.code,
                refusal.message,
            ));
        }
        // A persisted query's hash that does not match its document.
        Err(refusal) if refusal.code == edge_codes::BAD_REQUEST => {
            return Err(Failure::bad_request(refusal.message));
        }
        Err(refusal) if refusal.code == persisted::codes::NOT_FOUND => {
            return Ok(persisted_miss(media, refusal.code, &refusal.message));
        }
        Err(refusal) if refusal.code == persisted::codes::NOT_SUPPORTED => {
            return Ok(persisted_miss(media, refusal.code, &refusal.message));
        }
        Err(refusal) => {
            count(None, refusal.code.to_owned());
            return Ok(request_error(media, refusal.code, &refusal.message));
        }
    };
    match prepared.operation {
        Some(OperationType::Mutation) if method == Method::Get => {
            let mut response = Failure::http(
                StatusCode::METHOD_NOT_ALLOWED,
                edge_codes::BAD_REQUEST,
                "mutations are only accepted over POST",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Ok(response);
        }
        Some(OperationType::Subscription) => {
            return Ok(request_error(
                media,
                edge_codes::BAD_REQUEST,
                "subscriptions are served over WebSocket on /graphql",
            ));
        }
        _ => {}
    }
    let operation = prepared.operation;
    let unvalidated = prepared.unvalidated();
    let execution = prepared.schema.execute(prepared.request);
    let mut response = prepared.tick.drive(execution).await;
    Prepared::validated(unvalidated, &response);
    // Every error gets its code here, before it is counted by it.
    for err in &mut response.errors {
        sanitize(err, request_id);
    }
    let outcome = response
        .errors
        .first()
        .and_then(error::code_of)
        .unwrap_or_else(|| "OK".to_owned());
    count(operation, outcome);
    Ok(render(media, &response))
}

/// Counts an operation by type and outcome (`OK` or the code of its first error).
fn count(operation: Option<OperationType>, outcome: String) {
    let kind = match operation {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    };
    metrics::counter!(names::GRAPHQL_OPERATIONS, "type" => kind, "outcome" => outcome).increment(1);
}

/// A request error (nothing was executed): no `data`, 400 under
/// `application/graphql-response+json`, 200 under `application/json`.
fn request_error(media: MediaType, code: &str, message: &str) -> Response {
    let status = match media {
        MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
        MediaType::Json => StatusCode::OK,
    };
    let body = serde_json::json!({"errors": [super::render::error(message, code)]});
    json_response(media, status, body.to_string())
}

/// The answer to a persisted query's hash the service does not know (or when persisted queries
/// are off): a request error, with HTTP 200 whatever the media type — as Apollo Server answers
/// it, and what clients written against it expect before they send the document — and never
/// cached, since the same request will succeed once the document is sent.
fn persisted_miss(media: MediaType, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [super::render::error(message, code)]});
    let mut response = json_response(media, StatusCode::OK, body.to_string());
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, must-revalidate"),
    );
    response
}

/// Serializes a GraphQL response, its errors sanitized, with the right status.
fn render(media: MediaType, response: &async_graphql::Response) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let body = ResponseBody {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let unavailable = response.errors.iter().any(|e| {
        error::code_of(e).as_deref() == Some(Error::DatabaseUnavailable(String::new()).code())
    });
    let status = if unavailable {
        // The answer would be different in a moment: say so to clients and proxies alike.
        StatusCode::SERVICE_UNAVAILABLE
    } else if request_error && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    json_response(media, status, body)
}

/// A GraphQL response as the specification orders it (fields in query order; `data` absent on
/// request errors).
#[derive(serde::Serialize)]
struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}
