//! NetBox as the source of reference data (SPEC §10): reads NetBox and hands each type's objects
//! to the registry (`registry::reference::sync`), which alone writes them.
//!
//! A pass takes the types in order — tenants, cluster types, clusters, Proxmox endpoints, users,
//! cloud image templates. For each: the objects changed since the type's cursor
//! (`last_updated__gte`; users in full, NetBox has no change marker for them), then every id
//! (`fields=id`) to find deletions; then one transaction. A type that cannot be read or written
//! changes nothing, is recorded as failed, and ends the pass (later types may refer to it); the
//! next try comes after a backoff. NetBox being down never touches the API: passes run in a task
//! of their own, and requests never wait for them.
//!
//! This module never reads or writes a table itself, and the registry never imports it.

pub mod client;
pub mod convert;
pub mod push;
pub mod webhook;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::SecondsFormat;
use entity::enums::Role;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Action, Authenticator, Principal},
    clock::Clock,
    config::{NetboxArgs, Secret},
    error::Error,
    registry::{
        Ctx,
        events::Wake,
        reference::sync::{self, Batch, Kind, Rows, Summary},
    },
};
use client::Client;

/// The NetBox sync of this instance: cheap to clone.
#[derive(Clone)]
pub struct Syncer {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    db: DatabaseConnection,
    clock: Clock,
    auth: Authenticator,
    roles: Vec<(String, Role)>,
    webhook_secret: Option<Secret>,
    push: bool,
    interval: Duration,
    backoff: Duration,
    /// One pass at a time.
    running: tokio::sync::Mutex<()>,
    /// Types a webhook asked for, for the background task.
    wanted: Mutex<HashSet<Kind>>,
    wake: Notify,
}

/// What one pass did, type by type, in order; it stops at the first type that failed.
#[derive(Debug, Default)]
pub struct Report {
    /// Each type attempted and its outcome.
    pub types: Vec<(Kind, Result<Summary, String>)>,
}

impl Report {
    /// Whether every type attempted succeeded.
    pub fn ok(&self) -> bool {
        self.types.iter().all(|(_, outcome)| outcome.is_ok())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, outcome) in &self.types {
            match outcome {
                Ok(s) => writeln!(
                    f,
                    "{:<14} created {}, updated {}, deleted {}, kept {}, conflicts {}",
                    kind.name(),
                    s.created,
                    s.updated,
                    s.deleted,
                    s.kept.len(),
                    s.conflicts.len()
                )?,
                Err(reason) => writeln!(f, "{:<14} FAILED: {reason}", kind.name())?,
            }
        }
        Ok(())
    }
}

/// The sync writes no build event: nothing to wake.
struct NoEvents;

impl Wake for NoEvents {
    fn committed(&self) {}
}

impl Syncer {
    /// The sync configured by `config`, or `None` when no NetBox is configured.
    pub fn new(
        config: &NetboxArgs,
        db: DatabaseConnection,
        clock: Clock,
        auth: Authenticator,
    ) -> Result<Option<Syncer>, String> {
        let Some(url) = &config.netbox_url else {
            return Ok(None);
        };
        let token = config
            .netbox_token
            .as_ref()
            .ok_or("--netbox-url needs --netbox-token (or PACKER_GATEWAY_NETBOX_TOKEN)")?;
        let client = Client::new(url, token, config.netbox_retry_backoff)?;
        Ok(Some(Syncer {
            inner: Arc::new(Inner {
                client,
                db,
                clock,
                auth,
                roles: config.netbox_role_map.clone(),
                webhook_secret: config.netbox_webhook_secret.clone(),
                push: config.netbox_push_catalog,
                interval: config.netbox_sync_interval,
                backoff: config.netbox_retry_backoff,
                running: tokio::sync::Mutex::new(()),
                wanted: Mutex::new(HashSet::new()),
                wake: Notify::new(),
            }),
        }))
    }

    /// Runs a pass of every type now, for `principal` (ADMIN), and waits for it.
    pub async fn sync_now(&self, principal: &Principal) -> Result<Report, Error> {
        principal.authorize(Action::ManageReference)?;
        Ok(self.pass(&Kind::ALL).await)
    }

