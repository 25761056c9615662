//! Build events (SPEC §1.5, §3.3): the `build_event` table is the truth, this module is the
//! wake-up.
//!
//! Contract with the registry (the only writer of events):
//! - every transaction that inserts `build_event` rows calls [`prepare_event_write`] first, inside
//!   the transaction: on PostgreSQL it takes a transaction-scoped advisory lock, so that event ids
//!   are assigned in commit order (a reader that saw id N can never later see a smaller id
//!   commit), and issues `NOTIFY` on [`CHANNEL`], which PostgreSQL delivers at commit only;
//! - after the transaction commits, the caller calls [`Events::committed`] to wake this instance's
//!   subscribers (other instances hear the `NOTIFY`).

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use tokio::sync::watch;

/// The PostgreSQL channel that announces new events.
pub const CHANNEL: &str = "packer_gateway_build_events";

/// An arbitrary constant: the key of the advisory lock that orders event writes.
const EVENT_LOCK: i64 = 0x7061_636b_6572; // "packer"

/// This instance's event wake-up.
#[derive(Clone)]
pub struct Events {
    wake: Arc<watch::Sender<u64>>,
}

impl Events {
    /// A fresh wake-up.
    pub fn new() -> Self {
        let (wake, _) = watch::channel(0);
        Events {
            wake: Arc::new(wake),
        }
    }

    /// Says that a transaction that wrote events has committed.
    pub fn committed(&self) {
        self.wake.send_modify(|generation| *generation += 1);
    }

    /// A receiver that changes whenever events may have been committed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

/// Call inside a transaction before inserting `build_event` rows (see the module docs).
pub async fn prepare_event_write(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT 1 FROM pg_advisory_xact_lock({EVENT_LOCK})"
        ))
        .await?;
        txn.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    Ok(())
}
