//! The `buildLog` subscription's stream (SPEC §7.5): a build's log lines after a given `seq`,
//! replayed from the table, then live from this instance's [`LogWriter`], ending after the last
//! line once the build is final.
//!
//! Like the event hub, a tail subscribes to the live sources (the writer's batches, the build's
//! status changes) *before* it reads the table, and joins the two by `seq`: a live batch that
//! does not follow the last line sent (lines written by another instance, a lagging receiver)
//! sends it back to the table. Lines of another instance also arrive by a poll of the table when
//! nothing was heard for `poll`. When the build is final, the tail waits for this instance's
//! writer to commit what it holds, reads the rest from the table and ends.

use std::{sync::Arc, time::Duration};

use entity::{build_log_line, enums::BuildStatus, image_build};
use futures_util::stream::{self, BoxStream, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{ChangeFilter, Events, Position};
use crate::{
    auth::Scope,
    error::Error,
    registry::{
        id::Id,
        logs::{LogWriter, MAX_READ, Written, lines_after},
    },
};

/// What a tail needs: the database, this instance's writer and event hub, the poll interval.
#[derive(Clone)]
pub struct LogTails {
    db: DatabaseConnection,
    writer: LogWriter,
    events: Events,
    poll: Duration,
}

impl LogTails {
    /// Tails over `db`, fed by `writer` and `events`, reading the table every `poll` when idle.
    pub fn new(db: DatabaseConnection, writer: LogWriter, events: Events, poll: Duration) -> Self {
        LogTails {
            db,
            writer,
            events,
            poll,
        }
    }

    /// The writer, for producers of lines.
    pub fn writer(&self) -> &LogWriter {
        &self.writer
    }

    /// The lines of `build` after `after` (0: all) that `scope` may read, each once, in `seq`
    /// order; `NOT_FOUND` first when the build is not visible. The stream ends after an error,
    /// and after the last line of a final build.
    pub fn tail(
        &self,
        scope: Scope,
        build: Id<image_build::Entity>,
        after: i32,
    ) -> BoxStream<'static, Result<build_log_line::Model, Error>> {
        // Live sources first, then the table.
        let written = self.writer.written();
        let changes = self.events.subscribe(
            scope.clone(),
            ChangeFilter {
                build: build.as_i32(),
                ..ChangeFilter::default()
            },
            None,
            Position::default(),
        );
        let state = Tail {
            db: self.db.clone(),
            writer: self.writer.clone(),
            scope,
            build,
            last: after.max(0),
            written,
            changes,
            poll: poll(self.poll),
            read: true,
            ending: false,
            done: false,
        };
        stream::unfold(state, |mut tail| async move {
            if tail.done {
                return None;
            }
            let batch = tail.next().await;
            if batch.is_err() {
                tail.done = true;
            }
            Some((batch, tail))
        })
        .flat_map(|batch| match batch {
            Ok(lines) => stream::iter(lines.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(err) => stream::iter(vec![Err(err)]),
        })
        .boxed()
    }
}

struct Tail {
    db: DatabaseConnection,
    writer: LogWriter,
    scope: Scope,
    build: Id<image_build::Entity>,
    /// The `seq` of the last line sent.
    last: i32,
    written: broadcast::Receiver<Arc<Written>>,
    changes: BoxStream<'static, Result<Arc<super::Change>, Error>>,
    /// Ticks after `poll` without lines for this build.
    poll: tokio::time::Interval,
    /// The next lines come from the table.
    read: bool,
    /// The build is final: read to the end, then stop.
    ending: bool,
    done: bool,
}

impl Tail {
    /// The next lines to send (possibly none when the stream is done).
    async fn next(&mut self) -> Result<Vec<build_log_line::Model>, Error> {
        loop {
            if self.read {
                let (build, lines) =
                    lines_after(&self.db, &self.scope, self.build, self.last, MAX_READ).await?;
                if is_final(build.status) && !self.ending {
                    // Lines this instance still holds are written before the end is read.
                    self.writer.flush().await;
                    self.ending = true;
                    continue;
                }
                self.read = lines.len() as u64 == MAX_READ;
                if let Some(line) = lines.last() {
                    self.last = line.seq;
                    self.poll.reset();
                    return Ok(lines);
                }
                if self.ending {
                    self.done = true;
                    return Ok(Vec::new());
                }
            }
            tokio::select! {
                batch = self.written.recv() => match batch {
                    Ok(batch) if batch.build as i64 == self.build.get() => {
                        let lines: Vec<_> = batch
                            .lines
                            .iter()
                            .filter(|l| l.seq > self.last)
                            .cloned()
                            .collect();
                        match lines.first() {
                            None => {}
                            Some(first) if first.seq == self.last + 1 => {
                                if let Some(line) = lines.last() {
                                    self.last = line.seq;
                                }
                                self.poll.reset();
                                return Ok(lines);
                            }
                            Some(_) => self.read = true,
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.read = true,
                    Err(RecvError::Closed) => {
                        self.done = true;
                        return Ok(Vec::new());
                    }
                },
                change = self.changes.next() => match change {
                    Some(Ok(change)) => {
                        if is_final(change.event.to_status) {
                            self.read = true;
                        }
                    }
                    Some(Err(err)) => return Err(err),
                    None => {
                        self.done = true;
                        return Ok(Vec::new());
                    }
                },
                _ = self.poll.tick() => self.read = true,
            }
        }
    }
}

/// An interval whose first tick is `every` from now, and which does not catch up missed ticks.
fn poll(every: Duration) -> tokio::time::Interval {
    let every = every.max(Duration::from_millis(10));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Whether no status follows `status`.
fn is_final(status: BuildStatus) -> bool {
    matches!(
        status,
        BuildStatus::Completed | BuildStatus::Failed | BuildStatus::Cancelled
    )
}