    /// Runs a pass of `kinds` (in the order of [`Kind::ALL`]) and records each outcome.
    pub async fn pass(&self, kinds: &[Kind]) -> Report {
        let _one_at_a_time = self.inner.running.lock().await;
        let mut report = Report::default();
        for kind in Kind::ALL.into_iter().filter(|k| kinds.contains(k)) {
            if kind == Kind::Templates && self.inner.push {
                let pushed = self.push().await;
                match &pushed {
                    Ok(0) => {}
                    Ok(pushed) => tracing::info!(pushed, "pushed catalog entries to NetBox"),
                    Err(reason) => {
                        tracing::warn!(%reason, "catalog push to NetBox failed; retried next pass")
                    }
                }
                let outcome = if pushed.is_ok() { "ok" } else { "failed" };
                metrics::counter!("packer_gateway_netbox_catalog_pushes_total", "outcome" => outcome)
                    .increment(1);
            }
            let outcome = self.pass_of(kind).await;
            record(kind, &outcome, &self.inner.clock);
            match &outcome {
                Ok(summary) => {
                    for name in &summary.kept {
                        tracing::warn!(
                            kind = kind.name(),
                            name,
                            "deleted in NetBox but kept: still referenced here"
                        );
                    }
                    for conflict in &summary.conflicts {
                        tracing::warn!(kind = kind.name(), %conflict, "NetBox object not applied");
                    }
                    if summary.changed() {
                        tracing::info!(
                            kind = kind.name(),
                            created = summary.created,
                            updated = summary.updated,
                            deleted = summary.deleted,
                            "synced from NetBox"
                        );
                    }
                }
                Err(reason) => {
                    tracing::warn!(kind = kind.name(), %reason, "NetBox sync failed; nothing changed");
                    let now = self.inner.clock.now();
                    if let Err(err) = sync::record_failure(&self.inner.db, kind, now, reason).await
                    {
                        tracing::warn!(?err, "cannot record the failed NetBox pass");
                    }
                }
            }
            let failed = outcome.is_err();
            report.types.push((kind, outcome));
            if failed {
                break;
            }
        }
        report
    }

