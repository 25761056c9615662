//! The NetBox REST client: lists that follow `next` links, the two token formats, retries with
//! backoff. The token is sent in one header marked sensitive and appears in no error, log line or
//! `Debug` output.

use std::time::Duration;

use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderValue},
};
use serde_json::Value;
use url::Url;

use crate::config::Secret;

/// Most objects asked for per page (NetBox's default `MAX_PAGE_SIZE`; a smaller cap on the
/// server is followed through `next`).
pub const PAGE_SIZE: u32 = 1000;

/// Retries of a request that failed for a reason that may pass (no answer, 5xx, 429).
const RETRIES: u32 = 3;

/// A client of one NetBox.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    backoff: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// The `Authorization` value of a token: `Bearer nbt_…` for a v2 token, `Token <key>` for v1.
pub fn authorization(token: &str) -> String {
    if token.starts_with("nbt_") {
        format!("Bearer {token}")
    } else {
        format!("Token {token}")
    }
}

impl Client {
    /// A client of the NetBox at `base` with `token`; the first retry waits `backoff`.
    pub fn new(base: &Url, token: &Secret, backoff: Duration) -> Result<Client, String> {
        let mut authorization = HeaderValue::from_str(&authorization(token.expose()))
            .map_err(|_| "the NetBox token holds characters a header cannot carry".to_owned())?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("packer-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot build the NetBox client: {err}"))?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Client {
            http,
            base,
            authorization,
            backoff,
        })
    }

    /// Every object of the list at `path` (e.g. `api/tenancy/tenants/`) matching `query`,
    /// following `next` links page after page.
    pub async fn list(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, String> {
        let mut url = self
            .base
            .join(path)
            .map_err(|err| format!("bad NetBox path {path}: {err}"))?;
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
            pairs.append_pair("limit", &PAGE_SIZE.to_string());
        }
        let mut objects = Vec::new();
        let mut pages = 0;
        loop {
            let page = self.send(reqwest::Method::GET, url.clone(), None).await?;
            let results = page
                .get("results")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{path}: the answer is not a NetBox list"))?;
            objects.extend(results.iter().cloned());
            pages += 1;
            match page.get("next").and_then(Value::as_str) {
                Some(next) if pages < 100_000 => url = self.same_origin(next)?,
                _ => return Ok(objects),
            }
        }
    }

    /// Sends a JSON `body` to `path` with `method` (the catalog push) and returns the answer.
    pub async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let url = self
            .base
            .join(path)
            .map_err(|err| format!("bad NetBox path {path}: {err}"))?;
        self.send(method, url, Some(body)).await
    }

    /// A `next` link taken on the configured NetBox: only its path and query are kept, so the
    /// token never goes to another host (a proxy in front of NetBox may make NetBox write its
    /// links with another scheme or host).
    fn same_origin(&self, next: &str) -> Result<Url, String> {
        let link = Url::parse(next)
            .or_else(|_| self.base.join(next))
            .map_err(|_| "NetBox gave a `next` link that is not a URL".to_owned())?;
        let mut url = self.base.clone();
        url.set_path(link.path());
        url.set_query(link.query());
        Ok(url)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return response.json::<Value>().await.map_err(|err| {
                        format!(
                            "{} {}: unreadable answer: {}",
                            method,
                            url.path(),
                            plain(&err)
                        )
                    });
                }
                Ok(response) => {
                    let status = response.status();
                    let failure = format!("{} {}: NetBox answered {status}", method, url.path());
                    if !passing(status) {
                        return Err(failure);
                    }
                    failure
                }
                Err(err) => format!("{} {}: {}", method, url.path(), plain(&err)),
            };
            if attempt > RETRIES {
                return Err(failure);
            }
            tracing::debug!(%failure, attempt, "NetBox request failed; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
}

/// Whether a failure with `status` may pass when tried again.
fn passing(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// An error of reqwest without its URL (the path is said by the caller).
fn plain(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "no answer in time"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_decode() {
        "not JSON"
    } else {
        "request failed"
    };
    let mut detail = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::authorization;

    #[test]
    fn the_token_format_decides_the_scheme() {
        assert_eq!(authorization("0123abcd"), "Token 0123abcd");
        assert_eq!(authorization("nbt_abc.def"), "Bearer nbt_abc.def");
    }
}
