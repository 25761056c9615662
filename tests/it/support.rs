//! The test harness: a fresh, migrated database per test, the real router, and helpers to call
//! it and to seed rows.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use entity::{
    build_event, cloud_image_template, cloud_image_template_tenant, cluster,
    enums::{
        BuildStatus, BuilderType, CatalogOsFamily, EndpointMode, OsFamily, ProvisionerRecipe, Role,
    },
    image_build, image_definition, image_definition_tenant, proxmox_endpoint, tenant,
};
use http_body_util::BodyExt;
use packer_gateway::{
    app::App,
    auth::Scope,
    clock::now,
    config::{Cli, Command},
    registry::{
        events::prepare_event_write,
        id::{Global, Id, Named},
        users::{self, NewToken, NewUser},
    },
    routes::{self, router},
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, EntityTrait, Set, TransactionTrait};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A running service on its own database.
pub struct TestApp {
    /// The application, as production builds it.
    pub app: App,
    /// Its routes.
    pub router: Router,
    /// A token of the `admin` user (ADMIN).
    pub admin: String,
    /// The id of `admin`.
    pub admin_id: i32,
    /// The database URL, to start a second instance on it.
    pub url: String,
    cleanup: Cleanup,
    factory_on: std::sync::atomic::AtomicBool,
}

/// What a test's database is, to remove it when the last instance on it is dropped.
enum Cleanup {
    /// A SQLite file (with its WAL and shared-memory files).
    File(std::path::PathBuf),
    /// A schema of the PostgreSQL database of `TEST_DATABASE_URL`.
    Schema(String),
}

/// How many live `TestApp`s use each database URL: the last one dropped removes the database.
static LIVE: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

fn live(url: &str, delta: isize) -> usize {
    let mut live = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let position = match live.iter().position(|(u, _)| u == url) {
        Some(position) => position,
        None => {
            live.push((url.to_owned(), 0));
            live.len() - 1
        }
    };
    let count = (live[position].1 as isize + delta).max(0) as usize;
    live[position].1 = count;
    if count == 0 {
        live.remove(position);
    }
    count
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if live(&self.url, -1) > 0 {
            return;
        }
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Schema(schema) => drop_schema(&self.url, schema),
        }
    }
}

