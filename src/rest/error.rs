//! The REST body shape of a failure ([`render`], mounted with the REST door), and REST's names of
//! fields. The edge (`http::failure`) decides the status of every failure, logs internal ones
//! once and adds the headers; this module only writes bodies.
//!
//! Bodies: a field error (`BAD_USER_INPUT`) is `{field: [messages]}` as Django REST framework
//! writes it; every other failure is `{"detail": message, "code": CODE, …}` with the extras of its
//! code (`fields` for `CONFLICT`, `from`/`to`, `limit`, `feature`, `request_id` for internal errors
//! and timeouts).

use axum::response::{IntoResponse, Response};
use sea_orm::ActiveEnum;
use serde_json::{Map, Value as Json, json};

pub use crate::http::{Failure, codes};
use crate::{
    error::{Error, FieldErrors},
    http::Rendering,
};

/// The REST body of a failure (an `http::Render` function).
pub fn render(failure: &Failure, rendering: &Rendering<'_>) -> Response {
    let mut body = match failure {
        Failure::Core(Error::BadInput(fields)) => Json::Object(by_field(fields)),
        Failure::Core(err) => core_body(err),
        _ => json!({"detail": failure.message(), "code": failure.code()}),
    };
    if failure.shows_request_id()
        && let Json::Object(map) = &mut body
    {
        map.insert("request_id".into(), json!(rendering.request_id));
    }
    axum::Json(body).into_response()
}

/// `{"detail", "code", …}` of a core error other than a field error.
fn core_body(err: &Error) -> Json {
    let mut body = Map::new();
    let detail = match err {
        Error::NotFound => "Not found.".to_owned(),
        // Fields named as REST names them, in `fields` and in the message alike.
        _ => err.message_naming(&rest_name),
    };
    body.insert("detail".into(), json!(detail));
    body.insert("code".into(), json!(err.code()));
    match err {
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
    Json::Object(body)
}

/// `{field: [messages]}`, with the core's names of references turned into REST's.
fn by_field(fields: &FieldErrors) -> Map<String, Json> {
    let mut map = Map::new();
    for (field, messages) in fields.renamed(&rest_name).iter() {
        let entry = map
            .entry(field.to_owned())
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
    use axum::http::HeaderValue;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};

    use super::{Failure, render, rest_name};
    use crate::{
        error::{Error, FieldErrors},
        http::Rendering,
    };

    async fn body(failure: Failure) -> Value {
        let accept = HeaderValue::from_static("*/*");
        let rendering = Rendering {
            request_id: "0123",
            accept: Some(&accept),
        };
        let bytes = render(&failure, &rendering)
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[tokio::test]
    async fn bodies_have_the_rest_shape() {
        assert_eq!(
            body(Error::bad_input("proxmox_endpoint_id", "is required").into()).await,
            json!({"proxmox_endpoint": ["is required"]})
        );
        assert_eq!(
            body(Error::NotFound.into()).await,
            json!({"detail": "Not found.", "code": "NOT_FOUND"})
        );
        assert_eq!(
            body(Error::Conflict(FieldErrors::one("slug", "taken")).into()).await["fields"],
            json!({"slug": ["taken"]})
        );
        assert_eq!(
            body(Error::internal("secret detail").into()).await,
            json!({"detail": "internal server error", "code": "INTERNAL_SERVER_ERROR",
                   "request_id": "0123"})
        );
        let timeout = body(Failure::Timeout(std::time::Duration::from_secs(15))).await;
        assert_eq!(timeout["code"], "REQUEST_TIMEOUT");
        assert_eq!(timeout["request_id"], "0123");
    }

    #[test]
    fn references_are_named_after_the_object() {
        assert_eq!(rest_name("proxmox_endpoint_id"), "proxmox_endpoint");
        assert_eq!(rest_name("allowed_tenant_ids"), "allowed_tenants");
        assert_eq!(rest_name("backend_build_id"), "backend_build_id");
    }
}
