//! The Packer template (SPEC §7.4): the HCL2 that a definition (with its default variables) or a
//! build (with its effective variables, SPEC §1.6) runs, written with the `hcl` crate's builder
//! (`hcl::to_string` escapes every string; nothing here pastes HCL text together).
//!
//! The template declares one `variable` per value that depends on the definition or the build,
//! with that value as its default, and the source refers to them (`var.node`, …): the text is
//! complete and readable on its own, and a `*.auto.pkrvars.json` beside it (the packer backend,
//! SPEC §7.3) may override them. Proxmox credentials are read from the environment only
//! (`env("PROXMOX_URL")`, …): no secret is ever part of a template.
//!
//! [`render`] is a pure function, golden-tested (`tests/it/template.rs`); [`of_definition`] and
//! [`of_build`] are the scoped reads behind `packerTemplate` and `packer-gateway render`.

use entity::{
    enums::{BuilderType, ProvisionerRecipe},
    image_build, image_definition,
};
use hcl::{
    Attribute, Block, Body, Expression, Identifier, Object, ObjectKey,
    expr::{FuncCall, Traversal, Variable},
};
use sea_orm::{ActiveEnum, ColumnTrait, DatabaseConnection, QueryFilter};
use serde_json::{Map, Value};

use super::{id::Id, read};
use crate::{auth::Scope, error::Error};

/// The Proxmox plugin the template requires (SPEC §7.4; the reference's `>= 1.2.3`).
pub const PLUGIN_VERSION: &str = ">= 1.2.3";
/// Proxmox storage that receives a downloaded ISO (`iso_url`): ISO content needs a file storage,
/// which `local` is on every Proxmox VE node.
pub const ISO_STORAGE_POOL: &str = "local";
/// The disk size of an ISO build.
pub const ISO_DISK_SIZE: &str = "20G";
/// The source's name: `source.<builder>.image`.
const SOURCE_NAME: &str = "image";

/// The values a template is rendered with: the definition's, overlaid with a build's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variables {
    /// Proxmox node.
    pub node: String,
    /// The output VMID (none for a definition alone: a build provides it).
    pub vm_id: Option<i32>,
    /// The DNS-safe name of the output VM and template.
    pub vm_name: String,
    /// Storage of the output disk.
    pub vm_storage: String,
    /// Storage of the cloud-init drive.
    pub cloud_init_storage: String,
    /// Network bridge.
    pub bridge: String,
    /// Memory, MiB.
    pub memory_mb: i64,
    /// CPU cores.
    pub cores: i64,
    /// CPU type.
    pub cpu_type: String,
    /// The user packer connects as.
    pub ssh_username: String,
}

/// Defaults of the typed variables that neither the definition nor the build set (proxbox-api's
/// defaults: `reference/proxbox-api-and-packer.md` §1.2).
const DEFAULT_MEMORY_MB: i64 = 2048;
const DEFAULT_CORES: i64 = 2;
const DEFAULT_CPU_TYPE: &str = "host";

impl Variables {
    /// The effective variables (SPEC §1.6) of `build` of `definition`, or of `definition` alone
    /// with its default variables: `default_variables` overlaid with the build's `variables`;
    /// `vm_storage` defaults to `default_storage`, `cloud_init_storage` to `vm_storage`, `bridge`
    /// to `default_bridge`.
    pub fn of(definition: &image_definition::Model, build: Option<&image_build::Model>) -> Self {
        let variables = effective(definition, build);
        let pick = |key: &str| variables.get(key);
        let text = |key: &str| pick(key).and_then(Value::as_str).map(str::to_owned);
        let int = |key: &str| pick(key).and_then(Value::as_i64);
        let vm_storage = text("vm_storage").unwrap_or_else(|| definition.default_storage.clone());
        let output_name = build.map_or(definition.slug.as_str(), |b| b.output_name.as_str());
        Variables {
            node: build.map_or_else(|| definition.target_node.clone(), |b| b.target_node.clone()),
            vm_id: build.map(|b| b.output_vmid),
            vm_name: dns_name(output_name),
            cloud_init_storage: text("cloud_init_storage").unwrap_or_else(|| vm_storage.clone()),
            vm_storage,
            bridge: text("bridge").unwrap_or_else(|| definition.default_bridge.clone()),
            memory_mb: int("memory_mb").unwrap_or(DEFAULT_MEMORY_MB),
            cores: int("cores").unwrap_or(DEFAULT_CORES),
            cpu_type: text("cpu_type").unwrap_or_else(|| DEFAULT_CPU_TYPE.to_owned()),
            ssh_username: definition.default_ciuser.clone(),
        }
    }
}

