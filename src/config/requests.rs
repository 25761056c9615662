//! The arguments of what requests and websockets may cost and how they are served: query and
//! transport limits, overload and rate limits, subscriptions, browser clients, tokens in memory.

use std::time::Duration;

use clap::Args;

use super::values::seconds;

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
    /// Most requests executing at once; 0 (the default) means two per core of this machine
    /// (`std::thread::available_parallelism`), at most the size of the database pool. Requests
    /// that execute together share the cores, so more of them than the cores can keep busy only
    /// make each slower: on 2 cores, 16 at once (the pool) put the admitted p99 over 500 ms under
    /// issue 14's overload, 4 kept it within.
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
    /// Seconds a request waits for a place before it is refused (503 `SERVER_BUSY`): what a burst
    /// may wait. A standing line (not empty for 0.1 s and at least half full: overload rather than
    /// a burst or a steady load the places keep up with) is waited in 5 ms at most, so that under
    /// overload neither the admitted nor the refused requests carry a long wait
    /// (`admission::wait_in_line`).
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

/// A `--trusted-proxy`: a CIDR block, or one address.
pub fn trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an address nor a CIDR block (10.0.0.0/8)"))
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

#[cfg(test)]
mod tests {
    use super::{RateLimit, RateSubject, origin, rate_limit};

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
}
