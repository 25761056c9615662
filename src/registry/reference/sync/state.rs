//! The state of each synced type (`netbox_sync`): its cursor, its last pass and counts, read for
//! the status and written in the pass's own transaction (or alone, for a failed pass).

use chrono::{DateTime, Utc};
use entity::netbox_sync;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set};

use super::{Kind, Summary};
use crate::{auth::Scope, error::Error, registry::tx::begin_write};

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

pub(super) async fn save_state(
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