/// The effective variables (SPEC §1.6) of `build` of `definition`, or of `definition` alone: its
/// `default_variables` overlaid with the build's `variables` (what a backend is given as they are).
pub fn effective(
    definition: &image_definition::Model,
    build: Option<&image_build::Model>,
) -> Map<String, Value> {
    let mut variables = match &definition.default_variables {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(overrides)) = build.map(|b| &b.variables) {
        variables.extend(overrides.clone());
    }
    variables
}

/// The HCL2 template of `definition`, or of `build` of it (SPEC §7.4).
pub fn render(
    definition: &image_definition::Model,
    build: Option<&image_build::Model>,
) -> Result<String, Error> {
    let body = template(definition, &Variables::of(definition, build))?;
    hcl::to_string(&body).map_err(|e| Error::Internal(format!("rendering HCL: {e}")))
}

/// The file name of a provisioner recipe's script, relative to the template (the packer backend
/// writes it there).
pub fn recipe_script(recipe: ProvisionerRecipe) -> String {
    format!("recipes/{}.sh", recipe.to_value())
}

/// The script of a provisioner recipe, as the packer backend writes it at [`recipe_script`]:
/// what each recipe installs, then what every template image needs before it is converted (the
/// machine id and cloud-init's state cleared, so that each clone is a new machine).
pub fn recipe_body(recipe: ProvisionerRecipe) -> &'static str {
    match recipe {
        ProvisionerRecipe::UbuntuBase | ProvisionerRecipe::DebianBase => concat!(
            "#!/bin/sh\nset -eux\nexport DEBIAN_FRONTEND=noninteractive\n",
            "sudo -E apt-get update\nsudo -E apt-get -y dist-upgrade\n",
            "sudo -E apt-get -y install qemu-guest-agent cloud-init\n",
            "sudo cloud-init clean --logs\nsudo truncate -s 0 /etc/machine-id\n"
        ),
        ProvisionerRecipe::DockerHost => concat!(
            "#!/bin/sh\nset -eux\nexport DEBIAN_FRONTEND=noninteractive\n",
            "sudo -E apt-get update\n",
            "sudo -E apt-get -y install qemu-guest-agent cloud-init docker.io\n",
            "sudo systemctl enable docker\n",
            "sudo cloud-init clean --logs\nsudo truncate -s 0 /etc/machine-id\n"
        ),
        ProvisionerRecipe::QemuAgent => concat!(
            "#!/bin/sh\nset -eux\nexport DEBIAN_FRONTEND=noninteractive\n",
            "sudo -E apt-get update\nsudo -E apt-get -y install qemu-guest-agent\n",
            "sudo cloud-init clean --logs\nsudo truncate -s 0 /etc/machine-id\n"
        ),
    }
}

/// The template of the definition `id`, as `scope` may read it.
pub async fn of_definition(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Id<image_definition::Entity>,
) -> Result<String, Error> {
    let definition = read::get::<image_definition::Entity>(db, scope, id).await?;
    render(&definition, None)
}

/// The template of the build `id`, as `scope` may read it.
pub async fn of_build(
    db: &DatabaseConnection,
    scope: &Scope,
    id: Id<image_build::Entity>,
) -> Result<String, Error> {
    let build = read::get::<image_build::Entity>(db, scope, id).await?;
    let definition =
        read::get::<image_definition::Entity>(db, scope, Id::of_row(build.definition_id)).await?;
    render(&definition, Some(&build))
}

