//! The commands of the binary: `serve` (the default), `dispatch`, `export-schema`, `user`,
//! `token`, `render`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    app::{App, connect},
    auth::Scope,
    clock::now,
    config::{self, Cli, Command, NetboxArgs, ServeArgs, SyncCommand, TokenCommand, UserCommand},
    dispatch,
    error::Error,
    graphql,
    registry::{
        demo,
        id::Id,
        lifecycle, template,
        users::{self, NewToken, NewUser},
    },
    routes,
};

/// Runs the command of `cli`; the error is a message for the operator.
pub async fn run(cli: Cli) -> Result<(), String> {
    let database_url = cli.database_url.clone();
    match cli.command() {
        Command::Serve(args) => serve(&database_url, args).await,
        Command::Dispatch(args) => dispatch_only(&database_url, args).await,
        Command::Render { definition, build } => {
            let db = connect(&database_url, Arc::default())
                .await
                .map_err(|e| e.to_string())?;
            let build = build
                .map(|id| Id::new(id).ok_or_else(|| format!("no build {id}")))
                .transpose()?;
            let text = template::by_slug(&db, &Scope::service(), &definition, build)
                .await
                .map_err(|e| match e {
                    Error::NotFound => match build {
                        Some(id) => format!("no build {id} of the definition `{definition}`"),
                        None => format!("no definition `{definition}`"),
                    },
                    other => other.message(),
                })?;
            print!("{text}");
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::User(UserCommand::Create {
            username,
            role,
            tenants,
            email,
        }) => {
            let db = connect(&database_url, Arc::default())
                .await
                .map_err(|e| e.to_string())?;
            let role = Role::try_from_value(&role.to_lowercase())
                .map_err(|_| format!("unknown role `{role}`: viewer, operator, worker or admin"))?;
            let tenant_ids = entity::tenant::Entity::find()
                .filter(entity::tenant::Column::Slug.is_in(tenants.clone()))
                .all(&db)
                .await
                .map_err(|e| e.to_string())?;
            if tenant_ids.len() != tenants.len() {
                return Err("one of the --tenant slugs does not exist".to_owned());
            }
            let user = users::create_user(
                &db,
                NewUser {
                    username,
                    role,
                    tenants: tenant_ids.into_iter().map(|t| t.id).collect(),
                    first_name: String::new(),
                    last_name: String::new(),
                    email,
                },
            )
            .await
            .map_err(describe)?;
            println!("created user {} (id {})", user.username, user.id);
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            user,
            read_only,
            expires,
            description,
        }) => {
            let db = connect(&database_url, Arc::default())
                .await
                .map_err(|e| e.to_string())?;
            let owner = users::by_username(&db, &Scope::service(), &user)
                .await
                .map_err(|_| format!("no user named `{user}`"))?;
            let expires = expires.as_deref().map(parse_expiry).transpose()?;
            let (token, secret) = users::create_token(
                &db,
                NewToken {
                    user_id: owner.id,
                    description,
                    write_enabled: !read_only,
                    expires,
                },
            )
            .await
            .map_err(describe)?;
            eprintln!(
                "created token {} for {} — shown only this once:",
                token.id, owner.username
            );
            println!("{secret}");
            Ok(())
        }
        Command::Sync(SyncCommand::Netbox(args)) => sync_netbox(&database_url, &args).await,
        Command::Token(TokenCommand::Revoke { id }) => {
            let db = connect(&database_url, Arc::default())
                .await
                .map_err(|e| e.to_string())?;
            users::revoke_token(&db, id).await.map_err(describe)?;
            println!("revoked token {id}");
            Ok(())
        }
    }
}

async fn serve(database_url: &str, args: ServeArgs) -> Result<(), String> {
    let listen = args.listen;
    let demo = args.demo;
    let reaper_interval = args.reaper_interval;
    let app = App::new(database_url, args)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let admin = bootstrap(&app, listen).await.map_err(describe)?;
    if demo {
        let loaded = demo::load(&app.db, admin).await.map_err(describe)?;
        if loaded {
            tracing::info!("loaded the demo data");
        } else {
            tracing::info!("the database already has definitions: demo data not loaded");
        }
    }
    spawn_reaper(&app, std::time::Duration::from_secs(reaper_interval.max(1)));
    let dispatcher = start_dispatcher(&app, database_url)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().unwrap_or(listen);
    tracing::info!("listening on http://{bound} — GraphiQL at http://{bound}/graphiql");
    let served = routes::serve(listener, app, shutdown_signal())
        .await
        .map_err(|e| e.to_string());
    // The HTTP side has stopped; the dispatcher's builds get the same grace (SPEC §9).
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown().await;
    }
    served
}

