//! NetBox as the source of reference data (SPEC §10), against a stand-in NetBox
//! ([`stand_in`]): passes, incremental updates, renames, deletions, outages, old plugin versions,
//! conflicts with local rows, the status and the mutation, the webhook, and the token kept out of
//! every log.

mod stand_in;

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{BuildStatus, Role},
    proxmox_endpoint, tenant, user,
};
use packer_gateway::{
    netbox::{Report, Syncer, webhook},
    registry::reference::sync::Kind,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use stand_in::{
    CLUSTER_TYPES, CLUSTERS, ENDPOINTS, NetBox, TEMPLATES, TENANTS, USERS, V1_TOKEN, V2_TOKEN,
};

use crate::{
    support::{TestApp, code},
    telemetry::scrape,
};

const HOOK_SECRET: &str = "hook-secret-for-tests";

/// A service following `netbox` with `token`, passes only on demand.
async fn service(netbox: &NetBox, token: &str) -> TestApp {
    service_with(netbox, token, &[]).await
}

/// The same with `extra` flags (an interval given there replaces the on-demand default).
async fn service_with(netbox: &NetBox, token: &str, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--netbox-url",
        &netbox.url,
        "--netbox-token",
        token,
        "--netbox-sync-interval",
        "0",
        "--netbox-retry-backoff",
        "0.01",
        "--netbox-role-map",
        "ops=operator,admins=admin",
        "--netbox-webhook-secret",
        HOOK_SECRET,
    ];
    if extra.contains(&"--netbox-sync-interval") {
        args.retain(|arg| *arg != "--netbox-sync-interval" && *arg != "0");
    }
    args.extend_from_slice(extra);
    TestApp::with_args(&args).await
}

fn syncer(app: &TestApp) -> &Syncer {
    app.app.netbox.as_ref().expect("NetBox is configured")
}

async fn pass(app: &TestApp) -> Report {
    syncer(app).pass(&Kind::ALL).await
}

fn summary(report: &Report, kind: Kind) -> packer_gateway::registry::reference::sync::Summary {
    report
        .types
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, outcome)| outcome.clone().ok())
        .unwrap_or_else(|| panic!("{} succeeded: {report:?}", kind.name()))
}

/// A NetBox with three tenants (two pages), a cluster type, a cluster, an endpoint, two users and
/// a catalog entry.
fn fill(netbox: &NetBox) {
    for (id, name, slug) in [
        (1, "NB Tenant A", "nb-a"),
        (2, "NB Tenant B", "nb-b"),
        (3, "NB Tenant C", "nb-c"),
    ] {
        netbox.put(
            TENANTS,
            id,
            json!({"name": name, "slug": slug, "description": "", "display": name}),
        );
    }
    netbox.put(
        CLUSTER_TYPES,
        1,
        json!({"name": "Proxmox VE", "slug": "proxmox-ve"}),
    );
    netbox.put(
        CLUSTERS,
        10,
        json!({"name": "nb-cluster", "type": {"id": 1, "name": "Proxmox VE", "slug": "proxmox-ve"},
               "tenant": {"id": 1, "name": "NB Tenant A", "slug": "nb-a"},
               "status": {"value": "active", "label": "Active"}, "description": "from NetBox"}),
    );
    netbox.put(
        ENDPOINTS,
        20,
        json!({"name": "nb-pve", "domain": "pve.example.net",
               "ip_address": {"id": 5, "family": 4, "address": "10.1.2.3/24"}, "port": 8006,
               "mode": {"value": "cluster", "label": "Cluster"}, "verify_ssl": true,
               "enabled": true, "allow_writes": true, "tenant": {"id": 2, "name": "NB Tenant B"}}),
    );
    netbox.put(
        USERS,
        30,
        json!({"username": "nb-alice", "first_name": "Alice", "last_name": "A",
               "email": "alice@example.net", "is_active": true,
               "groups": [{"id": 1, "name": "ops"}]}),
    );
    netbox.put(
        USERS,
        31,
        json!({"username": "nb-bob", "first_name": "", "last_name": "", "email": "",
               "is_active": true, "groups": []}),
    );
    netbox.put(
        TEMPLATES,
        40,
        json!({"name": "Ubuntu 24.04", "slug": "ubuntu-2404", "description": "",
               "cluster": {"id": 10, "name": "nb-cluster"}, "source_vmid": 9000,
               "os_family": {"value": "ubuntu", "label": "Ubuntu"}, "os_release": "24.04",
               "default_ciuser": "ubuntu", "allowed_tenants": [{"id": 1, "name": "NB Tenant A"}],
               "is_active": true}),
    );
}

