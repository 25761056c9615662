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

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{
    cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{CatalogOsFamily, EndpointMode, Role},
    netbox_sync, proxmox_endpoint, tenant, user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, Set, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait},
};

use crate::{
    auth::{Action, Scope},
    error::{Error, conflict_on_reference},
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

/// A NetBox tenant.
#[derive(Clone, Debug)]
pub struct TenantRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Description.
    pub description: String,
}

/// A NetBox cluster type.
#[derive(Clone, Debug)]
pub struct ClusterTypeRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name (a cluster's `cluster_type`).
    pub name: String,
}

/// A NetBox cluster.
#[derive(Clone, Debug)]
pub struct ClusterRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// NetBox id of its type.
    pub type_id: Option<i32>,
    /// Its type's name.
    pub cluster_type: String,
    /// NetBox id of its tenant.
    pub tenant: Option<i32>,
    /// Description.
    pub description: String,
}

/// A netbox-proxbox Proxmox endpoint; `None` where the plugin's version lacks the field (the
/// local value stays).
#[derive(Clone, Debug)]
pub struct EndpointRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// DNS name.
    pub domain: Option<String>,
    /// Address without its prefix length.
    pub ip_address: Option<String>,
    /// API port.
    pub port: Option<i32>,
    /// Deployment mode.
    pub mode: Option<EndpointMode>,
    /// TLS verification.
    pub verify_ssl: Option<bool>,
    /// Whether builds may write to it.
    pub allow_writes: Option<bool>,
    /// Whether it is in use.
    pub enabled: Option<bool>,
    /// NetBox id of its tenant.
    pub tenant: Option<i32>,
}

/// A NetBox user.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// Login name.
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Whether it may authenticate.
    pub is_active: bool,
    /// Its role here (from `--netbox-role-map`, VIEWER otherwise).
    pub role: Role,
}

/// A netbox-proxbox cloud image template.
#[derive(Clone, Debug)]
pub struct TemplateRow {
    /// NetBox id.
    pub netbox_id: i32,
    /// NetBox `last_updated`.
    pub last_updated: Option<DateTime<Utc>>,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Description.
    pub description: String,
    /// NetBox id of its cluster.
    pub cluster: i32,
    /// VMID of the template.
    pub source_vmid: i32,
    /// Family.
    pub os_family: CatalogOsFamily,
    /// Release.
    pub os_release: String,
    /// Cloud-init user.
    pub default_ciuser: String,
    /// Whether it is offered.
    pub is_active: bool,
    /// NetBox ids of the tenants it is restricted to.
    pub allowed_tenants: Vec<i32>,
}

/// One type's objects as NetBox gave them.
#[derive(Clone, Debug)]
pub enum Rows {
    /// Tenants.
    Tenants(Vec<TenantRow>),
    /// Cluster types.
    ClusterTypes(Vec<ClusterTypeRow>),
    /// Clusters.
    Clusters(Vec<ClusterRow>),
    /// Endpoints.
    Endpoints(Vec<EndpointRow>),
    /// Users (all of them).
    Users(Vec<UserRow>),
    /// Catalog entries.
    Templates(Vec<TemplateRow>),
}

