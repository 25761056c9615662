//! The one mapping from the core [`Error`] to an HTTP status and body ([`status`]), and the
//! refusals of the transport itself (media type, size, method, route, time).
//!
//! Bodies: a field error (`BAD_USER_INPUT`) is `{field: [messages]}` as Django REST framework
//! writes it; every other error is `{"detail": message, "code": CODE, …}` with the extras of its
//! code (`fields` for `CONFLICT`, `from`/`to`, `limit`, `feature`, `request_id`). An internal error
//! is logged here, once, with its detail and a request id; the client gets only that id.

use std::any::Any;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sea_orm::ActiveEnum;
use serde_json::{Map, Value as Json, json};

use crate::error::{Error, FieldErrors};

/// Codes of the transport's own refusals (the same names GraphQL gives them).
pub mod codes {
    /// A wrong method or media type.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// A body larger than `--body-limit` (413).
    pub const REQUEST_TOO_LARGE: &str = "REQUEST_TOO_LARGE";
    /// A request still running after `--request-timeout` (503).
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
}

/// Why a REST request failed.
#[derive(Debug)]
pub enum Failure {
    /// An outcome of the core (or of parsing the request into core types).
    Core(Error),
    /// A refusal of the transport: wrong media type or method, body too large, no such route,
    /// out of time.
    Http {
        /// The status.
        status: StatusCode,
        /// The code, as GraphQL names the same refusal.
        code: &'static str,
        /// What to tell the client.
        detail: String,
    },
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Core(err)
    }
}

impl Failure {
    /// A transport refusal.
    pub fn http(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Failure::Http {
            status,
            code,
            detail: detail.into(),
        }
    }
}

/// The HTTP status of a core error: the one place that decides it.
pub fn status(err: &Error) -> StatusCode {
    match err {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::BadInput(_) => StatusCode::BAD_REQUEST,
        // The request is well formed, but the state of the service refuses it: a uniqueness or
        // history rule, the lifecycle, a switch of the plugin settings, a disabled definition or
        // endpoint, an idempotency key bound to another input.
        Error::Conflict(_)
        | Error::InvalidTransition { .. }
        | Error::FeatureDisabled { .. }
        | Error::DefinitionDisabled
        | Error::EndpointWritesDisabled
        | Error::IdempotencyKeyReused => StatusCode::CONFLICT,
        Error::ConcurrencyLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Core(err) => core_response(err),
            Failure::Http {
                status,
                code,
                detail,
            } => (status, axum::Json(json!({"detail": detail, "code": code}))).into_response(),
        }
    }
}

fn core_response(err: Error) -> Response {
    let status = status(&err);
    let mut body = Map::new();
    match &err {
        Error::BadInput(fields) => {
            return (status, axum::Json(Json::Object(by_field(fields)))).into_response();
        }
        Error::NotFound => {
            body.insert("detail".into(), json!("Not found."));
        }
        Error::Internal(detail) => {
            let request_id = crate::http::graphql::request_id();
            tracing::error!(request_id, detail = %detail, "internal error");
            return internal(&request_id);
        }
        _ => {
            body.insert("detail".into(), json!(err.message()));
        }
    }
    body.insert("code".into(), json!(err.code()));
    match &err {
        Error::Conflict(fields) => {
            body.insert("fields".into(), Json::Object(by_field(fields)));
        }
        Error::InvalidTransition { from, to } => {
            body.insert("from".into(), json!(from.map(|from| from.to_value())));
            body.insert("to".into(), json!(to.to_value()));
        }
        Error::ConcurrencyLimit { limit } => {
            body.insert("limit".into(), json!(limit));
        }
        Error::FeatureDisabled { feature } => {
            body.insert("feature".into(), json!(feature));
        }
        _ => {}
    }
    let mut response = (status, axum::Json(Json::Object(body))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"packer-gateway\""),
        );
    }
    response
}

/// 500 with the request id under which the detail was logged.
fn internal(request_id: &str) -> Response {
    let body = json!({
        "detail": "internal server error",
        "code": "INTERNAL_SERVER_ERROR",
        "request_id": request_id,
    });
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// A panic in a REST handler: a 500 in the REST shape, the panic logged once with its id.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let request_id = crate::http::graphql::request_id();
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(request_id, detail, "panic while serving a REST request");
    internal(&request_id)
}

/// `{field: [messages]}`, with the core's names of references turned into REST's.
fn by_field(fields: &FieldErrors) -> Map<String, Json> {
    let mut map = Map::new();
    for (field, messages) in fields.iter() {
        let entry = map
            .entry(rest_name(field))
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(list) = entry {
            list.extend(messages.iter().map(|m| json!(m)));
        }
    }
    map
}

/// The REST name of a field the core names after its column (`proxmox_endpoint_id`): over REST a
/// relation is named after the object (`proxmox_endpoint`), as NetBox does.
pub fn rest_name(field: &str) -> String {
    match field {
        "proxmox_endpoint_id" => "proxmox_endpoint",
        "target_cluster_id" => "target_cluster",
        "allowed_tenant_ids" => "allowed_tenants",
        "definition_id" => "definition",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use entity::enums::BuildStatus;

    use super::{rest_name, status};
    use crate::error::{Error, FieldErrors};

    #[test]
    fn every_core_error_has_its_status() {
        let cases = [
            (Error::Unauthenticated, 401),
            (Error::forbidden("no"), 403),
            (Error::NotFound, 404),
            (Error::bad_input("name", "is required"), 400),
            (Error::Conflict(FieldErrors::one("name", "taken")), 409),
            (
                Error::InvalidTransition {
                    from: Some(BuildStatus::Completed),
                    to: BuildStatus::Running,
                },
                409,
            ),
            (Error::ConcurrencyLimit { limit: 1 }, 429),
            (
                Error::FeatureDisabled {
                    feature: "image_factory",
                },
                409,
            ),
            (Error::DefinitionDisabled, 409),
            (Error::EndpointWritesDisabled, 409),
            (Error::IdempotencyKeyReused, 409),
            (Error::internal("boom"), 500),
        ];
        for (err, expected) in cases {
            assert_eq!(
                status(&err),
                StatusCode::from_u16(expected).ok().unwrap_or_default(),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_panic_is_a_generic_500_with_a_request_id() {
        let response = super::panic_response(Box::new("secret detail"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-request-id"));
    }

    #[test]
    fn references_are_named_after_the_object() {
        assert_eq!(rest_name("proxmox_endpoint_id"), "proxmox_endpoint");
        assert_eq!(rest_name("allowed_tenant_ids"), "allowed_tenants");
        assert_eq!(rest_name("backend_build_id"), "backend_build_id");
    }
}
