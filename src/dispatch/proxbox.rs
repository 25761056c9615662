//! The `proxbox` backend (SPEC §7.2): proxbox-api's image factory.
//!
//! A build is submitted (`POST /cloud/image-factory/builds`), then followed on its event stream,
//! which is opened **exactly once**: opening it is what starts packer, and every open starts it
//! again, so a dropped stream is never reopened — the build fails instead. proxbox-api keeps
//! nothing across its restarts, so a dispatcher that adopts a build asks whether proxbox-api still
//! knows it and fails it when not.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use entity::enums::BuilderType;
use futures_util::{StreamExt, future::BoxFuture};
use reqwest::{RequestBuilder, Response, StatusCode, header};
use sea_orm::ActiveEnum;
use serde_json::{Value as Json, json};

use super::{
    backend::{Backend, Job, Outcome, Why, Work},
    sse,
};
use crate::registry::template;

/// A failure of a request to proxbox-api: its kind and its reason.
type Failure = (Why, String);

/// What a dispatcher that lost a build's stream says (SPEC §7.1).
pub const LOST: &str = "dispatcher lost the build (backend no longer knows it)";

/// Tries of a request that got no answer or a 5xx.
const TRIES: u32 = 3;

/// 429 answers honoured (their `Retry-After`) before a request gives up.
const RATE_LIMITED: u32 = 10;

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

    /// Sends what `make` builds, honouring 429's `Retry-After` and retrying a request that got
    /// no answer or a 5xx ([`TRIES`] tries, with backoff). The error is a reason for `error`.
    async fn send(
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

    /// Reads the build's event stream, opened once, to its end.
    async fn follow(&self, build_id: &str, work: &Work) -> Outcome {
        let path = format!("/cloud/image-factory/builds/{build_id}/stream");
        // Not `send`: a retried open would start packer again. One attempt, no retry.
        let response = match self.client.get(self.url(&path)).send().await {
            Ok(response) => response,
            Err(err) => {
                return Outcome::Failed {
                    reason: format!(
                        "proxbox-api did not open the build's stream: {}",
                        without_url(&err)
                    ),
                    why: Why::Unavailable,
                };
            }
        };
        if let Err(reason) = refused(&response, "the build's stream") {
            let (reason, why) = match response.status() {
                StatusCode::NOT_FOUND => (LOST.to_owned(), Why::Lost),
                status => (
                    reason_of(response, reason).await,
                    Why::of_status(status.as_u16()),
                ),
            };
            return Outcome::Failed { reason, why };
        }
        let mut bytes = response.bytes_stream();
        let mut reader = sse::Reader::default();
        let mut progress = Progress::default();
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            let grace = async {
                match stopping {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                chunk = bytes.next() => match chunk {
                    Some(Ok(chunk)) => {
                        for event in reader.push(&chunk) {
                            progress.take(event, work).await;
                        }
                        if progress.status.is_some() {
                            break;
                        }
                    }
                    Some(Err(err)) => {
                        tracing::warn!(build_id, "the build's stream broke: {}", without_url(&err));
                        break;
                    }
                    None => break,
                },
                () = work.stop.cancelled(), if stopping.is_none() => {
                    self.cancel(build_id).await;
                    stopping = Some(tokio::time::Instant::now() + self.kill_grace);
                }
                () = grace => break,
            }
        }
        if stopping.is_some() {
            return Outcome::Stopped;
        }
        progress.outcome()
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

/// What the stream said so far.
#[derive(Default)]
struct Progress {
    completed: Option<Json>,
    failed: Option<String>,
    artifact_vmid: Option<i32>,
    /// The status of `complete`, the last event.
    status: Option<String>,
}

impl Progress {
    async fn take(&mut self, event: sse::Event, work: &Work) {
        let data: Json = serde_json::from_str(&event.data).unwrap_or(Json::Null);
        let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
        match event.name.as_str() {
            "packer_log" => {
                let stream = text("stream");
                let stream = if stream.is_empty() {
                    "stdout".to_owned()
                } else {
                    stream
                };
                for line in text("message").lines() {
                    work.log.line(&stream, line).await;
                }
            }
            "packer_init" | "packer_validate" => {
                let step = event.name.trim_start_matches("packer_");
                let code = data["exit_code"]
                    .as_i64()
                    .map_or("?".to_owned(), |c| c.to_string());
                work.log
                    .line("proxbox", &format!("packer {step} exited with {code}"))
                    .await;
            }
            "packer_artifact" => {
                self.artifact_vmid = data["vmid"]
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .or(self.artifact_vmid);
                let message = text("message");
                if !message.is_empty() {
                    work.log.line("proxbox", &message).await;
                }
            }
            "build_completed" => self.completed = Some(work.log.scrubber().json(data)),
            "build_failed" => {
                let error = [text("error"), text("detail")]
                    .into_iter()
                    .find(|e| !e.is_empty())
                    .unwrap_or_else(|| "the build failed".to_owned());
                self.failed = Some(work.log.scrubber().text(&error));
            }
            "complete" => self.status = Some(text("status")),
            _ => {}
        }
    }

    fn outcome(self) -> Outcome {
        match self.status.as_deref() {
            None => Outcome::Failed {
                reason: "backend stream ended early".to_owned(),
                why: Why::Unavailable,
            },
            Some("completed") => match self.completed {
                Some(response) => {
                    let output_vmid = self.artifact_vmid.or_else(|| {
                        response["output_vmid"]
                            .as_i64()
                            .and_then(|v| i32::try_from(v).ok())
                    });
                    Outcome::Completed {
                        response,
                        output_vmid,
                    }
                }
                None => Outcome::Failed {
                    reason: "proxbox-api said completed without the build's report".to_owned(),
                    why: Why::Unavailable,
                },
            },
            Some("cancelled") => Outcome::Failed {
                reason: "proxbox-api cancelled the build".to_owned(),
                why: Why::Build,
            },
            Some(_) => Outcome::Failed {
                reason: self
                    .failed
                    .unwrap_or_else(|| "packer build failed".to_owned()),
                why: Why::Build,
            },
        }
    }
}

/// The submission of `job` (SPEC §7.2): values from the build and its definition, the effective
/// variables in the typed fields. An ISO definition with only `iso_url` cannot go to proxbox-api.
pub fn submission(job: &Job, endpoint_id: i64) -> Result<Json, String> {
    let (build, definition) = (&job.build, &job.definition);
    // The typed fields, with the defaults the Packer template uses too.
    let variables = template::Variables::of(definition, Some(build));
    let mut body = json!({
        "endpoint_id": endpoint_id,
        "target_node": build.target_node,
        "builder_type": definition.builder_type.to_value(),
        "output_vmid": build.output_vmid,
        "output_name": build.output_name,
        "os_family": definition.os_family.to_value(),
        "os_release": definition.os_release,
        "image_version": build.image_version,
        "vm_storage": variables.vm_storage,
        "cloud_init_storage": variables.cloud_init_storage,
        "bridge": variables.bridge,
        "memory_mb": variables.memory_mb,
        "cores": variables.cores,
        "cpu_type": variables.cpu_type,
        "provisioner_recipe": definition.provisioner_recipe.to_value(),
        "variables": {},
        "force": false,
        "dry_run": false,
    });
    match definition.builder_type {
        BuilderType::ProxmoxClone => {
            body["template_vmid"] = json!(definition.source_template_vmid);
        }
        BuilderType::ProxmoxIso => {
            if definition.iso_storage.is_empty() {
                return Err(
                    "proxbox-api takes pre-uploaded ISOs only: this definition has an \
                            iso_url and no iso_storage"
                        .to_owned(),
                );
            }
            body["iso_file"] = json!(definition.iso_storage);
            body["iso_checksum"] = json!(if definition.iso_checksum.is_empty() {
                "none"
            } else {
                definition.iso_checksum.as_str()
            });
        }
    }
    Ok(body)
}

/// `Err(reason)` for a 4xx answer (without its body), `Ok` otherwise.
fn refused(response: &Response, what: &str) -> Result<(), String> {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return Err(format!("proxbox-api refused {what} ({})", status.as_u16()));
    }
    Ok(())
}

/// The JSON body of a successful answer, or the reason of a refusal with its `detail`/`reason`.
async fn refused_or_json(response: Response, what: &str) -> Result<Json, Failure> {
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
async fn reason_of(response: Response, reason: String) -> String {
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
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "proxbox-api");
    }
    text
}
