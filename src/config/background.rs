//! The arguments of the service's own work: build dispatch and its backends, NetBox as the
//! source of reference data, build logs.

use std::time::Duration;

use clap::Args;

use super::values::{Secret, seconds, seconds_or_zero, secret};

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