/// Drops a test's PostgreSQL schema: its connections (every one opened with the schema as its
/// `application_name`) are terminated first, so that no statement of the instance being dropped
/// holds a lock the `DROP` would wait for. Runs on a thread of its own, because `Drop` cannot
/// await and the test's runtime may be the one the instance's tasks run on.
fn drop_schema(url: &str, schema: &str) {
    let (url, name) = (url.to_owned(), schema.to_owned());
    let dropped = std::thread::spawn(move || {
        let schema = name;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        runtime.block_on(async {
            let db = Database::connect(&url).await.map_err(|e| e.to_string())?;
            let result = async {
                db.execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                ))
                .await?;
                db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
            }
            .await;
            db.close().await.ok();
            result.map(|_| ()).map_err(|e| e.to_string())
        })
    })
    .join();
    if let Ok(Err(err)) | Err(err) = dropped.map_err(|_| "panicked".to_owned()) {
        eprintln!("could not drop the test schema {schema}: {err}");
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Sends the service's logs to the test output when `RUST_LOG` is set.
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A name no other test of this run uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

/// Whether the suite runs on PostgreSQL.
pub fn postgres() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database URL for a fresh, empty database: a new SQLite file, or a new schema of the
/// PostgreSQL database of `TEST_DATABASE_URL`.
pub async fn fresh_database() -> (String, bool) {
    match postgres() {
        Some(url) => {
            let schema = unique("t");
            let admin = Database::connect(&url)
                .await
                .expect("connect to TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create a schema");
            admin.close().await.ok();
            let separator = if url.contains('?') { '&' } else { '?' };
            // The schema is also every connection's `application_name`, so that the cleanup can
            // find the connections of the test (see `drop_schema`).
            (
                format!("{url}{separator}options[search_path]={schema}&application_name={schema}"),
                false,
            )
        }
        None => {
            let path = std::env::temp_dir().join(format!("{}.db", unique("packer-gateway-test")));
            (format!("sqlite://{}", path.display()), true)
        }
    }
}

/// Serve options as the command line gives them, plus `extra` flags.
pub fn serve_args(extra: &[&str]) -> packer_gateway::config::ServeArgs {
    let mut argv = vec!["packer-gateway", "serve"];
    argv.extend_from_slice(extra);
    match Cli::parse_from(argv).command() {
        Command::Serve(args) => args,
        _ => unreachable!("serve was asked for"),
    }
}

impl TestApp {
    /// A service with the default options.
    pub async fn new() -> TestApp {
        TestApp::with_args(&[]).await
    }

    /// A service with extra `serve` flags.
    pub async fn with_args(extra: &[&str]) -> TestApp {
        let (url, sqlite) = fresh_database().await;
        TestApp::on(&url, sqlite, extra).await
    }

    /// A second instance on this one's database (the last one dropped removes the database).
    pub async fn second_instance(&self, extra: &[&str]) -> TestApp {
        let sqlite = matches!(self.cleanup, Cleanup::File(_));
        TestApp::on(&self.url, sqlite, extra).await
    }

    /// A service on an existing database (a second instance, for instance).
    pub async fn on(url: &str, sqlite: bool, extra: &[&str]) -> TestApp {
        init_logs();
        let app = App::new(url, serve_args(extra))
            .await
            .expect("start the app");
        let cleanup = if sqlite {
            Cleanup::File(url.trim_start_matches("sqlite://").into())
        } else {
            let schema = url
                .split("options[search_path]=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .expect("a test database URL names its schema");
            Cleanup::Schema(schema.to_owned())
        };
        live(url, 1);
        let admin = match users::by_username(&app.db, &Scope::service(), "admin").await {
            Ok(admin) => admin,
            Err(_) => users::create_user(
                &app.db,
                NewUser {
                    username: "admin".into(),
                    role: Role::Admin,
                    tenants: vec![],
                    first_name: String::new(),
                    last_name: String::new(),
                    email: "admin@example.net".into(),
                },
            )
            .await
            .expect("create admin"),
        };
        let (_, secret) = users::create_token(
            &app.db,
            NewToken {
                user_id: admin.id,
                description: "tests".into(),
                write_enabled: true,
                expires: None,
            },
        )
        .await
        .expect("create a token");
        TestApp {
            router: router(app.clone()),
            app,
            admin: secret,
            admin_id: admin.id,
            url: url.to_owned(),
            cleanup,
            factory_on: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A user with `role` and `tenants`, and a token of it (`write` decides read-only).
    pub async fn user(&self, role: Role, tenants: &[i32], write: bool) -> (i32, String) {
        let user = users::create_user(
            &self.app.db,
            NewUser {
                username: unique("user"),
                role,
                tenants: tenants.to_vec(),
                first_name: String::new(),
                last_name: String::new(),
                email: String::new(),
            },
        )
        .await
        .expect("create a user");
        let (_, secret) = users::create_token(
            &self.app.db,
            NewToken {
                user_id: user.id,
                description: String::new(),
                write_enabled: write,
                expires: None,
            },
        )
        .await
        .expect("create a token");
        (user.id, secret)
    }

    /// Sends a raw request.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// POSTs a GraphQL request as `token` and returns status and JSON body.
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/graphql-response+json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = json!({"query": query, "variables": variables}).to_string();
        let (status, _, body) = self
            .send(request.body(Body::from(body)).expect("a request"))
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Runs a GraphQL request as admin and returns its `data`, failing on any error.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(&self.admin.clone()), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Runs a GraphQL request as `token` and returns its body.
    pub async fn as_user(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post(Some(token), query, variables).await.1
    }

    /// SQL statements run so far.
    pub fn statements(&self) -> u64 {
        self.app.statement_count()
    }

    /// SQL statements requests ran so far while answering (not their background work).
    pub fn request_statements(&self) -> u64 {
        self.app.request_statement_count()
    }

    /// Waits until the background `last_used` write of a token's use has landed (the only
    /// statement a request leaves behind it), so that a following count is exact.
    pub async fn settle(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.app.auth.settled())
            .await
            .expect("the token's last use recorded within 10 s");
    }
}

/// The fields named in the `extensions.fields` of the first error of a body (`BAD_USER_INPUT`,
/// `CONFLICT`).
pub fn fields(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["fields"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default()
}

/// The global id GraphQL gives the row `id` of `E` (`registry::id`): what every `id` field
/// answers.
pub fn gid<E: Named>(id: impl Into<i64>) -> String {
    Id::<E>::new(id.into()).expect("a positive id").global()
}

/// The global id of the build event `id` (what `eventId` answers).
pub fn event_gid(id: i64) -> String {
    gid::<build_event::Entity>(id)
}

/// The global id of the build `id`.
pub fn build_gid(id: i32) -> String {
    gid::<image_build::Entity>(id)
}

/// The row's integer behind a global id GraphQL answered (REST's id, the database's key).
pub fn row_of(global: &str) -> i64 {
    Global::parse(global)
        .unwrap_or_else(|| panic!("a global id: {global}"))
        .value()
}

/// [`row_of`] as the `INTEGER` key it is.
pub fn key_of(global: &str) -> i32 {
    i32::try_from(row_of(global)).expect("an INTEGER key")
}

/// The `extensions.code` of the first error of a body.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

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

/// The fields every mutation test reads back from a build.
pub const BUILD: &str = "id status statusColor outputVmid outputName imageVersion startedAt completedAt \
    timeoutSeconds error backendBuildId netboxJobId rebuildOf { id } createdBy { username } \
    cloudImageTemplate { id name slug } definition { id } events { id fromStatus toStatus }";

/// The id of the last event of a build read with [`BUILD`].
fn last_event(build: &Value) -> i64 {
    build["events"]
        .as_array()
        .and_then(|events| events.last())
        .and_then(|event| event["id"].as_str())
        .map(row_of)
        .unwrap_or_else(|| panic!("a build with events: {build}"))
}

impl TestApp {
    /// Turns the image factory on, with `extra` settings.
    pub async fn enable_factory(&self, extra: Value) {
        let mut input = json!({"imageFactoryEnabled": true});
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        self.data(
            "mutation ($input: UpdatePluginSettingsInput!) { updatePluginSettings(input: $input) { imageFactoryEnabled } }",
            json!({"input": input}),
        )
        .await;
    }

    /// Creates a definition as admin through the API; returns its id.
    pub async fn create_definition(&self, input: Value) -> String {
        let data = self
            .data(
                "mutation ($input: CreateImageDefinitionInput!) { createImageDefinition(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        data["createImageDefinition"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    /// Runs `queueImageBuild` as `token`; returns the body.
    pub async fn queue_build(&self, token: &str, input: Value) -> Value {
        self.as_user(
            token,
            &format!("mutation ($input: QueueImageBuildInput!) {{ queueImageBuild(input: $input) {{ {BUILD} }} }}"),
            json!({"input": input}),
        )
        .await
    }

    /// Runs a lifecycle mutation (`startImageBuild`, …) on `id` as `token`; returns the body.
    pub async fn lifecycle(&self, token: &str, mutation: &str, id: &str, args: &str) -> Value {
        self.as_user(
            token,
            &format!("mutation ($id: ID!) {{ {mutation}(id: $id{args}) {{ {BUILD} }} }}"),
            json!({"id": id}),
        )
        .await
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.app.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

impl Seed<'_> {
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

/// The service served on a real socket (for websockets).
pub struct Server {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// `ws://…/graphql`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    /// Shuts down gracefully (as on SIGTERM) and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(20), &mut self.task)
            .await
            .expect("the server stops in time")
            .expect("the server task")
            .expect("the server");
    }
}

impl TestApp {
    /// Serves this app on `127.0.0.1:0` as `serve` does, graceful shutdown included.
    pub async fn serve(&self) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(routes::serve(listener, self.app.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Moves `build` to `to` through the real lifecycle mutation, as admin; returns the id of the
    /// event it recorded.
    pub async fn transition(&self, build: i32, to: BuildStatus) -> i64 {
        self.ensure_factory().await;
        let (mutation, args) = match to {
            BuildStatus::Running => ("startImageBuild", ""),
            BuildStatus::Completed => ("completeImageBuild", ""),
            BuildStatus::Failed => ("failImageBuild", ", error: \"failed in a test\""),
            BuildStatus::Cancelled => ("cancelImageBuild", ""),
            BuildStatus::Pending => ("rebuildImage", ""),
        };
        let body = self
            .lifecycle(&self.admin, mutation, &build.to_string(), args)
            .await;
        assert!(body.get("errors").is_none(), "{mutation}: {body}");
        last_event(&body["data"][mutation])
    }

    /// Queues a build of `definition` through `queueImageBuild`, as admin; returns (build id,
    /// event id).
    pub async fn queue(&self, definition: i32) -> (i32, i64) {
        self.ensure_factory().await;
        let body = self
            .queue_build(
                &self.admin,
                json!({"definitionId": definition.to_string(), "outputVmid": 1000}),
            )
            .await;
        let build = &body["data"]["queueImageBuild"];
        let id = build["id"]
            .as_str()
            .map(key_of)
            .unwrap_or_else(|| panic!("queued: {body}"));
        (id, last_event(build))
    }

    /// Turns the image factory on (once), with room for many running builds.
    async fn ensure_factory(&self) {
        if !self.factory_on.swap(true, Ordering::SeqCst) {
            self.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
                .await;
        }
    }

    /// TEST-ONLY seeding: `count` pending builds and their creation events in ONE transaction
    /// (a burst the event fetcher reads as one batch), following the events contract
    /// (`prepare_event_write` inside, `committed()` after) like the lifecycle does. (a burst the fetcher reads as one
    /// batch).
    pub async fn queue_many(&self, definition: i32, count: usize) -> Vec<(i32, i64)> {
        // Read before the transaction (see `transition`).
        let endpoint = image_definition::Entity::find_by_id(definition)
            .one(&self.app.db)
            .await
            .expect("read the definition")
            .expect("the definition exists")
            .proxmox_endpoint_id;
        let txn = self.app.db.begin().await.expect("begin");
        prepare_event_write(&txn)
            .await
            .expect("prepare the event write");
        let mut queued = Vec::new();
        for _ in 0..count {
            let at = now();
            let build = image_build::ActiveModel {
                definition_id: Set(definition),
                status: Set(BuildStatus::Pending),
                backend_build_id: Set(String::new()),
                proxmox_endpoint_id: Set(endpoint),
                target_node: Set("pve1".into()),
                output_vmid: Set(1000),
                output_name: Set(unique("out")),
                image_version: Set(at.format("%Y-%m-%d").to_string()),
                variables: Set(json!({})),
                timeout_seconds: Set(None),
                started_at: Set(None),
                completed_at: Set(None),
                created_by_id: Set(Some(self.admin_id)),
                netbox_job_id: Set(None),
                cloud_image_template_id: Set(None),
                backend_response: Set(json!({})),
                error: Set(String::new()),
                rebuild_of_id: Set(None),
                created: Set(at),
                last_updated: Set(at),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .expect("insert the build");
            let event = build_event::ActiveModel {
                build_id: Set(build.id),
                from_status: Set(None),
                to_status: Set(BuildStatus::Pending),
                actor_id: Set(Some(self.admin_id)),
                message: Set(String::new()),
                at: Set(at),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .expect("insert the event");
            queued.push((build.id, event.id));
        }
        txn.commit().await.expect("commit");
        self.app.events.committed();
        queued
    }

    /// Waits until `count` subscription streams listen to this instance's event hub.
    pub async fn wait_for_subscribers(&self, count: usize) {
        let deadline = std::time::Duration::from_secs(10);
        tokio::time::timeout(deadline, async {
            while self.app.events.subscribers() < count {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{count} subscribers expected, {} listening",
                self.app.events.subscribers()
            )
        });
    }
}

impl TestApp {
    /// Waits until at most `count` subscription streams listen (the others were dropped).
    pub async fn wait_for_subscribers_at_most(&self, count: usize) {
        let deadline = std::time::Duration::from_secs(10);
        tokio::time::timeout(deadline, async {
            while self.app.events.subscribers() > count {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "at most {count} subscribers expected, {} listening",
                self.app.events.subscribers()
            )
        });
    }
}
