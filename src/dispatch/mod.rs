//! The build dispatcher (SPEC §7.1): the service runs builds itself, through a [`Backend`].
//!
//! One dispatcher per process (inside `serve` with `--dispatch`, or as `packer-gateway
//! dispatch`); any number may share one database. Each one:
//! - is woken by the event hub (a new pending build, a running build that ended and freed a
//!   slot) and by a periodic tick (the safety poll);
//! - takes pending builds oldest first and starts each **only** through the lifecycle's atomic
//!   start ([`dispatch::claim`]), which also gives it a lease on the build in the same
//!   transaction: with `max_concurrent_builds` = N never more than N run, whoever started them,
//!   and of several dispatchers exactly one wins a build (the start is guarded on `pending`);
//! - leaves a build pending, and says why once, while the image factory is off, its definition
//!   disabled or its endpoint closed to writes;
//! - renews its leases every tick, and adopts the builds whose lease expired (their dispatcher
//!   died), asking the backend whether it still knows them — nothing is run twice;
//! - stops the backend's work when a build it runs leaves `running` (a cancel, or a timeout,
//!   which it applies itself through the reaper as soon as its clock passes the build's limit);
//! - records the result through the lifecycle (the same transitions workers use, as the
//!   service): completed with the backend's report and the catalog entry, or failed with the
//!   backend's reason and the last log lines. A result for a build no longer running is dropped.
//!
//! This module reads and writes only through the registry; it never imports the doors.

mod backend;
pub mod packer;
pub mod proxbox;
mod sse;
mod stored;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use entity::enums::BuildStatus;
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    app::App,
    auth::Scope,
    config::{self, Backend as Choice},
    error::Error,
    events::{ChangeFilter, Position},
    registry::lifecycle::{self, dispatch},
    telemetry::names,
};
pub use backend::{Backend, Discard, Job, Log, LogSink, Outcome, Scrubber, TAIL, Why, Work};
pub use stored::{StoredLogs, TEMPLATE_FILE, Templates};

/// How a dispatcher runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// This dispatcher's id (the owner of its leases).
    pub owner: String,
    /// The safety poll (and the tick that renews leases, checks timeouts and adopts).
    pub poll: Duration,
    /// How long a lease lasts.
    pub lease: Duration,
}

/// A running dispatcher. Dropping it leaves it running; [`Dispatcher::kill`] stops it at once,
/// as a crash would: its leases are left to expire and be adopted.
pub struct Dispatcher {
    owner: String,
    rounds: Arc<AtomicU64>,
    /// Asks the loop to stop (SPEC §9's shutdown).
    stop: CancellationToken,
    /// The shutdown grace (`--shutdown-grace`).
    grace: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl Dispatcher {
    /// The owner id of its leases.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How many times it has looked for pending builds (each look reads them all, oldest first):
    /// a test waits for one more look instead of sleeping.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Stops it at once, with every build task it runs (their backend work is abandoned, not
    /// stopped: the lease expires and another dispatcher adopts the builds).
    pub fn kill(self) {
        self.task.abort();
    }

    /// Shuts it down (SPEC §9): it takes no more builds, waits up to the shutdown grace for the
    /// builds it runs, then fails what still runs (`dispatcher shut down`) and stops that work
    /// at the backend — a build is never left `running` with nobody following it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let (grace, mut task) = (self.grace, self.task);
        // The loop's own bound is the grace plus the backend's stop (its kill grace); this one
        // is a backstop against a backend that never returns.
        if tokio::time::timeout(grace + SHUTDOWN_BACKSTOP, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("the dispatcher did not stop in time; abandoning its builds");
            task.abort();
        }
    }
}

/// How long [`Dispatcher::shutdown`] waits beyond its grace.
const SHUTDOWN_BACKSTOP: Duration = Duration::from_secs(60);

/// What a build still running when its dispatcher shuts down fails with (SPEC §9).
pub const SHUT_DOWN: &str = "dispatcher shut down";

/// Starts the dispatcher that `app`'s configuration asks for (`--dispatch`), writing log lines
/// to `sink`; `None` with `--dispatch none`. The error is a message for the operator. The
/// `packer` backend needs the Packer template renderer (SPEC §7.4): without one it refuses.
pub fn start(app: &App, sink: Arc<dyn LogSink>) -> Result<Option<Dispatcher>, String> {
    start_with(app, "", sink, None)
}

