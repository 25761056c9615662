//! Build logs (SPEC §7.5): `BuildLogLine`, the `ImageBuild.log` connection's loaders, and the
//! `appendBuildLog` mutation external workers write lines with.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use entity::{build_log_line, image_build};

use super::{connection::Node, ids, scalars::DateTime, writer};
use crate::{
    events::logs::LogTails,
    registry::logs::{self, NewLine},
};

/// One line of a build's log.
#[derive(SimpleObject, Clone)]
pub struct BuildLogLine {
    /// Its number in the build's log, from 1 (pass it as `afterSeq` to resume after it).
    pub seq: i32,
    /// When it was received.
    pub at: DateTime,
    /// `stdout`, `stderr`, …; `marker` for the line that says how many older lines were dropped.
    pub stream: String,
    /// The text (secrets replaced by `***`, at most 8 KiB).
    pub line: String,
}

impl From<build_log_line::Model> for BuildLogLine {
    fn from(m: build_log_line::Model) -> Self {
        BuildLogLine {
            seq: m.seq,
            at: m.at.into(),
            stream: m.stream,
            line: m.line,
        }
    }
}

impl Node for BuildLogLine {
    const NAME: &'static str = "BuildLogLine";
}

/// A log line to append.
#[derive(InputObject)]
pub struct BuildLogInput {
    /// `stdout` (default), `stderr`, …: 1 to 16 characters of `a-z`, `0-9`, `_`, `-`.
    #[graphql(default_with = "String::from(\"stdout\")")]
    pub stream: String,
    /// The text.
    pub line: String,
}

/// Mutations of build logs.
#[derive(Default)]
pub struct LogMutation;

#[Object]
impl LogMutation {
    /// Appends lines to the log of a running build (WORKER, ADMIN), at most 1000 per call; they
    /// are stored with the next batch, in order. Answers how many were queued.
    async fn append_build_log(
        &self,
        ctx: &Context<'_>,
        build_id: ID,
        lines: Vec<BuildLogInput>,
    ) -> Result<i32> {
        let build = ids::parse::<image_build::Entity>(&build_id, "build_id")?;
        let lines = lines
            .into_iter()
            .map(|l| NewLine {
                stream: l.stream,
                line: l.line,
            })
            .collect();
        let tails = ctx.data_unchecked::<LogTails>();
        let count = logs::append(writer(ctx), tails.writer(), build, lines).await?;
        Ok(count as i32)
    }
}
