//! A build's event stream, opened **exactly once** (opening it starts packer): its packer log
//! lines, artifact and report read into the build's log and outcome; a cancel passed on, with
//! the kill grace for the stream to end.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value as Json;

use super::{
    LOST, Proxbox,
    client::{reason_of, refused, without_url},
};
use crate::dispatch::{
    backend::{Outcome, Why, Work},
    sse,
};

impl Proxbox {
    /// Reads the build's event stream, opened once, to its end.
    pub(super) async fn follow(&self, build_id: &str, work: &Work) -> Outcome {
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
