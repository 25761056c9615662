//! The `packer` backend (SPEC §7.3), run for real with a fake `packer` executable written by the
//! test: it speaks packer's command line and machine-readable output, checks its working
//! directory and environment, fails, or hangs until SIGTERM.

use std::{path::PathBuf, sync::Arc};

use entity::enums::BuildStatus;
use packer_gateway::dispatch::{self, Dispatcher, Job, packer::Renderer};
use serde_json::json;

use super::rig::{self, Lines};
use crate::support::{TestApp, build_gid, unique, wait_for};

/// The Proxmox token: it must never appear in a log line, an error or the API.
const TOKEN: &str = "c0ffee00-1234-5678-9abc-def012345678";

/// A renderer that writes a minimal template and recipe (the real one is SPEC §7.4's).
struct TestRenderer;

impl Renderer for TestRenderer {
    fn render(&self, job: &Job) -> Result<Vec<(String, String)>, String> {
        Ok(vec![
            (
                "template.pkr.hcl".into(),
                format!(
                    "source \"proxmox-clone\" \"image\" {{ vm_id = {} }}\n",
                    job.build.output_vmid
                ),
            ),
            ("provisioner.sh".into(), "#!/bin/sh\ntrue\n".into()),
        ])
    }
}

/// The fake packer: `init`, `validate` (the directory must hold the template and the
/// variables, the environment the credentials), then `build` in `mode`.
fn fake_packer(dir: &std::path::Path, mode: &str) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
MODE={mode}
now() {{ date +%s; }}
case "$1" in
  init) echo "Installed plugin github.com/hashicorp/proxmox v1.2.4 in /plugins"; exit 0 ;;
  validate)
    test -f template.pkr.hcl && test -f build.auto.pkrvars.json || {{ echo "* missing files" >&2; exit 1; }}
    {{ test -f provisioner.sh || {{ grep -q 'recipes/debian-base.sh' template.pkr.hcl && test -s recipes/debian-base.sh; }}; }} || {{ echo "* no recipe" >&2; exit 1; }}
    test "$PROXMOX_USERNAME" = "packer@pve!ci" && test "$PROXMOX_URL" = "https://pve.example.net:8006/api2/json" || {{ echo "* no credentials" >&2; exit 1; }}
    echo "The configuration is valid."; exit 0 ;;
  build)
    test "$2" = "-machine-readable" && test "$3" = "-on-error=cleanup" || exit 64
    echo "$(now),,ui,say,==> proxmox-clone.image: Creating VM%!(PACKER_COMMA) cloning 9000"
    echo "$(now),,ui,message,    proxmox-clone.image: using token $PROXMOX_TOKEN"
    case "$MODE" in
      complete)
        echo "$(now),proxmox-clone.image,artifact-count,1"
        echo "$(now),proxmox-clone.image,artifact,0,builder-id,proxmox.clone"
        echo "$(now),proxmox-clone.image,artifact,0,id,9101"
        echo "$(now),proxmox-clone.image,artifact,0,end"
        exit 0 ;;
      fail)
        echo "$(now),,ui,error,Build 'proxmox-clone.image' errored: VM 9000 not found"
        echo "some stderr noise" >&2
        exit 1 ;;
      hang)
        trap 'echo "$(now),,ui,say,Cancelling build after receiving terminated"; exit 2' TERM
        echo "$(now),,ui,say,==> proxmox-clone.image: Waiting for SSH to become available..."
        while true; do sleep 0.05; done ;;
    esac ;;
esac
exit 64
"#
    );
    let path = dir.join("packer");
    std::fs::write(&path, script).expect("write the fake packer");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

struct PackerRig {
    app: TestApp,
    dir: PathBuf,
    definition: i32,
    lines: Arc<Lines>,
    dispatcher: Option<Dispatcher>,
}

impl PackerRig {
    /// A rig whose dispatcher has the tests' renderer and log sink.
    async fn new(mode: &str) -> PackerRig {
        PackerRig::with(mode, false).await
    }

