//! The dispatcher's loop: woken by the event hub and by its tick, it claims pending builds
//! oldest first through the lifecycle's atomic start, holds back (and says why once) those that
//! may not start, launches each claimed build in a task of its own, and shuts down (SPEC §9).

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use entity::enums::BuildStatus;
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Job, SHUT_DOWN, Shared, drive::drive};
use crate::{
    app::App,
    auth::Scope,
    error::Error,
    events::{ChangeFilter, Position},
    registry::lifecycle::dispatch,
};

/// The dispatcher's state between wake-ups.
pub(super) struct Loop {
    pub(super) shared: Arc<Shared>,
    /// The builds it runs, with the signal that stops their backend work.
    pub(super) running: HashMap<i32, CancellationToken>,
    /// Their tasks (aborted with the dispatcher).
    pub(super) tasks: JoinSet<i32>,
    /// Pending builds held back, and why (logged once per reason).
    pub(super) held: HashMap<i32, &'static str>,
    /// Whether "the image factory is off" was logged since it last was on.
    pub(super) factory_off: bool,
}

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    tracing::info!(
        owner = shared.options.owner,
        backend = shared.backend.name(),
        "the build dispatcher starts"
    );
    let mut state = Loop {
        shared: shared.clone(),
        running: HashMap::new(),
        tasks: JoinSet::new(),
        held: HashMap::new(),
        factory_off: false,
    };
    let tick = shared.options.poll.min(shared.options.lease / 3);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changes = subscribe(&shared.app);
    loop {
        tokio::select! {
            change = changes.next() => match change {
                Some(Ok(change)) => {
                    // An event can arrive after the build moved on (the creation event of a
                    // build already claimed): only a move out of `running` stops the work.
                    let left = change.event.from_status == Some(BuildStatus::Running);
                    if left && let Some(stop) = state.running.get(&change.build.id) {
                        stop.cancel();
                    }
                    if left || change.event.to_status == BuildStatus::Pending {
                        state.dispatch().await;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(error = ?err, "the dispatcher's event stream failed; resubscribing");
                    changes = subscribe(&shared.app);
                }
                None => changes = subscribe(&shared.app),
            },
            _ = ticker.tick() => {
                state.watch().await;
                state.adopt().await;
                state.dispatch().await;
            }
            Some(ended) = state.tasks.join_next() => {
                if let Ok(id) = ended {
                    state.running.remove(&id);
                }
                state.dispatch().await;
            }
            () = stop.cancelled() => break,
        }
    }
    state.shut_down().await;
}

fn subscribe(
    app: &App,
) -> futures_util::stream::BoxStream<'static, Result<Arc<crate::events::Change>, Error>> {
    app.events.subscribe(
        Scope::service(),
        ChangeFilter::default(),
        None,
        Position::default(),
    )
}

impl Loop {
    /// Waits up to the shutdown grace for the builds it runs; then fails each one still running
    /// and stops its backend work (whose report, arriving for a build no longer running, is
    /// dropped), waiting for that as long as the backend's stop may take.
    async fn shut_down(&mut self) {
        let grace = self.shared.app.config.subscriptions.shutdown_grace;
        let finished = async {
            while let Some(ended) = self.tasks.join_next().await {
                if let Ok(id) = ended {
                    self.running.remove(&id);
                }
            }
        };
        if tokio::time::timeout(grace, finished).await.is_ok() {
            return;
        }
        let app = &self.shared.app;
        for (&id, stop) in &self.running {
            match dispatch::fail(
                &app.db,
                &app.events,
                app.clock.now(),
                id,
                SHUT_DOWN.to_owned(),
                None,
            )
            .await
            {
                Ok(_) | Err(Error::InvalidTransition { .. }) => {}
                Err(err) => {
                    tracing::warn!(build = id, error = ?err, "cannot fail the build at shutdown")
                }
            }
            stop.cancel();
        }
        let stopped = async { while self.tasks.join_next().await.is_some() {} };
        let kill_grace =
            self.shared.app.config.dispatch.dispatch_kill_grace + Duration::from_secs(5);
        if tokio::time::timeout(kill_grace, stopped).await.is_err() {
            tracing::warn!("some backend work did not stop in time");
            self.tasks.abort_all();
        }
    }

    /// Claims pending builds, oldest first, until none is left or the limit is reached.
    async fn dispatch(&mut self) {
        let shared = self.shared.clone();
        let db = &shared.app.db;
        let pending = match dispatch::pending(db, 100).await {
            Ok(pending) => pending,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read the pending builds; retrying later");
                return;
            }
        };
        let message = format!("dispatched to {}", shared.backend.name());
        self.claim_all(pending, &message).await;
        shared.rounds.fetch_add(1, Ordering::SeqCst);
    }

    /// Claims `pending` in order until the limit is reached or the factory is off.
    async fn claim_all(&mut self, pending: Vec<i32>, message: &str) {
        let shared = self.shared.clone();
        let db = &shared.app.db;
        for id in pending {
            let lease = dispatch::Lease {
                owner: &shared.options.owner,
                backend: shared.backend.name(),
                until: shared.until(),
            };
            let now = shared.app.clock.now();
            match dispatch::claim(db, &shared.app.events, now, id, lease, message).await {
                Ok(job) => {
                    self.held.remove(&id);
                    self.factory_off = false;
                    tracing::info!(
                        build = id,
                        backend = shared.backend.name(),
                        "build dispatched"
                    );
                    self.launch(job, false);
                }
                Err(Error::ConcurrencyLimit { .. }) => return,
                Err(Error::InvalidTransition { .. } | Error::NotFound) => {}
                Err(Error::FeatureDisabled { .. }) => {
                    if !self.factory_off {
                        tracing::info!("the image factory is off: pending builds stay pending");
                        self.factory_off = true;
                    }
                    return;
                }
                Err(Error::DefinitionDisabled) => self.hold(id, "its definition is disabled"),
                Err(Error::EndpointWritesDisabled) => {
                    self.hold(id, "its endpoint is disabled or does not allow writes")
                }
                Err(err) => {
                    tracing::warn!(build = id, error = ?err, "cannot dispatch the build; retrying later");
                    return;
                }
            }
        }
    }

    fn hold(&mut self, id: i32, why: &'static str) {
        if self.held.insert(id, why) != Some(why) {
            tracing::info!(build = id, "build stays pending: {why}");
        }
    }

    /// Runs `job` on the backend in a task of its own.
    pub(super) fn launch(&mut self, job: Job, adopted: bool) {
        let stop = CancellationToken::new();
        self.running.insert(job.build.id, stop.clone());
        let shared = self.shared.clone();
        self.tasks.spawn(drive(shared, job, adopted, stop));
    }
}
