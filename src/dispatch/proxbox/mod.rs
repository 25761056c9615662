//! The `proxbox` backend (SPEC §7.2): proxbox-api's image factory.
//!
//! A build is submitted (`POST /cloud/image-factory/builds`), then followed on its event stream,
//! which is opened **exactly once**: opening it is what starts packer, and every open starts it
//! again, so a dropped stream is never reopened — the build fails instead. proxbox-api keeps
//! nothing across its restarts, so a dispatcher that adopts a build asks whether proxbox-api still
//! knows it and fails it when not.

mod client;
mod stream;
mod submission;

pub use self::submission::submission;

use std::{collections::HashMap, sync::Mutex, time::Duration};

use futures_util::future::BoxFuture;
use reqwest::{StatusCode, header};

use self::client::{reason_of, refused, refused_or_json};
use super::backend::{Backend, Job, Outcome, Why, Work};

/// A failure of a request to proxbox-api: its kind and its reason.
type Failure = (Why, String);

/// What a dispatcher that lost a build's stream says (SPEC §7.1).
pub const LOST: &str = "dispatcher lost the build (backend no longer knows it)";

/// proxbox-api, as configured.
pub struct Proxbox {
    base: url::Url,
    client: reqwest::Client,
    retry_delay: Duration,
    kill_grace: Duration,
    poll: Duration,
    /// proxbox-api's endpoint ids, by the URL ours resolve to.
    endpoints: Mutex<HashMap<String, i64>>,
}

/// How to reach proxbox-api.
pub struct Options {
    /// Its base URL.
    pub base: url::Url,
    /// Its API key (sent as `X-Proxbox-API-Key`).
    pub api_key: String,
    /// Whether its TLS certificate is verified.
    pub verify_tls: bool,
    /// Before the first retry of a request (doubled each time).
    pub retry_delay: Duration,
    /// How long a cancelled build's stream may take to end after the cancel.
    pub kill_grace: Duration,
    /// How often an adopted build is looked up.
    pub poll: Duration,
}

impl Proxbox {
    /// A client of proxbox-api.
    pub fn new(options: Options) -> Result<Proxbox, String> {
        let mut key = header::HeaderValue::from_str(&options.api_key)
            .map_err(|_| "the proxbox-api key is not a valid header value".to_owned())?;
        key.set_sensitive(true);
        let mut headers = header::HeaderMap::new();
        headers.insert("x-proxbox-api-key", key);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .danger_accept_invalid_certs(!options.verify_tls)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the proxbox-api client: {e}"))?;
        Ok(Proxbox {
            base: options.base,
            client,
            retry_delay: options.retry_delay,
            kill_grace: options.kill_grace,
            poll: options.poll,
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// proxbox-api's id of `job`'s endpoint (cached).
    async fn endpoint_id(&self, job: &Job) -> Result<i64, Failure> {
        let endpoint = &job.endpoint;
        let host = endpoint
            .domain
            .clone()
            .filter(|d| !d.is_empty())
            .or_else(|| endpoint.ip_address.clone().filter(|ip| !ip.is_empty()))
            .ok_or_else(|| {
                (
                    Why::Rejected,
                    format!(
                        "endpoint `{}` has neither a domain nor an IP address",
                        endpoint.name
                    ),
                )
            })?;
        let url = format!("https://{host}:{}", endpoint.port);
        if let Some(id) = self.cached(&url) {
            return Ok(id);
        }
        let response = self
            .send("the endpoint lookup", || {
                self.client
                    .get(self.url("/cloud/proxmox-endpoint/by-url"))
                    .query(&[("url", url.as_str())])
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err((
                Why::Rejected,
                format!("proxbox-api knows no Proxmox endpoint at {url}"),
            ));
        }
        let body = refused_or_json(response, "the endpoint lookup").await?;
        let id = body["id"].as_i64().ok_or_else(|| {
            (
                Why::Unavailable,
                format!("proxbox-api's endpoint at {url} has no id"),
            )
        })?;
        self.endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(url, id);
        Ok(id)
    }

    fn cached(&self, url: &str) -> Option<i64> {
        self.endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
            .copied()
    }

    /// Submits, then follows the stream once.
    async fn run_job(&self, job: &Job, work: &Work) -> Outcome {
        let submitted = async {
            let endpoint_id = self.endpoint_id(job).await?;
            let body = submission(job, endpoint_id).map_err(|reason| (Why::Rejected, reason))?;
            let response = self
                .send("the build submission", || {
                    self.client
                        .post(self.url("/cloud/image-factory/builds"))
                        .json(&body)
                })
                .await?;
            let body = refused_or_json(response, "the build").await?;
            body["build_id"].as_str().map(str::to_owned).ok_or_else(|| {
                (
                    Why::Unavailable,
                    "proxbox-api answered the submission without a build_id".to_owned(),
                )
            })
        };
        let build_id = tokio::select! {
            submitted = submitted => match submitted {
                Ok(id) => id,
                Err((why, reason)) => return Outcome::Failed { reason, why },
            },
            () = work.stop.cancelled() => return Outcome::Stopped,
        };
        work.backend_build_id(build_id.clone()).await;
        if work.stop.is_cancelled() {
            self.cancel(&build_id).await;
            return Outcome::Stopped;
        }
        self.follow(&build_id, work).await
    }

    /// Tells proxbox-api to cancel the build (404: it is already gone).
    async fn cancel(&self, build_id: &str) {
        let path = format!("/cloud/image-factory/builds/{build_id}/cancel");
        match self
            .send("the cancel", || self.client.post(self.url(&path)))
            .await
        {
            Ok(response) if response.status().is_success() => {}
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {}
            Ok(response) => {
                tracing::warn!(build_id, status = %response.status(), "proxbox-api refused the cancel");
            }
            Err((_, reason)) => tracing::warn!(build_id, "{reason}"),
        }
    }

    /// Follows an adopted build by looking it up until proxbox-api forgets it (its stream may
    /// not be opened again); a cancel or timeout is passed on.
    async fn adopt_job(&self, job: &Job, work: &Work) -> Outcome {
        let build_id = job.build.backend_build_id.clone();
        if build_id.is_empty() {
            return Outcome::Failed {
                reason: LOST.to_owned(),
                why: Why::Lost,
            };
        }
        let path = format!("/cloud/image-factory/builds/{build_id}");
        loop {
            match self
                .send("the build lookup", || self.client.get(self.url(&path)))
                .await
            {
                Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                    return Outcome::Failed {
                        reason: LOST.to_owned(),
                        why: Why::Lost,
                    };
                }
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    let reason = refused(&response, "the build lookup")
                        .err()
                        .unwrap_or_default();
                    let why = Why::of_status(response.status().as_u16());
                    return Outcome::Failed {
                        reason: reason_of(response, reason).await,
                        why,
                    };
                }
                Err((why, reason)) => return Outcome::Failed { reason, why },
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll) => {}
                () = work.stop.cancelled() => {
                    self.cancel(&build_id).await;
                    return Outcome::Stopped;
                }
            }
        }
    }
}

impl Backend for Proxbox {
    fn name(&self) -> &'static str {
        "proxbox"
    }

    fn run<'a>(&'a self, job: &'a Job, work: &'a Work) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run_job(job, work))
    }

    fn adopt<'a>(&'a self, job: &'a Job, work: &'a Work) -> BoxFuture<'a, Outcome> {
        Box::pin(self.adopt_job(job, work))
    }
}