/// [`start`], knowing the database's URL (the packer working directory's default is beside a
/// SQLite file) and with the `packer` backend's template `renderer`.
pub fn start_with(
    app: &App,
    database_url: &str,
    sink: Arc<dyn LogSink>,
    renderer: Option<Arc<dyn packer::Renderer>>,
) -> Result<Option<Dispatcher>, String> {
    let args = &app.config.dispatch;
    let (backend, secrets): (Arc<dyn Backend>, Vec<String>) = match args.backend {
        Choice::None => return Ok(None),
        Choice::Proxbox => {
            let base = args
                .proxbox_url
                .clone()
                .ok_or("--dispatch proxbox needs --proxbox-url")?;
            let key = args.proxbox_api_key.clone().ok_or(
                "--dispatch proxbox needs --proxbox-api-key (or PACKER_GATEWAY_PROXBOX_API_KEY)",
            )?;
            let backend = proxbox::Proxbox::new(proxbox::Options {
                base,
                api_key: key.expose().to_owned(),
                verify_tls: args.proxbox_verify_tls,
                retry_delay: args.dispatch_retry_delay,
                kill_grace: args.dispatch_kill_grace,
                poll: args.dispatch_poll_interval,
            })?;
            (Arc::new(backend), vec![key.expose().to_owned()])
        }
        Choice::Packer => {
            let renderer = renderer.ok_or(
                "--dispatch packer is not available yet: it needs the Packer template renderer \
                 (SPEC §7.4); use --dispatch proxbox or external workers",
            )?;
            let path = args
                .proxmox_credentials
                .as_deref()
                .ok_or("--dispatch packer needs --proxmox-credentials FILE")?;
            let backend = packer::Packer {
                bin: args.packer_bin.clone(),
                workdir: args
                    .packer_workdir
                    .clone()
                    .unwrap_or_else(|| default_workdir(database_url)),
                keep_failed: args.packer_keep_failed,
                credentials: packer::read_credentials(path)?,
                renderer,
                kill_grace: args.dispatch_kill_grace,
            };
            let secrets = backend.secrets();
            (Arc::new(backend), secrets)
        }
    };
    Ok(Some(spawn(
        app,
        backend,
        Arc::new(Scrubber::new(secrets)),
        sink,
        options(args),
    )))
}

/// `packer-builds` beside a SQLite database file, else in the current directory.
fn default_workdir(database_url: &str) -> std::path::PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|file| !file.is_empty() && !file.contains(":memory:"));
    match file.and_then(|f| std::path::Path::new(f).parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("packer-builds"),
        _ => std::path::PathBuf::from("packer-builds"),
    }
}

/// The options `args` give, with a fresh owner id.
pub fn options(args: &config::Dispatch) -> Options {
    Options {
        owner: format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        ),
        poll: args.dispatch_poll_interval,
        lease: args.dispatch_lease,
    }
}

/// Starts a dispatcher of `backend` on `app`.
pub fn spawn(
    app: &App,
    backend: Arc<dyn Backend>,
    scrubber: Arc<Scrubber>,
    sink: Arc<dyn LogSink>,
    options: Options,
) -> Dispatcher {
    let owner = options.owner.clone();
    let rounds = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(Shared {
        app: app.clone(),
        backend,
        scrubber,
        sink,
        options,
        rounds: rounds.clone(),
    });
    let stop = CancellationToken::new();
    let grace = app.config.subscriptions.shutdown_grace + app.config.dispatch.dispatch_kill_grace;
    let task = tokio::spawn(run(shared, stop.clone()));
    Dispatcher {
        owner,
        rounds,
        stop,
        grace,
        task,
    }
}

/// What every task of a dispatcher shares.
struct Shared {
    app: App,
    backend: Arc<dyn Backend>,
    scrubber: Arc<Scrubber>,
    sink: Arc<dyn LogSink>,
    options: Options,
    /// Looks for pending builds done.
    rounds: Arc<AtomicU64>,
}

impl Shared {
    fn until(&self) -> chrono::DateTime<chrono::Utc> {
        self.app.clock.now()
            + chrono::Duration::from_std(self.options.lease).unwrap_or(chrono::Duration::MAX)
    }
}