/// The template of the definition `slug`, or of its build `build`, as `scope` may read them
/// (`packer-gateway render`): `NOT_FOUND` when either is missing or the build is another
/// definition's.
pub async fn by_slug(
    db: &DatabaseConnection,
    scope: &Scope,
    slug: &str,
    build: Option<Id<image_build::Entity>>,
) -> Result<String, Error> {
    let definition = read::visible::<image_definition::Entity>(scope)?
        .filter(image_definition::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let Some(build) = build else {
        return render(&definition, None);
    };
    let build = read::get::<image_build::Entity>(db, scope, build).await?;
    if build.definition_id != definition.id {
        return Err(Error::NotFound);
    }
    render(&definition, Some(&build))
}

/// A DNS-safe form of `name` (the Proxmox plugin refuses other VM names): lower case, runs of
/// other characters as one `-`, no `-` at either end, at most 63 characters; `image` when
/// nothing is left.
pub fn dns_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(63);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "image".to_owned()
    } else {
        out.to_owned()
    }
}

fn template(definition: &image_definition::Model, vars: &Variables) -> Result<Body, Error> {
    let builder = definition.builder_type.to_value();
    let iso = definition.builder_type == BuilderType::ProxmoxIso;
    let mut variables = vec![
        variable("node", "string", Some(vars.node.clone().into()))?,
        variable("vm_id", "number", vars.vm_id.map(Expression::from))?,
        variable("vm_name", "string", Some(vars.vm_name.clone().into()))?,
        variable("vm_storage", "string", Some(vars.vm_storage.clone().into()))?,
        variable(
            "cloud_init_storage_pool",
            "string",
            Some(vars.cloud_init_storage.clone().into()),
        )?,
        variable("bridge", "string", Some(vars.bridge.clone().into()))?,
        variable("memory", "number", Some(vars.memory_mb.into()))?,
        variable("cores", "number", Some(vars.cores.into()))?,
        variable("cpu_type", "string", Some(vars.cpu_type.clone().into()))?,
        variable(
            "ssh_username",
            "string",
            Some(vars.ssh_username.clone().into()),
        )?,
    ];
    let mut source = Block::builder("source")
        .add_label(builder.clone())
        .add_label(SOURCE_NAME)
        .add_attribute(("proxmox_url", env("PROXMOX_URL")))
        .add_attribute(("username", env("PROXMOX_USERNAME")))
        .add_attribute(("token", env("PROXMOX_TOKEN")))
        .add_attribute(("node", var("node")?))
        .add_attribute(("vm_id", var("vm_id")?))
        .add_attribute(("vm_name", var("vm_name")?))
        .add_attribute(("template_name", var("vm_name")?));
    if iso {
        let mut boot_iso = Block::builder("boot_iso").add_attribute(("type", "scsi"));
        if !definition.iso_storage.is_empty() {
            variables.push(variable(
                "iso_file",
                "string",
                Some(definition.iso_storage.clone().into()),
            )?);
            boot_iso = boot_iso.add_attribute(("iso_file", var("iso_file")?));
        } else {
            let checksum = if definition.iso_checksum.is_empty() {
                "none".to_owned()
            } else {
                definition.iso_checksum.clone()
            };
            let url = definition.iso_url.clone().unwrap_or_default();
            variables.push(variable("iso_url", "string", Some(url.into()))?);
            variables.push(variable("iso_checksum", "string", Some(checksum.into()))?);
            variables.push(variable(
                "iso_storage_pool",
                "string",
                Some(ISO_STORAGE_POOL.into()),
            )?);
            boot_iso = boot_iso
                .add_attribute(("iso_url", var("iso_url")?))
                .add_attribute(("iso_checksum", var("iso_checksum")?))
                .add_attribute(("iso_storage_pool", var("iso_storage_pool")?));
        }
        source = source.add_block(boot_iso.add_attribute(("unmount", true)).build());
    } else {
        variables.push(variable(
            "clone_vm_id",
            "number",
            definition.source_template_vmid.map(Expression::from),
        )?);
        source = source
            .add_attribute(("clone_vm_id", var("clone_vm_id")?))
            .add_attribute(("full_clone", true));
    }
    source = source
        .add_attribute(("memory", var("memory")?))
        .add_attribute(("cores", var("cores")?))
        .add_attribute(("cpu_type", var("cpu_type")?))
        .add_attribute(("scsi_controller", "virtio-scsi-pci"))
        .add_attribute(("qemu_agent", true))
        .add_attribute(("cloud_init", true))
        .add_attribute(("cloud_init_storage_pool", var("cloud_init_storage_pool")?))
        .add_block(
            Block::builder("network_adapters")
                .add_attribute(("model", "virtio"))
                .add_attribute(("bridge", var("bridge")?))
                .build(),
        );
    if iso {
        source = source.add_block(
            Block::builder("disks")
                .add_attribute(("type", "scsi"))
                .add_attribute(("disk_size", ISO_DISK_SIZE))
                .add_attribute(("storage_pool", var("vm_storage")?))
                .build(),
        );
    }
    source = source.add_attribute(("ssh_username", var("ssh_username")?));
    let mut proxmox = Object::<ObjectKey, Expression>::new();
    proxmox.insert(
        ObjectKey::Identifier(identifier("source")?),
        "github.com/hashicorp/proxmox".into(),
    );
    proxmox.insert(
        ObjectKey::Identifier(identifier("version")?),
        PLUGIN_VERSION.into(),
    );
    let packer = Block::builder("packer")
        .add_block(
            Block::builder("required_plugins")
                .add_attribute(("proxmox", Expression::from(proxmox)))
                .build(),
        )
        .build();
    let build = Block::builder("build")
        .add_attribute(("name", definition.slug.clone()))
        .add_attribute((
            "sources",
            Expression::from(vec![format!("source.{builder}.{SOURCE_NAME}")]),
        ))
        .add_block(
            Block::builder("provisioner")
                .add_label("shell")
                .add_attribute(("script", recipe_script(definition.provisioner_recipe)))
                .build(),
        )
        .build();
    Ok(Body::builder()
        .add_block(packer)
        .add_blocks(variables)
        .add_block(source.build())
        .add_block(build)
        .build())
}

