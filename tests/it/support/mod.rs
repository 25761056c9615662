//! The test harness: a fresh, migrated database per test, the real router, and helpers to call
//! it and to seed rows. One file a job: `database` (a fresh database per test, removed after it),
//! `client` (requests and what to read from their answers), `seed` (rows written directly),
//! `builds` (builds through the lifecycle), `server` (a real socket, and the event hub's
//! subscribers), `wait` (a condition awaited with a deadline).

#![allow(dead_code)]

mod builds;
mod client;
mod database;
mod seed;
mod server;
mod wait;

pub use client::{BUILD, build_gid, code, event_gid, fields, gid, key_of, row_of};
pub use database::{fresh_database, postgres, unique};
pub use seed::{World, at, clone_input};
pub use server::Server;
pub use wait::{wait_for, within};

use axum::Router;
use clap::Parser;
use entity::enums::Role;
use packer_gateway::{
    app::App,
    auth::Scope,
    config::{Cli, Command},
    registry::users::{self, NewToken, NewUser},
    routes::router,
};

use database::{Cleanup, live};

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

/// Sends the service's logs to the test output when `RUST_LOG` is set.
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
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

/// Flags for a test that races many requests at once: all of them execute together. The default
/// admission (two requests per core, 0.1 s in line) would turn the race into a line, and could
/// refuse the last of a burst with 503 `SERVER_BUSY` on a slow machine.
pub const RACE: &[&str] = &["--max-concurrent-requests", "64"];

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
}
