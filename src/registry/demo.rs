//! `serve --demo`: a realistic sample loaded into an empty database, so that a newcomer sees
//! something in GraphiQL at once. Deterministic (seeded), so screenshots and docs stay true.

use chrono::Duration;
use entity::{
    build_event, cluster,
    enums::{BuildStatus, BuilderType, EndpointMode, OsFamily, ProvisionerRecipe},
    image_build, image_definition, image_definition_tenant, proxmox_endpoint, tenant,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set};
use serde_json::json;

use super::tx::begin_write;
use crate::{clock::now, error::Error};

/// Loads the sample unless definitions already exist; returns whether it did.
pub async fn load(db: &DatabaseConnection, created_by: Option<i32>) -> Result<bool, Error> {
    if image_definition::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    let txn = begin_write(db).await?;
    let mut rng = StdRng::seed_from_u64(2026);
    let today = now();
    let start = today - Duration::days(60);

    let mut tenants = Vec::new();
    for (name, slug) in [
        ("Acme Corp", "acme"),
        ("Globex", "globex"),
        ("Initech", "initech"),
    ] {
        let row = tenant::ActiveModel {
            name: Set(name.to_owned()),
            slug: Set(slug.to_owned()),
            description: Set(format!("{name}, a demo tenant")),
            created: Set(start),
            last_updated: Set(start),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        tenants.push(row.id);
    }

    let mut clusters = Vec::new();
    for (i, name) in ["pve-prod", "pve-lab"].into_iter().enumerate() {
        let row = cluster::ActiveModel {
            name: Set(name.to_owned()),
            cluster_type: Set("proxmox".to_owned()),
            tenant_id: Set(tenants.get(i).copied()),
            description: Set(String::new()),
            created: Set(start),
            last_updated: Set(start),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        clusters.push(row.id);
    }

    let mut endpoints = Vec::new();
    for (i, name) in ["pve-prod-api", "pve-lab-api", "pve-edge-api"]
        .into_iter()
        .enumerate()
    {
        let row = proxmox_endpoint::ActiveModel {
            name: Set(name.to_owned()),
            domain: Set(Some(format!("{name}.example.net"))),
            ip_address: Set(Some(format!("10.0.{i}.10"))),
            port: Set(8006),
            mode: Set(if i == 0 {
                EndpointMode::Cluster
            } else {
                EndpointMode::Standalone
            }),
            verify_ssl: Set(i == 0),
            allow_writes: Set(i < 2),
            enabled: Set(true),
            tenant_id: Set(None),
            created: Set(start),
            last_updated: Set(start),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        endpoints.push(row.id);
    }

    let families = [
        (
            OsFamily::Ubuntu,
            "24.04",
            "ubuntu",
            ProvisionerRecipe::UbuntuBase,
        ),
        (
            OsFamily::Debian,
            "12",
            "debian",
            ProvisionerRecipe::DebianBase,
        ),
        (
            OsFamily::Rocky,
            "9.4",
            "rocky",
            ProvisionerRecipe::QemuAgent,
        ),
        (
            OsFamily::Almalinux,
            "9.4",
            "almalinux",
            ProvisionerRecipe::QemuAgent,
        ),
        (
            OsFamily::Freebsd,
            "14.1",
            "freebsd",
            ProvisionerRecipe::QemuAgent,
        ),
    ];
    let flavours = ["base", "docker", "k8s-node"];
    let mut definitions = Vec::new();
    for i in 0..20usize {
        let (family, release, user, recipe) = families[i % families.len()];
        let flavour = flavours[i % flavours.len()];
        let iso = i % 4 == 3;
        let slug = format!("{}-{}-{flavour}-{i:02}", user, release.replace('.', ""));
        let created = start + Duration::hours(i as i64);
        let row = image_definition::ActiveModel {
            name: Set(format!("{} {release} {flavour} #{i}", capitalise(user))),
            slug: Set(slug),
            description: Set(format!(
                "{} {release} template with the {flavour} profile",
                capitalise(user)
            )),
            enabled: Set(i % 7 != 6),
            builder_type: Set(if iso {
                BuilderType::ProxmoxIso
            } else {
                BuilderType::ProxmoxClone
            }),
            proxmox_endpoint_id: Set(endpoints[i % endpoints.len()]),
            target_cluster_id: Set(if iso {
                None
            } else {
                Some(clusters[i % clusters.len()])
            }),
            target_node: Set(format!("pve{}", i % 3 + 1)),
            source_template_vmid: Set(if iso { None } else { Some(9000 + i as i32) }),
            iso_url: Set(iso.then(|| format!("https://mirror.example.net/{user}-{release}.iso"))),
            iso_checksum: Set(if iso {
                format!("sha256:{}", "ab".repeat(32))
            } else {
                String::new()
            }),
            iso_storage: Set(String::new()),
            default_storage: Set("local-lvm".to_owned()),
            default_bridge: Set("vmbr0".to_owned()),
            os_family: Set(family),
            os_release: Set(release.to_owned()),
            default_ciuser: Set(user.to_owned()),
            provisioner_recipe: Set(if flavour == "docker" {
                ProvisionerRecipe::DockerHost
            } else {
                recipe
            }),
            default_variables: Set(json!({"cores": 2 + (i % 3) as i64 * 2, "memory_mb": 2048})),
            created: Set(created),
            last_updated: Set(created),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        // A third restricted to one tenant, a few to two, the rest open to all.
        let allowed: Vec<i32> = match i % 6 {
            0 | 3 => vec![tenants[i % tenants.len()]],
            1 => vec![tenants[0], tenants[1]],
            _ => Vec::new(),
        };
        for tenant_id in allowed {
            image_definition_tenant::ActiveModel {
                definition_id: Set(row.id),
                tenant_id: Set(tenant_id),
            }
            .insert(&txn)
            .await?;
        }
        definitions.push(row);
    }

    let statuses = [
        BuildStatus::Completed,
        BuildStatus::Completed,
        BuildStatus::Completed,
        BuildStatus::Failed,
        BuildStatus::Cancelled,
        BuildStatus::Pending,
        BuildStatus::Running,
    ];
    for n in 0..500usize {
        let definition = &definitions[rng.random_range(0..definitions.len())];
        // The newest builds are the pending and running ones.
        let status = if n >= 490 {
            if n % 2 == 0 {
                BuildStatus::Pending
            } else {
                BuildStatus::Running
            }
        } else {
            statuses[rng.random_range(0..statuses.len() - 2)]
        };
        // The pending and running ones were queued in the last hour and a bit, and started
        // within five minutes: well inside their four-hour timeout, so the reaper leaves the
        // running ones running at the first start.
        let created = if n >= 490 {
            today - Duration::minutes((500 - n) as i64 * 7)
        } else {
            start + Duration::minutes(n as i64 * 170 + rng.random_range(0..60))
        };
        let started = (status != BuildStatus::Pending).then(|| {
            let after = if n >= 490 { 5..300 } else { 5..600 };
            created + Duration::seconds(rng.random_range(after))
        });
        let ended = match status {
            BuildStatus::Pending | BuildStatus::Running => None,
            _ => started.map(|s| s + Duration::seconds(rng.random_range(300..3600))),
        };
        let vmid = 10_000 + n as i32;
        let build = image_build::ActiveModel {
            definition_id: Set(definition.id),
            status: Set(status),
            backend_build_id: Set(started.map_or(String::new(), |_| format!("packer-{n:05}"))),
            proxmox_endpoint_id: Set(definition.proxmox_endpoint_id),
            target_node: Set(definition.target_node.clone()),
            output_vmid: Set(vmid),
            output_name: Set(format!("{}-{}", definition.slug, created.format("%Y%m%d"))),
            image_version: Set(created.format("%Y-%m-%d").to_string()),
            variables: Set(json!({})),
            timeout_seconds: Set(started.map(|_| 14_400)),
            started_at: Set(started),
            completed_at: Set(ended),
            created_by_id: Set(created_by),
            netbox_job_id: Set(None),
            cloud_image_template_id: Set(None),
            backend_response: Set(json!({})),
            error: Set(if status == BuildStatus::Failed {
                "qemu: guest agent did not answer within 600 s".to_owned()
            } else {
                String::new()
            }),
            rebuild_of_id: Set(None),
            created: Set(created),
            last_updated: Set(ended.or(started).unwrap_or(created)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let mut steps = vec![(None, BuildStatus::Pending, created)];
        if let Some(started) = started {
            steps.push((Some(BuildStatus::Pending), BuildStatus::Running, started));
        }
        if let Some(ended) = ended {
            steps.push((Some(BuildStatus::Running), status, ended));
        }
        build_event::Entity::insert_many(steps.into_iter().map(|(from, to, at)| {
            build_event::ActiveModel {
                build_id: Set(build.id),
                from_status: Set(from),
                to_status: Set(to),
                actor_id: Set(created_by),
                message: Set(String::new()),
                at: Set(at),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(true)
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
