//! GraphQL over HTTP, conformant to the GraphQL-over-HTTP specification (SPEC §5):
//!
//! - `POST` takes `application/json` (UTF-8) only, anything else is 415; bodies over the limit are
//!   413; a JSON array (batching) is 400 `BATCHING_NOT_SUPPORTED`;
//! - `GET` runs queries only: a mutation is 405 with `Allow: POST`;
//! - the response is `application/graphql-response+json` or `application/json` as `Accept` asks
//!   (`application/json` when it is absent or `*/*`; 406 when neither is acceptable);
//! - a request error (the document does not parse or validate, a variable does not coerce) has
//!   no `data` key, and is 400 under `application/graphql-response+json`, 200 under
//!   `application/json` as the specification asks of that legacy type;
//! - missing or bad credentials are 401 `UNAUTHENTICATED`, before anything is parsed;
//! - then the document goes through the query limits (`graphql::limits`): 413 `QUERY_TOO_LARGE`,
//!   or a request error with the limit's code — no resolver runs and no statement but the
//!   authentication's; anonymous principals get the schema without introspection or suggestions;
//! - a request still running after `--request-timeout` is abandoned: 503 `REQUEST_TIMEOUT`;
//! - an internal error is logged here, once, with the request id, and the client gets a generic
//!   message and that `requestId`.

use std::{collections::HashMap, time::Duration};

use async_graphql::{ServerError, parser::types::OperationType};
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value as Json, json};

use super::{graphiql, prepare::prepare};
/// A parse error as a client sees it (re-exported for the transports that import it from here).
pub use crate::graphql::error::parse_message;
use crate::{
    app::App,
    auth,
    error::Error,
    graphql::error::{InternalDetail, code, code_of, codes, set_code},
};

/// The two response media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`.
    GraphqlResponse,
    /// `application/json`.
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// `POST /graphql`.
pub async fn post(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let request_id = request_id();
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    if !is_json(&headers) {
        return failure(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "send the request as `Content-Type: application/json`",
        );
    }
    let body = match axum::body::to_bytes(body, app.config.limits.body_limit).await {
        Ok(body) => body,
        Err(_) => {
            return failure(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::REQUEST_TOO_LARGE,
                &format!(
                    "the request body exceeds {} bytes",
                    app.config.limits.body_limit
                ),
            );
        }
    };
    let params = match parse_body(&body) {
        Ok(params) => params,
        Err(response) => return response(media),
    };
    execute(&app, &headers, media, params, request_id, true).await
}

/// `GET /graphql`: GraphiQL for browsers, queries for everyone else.
pub async fn get(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if wants_html(&headers) && !query.contains_key("query") {
        return graphiql::page().await;
    }
    let request_id = request_id();
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let params = match parse_query_string(query) {
        Ok(params) => params,
        Err(response) => return response(media),
    };
    execute(&app, &headers, media, params, request_id, false).await
}

/// The parameters of a GraphQL request.
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Option<Map<String, Json>>,
}

type Reject = Box<dyn FnOnce(MediaType) -> Response + Send>;

fn reject(status: StatusCode, code: &'static str, message: String) -> Reject {
    Box::new(move |media| failure(media, status, code, &message))
}

fn parse_body(body: &Bytes) -> Result<Params, Reject> {
    let json: Json = serde_json::from_slice(body).map_err(|_| {
        reject(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            "the request body is not valid JSON".to_owned(),
        )
    })?;
    match json {
        Json::Object(map) => params_of(map),
        Json::Array(_) => Err(reject(
            StatusCode::BAD_REQUEST,
            codes::BATCHING_NOT_SUPPORTED,
            "batched requests (a JSON array) are not supported: send one request per POST"
                .to_owned(),
        )),
        _ => Err(reject(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            "the request body must be a JSON object".to_owned(),
        )),
    }
}

fn parse_query_string(query: HashMap<String, String>) -> Result<Params, Reject> {
    let mut map = Map::new();
    for (key, value) in query {
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value).map_err(|_| {
                reject(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_REQUEST,
                    format!("`{key}` is not a JSON object"),
                )
            })?,
            _ => Json::String(value),
        };
        map.insert(key, value);
    }
    params_of(map)
}

fn params_of(mut map: Map<String, Json>) -> Result<Params, Reject> {
    let bad = |message: &str| {
        reject(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            message.to_owned(),
        )
    };
    let query = match map.remove("query") {
        Some(Json::String(query)) => query,
        Some(_) => return Err(bad("`query` must be a string")),
        None => return Err(bad("`query` is required")),
    };
    let operation_name = match map.remove("operationName") {
        Some(Json::String(name)) => Some(name),
        Some(Json::Null) | None => None,
        Some(_) => return Err(bad("`operationName` must be a string")),
    };
    let variables = match map.remove("variables") {
        Some(Json::Object(variables)) => Some(variables),
        Some(Json::Null) | None => None,
        Some(_) => return Err(bad("`variables` must be an object")),
    };
    match map.remove("extensions") {
        Some(Json::Object(_) | Json::Null) | None => {}
        Some(_) => return Err(bad("`extensions` must be an object")),
    }
    Ok(Params {
        query,
        operation_name,
        variables,
    })
}