impl Rows {
    /// The type of these rows.
    pub fn kind(&self) -> Kind {
        match self {
            Rows::Tenants(_) => Kind::Tenants,
            Rows::ClusterTypes(_) => Kind::ClusterTypes,
            Rows::Clusters(_) => Kind::Clusters,
            Rows::Endpoints(_) => Kind::Endpoints,
            Rows::Users(_) => Kind::Users,
            Rows::Templates(_) => Kind::Templates,
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

/// The cursor of a type; `None` before its first successful pass.
pub async fn cursor(db: &impl ConnectionTrait, kind: Kind) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(netbox_sync::Entity::find_by_id(kind.name())
        .one(db)
        .await?
        .and_then(|state| state.cursor))
}

/// The state of every type that had a pass (ADMIN).
pub async fn status(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Vec<netbox_sync::Model>, Error> {
    scope.require_admin()?;
    let mut states = netbox_sync::Entity::find().all(db).await?;
    let order = |state: &netbox_sync::Model| {
        Kind::ALL
            .iter()
            .position(|kind| kind.name() == state.kind)
            .unwrap_or(usize::MAX)
    };
    states.sort_by_key(order);
    Ok(states)
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

/// A catalog entry to push to NetBox (`--netbox-push-catalog`), with its references as NetBox ids.
#[derive(Clone, Debug)]
pub struct Unpushed {
    /// The entry.
    pub entry: cloud_image_template::Model,
    /// The NetBox id of its cluster.
    pub cluster: i32,
    /// The NetBox ids of the tenants it is restricted to.
    pub tenants: Vec<i32>,
}

/// The catalog entries changed here since they were last in step with NetBox (never pushed, or
/// written since — a build published them), on clusters NetBox owns. An entry restricted to a
/// tenant NetBox does not know is left out: pushed without it, it would be open to more tenants
/// in NetBox than here.
pub async fn unpushed(db: &impl ConnectionTrait) -> Result<Vec<Unpushed>, Error> {
    let clusters: HashMap<i32, i32> = cluster::Entity::find()
        .filter(cluster::Column::NetboxId.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|c| c.netbox_id.map(|n| (c.id, n)))
        .collect();
    let tenants: HashMap<i32, Option<i32>> = tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.netbox_id))
        .collect();
    let mut found = Vec::new();
    for entry in cloud_image_template::Entity::find().all(db).await? {
        let dirty = entry
            .netbox_pushed
            .is_none_or(|pushed| entry.last_updated > pushed);
        let Some(cluster) = clusters.get(&entry.cluster_id).copied() else {
            continue;
        };
        if !dirty {
            continue;
        }
        let links = cloud_image_template_tenant::Entity::find()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(entry.id))
            .all(db)
            .await?;
        let mapped: Option<Vec<i32>> = links
            .iter()
            .map(|link| tenants.get(&link.tenant_id).copied().flatten())
            .collect();
        let Some(tenants) = mapped else {
            tracing::warn!(
                slug = entry.slug,
                "catalog entry not pushed: one of its tenants is not in NetBox"
            );
            continue;
        };
        found.push(Unpushed {
            entry,
            cluster,
            tenants,
        });
    }
    Ok(found)
}

/// Records that catalog entry `id`, as it was at `last_updated`, is NetBox's object `netbox_id`
/// now; an entry written since stays to be pushed again.
pub async fn pushed(
    db: &sea_orm::DatabaseConnection,
    id: i32,
    last_updated: DateTime<Utc>,
    netbox_id: i32,
) -> Result<(), Error> {
    let txn = begin_write(db).await?;
    cloud_image_template::Entity::update_many()
        .col_expr(
            cloud_image_template::Column::NetboxId,
            Expr::value(netbox_id),
        )
        .col_expr(
            cloud_image_template::Column::NetboxPushed,
            Expr::value(last_updated),
        )
        .filter(cloud_image_template::Column::Id.eq(id))
        .filter(cloud_image_template::Column::LastUpdated.eq(last_updated))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Records a failed pass of `kind`: its cursor and its rows stay as they were.
pub async fn record_failure(
    db: &sea_orm::DatabaseConnection,
    kind: Kind,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<(), Error> {
    let txn = begin_write(db).await?;
    let previous = cursor(&txn, kind).await?;
    save_state(&txn, kind, previous, at, Err(reason)).await?;
    txn.commit().await?;
    Ok(())
}

/// The next cursor: the newest `last_updated` applied, but never past an object that could not
/// be applied (so that the next pass asks for it again); the previous one when nothing came.
pub fn next_cursor(
    previous: Option<DateTime<Utc>>,
    seen: &[DateTime<Utc>],
    blocked: &[DateTime<Utc>],
) -> Option<DateTime<Utc>> {
    let newest = seen.iter().copied().max();
    let candidate = match blocked.iter().copied().min() {
        Some(first_blocked) => Some(newest.map_or(first_blocked, |n| Ord::min(n, first_blocked))),
        None => newest,
    };
    match (previous, candidate) {
        (Some(previous), Some(candidate)) => Some(Ord::max(previous, candidate)),
        (previous, candidate) => candidate.or(previous),
    }
}

async fn save_state(
    txn: &DatabaseTransaction,
    kind: Kind,
    cursor: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    outcome: Result<&Summary, &str>,
) -> Result<(), Error> {
    let existing = netbox_sync::Entity::find_by_id(kind.name())
        .one(txn)
        .await?;
    let empty = Summary::default();
    let (summary, error) = match outcome {
        Ok(summary) => (summary, String::new()),
        Err(reason) => (&empty, reason.to_owned()),
    };
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let state = netbox_sync::ActiveModel {
        kind: Set(kind.name().to_owned()),
        cursor: Set(cursor),
        last_pass: Set(Some(at)),
        last_success: Set(match outcome {
            Ok(_) => Some(at),
            Err(_) => existing.as_ref().and_then(|state| state.last_success),
        }),
        outcome: Set(if outcome.is_ok() { "ok" } else { "failed" }.to_owned()),
        error: Set(error),
        created: Set(count(summary.created as usize)),
        updated: Set(count(summary.updated as usize)),
        deleted: Set(count(summary.deleted as usize)),
        kept: Set(count(summary.kept.len())),
        conflicts: Set(count(summary.conflicts.len())),
    };
    if existing.is_some() {
        state.update(txn).await?;
    } else {
        state.insert(txn).await?;
    }
    Ok(())
}

/// The work of one transaction.
struct Pass<'a> {
    txn: &'a DatabaseTransaction,
    stamp: DateTime<Utc>,
    summary: Summary,
    /// `last_updated` of the objects applied.
    seen: Vec<DateTime<Utc>>,
    /// `last_updated` of the objects that could not be.
    blocked: Vec<DateTime<Utc>>,
}

/// The local row a NetBox id names, by the table's `netbox_id`.
async fn by_netbox_id<E: EntityTrait>(
    db: &impl ConnectionTrait,
    netbox_id: i32,
) -> Result<Option<E::Model>, Error> {
    Ok(E::find()
        .filter(Expr::col(Alias::new("netbox_id")).eq(netbox_id))
        .one(db)
        .await?)
}

/// Whether a row other than `except` matches `taken`.
async fn held<E: EntityTrait>(
    db: &impl ConnectionTrait,
    taken: Condition,
    except: Option<i32>,
) -> Result<bool, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let mut query = E::find().filter(taken);
    if let Some(except) = except {
        query = query.filter(Expr::col(Alias::new("id")).ne(except));
    }
    Ok(query.count(db).await? > 0)
}

/// Maps NetBox ids of tenants to local ids (ids not synced here are left out).
async fn local_tenants(
    db: &impl ConnectionTrait,
    netbox_ids: &[i32],
) -> Result<HashMap<i32, i32>, Error> {
    if netbox_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(tenant::Entity::find()
        .filter(tenant::Column::NetboxId.is_in(netbox_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|t| t.netbox_id.map(|n| (n, t.id)))
        .collect())
}

/// A row of a table NetBox can own.
trait Owned: EntityTrait {
    fn label(model: &Self::Model) -> String;
    fn ids(model: &Self::Model) -> (i32, Option<i32>);
}

macro_rules! owned {
    ($($entity:ident . $label:ident),*) => {$(
        impl Owned for $entity::Entity {
            fn label(model: &$entity::Model) -> String {
                model.$label.clone()
            }
            fn ids(model: &$entity::Model) -> (i32, Option<i32>) {
                (model.id, model.netbox_id)
            }
        }
    )*};
}

owned!(
    tenant.name,
    cluster.name,
    proxmox_endpoint.name,
    user.username,
    cloud_image_template.slug
);

impl Pass<'_> {
    fn applied(&mut self, last_updated: Option<DateTime<Utc>>) {
        self.seen.extend(last_updated);
    }

    fn conflict(&mut self, last_updated: Option<DateTime<Utc>>, what: String) {
        self.blocked.extend(last_updated);
        self.summary.conflicts.push(what);
    }

    fn counted(&mut self, created: bool) {
        if created {
            self.summary.created += 1;
        } else {
            self.summary.updated += 1;
        }
    }

    async fn tenant(&mut self, row: TenantRow) -> Result<(), Error> {
        let existing = by_netbox_id::<tenant::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::any()
            .add(tenant::Column::Name.eq(&row.name))
            .add(tenant::Column::Slug.eq(&row.slug));
        if held::<tenant::Entity>(self.txn, taken, existing.as_ref().map(|t| t.id)).await? {
            self.conflict(
                row.last_updated,
                format!("tenant `{}`: the name or slug is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let mut next = existing.clone().unwrap_or(tenant::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.slug = row.slug;
        next.description = row.description;
        self.save(existing, next).await
    }

    async fn cluster_type(&mut self, row: ClusterTypeRow) -> Result<(), Error> {
        self.applied(row.last_updated);
        let renamed = cluster::Entity::update_many()
            .col_expr(cluster::Column::ClusterType, Expr::value(row.name.clone()))
            .col_expr(cluster::Column::LastUpdated, Expr::value(self.stamp))
            .filter(cluster::Column::NetboxTypeId.eq(row.netbox_id))
            .filter(cluster::Column::ClusterType.ne(row.name))
            .exec(self.txn)
            .await?;
        self.summary.updated += u32::try_from(renamed.rows_affected).unwrap_or(u32::MAX);
        Ok(())
    }

    async fn cluster(&mut self, row: ClusterRow) -> Result<(), Error> {
        let existing = by_netbox_id::<cluster::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(cluster::Column::Name.eq(&row.name));
        if held::<cluster::Entity>(self.txn, taken, existing.as_ref().map(|c| c.id)).await? {
            self.conflict(
                row.last_updated,
                format!("cluster `{}`: the name is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let tenants = local_tenants(self.txn, &row.tenant.into_iter().collect::<Vec<_>>()).await?;
        let mut next = existing.clone().unwrap_or(cluster::Model {
            id: 0,
            name: String::new(),
            cluster_type: String::new(),
            tenant_id: None,
            description: String::new(),
            netbox_id: Some(row.netbox_id),
            netbox_type_id: None,
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.cluster_type = row.cluster_type;
        next.netbox_type_id = row.type_id;
        next.tenant_id = row.tenant.and_then(|t| tenants.get(&t).copied());
        next.description = row.description;
        self.save(existing, next).await
    }

    async fn endpoint(&mut self, row: EndpointRow) -> Result<(), Error> {
        let existing = by_netbox_id::<proxmox_endpoint::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(proxmox_endpoint::Column::Name.eq(&row.name));
        if held::<proxmox_endpoint::Entity>(self.txn, taken, existing.as_ref().map(|e| e.id))
            .await?
        {
            self.conflict(
                row.last_updated,
                format!("endpoint `{}`: the name is taken here", row.name),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let tenants = local_tenants(self.txn, &row.tenant.into_iter().collect::<Vec<_>>()).await?;
        let mut next = existing.clone().unwrap_or(proxmox_endpoint::Model {
            id: 0,
            name: String::new(),
            domain: None,
            ip_address: None,
            port: 8006,
            mode: EndpointMode::Undefined,
            verify_ssl: false,
            allow_writes: false,
            enabled: true,
            tenant_id: None,
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.domain = row.domain;
        next.ip_address = row.ip_address;
        if let Some(port) = row.port.filter(|p| (1..=65_535).contains(p)) {
            next.port = port;
        }
        if let Some(mode) = row.mode {
            next.mode = mode;
        }
        if let Some(verify_ssl) = row.verify_ssl {
            next.verify_ssl = verify_ssl;
        }
        if let Some(allow_writes) = row.allow_writes {
            next.allow_writes = allow_writes;
        }
        if let Some(enabled) = row.enabled {
            next.enabled = enabled;
        }
        next.tenant_id = row.tenant.and_then(|t| tenants.get(&t).copied());
        self.save(existing, next).await
    }

    async fn user(&mut self, row: UserRow) -> Result<(), Error> {
        let existing = by_netbox_id::<user::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::all().add(user::Column::Username.eq(&row.username));
        if held::<user::Entity>(self.txn, taken, existing.as_ref().map(|u| u.id)).await? {
            self.conflict(
                None,
                format!("user `{}`: the username is taken here", row.username),
            );
            return Ok(());
        }
        let mut next = existing.clone().unwrap_or(user::Model {
            id: 0,
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            is_active: true,
            role: Role::Viewer,
            netbox_id: Some(row.netbox_id),
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.username = row.username;
        next.first_name = row.first_name;
        next.last_name = row.last_name;
        next.email = row.email;
        next.is_active = row.is_active;
        next.role = row.role;
        self.save(existing, next).await
    }

    async fn template(&mut self, row: TemplateRow) -> Result<(), Error> {
        let Some(cluster) = by_netbox_id::<cluster::Entity>(self.txn, row.cluster).await? else {
            self.conflict(
                row.last_updated,
                format!(
                    "template `{}`: its cluster (NetBox id {}) is not synced here",
                    row.slug, row.cluster
                ),
            );
            return Ok(());
        };
        let existing =
            by_netbox_id::<cloud_image_template::Entity>(self.txn, row.netbox_id).await?;
        let taken = Condition::any()
            .add(cloud_image_template::Column::Slug.eq(&row.slug))
            .add(
                Condition::all()
                    .add(cloud_image_template::Column::ClusterId.eq(cluster.id))
                    .add(cloud_image_template::Column::SourceVmid.eq(row.source_vmid)),
            );
        if held::<cloud_image_template::Entity>(self.txn, taken, existing.as_ref().map(|t| t.id))
            .await?
        {
            self.conflict(
                row.last_updated,
                format!(
                    "template `{}`: the slug or the cluster's VMID {} is taken here",
                    row.slug, row.source_vmid
                ),
            );
            return Ok(());
        }
        self.applied(row.last_updated);
        let mut next = existing.clone().unwrap_or(cloud_image_template::Model {
            id: 0,
            name: String::new(),
            slug: String::new(),
            description: String::new(),
            cluster_id: cluster.id,
            source_vmid: row.source_vmid,
            os_family: row.os_family,
            os_release: String::new(),
            default_ciuser: String::new(),
            is_active: true,
            netbox_id: Some(row.netbox_id),
            netbox_pushed: None,
            created: self.stamp,
            last_updated: self.stamp,
        });
        next.name = row.name;
        next.slug = row.slug;
        next.description = row.description;
        next.cluster_id = cluster.id;
        next.source_vmid = row.source_vmid;
        next.os_family = row.os_family;
        next.os_release = row.os_release;
        next.default_ciuser = row.default_ciuser;
        next.is_active = row.is_active;
        // Written from NetBox, the row is in step with it: nothing to push back.
        if existing.as_ref() != Some(&next) {
            next.netbox_pushed = Some(self.stamp);
        }
        let tenants = local_tenants(self.txn, &row.allowed_tenants).await?;
        let mut wanted: Vec<i32> = tenants.into_values().collect();
        wanted.sort_unstable();
        let new = existing.is_none();
        let saved = self.save_row(existing, next).await?;
        let mut current: Vec<i32> = cloud_image_template_tenant::Entity::find()
            .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
            .all(self.txn)
            .await?
            .into_iter()
            .map(|link| link.tenant_id)
            .collect();
        current.sort_unstable();
        if current != wanted {
            cloud_image_template_tenant::Entity::delete_many()
                .filter(cloud_image_template_tenant::Column::TemplateId.eq(saved.id))
                .exec(self.txn)
                .await?;
            for tenant_id in wanted {
                cloud_image_template_tenant::ActiveModel {
                    template_id: Set(saved.id),
                    tenant_id: Set(tenant_id),
                }
                .insert(self.txn)
                .await?;
            }
            if !new && !saved.changed {
                self.summary.updated += 1;
            }
        }
        Ok(())
    }

    /// Inserts `next` or updates `existing` to it when it differs, and counts it.
    async fn save<M>(&mut self, existing: Option<M>, next: M) -> Result<(), Error>
    where
        M: Stamped,
    {
        self.save_row(existing, next).await.map(|_| ())
    }

    async fn save_row<M>(&mut self, existing: Option<M>, mut next: M) -> Result<Saved, Error>
    where
        M: Stamped,
    {
        let new = existing.is_none();
        if existing.as_ref() == Some(&next) {
            return Ok(Saved {
                id: next.id(),
                changed: false,
            });
        }
        next.stamp(self.stamp);
        let id = next.persist(self.txn, new).await?;
        self.counted(new);
        Ok(Saved { id, changed: true })
    }

    async fn delete_missing<E>(&mut self, live: &HashSet<i32>) -> Result<(), Error>
    where
        E: Owned,
        E::Model: FromQueryResult + Sync + Send,
    {
        let synced = E::find()
            .filter(Expr::col(Alias::new("netbox_id")).is_not_null())
            .all(self.txn)
            .await?;
        for row in synced {
            let (id, netbox_id) = E::ids(&row);
            if netbox_id.is_none_or(|n| live.contains(&n)) {
                continue;
            }
            let savepoint = self.txn.begin().await?;
            let deleted = E::delete_many()
                .filter(Expr::col(Alias::new("id")).eq(id))
                .exec(&savepoint)
                .await;
            match deleted {
                Ok(_) => {
                    savepoint.commit().await?;
                    self.summary.deleted += 1;
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    match conflict_on_reference(err, "id", "is still in use") {
                        Error::Conflict(_) => self.summary.kept.push(E::label(&row)),
                        other => return Err(other),
                    }
                }
            }
        }
        Ok(())
    }
}

/// What `save_row` did.
struct Saved {
    id: i32,
    changed: bool,
}

/// A model a sync writes whole: compared with what is stored, stamped, then inserted or updated.
trait Stamped: PartialEq + Sized {
    fn id(&self) -> i32;
    fn stamp(&mut self, at: DateTime<Utc>);
    async fn persist(self, txn: &DatabaseTransaction, new: bool) -> Result<i32, Error>;
}

macro_rules! stamped {
    ($($entity:ident),*) => {$(
        impl Stamped for $entity::Model {
            fn id(&self) -> i32 {
                self.id
            }
            fn stamp(&mut self, at: DateTime<Utc>) {
                self.last_updated = at;
            }
            async fn persist(self, txn: &DatabaseTransaction, new: bool) -> Result<i32, Error> {
                let active: $entity::ActiveModel = self.into();
                let saved = if new {
                    let mut active = active.reset_all();
                    active.not_set($entity::Column::Id);
                    active.insert(txn).await?
                } else {
                    active.reset_all().update(txn).await?
                };
                Ok(saved.id)
            }
        }
    )*};
}

stamped!(
    tenant,
    cluster,
    proxmox_endpoint,
    user,
    cloud_image_template
);

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::next_cursor;

    #[test]
    fn the_cursor_never_passes_an_object_not_applied() {
        let at = |s| Utc.timestamp_opt(s, 0).single().expect("an instant");
        assert_eq!(next_cursor(None, &[], &[]), None);
        assert_eq!(next_cursor(Some(at(5)), &[], &[]), Some(at(5)));
        assert_eq!(next_cursor(None, &[at(1), at(3)], &[]), Some(at(3)));
        assert_eq!(next_cursor(None, &[at(1), at(3)], &[at(2)]), Some(at(2)));
        assert_eq!(next_cursor(Some(at(4)), &[at(6)], &[]), Some(at(6)));
        assert_eq!(next_cursor(Some(at(4)), &[at(6)], &[at(2)]), Some(at(4)));
    }
}