    /// A rig whose dispatcher has the seams `serve` gives it (`service`): the Packer template of
    /// SPEC §7.4 and the build log's writer; otherwise the tests' renderer and log sink.
    async fn with(mode: &str, service: bool) -> PackerRig {
        let dir = std::env::temp_dir().join(unique("packer-rig"));
        std::fs::create_dir_all(dir.join("work")).expect("a directory");
        let bin = fake_packer(&dir, mode);
        let credentials = dir.join("credentials.toml");
        std::fs::write(
            &credentials,
            format!(
                "[pve]\nurl = \"https://pve.example.net:8006/api2/json\"\nusername = \"packer@pve!ci\"\ntoken = \"{TOKEN}\"\n"
            ),
        )
        .expect("write the credentials");
        let flags = [
            "--dispatch".to_owned(),
            "packer".to_owned(),
            "--packer-bin".to_owned(),
            bin.display().to_string(),
            "--packer-workdir".to_owned(),
            dir.join("work").display().to_string(),
            "--proxmox-credentials".to_owned(),
            credentials.display().to_string(),
            "--dispatch-poll-interval".to_owned(),
            "0.1".to_owned(),
            "--dispatch-lease".to_owned(),
            "30".to_owned(),
            "--dispatch-kill-grace".to_owned(),
            "5".to_owned(),
            "--shutdown-grace".to_owned(),
            "0.2".to_owned(),
        ];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let app = TestApp::with_args(&flags).await;
        let seed = app.seed();
        let cluster = seed.cluster("pve-prod").await;
        let endpoint = seed.endpoint("pve").await;
        let definition = seed
            .definition("Debian 12", endpoint, cluster, &[], |d| {
                d.provisioner_recipe = sea_orm::Set(entity::enums::ProvisionerRecipe::DebianBase);
            })
            .await;
        app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1}))
            .await;
        let lines = Arc::new(Lines::default());
        let dispatcher = if service {
            dispatch::start_with(
                &app.app,
                "",
                Arc::new(dispatch::StoredLogs(app.app.logs.clone())),
                Some(Arc::new(dispatch::Templates)),
            )
            .expect("the dispatcher starts")
            .expect("a backend")
        } else {
            start(&app, &lines)
        };
        PackerRig {
            app,
            dir,
            definition,
            lines,
            dispatcher: Some(dispatcher),
        }
    }

    async fn queue(&self) -> i32 {
        rig::queue(&self.app, self.definition).await
    }

    async fn build(&self, id: i32) -> entity::image_build::Model {
        rig::build(&self.app, id).await
    }

    async fn wait_status(&self, id: i32, status: BuildStatus) -> entity::image_build::Model {
        rig::wait_status(&self.app, id, status).await
    }

    /// Whether the fake packer of build `id` logged that SIGTERM cancelled it.
    fn got_sigterm(&self, id: i32) -> bool {
        self.lines
            .of(id)
            .iter()
            .any(|l| l.contains("Cancelling build after receiving terminated"))
    }

    /// Queues a build and waits until the fake packer (`hang`) waits for SSH.
    async fn waiting_for_ssh(&self) -> i32 {
        let id = self.queue().await;
        self.wait_status(id, BuildStatus::Running).await;
        wait_for("packer waiting", || async {
            self.lines
                .of(id)
                .iter()
                .any(|l| l.contains("Waiting for SSH"))
        })
        .await;
        id
    }

    fn workdir_of(&self, id: i32) -> PathBuf {
        self.dir.join("work").join(format!("build-{id}"))
    }
}

impl Drop for PackerRig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(app: &TestApp, lines: &Arc<Lines>) -> Dispatcher {
    dispatch::start_with(&app.app, "", lines.clone(), Some(Arc::new(TestRenderer)))
        .expect("the dispatcher starts")
        .expect("a backend")
}

#[tokio::test]
async fn packer_builds_end_to_end_and_the_artifact_confirms_the_vmid() {
    let rig = PackerRig::new("complete").await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Completed).await;
    assert_eq!(build.output_vmid, 9101, "the artifact's VMID");
    assert_eq!(build.backend_response["artifact_id"], 9101);
    assert!(build.cloud_image_template_id.is_some());
    let log = rig.lines.of(id);
    assert!(
        log.contains(&"The configuration is valid.".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"==> proxmox-clone.image: Creating VM, cloning 9000".to_owned()),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.ends_with("using token ***")),
        "{log:?}"
    );
    assert!(log.iter().all(|l| !l.contains(TOKEN)));
    wait_for("the working directory removed", || async {
        !rig.workdir_of(id).exists()
    })
    .await;
}

