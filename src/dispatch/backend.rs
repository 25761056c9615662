//! What a backend is given and gives back: the [`Work`] on one build (its stop signal, its log,
//! where the backend's id goes), the [`Outcome`], and the [`Log`] every line goes through
//! (secrets scrubbed, the last lines kept for `error`, then the [`LogSink`]).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

pub use crate::registry::lifecycle::dispatch::Job;
use crate::registry::logs::Secrets;

/// How many of a build's last log lines a failure's `error` carries (SPEC §7.1).
pub const TAIL: usize = 20;

/// A build backend: runs a claimed build to its end, or takes over one whose dispatcher died.
pub trait Backend: Send + Sync + 'static {
    /// The backend's name, as `--dispatch` spells it (it names the backend in start events).
    fn name(&self) -> &'static str;

    /// Runs `job` (already `running`) until the backend reports its end, or until `work.stop`
    /// fires (the build was cancelled or timed out): then it stops the backend's work and
    /// returns [`Outcome::Stopped`].
    fn run<'a>(&'a self, job: &'a Job, work: &'a Work) -> BoxFuture<'a, Outcome>;

    /// Takes over `job`, started by a dispatcher that died (its lease expired). Nothing may run
    /// twice: a backend that cannot follow the build any more fails it.
    fn adopt<'a>(&'a self, job: &'a Job, work: &'a Work) -> BoxFuture<'a, Outcome>;
}

/// The kind of a backend's failure: bounded, for the label `reason` of
/// `packer_gateway_dispatch_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The backend refused the build: a 4xx, an endpoint or a definition it cannot take, a
    /// template packer does not validate.
    Rejected,
    /// The backend did not answer, answered 5xx, kept rate-limiting or broke its protocol.
    Unavailable,
    /// The build ran and failed there.
    Build,
    /// The build was lost: the backend no longer knows it, or its dispatcher stopped.
    Lost,
    /// This host could not prepare the work (credentials, working directory, the packer binary).
    Local,
}

impl Why {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Why::Rejected => "rejected",
            Why::Unavailable => "unavailable",
            Why::Build => "build",
            Why::Lost => "lost",
            Why::Local => "local",
        }
    }

    /// The kind of an HTTP refusal: 5xx is the backend's trouble, anything else a refusal.
    pub fn of_status(status: u16) -> Why {
        if status >= 500 {
            Why::Unavailable
        } else {
            Why::Rejected
        }
    }
}

/// How a backend's work on a build ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The backend built the image: its final report, and the VMID its artifact names.
    Completed {
        /// The backend's final report (`backend_response`).
        response: Json,
        /// The output VMID the artifact confirms, if it names one.
        output_vmid: Option<i32>,
    },
    /// The backend failed the build, for `reason` (the log tail is added by the dispatcher).
    Failed {
        /// Why, in the backend's words (scrubbed).
        reason: String,
        /// Why, as a kind (the label of the failures metric).
        why: Why,
    },
    /// The work was stopped because the build is no longer running (cancelled, timed out).
    Stopped,
}

/// Where log lines go once scrubbed (the `buildlogs` module stores them; `serve` without it
/// discards them).
pub trait LogSink: Send + Sync + 'static {
    /// Takes line `line` of build `build`, from `stream` (`stdout`, `stderr`, `ui`, …).
    fn write<'a>(&'a self, build: i32, stream: &'a str, line: &'a str) -> BoxFuture<'a, ()>;
}

/// A sink that drops every line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl LogSink for Discard {
    fn write<'a>(&'a self, _build: i32, _stream: &'a str, _line: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// One build's log: scrubs each line, keeps the last [`TAIL`] in memory, hands it to the sink.
pub struct Log {
    build: i32,
    scrubber: Arc<Secrets>,
    sink: Arc<dyn LogSink>,
    tail: Mutex<VecDeque<String>>,
}

impl Log {
    /// The log of `build`.
    pub fn new(build: i32, scrubber: Arc<Secrets>, sink: Arc<dyn LogSink>) -> Log {
        Log {
            build,
            scrubber,
            sink,
            tail: Mutex::new(VecDeque::with_capacity(TAIL)),
        }
    }

    /// Writes one line.
    pub async fn line(&self, stream: &str, line: &str) {
        let line = self.scrubber.text(line.trim_end_matches(['\r', '\n']));
        {
            let mut tail = self
                .tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        self.sink.write(self.build, stream, &line).await;
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The scrubber of this log (for errors and responses).
    pub fn scrubber(&self) -> &Secrets {
        &self.scrubber
    }
}

/// One build's work as a backend sees it.
pub struct Work {
    /// Fires when the build is no longer running (cancelled, timed out, failed by someone
    /// else): the backend stops its work.
    pub stop: CancellationToken,
    /// The build's log.
    pub log: Log,
    /// Records the backend's id of the build (`backend_build_id`).
    pub(super) record: Box<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>,
}

impl Work {
    /// Stores the backend's id of the build as its `backend_build_id`.
    pub async fn backend_build_id(&self, id: String) {
        (self.record)(id).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{Discard, Log, TAIL};
    use crate::registry::logs::Secrets;

    #[test]
    fn every_secret_is_scrubbed_from_text_and_json() {
        let scrubber = Secrets::new(["key-123".to_owned(), "key-1234".to_owned(), String::new()]);
        assert_eq!(scrubber.text("a key-1234 and key-123."), "a *** and ***.");
        assert_eq!(
            scrubber.json(json!({"x": ["key-123"], "key-123": 1, "n": 2})),
            json!({"x": ["***"], "***": 1, "n": 2})
        );
    }

    #[tokio::test]
    async fn the_log_keeps_the_last_lines_scrubbed() {
        let log = Log::new(
            1,
            Arc::new(Secrets::new(["s3cret".to_owned()])),
            Arc::new(Discard),
        );
        for i in 0..(TAIL + 5) {
            log.line("stdout", &format!("line {i} s3cret\n")).await;
        }
        let tail = log.tail();
        assert_eq!(tail.len(), TAIL);
        assert_eq!(tail[0], "line 5 ***");
        assert_eq!(tail[TAIL - 1], format!("line {} ***", TAIL + 4));
    }
}