async fn tenant_of(app: &TestApp, netbox_id: i32) -> Option<tenant::Model> {
    tenant::Entity::find()
        .filter(tenant::Column::NetboxId.eq(netbox_id))
        .one(&app.app.db)
        .await
        .expect("read tenants")
}

async fn count<E: EntityTrait>(app: &TestApp) -> usize
where
    E::Model: Send + Sync,
{
    E::find().all(&app.app.db).await.expect("read").len()
}

#[tokio::test]
async fn a_first_pass_brings_every_type_following_next_links() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;

    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(summary(&report, Kind::Tenants).created, 3);

    let a = tenant_of(&app, 1).await.expect("tenant A");
    assert_eq!((a.name.as_str(), a.slug.as_str()), ("NB Tenant A", "nb-a"));
    let b = tenant_of(&app, 2).await.expect("tenant B");
    let cluster = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.eq(10))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the cluster");
    assert_eq!(cluster.cluster_type, "Proxmox VE");
    assert_eq!(cluster.tenant_id, Some(a.id));
    let endpoint = proxmox_endpoint::Entity::find()
        .filter(proxmox_endpoint::Column::NetboxId.eq(20))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the endpoint");
    assert_eq!(endpoint.ip_address.as_deref(), Some("10.1.2.3"));
    assert_eq!(endpoint.domain.as_deref(), Some("pve.example.net"));
    assert!(endpoint.verify_ssl && endpoint.allow_writes && endpoint.enabled);
    assert_eq!(endpoint.tenant_id, Some(b.id));
    let users = user::Entity::find()
        .filter(user::Column::NetboxId.is_not_null())
        .all(&app.app.db)
        .await
        .expect("read");
    let role = |name: &str| {
        users
            .iter()
            .find(|u| u.username == name)
            .map(|u| u.role)
            .expect("a synced user")
    };
    assert_eq!(role("nb-alice"), Role::Operator);
    assert_eq!(role("nb-bob"), Role::Viewer);
    let template = cloud_image_template::Entity::find()
        .filter(cloud_image_template::Column::NetboxId.eq(40))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the template");
    assert_eq!(template.cluster_id, cluster.id);
    let links = cloud_image_template_tenant::Entity::find()
        .filter(cloud_image_template_tenant::Column::TemplateId.eq(template.id))
        .all(&app.app.db)
        .await
        .expect("read");
    assert_eq!(
        links.iter().map(|l| l.tenant_id).collect::<Vec<_>>(),
        [a.id]
    );

    // Three tenants on pages of two: the second page came from the `next` link.
    let log = netbox.log();
    assert!(
        log.iter()
            .any(|r| r.starts_with(TENANTS) && r.contains("offset=2")),
        "{log:#?}"
    );
    assert!(log.iter().any(|r| r.contains("fields=id")), "{log:#?}");

    // The status, over GraphQL.
    let data = app
        .data(
            "{ netboxSync { objectType outcome created updated deleted kept conflicts lastSuccess } }",
            json!({}),
        )
        .await;
    let states = data["netboxSync"].as_array().expect("a list");
    assert_eq!(states.len(), 6, "{data}");
    assert_eq!(states[0]["objectType"], "TENANTS");
    assert_eq!(states[0]["created"], 3);
    assert!(states.iter().all(|s| s["outcome"] == "ok"), "{data}");
}

