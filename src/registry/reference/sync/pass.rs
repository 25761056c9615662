//! The work of one transaction of a pass: what it applied and what it could not (the cursor's
//! inputs), the lookups every type shares, a row written whole when it differs, and the rows gone
//! from NetBox deleted — or kept when something still references them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait},
};

use super::Summary;
use crate::error::{Error, conflict_on_reference};
use crate::registry::rows::ByIndex;

/// The work of one transaction.
pub(super) struct Pass<'a> {
    pub(super) txn: &'a DatabaseTransaction,
    pub(super) stamp: DateTime<Utc>,
    pub(super) summary: Summary,
    /// `last_updated` of the objects applied.
    pub(super) seen: Vec<DateTime<Utc>>,
    /// `last_updated` of the objects that could not be.
    pub(super) blocked: Vec<DateTime<Utc>>,
}

/// The local row a NetBox id names, by the table's `netbox_id`.
pub(super) async fn by_netbox_id<E: EntityTrait>(
    db: &impl ConnectionTrait,
    netbox_id: i32,
) -> Result<Option<E::Model>, Error> {
    Ok(E::find()
        .filter(Expr::col(Alias::new("netbox_id")).eq(netbox_id))
        .one(db)
        .await?)
}

/// Whether a row other than `except` matches `taken`.
pub(super) async fn held<E: EntityTrait>(
    db: &impl ConnectionTrait,
    taken: Condition,
    except: Option<i32>,
) -> Result<bool, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let mut query = E::find().filter(taken);
    if let Some(except) = except {
        query = query.filter(Expr::col(Alias::new("id")).ne(except));
    }
    Ok(query.count(db).await? > 0)
}

/// Maps NetBox ids of tenants to local ids (ids not synced here are left out).
pub(super) async fn local_tenants(
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
pub(super) trait Owned: EntityTrait {
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
    pub(super) fn applied(&mut self, last_updated: Option<DateTime<Utc>>) {
        self.seen.extend(last_updated);
    }

    pub(super) fn conflict(&mut self, last_updated: Option<DateTime<Utc>>, what: String) {
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

    /// Inserts `next` or updates `existing` to it when it differs, and counts it.
    pub(super) async fn save<M>(&mut self, existing: Option<M>, next: M) -> Result<(), Error>
    where
        M: Stamped,
    {
        self.save_row(existing, next).await.map(|_| ())
    }

    pub(super) async fn save_row<M>(
        &mut self,
        existing: Option<M>,
        mut next: M,
    ) -> Result<Saved, Error>
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

    pub(super) async fn delete_missing<E>(&mut self, live: &HashSet<i32>) -> Result<(), Error>
    where
        E: Owned,
        E::Model: ByIndex + Sync + Send,
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
pub(super) struct Saved {
    pub(super) id: i32,
    pub(super) changed: bool,
}

/// A model a sync writes whole: compared with what is stored, stamped, then inserted or updated.
pub(super) trait Stamped: PartialEq + Sized {
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
