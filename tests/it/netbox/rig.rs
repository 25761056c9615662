//! The NetBox tests' rig: a service following a stand-in NetBox, a filled NetBox, passes and
//! their reports, reads of what a pass wrote, and the webhook.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use entity::{cluster, proxmox_endpoint, tenant};
use packer_gateway::{
    netbox::{Report, Syncer},
    registry::reference::sync::Kind,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::support::{TestApp, wait_for};

use super::stand_in::{
    CLUSTER_TYPES, CLUSTERS, ENDPOINTS, NetBox, TEMPLATES, TENANTS, USERS, V2_TOKEN,
};

pub(super) const HOOK_SECRET: &str = "hook-secret-for-tests";

/// A service following `netbox` with `token`, passes only on demand.
pub(super) async fn service(netbox: &NetBox, token: &str) -> TestApp {
    service_with(netbox, token, &[]).await
}

/// The same with `extra` flags (an interval given there replaces the on-demand default).
pub(super) async fn service_with(netbox: &NetBox, token: &str, extra: &[&str]) -> TestApp {
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

pub(super) fn syncer(app: &TestApp) -> &Syncer {
    app.app.netbox.as_ref().expect("NetBox is configured")
}

pub(super) async fn pass(app: &TestApp) -> Report {
    syncer(app).pass(&Kind::ALL).await
}

pub(super) fn summary(
    report: &Report,
    kind: Kind,
) -> packer_gateway::registry::reference::sync::Summary {
    report
        .types
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, outcome)| outcome.clone().ok())
        .unwrap_or_else(|| panic!("{} succeeded: {report:?}", kind.name()))
}

/// A NetBox with three tenants (two pages), a cluster type, a cluster, an endpoint, two users and
/// a catalog entry.
pub(super) fn fill(netbox: &NetBox) {
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

pub(super) async fn tenant_of(app: &TestApp, netbox_id: i32) -> Option<tenant::Model> {
    tenant::Entity::find()
        .filter(tenant::Column::NetboxId.eq(netbox_id))
        .one(&app.app.db)
        .await
        .expect("read tenants")
}

/// The cluster NetBox knows as `netbox_id`.
pub(super) async fn cluster_of(app: &TestApp, netbox_id: i32) -> cluster::Model {
    cluster::Entity::find()
        .filter(cluster::Column::NetboxId.eq(netbox_id))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the cluster")
}

/// The endpoint NetBox knows as `netbox_id`.
pub(super) async fn endpoint_of(app: &TestApp, netbox_id: i32) -> proxmox_endpoint::Model {
    proxmox_endpoint::Entity::find()
        .filter(proxmox_endpoint::Column::NetboxId.eq(netbox_id))
        .one(&app.app.db)
        .await
        .expect("read")
        .expect("the endpoint")
}

pub(super) async fn count<E: EntityTrait>(app: &TestApp) -> usize
where
    E::Model: Send + Sync,
{
    E::find().all(&app.app.db).await.expect("read").len()
}

/// Waits, with a deadline, until `app` holds `tenants` tenants.
pub(super) async fn await_tenants(app: &TestApp, tenants: usize) {
    wait_for("a pass that brings the tenants", || async {
        count::<tenant::Entity>(app).await >= tenants
    })
    .await;
}

pub(super) async fn hook(
    app: &TestApp,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, String) {
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

/// A service pushing the catalog to a filled NetBox, after its first pass; and the cluster NetBox
/// knows as 10.
pub(super) async fn pushing() -> (NetBox, TestApp, cluster::Model) {
    let netbox = NetBox::start().await;
    fill(&netbox);
    let app = service_with(&netbox, V2_TOKEN, &["--netbox-push-catalog"]).await;
    assert!(pass(&app).await.ok());
    let cluster = cluster_of(&app, 10).await;
    (netbox, app, cluster)
}

/// How many writes (`POST`, `PATCH`) a stretch of NetBox's request log holds.
pub(super) fn writes(log: &[String]) -> usize {
    log.iter()
        .filter(|r| r.starts_with("POST") || r.starts_with("PATCH"))
        .count()
}
