//! Logs and metrics (SPEC §9).
//!
//! Logs go to standard error ([`init_logs`]): human-readable, coloured only when standard error
//! is a terminal, or one JSON object per line (`--log-format json`); each line of a request
//! carries the request's span and its `request_id`.
//!
//! Metrics: every family the service emits, named once here, recorded with the
//! `metrics` crate's macros and rendered in the Prometheus text format by
//! `metrics-exporter-prometheus` at `/metrics` (the exporter's own HTTP listener is not used: the
//! edge serves the page like any other).
//!
//! Names follow Prometheus conventions: a `packer_gateway_` prefix, `_total` on counters,
//! `_seconds` on durations, base units. Label values are bounded: route templates (axum's
//! `MatchedPath`, never the raw path), methods, statuses, codes, operation types, build statuses.
//!
//! Other modules record through these names (`metrics::counter!(names::X, …)`); what is read at
//! scrape time (the pool, subscribers, builds by status, the queue's age) is set by
//! [`crate::http::health::metrics`] just before rendering.

use std::{
    cell::Cell,
    collections::HashMap,
    sync::{
        LazyLock, OnceLock, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::LogFormat;

/// The names of the families.
pub mod names {
    /// Counter of HTTP requests, by `route` (template), `method` and `status`.
    pub const HTTP_REQUESTS: &str = "packer_gateway_http_requests_total";
    /// Histogram of HTTP request latency, by `route` and `method`.
    pub const HTTP_DURATION: &str = "packer_gateway_http_request_duration_seconds";
    /// Counter of GraphQL operations, by `type` (query, mutation, subscription, unknown) and
    /// `outcome` (`OK` or the first error's code).
    pub const GRAPHQL_OPERATIONS: &str = "packer_gateway_graphql_operations_total";
    /// Counter of SQL statements run through the pool.
    pub const SQL_STATEMENTS: &str = "packer_gateway_sql_statements_total";
    /// Histogram of SQL statement latency.
    pub const SQL_DURATION: &str = "packer_gateway_sql_statement_duration_seconds";
    /// Histogram of the SQL statements one HTTP request ran while answering, by `route`.
    pub const SQL_PER_REQUEST: &str = "packer_gateway_sql_statements_per_request";
    /// Gauge: connections the pool holds.
    pub const DB_POOL_SIZE: &str = "packer_gateway_db_pool_connections";
    /// Gauge: idle connections of the pool.
    pub const DB_POOL_IDLE: &str = "packer_gateway_db_pool_idle_connections";
    /// Gauge: the pool's largest size.
    pub const DB_POOL_MAX: &str = "packer_gateway_db_pool_max_connections";
    /// Counter: database operations that failed because the database could not be reached.
    pub const DB_UNAVAILABLE: &str = "packer_gateway_db_unavailable_total";
    /// Gauge: websockets open.
    pub const WEBSOCKETS_OPEN: &str = "packer_gateway_websockets_open";
    /// Gauge: subscription streams listening to the event hub.
    pub const SUBSCRIPTIONS_ACTIVE: &str = "packer_gateway_subscriptions_active";
    /// Counter: build events delivered to subscription streams.
    pub const EVENTS_DELIVERED: &str = "packer_gateway_subscription_events_delivered_total";
    /// Counter: subscription streams read from history, by `reason` (`replay`: `afterEventId`;
    /// `lagged`: fell behind the in-process channel).
    pub const CATCH_UPS: &str = "packer_gateway_subscription_catch_ups_total";
    /// Gauge: subscription executions shared by the websocket subscribers of one visibility
    /// asking the same (`graphql::compat::ws::fanout`).
    pub const SHARED_SUBSCRIPTIONS: &str = "packer_gateway_subscription_shared_executions";
    /// Counter: subscribers of a shared execution that lost their place (fell behind its buffer)
    /// and went on alone.
    pub const SHARED_LOST: &str = "packer_gateway_subscription_shared_lost_total";
    /// Gauge: builds by `status`.
    pub const BUILDS: &str = "packer_gateway_builds";
    /// Gauge: age of the oldest pending build (0 when none is pending).
    pub const QUEUE_OLDEST_AGE: &str = "packer_gateway_queue_oldest_pending_age_seconds";
    /// Builds handed to their backend by a dispatcher (`backend`).
    pub const DISPATCH_SUBMISSIONS: &str = "packer_gateway_dispatch_submissions_total";
    /// Builds of a dead dispatcher adopted (`backend`).
    pub const DISPATCH_ADOPTIONS: &str = "packer_gateway_dispatch_adoptions_total";
    /// Builds the backend failed (`backend`, `reason`: rejected, unavailable, build, lost, local).
    pub const DISPATCH_FAILURES: &str = "packer_gateway_dispatch_failures_total";
    /// A backend's work on a build, from hand-over to outcome (`backend`, `outcome`: completed,
    /// failed, stopped).
    pub const DISPATCH_BACKEND_DURATION: &str = "packer_gateway_dispatch_backend_duration_seconds";
    /// Counter: requests refused for lack of capacity (503 `SERVER_BUSY`), by `door` (graphql,
    /// rest) and `reason` (`no_place`: every place and the line taken; `queue_timeout`: no place
    /// freed in time; `websocket_cap`: `--ws-max-sockets` open).
    pub const REQUESTS_SHED: &str = "packer_gateway_requests_shed_total";
    /// Counter: requests and websocket operations refused by a principal's rate limit (429
    /// `RATE_LIMITED`), by `door` (graphql, rest, websocket) and `role` (viewer, operator, worker,
    /// admin, anonymous).
    pub const RATE_LIMITED: &str = "packer_gateway_rate_limited_total";
    /// Counter: what a websocket was refused, by `reason` (`message_too_big`: closed 1009;
    /// `sockets_per_principal`: closed 1008; `operation_rate`: an operation refused for the
    /// socket's `--ws-operations-per-second`).
    pub const WEBSOCKET_REFUSALS: &str = "packer_gateway_websocket_refusals_total";
    /// Gauge: requests of the doors executing (holding one of `--max-concurrent-requests`).
    pub const REQUESTS_EXECUTING: &str = "packer_gateway_requests_executing";
    /// Gauge: requests waiting for a place (at most `--max-queued-requests`).
    pub const REQUESTS_WAITING: &str = "packer_gateway_requests_waiting";
    /// Gauge: HTTP connections served (an upgraded websocket leaves them).
    pub const CONNECTIONS_OPEN: &str = "packer_gateway_connections_open";
    /// Counter: times the accept loop stopped accepting at `--max-connections` (the next clients
    /// wait in the listen backlog).
    pub const CONNECTIONS_AT_CAP: &str = "packer_gateway_connections_at_cap_total";
}

/// Latency buckets, in seconds: from a statement served from memory to the request timeout.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];

/// Buckets of a backend's work on a build, in seconds: from a refusal to a long ISO install.
const BUILD_BUCKETS: [f64; 10] = [
    1.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static UPKEEP: AtomicBool = AtomicBool::new(false);

/// Installs the process's recorder (once; later calls return the same handle) and, when called
/// inside a runtime, the task that keeps histogram memory bounded between scrapes.
pub fn install() -> &'static PrometheusHandle {
    let handle = HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .and_then(|builder| {
                // A full match wins over the suffix.
                builder.set_buckets_for_metric(
                    Matcher::Full(names::DISPATCH_BACKEND_DURATION.into()),
                    &BUILD_BUCKETS,
                )
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        describe();
        handle
    });
    if tokio::runtime::Handle::try_current().is_ok() && !UPKEEP.swap(true, Ordering::SeqCst) {
        tokio::spawn(async {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                install().run_upkeep();
            }
        });
    }
    handle
}

/// The Prometheus text of every family.
pub fn render() -> String {
    install().render()
}

/// `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status."
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency.");
    describe_counter!(
        GRAPHQL_OPERATIONS,
        "GraphQL operations by type and outcome code."
    );
    describe_counter!(SQL_STATEMENTS, "SQL statements run since start.");
    describe_histogram!(SQL_DURATION, Unit::Seconds, "SQL statement latency.");
    describe_histogram!(
        SQL_PER_REQUEST,
        "SQL statements one HTTP request ran while answering (not its background work)."
    );
    describe_gauge!(DB_POOL_SIZE, "Connections the database pool holds.");
    describe_gauge!(DB_POOL_IDLE, "Idle connections of the database pool.");
    describe_gauge!(DB_POOL_MAX, "Largest size of the database pool.");
    describe_counter!(
        DB_UNAVAILABLE,
        "Database operations that failed because the database could not be reached."
    );
    describe_gauge!(WEBSOCKETS_OPEN, "Websockets open.");
    describe_gauge!(SUBSCRIPTIONS_ACTIVE, "Subscription streams listening.");
    describe_counter!(EVENTS_DELIVERED, "Build events delivered to subscriptions.");
    describe_counter!(
        CATCH_UPS,
        "Subscriptions read from history: replays (afterEventId) and streams that fell behind."
    );
    describe_gauge!(
        SHARED_SUBSCRIPTIONS,
        "Subscription executions shared by the subscribers of one visibility."
    );
    describe_counter!(
        SHARED_LOST,
        "Subscribers that fell behind a shared execution and went on alone."
    );
    describe_gauge!(BUILDS, "Builds by status.");
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest pending build (0 when none)."
    );
    describe_counter!(
        DISPATCH_SUBMISSIONS,
        "Builds handed to their backend by a dispatcher."
    );
    describe_counter!(DISPATCH_ADOPTIONS, "Builds of a dead dispatcher adopted.");
    describe_counter!(
        DISPATCH_FAILURES,
        "Builds the backend failed, by reason (rejected, unavailable, build, lost, local)."
    );
    describe_histogram!(
        DISPATCH_BACKEND_DURATION,
        Unit::Seconds,
        "A backend's work on a build, from hand-over to outcome."
    );
    describe_counter!(
        REQUESTS_SHED,
        "Requests refused for lack of capacity (503 SERVER_BUSY), by door and reason."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests and websocket operations refused by a rate limit, by door and role."
    );
    describe_counter!(
        WEBSOCKET_REFUSALS,
        "Websocket refusals: closes 1009 and 1008, operations over the socket's rate."
    );
    describe_gauge!(REQUESTS_EXECUTING, "Requests executing.");
    describe_gauge!(REQUESTS_WAITING, "Requests waiting for a place.");
    describe_gauge!(CONNECTIONS_OPEN, "HTTP connections served.");
    describe_counter!(
        CONNECTIONS_AT_CAP,
        "Times the accept loop stopped accepting at --max-connections."
    );
}