    /// Asks the background task for a pass of `kind` soon (a webhook).
    pub fn request(&self, kind: Kind) {
        self.inner
            .wanted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kind);
        self.inner.wake.notify_one();
    }

    /// Receives a webhook: `signature` must sign `body` with `--netbox-webhook-secret`
    /// (`UNAUTHENTICATED` otherwise, and `NOT_FOUND` when no secret is configured); its
    /// `object_type` brings forward a pass of that type. Returns whether a pass was asked for.
    pub fn receive(&self, signature: Option<&str>, body: &[u8]) -> Result<bool, Error> {
        let Some(secret) = &self.inner.webhook_secret else {
            return Err(Error::NotFound);
        };
        if !signature.is_some_and(|s| webhook::signed(secret.expose(), body, s)) {
            return Err(Error::Unauthenticated);
        }
        let kind = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(webhook::kind);
        if let Some(kind) = kind {
            self.request(kind);
        }
        Ok(kind.is_some())
    }

    /// Starts the background task: a pass of every type now and every `--netbox-sync-interval`
    /// (never when it is 0), a failed one tried again after a backoff, and the passes webhooks ask
    /// for; it ends when `stop` is cancelled.
    pub fn start(&self, stop: CancellationToken) {
        let syncer = self.clone();
        tokio::spawn(async move { syncer.run(stop).await });
    }

    async fn run(self, stop: CancellationToken) {
        let interval = self.inner.interval;
        let mut failures: u32 = 0;
        let mut next = (!interval.is_zero()).then(tokio::time::Instant::now);
        loop {
            let due = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = due => {
                    let report = self.pass(&Kind::ALL).await;
                    let wait = if report.ok() {
                        failures = 0;
                        interval
                    } else {
                        failures = failures.saturating_add(1);
                        let factor = 2u32.saturating_pow(failures.min(16) - 1);
                        self.inner.backoff.saturating_mul(factor).min(interval)
                    };
                    next = Some(tokio::time::Instant::now() + wait);
                }
                () = self.inner.wake.notified() => {
                    let kinds: Vec<Kind> = self
                        .inner
                        .wanted
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain()
                        .collect();
                    self.pass(&kinds).await;
                }
            }
        }
    }

    async fn pass_of(&self, kind: Kind) -> Result<Summary, String> {
        let batch = self.read(kind).await?;
        let ctx = Ctx {
            db: &self.inner.db,
            events: &NoEvents,
            clock: &self.inner.clock,
            auth: &self.inner.auth,
            principal: &Principal::Service,
        };
        sync::apply(ctx, batch)
            .await
            .map_err(|err| format!("cannot write the {}: {}", kind.name(), err.message()))
    }

    /// Reads what a pass of `kind` needs from NetBox.
    async fn read(&self, kind: Kind) -> Result<Batch, String> {
        let client = &self.inner.client;
        let path = path(kind);
        if kind == Kind::Users {
            let objects = client.list(path, &[]).await?;
            let live = convert::ids(&objects)?;
            let rows = objects
                .iter()
                .map(|o| convert::user(o, &self.inner.roles))
                .collect::<Result<_, _>>()?;
            return Ok(Batch {
                rows: Rows::Users(rows),
                live: Some(live),
            });
        }
        let cursor = sync::cursor(&self.inner.db, kind)
            .await
            .map_err(|err| format!("cannot read the cursor: {}", err.message()))?;
        let query: Vec<(&str, String)> = cursor
            .map(|at| {
                (
                    "last_updated__gte",
                    at.to_rfc3339_opts(SecondsFormat::Micros, true),
                )
            })
            .into_iter()
            .collect();
        let changed = client.list(path, &query).await?;
        let rows = match kind {
            Kind::Tenants => Rows::Tenants(all(&changed, convert::tenant)?),
            Kind::ClusterTypes => Rows::ClusterTypes(all(&changed, convert::cluster_type)?),
            Kind::Clusters => Rows::Clusters(all(&changed, convert::cluster)?),
            Kind::Endpoints => Rows::Endpoints(all(&changed, convert::endpoint)?),
            Kind::Templates => Rows::Templates(all(&changed, convert::template)?),
            Kind::Users => unreachable!("users are read in full above"),
        };
        let live = if kind == Kind::ClusterTypes {
            None
        } else {
            let ids = client.list(path, &[("fields", "id".to_owned())]).await?;
            Some(convert::ids(&ids)?)
        };
        Ok(Batch { rows, live })
    }
}

fn all<R>(
    objects: &[Value],
    convert: impl Fn(&Value) -> Result<R, String>,
) -> Result<Vec<R>, String> {
    objects.iter().map(convert).collect()
}

/// Where NetBox lists `kind`.
pub fn path(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenants => "api/tenancy/tenants/",
        Kind::ClusterTypes => "api/virtualization/cluster-types/",
        Kind::Clusters => "api/virtualization/clusters/",
        Kind::Endpoints => "api/plugins/proxbox/endpoints/proxmox/",
        Kind::Users => "api/users/users/",
        Kind::Templates => "api/plugins/proxbox/cloud-image-templates/",
    }
}

/// The metrics of a pass of `kind`.
fn record(kind: Kind, outcome: &Result<Summary, String>, clock: &Clock) {
    let name = kind.name();
    let label = if outcome.is_ok() { "ok" } else { "failed" };
    metrics::counter!("packer_gateway_netbox_sync_passes_total", "type" => name, "outcome" => label)
        .increment(1);
    let Ok(summary) = outcome else {
        return;
    };
    metrics::gauge!("packer_gateway_netbox_sync_last_success_timestamp_seconds", "type" => name)
        .set(clock.now().timestamp() as f64);
    for (change, count) in [
        ("created", summary.created as usize),
        ("updated", summary.updated as usize),
        ("deleted", summary.deleted as usize),
        ("kept", summary.kept.len()),
        ("conflict", summary.conflicts.len()),
    ] {
        metrics::counter!("packer_gateway_netbox_sync_objects_total", "type" => name, "change" => change)
            .increment(count as u64);
    }
    metrics::gauge!("packer_gateway_netbox_sync_kept_objects", "type" => name)
        .set(summary.kept.len() as f64);
}
