//! The `packer` backend (SPEC §7.3): the packer binary on this host.
//!
//! Per build, a working directory holds what the [`Renderer`] writes (the template, the
//! provisioner recipe) and a `*.auto.pkrvars.json` of the effective variables; then `packer
//! init`, `packer validate` and `packer build -machine-readable -on-error=cleanup` run there as
//! child processes, their output read line by line. The endpoint's Proxmox credentials reach
//! packer only through its environment (`PROXMOX_URL`, `PROXMOX_USERNAME`, `PROXMOX_TOKEN`).
//! A stop (cancel, timeout) sends SIGTERM, then SIGKILL after the grace. A build whose
//! dispatcher died cannot be followed (its packer died with it or is nobody's child): adoption
//! fails it.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

use super::backend::{Backend, Job, Outcome, Why, Work};
use crate::{config::Secret, registry::template};

/// What adoption says (SPEC §7.1).
pub const ORPHANED: &str = "dispatcher stopped while the build was running";

/// Writes the files of a build's working directory (the Packer template of SPEC §7.4 and the
/// provisioner recipe): `(file name, content)` pairs. The variables file is the backend's.
pub trait Renderer: Send + Sync + 'static {
    /// The files for `job`, or why it cannot be rendered.
    fn render(&self, job: &Job) -> Result<Vec<(String, String)>, String>;
}

/// One endpoint's Proxmox credentials (a table of the credentials file).
#[derive(Clone, Debug, Deserialize)]
pub struct Credentials {
    /// `https://host:8006/api2/json`.
    pub url: String,
    /// A token id, `user@realm!name`.
    pub username: String,
    /// The token's secret.
    pub token: Secret,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads the credentials file: one table per endpoint name with `url`, `username`, `token`.
pub fn read_credentials(path: &Path) -> Result<HashMap<String, Credentials>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_credentials(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the credentials file's text (errors never quote a value).
pub fn parse_credentials(text: &str) -> Result<HashMap<String, Credentials>, String> {
    toml::from_str::<HashMap<String, Credentials>>(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| format!(" at byte {}", span.start))
            .unwrap_or_default();
        format!("not a credentials file (a table per endpoint with url, username and token){at}")
    })
}

/// The packer binary, as configured.
pub struct Packer {
    /// The binary.
    pub bin: PathBuf,
    /// Where working directories are made.
    pub workdir: PathBuf,
    /// Whether a failed build's working directory is kept.
    pub keep_failed: bool,
    /// Credentials by endpoint name.
    pub credentials: HashMap<String, Credentials>,
    /// The template renderer.
    pub renderer: Arc<dyn Renderer>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

impl Packer {
    /// The secrets to scrub: every token.
    pub fn secrets(&self) -> Vec<String> {
        self.credentials
            .values()
            .map(|c| c.token.expose().to_owned())
            .collect()
    }

    async fn run_job(&self, job: &Job, work: &Work) -> Outcome {
        let dir = self.workdir.join(format!("build-{}", job.build.id));
        let outcome = self.run_in(&dir, job, work).await;
        let failed = matches!(outcome, Outcome::Failed { .. });
        if !(failed && self.keep_failed) {
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        outcome
    }

    async fn run_in(&self, dir: &Path, job: &Job, work: &Work) -> Outcome {
        let failed = |why: Why, reason: String| Outcome::Failed { reason, why };
        let Some(credentials) = self.credentials.get(&job.endpoint.name) else {
            return failed(
                Why::Local,
                format!(
                    "no Proxmox credentials for endpoint `{}` in the credentials file",
                    job.endpoint.name
                ),
            );
        };
        if let Err(reason) = self.prepare(dir, job).await {
            return failed(Why::Local, reason);
        }
        let env = [
            ("PROXMOX_URL", credentials.url.as_str()),
            ("PROXMOX_USERNAME", credentials.username.as_str()),
            ("PROXMOX_TOKEN", credentials.token.expose()),
        ];
        let steps: [(&str, &[&str]); 3] = [
            ("init", &["init", "."]),
            ("validate", &["validate", "."]),
            (
                "build",
                &["build", "-machine-readable", "-on-error=cleanup", "."],
            ),
        ];
        let mut vmid = None;
        for (step, args) in steps {
            match self.step(dir, args, &env, work, step == "build").await {
                Step::Exited(0, artifact) => vmid = artifact.or(vmid),
                Step::Exited(code, _) => {
                    let why = if step == "build" {
                        Why::Build
                    } else {
                        Why::Rejected
                    };
                    return failed(why, format!("packer {step} exited with {code}"));
                }
                Step::NotStarted(reason) => return failed(Why::Local, reason),
                Step::Stopped => return Outcome::Stopped,
            }
        }
        Outcome::Completed {
            response: json!({"backend": "packer", "artifact_id": vmid}),
            output_vmid: vmid,
        }
    }

    /// Writes the working directory.
    async fn prepare(&self, dir: &Path, job: &Job) -> Result<(), String> {
        let files = self.renderer.render(job)?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("cannot create the working directory: {e}"))?;
        let variables = template::effective(&job.definition, Some(&job.build));
        let variables = serde_json::to_string_pretty(&Json::Object(variables))
            .map_err(|e| format!("cannot write the variables: {e}"))?;
        let all = files
            .into_iter()
            .chain([("build.auto.pkrvars.json".to_owned(), variables)]);
        for (name, content) in all {
            let path = Path::new(&name);
            let inside = path
                .components()
                .all(|part| matches!(part, std::path::Component::Normal(_)));
            if !inside || name.starts_with('.') {
                return Err(format!(
                    "the renderer named a file outside the directory: {name}"
                ));
            }
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(dir.join(parent))
                    .await
                    .map_err(|e| format!("cannot create the working directory: {e}"))?;
            }
            tokio::fs::write(dir.join(&name), content)
                .await
                .map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        Ok(())
    }

