//! The NetBox sync (SPEC §10): `netboxSync` (its state per type) and `syncNetbox` (a pass now),
//! both for administrators.

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use entity::netbox_sync;

use super::{db, request, scalars::DateTime};
use crate::{
    error::Error,
    netbox::Syncer,
    registry::reference::sync::{self, Kind},
};

/// A type of NetBox object that the sync follows.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum NetboxObjectType {
    /// Tenants.
    Tenants,
    /// Cluster types (their names are copied into clusters).
    ClusterTypes,
    /// Clusters.
    Clusters,
    /// netbox-proxbox Proxmox endpoints.
    Endpoints,
    /// Users (read in full on every pass).
    Users,
    /// netbox-proxbox cloud image templates (the catalog).
    Templates,
}

/// The last pass of one type.
#[derive(SimpleObject)]
pub struct NetboxSyncState {
    /// The type.
    pub object_type: NetboxObjectType,
    /// When its last pass ended.
    pub last_pass: Option<DateTime>,
    /// When its last successful pass ended.
    pub last_success: Option<DateTime>,
    /// Whether the last pass succeeded: `ok` or `failed`.
    pub outcome: String,
    /// Why the last pass failed (empty after a success).
    pub error: String,
    /// Rows created by the last pass.
    pub created: i32,
    /// Rows updated by it.
    pub updated: i32,
    /// Rows deleted by it.
    pub deleted: i32,
    /// Rows deleted in NetBox and kept here because something references them.
    pub kept: i32,
    /// NetBox objects not applied because a row created here holds their name.
    pub conflicts: i32,
}

impl From<netbox_sync::Model> for NetboxSyncState {
    fn from(m: netbox_sync::Model) -> Self {
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.name() == m.kind)
            .unwrap_or(Kind::Tenants);
        NetboxSyncState {
            object_type: match kind {
                Kind::Tenants => NetboxObjectType::Tenants,
                Kind::ClusterTypes => NetboxObjectType::ClusterTypes,
                Kind::Clusters => NetboxObjectType::Clusters,
                Kind::Endpoints => NetboxObjectType::Endpoints,
                Kind::Users => NetboxObjectType::Users,
                Kind::Templates => NetboxObjectType::Templates,
            },
            last_pass: m.last_pass.map(Into::into),
            last_success: m.last_success.map(Into::into),
            outcome: m.outcome,
            error: m.error,
            created: m.created,
            updated: m.updated,
            deleted: m.deleted,
            kept: m.kept,
            conflicts: m.conflicts,
        }
    }
}

/// Queries of the NetBox sync.
#[derive(Default)]
pub struct NetboxQuery;

#[Object]
impl NetboxQuery {
    /// The last pass of every type synced from NetBox (ADMIN); empty before the first pass.
    async fn netbox_sync(&self, ctx: &Context<'_>) -> Result<Vec<NetboxSyncState>> {
        let states = sync::status(db(ctx), &request(ctx).scope).await?;
        Ok(states.into_iter().map(Into::into).collect())
    }
}

/// Mutations of the NetBox sync.
#[derive(Default)]
pub struct NetboxMutation;

#[Object]
impl NetboxMutation {
    /// Runs a pass of every type now and answers once it ended (ADMIN); `FEATURE_DISABLED`
    /// when no NetBox is configured. A failed type is reported in its state, not as an error.
    async fn sync_netbox(&self, ctx: &Context<'_>) -> Result<Vec<NetboxSyncState>> {
        let Some(syncer) = ctx.data_unchecked::<Option<Syncer>>() else {
            return Err(Error::FeatureDisabled { feature: "netbox" }.into());
        };
        syncer.sync_now(&request(ctx).principal).await?;
        let states = sync::status(db(ctx), &request(ctx).scope).await?;
        Ok(states.into_iter().map(Into::into).collect())
    }
}
