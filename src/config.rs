//! Configuration from flags and environment variables (`PACKER_GATEWAY_*`). There is no
//! `Default`: every value comes from here, and tests parse a command line like production does.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};

/// `packer-gateway`: the source of truth for Packer image definitions and builds.
#[derive(Parser, Debug)]
#[command(name = "packer-gateway", version, about)]
pub struct Cli {
    /// Database: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "PACKER_GATEWAY_DATABASE_URL",
        default_value = "sqlite://packer-gateway.db",
        global = true
    )]
    pub database_url: String,

    /// Log lines: `text` (human-readable, coloured only on a terminal) or `json` (one object per
    /// line: timestamp, level, target, message, fields, and the request's span with its id).
    #[arg(
        long,
        env = "PACKER_GATEWAY_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, also accepted without the word `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable; colours only when standard error is a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The command to run, `serve` when none is given.
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve GraphQL, GraphiQL and subscriptions (the default).
    Serve(ServeArgs),
    /// Print the GraphQL schema (SDL) to standard output.
    ExportSchema,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the build dispatcher only (no HTTP listener): takes the `serve` options, of which
    /// `--dispatch` must name a backend.
    Dispatch(ServeArgs),
    /// Sync reference data from an outside source once, print a summary and exit.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Print the HCL2 Packer template of a definition (its default variables) or of one of its
    /// builds (the build's effective variables).
    Render {
        /// The definition's slug.
        #[arg(long)]
        definition: String,
        /// The id of one of its builds.
        #[arg(long)]
        build: Option<i64>,
    },
}

/// `packer-gateway sync …`
#[derive(Subcommand, Debug)]
pub enum SyncCommand {
    /// One pass of the NetBox sync (SPEC §10): every type, in order.
    Netbox(NetboxArgs),
}

/// `packer-gateway user …`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// Login name.
        username: String,
        /// Role: viewer, operator, worker or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Slug of a tenant of the user (repeatable).
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
    },
}

/// `packer-gateway token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret once.
    Create {
        /// The user that owns it.
        #[arg(long)]
        user: String,
        /// A token that may only read.
        #[arg(long)]
        read_only: bool,
        /// Expiry: an RFC 3339 instant or a number of days (`30d`).
        #[arg(long)]
        expires: Option<String>,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Disable a token for good.
    Revoke {
        /// The token's id.
        id: i32,
    },
}

/// Options of `serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PACKER_GATEWAY_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Load a realistic sample into an empty database (tenants, clusters, endpoints, ~20
    /// definitions, ~500 builds in every status).
    #[arg(long, env = "PACKER_GATEWAY_DEMO")]
    pub demo: bool,

    /// Let requests without credentials read definitions without allowed tenants, and their
    /// builds (nothing else).
    #[arg(long, env = "PACKER_GATEWAY_ANONYMOUS_READ")]
    pub anonymous_read: bool,

    /// Do not serve `/metrics` (it needs no credentials: switch it off where the port is
    /// reachable by those who should not read it).
    #[arg(long, env = "PACKER_GATEWAY_NO_METRICS")]
    pub no_metrics: bool,

    /// Seconds between two runs of the build timeout reaper.
    #[arg(long, env = "PACKER_GATEWAY_REAPER_INTERVAL", default_value_t = 30)]
    pub reaper_interval: u64,

    /// Query and transport limits.
    #[command(flatten)]
    pub limits: Limits,

    /// Build events and subscriptions.
    #[command(flatten)]
    pub subscriptions: Subscriptions,

    /// Browser and frontend clients: CORS and automatic persisted queries.
    #[command(flatten)]
    pub clients: Clients,

    /// Tokens in memory.
    #[command(flatten)]
    pub tokens: Tokens,

    /// Build dispatch (SPEC §7): which backend runs builds, and how.
    #[command(flatten)]
    pub dispatch: Dispatch,

    /// Hostile and overload traffic: connections, load shedding, rate limits, websockets.
    #[command(flatten)]
    pub overload: Overload,

    /// NetBox as the source of reference data.
    #[command(flatten)]
    pub netbox: NetboxArgs,

    /// Build logs.
    #[command(flatten)]
    pub logs: Logs,
}

