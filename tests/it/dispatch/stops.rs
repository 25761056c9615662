//! A build stopped: cancelled, or past its timeout; and no secret in what a failure leaves behind.

use entity::enums::BuildStatus;
use serde_json::json;

use super::{
    rig::{KEY, Rig, cancel, no_secret},
    standin::Plan,
};
use crate::support::wait_for;

#[tokio::test]
async fn a_cancelled_build_stops_the_backend_and_stays_cancelled() {
    let (rig, id) = Rig::running().await;
    cancel(&rig.app, id).await;
    let backend_id = rig.build(id).await.backend_build_id;
    wait_for("proxbox-api told", || async {
        rig.standin.cancels().contains(&backend_id)
    })
    .await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    let build = rig.build(id).await;
    assert_eq!(build.status, BuildStatus::Cancelled);
    assert_eq!(build.error, "");
    assert_eq!(rig.standin.opened().get(&backend_id), Some(&1));
}

#[tokio::test]
async fn a_build_past_its_timeout_fails_and_the_backend_is_stopped() {
    let (rig, id) = Rig::running().await;
    rig.app.app.clock.advance(chrono::Duration::seconds(14_401));
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(build.error, "job timed out after 14400 s");
    wait_for("proxbox-api told", || async {
        rig.standin.cancels().contains(&build.backend_build_id)
    })
    .await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    assert_eq!(rig.build(id).await.error, "job timed out after 14400 s");
}

#[tokio::test]
async fn no_secret_reaches_the_log_the_error_or_the_api() {
    let plan = Plan::Fail {
        lines: vec![format!("using key {KEY} for the API")],
        error: format!("auth failed with {KEY}"),
    };
    // What this thread logs (the dispatcher's tasks run on it). Not asserted non-empty: while
    // another test's capture ends, tracing's global level hint can drop this one's lines.
    let (logs, _guard) = crate::hygiene::capture_logs();
    let rig = Rig::new(plan, 1).await;
    // A refusal that quotes the key, and a rate limit.
    rig.standin.next(Plan::Reject(
        422,
        json!({"detail": format!("no PVE token for key {KEY}")}),
    ));
    rig.standin.rate_limit(1);
    let refused = rig.queue().await;
    let refused = rig.wait_status(refused, BuildStatus::Failed).await;
    no_secret("a refusal", &refused.error);
    assert!(
        refused.error.ends_with("no PVE token for key ***"),
        "{}",
        refused.error
    );
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
    let logs = logs.text();
    no_secret("the service's logs", &logs);
    no_secret("the error", &build.error);
    assert!(
        build.error.contains("auth failed with ***"),
        "{}",
        build.error
    );
    assert!(
        build.error.contains("using key *** for the API"),
        "{}",
        build.error
    );
    for line in rig.lines.of(id) {
        no_secret("a log line", &line);
    }
    no_secret("the API", &rig.api_build(id).await.to_string());
    let settings = rig
        .app
        .data("{ pluginSettings { imageFactoryEnabled } }", json!({}))
        .await;
    no_secret("the settings", &settings.to_string());
    // The configuration prints no secret either.
    no_secret("the configuration", &format!("{:?}", rig.app.app.config));
}
