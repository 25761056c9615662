//! One build on the backend: its log, its backend id recorded, the backend's duration and
//! outcome measured, and its result recorded through the lifecycle as the service (a report for
//! a build no longer running is dropped); then its lease released.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Job, Log, Outcome, Shared, Work};
use crate::{error::Error, registry::lifecycle::dispatch, telemetry::names};

/// Runs one build to its end and records the result.
pub(super) async fn drive(
    shared: Arc<Shared>,
    job: Job,
    adopted: bool,
    stop: CancellationToken,
) -> i32 {
    let id = job.build.id;
    let record = {
        let app = shared.app.clone();
        move |backend_id: String| {
            let app = app.clone();
            Box::pin(async move {
                if let Err(err) =
                    dispatch::set_backend_build_id(&app.db, app.clock.now(), id, &backend_id).await
                {
                    tracing::warn!(build = id, error = ?err, "cannot record the backend's build id");
                }
            }) as futures_util::future::BoxFuture<'static, ()>
        }
    };
    let work = Work {
        stop,
        log: Log::new(id, shared.scrubber.clone(), shared.sink.clone()),
        record: Box::new(record),
    };
    let backend = shared.backend.name();
    let started = std::time::Instant::now();
    let outcome = if adopted {
        metrics::counter!(names::DISPATCH_ADOPTIONS, "backend" => backend).increment(1);
        shared.backend.adopt(&job, &work).await
    } else {
        metrics::counter!(names::DISPATCH_SUBMISSIONS, "backend" => backend).increment(1);
        shared.backend.run(&job, &work).await
    };
    let ended = match &outcome {
        Outcome::Completed { .. } => "completed",
        Outcome::Failed { why, .. } => {
            metrics::counter!(names::DISPATCH_FAILURES, "backend" => backend, "reason" => why.label())
                .increment(1);
            "failed"
        }
        Outcome::Stopped => "stopped",
    };
    metrics::histogram!(names::DISPATCH_BACKEND_DURATION, "backend" => backend, "outcome" => ended)
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(build = id, ?outcome, "the backend's work ended");
    let app = &shared.app;
    let now = app.clock.now();
    let reported = match outcome {
        Outcome::Completed {
            response,
            output_vmid,
        } => {
            let response = shared.scrubber.json(response);
            dispatch::complete(&app.db, &app.events, now, id, output_vmid, Some(response))
                .await
                .map(|_| ())
        }
        Outcome::Failed { reason, .. } => {
            let mut error = shared.scrubber.text(&reason);
            let tail = work.log.tail();
            if !tail.is_empty() {
                error.push_str("\n--- last log lines ---\n");
                error.push_str(&tail.join("\n"));
            }
            dispatch::fail(&app.db, &app.events, now, id, error, None)
                .await
                .map(|_| ())
        }
        Outcome::Stopped => Ok(()),
    };
    match reported {
        Ok(()) => {}
        Err(Error::InvalidTransition { from, .. }) => {
            tracing::info!(build = id, status = ?from, "dropped the backend's report: the build is no longer running");
        }
        Err(err) => tracing::warn!(build = id, error = ?err, "cannot record the build's result"),
    }
    if let Err(err) = dispatch::release(&app.db, id, &shared.options.owner).await {
        tracing::warn!(build = id, error = ?err, "cannot release the build's lease");
    }
    id
}