/// Build logs (see `registry::logs`).
#[derive(Args, Debug, Clone)]
pub struct Logs {
    /// A secret value replaced by `***` in every build log line before it is stored (an API
    /// key, a Proxmox token); repeat it or separate with commas. Never logged.
    #[arg(long = "log-secret", env = "PACKER_GATEWAY_LOG_SECRETS", value_delimiter = ',',
          hide_env_values = true, value_parser = secret)]
    pub log_secrets: Vec<Secret>,
    /// Seconds between two reads of the table by a `buildLog` subscriber that heard nothing (lines
    /// written by another instance reach it this way).
    #[arg(long, env = "PACKER_GATEWAY_LOG_POLL_INTERVAL", default_value = "1",
          value_parser = seconds)]
    pub log_poll_interval: Duration,
}

/// What bounds the work hostile or excessive traffic can cause (see `admission` and
/// `http::serve`). Durations are in seconds and may have a fraction.
#[derive(Args, Debug, Clone)]
pub struct Overload {
    /// Seconds a client has to send a whole request head, counted from the connection's start or
    /// the end of its previous request (so it is also the idle keep-alive timeout); the
    /// connection is closed beyond.
    #[arg(long, env = "PACKER_GATEWAY_HEADER_READ_TIMEOUT", default_value = "10",
          value_parser = seconds)]
    pub header_read_timeout: Duration,
    /// Most HTTP connections served at once (an upgraded websocket leaves the count:
    /// `--ws-max-sockets` counts it); further clients wait in the listen backlog until one
    /// closes.
    #[arg(long, env = "PACKER_GATEWAY_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Largest request head, in bytes; also the most bytes of pipelined requests read ahead on a
    /// connection (requests on one connection are served one after the other).
    #[arg(long, env = "PACKER_GATEWAY_MAX_HEAD_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_head_bytes: u32,
    /// Most requests executing at once; 0 means the size of the database pool.
    #[arg(
        long,
        env = "PACKER_GATEWAY_MAX_CONCURRENT_REQUESTS",
        default_value_t = 0
    )]
    pub max_concurrent_requests: u32,
    /// Most requests waiting for one of those places; one more is refused at once (503
    /// `SERVER_BUSY`).
    #[arg(long, env = "PACKER_GATEWAY_MAX_QUEUED_REQUESTS", default_value_t = 64)]
    pub max_queued_requests: u32,
    /// Seconds a request waits for a place before it is refused (503 `SERVER_BUSY`).
    #[arg(long, env = "PACKER_GATEWAY_QUEUE_TIMEOUT", default_value = "0.25",
          value_parser = seconds)]
    pub queue_timeout: Duration,
    /// A rate limit per principal, `ROLE=PER_SECOND[/BURST]` (token bucket; the burst defaults to
    /// one second's worth): ROLE is viewer, operator, worker, admin, anonymous (per client
    /// address) or `*` (every role not named). Repeat the flag or separate with commas. Off by
    /// default. Applies to requests of both doors and to websocket operations (429
    /// `RATE_LIMITED`).
    #[arg(long = "rate-limit", env = "PACKER_GATEWAY_RATE_LIMIT", value_delimiter = ',',
          value_parser = rate_limit)]
    pub rate_limits: Vec<RateLimit>,
    /// Most websockets open at once (503 `SERVER_BUSY` on the upgrade beyond).
    #[arg(long, env = "PACKER_GATEWAY_WS_MAX_SOCKETS", default_value_t = 10_000)]
    pub ws_max_sockets: u32,
    /// Most websockets open at once for one principal (a user; anonymous readers by address);
    /// one more is closed with 1008 after `connection_init`.
    #[arg(
        long,
        env = "PACKER_GATEWAY_WS_MAX_SOCKETS_PER_PRINCIPAL",
        default_value_t = 100
    )]
    pub ws_max_sockets_per_principal: u32,
    /// Most operations a websocket may start per second (a token bucket whose burst is this or
    /// `--max-subscriptions` + 1, the larger, so that a client can start all its subscriptions at
    /// once); one more gets an `error` message with `RATE_LIMITED` and the socket stays open.
    #[arg(long, env = "PACKER_GATEWAY_WS_OPERATIONS_PER_SECOND", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_operations_per_second: u32,
    /// A reverse proxy whose `X-Forwarded-For` is trusted, as a CIDR block or an address
    /// (`10.0.0.0/8`, `::1`); repeat the flag or separate with commas. None by default: the
    /// client's address is the connection's peer. Behind trusted proxies it is the rightmost
    /// address of `X-Forwarded-For` that is not a trusted proxy.
    #[arg(long = "trusted-proxy", env = "PACKER_GATEWAY_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Who a rate limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateSubject {
    /// Users of a role (`viewer`, `operator`, `worker`, `admin`).
    Role(entity::enums::Role),
    /// Requests without credentials (with `--anonymous-read`), each client address apart.
    Anonymous,
    /// Every principal whose role has no limit of its own.
    Others,
}

