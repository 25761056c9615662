//! Configuration from flags and environment variables (`PACKER_GATEWAY_*`). There is no
//! `Default`: every value comes from here, and tests parse a command line like production does.

mod background;
mod requests;
mod values;

pub use background::{Backend, Dispatch, Logs, NetboxArgs};
pub use requests::{
    Clients, Limits, Overload, RateLimit, RateSubject, Subscriptions, Tokens, trusted_proxy,
};
pub use values::Secret;

use std::net::SocketAddr;

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

    /// Most readiness events the runtime takes from the kernel (epoll) in one turn of its IO
    /// driver. Fewer leave ready connections in the kernel's first-in-first-out list instead of
    /// tokio's per-thread queues, where, beyond the 256 each holds, they wait in a shared queue
    /// checked only now and then; under issue 14's overload (1,000 connections asking again at
    /// once) tokio's default (1,024) put the refused p99 at 47–52 ms and 32 at 23–25 ms
    /// (README, Hostile and overload traffic).
    #[arg(
        long,
        env = "PACKER_GATEWAY_IO_EVENTS_PER_TICK",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub io_events_per_tick: u32,

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn the_io_batch_is_a_positive_count_given_before_or_after_the_command() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["packer-gateway"], args].concat());
        assert_eq!(parse(&[]).expect("parses").io_events_per_tick, 32);
        let cli = parse(&["serve", "--io-events-per-tick", "8"]).expect("parses");
        assert_eq!(cli.io_events_per_tick, 8);
        assert!(matches!(cli.command(), Command::Serve(_)));
        assert_eq!(
            parse(&["--io-events-per-tick", "1024", "export-schema"])
                .expect("parses")
                .io_events_per_tick,
            1024
        );
        assert!(parse(&["--io-events-per-tick", "0"]).is_err());
    }
}
