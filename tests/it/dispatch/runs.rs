//! A build through proxbox-api: completed with its log and catalog entry, failed with the
//! reason and the last log lines, a stream that ends early, refusals and rate limits, and
//! definitions proxbox-api cannot build.

use entity::{enums::BuildStatus, proxmox_endpoint};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use super::{
    rig::{DURATION_COUNT, FAILURES, Rig, SUBMISSIONS},
    standin::{self, Plan},
};
use crate::{
    support::{key_of, wait_for},
    telemetry::scrape,
};

#[tokio::test]
async fn a_build_completes_end_to_end_with_its_log_and_catalog_entry() {
    let lines: Vec<String> = (1..=5)
        .map(|i| format!("==> proxmox-clone.image: step {i}"))
        .collect();
    let rig = Rig::new(Plan::Complete { lines }, 1).await;
    let (before, _) = scrape(&rig.app).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Completed).await;
    assert!(!build.backend_build_id.is_empty());
    // The dispatch metrics moved (the recorder is the process's: at least by this build).
    let (after, body) = scrape(&rig.app).await;
    let grew = |name: &str, labels: &[&str]| after.sum(name, labels) - before.sum(name, labels);
    let proxbox = "backend=\"proxbox\"";
    assert!(grew(SUBMISSIONS, &[proxbox]) >= 1.0, "{body}");
    let completed = ["backend=\"proxbox\"", "outcome=\"completed\""];
    assert!(grew(DURATION_COUNT, &completed) >= 1.0, "{body}");
    assert_eq!(build.backend_response["status"], "completed");
    assert_eq!(
        build.backend_response["build_id"],
        build.backend_build_id.as_str()
    );
    assert!(
        build.cloud_image_template_id.is_some(),
        "published to the catalog"
    );
    assert_eq!(build.output_vmid, 9100);

    let shown = rig.api_build(id).await;
    assert_eq!(shown["status"], "COMPLETED");
    assert!(shown["cloudImageTemplate"]["slug"].is_string(), "{shown}");
    let events = shown["events"].as_array().expect("events");
    let start = &events[1];
    assert_eq!(start["toStatus"], "RUNNING");
    assert_eq!(start["actor"], Value::Null, "the service starts it");
    assert_eq!(start["message"], "dispatched to proxbox");
    assert_eq!(events[2]["toStatus"], "COMPLETED");

    // The submission, as SPEC §7.2 writes it.
    let submitted = rig.standin.submissions();
    assert_eq!(submitted.len(), 1);
    let body = &submitted[0];
    assert_eq!(body["endpoint_id"], standin::ENDPOINT_ID);
    assert_eq!(body["builder_type"], "proxmox-clone");
    assert_eq!(body["template_vmid"], 9000);
    assert_eq!(body["output_vmid"], 9100);
    assert_eq!(body["vm_storage"], "local-lvm");
    assert_eq!(body["cloud_init_storage"], "local-lvm");
    assert_eq!(body["bridge"], "vmbr0");
    assert_eq!(body["memory_mb"], 2048);
    assert_eq!(body["os_family"], "ubuntu");
    assert_eq!(body["provisioner_recipe"], "ubuntu-base");
    assert_eq!(body["variables"], json!({}));
    assert_eq!(body["dry_run"], false);

    // The stream was opened exactly once, and the log went to the sink.
    assert_eq!(rig.standin.opened().get(&build.backend_build_id), Some(&1));
    let log = rig.lines.of(id);
    assert!(
        log.contains(&"==> proxmox-clone.image: step 5".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"packer validate exited with 0".to_owned()),
        "{log:?}"
    );
    wait_for("the lease released", || async { rig.leases().await == 0 }).await;
}