/// One `--rate-limit`: a token bucket per principal of `subject`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Who it applies to.
    pub subject: RateSubject,
    /// Tokens added per second.
    pub per_second: f64,
    /// Tokens the bucket holds (the burst).
    pub burst: f64,
}

/// `ROLE=PER_SECOND[/BURST]`.
fn rate_limit(text: &str) -> Result<RateLimit, String> {
    use entity::enums::Role;
    let refused = || {
        format!(
            "`{text}` is not a rate limit: write ROLE=PER_SECOND or ROLE=PER_SECOND/BURST, ROLE \
             one of viewer, operator, worker, admin, anonymous, * (e.g. `viewer=20/40`)"
        )
    };
    let (who, rate) = text.trim().split_once('=').ok_or_else(refused)?;
    let subject = match who.trim().to_lowercase().as_str() {
        "viewer" => RateSubject::Role(Role::Viewer),
        "operator" => RateSubject::Role(Role::Operator),
        "worker" => RateSubject::Role(Role::Worker),
        "admin" => RateSubject::Role(Role::Admin),
        "anonymous" => RateSubject::Anonymous,
        "*" => RateSubject::Others,
        _ => return Err(refused()),
    };
    let (per_second, burst) = match rate.split_once('/') {
        Some((per_second, burst)) => (per_second, Some(burst)),
        None => (rate, None),
    };
    let positive = |text: &str| match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 && value < 1e9 => Ok(value),
        _ => Err(refused()),
    };
    let per_second = positive(per_second)?;
    let burst = match burst {
        Some(burst) => positive(burst)?,
        None => per_second,
    }
    .max(1.0);
    Ok(RateLimit {
        subject,
        per_second,
        burst,
    })
}

/// Which backend runs the builds (SPEC §7).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// No dispatcher: external workers move builds through the lifecycle mutations.
    None,
    /// proxbox-api's image factory (`--proxbox-url`, `--proxbox-api-key`).
    Proxbox,
    /// The packer binary on this host.
    Packer,
}

/// NetBox as the source of reference data (SPEC §10; see `netbox`).
#[derive(Args, Debug, Clone)]
pub struct NetboxArgs {
    /// NetBox's address, e.g. `https://netbox.example.net` (off when absent).
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_URL", value_parser = netbox_url)]
    pub netbox_url: Option<url::Url>,
    /// NetBox API token: a v1 key (sent as `Token <key>`) or a v2 token `nbt_<key>.<token>`
    /// (sent as `Bearer …`). Read-only suffices unless `--netbox-push-catalog`. Never logged.
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_TOKEN", hide_env_values = true,
          value_parser = secret)]
    pub netbox_token: Option<Secret>,
    /// Seconds between two passes in `serve` (`0`: only on demand — `syncNetbox`, the webhook).
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_SYNC_INTERVAL", default_value = "300",
          value_parser = seconds_or_zero)]
    pub netbox_sync_interval: Duration,
    /// Roles of synced users by NetBox group, `group=role`, the first matching entry winning
    /// (repeat the flag or separate with commas); a user in no mapped group is a VIEWER.
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_ROLE_MAP", value_delimiter = ',',
          value_parser = role_mapping)]
    pub netbox_role_map: Vec<(String, entity::enums::Role)>,
    /// Create or update the catalog entry a build publishes in NetBox's cloud image templates
    /// too (needs a write-enabled token).
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_PUSH_CATALOG")]
    pub netbox_push_catalog: bool,
    /// Secret of NetBox webhooks accepted at `POST /api/plugins/packer/netbox-webhook/`
    /// (`X-Hook-Signature`, HMAC-SHA512); the receiver answers 404 without it. Never logged.
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_WEBHOOK_SECRET", hide_env_values = true,
          value_parser = secret)]
    pub netbox_webhook_secret: Option<Secret>,
    /// Seconds before the first retry of a failed NetBox request (doubled at each of the 3
    /// retries), and before the first retry of a failed pass (doubled up to the interval).
    #[arg(long, env = "PACKER_GATEWAY_NETBOX_RETRY_BACKOFF", default_value = "1",
          value_parser = seconds)]
    pub netbox_retry_backoff: Duration,
}

