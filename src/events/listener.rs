//! The PostgreSQL `LISTEN` of one instance: the cross-instance wake-up of the hub.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{
    DbErr,
    sqlx::{PgPool, postgres::PgListener},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::registry::events::CHANNEL;

/// The PostgreSQL `LISTEN` of one instance.
pub(super) struct Listener {
    pub(super) pool: PgPool,
    pub(super) schema: String,
    pub(super) listener: Option<PgListener>,
    pub(super) remote: Arc<Notify>,
    pub(super) listening: Arc<AtomicBool>,
    pub(super) stop: CancellationToken,
}

/// Wakes the fetcher on every notification of this schema; after the connection was lost (and
/// re-established), wakes it too, to catch up on what was committed meanwhile.
pub(super) async fn run_listener(mut state: Listener) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(listener) = state.listener.as_mut() else {
            match listen(&state.pool).await {
                Ok(listener) => {
                    tracing::info!("listening for build events again");
                    state.listener = Some(listener);
                    state.listening.store(true, Ordering::SeqCst);
                    state.remote.notify_one();
                    backoff = Duration::from_millis(100);
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot LISTEN for build events; retrying");
                    tokio::select! {
                        () = state.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            continue;
        };
        let received = tokio::select! {
            () = state.stop.cancelled() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                if notification.payload() == state.schema {
                    state.remote.notify_one();
                }
            }
            Ok(None) => {
                // The connection was lost and re-established (and re-listened): notifications
                // in between are gone, the table is not.
                tracing::warn!("the build event listener reconnected; catching up");
                state.remote.notify_one();
            }
            Err(err) => {
                tracing::warn!(%err, "the build event listener failed");
                state.listening.store(false, Ordering::SeqCst);
                state.listener = None;
                state.remote.notify_one();
            }
        }
    }
}

pub(super) async fn listen(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

pub(super) async fn current_schema(pool: &PgPool) -> Result<String, sea_orm::sqlx::Error> {
    sea_orm::sqlx::query_scalar("SELECT coalesce(current_schema(), '')")
        .fetch_one(pool)
        .await
}

pub(super) fn sqlx_error(err: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(format!("cannot prepare the build event listener: {err}"))
}