#[tokio::test]
async fn an_update_is_picked_up_incrementally() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V1_TOKEN).await;
    assert!(pass(&app).await.ok());

    netbox.edit(
        TENANTS,
        2,
        json!({"description": "changed in NetBox"}),
        true,
    );
    let before = netbox.log().len();
    let report = pass(&app).await;
    let tenants = summary(&report, Kind::Tenants);
    assert_eq!((tenants.created, tenants.updated), (0, 1), "{report:?}");
    assert_eq!(
        tenant_of(&app, 2).await.expect("B").description,
        "changed in NetBox"
    );
    let asked = &netbox.log()[before..];
    let changed = asked
        .iter()
        .find(|r| r.starts_with(TENANTS) && !r.contains("fields=id"))
        .expect("the tenants were asked for");
    assert!(changed.contains("last_updated__gte="), "{changed}");

    // Nothing changed since: nothing is written.
    let report = pass(&app).await;
    assert!(report.ok());
    for kind in Kind::ALL {
        let s = summary(&report, kind);
        assert_eq!(
            (s.created, s.updated, s.deleted),
            (0, 0, 0),
            "{}",
            kind.name()
        );
    }
}

#[tokio::test]
async fn a_renamed_cluster_type_renames_the_clusters_of_that_type() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    assert!(pass(&app).await.ok());

    // NetBox bumps the type, not the clusters of that type.
    netbox.edit(CLUSTER_TYPES, 1, json!({"name": "PVE 9"}), true);
    netbox.edit(
        CLUSTERS,
        10,
        json!({"type": {"id": 1, "name": "PVE 9", "slug": "proxmox-ve"}}),
        false,
    );
    let report = pass(&app).await;
    assert_eq!(summary(&report, Kind::ClusterTypes).updated, 1);
    let cluster = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.eq(10))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the cluster");
    assert_eq!(cluster.cluster_type, "PVE 9");
}

#[tokio::test]
async fn a_deleted_tenant_goes_unless_something_references_it() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    assert!(pass(&app).await.ok());
    let c = tenant_of(&app, 3).await.expect("C");
    let seed = app.seed();
    let endpoint = seed.endpoint("local-pve").await;
    let cluster = seed.cluster("local-cluster").await;
    seed.definition("restricted", endpoint, cluster, &[c.id], |_| {})
        .await;

    netbox.delete(TENANTS, 2);
    netbox.delete(TENANTS, 3);
    let (before, _) = scrape(&app).await;
    let report = pass(&app).await;
    let tenants = summary(&report, Kind::Tenants);
    assert_eq!(tenants.deleted, 1, "{report:?}");
    assert_eq!(tenants.kept, ["NB Tenant C"]);
    // The pass moved its metrics (SPEC §10): the recorder is the process's, shared by the tests
    // running beside this one, so the counters grew by at least this pass's counts.
    let (after, body) = scrape(&app).await;
    let grew = |name: &str, labels: &[&str]| after.sum(name, labels) - before.sum(name, labels);
    let objects = "packer_gateway_netbox_sync_objects_total";
    assert!(
        grew(objects, &["type=\"tenants\"", "change=\"deleted\""]) >= 1.0,
        "{body}"
    );
    assert!(
        grew(objects, &["type=\"tenants\"", "change=\"kept\""]) >= 1.0,
        "{body}"
    );
    let passes = "packer_gateway_netbox_sync_passes_total";
    assert!(
        grew(passes, &["type=\"tenants\"", "outcome=\"ok\""]) >= 1.0,
        "{body}"
    );
    let success = "packer_gateway_netbox_sync_last_success_timestamp_seconds";
    assert!(after.sum(success, &["type=\"tenants\""]) > 0.0, "{body}");
    assert!(tenant_of(&app, 2).await.is_none());
    assert!(tenant_of(&app, 3).await.is_some());
    // The endpoint that belonged to B stays, without a tenant.
    let endpoint = proxmox_endpoint::Entity::find()
        .filter(proxmox_endpoint::Column::NetboxId.eq(20))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the endpoint");
    assert_eq!(endpoint.tenant_id, None);

    let data = app
        .data("{ netboxSync { objectType deleted kept } }", json!({}))
        .await;
    assert_eq!(
        data["netboxSync"][0],
        json!({"objectType": "TENANTS", "deleted": 1, "kept": 1})
    );
}