/// A value that must never be printed: its `Debug` says `[redacted]`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

fn secret(text: &str) -> Result<Secret, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    Ok(Secret(text.to_owned()))
}

fn netbox_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|_| format!("`{text}` is not a URL such as https://netbox.example.net"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    Ok(url)
}

fn role_mapping(text: &str) -> Result<(String, entity::enums::Role), String> {
    use sea_orm::ActiveEnum;
    let (group, role) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not `group=role`"))?;
    let role = entity::enums::Role::try_from_value(&role.trim().to_lowercase())
        .map_err(|_| format!("unknown role `{role}`: viewer, operator, worker or admin"))?;
    Ok((group.trim().to_owned(), role))
}

/// A number of seconds, `0` allowed.
fn seconds_or_zero(text: &str) -> Result<Duration, String> {
    if text.trim().parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    seconds(text)
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        secret(text)
    }
}

/// The dispatcher (SPEC §7.1) and its backends. Durations are in seconds (fractions allowed).
#[derive(Args, Debug, Clone)]
pub struct Dispatch {
    /// Which backend the dispatcher runs builds on: `none` (external workers only), `proxbox`
    /// or `packer`.
    #[arg(
        long = "dispatch",
        env = "PACKER_GATEWAY_DISPATCH",
        value_enum,
        default_value = "none"
    )]
    pub backend: Backend,
    /// Base URL of proxbox-api (`https://proxbox.example.net:8800`).
    #[arg(long, env = "PACKER_GATEWAY_PROXBOX_URL")]
    pub proxbox_url: Option<url::Url>,
    /// proxbox-api's API key, sent as `X-Proxbox-API-Key` (never logged or shown).
    #[arg(long, env = "PACKER_GATEWAY_PROXBOX_API_KEY", hide_env_values = true,
          value_parser = secret)]
    pub proxbox_api_key: Option<Secret>,
    /// Whether proxbox-api's TLS certificate is verified.
    #[arg(long, env = "PACKER_GATEWAY_PROXBOX_VERIFY_TLS", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub proxbox_verify_tls: bool,
    /// Seconds between two looks for pending builds and expired leases when nothing woke the
    /// dispatcher (new pending builds wake it at once).
    #[arg(long, env = "PACKER_GATEWAY_DISPATCH_POLL_INTERVAL", default_value = "10",
          value_parser = seconds)]
    pub dispatch_poll_interval: Duration,
    /// Seconds a dispatcher's lease on a running build lasts; it is renewed every third of it.
    /// Past it, another dispatcher adopts the build.
    #[arg(long, env = "PACKER_GATEWAY_DISPATCH_LEASE", default_value = "60",
          value_parser = seconds)]
    pub dispatch_lease: Duration,
    /// Seconds the backend work gets to stop after a cancel or a timeout before it is killed.
    #[arg(long, env = "PACKER_GATEWAY_DISPATCH_KILL_GRACE", default_value = "30",
          value_parser = seconds)]
    pub dispatch_kill_grace: Duration,
    /// The packer binary of the `packer` backend.
    #[arg(long, env = "PACKER_GATEWAY_PACKER_BIN", default_value = "packer")]
    pub packer_bin: std::path::PathBuf,
    /// Where the `packer` backend makes a working directory per build (default: `packer-builds`
    /// beside the SQLite database file, else in the current directory).
    #[arg(long, env = "PACKER_GATEWAY_PACKER_WORKDIR")]
    pub packer_workdir: Option<std::path::PathBuf>,
    /// Keep a failed build's working directory (it is removed when a build ends otherwise).
    #[arg(long, env = "PACKER_GATEWAY_PACKER_KEEP_FAILED")]
    pub packer_keep_failed: bool,
    /// The Proxmox credentials of the `packer` backend: a TOML file with one table per endpoint
    /// name holding `url`, `username` (a token id `user@realm!name`) and `token`.
    #[arg(long, env = "PACKER_GATEWAY_PROXMOX_CREDENTIALS")]
    pub proxmox_credentials: Option<std::path::PathBuf>,
    /// Seconds before the first retry of a backend request that got no answer or a 5xx (doubled
    /// at each of the 3 tries).
    #[arg(long, env = "PACKER_GATEWAY_DISPATCH_RETRY_DELAY", default_value = "1",
          value_parser = seconds)]
    pub dispatch_retry_delay: Duration,
}

