//! `POST /api/plugins/packer/netbox-webhook/`: NetBox webhooks (SPEC §10). The signature is the
//! credential (`X-Hook-Signature`, checked by `netbox::Syncer::receive`): no token is asked for.
//! A signed webhook only brings forward a pass of its object's type; its data is not trusted.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use serde_json::json;

use super::Reply;
use crate::{app::App, error::Error};

/// Receives a webhook: 202 with `{"sync": true}` when a pass of its type was asked for, 401
/// without a right signature, 404 when no webhook secret is configured.
pub async fn webhook(State(app): State<App>, headers: HeaderMap, body: Body) -> Reply {
    let Some(syncer) = &app.netbox else {
        return Err(Error::NotFound.into());
    };
    let bytes = crate::http::body::read_json(&headers, body, app.config.limits.body_limit).await?;
    let signature = headers
        .get("x-hook-signature")
        .and_then(|value| value.to_str().ok());
    let asked = syncer.receive(signature, &bytes)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "sync": asked }))).into_response())
}
