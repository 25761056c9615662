//! The body proxbox-api takes for a build (SPEC §7.2).

use entity::enums::BuilderType;
use sea_orm::ActiveEnum;
use serde_json::{Value as Json, json};

use crate::{dispatch::backend::Job, registry::template};

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
