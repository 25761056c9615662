//! Build logs (SPEC §7.5): the rules a line goes through before it is stored (secrets scrubbed,
//! length capped), the reads of a build's log (with the build's visibility), and the batched
//! [`LogWriter`] every producer of lines feeds (`appendBuildLog`, the dispatcher's backends).
//!
//! A build's lines are numbered 1.. (`seq`) in the order the writer received them. At most
//! [`MAX_LINES`] are kept: when a batch takes a build past it, the oldest lines are deleted and
//! the oldest kept line becomes the one marker line (`stream = "marker"`), which says how many
//! were dropped — its own `seq`, since lines 1..=seq are gone.

mod writer;

use std::{borrow::Cow, collections::HashMap};

use entity::{build_log_line, enums::BuildStatus, image_build};
use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

pub use writer::{LogWriter, Written};

use super::Ctx;
use super::{
    id::Id,
    page::{Page, PageArgs, Sort, count_partitioned, fetch_partitioned},
    read::{self, Audience, Readable, visible},
    visibility,
};
use crate::{
    auth::{Action, Scope},
    error::{Error, FieldErrors},
    filter_fields, sort_fields,
};

/// The longest line stored, in bytes; a longer one is cut and ends with [`TRUNCATED`].
pub const MAX_LINE_BYTES: usize = 8192;
/// The most lines kept per build (the marker line included).
pub const MAX_LINES: i32 = 20_000;
/// The end of a line that was cut.
pub const TRUNCATED: &str = " …[truncated]";
/// What a secret becomes.
pub const SCRUBBED: &str = "***";
/// The stream of the marker line.
pub const MARKER_STREAM: &str = "marker";
/// The longest stream name.
pub const MAX_STREAM_LEN: usize = 16;
/// The most lines one REST page or one read of the history holds.
pub const MAX_READ: u64 = 1000;

filter_fields! {
    (
        /// The filterable fields of a log line.
    )
    LogField for build_log_line search [Line] {
        /// Build id.
        Build build: Id(image_build) = column(BuildId, not_null),
        /// Line number.
        Seq seq: Int = column(Seq, not_null),
    }
}
sort_fields! {
    (
        /// Log lines are read in their order.
    )
    LogSort for build_log_line {
        /// `seq`
        Seq = (Seq, "seq", not_null),
    }
}

impl Readable for build_log_line::Entity {
    type Field = LogField;
    type Sort = LogSort;
    const AUDIENCE: Audience = Audience::Everyone;

    fn rows(scope: &Scope) -> Option<Expr> {
        visibility::log_lines(scope)
    }

    fn default_sort() -> Vec<Sort<LogSort>> {
        vec![Sort {
            field: LogSort::Seq,
            desc: false,
        }]
    }
}

/// One line as a producer hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLine {
    /// `stdout`, `stderr`, …: 1..=16 characters of `[a-z0-9_-]`.
    pub stream: String,
    /// The text, as produced (scrubbed and capped by the writer).
    pub line: String,
}

impl NewLine {
    /// Whether `stream` may name a stream: 1..=16 characters of `[a-z0-9_-]`, not the marker's.
    pub fn valid_stream(stream: &str) -> bool {
        !stream.is_empty()
            && stream.len() <= MAX_STREAM_LEN
            && stream != MARKER_STREAM
            && stream
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }

    /// Checks the stream name (`BAD_USER_INPUT` on `lines`, naming the offending index).
    pub fn check(lines: &[NewLine]) -> Result<(), Error> {
        let mut errors = FieldErrors::default();
        for (i, line) in lines.iter().enumerate() {
            if !Self::valid_stream(&line.stream) {
                errors.add(
                    "lines",
                    format!(
                        "line {i}: stream must be 1 to {MAX_STREAM_LEN} characters of a-z, 0-9, _ and - (not `{MARKER_STREAM}`)"
                    ),
                );
            }
        }
        errors.into_result()
    }
}

/// The secret values scrubbed from every stored line, and from every line, error and response
/// a dispatcher's backend produces (SPEC §7.5): one list, built once at start-up (`--log-secret`,
/// the proxbox-api key) and given to the log writer, which hands it to the dispatcher (which adds
/// the Proxmox tokens of its packer backend).
#[derive(Clone, Debug, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The non-empty values of `values`, longest first (so that a secret containing another is
    /// scrubbed whole).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        values.dedup();
        Secrets(values)
    }

    /// This list and `more` (empty ones ignored).
    pub fn with(&self, more: impl IntoIterator<Item = String>) -> Self {
        Secrets::new(self.0.iter().cloned().chain(more))
    }

    /// `text` with every secret value replaced by [`SCRUBBED`], as an owned string.
    pub fn text(&self, text: &str) -> String {
        self.scrub(text).into_owned()
    }

    /// `value` with every secret value replaced in every string (keys included).
    pub fn json(&self, value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value as Json;
        match value {
            Json::String(s) => Json::String(self.text(&s)),
            Json::Array(items) => Json::Array(items.into_iter().map(|v| self.json(v)).collect()),
            Json::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.json(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// `line` with every secret value replaced by [`SCRUBBED`].
    pub fn scrub<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let mut line = Cow::Borrowed(line);
        for secret in &self.0 {
            if line.contains(secret.as_str()) {
                line = Cow::Owned(line.replace(secret.as_str(), SCRUBBED));
            }
        }
        line
    }
}

/// `line` as it is stored: secrets scrubbed first (so that no part of one survives a cut), then
/// cut to [`MAX_LINE_BYTES`] on a character boundary, ending with [`TRUNCATED`].
pub fn clean(secrets: &Secrets, line: &str) -> String {
    let line = secrets.scrub(line);
    if line.len() <= MAX_LINE_BYTES {
        return line.into_owned();
    }
    let mut end = MAX_LINE_BYTES - TRUNCATED.len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &line[..end])
}

