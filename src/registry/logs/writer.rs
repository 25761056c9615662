//! The batched writer of log lines: producers queue lines in memory ([`LogWriter::append`]) and
//! one task per instance writes whatever has accumulated in one transaction, so that a build
//! writing thousands of lines a second costs a few short transactions a second, not one per
//! line, and the lifecycle's transactions (which share SQLite's one write lock) are not delayed.
//!
//! After each commit the written lines are broadcast ([`LogWriter::written`]) to this instance's
//! `buildLog` subscribers; lines written by another instance are read from the table by them.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use entity::build_log_line;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
    sea_query::Expr,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{MARKER_STREAM, MAX_LINES, NewLine, Secrets, clean, marker};
use crate::{clock::Clock, registry::tx::begin_write};

/// Commands waiting for the writer; a producer beyond it waits (backpressure).
const QUEUE: usize = 4096;
/// The most lines written by one transaction.
const BATCH: usize = 5000;
/// Rows per `INSERT` (SQLite binds at most 32,766 values; 5 a row).
const INSERT_ROWS: usize = 1000;
/// Written batches buffered for slow subscribers (a lagging one reads the table).
const LIVE: usize = 256;
/// An arbitrary constant: the key of the advisory lock that orders log writes across instances
/// on PostgreSQL (each line's `seq` is the build's last plus one).
const LOG_LOCK: i64 = 0x6c6f_6773; // "logs"

/// The lines of one build that one transaction committed, in `seq` order.
#[derive(Clone, Debug)]
pub struct Written {
    /// The build.
    pub build: i32,
    /// The lines (their `id` is not read back: 0).
    pub lines: Vec<build_log_line::Model>,
}

/// The handle of this instance's writer. Cloning is cheap; the task ends with the last clone.
#[derive(Clone)]
pub struct LogWriter {
    queue: mpsc::Sender<Command>,
    secrets: Arc<Secrets>,
    clock: Clock,
    written: broadcast::Sender<Arc<Written>>,
}

enum Command {
    Lines {
        build: i32,
        lines: Vec<(DateTime<Utc>, String, String)>,
    },
    Flush(oneshot::Sender<()>),
}

impl LogWriter {
    /// Starts the writer on `db`, scrubbing `secrets` from every line.
    pub fn start(db: &DatabaseConnection, clock: Clock, secrets: Secrets) -> LogWriter {
        let (queue, commands) = mpsc::channel(QUEUE);
        let (written, _) = broadcast::channel(LIVE);
        tokio::spawn(run(db.clone(), commands, written.clone()));
        LogWriter {
            queue,
            secrets: Arc::new(secrets),
            clock,
            written,
        }
    }

    /// The secrets scrubbed from every line (the dispatcher scrubs its backend's output with
    /// them too).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Queues `lines` of `build` (scrubbed and capped here, stamped with the clock's now). The
    /// lines are written with the next batch: call [`LogWriter::flush`] to wait for them.
    pub async fn append(&self, build: i32, lines: Vec<NewLine>) {
        if lines.is_empty() {
            return;
        }
        let at = self.clock.now();
        let lines = lines
            .into_iter()
            .map(|l| (at, l.stream, clean(&self.secrets, &l.line)))
            .collect();
        if self
            .queue
            .send(Command::Lines { build, lines })
            .await
            .is_err()
        {
            tracing::error!(build, "the log writer has stopped: lines lost");
        }
    }

    /// Waits until every line queued before this call is committed (or its batch failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Every batch committed from now on, for live subscribers.
    pub fn written(&self) -> broadcast::Receiver<Arc<Written>> {
        self.written.subscribe()
    }

    /// `line` as it would be stored: for producers that keep a copy (an error's log tail).
    pub fn clean(&self, line: &str) -> String {
        clean(&self.secrets, line)
    }
}

async fn run(
    db: DatabaseConnection,
    mut commands: mpsc::Receiver<Command>,
    written: broadcast::Sender<Arc<Written>>,
) {
    while let Some(first) = commands.recv().await {
        let mut batch: BTreeMap<i32, Vec<(DateTime<Utc>, String, String)>> = BTreeMap::new();
        let mut flushes = Vec::new();
        let mut count = 0;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Lines { build, lines } => {
                    count += lines.len();
                    batch.entry(build).or_default().extend(lines);
                }
                Command::Flush(done) => flushes.push(done),
            }
            if count < BATCH {
                next = commands.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            match write(&db, batch).await {
                Ok(batches) => {
                    for batch in batches {
                        let _ = written.send(Arc::new(batch));
                    }
                }
                Err(err) => tracing::error!(%err, "writing build log lines failed: lines lost"),
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes the lines of each build in one transaction: numbers them after the build's last line,
/// inserts them, and drops the oldest lines of a build past [`MAX_LINES`].
async fn write(
    db: &DatabaseConnection,
    batch: BTreeMap<i32, Vec<(DateTime<Utc>, String, String)>>,
) -> Result<Vec<Written>, DbErr> {
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT 1 FROM pg_advisory_xact_lock({LOG_LOCK})"))
            .await?;
    }
    let last: BTreeMap<i32, i32> = build_log_line::Entity::find()
        .select_only()
        .column(build_log_line::Column::BuildId)
        .column_as(build_log_line::Column::Seq.max(), "last")
        .filter(build_log_line::Column::BuildId.is_in(batch.keys().copied()))
        .group_by(build_log_line::Column::BuildId)
        .into_tuple::<(i32, Option<i32>)>()
        .all(&txn)
        .await?
        .into_iter()
        .map(|(build, last)| (build, last.unwrap_or(0)))
        .collect();
    let mut result = Vec::with_capacity(batch.len());
    let mut rows = Vec::new();
    for (build, lines) in batch {
        let start = last.get(&build).copied().unwrap_or(0);
        let lines: Vec<build_log_line::Model> = lines
            .into_iter()
            .zip(start + 1..)
            .map(|((at, stream, line), seq)| build_log_line::Model {
                id: 0,
                build_id: build,
                seq,
                at,
                stream,
                line,
            })
            .collect();
        rows.extend(lines.iter().map(|l| build_log_line::ActiveModel {
            id: NotSet,
            build_id: Set(l.build_id),
            seq: Set(l.seq),
            at: Set(l.at),
            stream: Set(l.stream.clone()),
            line: Set(l.line.clone()),
        }));
        result.push(Written { build, lines });
    }
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(INSERT_ROWS));
        build_log_line::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .exec_without_returning(&txn)
            .await?;
    }
    for written in &mut result {
        let Some(end) = written.lines.last().map(|l| l.seq) else {
            continue;
        };
        if end <= MAX_LINES {
            continue;
        }
        let cut = end - MAX_LINES + 1;
        build_log_line::Entity::delete_many()
            .filter(build_log_line::Column::BuildId.eq(written.build))
            .filter(build_log_line::Column::Seq.lt(cut))
            .exec(&txn)
            .await?;
        build_log_line::Entity::update_many()
            .col_expr(build_log_line::Column::Line, Expr::value(marker(cut)))
            .col_expr(build_log_line::Column::Stream, Expr::value(MARKER_STREAM))
            .filter(build_log_line::Column::BuildId.eq(written.build))
            .filter(build_log_line::Column::Seq.eq(cut))
            .exec(&txn)
            .await?;
        written.lines.retain(|l| l.seq >= cut);
        if let Some(first) = written.lines.first_mut()
            && first.seq == cut
        {
            first.line = marker(cut);
            first.stream = MARKER_STREAM.to_owned();
        }
    }
    txn.commit().await?;
    Ok(result)
}
