//! The timeout reaper (SPEC §2.4): running builds older than their timeout fail, as the service.

use chrono::{DateTime, Duration, Utc};
use entity::{enums::BuildStatus, image_build};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{Mover, report::fail_in};
use crate::{
    error::Error,
    registry::{events::Wake, tx::begin_lifecycle},
};

/// Fails every running build older than its timeout (SPEC §2.4), as the service itself; `now` is
/// the reaper's clock. Returns the ids of the builds it failed.
pub async fn reap(
    db: &DatabaseConnection,
    events: &dyn Wake,
    now: DateTime<Utc>,
) -> Result<Vec<i32>, Error> {
    // Only the builds that can time out: a running build without a start or a timeout is never
    // reaped, so it is not read (nor decoded) every interval.
    let running = image_build::Entity::find()
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .filter(image_build::Column::StartedAt.is_not_null())
        .filter(image_build::Column::TimeoutSeconds.is_not_null())
        .all(db)
        .await?;
    let mut reaped = Vec::new();
    for build in running {
        let (Some(started), Some(timeout)) = (build.started_at, build.timeout_seconds) else {
            continue;
        };
        if started + Duration::seconds(i64::from(timeout)) > now {
            continue;
        }
        let txn = begin_lifecycle(db).await?;
        let error = format!("job timed out after {timeout} s");
        match fail_in(&txn, &build, error, None, Mover::service(now)).await {
            Ok(_) => {
                txn.commit().await?;
                events.committed();
                reaped.push(build.id);
            }
            // Reported or cancelled meanwhile: nothing to reap.
            Err(Error::InvalidTransition { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(reaped)
}