#[tokio::test]
async fn an_outage_in_the_middle_of_a_pass_leaves_nothing_half_written() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;

    // The first page of tenants comes, then NetBox is down (through every retry).
    netbox.fail_after(1);
    let report = pass(&app).await;
    assert!(!report.ok());
    assert_eq!(report.types.len(), 1, "the pass stops at the failed type");
    assert_eq!(count::<tenant::Entity>(&app).await, 0);
    assert_eq!(count::<cluster::Entity>(&app).await, 0);
    // The API does not notice.
    let data = app.data("{ tenants { nodes { name } } }", json!({})).await;
    assert_eq!(data["tenants"]["nodes"], json!([]));
    let data = app
        .data("{ netboxSync { objectType outcome error } }", json!({}))
        .await;
    assert_eq!(data["netboxSync"][0]["outcome"], "failed");
    assert!(
        data["netboxSync"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{data}"
    );

    // A later type fails: the earlier ones are whole, the failed one untouched.
    netbox.heal();
    let requests_for_tenants_and_types = 2 * 2 + 1;
    netbox.fail_after(requests_for_tenants_and_types);
    let report = pass(&app).await;
    assert!(!report.ok(), "{report:?}");
    assert_eq!(count::<tenant::Entity>(&app).await, 3);
    assert_eq!(count::<cluster::Entity>(&app).await, 0);

    netbox.heal();
    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(count::<cluster::Entity>(&app).await, 1);
}

#[tokio::test]
async fn an_old_proxbox_without_enabled_or_allow_writes_keeps_the_local_values() {
    let netbox = NetBox::start().await;
    // netbox-proxbox v0.0.16: no `enabled`, `allow_writes`, `allowed_tenants`.
    netbox.put(
        ENDPOINTS,
        21,
        json!({"name": "old-pve", "domain": null,
               "ip_address": {"id": 6, "family": 4, "address": "192.0.2.7/32"}, "port": 8006,
               "mode": {"value": "standalone", "label": "Standalone"}, "verify_ssl": false,
               "tenant": null}),
    );
    let app = service(&netbox, V2_TOKEN).await;
    assert!(pass(&app).await.ok());
    let endpoint = proxmox_endpoint::Entity::find()
        .filter(proxmox_endpoint::Column::NetboxId.eq(21))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the endpoint");
    assert!(endpoint.enabled && !endpoint.allow_writes);
    assert_eq!(endpoint.ip_address.as_deref(), Some("192.0.2.7"));

    // Writes allowed here; NetBox changes the port: the local value stays.
    let mut local: proxmox_endpoint::ActiveModel = endpoint.into();
    local.allow_writes = Set(true);
    local.update(&app.app.db).await.expect("allow writes");
    netbox.edit(ENDPOINTS, 21, json!({"port": 8443}), true);
    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    let endpoint = proxmox_endpoint::Entity::find()
        .filter(proxmox_endpoint::Column::NetboxId.eq(21))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the endpoint");
    assert_eq!(endpoint.port, 8443);
    assert!(endpoint.allow_writes && endpoint.enabled);
}

#[tokio::test]
async fn a_local_row_with_the_same_name_is_never_overwritten() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    netbox.put(
        USERS,
        32,
        json!({"username": "admin", "is_active": false, "groups": []}),
    );
    let app = service(&netbox, V2_TOKEN).await;
    let local = app.seed().tenant("NB Tenant A").await;

    for _ in 0..2 {
        let report = pass(&app).await;
        assert!(report.ok(), "{report:?}");
        // Reported on every pass until the local row makes way.
        assert_eq!(summary(&report, Kind::Tenants).conflicts.len(), 1);
        assert_eq!(summary(&report, Kind::Users).conflicts.len(), 1);
    }
    let row = tenant::Entity::find_by_id(local)
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the local tenant");
    assert_eq!(row.netbox_id, None);
    assert!(tenant_of(&app, 1).await.is_none());
    // The local admin is untouched: still active, still ADMIN.
    let admin = user::Entity::find_by_id(app.admin_id)
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("admin");
    assert!(admin.is_active && admin.role == Role::Admin && admin.netbox_id.is_none());
    let data = app
        .data("{ netboxSync { objectType conflicts } }", json!({}))
        .await;
    assert_eq!(data["netboxSync"][0]["conflicts"], 1);

    // Renamed here, the NetBox tenant comes in on the next pass.
    let mut renamed: tenant::ActiveModel = row.into();
    renamed.name = Set("Local A".into());
    renamed.update(&app.app.db).await.expect("rename");
    let report = pass(&app).await;
    assert_eq!(summary(&report, Kind::Tenants).created, 1, "{report:?}");
    assert!(tenant_of(&app, 1).await.is_some());
}

