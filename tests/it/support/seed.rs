//! Rows seeded directly, for read tests (writes have their own tests through the API).

use super::{TestApp, unique};
use chrono::{DateTime, Duration, Utc};
use entity::{
    build_event, cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{BuildStatus, BuilderType, CatalogOsFamily, EndpointMode, OsFamily, ProvisionerRecipe},
    image_build, image_definition, image_definition_tenant, proxmox_endpoint, tenant,
};
use packer_gateway::clock::now;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

/// Rows seeded directly, for read tests (writes have their own tests through the API).
pub struct Seed<'a> {
    db: &'a sea_orm::DatabaseConnection,
}

impl TestApp {
    /// The seeder.
    pub fn seed(&self) -> Seed<'_> {
        Seed { db: &self.app.db }
    }
}

impl Seed<'_> {
    /// A tenant.
    pub async fn tenant(&self, name: &str) -> i32 {
        tenant::ActiveModel {
            name: Set(name.into()),
            slug: Set(name.to_lowercase().replace(' ', "-")),
            description: Set(String::new()),
            created: Set(now()),
            last_updated: Set(now()),
            ..Default::default()
        }
        .insert(self.db)
        .await
        .expect("tenant")
        .id
    }

    /// A cluster.
    pub async fn cluster(&self, name: &str) -> i32 {
        cluster::ActiveModel {
            name: Set(name.into()),
            cluster_type: Set("proxmox".into()),
            tenant_id: Set(None),
            description: Set(String::new()),
            created: Set(now()),
            last_updated: Set(now()),
            ..Default::default()
        }
        .insert(self.db)
        .await
        .expect("cluster")
        .id
    }

    /// An enabled endpoint that allows writes.
    pub async fn endpoint(&self, name: &str) -> i32 {
        proxmox_endpoint::ActiveModel {
            name: Set(name.into()),
            domain: Set(None),
            ip_address: Set(None),
            port: Set(8006),
            mode: Set(EndpointMode::Cluster),
            verify_ssl: Set(false),
            allow_writes: Set(true),
            enabled: Set(true),
            tenant_id: Set(None),
            created: Set(now()),
            last_updated: Set(now()),
            ..Default::default()
        }
        .insert(self.db)
        .await
        .expect("endpoint")
        .id
    }

    /// A clone definition named `name` on `endpoint`/`cluster`, allowed to `tenants`.
    pub async fn definition(
        &self,
        name: &str,
        endpoint: i32,
        cluster: i32,
        tenants: &[i32],
        tweak: impl FnOnce(&mut image_definition::ActiveModel),
    ) -> i32 {
        let mut row = image_definition::ActiveModel {
            name: Set(name.into()),
            slug: Set(unique("def").replace('_', "-")),
            description: Set(String::new()),
            enabled: Set(true),
            builder_type: Set(BuilderType::ProxmoxClone),
            proxmox_endpoint_id: Set(endpoint),
            target_cluster_id: Set(Some(cluster)),
            target_node: Set("pve1".into()),
            source_template_vmid: Set(Some(9000)),
            iso_url: Set(None),
            iso_checksum: Set(String::new()),
            iso_storage: Set(String::new()),
            default_storage: Set("local-lvm".into()),
            default_bridge: Set("vmbr0".into()),
            os_family: Set(OsFamily::Ubuntu),
            os_release: Set("24.04".into()),
            default_ciuser: Set("ubuntu".into()),
            provisioner_recipe: Set(ProvisionerRecipe::UbuntuBase),
            default_variables: Set(json!({})),
            created: Set(now()),
            last_updated: Set(now()),
            ..Default::default()
        };
        tweak(&mut row);
        let row = row.insert(self.db).await.expect("definition");
        for tenant in tenants {
            image_definition_tenant::ActiveModel {
                definition_id: Set(row.id),
                tenant_id: Set(*tenant),
            }
            .insert(self.db)
            .await
            .expect("allowed tenant");
        }
        row.id
    }

    /// A build of `definition` in `status`, queued at `created`, with its creation event.
    pub async fn build(
        &self,
        definition: i32,
        endpoint: i32,
        status: BuildStatus,
        created: DateTime<Utc>,
        created_by: Option<i32>,
        tweak: impl FnOnce(&mut image_build::ActiveModel),
    ) -> i32 {
        let started = (status != BuildStatus::Pending).then(|| created + Duration::seconds(10));
        let mut row = image_build::ActiveModel {
            definition_id: Set(definition),
            status: Set(status),
            backend_build_id: Set(String::new()),
            proxmox_endpoint_id: Set(endpoint),
            target_node: Set("pve1".into()),
            output_vmid: Set(1000),
            output_name: Set(unique("out")),
            image_version: Set(created.format("%Y-%m-%d").to_string()),
            variables: Set(json!({})),
            timeout_seconds: Set(None),
            started_at: Set(started),
            completed_at: Set(None),
            created_by_id: Set(created_by),
            netbox_job_id: Set(None),
            cloud_image_template_id: Set(None),
            backend_response: Set(json!({})),
            error: Set(String::new()),
            rebuild_of_id: Set(None),
            created: Set(created),
            last_updated: Set(created),
            ..Default::default()
        };
        tweak(&mut row);
        let row = row.insert(self.db).await.expect("build");
        build_event::ActiveModel {
            build_id: Set(row.id),
            from_status: Set(None),
            to_status: Set(BuildStatus::Pending),
            actor_id: Set(created_by),
            message: Set(String::new()),
            at: Set(created),
            ..Default::default()
        }
        .insert(self.db)
        .await
        .expect("event");
        row.id
    }

    /// An active catalog entry named `name` on `cluster` at `vmid`, allowed to `tenants`.
    pub async fn template(&self, name: &str, cluster: i32, vmid: i32, tenants: &[i32]) -> i32 {
        let row = cloud_image_template::ActiveModel {
            name: Set(name.into()),
            slug: Set(unique("tpl").replace('_', "-")),
            description: Set(String::new()),
            cluster_id: Set(cluster),
            source_vmid: Set(vmid),
            os_family: Set(CatalogOsFamily::Ubuntu),
            os_release: Set("24.04".into()),
            default_ciuser: Set("cloud-user".into()),
            is_active: Set(true),
            created: Set(now()),
            last_updated: Set(now()),
            ..Default::default()
        }
        .insert(self.db)
        .await
        .expect("template");
        for tenant in tenants {
            cloud_image_template_tenant::ActiveModel {
                template_id: Set(row.id),
                tenant_id: Set(*tenant),
            }
            .insert(self.db)
            .await
            .expect("template tenant");
        }
        row.id
    }
}

/// A small world: two tenants, a cluster, an endpoint.
pub struct World {
    pub t1: i32,
    pub t2: i32,
    pub cluster: i32,
    pub endpoint: i32,
}

impl TestApp {
    /// Seeds a [`World`].
    pub async fn world(&self) -> World {
        let seed = self.seed();
        World {
            t1: seed.tenant("Tenant One").await,
            t2: seed.tenant("Tenant Two").await,
            cluster: seed.cluster("pve-prod").await,
            endpoint: seed.endpoint("pve-api").await,
        }
    }
}

/// `now()` moved by `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    now() + Duration::seconds(seconds)
}

/// A `proxmox-clone` definition input on `world`.
pub fn clone_input(world: &World, name: &str, slug: &str) -> Value {
    json!({
        "name": name,
        "slug": slug,
        "proxmoxEndpointId": world.endpoint.to_string(),
        "targetClusterId": world.cluster.to_string(),
        "targetNode": "pve1",
        "sourceTemplateVmid": 9000,
        "defaultStorage": "local-lvm",
        "osFamily": "UBUNTU",
        "osRelease": "24.04",
        "provisionerRecipe": "UBUNTU_BASE",
    })
}