/// Runs a GraphQL request within `limits.request_timeout`. When the time is up the request's
/// future is dropped — with it any sea-orm transaction in flight, which rolls back — and the
/// client gets 503 `REQUEST_TIMEOUT`.
async fn execute(
    app: &App,
    headers: &HeaderMap,
    media: MediaType,
    params: Params,
    request_id: String,
    post: bool,
) -> Response {
    let timeout = Duration::from_secs(app.config.limits.request_timeout);
    let run = run(app, headers, media, params, &request_id, post);
    match tokio::time::timeout(timeout, run).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                request_id,
                seconds = timeout.as_secs(),
                "request timed out and was abandoned"
            );
            let body = json!({"errors": [{
                "message": format!(
                    "the request did not finish within {} s and was abandoned; \
                     nothing it was still writing was committed",
                    timeout.as_secs()
                ),
                "extensions": {"code": codes::REQUEST_TIMEOUT, "requestId": request_id},
            }]});
            json_response(
                media,
                StatusCode::SERVICE_UNAVAILABLE,
                body.to_string(),
                Some(&request_id),
            )
        }
    }
}

/// Authenticates, checks the limits (SPEC §5) and executes: nothing reaches a resolver, and no
/// statement but the authentication runs, unless every limit is met.
async fn run(
    app: &App,
    headers: &HeaderMap,
    media: MediaType,
    params: Params,
    request_id: &str,
    post: bool,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let principal = match auth::authenticate(
        &app.db,
        &app.clock,
        authorization,
        app.config.anonymous_read,
    )
    .await
    {
        Ok(principal) => principal,
        Err(err) => return error_response(media, &err, request_id),
    };
    let prepared = match prepare(
        app,
        principal,
        params.query,
        params.operation_name,
        params.variables.unwrap_or_default(),
    ) {
        Ok(prepared) => prepared,
        Err(refusal) if refusal.code == codes::QUERY_TOO_LARGE => {
            return failure(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                refusal.code,
                &refusal.message,
            );
        }
        Err(refusal) => return request_error(media, refusal.code, &refusal.message),
    };
    match prepared.operation {
        Some(OperationType::Mutation) if !post => {
            let mut response = failure(
                media,
                StatusCode::METHOD_NOT_ALLOWED,
                codes::BAD_REQUEST,
                "mutations are only accepted over POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        Some(OperationType::Subscription) => {
            return request_error(
                media,
                codes::BAD_REQUEST,
                "subscriptions are served over WebSocket on /graphql",
            );
        }
        _ => {}
    }
    let response = prepared.schema.execute(prepared.request).await;
    render(media, response, request_id)
}

/// A request error (nothing was executed): no `data`, 400 under
/// `application/graphql-response+json`, 200 under `application/json`.
fn request_error(media: MediaType, code: &str, message: &str) -> Response {
    let status = match media {
        MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
        MediaType::Json => StatusCode::OK,
    };
    failure(media, status, code, message)
}

/// Serializes a GraphQL response with the right status and without internal details.
fn render(media: MediaType, mut response: async_graphql::Response, request_id: &str) -> Response {
    for err in &mut response.errors {
        sanitize(err, request_id);
    }
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let body = ResponseBody {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let status = if request_error && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_owned());
    json_response(media, status, body, Some(request_id))
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

/// Gives every error a code, and replaces internal ones by a generic message and the request id
/// after logging their detail.
pub(crate) fn sanitize(err: &mut ServerError, request_id: &str) {
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
        // Errors async-graphql raises itself: before execution they are validation failures,
        // during execution they are argument values that did not coerce.
        let code = if err.path.is_empty() {
            codes::VALIDATION_FAILED
        } else {
            codes::BAD_USER_INPUT
        };
        set_code(err, code);
    }
}

/// The response to a core error raised outside GraphQL execution (authentication).
fn error_response(media: MediaType, err: &Error, request_id: &str) -> Response {
    let status = match err {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Internal(detail) => {
            tracing::error!(request_id, %detail, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut extensions = Map::new();
    extensions.insert("code".to_owned(), json!(code(err)));
    if let Error::Internal(_) = err {
        extensions.insert("requestId".to_owned(), json!(request_id));
    }
    let body = json!({"errors": [{"message": err.message(), "extensions": extensions}]});
    let mut response = json_response(media, status, body.to_string(), Some(request_id));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"packer-gateway\""),
        );
    }
    response
}

/// A request error raised by this handler, with `extensions.code`.
pub fn failure(media: MediaType, status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    json_response(media, status, body.to_string(), None)
}

fn json_response(
    media: MediaType,
    status: StatusCode,
    body: String,
    request_id: Option<&str>,
) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.as_str()),
        )],
        body,
    )
        .into_response();
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

fn not_acceptable() -> Response {
    failure(
        MediaType::Json,
        StatusCode::NOT_ACCEPTABLE,
        codes::BAD_REQUEST,
        "accept application/graphql-response+json or application/json",
    )
}

/// A short random id that ties a response to its log lines.
pub fn request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Whether the body is declared as UTF-8 JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Ok(mime) = content_type.parse::<mime::Mime>() else {
        return false;
    };
    let json = mime.type_() == mime::APPLICATION
        && mime.subtype() == mime::JSON
        && mime.suffix().is_none();
    let utf8 = mime
        .get_param(mime::CHARSET)
        .is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"));
    json && utf8
}

/// The response media type `Accept` asks for; `None` when neither is acceptable.
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let Ok(mime) = range.trim().parse::<mime::Mime>() else {
            continue;
        };
        let q = mime
            .get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let media = match mime.essence_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        let better = best.is_none_or(|(best_q, _)| {
            q > best_q || (q == best_q && media == MediaType::GraphqlResponse)
        });
        if better {
            best = Some((q, media));
        }
    }
    best.map(|(_, media)| media)
}

/// Whether a browser is asking (HTML preferred).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|r| r.trim().starts_with("text/html")))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::{MediaType, negotiate};

    fn accept(value: &str) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        negotiate(&headers)
    }

    #[test]
    fn accept_is_negotiated() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(accept("text/plain"), None);
    }
}
