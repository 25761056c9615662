//! `image-builds/{id}/log/`: a build's log lines after `?after=N` (default 0: from the first),
//! at most `?limit=` (1..=1000, default 1000) of them, oldest first (SPEC §7.5), with the same
//! visibility as the build: `{"next": <url of the next page, or null>, "results": [{seq, at,
//! stream, line}]}`. `next` is set when the page is full; an empty page means nothing more yet.

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use entity::build_log_line;
use serde::Serialize;

use super::{Base, Reply, refs::kind, refs::path_id, reply};
use crate::{
    app::App,
    auth::Principal,
    error::{Error, FieldErrors},
    registry::logs::{MAX_READ, lines_after},
};

/// One log line as REST renders it.
#[derive(Serialize)]
struct Line {
    seq: i32,
    at: DateTime<Utc>,
    stream: String,
    line: String,
}

/// A page of log lines.
#[derive(Serialize)]
struct LogPage {
    next: Option<String>,
    results: Vec<Line>,
}

/// `GET image-builds/{id}/log/`.
pub async fn list(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let scope = principal.scope();
    let id = path_id(&path)?;
    let (after, limit) = params(query.as_deref())?;
    let (build, lines) = lines_after(&app.db, &scope, id, after, limit).await?;
    let next = (lines.len() as u64 == limit).then(|| {
        let last = lines.last().map_or(after, |l| l.seq);
        let url = Base::of(&headers).object(kind::BUILDS, i64::from(build.id));
        format!("{url}log/?after={last}&limit={limit}")
    });
    let results = lines.into_iter().map(render).collect();
    reply(StatusCode::OK, LogPage { next, results })
}

fn render(line: build_log_line::Model) -> Line {
    Line {
        seq: line.seq,
        at: line.at,
        stream: line.stream,
        line: line.line,
    }
}

/// `after` (≥ 0) and `limit` (1..=1000); anything else is a 400 naming the parameter.
fn params(query: Option<&str>) -> Result<(i32, u64), Error> {
    let mut errors = FieldErrors::default();
    let (mut after, mut limit) = (0, MAX_READ);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "after" => match value.parse::<i32>() {
                Ok(n) if n >= 0 => after = n,
                _ => errors.add("after", "must be an integer ≥ 0"),
            },
            "limit" => match value.parse::<u64>() {
                Ok(n) if (1..=MAX_READ).contains(&n) => limit = n,
                _ => errors.add("limit", format!("must be an integer from 1 to {MAX_READ}")),
            },
            other => errors.add(other, "unknown parameter: `after` and `limit` are accepted"),
        }
    }
    errors.into_result()?;
    Ok((after, limit))
}
