//! The subscription root (SPEC §3.3): `buildStatusChanged`, and the `BuildStatusEvent` it pushes.
//!
//! Every event is answered from the hub's shared [`Change`]: `build` and `actor` are the rows the
//! fetcher read once for every subscriber, and the build, its definition and the rows the
//! payload's relations point at (allowed tenants, creator, endpoints, cluster) are fed into the
//! subscriber's loaders as its scope may read them (see [`feed`]), so a nested payload runs no
//! statement per subscriber. The loaders are cleared before each event: each one is answered as
//! a fresh request would be.

use std::sync::Arc;

use async_graphql::{
    Context, ID, InputObject, Object, Result, Subscription as SubscriptionRoot, Value, Variables,
    parser::types::{OperationDefinition, Selection},
};
use entity::{build_event, image_build, image_definition};
use futures_util::{Stream, StreamExt};

use super::{
    builds::ImageBuild, enums::BuildStatus, error::nullable, events, ids, loaders::Loaders,
    logs::BuildLogLine, reference::User, request, scalars::DateTime,
};
use crate::{
    auth::Scope,
    error::Error,
    events::{Change, ChangeFilter, Position, logs::LogTails},
    registry::id::{Id, Named},
};

/// Which status changes to receive; every field set must match.
#[derive(InputObject, Default)]
pub struct BuildStatusFilter {
    /// Only this build.
    pub build_id: Option<ID>,
    /// Only builds of this definition.
    pub definition_id: Option<ID>,
    /// Only changes *to* one of these statuses (an empty list matches nothing).
    pub statuses: Option<Vec<BuildStatus>>,
}

impl BuildStatusFilter {
    fn into_filter(self) -> Result<ChangeFilter, Error> {
        fn id<E: Named>(id: Option<ID>, field: &str) -> Result<Option<i32>, Error> {
            id.map(|id| {
                ids::parse::<E>(&id, field)?
                    .as_i32()
                    .ok_or_else(|| ids::not_an_id_of(field, E::NAME))
            })
            .transpose()
        }
        Ok(ChangeFilter {
            build: id::<image_build::Entity>(self.build_id, "build_id")?,
            definition: id::<image_definition::Entity>(self.definition_id, "definition_id")?,
            statuses: self
                .statuses
                .map(|statuses| statuses.into_iter().map(Into::into).collect()),
        })
    }
}

/// One committed status change of a build.
pub struct BuildStatusEvent(Arc<Change>);

#[Object]
impl BuildStatusEvent {
    /// The event's id: pass it as `afterEventId` to resume after it.
    async fn event_id(&self) -> ID {
        ids::render(Id::<build_event::Entity>::of(&self.0.event))
    }

    /// The build, as read once the change committed (it may have moved on since).
    async fn build(&self) -> ImageBuild {
        self.0.build.clone().into()
    }

    /// Its status before (null when the build was created).
    async fn previous_status(&self) -> Option<BuildStatus> {
        self.0.event.from_status.map(Into::into)
    }

    /// Its new status.
    async fn status(&self) -> BuildStatus {
        self.0.event.to_status.into()
    }

    /// When the change was committed.
    async fn at(&self) -> DateTime {
        self.0.event.at.into()
    }

    /// Who changed it (null for the service itself, e.g. the timeout reaper).
    async fn actor(&self, ctx: &Context<'_>) -> Option<User> {
        nullable(ctx, async move {
            let actor = self.0.actor(&request(ctx).scope)?;
            Ok(actor.cloned().map(Into::into))
        })
        .await
    }

    /// Free text, e.g. the error of a failure; null when there is none.
    async fn message(&self) -> Option<String> {
        Some(self.0.event.message.clone()).filter(|m| !m.is_empty())
    }
}

/// Every subscription of SPEC §3.3.
#[derive(Default)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// The status changes of the builds the caller can see, in the order they were committed,
    /// each once. With `afterEventId`, first every matching change after that event (from the
    /// history), then live ones, with no gap and no duplicate.
    async fn build_status_changed<'a>(
        &self,
        ctx: &Context<'a>,
        filter: Option<BuildStatusFilter>,
        after_event_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<BuildStatusEvent>> + use<'a>> {
        let request = request(ctx);
        let filter = filter.unwrap_or_default().into_filter()?;
        let after = after_event_id
            .map(|id| {
                // `0` (before every event) has no global id: it stays an integer.
                if id.as_str() == "0" {
                    return Ok(0);
                }
                ids::parse::<build_event::Entity>(&id, "after_event_id").map(Id::get)
            })
            .transpose()?;
        // A websocket that starts this subscription again (its principal's scope changed) hands
        // over where the previous run stood: it resumes there, whatever `afterEventId` said.
        let position = ctx.data_opt::<Position>().cloned().unwrap_or_default();
        let after = position.get().or(after);
        let handed = ctx.data_opt::<Handed>().cloned();
        let changes = events(ctx).subscribe(request.scope.clone(), filter, after, position);
        Ok(changes.then(move |change| {
            let handed = handed.clone();
            async move {
                let change = change?;
                if let Some(handed) = handed {
                    handed.0.advance(change.event.id);
                }
                feed(&request.loaders, &request.scope, &change);
                Ok(BuildStatusEvent(change))
            }
        }))
    }

    /// The log lines of a build (SPEC §7.5) after line `afterSeq` (default: from the first),
    /// from the history first, then live, each once and in order; the subscription ends after
    /// the last line once the build is final. `NOT_FOUND` when the build is not visible.
    async fn build_log<'a>(
        &self,
        ctx: &Context<'a>,
        build_id: ID,
        after_seq: Option<i32>,
    ) -> Result<impl Stream<Item = Result<BuildLogLine>> + use<'a>> {
        let build = ids::parse::<image_build::Entity>(&build_id, "build_id")?;
        let tails = ctx.data_unchecked::<LogTails>();
        let lines = tails.tail(request(ctx).scope.clone(), build, after_seq.unwrap_or(0));
        Ok(lines.map(|line| Ok(BuildLogLine::from(line?))))
    }
}

