//! The Packer template (SPEC §7.4): golden files for clone and ISO definitions and builds, read
//! through `packerTemplate` and printed by `packer-gateway render`. A change to the rendering
//! shows as a diff of `tests/golden/*.pkr.hcl`; `UPDATE_GOLDEN=1 cargo test --test it template::`
//! rewrites them.

use entity::enums::{BuildStatus, BuilderType};
use sea_orm::Set;
use serde_json::json;

use crate::support::{TestApp, World, at, build_gid, code, gid};

/// Compares `text` with the golden file `name`, or rewrites it under `UPDATE_GOLDEN`.
fn golden(name: &str, text: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == text,
        "{name} differs from the rendering (run `UPDATE_GOLDEN=1 cargo test --test it template::` \
         and review the diff):\n{text}"
    );
}

/// The three kinds of definition: clone, ISO from a URL, ISO from an uploaded file.
async fn definitions(app: &TestApp, world: &World) -> [i32; 3] {
    let seed = app.seed();
    let clone = seed
        .definition("Ubuntu 24.04", world.endpoint, world.cluster, &[], |d| {
            d.slug = Set("ubuntu-2404".into());
            d.default_variables = Set(json!({"memory_mb": 4096, "cores": 4}));
        })
        .await;
    let iso_url = seed
        .definition(
            "Debian 13 netinst",
            world.endpoint,
            world.cluster,
            &[],
            |d| {
                d.slug = Set("debian-13".into());
                d.builder_type = Set(BuilderType::ProxmoxIso);
                d.source_template_vmid = Set(None);
                d.iso_url = Set(Some(
                    "https://cdimage.example.org/debian-13.iso?a=1&b=\"2\"".into(),
                ));
                d.iso_checksum = Set(format!("sha256:{}", "ab".repeat(32)));
                d.default_ciuser = Set("debian".into());
                d.provisioner_recipe = Set(entity::enums::ProvisionerRecipe::DebianBase);
                d.default_variables =
                    Set(json!({"vm_storage": "ceph", "cpu_type": "x86-64-v2-AES"}));
            },
        )
        .await;
    let iso_file = seed
        .definition("Rocky 9", world.endpoint, world.cluster, &[], |d| {
            d.slug = Set("rocky-9".into());
            d.builder_type = Set(BuilderType::ProxmoxIso);
            d.source_template_vmid = Set(None);
            d.iso_storage = Set("local:iso/Rocky-9.5-x86_64-minimal.iso".into());
            d.provisioner_recipe = Set(entity::enums::ProvisionerRecipe::DockerHost);
        })
        .await;
    [clone, iso_url, iso_file]
}

#[tokio::test]
async fn definitions_and_builds_render_their_golden_templates() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let [clone, iso_url, iso_file] = definitions(&app, &world).await;
    let build = app
        .seed()
        .build(
            clone,
            world.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |b| {
                b.output_name = Set("Ubuntu 24.04 / 2026.11 GA".into());
                b.output_vmid = Set(9100);
                b.target_node = Set("pve2".into());
                b.variables =
                    Set(json!({"cores": 8, "bridge": "vmbr1", "cloud_init_storage": "local"}));
            },
        )
        .await;
    let query = "query ($d: ID!, $b: ID!) {
        imageDefinition(id: $d) { packerTemplate }
        imageBuild(id: $b) { packerTemplate definition { packerTemplate } } }";
    let data = app
        .data(
            query,
            json!({"d": gid::<entity::image_definition::Entity>(clone), "b": build_gid(build)}),
        )
        .await;
    let definition = data["imageDefinition"]["packerTemplate"]
        .as_str()
        .expect("a template");
    golden("clone-definition.pkr.hcl", definition);
    golden(
        "clone-build.pkr.hcl",
        data["imageBuild"]["packerTemplate"]
            .as_str()
            .expect("a template"),
    );
    assert_eq!(
        data["imageBuild"]["definition"]["packerTemplate"],
        definition
    );
    for (id, name) in [
        (iso_url, "iso-url-definition.pkr.hcl"),
        (iso_file, "iso-file-definition.pkr.hcl"),
    ] {
        let data = app
            .data(
                "query ($d: ID!) { imageDefinition(id: $d) { packerTemplate } }",
                json!({"d": gid::<entity::image_definition::Entity>(id)}),
            )
            .await;
        golden(
            name,
            data["imageDefinition"]["packerTemplate"]
                .as_str()
                .expect("a template"),
        );
    }
}

#[tokio::test]
async fn a_template_follows_the_visibility_of_its_definition() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let hidden = app
        .seed()
        .definition(
            "Private",
            world.endpoint,
            world.cluster,
            &[world.t1],
            |_| {},
        )
        .await;
    let (_, viewer) = app
        .user(entity::enums::Role::Viewer, &[world.t2], true)
        .await;
    let body = app
        .as_user(
            &viewer,
            "query ($d: ID!) { imageDefinition(id: $d) { packerTemplate } }",
            json!({"d": gid::<entity::image_definition::Entity>(hidden)}),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn the_render_command_prints_the_same_templates() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let [clone, ..] = definitions(&app, &world).await;
    let build = app
        .seed()
        .build(
            clone,
            world.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |b| {
                b.output_vmid = Set(9100);
            },
        )
        .await;
    let data = app
        .data(
            "query ($d: ID!, $b: ID!) { imageDefinition(id: $d) { packerTemplate } imageBuild(id: $b) { packerTemplate } }",
            json!({"d": gid::<entity::image_definition::Entity>(clone), "b": build_gid(build)}),
        )
        .await;
    let binary = env!("CARGO_BIN_EXE_packer-gateway");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(binary)
            .args([
                "--database-url",
                &app.url,
                "render",
                "--definition",
                "ubuntu-2404",
            ])
            .args(args)
            .output()
            .expect("run packer-gateway render");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        data["imageDefinition"]["packerTemplate"]
            .as_str()
            .expect("text")
    );
    let (ok, out, err) = run(&["--build", &build.to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        data["imageBuild"]["packerTemplate"].as_str().expect("text")
    );
    let (ok, _, err) = run(&["--build", "999999"]);
    assert!(!ok);
    assert!(err.contains("no build 999999"), "{err}");
}
