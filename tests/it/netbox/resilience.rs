//! Outages, old plugin versions, conflicts with local rows, and the passes `serve` runs and
//! retries.

use entity::{cluster, enums::Role, proxmox_endpoint, tenant, user};
use packer_gateway::registry::reference::sync::Kind;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use crate::support::wait_for;

use super::rig::{
    await_tenants, count, endpoint_of, fill, pass, service, service_with, summary, tenant_of,
};
use super::stand_in::{ENDPOINTS, NetBox, USERS, V1_TOKEN, V2_TOKEN};

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
    let endpoint = endpoint_of(&app, 21).await;
    assert!(endpoint.enabled && !endpoint.allow_writes);
    assert_eq!(endpoint.ip_address.as_deref(), Some("192.0.2.7"));

    // Writes allowed here; NetBox changes the port: the local value stays.
    let mut local: proxmox_endpoint::ActiveModel = endpoint.into();
    local.allow_writes = Set(true);
    local.update(&app.app.db).await.expect("allow writes");
    netbox.edit(ENDPOINTS, 21, json!({"port": 8443}), true);
    let report = pass(&app).await;
    assert!(report.ok(), "{report:?}");
    let endpoint = endpoint_of(&app, 21).await;
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

#[tokio::test]
async fn serve_passes_at_start_up_and_retries_a_failed_pass_with_backoff() {
    let netbox = NetBox::start().await;
    fill(&netbox);
    // Down at start-up: the first pass fails; the next tries come after the backoff, not after
    // the interval (an hour here).
    netbox.fail_after(0);
    let app = service_with(&netbox, V1_TOKEN, &["--netbox-sync-interval", "3600"]).await;
    wait_for("a failed pass at start-up", || async {
        let data = app.data("{ netboxSync { outcome } }", json!({})).await;
        data["netboxSync"][0]["outcome"] == "failed"
    })
    .await;
    assert_eq!(count::<tenant::Entity>(&app).await, 0);
    netbox.heal();
    await_tenants(&app, 3).await;
}