/// How tokens are kept in memory (see `auth::live`).
#[derive(Args, Debug, Clone)]
pub struct Tokens {
    /// Most tokens remembered (and, apart, most unknown tokens remembered as unknown, for
    /// `--token-unknown-ttl`).
    #[arg(long, env = "PACKER_GATEWAY_TOKEN_CACHE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub token_cache: u32,
    /// Seconds an unknown token is answered 401 from memory before it is looked up again.
    #[arg(long, env = "PACKER_GATEWAY_TOKEN_UNKNOWN_TTL", default_value = "10",
          value_parser = seconds)]
    pub token_unknown_ttl: Duration,
    /// Seconds between two reads of the credentials generation when no notification announced a
    /// change (the safety net; a change on PostgreSQL is heard at once).
    #[arg(long, env = "PACKER_GATEWAY_CREDENTIALS_POLL_INTERVAL", default_value = "0.5",
          value_parser = seconds)]
    pub credentials_poll_interval: Duration,
}

/// Query and transport limits (SPEC §5); all configurable.
#[derive(Args, Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes (413 beyond).
    #[arg(long, env = "PACKER_GATEWAY_BODY_LIMIT", default_value_t = 256 * 1024)]
    pub body_limit: usize,
    /// Largest GraphQL document (the `query` text), in bytes, over POST and GET alike (413
    /// `QUERY_TOO_LARGE` beyond). Variables are not part of it.
    #[arg(long, env = "PACKER_GATEWAY_MAX_DOCUMENT_BYTES", default_value_t = 128 * 1024)]
    pub max_document_bytes: usize,
    /// Deepest selection nesting (`QUERY_TOO_DEEP`).
    #[arg(long, env = "PACKER_GATEWAY_MAX_DEPTH", default_value_t = 10)]
    pub max_depth: usize,
    /// Largest complexity, list fields multiplied by their page size (`QUERY_TOO_COMPLEX`).
    #[arg(long, env = "PACKER_GATEWAY_MAX_COMPLEXITY", default_value_t = 2000)]
    pub max_complexity: usize,
    /// Most aliases in a document (`TOO_MANY_ALIASES`): every alias where it is written, those of
    /// a fragment once per spread of it.
    #[arg(long, env = "PACKER_GATEWAY_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,
    /// Most directives on one field, fragment spread, inline fragment, operation or fragment
    /// definition (`TOO_MANY_DIRECTIVES`).
    #[arg(long, env = "PACKER_GATEWAY_MAX_DIRECTIVES", default_value_t = 5)]
    pub max_directives: usize,
    /// Seconds before a request is abandoned (`REQUEST_TIMEOUT`) and its transaction rolled
    /// back.
    #[arg(long, env = "PACKER_GATEWAY_REQUEST_TIMEOUT", default_value_t = 15)]
    pub request_timeout: u64,
    /// Most subscriptions on one websocket.
    #[arg(long, env = "PACKER_GATEWAY_MAX_SUBSCRIPTIONS", default_value_t = 50)]
    pub max_subscriptions: usize,
}

/// Build events and the subscription transports (SPEC §3.3). Durations are in seconds and may
/// have a fraction (`0.5`).
#[derive(Args, Debug, Clone)]
pub struct Subscriptions {
    /// Events the in-process channel holds for subscribers; one further behind is caught up from
    /// the history table.
    #[arg(long, env = "PACKER_GATEWAY_EVENT_BUFFER", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_buffer: u32,
    /// Seconds between two reads of new events when nothing woke the reader (a safety net for a
    /// lost PostgreSQL notification).
    #[arg(long, env = "PACKER_GATEWAY_EVENT_POLL_INTERVAL", default_value = "10",
          value_parser = seconds)]
    pub event_poll_interval: Duration,
    /// Seconds a websocket may take to send `connection_init` (then 4408).
    #[arg(long, env = "PACKER_GATEWAY_WS_INIT_TIMEOUT", default_value = "10",
          value_parser = seconds)]
    pub ws_init_timeout: Duration,
    /// Seconds between two server pings on a websocket.
    #[arg(long, env = "PACKER_GATEWAY_WS_PING_INTERVAL", default_value = "15",
          value_parser = seconds)]
    pub ws_ping_interval: Duration,
    /// Seconds a websocket may stay silent after a ping before it is dropped as dead.
    #[arg(long, env = "PACKER_GATEWAY_WS_PONG_TIMEOUT", default_value = "10",
          value_parser = seconds)]
    pub ws_pong_timeout: Duration,
    /// Seconds to wait, on shutdown, for websockets to close after they were told to (1001).
    #[arg(long, env = "PACKER_GATEWAY_SHUTDOWN_GRACE", default_value = "10",
          value_parser = seconds)]
    pub shutdown_grace: Duration,
}