/// The text of the marker line when lines `1..=dropped` are gone.
pub fn marker(dropped: i32) -> String {
    format!("[{dropped} earlier lines dropped: at most {MAX_LINES} lines are kept per build]")
}

/// A build's id.
type BuildId = Id<image_build::Entity>;

/// The most lines one `appendBuildLog` takes.
pub const MAX_APPEND: usize = 1000;

/// Queues `lines` for the running build `build` (WORKER, ADMIN): `appendBuildLog`. The lines are
/// written with the writer's next batch; the answer is how many were queued.
pub async fn append(
    ctx: Ctx<'_>,
    writer: &LogWriter,
    build: BuildId,
    lines: Vec<NewLine>,
) -> Result<usize, Error> {
    ctx.principal.authorize(Action::ReportBuild)?;
    if lines.len() > MAX_APPEND {
        let mut errors = FieldErrors::default();
        errors.add("lines", format!("at most {MAX_APPEND} lines per call"));
        return Err(Error::BadInput(errors));
    }
    NewLine::check(&lines)?;
    let build = read::get::<image_build::Entity>(ctx.db, &ctx.principal.scope(), build).await?;
    if build.status != BuildStatus::Running {
        let mut errors = FieldErrors::default();
        errors.add(
            "build_id",
            format!(
                "only a running build takes log lines; this one is {}",
                build.status.to_value()
            ),
        );
        return Err(Error::BadInput(errors));
    }
    let count = lines.len();
    writer.append(build.id, lines).await;
    Ok(count)
}

/// The lines of `build` after `after`, at most `limit` (≤ [`MAX_READ`]), as `scope` may read
/// them: `NOT_FOUND` when the build is not visible. Two statements.
pub async fn lines_after(
    db: &DatabaseConnection,
    scope: &Scope,
    build: BuildId,
    after: i32,
    limit: u64,
) -> Result<(image_build::Model, Vec<build_log_line::Model>), Error> {
    let build = read::get::<image_build::Entity>(db, scope, build).await?;
    let lines = visible::<build_log_line::Entity>(scope)?
        .filter(build_log_line::Column::BuildId.eq(build.id))
        .filter(build_log_line::Column::Seq.gt(after))
        .order_by_asc(build_log_line::Column::Seq)
        .limit(limit.clamp(1, MAX_READ))
        .all(db)
        .await?;
    Ok((build, lines))
}

/// One page of the log of each of `builds` that `scope` may see, in one statement.
pub async fn lines_of_builds(
    db: &DatabaseConnection,
    scope: &Scope,
    builds: &[BuildId],
    args: &PageArgs,
) -> Result<HashMap<BuildId, Page<build_log_line::Model>>, Error> {
    let select = visible::<build_log_line::Entity>(scope)?;
    let parents: Vec<i64> = builds.iter().map(|id| id.get()).collect();
    let pages = fetch_partitioned(
        db,
        select,
        build_log_line::Column::BuildId,
        &parents,
        &build_log_line::Entity::default_sort(),
        args,
    )
    .await?;
    Ok(pages
        .into_iter()
        .filter_map(|(parent, page)| Some((Id::new(parent)?, page)))
        .collect())
}

/// The number of lines kept for each of `builds` that `scope` may see, in one statement.
pub async fn count_of_builds(
    db: &DatabaseConnection,
    scope: &Scope,
    builds: &[BuildId],
) -> Result<HashMap<BuildId, i64>, Error> {
    let select = visible::<build_log_line::Entity>(scope)?;
    let parents: Vec<i64> = builds.iter().map(|id| id.get()).collect();
    let counts = count_partitioned(db, select, build_log_line::Column::BuildId, &parents).await?;
    Ok(counts
        .into_iter()
        .filter_map(|(parent, count)| Some((Id::new(parent)?, count)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{MAX_LINE_BYTES, Secrets, TRUNCATED, clean, marker};

    #[test]
    fn secrets_are_scrubbed_longest_first() {
        let secrets = Secrets::new(["abc".to_owned(), "abcdef".to_owned(), String::new()]);
        assert_eq!(clean(&secrets, "x abcdef y abc z"), "x *** y *** z");
        assert_eq!(clean(&secrets, "nothing"), "nothing");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let cut = clean(&Secrets::default(), &line);
        assert!(cut.len() <= MAX_LINE_BYTES, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATED));
        let exact = "a".repeat(MAX_LINE_BYTES);
        assert_eq!(clean(&Secrets::default(), &exact), exact);
    }

    #[test]
    fn a_secret_across_the_cut_is_scrubbed_first() {
        let secret = "s3cr3t-token".to_owned();
        let line = format!("{}{secret}", "a".repeat(MAX_LINE_BYTES - 20));
        let cut = clean(&Secrets::new([secret.clone()]), &line);
        assert!(!cut.contains("s3cr3t"), "{cut}");
        assert_eq!(
            marker(5),
            "[5 earlier lines dropped: at most 20000 lines are kept per build]"
        );
    }
}
