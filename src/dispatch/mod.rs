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
mod drive;
mod leases;
pub mod packer;
pub mod proxbox;
mod run;
mod sse;
mod stored;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use self::run::run;
use crate::{
    app::App,
    config::{self, Backend as Choice},
    registry::logs::Secrets,
};

pub use backend::{Backend, Discard, Job, Log, LogSink, Outcome, TAIL, Why, Work};
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
            // Its key is in the start-up list of secrets already (`App::logs`).
            (Arc::new(backend), Vec::new())
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
        Arc::new(app.logs.secrets().with(secrets)),
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
    scrubber: Arc<Secrets>,
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
    scrubber: Arc<Secrets>,
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

/// This host's name, for owner ids (`HOSTNAME`, else `localhost`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
