//! Requests to proxbox-api: retried when they got no answer or a 5xx, 429's `Retry-After`
//! honoured, and the reasons of refusals (a 4xx and its `detail`) for a build's `error`.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode, header};
use serde_json::Value as Json;

use super::{Failure, Proxbox};
use crate::dispatch::backend::Why;

/// Tries of a request that got no answer or a 5xx.
const TRIES: u32 = 3;

/// 429 answers honoured (their `Retry-After`) before a request gives up.
const RATE_LIMITED: u32 = 10;

impl Proxbox {
    /// Sends what `make` builds, honouring 429's `Retry-After` and retrying a request that got
    /// no answer or a 5xx ([`TRIES`] tries, with backoff). The error is a reason for `error`.
    pub(super) async fn send(
        &self,
        what: &str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let (mut tries, mut limited) = (0, 0);
        loop {
            let failure = match make().send().await {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    limited += 1;
                    if limited > RATE_LIMITED {
                        return Err((
                            Why::Unavailable,
                            format!("proxbox-api kept rate-limiting {what}"),
                        ));
                    }
                    let wait = retry_after(&response).unwrap_or(self.retry_delay);
                    tracing::info!(?wait, "proxbox-api rate-limited {what}: waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Ok(response) if response.status().is_server_error() => {
                    format!("proxbox-api answered {} to {what}", response.status())
                }
                Ok(response) => return Ok(response),
                Err(err) => format!("proxbox-api did not answer {what}: {}", without_url(&err)),
            };
            tries += 1;
            if tries >= TRIES {
                return Err((Why::Unavailable, failure));
            }
            tracing::info!("{failure}; retrying");
            tokio::time::sleep(self.retry_delay * 2u32.pow(tries - 1)).await;
        }
    }
}

/// `Err(reason)` for a 4xx answer (without its body), `Ok` otherwise.
pub(super) fn refused(response: &Response, what: &str) -> Result<(), String> {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return Err(format!("proxbox-api refused {what} ({})", status.as_u16()));
    }
    Ok(())
}

/// The JSON body of a successful answer, or the reason of a refusal with its `detail`/`reason`.
pub(super) async fn refused_or_json(response: Response, what: &str) -> Result<Json, Failure> {
    if let Err(reason) = refused(&response, what) {
        let why = Why::of_status(response.status().as_u16());
        return Err((why, reason_of(response, reason).await));
    }
    response.json::<Json>().await.map_err(|_| {
        (
            Why::Unavailable,
            format!("proxbox-api answered {what} with something else than JSON"),
        )
    })
}

/// `reason` followed by the `detail` (or `reason`) of the answer's body.
pub(super) async fn reason_of(response: Response, reason: String) -> String {
    let body: Json = response.json().await.unwrap_or(Json::Null);
    let detail = match &body["detail"] {
        Json::String(detail) => detail.clone(),
        Json::Null => body["reason"].as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    };
    if detail.is_empty() {
        reason
    } else {
        format!("{reason}: {detail}")
    }
}

/// The wait a 429 asks for (`Retry-After` in seconds).
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

/// A transport error without the URL (which carries nothing secret, but is noise in `error`).
pub(super) fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "proxbox-api");
    }
    text
}
