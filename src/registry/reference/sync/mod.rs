//! The writes of a NetBox sync (SPEC §10): one type's objects applied in one transaction.
//!
//! The HTTP side (`crate::netbox`) reads NetBox and hands each type's objects here as plain rows
//! whose references are NetBox ids; this module alone writes them, with these rules:
//! - a row keeps its NetBox id (`netbox_id`); rows created here (no NetBox id) are never touched;
//! - a NetBox object whose name (or slug, or catalog place) a local row holds changes nothing and
//!   is reported as a conflict; the cursor stays before it, so it is tried again on every pass
//!   until the local row makes way;
//! - an object gone from NetBox (its id not in `live`) is deleted here unless something
//!   references it — then it is kept and reported (the database's own foreign keys decide, each
//!   delete in a savepoint);
//! - the type's cursor (the newest NetBox `last_updated` applied) and the pass's counts are
//!   written in the same transaction: a failed pass changes nothing.

mod objects;
mod pass;
mod push;
mod rows;
mod state;

pub use push::{Unpushed, pushed, unpushed};
pub use rows::{ClusterRow, ClusterTypeRow, EndpointRow, Rows, TemplateRow, TenantRow, UserRow};
pub use state::{cursor, next_cursor, record_failure, status};

use std::collections::HashSet;

use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use self::{pass::Pass, state::save_state};
use crate::{
    auth::Action,
    error::Error,
    registry::{Ctx, tx::begin_write},
};

/// The synced types, in the order a pass applies them (references point backwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/api/tenancy/tenants/`.
    Tenants,
    /// `/api/virtualization/cluster-types/`: their names, copied into clusters.
    ClusterTypes,
    /// `/api/virtualization/clusters/`.
    Clusters,
    /// `/api/plugins/proxbox/endpoints/proxmox/`.
    Endpoints,
    /// `/api/users/users/` (in full each pass).
    Users,
    /// `/api/plugins/proxbox/cloud-image-templates/`.
    Templates,
}

impl Kind {
    /// Every type, in the order of a pass.
    pub const ALL: [Kind; 6] = [
        Kind::Tenants,
        Kind::ClusterTypes,
        Kind::Clusters,
        Kind::Endpoints,
        Kind::Users,
        Kind::Templates,
    ];

    /// The name of the type in the status, the logs and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tenants => "tenants",
            Kind::ClusterTypes => "cluster_types",
            Kind::Clusters => "clusters",
            Kind::Endpoints => "endpoints",
            Kind::Users => "users",
            Kind::Templates => "templates",
        }
    }
}

/// What a pass of one type read from NetBox.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The objects changed since the type's cursor (every object on a first pass).
    pub rows: Rows,
    /// Every id NetBox has of this type now; `None` does not reconcile deletions.
    pub live: Option<Vec<i32>>,
}

/// What a pass of one type did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows created.
    pub created: u32,
    /// Rows changed.
    pub updated: u32,
    /// Rows deleted (gone from NetBox, referenced by nothing).
    pub deleted: u32,
    /// Rows gone from NetBox but kept because something references them (their names).
    pub kept: Vec<String>,
    /// NetBox objects not applied, and why.
    pub conflicts: Vec<String>,
}

impl Summary {
    /// Whether the pass changed any row.
    pub fn changed(&self) -> bool {
        self.created + self.updated + self.deleted > 0
    }
}

/// Applies one type's batch in one transaction, with the type's new cursor and counts; after
/// the commit, a change that can touch credentials (users, deleted tenants) is applied to this
/// instance's memory of tokens before this returns.
pub async fn apply(ctx: Ctx<'_>, batch: Batch) -> Result<Summary, Error> {
    ctx.principal.authorize(Action::ManageReference)?;
    let kind = batch.rows.kind();
    let txn = begin_write(ctx.db).await?;
    let stamp = ctx.clock.now();
    let previous = cursor(&txn, kind).await?;
    let mut pass = Pass {
        txn: &txn,
        stamp,
        summary: Summary::default(),
        seen: Vec::new(),
        blocked: Vec::new(),
    };
    match batch.rows {
        Rows::Tenants(rows) => {
            for row in rows {
                pass.tenant(row).await?;
            }
        }
        Rows::ClusterTypes(rows) => {
            for row in rows {
                pass.cluster_type(row).await?;
            }
        }
        Rows::Clusters(rows) => {
            for row in rows {
                pass.cluster(row).await?;
            }
        }
        Rows::Endpoints(rows) => {
            for row in rows {
                pass.endpoint(row).await?;
            }
        }
        Rows::Users(rows) => {
            for row in rows {
                pass.user(row).await?;
            }
        }
        Rows::Templates(rows) => {
            for row in rows {
                pass.template(row).await?;
            }
        }
    }
    if let Some(live) = &batch.live {
        let live: HashSet<i32> = live.iter().copied().collect();
        match kind {
            Kind::Tenants => pass.delete_missing::<tenant::Entity>(&live).await?,
            Kind::Clusters => pass.delete_missing::<cluster::Entity>(&live).await?,
            Kind::Endpoints => {
                pass.delete_missing::<proxmox_endpoint::Entity>(&live)
                    .await?
            }
            Kind::Users => pass.delete_missing::<user::Entity>(&live).await?,
            Kind::Templates => {
                pass.delete_missing::<cloud_image_template::Entity>(&live)
                    .await?
            }
            Kind::ClusterTypes => {}
        }
    }
    let next = next_cursor(previous, &pass.seen, &pass.blocked);
    let summary = pass.summary;
    save_state(&txn, kind, next, stamp, Ok(&summary)).await?;
    txn.commit().await?;
    if summary.changed() && matches!(kind, Kind::Users | Kind::Tenants) {
        ctx.auth.refresh().await;
    }
    Ok(summary)
}
