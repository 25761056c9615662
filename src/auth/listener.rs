//! The PostgreSQL `LISTEN` on [`CHANNEL`]: how an instance hears, at once, that another one (or
//! the command line, or anything writing to the database) committed a change of credentials. It
//! reconnects by itself, and says so, since notifications sent while it was away are lost (the
//! generation is not: the caller reads it then).

use std::{sync::Arc, time::Duration};

use sea_orm::sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The channel the database notifies on a committed change of credentials (the triggers of the
/// `credentials_generation` migration); the payload is the writer's `current_schema()`, so that
/// deployments sharing a database in different schemas do not wake each other.
pub const CHANNEL: &str = "packer_gateway_credentials";

/// Wakes `wake` on every notification of `schema`, and after the connection was lost and
/// established again; until `stop`.
pub(super) async fn run(pool: PgPool, schema: String, wake: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(connected) = listener.as_mut() else {
            let attempt = tokio::select! {
                () = stop.cancelled() => return,
                attempt = listen(&pool) => attempt,
            };
            match attempt {
                Ok(connected) => {
                    listener = Some(connected);
                    backoff = Duration::from_millis(100);
                    wake.notify_one();
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot LISTEN for credential changes; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            continue;
        };
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = connected.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                if notification.payload() == schema {
                    wake.notify_one();
                }
            }
            Ok(None) => {
                // Lost and re-established (and re-listened) by sqlx: what was sent meanwhile is
                // gone, the generation is not.
                tracing::warn!("the credentials listener reconnected; checking for changes");
                wake.notify_one();
            }
            Err(err) => {
                tracing::warn!(%err, "the credentials listener failed");
                listener = None;
                wake.notify_one();
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The schema this instance's connections use (the payload its notifications are sent with).
pub(super) async fn current_schema(pool: &PgPool) -> Result<String, sea_orm::sqlx::Error> {
    sea_orm::sqlx::query_scalar("SELECT coalesce(current_schema(), '')")
        .fetch_one(pool)
        .await
}