/// Waits, with a deadline, until `app` holds `tenants` tenants.
async fn await_tenants(app: &TestApp, tenants: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count::<tenant::Entity>(app).await < tenants {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pass brought the tenants"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn serve_passes_at_start_up_and_retries_a_failed_pass_with_backoff() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    // Down at start-up: the first pass fails; the next tries come after the backoff, not after
    // the interval (an hour here).
    netbox.fail_after(0);
    let app = service_with(&netbox, V1_TOKEN, &["--netbox-sync-interval", "3600"]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = app.data("{ netboxSync { outcome } }", json!({})).await;
        if data["netboxSync"][0]["outcome"] == "failed" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pass at start-up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count::<tenant::Entity>(&app).await, 0);
    netbox.heal();
    await_tenants(&app, 3).await;
}

#[tokio::test]
async fn the_status_and_the_mutation_are_for_administrators() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    let data = app
        .data(
            "mutation { syncNetbox { objectType outcome created } }",
            json!({}),
        )
        .await;
    assert_eq!(data["syncNetbox"][0]["created"], 3, "{data}");
    assert_eq!(count::<tenant::Entity>(&app).await, 3);

    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    for document in [
        "{ netboxSync { outcome } }",
        "mutation { syncNetbox { outcome } }",
    ] {
        let body = app.as_user(&viewer, document, json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }

    let unconfigured = TestApp::new().await;
    let (_, body) = unconfigured
        .post(
            Some(&unconfigured.admin.clone()),
            "mutation { syncNetbox { outcome } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FEATURE_DISABLED", "{body}");
}

#[tokio::test]
async fn a_catalog_entry_published_here_is_pushed_to_netbox() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service_with(&netbox, V2_TOKEN, &["--netbox-push-catalog"]).await;
    assert!(pass(&app).await.ok());
    let cluster = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.eq(10))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the cluster");
    let a = tenant_of(&app, 1).await.expect("A");
    let local = app
        .seed()
        .template("Debian 12", cluster.id, 9100, &[a.id])
        .await;

    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    let entry = cloud_image_template::Entity::find_by_id(local)
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the entry");
    let netbox_id = entry.netbox_id.expect("the entry is NetBox's now");
    let object = netbox
        .get(TEMPLATES, i64::from(netbox_id))
        .expect("created in NetBox");
    assert_eq!(object["slug"], json!(entry.slug));
    assert_eq!(object["cluster"]["id"], 10);
    assert_eq!(object["source_vmid"], 9100);
    assert_eq!(object["allowed_tenants"], json!([{"id": 1}]));
    assert_eq!(object["os_family"]["value"], "ubuntu");
    let writes = |log: Vec<String>| {
        log.into_iter()
            .filter(|r| r.starts_with("POST") || r.starts_with("PATCH"))
            .count()
    };
    assert_eq!(writes(netbox.log()), 1);

    // In step: nothing pushed again, nothing changed by reading it back.
    let before = netbox.log().len();
    assert!(pass(&app).await.ok());
    assert_eq!(writes(netbox.log()[before..].to_vec()), 0);

    // Published again here (a rebuild): updated in NetBox, not duplicated.
    let mut changed: cloud_image_template::ActiveModel = entry.into();
    changed.name = Set("Debian 12 (rebuilt)".into());
    changed.last_updated = Set(chrono::Utc::now() + chrono::Duration::seconds(1));
    changed.update(&app.app.db).await.expect("republish");
    let before = netbox.log().len();
    assert!(pass(&app).await.ok());
    let asked = netbox.log()[before..].to_vec();
    assert!(asked.iter().any(|r| r.starts_with("PATCH")), "{asked:#?}");
    assert_eq!(
        netbox.get(TEMPLATES, i64::from(netbox_id)).expect("there")["name"],
        "Debian 12 (rebuilt)"
    );
    assert_eq!(count::<cloud_image_template::Entity>(&app).await, 2);
}