/// Sends the log lines to standard error in `format`, filtered by `RUST_LOG` (default
/// `packer_gateway=info,tower_http=warn`).
pub fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "packer_gateway=info,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The handles of one route's request metrics: its statements per request, and by method and
/// status its latency and count.
struct RouteMetrics {
    statements: metrics::Histogram,
    by: Vec<(&'static str, u16, metrics::Histogram, metrics::Counter)>,
}

/// The request metrics' handles by route template, made on first use and kept: the recorder's
/// own lookup builds and hashes a key (its labels allocated) on every call, about 8 k of the
/// ~250 k instructions of one build by id (callgrind). Bounded like the labels: route templates,
/// methods and statuses.
static REQUEST_METRICS: LazyLock<RwLock<HashMap<Box<str>, RouteMetrics>>> =
    LazyLock::new(RwLock::default);

impl RouteMetrics {
    /// Records one request of `method` and `status`; false when their handles are not made yet.
    fn record(&self, method: &str, status: u16, statements: u64, took: Duration) -> bool {
        let Some((.., duration, count)) = self
            .by
            .iter()
            .find(|(m, s, ..)| *m == method && *s == status)
        else {
            return false;
        };
        #[expect(clippy::cast_precision_loss, reason = "a count of statements")]
        self.statements.record(statements as f64);
        duration.record(took.as_secs_f64());
        count.increment(1);
        true
    }
}

/// Records one request of `route` (its template), `method` and `status`: the statements it ran
/// and how long it took.
pub fn record_request(
    route: &str,
    method: &'static str,
    status: u16,
    statements: u64,
    took: Duration,
) {
    if let Some(metrics) = REQUEST_METRICS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(route)
        && metrics.record(method, status, statements, took)
    {
        return;
    }
    let mut all = REQUEST_METRICS
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let metrics = all.entry(route.into()).or_insert_with(|| RouteMetrics {
        statements: metrics::histogram!(names::SQL_PER_REQUEST, "route" => route.to_owned()),
        by: Vec::new(),
    });
    if !metrics.record(method, status, statements, took) {
        let labels = [("route", route.to_owned()), ("method", method.to_owned())];
        let duration = metrics::histogram!(names::HTTP_DURATION, &labels);
        let mut labels = labels.to_vec();
        labels.push(("status", status.to_string()));
        let count = metrics::counter!(names::HTTP_REQUESTS, &labels);
        metrics.by.push((method, status, duration, count));
        metrics.record(method, status, statements, took);
    }
}

/// A gauge that counts what is alive: incremented now, decremented when dropped.
pub struct Live(&'static str);

impl Live {
    /// Increments `gauge` until the returned value is dropped.
    pub fn track(gauge: &'static str) -> Live {
        metrics::gauge!(gauge).increment(1.0);
        Live(gauge)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

tokio::task_local! {
    /// The statements of the request the current task is answering.
    static REQUEST_STATEMENTS: Cell<u64>;
}

/// Runs `request`, counting the SQL statements it runs itself: those polled by its own task
/// (every loader's batch is, see `graphql::batch`), not those of tasks it spawns.
pub async fn per_request<F: Future>(request: F) -> (F::Output, u64) {
    REQUEST_STATEMENTS
        .scope(Cell::new(0), async {
            let output = request.await;
            (output, REQUEST_STATEMENTS.with(Cell::get))
        })
        .await
}

/// Counts a statement for the request the current task answers; false outside a request.
pub fn count_for_request() -> bool {
    REQUEST_STATEMENTS
        .try_with(|count| count.set(count.get() + 1))
        .is_ok()
}