/// The event whose payload an execution of `buildStatusChanged` resolves: set as each change is
/// handed to the executor, so a transport that serves one execution to many subscribers knows
/// which event each result answers (and where each subscriber stands).
#[derive(Clone, Default)]
pub struct Handed(Position);

impl Handed {
    /// The id of the event handed over last (`None` before the first).
    pub fn get(&self) -> Option<i64> {
        self.0.get()
    }
}

/// Whether a subscription `operation` asks only for what happens from now on, the same for
/// every subscriber of one visibility whenever it joins: its one root field is
/// `buildStatusChanged`, with no directive and no `afterEventId` (a replay starts from the
/// history, and so does `buildLog`). One execution may then serve all of them.
pub fn from_now(operation: &OperationDefinition, variables: &Variables) -> bool {
    let [selection] = &operation.selection_set.node.items[..] else {
        return false;
    };
    let Selection::Field(field) = &selection.node else {
        return false;
    };
    let field = &field.node;
    if field.name.node != "buildStatusChanged" || !field.directives.is_empty() {
        return false;
    }
    let Some(after) = field.get_argument("afterEventId") else {
        return true;
    };
    // A variable stands for its value, or else its default (absent: null).
    let after = after.node.clone().into_const_with(|name| {
        let default = || {
            operation
                .variable_definitions
                .iter()
                .find(|definition| definition.node.name.node == name)
                .and_then(|definition| definition.node.default_value.as_ref())
                .map(|default| default.node.clone())
        };
        Ok::<_, ()>(
            variables
                .get(&name)
                .cloned()
                .or_else(default)
                .unwrap_or(Value::Null),
        )
    });
    after == Ok(Value::Null)
}

/// Answers `change` as a fresh request would, from what the hub read once for every subscriber:
/// the loaders forget the previous event and learn the build, its definition and — when `scope`
/// may read them — the users, tenants, endpoints and cluster the payload points at, so a payload
/// such as `build { createdBy definition { allowedTenants proxmoxEndpoint } }` runs no statement.
fn feed(loaders: &Loaders, scope: &Scope, change: &Change) {
    loaders.clear();
    loaders
        .builds()
        .feed_one(Id::of(&change.build), change.build.clone());
    loaders
        .definitions()
        .feed_one(Id::of(&change.definition), change.definition.clone());
    if let Ok(Some(actor)) = change.actor(scope) {
        loaders.users().feed_one(Id::of(actor), actor.clone());
    }
    let Some(related) = change.related(scope) else {
        return;
    };
    loaders
        .tenant_lists()
        .feed_one(change.tenants_owner(), related.allowed_tenants.clone());
    if let Some(user) = &related.created_by {
        loaders.users().feed_one(Id::of(user), user.clone());
    }
    loaders
        .endpoints()
        .feed_many(related.endpoints.iter().map(|e| (Id::of(e), e.clone())));
    if let Some(cluster) = &related.cluster {
        loaders
            .clusters()
            .feed_one(Id::of(cluster), cluster.clone());
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{Variables, parser::parse_query};
    use serde_json::json;

    use super::from_now;
    use crate::graphql::compat::variables::select_operation;

    fn shareable(query: &str, variables: serde_json::Value) -> bool {
        let document = parse_query(query).expect("parses");
        let operation = select_operation(&document, None).expect("one operation");
        from_now(operation, &Variables::from_json(variables))
    }

    #[test]
    fn only_build_status_changed_from_now_on_is_shareable() {
        let live = "subscription { buildStatusChanged { eventId } }";
        assert!(shareable(live, json!({})));
        let null = "subscription { buildStatusChanged(afterEventId: null) { eventId } }";
        assert!(shareable(null, json!({})));
        let replay = r#"subscription { buildStatusChanged(afterEventId: "0") { eventId } }"#;
        assert!(!shareable(replay, json!({})));
        let log = r#"subscription { buildLog(buildId: "1") { seq } }"#;
        assert!(!shareable(log, json!({})));
        let skip = "subscription($s: Boolean!) { buildStatusChanged @skip(if: $s) { eventId } }";
        assert!(!shareable(skip, json!({"s": false})));
        let spread =
            "subscription { ...F } fragment F on Subscription { buildStatusChanged { eventId } }";
        assert!(!shareable(spread, json!({})));
    }

    #[test]
    fn a_variable_counts_with_its_value_or_default() {
        let query =
            "subscription($after: ID) { buildStatusChanged(afterEventId: $after) { eventId } }";
        assert!(shareable(query, json!({})));
        assert!(shareable(query, json!({"after": null})));
        assert!(!shareable(query, json!({"after": "5"})));
        let default = r#"subscription($after: ID = "5") { buildStatusChanged(afterEventId: $after) { eventId } }"#;
        assert!(!shareable(default, json!({})));
        assert!(shareable(default, json!({"after": null})));
    }
}
