//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use entity::enums::BuildStatus;
use sea_orm::{ActiveEnum, DatabaseBackend, Iterable};

use crate::{
    app::App,
    auth::Scope,
    registry::builds,
    telemetry::{self, names},
};

/// How long `/readyz` waits for the database, and `/metrics` for the builds' census.
const DATABASE_WAIT: Duration = Duration::from_millis(800);

/// `GET /healthz`: the process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers — 200, or 503 within a second, never a hang.
pub async fn ready(State(app): State<App>) -> Response {
    let err = match tokio::time::timeout(DATABASE_WAIT, app.db.ping()).await {
        Ok(Ok(())) => return "ok".into_response(),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {} ms", DATABASE_WAIT.as_millis()),
    };
    tracing::warn!(%err, "database not reachable");
    (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
}

/// `GET /metrics`: Prometheus text format (see [`crate::telemetry`]). What is read rather than
/// counted (the pool, subscribers, builds by status, the queue's age) is read now; when the
/// database does not answer in time, the builds' gauges keep their last values.
pub async fn metrics(State(app): State<App>) -> Response {
    record_pool(&app);
    metrics::gauge!(names::SUBSCRIPTIONS_ACTIVE).set(app.events.subscribers() as f64);
    metrics::gauge!(names::REQUESTS_EXECUTING).set(app.admission.executing() as f64);
    metrics::gauge!(names::REQUESTS_WAITING).set(app.admission.waiting() as f64);
    match tokio::time::timeout(DATABASE_WAIT, builds::census(&app.db, &Scope::service())).await {
        Ok(Ok(census)) => {
            for status in BuildStatus::iter() {
                let count = census
                    .by_status
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, count)| *count);
                metrics::gauge!(names::BUILDS, "status" => status.to_value()).set(count as f64);
            }
            let age = census.oldest_pending.map_or(0.0, |queued| {
                (app.clock.now() - queued).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!(names::QUEUE_OLDEST_AGE).set(age);
        }
        Ok(Err(err)) => tracing::warn!(?err, "cannot count builds for /metrics"),
        Err(_) => tracing::warn!("cannot count builds for /metrics: no answer in time"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render(),
    )
        .into_response()
}

/// The pool's gauges.
fn record_pool(app: &App) {
    let (size, idle, max) = match app.db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = app.db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DatabaseBackend::Sqlite => {
            let pool = app.db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return,
    };
    metrics::gauge!(names::DB_POOL_SIZE).set(f64::from(size));
    metrics::gauge!(names::DB_POOL_IDLE).set(idle as f64);
    metrics::gauge!(names::DB_POOL_MAX).set(f64::from(max));
}