    /// Runs one packer command to its end (or stops it), its output to the log.
    async fn step(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        work: &Work,
        machine_readable: bool,
    ) -> Step {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Step::NotStarted(format!("cannot run {}: {e}", self.bin.display()));
            }
        };
        let (tx, mut rx) = mpsc::channel::<(&'static str, String)>(256);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pipe(out, "stdout", tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pipe(err, "stderr", tx.clone()));
        }
        drop(tx);
        let mut artifact = None;
        let mut stopping: Option<tokio::time::Instant> = None;
        let mut open = true;
        loop {
            let grace = async {
                match stopping {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                line = rx.recv(), if open => match line {
                    Some((stream, line)) => {
                        if machine_readable && stream == "stdout" {
                            match machine_line(&line) {
                                Machine::Ui(text) => work.log.line("ui", &text).await,
                                Machine::Artifact(vmid) => artifact = Some(vmid),
                                Machine::Other => {}
                                Machine::Plain => work.log.line(stream, &line).await,
                            }
                        } else {
                            work.log.line(stream, &line).await;
                        }
                    }
                    None => open = false,
                },
                status = child.wait(), if !open => {
                    if stopping.is_some() {
                        return Step::Stopped;
                    }
                    return match status {
                        Ok(status) => Step::Exited(status.code().unwrap_or(-1), artifact),
                        Err(e) => Step::NotStarted(format!("packer vanished: {e}")),
                    };
                }
                () = work.stop.cancelled(), if stopping.is_none() => {
                    terminate(&child);
                    stopping = Some(tokio::time::Instant::now() + self.kill_grace);
                }
                () = grace => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Step::Stopped;
                }
            }
        }
    }
}

impl Backend for Packer {
    fn name(&self) -> &'static str {
        "packer"
    }

    fn run<'a>(&'a self, job: &'a Job, work: &'a Work) -> BoxFuture<'a, Outcome> {
        Box::pin(self.run_job(job, work))
    }

    fn adopt<'a>(&'a self, _job: &'a Job, _work: &'a Work) -> BoxFuture<'a, Outcome> {
        Box::pin(async {
            Outcome::Failed {
                reason: ORPHANED.to_owned(),
                why: Why::Lost,
            }
        })
    }
}

enum Step {
    Exited(i32, Option<i32>),
    NotStarted(String),
    Stopped,
}

/// Sends SIGTERM to `child` (packer cancels and cleans up on it).
fn terminate(child: &Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Forwards the lines of `reader` as `stream`.
async fn pipe(
    reader: impl tokio::io::AsyncRead + Unpin,
    stream: &'static str,
    tx: mpsc::Sender<(&'static str, String)>,
) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if tx.send((stream, line)).await.is_err() {
            return;
        }
    }
}

/// One machine-readable line (`timestamp,target,type,data…`).
#[derive(Debug, PartialEq, Eq)]
enum Machine {
    /// A `ui` line's text.
    Ui(String),
    /// `artifact,0,id,<vmid>`.
    Artifact(i32),
    /// Another machine-readable line.
    Other,
    /// Not machine-readable.
    Plain,
}

fn machine_line(line: &str) -> Machine {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() < 3 || fields[0].parse::<i64>().is_err() {
        return Machine::Plain;
    }
    let unescape = |s: &str| s.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n");
    match fields[2] {
        "ui" if fields.len() >= 5 => Machine::Ui(unescape(&fields[4..].join(","))),
        "artifact" if fields.len() >= 6 && fields[3] == "0" && fields[4] == "id" => {
            // The Proxmox builders' artifact id is the VMID.
            let id = unescape(fields[5]);
            id.rsplit(':')
                .next()
                .and_then(|v| v.trim().parse().ok())
                .map_or(Machine::Other, Machine::Artifact)
        }
        _ => Machine::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::{Machine, machine_line, parse_credentials};

    #[test]
    fn machine_readable_lines() {
        assert_eq!(
            machine_line("1700000000,proxmox-clone.image,ui,say,==> a%!(PACKER_COMMA) b"),
            Machine::Ui("==> a, b".into())
        );
        assert_eq!(
            machine_line("1700000000,proxmox-clone.image,artifact,0,id,9100"),
            Machine::Artifact(9100)
        );
        assert_eq!(machine_line("1700000000,,artifact-count,1"), Machine::Other);
        assert_eq!(machine_line("plain text, with commas"), Machine::Plain);
    }

    #[test]
    fn the_credentials_file_has_a_table_per_endpoint() {
        let parsed = parse_credentials(
            "[pve-api]\nurl = \"https://pve:8006/api2/json\"\nusername = \"packer@pve!ci\"\ntoken = \"t0k3n\"\n",
        )
        .expect("parsed");
        assert_eq!(parsed["pve-api"].username, "packer@pve!ci");
        assert_eq!(parsed["pve-api"].token.expose(), "t0k3n");
        let err = parse_credentials("[pve]\nurl = \"x\"\ntoken = \"s3cret-value\"\n")
            .expect_err("no username");
        assert!(!err.contains("s3cret-value"), "{err}");
    }
}