/// The dispatcher's state between wake-ups.
struct Loop {
    shared: Arc<Shared>,
    /// The builds it runs, with the signal that stops their backend work.
    running: HashMap<i32, CancellationToken>,
    /// Their tasks (aborted with the dispatcher).
    tasks: JoinSet<i32>,
    /// Pending builds held back, and why (logged once per reason).
    held: HashMap<i32, &'static str>,
    /// Whether "the image factory is off" was logged since it last was on.
    factory_off: bool,
}

async fn run(shared: Arc<Shared>, stop: CancellationToken) {
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

    /// Renews the leases of the builds this dispatcher runs, stops the work on those that left
    /// `running`, and fails those past their timeout (SPEC §2.4) at once.
    async fn watch(&mut self) {
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
    async fn adopt(&mut self) {
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

    /// Runs `job` on the backend in a task of its own.
    fn launch(&mut self, job: Job, adopted: bool) {
        let stop = CancellationToken::new();
        self.running.insert(job.build.id, stop.clone());
        let shared = self.shared.clone();
        self.tasks.spawn(drive(shared, job, adopted, stop));
    }
}

/// Runs one build to its end and records the result.
async fn drive(shared: Arc<Shared>, job: Job, adopted: bool, stop: CancellationToken) -> i32 {
    let id = job.build.id;
    let record = {
        let app = shared.app.clone();
        move |backend_id: String| {
            let app = app.clone();
            Box::pin(async move {
                if let Err(err) =
                    dispatch::set_backend_build_id(&app.db, app.clock.now(), id, &backend_id).await
                {
                    tracing::warn!(build = id, error = ?err, "cannot record the backend's build id");
                }
            }) as futures_util::future::BoxFuture<'static, ()>
        }
    };
    let work = Work {
        stop,
        log: Log::new(id, shared.scrubber.clone(), shared.sink.clone()),
        record: Box::new(record),
    };
    let backend = shared.backend.name();
    let started = std::time::Instant::now();
    let outcome = if adopted {
        metrics::counter!(names::DISPATCH_ADOPTIONS, "backend" => backend).increment(1);
        shared.backend.adopt(&job, &work).await
    } else {
        metrics::counter!(names::DISPATCH_SUBMISSIONS, "backend" => backend).increment(1);
        shared.backend.run(&job, &work).await
    };
    let ended = match &outcome {
        Outcome::Completed { .. } => "completed",
        Outcome::Failed { why, .. } => {
            metrics::counter!(names::DISPATCH_FAILURES, "backend" => backend, "reason" => why.label())
                .increment(1);
            "failed"
        }
        Outcome::Stopped => "stopped",
    };
    metrics::histogram!(names::DISPATCH_BACKEND_DURATION, "backend" => backend, "outcome" => ended)
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(build = id, ?outcome, "the backend's work ended");
    let app = &shared.app;
    let now = app.clock.now();
    let reported = match outcome {
        Outcome::Completed {
            response,
            output_vmid,
        } => {
            let response = shared.scrubber.json(response);
            dispatch::complete(&app.db, &app.events, now, id, output_vmid, Some(response))
                .await
                .map(|_| ())
        }
        Outcome::Failed { reason, .. } => {
            let mut error = shared.scrubber.text(&reason);
            let tail = work.log.tail();
            if !tail.is_empty() {
                error.push_str("\n--- last log lines ---\n");
                error.push_str(&tail.join("\n"));
            }
            dispatch::fail(&app.db, &app.events, now, id, error, None)
                .await
                .map(|_| ())
        }
        Outcome::Stopped => Ok(()),
    };
    match reported {
        Ok(()) => {}
        Err(Error::InvalidTransition { from, .. }) => {
            tracing::info!(build = id, status = ?from, "dropped the backend's report: the build is no longer running");
        }
        Err(err) => tracing::warn!(build = id, error = ?err, "cannot record the build's result"),
    }
    if let Err(err) = dispatch::release(&app.db, id, &shared.options.owner).await {
        tracing::warn!(build = id, error = ?err, "cannot release the build's lease");
    }
    id
}

/// This host's name, for owner ids (`HOSTNAME`, else `localhost`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
