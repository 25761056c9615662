//! The dispatcher's leases: renewed every tick for the builds it runs (whose work stops when
//! they leave `running`, and which it fails at once past their timeout), and the builds of
//! dead dispatchers adopted when their lease expired.

use entity::enums::BuildStatus;

use super::run::Loop;
use crate::registry::lifecycle::{self, dispatch};

impl Loop {
    /// Renews the leases of the builds this dispatcher runs, stops the work on those that left
    /// `running`, and fails those past their timeout (SPEC §2.4) at once.
    pub(super) async fn watch(&mut self) {
        let shared = self.shared.clone();
        let db = &shared.app.db;
        let ids: Vec<i32> = self.running.keys().copied().collect();
        if let Err(err) = dispatch::renew(db, &shared.options.owner, &ids, shared.until()).await {
            tracing::warn!(error = ?err, "cannot renew the dispatcher's leases");
        }
        let now = shared.app.clock.now();
        let mut overdue = false;
        for id in ids {
            match dispatch::build(db, id).await {
                Ok(build) if build.status != BuildStatus::Running => {
                    if let Some(stop) = self.running.get(&id) {
                        stop.cancel();
                    }
                }
                Ok(build) => {
                    if let (Some(started), Some(timeout)) =
                        (build.started_at, build.timeout_seconds)
                        && started + chrono::Duration::seconds(i64::from(timeout)) <= now
                    {
                        overdue = true;
                    }
                }
                Err(err) => tracing::warn!(build = id, error = ?err, "cannot read the build"),
            }
        }
        if overdue {
            match lifecycle::reap(db, &shared.app.events, now).await {
                Ok(reaped) => {
                    for id in reaped {
                        if let Some(stop) = self.running.get(&id) {
                            stop.cancel();
                        }
                    }
                }
                Err(err) => tracing::warn!(error = ?err, "cannot fail the builds that timed out"),
            }
        }
    }

    /// Adopts the builds of this backend whose lease expired.
    pub(super) async fn adopt(&mut self) {
        let shared = self.shared.clone();
        let db = &shared.app.db;
        let now = shared.app.clock.now();
        let expired = match dispatch::expired(db, shared.backend.name(), now).await {
            Ok(expired) => expired,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read the expired leases");
                return;
            }
        };
        for lease in expired {
            if lease.owner == shared.options.owner || self.running.contains_key(&lease.build_id) {
                continue;
            }
            match dispatch::adopt(db, &lease, &shared.options.owner, shared.until()).await {
                Ok(Some(job)) => {
                    tracing::info!(
                        build = job.build.id,
                        from = lease.owner,
                        "adopted a build whose dispatcher died"
                    );
                    self.launch(job, true);
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(build = lease.build_id, error = ?err, "cannot adopt the build")
                }
            }
        }
    }
}