/// The dispatcher `--dispatch` asks for: its builds' log lines stored by the registry's batched
/// writer, the packer backend's files rendered from the registry's Packer template.
fn start_dispatcher(app: &App, database_url: &str) -> Result<Option<dispatch::Dispatcher>, String> {
    dispatch::start_with(
        app,
        database_url,
        Arc::new(dispatch::StoredLogs(app.logs.clone())),
        Some(Arc::new(dispatch::Templates)),
    )
}

/// `packer-gateway dispatch`: the dispatcher and the timeout reaper, no HTTP listener.
async fn dispatch_only(database_url: &str, args: ServeArgs) -> Result<(), String> {
    if args.dispatch.backend == config::Backend::None {
        return Err(
            "`dispatch` needs a backend: --dispatch proxbox or --dispatch packer".to_owned(),
        );
    }
    let reaper_interval = args.reaper_interval;
    let app = App::new(database_url, args)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    spawn_reaper(&app, std::time::Duration::from_secs(reaper_interval.max(1)));
    let dispatcher = start_dispatcher(&app, database_url)?;
    shutdown_signal().await;
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown().await;
    }
    Ok(())
}

/// `sync netbox`: one pass of every type, a summary on standard output; fails when a type did.
async fn sync_netbox(database_url: &str, args: &NetboxArgs) -> Result<(), String> {
    let db = connect(database_url, Arc::default())
        .await
        .map_err(|e| e.to_string())?;
    let clock = crate::clock::Clock::system();
    let auth = crate::auth::Authenticator::start(
        &db,
        clock.clone(),
        crate::auth::Options {
            capacity: 16,
            unknown_for: std::time::Duration::from_secs(1),
            poll_interval: std::time::Duration::from_secs(3600),
            lookups: 1,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let syncer = crate::netbox::Syncer::new(args, db, clock, auth)?
        .ok_or("give --netbox-url (or PACKER_GATEWAY_NETBOX_URL) and --netbox-token")?;
    let report = syncer
        .pass(&crate::registry::reference::sync::Kind::ALL)
        .await;
    print!("{report}");
    if report.ok() {
        Ok(())
    } else {
        Err("the NetBox sync failed; what was not synced is unchanged".to_owned())
    }
}

/// Runs the timeout reaper (SPEC §2.4) now and then every `interval`.
fn spawn_reaper(app: &App, interval: std::time::Duration) {
    let db = app.db.clone();
    let events = app.events.clone();
    let clock = app.clock.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match lifecycle::reap(&db, &events, clock.now()).await {
                Ok(reaped) if !reaped.is_empty() => {
                    tracing::info!(builds = ?reaped, "failed builds that timed out");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = ?err, "the timeout reaper failed; retrying later")
                }
            }
        }
    });
}

/// On the first start (no user at all), creates `admin` and prints one ADMIN token, once.
async fn bootstrap(app: &App, listen: std::net::SocketAddr) -> Result<Option<i32>, Error> {
    if !users::none_exist(&app.db).await? {
        return Ok(None);
    }
    let admin = users::create_user(
        &app.db,
        NewUser {
            username: "admin".to_owned(),
            role: Role::Admin,
            tenants: Vec::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
        },
    )
    .await?;
    let (_, secret) = users::create_token(
        &app.db,
        NewToken {
            user_id: admin.id,
            description: "created on first start".to_owned(),
            write_enabled: true,
            expires: None,
        },
    )
    .await?;
    eprintln!(
        "\nCreated the first user `admin` (ADMIN). Its API token, shown only this once:\n\n    \
         {secret}\n\nSend it as `Authorization: Bearer {secret}`. Open the dashboard, signed in:\n    \
         http://{listen}/#token={secret}\nor GraphiQL with the token in its headers:\n    \
         http://{listen}/graphiql#token={secret}\n"
    );
    Ok(Some(admin.id))
}

/// `2027-01-01T00:00:00Z` or `30d`.
fn parse_expiry(text: &str) -> Result<DateTime<Utc>, String> {
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days.parse().map_err(|_| format!("bad expiry `{text}`"))?;
        return Ok(now() + Duration::days(days));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("bad expiry `{text}`: give an RFC 3339 instant or a number of days like 30d")
        })
}

fn describe(err: Error) -> String {
    match err {
        Error::Internal(detail) | Error::DatabaseUnavailable(detail) => detail,
        other => other.message(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