#[tokio::test]
async fn a_completed_build_pushes_its_catalog_entry_at_once() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service_with(&netbox, V2_TOKEN, &["--netbox-push-catalog"]).await;
    assert!(pass(&app).await.ok());
    let cluster = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.eq(10))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the cluster");
    let seed = app.seed();
    let endpoint = seed.endpoint("local-pve").await;
    let definition = seed
        .definition("debian", endpoint, cluster.id, &[], |_| {})
        .await;
    let (build, _) = app.queue(definition).await;
    app.transition(build, BuildStatus::Running).await;
    app.transition(build, BuildStatus::Completed).await;

    // No pass was asked for: the completion alone brings the push, in the background.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !netbox.log().iter().any(|r| r.starts_with("POST")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the entry was not pushed: {:#?}",
            netbox.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pushed = netbox
        .log()
        .iter()
        .filter(|r| r.starts_with("POST"))
        .count();
    assert_eq!(pushed, 1);
}

async fn hook(app: &TestApp, body: &str, signature: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/plugins/packer/netbox-webhook/")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(signature) = signature {
        request = request.header("X-Hook-Signature", signature);
    }
    let (status, _, body) = app
        .send(
            request
                .body(Body::from(body.to_owned()))
                .expect("a request"),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn a_signed_webhook_brings_a_pass_forward_and_anything_else_is_refused() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service(&netbox, V2_TOKEN).await;
    let body = json!({"event": "created", "object_type": "tenancy.tenant",
                      "timestamp": "2026-11-30T10:00:00Z", "data": {"id": 1, "name": "forged"}})
    .to_string();

    let (status, _) = hook(&app, &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = webhook::sign("not-the-secret", body.as_bytes());
    let (status, _) = hook(&app, &body, Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = hook(&app, &body, Some("zz")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(count::<tenant::Entity>(&app).await, 0);

    let signature = webhook::sign(HOOK_SECRET, body.as_bytes());
    let (status, answer) = hook(&app, &body, Some(&signature)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // The pass runs in the background: wait for it, with a deadline.
    await_tenants(&app, 3).await;
    // Only the webhook's type was synced, from NetBox, not from the payload.
    assert!(
        tenant_of(&app, 1)
            .await
            .is_some_and(|t| t.name == "NB Tenant A")
    );
    assert_eq!(count::<cluster::Entity>(&app).await, 0);
}

#[tokio::test]
async fn no_token_ever_reaches_a_log() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = TestApp::new().await;
    let wrong = "feedfacefeedfacefeedfacefeedfacefeedface";
    let secrets = [V1_TOKEN, V2_TOKEN, wrong, HOOK_SECRET];
    // A pass that works, one with a refused token, one against a NetBox that is down.
    for (token, down, ok) in [
        (V1_TOKEN, false, true),
        (wrong, false, false),
        (V2_TOKEN, true, false),
    ] {
        if down {
            netbox.fail_after(0);
        }
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_packer-gateway"))
            .args([
                "sync",
                "netbox",
                "--netbox-url",
                &netbox.url,
                "--netbox-retry-backoff",
                "0.01",
            ])
            .env("PACKER_GATEWAY_DATABASE_URL", &app.url)
            .env("PACKER_GATEWAY_NETBOX_TOKEN", token)
            .env("PACKER_GATEWAY_NETBOX_WEBHOOK_SECRET", HOOK_SECRET)
            .env("RUST_LOG", "trace")
            .output()
            .await
            .expect("run packer-gateway sync netbox");
        assert_eq!(output.status.success(), ok, "{output:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(printed.contains("tenants"), "{printed}");
        for secret in secrets {
            assert!(
                !printed.contains(secret),
                "a secret was printed:\n{printed}"
            );
        }
    }
    netbox.heal();
    // And the configuration never shows it either.
    let args = crate::support::serve_args(&["--netbox-token", V2_TOKEN]);
    assert!(!format!("{args:?}").contains(V2_TOKEN));
}
