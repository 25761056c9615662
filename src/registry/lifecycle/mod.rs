//! The build lifecycle (SPEC §2): queue, start, complete, fail, cancel, rebuild, and the timeout
//! reaper.
//!
//! Every transition is one transaction: a status-guarded `UPDATE … WHERE status = <from>`, its
//! `build_event` row and its side effects (catalog publish) commit together or not at all, and
//! subscribers are woken after the commit. Lifecycle transactions serialise on the lifecycle lock
//! (see [`begin_lifecycle`]), which is what makes `max_concurrent_builds` hold under any
//! interleaving, on one instance or many.
//!
//! The jobs are split: `queue` (queue and rebuild, with the gates of SPEC §2.2), `report` (what
//! a worker reports: start, complete, fail, cancel), `idempotency` (keyed queue requests) and
//! `reaper` (the timeout reaper); this module holds the transition table and the one way a
//! status changes (`transition`).

pub mod dispatch;
mod idempotency;
mod queue;
mod reaper;
mod report;

pub use queue::{QueueRequest, queue, rebuild};
pub use reaper::reap;
pub use report::{cancel, complete, fail, start};

use chrono::{DateTime, Utc};
use entity::{build_event, enums::BuildStatus, image_build};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    Set,
};
use serde_json::Value as Json;

use super::{Ctx, events::prepare_event_write, id::Id, read, rules, tx::begin_lifecycle};
use crate::error::Error;

/// Who moves a build and when: the actor its event records (none for the service itself) and
/// the instant of the change.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mover {
    pub(super) actor: Option<i32>,
    at: DateTime<Utc>,
}

impl Mover {
    /// The principal of `ctx`, now.
    pub(super) fn of(ctx: Ctx<'_>) -> Self {
        Mover {
            actor: ctx.principal.user_id(),
            at: ctx.clock.now(),
        }
    }

    /// The service itself (the timeout reaper) at `at`.
    pub(super) fn service(at: DateTime<Utc>) -> Self {
        Mover { actor: None, at }
    }

    /// The instant of the change.
    pub(super) fn at(self) -> DateTime<Utc> {
        self.at
    }
}

/// Whether SPEC §2.1 allows `from → to` (`completed → pending` is a rebuild: a new build).
pub fn allowed(from: BuildStatus, to: BuildStatus) -> bool {
    use BuildStatus::{Cancelled, Completed, Failed, Pending, Running};
    matches!(
        (from, to),
        (Pending, Running | Cancelled | Failed)
            | (Running, Completed | Failed | Cancelled)
            | (Completed, Pending)
    )
}

/// Opens the lifecycle transaction for moving build `id` to `to`: the build must be visible to
/// the caller (else `NOT_FOUND`) and allowed to move (else `INVALID_STATUS_TRANSITION`). The
/// caller's role was checked before.
pub(super) async fn open(
    ctx: Ctx<'_>,
    id: Id<image_build::Entity>,
    to: BuildStatus,
) -> Result<(DatabaseTransaction, image_build::Model), Error> {
    let txn = begin_lifecycle(ctx.db).await?;
    let build = read::get::<image_build::Entity>(&txn, &ctx.principal.scope(), id).await?;
    refuse_unless_allowed(build.status, to)?;
    Ok((txn, build))
}

/// Commits a transition and wakes this instance's subscribers.
pub(super) async fn commit(
    ctx: Ctx<'_>,
    txn: DatabaseTransaction,
    build: image_build::Model,
) -> Result<image_build::Model, Error> {
    txn.commit().await?;
    ctx.events.committed();
    Ok(build)
}

/// `INVALID_STATUS_TRANSITION` unless SPEC §2.1 allows `from → to`.
pub(super) fn refuse_unless_allowed(from: BuildStatus, to: BuildStatus) -> Result<(), Error> {
    if allowed(from, to) {
        Ok(())
    } else {
        Err(Error::InvalidTransition {
            from: Some(from),
            to,
        })
    }
}

/// A JSON field's size rule.
pub(super) fn check_json(c: &mut rules::Checks, field: &str, value: Option<&Json>) {
    if let Some(value) = value {
        c.check(
            field,
            serde_json::to_vec(value).map_or(0, |b| b.len()) <= rules::MAX_JSON_BYTES,
            "must be at most 64 KiB of JSON",
        );
    }
}

/// Moves `build` to `to` with `changes`, guarded on its current status, and records the event.
pub(super) async fn transition(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    to: BuildStatus,
    mut changes: image_build::ActiveModel,
    mover: Mover,
    message: &str,
) -> Result<image_build::Model, Error> {
    let from = build.status;
    refuse_unless_allowed(from, to)?;
    changes.status = Set(to);
    changes.last_updated = Set(mover.at);
    let updated = image_build::Entity::update_many()
        .set(changes)
        .filter(image_build::Column::Id.eq(build.id))
        .filter(image_build::Column::Status.eq(from))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        let current = image_build::Entity::find_by_id(build.id)
            .one(txn)
            .await?
            .map(|b| b.status);
        return Err(Error::InvalidTransition { from: current, to });
    }
    let build = image_build::Entity::find_by_id(build.id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    insert_event(txn, build.id, Some(from), to, mover, message).await?;
    Ok(build)
}

/// Inserts the event of a change, keeping the writers' contract of [`super::events`].
pub(super) async fn insert_event(
    txn: &impl ConnectionTrait,
    build: i32,
    from: Option<BuildStatus>,
    to: BuildStatus,
    mover: Mover,
    message: &str,
) -> Result<(), Error> {
    prepare_event_write(txn).await?;
    build_event::ActiveModel {
        build_id: Set(build),
        from_status: Set(from),
        to_status: Set(to),
        actor_id: Set(mover.actor),
        message: Set(message.to_owned()),
        at: Set(mover.at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use entity::enums::BuildStatus::{self, Cancelled, Completed, Failed, Pending, Running};

    use super::allowed;

    #[test]
    fn the_transition_table_of_the_spec_over_every_pair() {
        let all = [Pending, Running, Failed, Completed, Cancelled];
        let table: [(BuildStatus, BuildStatus); 7] = [
            (Pending, Running),
            (Pending, Cancelled),
            (Pending, Failed),
            (Running, Completed),
            (Running, Failed),
            (Running, Cancelled),
            (Completed, Pending),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    allowed(from, to),
                    table.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