#[tokio::test]
async fn a_failed_build_carries_the_reason_and_the_last_20_log_lines() {
    let lines: Vec<String> = (1..=25).map(|i| format!("build line {i}")).collect();
    let plan = Plan::Fail {
        lines,
        error: "packer build failed".into(),
    };
    let rig = Rig::new(plan, 1).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build.error.starts_with("packer build failed\n"),
        "{}",
        build.error
    );
    assert!(build.error.contains("build line 25"));
    assert!(build.error.contains("build line 6\n"), "{}", build.error);
    assert!(
        !build.error.contains("build line 5\n"),
        "only the last 20: {}",
        build.error
    );
    assert_eq!(build.cloud_image_template_id, None);
}

#[tokio::test]
async fn a_stream_that_ends_early_fails_the_build_and_is_not_reopened() {
    let rig = Rig::new(Plan::EndEarly, 1).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build.error.starts_with("backend stream ended early"),
        "{}",
        build.error
    );
    assert!(build.error.contains("about to crash"));
    assert_eq!(rig.standin.opened().get(&build.backend_build_id), Some(&1));
}

#[tokio::test]
async fn refusals_fail_the_build_with_the_backends_detail_and_429_is_honoured() {
    let rig = Rig::new(Plan::Complete { lines: vec![] }, 1).await;
    // A 422 with its detail.
    rig.standin.next(Plan::Reject(
        422,
        json!({"detail": "VMID 9000 not found on node pve1"}),
    ));
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(
        build.error,
        "proxbox-api refused the build (422): VMID 9000 not found on node pve1"
    );
    // Rate-limited twice, then accepted.
    rig.standin.rate_limit(2);
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Completed).await;
    assert_eq!(rig.standin.rate_limited(), 2);
    assert_eq!(rig.standin.unauthorized(), 0);
}

#[tokio::test]
async fn an_unknown_endpoint_or_an_iso_url_fails_the_build_clearly() {
    let rig = Rig::new(Plan::Complete { lines: vec![] }, 1).await;
    let seed = rig.app.seed();
    let cluster = seed.cluster("pve-other").await;
    let endpoint = seed.endpoint("elsewhere").await;
    proxmox_endpoint::ActiveModel {
        id: Set(endpoint),
        ip_address: Set(Some("10.0.0.9".into())),
        ..Default::default()
    }
    .update(&rig.app.app.db)
    .await
    .expect("an IP");
    let elsewhere = seed
        .definition("Elsewhere", endpoint, cluster, &[], |_| {})
        .await;
    let (before, _) = scrape(&rig.app).await;
    let body = rig
        .app
        .queue_build(
            &rig.app.admin,
            json!({"definitionId": elsewhere.to_string(), "outputVmid": 9200}),
        )
        .await;
    let id = key_of(
        body["data"]["queueImageBuild"]["id"]
            .as_str()
            .expect("queued"),
    );
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(
        build.error,
        "proxbox-api knows no Proxmox endpoint at https://10.0.0.9:8006"
    );
    let (after, body) = scrape(&rig.app).await;
    let rejected = ["backend=\"proxbox\"", "reason=\"rejected\""];
    assert!(
        after.sum(FAILURES, &rejected) - before.sum(FAILURES, &rejected) >= 1.0,
        "{body}"
    );

    rig.app
        .enable_factory(json!({"imageFactoryAllowIsoBuilds": true}))
        .await;
    let iso = seed
        .definition("Ubuntu ISO", rig.endpoint, cluster, &[], |d| {
            d.builder_type = Set(entity::enums::BuilderType::ProxmoxIso);
            d.source_template_vmid = Set(None);
            d.iso_url = Set(Some("https://releases.example.net/ubuntu.iso".into()));
            d.iso_checksum = Set(format!("sha256:{}", "a".repeat(64)));
        })
        .await;
    let body = rig
        .app
        .queue_build(
            &rig.app.admin,
            json!({"definitionId": iso.to_string(), "outputVmid": 9300}),
        )
        .await;
    let id = key_of(
        body["data"]["queueImageBuild"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}")),
    );
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build
            .error
            .starts_with("proxbox-api takes pre-uploaded ISOs only"),
        "{}",
        build.error
    );
    assert_eq!(rig.standin.submissions().len(), 0, "nothing was sent");
}