/// `variable "name" { type = kind  default = value }` (no default: packer asks for it).
fn variable(name: &str, kind: &str, default: Option<Expression>) -> Result<Block, Error> {
    let mut block = Block::builder("variable")
        .add_label(name)
        .add_attribute(Attribute::new(
            "type",
            Variable::new(kind).map_err(hcl_error)?,
        ));
    if let Some(default) = default {
        block = block.add_attribute(("default", default));
    }
    Ok(block.build())
}

/// `var.name`.
fn var(name: &str) -> Result<Expression, Error> {
    Ok(Traversal::builder(Variable::new("var").map_err(hcl_error)?)
        .attr(identifier(name)?)
        .build()
        .into())
}

/// `env("NAME")`.
fn env(name: &str) -> Expression {
    FuncCall::builder("env").arg(name).build().into()
}

fn identifier(name: &str) -> Result<Identifier, Error> {
    Identifier::new(name).map_err(hcl_error)
}

fn hcl_error(e: hcl::Error) -> Error {
    Error::Internal(format!("building HCL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::dns_name;

    #[test]
    fn dns_names() {
        for (name, expected) in [
            ("ubuntu-2404-20261130", "ubuntu-2404-20261130"),
            ("Ubuntu 24.04 (LTS)", "ubuntu-24-04-lts"),
            ("__x__", "x"),
            ("!!!", "image"),
            (&"a".repeat(80), &"a".repeat(63)),
        ] {
            assert_eq!(dns_name(name), expected, "{name}");
        }
    }
}
