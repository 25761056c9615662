//! Liveness, readiness and metrics.

use std::fmt::Write;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::app::App;

/// `GET /healthz`: the process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn ready(State(app): State<App>) -> Response {
    match app.db.ping().await {
        Ok(()) => "ok".into_response(),
        Err(err) => {
            tracing::warn!(%err, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<App>) -> Response {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "# HELP packer_gateway_sql_statements_total SQL statements run since start.\n\
         # TYPE packer_gateway_sql_statements_total counter\n\
         packer_gateway_sql_statements_total {}",
        app.statement_count()
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