/// What frontend apps need beyond GraphQL itself: cross-origin access from browsers (CORS, and the
/// websocket's `Origin` check) and automatic persisted queries.
#[derive(Args, Debug, Clone)]
pub struct Clients {
    /// A web origin whose pages may call the API from a browser (CORS, on GraphQL and REST alike)
    /// and open its websocket, e.g. `https://app.example.net`; repeat the flag or separate
    /// origins with commas; `*` allows every origin. Off by default: no response carries CORS
    /// headers, and the websocket accepts any origin.
    #[arg(long = "cors-origin", env = "PACKER_GATEWAY_CORS_ORIGIN", value_delimiter = ',',
          value_parser = origin)]
    pub cors_origins: Vec<String>,
    /// Automatic persisted queries: the most documents kept, the least recently used dropped
    /// first; 0 turns persisted queries off (`PERSISTED_QUERY_NOT_SUPPORTED`).
    #[arg(long, env = "PACKER_GATEWAY_APQ_MAX_ENTRIES", default_value_t = 1000)]
    pub apq_max_entries: usize,
    /// Automatic persisted queries: the most bytes of documents kept.
    #[arg(long, env = "PACKER_GATEWAY_APQ_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub apq_max_bytes: usize,
}

/// A web origin as browsers send it in `Origin` (`https://app.example.net`, `http://localhost:
/// 5173`: a scheme, a host in lower case, a port unless it is the scheme's default, nothing
/// else), or `*`.
fn origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_owned());
    }
    let refused = || {
        format!(
            "`{text}` is not a web origin: give a scheme, a host and optionally a port, such as \
             `https://app.example.net` or `http://localhost:5173` (no path), or `*`"
        )
    };
    let url = url::Url::parse(text).map_err(|_| refused())?;
    let bare = url.path() == "/";
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare || !plain {
        return Err(refused());
    }
    Ok(url.origin().ascii_serialization())
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 && value < 1e9 => {
            Ok(Duration::from_secs_f64(value))
        }
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

/// A `--trusted-proxy`: a CIDR block, or one address.
pub fn trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an address nor a CIDR block (10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{RateLimit, RateSubject, origin, rate_limit, seconds};

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        assert_eq!(
            origin("https://App.Example.net"),
            Ok("https://app.example.net".into())
        );
        assert_eq!(
            origin("https://app.example.net:443"),
            Ok("https://app.example.net".into())
        );
        assert_eq!(
            origin(" http://localhost:5173"),
            Ok("http://localhost:5173".into())
        );
        assert_eq!(
            origin("https://app.example.net/"),
            Ok("https://app.example.net".into())
        );
        assert_eq!(origin("*"), Ok("*".into()));
        for bad in [
            "app.example.net",
            "https://app.example.net/x",
            "https://user@app.example.net",
            "https://app.example.net?x",
            "ftp://app.example.net",
            "file:///tmp",
            "",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limits_name_a_role_a_rate_and_a_burst() {
        assert_eq!(
            rate_limit("viewer=20/40"),
            Ok(RateLimit {
                subject: RateSubject::Role(entity::enums::Role::Viewer),
                per_second: 20.0,
                burst: 40.0,
            })
        );
        assert_eq!(
            rate_limit(" * = 0.5").map(|r| (r.subject, r.per_second, r.burst)),
            Ok((RateSubject::Others, 0.5, 1.0))
        );
        assert_eq!(
            rate_limit("anonymous=5").map(|r| r.subject),
            Ok(RateSubject::Anonymous)
        );
        for bad in [
            "viewer",
            "root=5",
            "viewer=0",
            "viewer=5/-1",
            "viewer=x",
            "",
        ] {
            assert!(rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_positive_seconds() {
        assert_eq!(seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(seconds("0").is_err());
        assert!(seconds("-1").is_err());
        assert!(seconds("NaN").is_err());
        assert!(seconds("10s").is_err());
    }
}