/// What `serve` runs: the build's own template and recipe in its working directory, its log lines
/// stored and read back through the API (`ImageBuild.log`), scrubbed.
#[tokio::test]
async fn with_the_service_seams_the_template_is_rendered_and_the_log_stored() {
    let rig = PackerRig::with("complete", true).await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Completed).await;
    assert_eq!(build.output_vmid, 9101, "the artifact's VMID");
    let query =
        "query ($id: ID!) { imageBuild(id: $id) { log(first: 100) { nodes { stream line } } } }";
    let log = || async {
        let data = rig.app.data(query, json!({"id": build_gid(id)})).await;
        data["imageBuild"]["log"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for("the log stored", || async {
        log()
            .await
            .iter()
            .any(|l| l["line"] == "==> proxmox-clone.image: Creating VM, cloning 9000")
    })
    .await;
    let log = log().await;
    assert!(
        log.iter()
            .any(|l| l["line"] == "The configuration is valid."),
        "validate passed on the rendered template and recipe: {log:?}"
    );
    assert!(
        log.iter().any(|l| l["line"]
            .as_str()
            .is_some_and(|l| l.ends_with("using token ***"))),
        "{log:?}"
    );
    assert!(!json!(log).to_string().contains(TOKEN));
}

#[tokio::test]
async fn a_failing_packer_fails_the_build_with_its_last_lines_and_no_token() {
    let rig = PackerRig::new("fail").await;
    let id = rig.queue().await;
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert!(
        build.error.starts_with("packer build exited with 1\n"),
        "{}",
        build.error
    );
    assert!(build.error.contains("VM 9000 not found"), "{}", build.error);
    assert!(build.error.contains("using token ***"), "{}", build.error);
    assert!(!build.error.contains(TOKEN));
    let shown = rig
        .app
        .data(
            "query ($id: ID!) { imageBuild(id: $id) { error backendResponse events { message } } }",
            json!({"id": id.to_string()}),
        )
        .await;
    assert!(!shown.to_string().contains(TOKEN));
}

/// SPEC §9: a dispatcher shutting down waits its grace, then fails what still runs and stops it
/// at the backend; nothing is left `running` with nobody following it.
#[tokio::test]
async fn a_dispatcher_shutting_down_fails_what_still_runs_and_stops_it() {
    let mut rig = PackerRig::new("hang").await;
    let id = rig.waiting_for_ssh().await;
    rig.dispatcher
        .take()
        .expect("the dispatcher")
        .shutdown()
        .await;
    let build = rig.build(id).await;
    assert_eq!(build.status, BuildStatus::Failed);
    assert_eq!(build.error, dispatch::SHUT_DOWN);
    assert!(rig.got_sigterm(id), "packer got SIGTERM");
    assert_eq!(rig.app.count("build_lease").await, 0, "the lease released");
}

#[tokio::test]
async fn a_cancelled_packer_build_gets_sigterm_and_stays_cancelled() {
    let rig = PackerRig::new("hang").await;
    let id = rig.waiting_for_ssh().await;
    rig::cancel(&rig.app, id).await;
    wait_for("the lease released", || async {
        rig.app.count("build_lease").await == 0
    })
    .await;
    assert!(rig.got_sigterm(id), "packer got SIGTERM");
    let build = rig.build(id).await;
    assert_eq!(build.status, BuildStatus::Cancelled);
}

#[tokio::test]
async fn a_packer_build_whose_dispatcher_died_is_failed_by_the_adopter() {
    let mut rig = PackerRig::new("hang").await;
    let id = rig.queue().await;
    rig.wait_status(id, BuildStatus::Running).await;
    rig.dispatcher.take().expect("a dispatcher").kill();
    let second = rig
        .app
        .second_instance(&[
            "--dispatch",
            "packer",
            "--proxmox-credentials",
            &rig.dir.join("credentials.toml").display().to_string(),
            "--dispatch-poll-interval",
            "0.1",
        ])
        .await;
    let _adopter = start(&second, &rig.lines);
    second.app.clock.advance(chrono::Duration::seconds(61));
    let build = rig.wait_status(id, BuildStatus::Failed).await;
    assert_eq!(
        build.error,
        "dispatcher stopped while the build was running"
    );
}

#[tokio::test]
async fn the_packer_backend_refuses_to_start_without_a_renderer() {
    let rig = PackerRig::new("complete").await;
    let refused = dispatch::start(&rig.app.app, rig.lines.clone())
        .err()
        .expect("refused");
    assert!(
        refused.contains("needs the Packer template renderer"),
        "{refused}"
    );
}
