//! The operations a websocket runs: `subscribe` (or `start`) prepared and executed under the
//! socket's and the principal's rate limits, `complete` (or `stop`), and each result sent in the
//! protocol's shape — an error ending the operation, a subscription's events as `next` (`data`).

use async_graphql::{Response, parser::types::OperationType};
use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use serde_json::{Map, Value as Json, json};

use super::{Connection, Flow, refused};
use crate::{
    admission::{role_label, take},
    auth::Principal,
    events::Position,
    graphql::{
        compat::{
            params::Params,
            prepare::{Prepared, prepare},
            render,
            ws::{Protocol, close},
        },
        error::codes,
    },
    http::{codes as edge_codes, request_id},
    telemetry::names,
};

/// The stream of one operation; `None` marks its end.
pub(super) type Results = BoxStream<'static, Option<Response>>;

pub(super) struct Operation {
    pub(super) subscription: bool,
    pub(super) responded: bool,
    /// How to start a subscription again after its principal's scope changed.
    pub(super) resume: Option<Resume>,
}

/// A subscription's parameters and where it stands.
pub(super) struct Resume {
    pub(super) params: Params,
    pub(super) position: Position,
}

impl Connection {
    pub(super) async fn on_subscribe(&mut self, message: &Map<String, Json>) -> Flow {
        let Some(id) = message
            .get("id")
            .and_then(Json::as_str)
            .filter(|id| !id.is_empty())
        else {
            return self
                .malformed("the operation needs a non-empty string `id`")
                .await;
        };
        let id = id.to_owned();
        let Some(Json::Object(payload)) = message.get("payload") else {
            return self
                .malformed("the operation needs a `payload` object")
                .await;
        };
        let params = match Params::from_json(payload.clone()) {
            Ok(params) => params,
            Err(reason) => return self.malformed(&reason).await,
        };
        let Some(principal) = self.principal.clone() else {
            return Flow::Close(close::UNAUTHORIZED, "Unauthorized".to_owned());
        };
        if self.operations.contains_key(&id) {
            return Flow::Close(
                close::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            );
        }
        if let Some(message) = self.rate_limited(&principal) {
            let error = render::error(&message, edge_codes::RATE_LIMITED);
            return self.send_errors(&id, vec![error]).await;
        }
        let max = self.door.app.config.limits.max_subscriptions;
        if self.operations.len() >= max {
            let message =
                format!("this socket already runs {max} operations, the most allowed at once");
            let error = render::error(&message, codes::TOO_MANY_SUBSCRIPTIONS);
            return self.send_errors(&id, vec![error]).await;
        }
        let prepared = match prepare(&self.door, principal, params.clone()) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                let error = render::error(&refusal.message, refusal.code);
                return self.send_errors(&id, vec![error]).await;
            }
        };
        let subscription = prepared.operation == Some(OperationType::Subscription);
        let position = Position::default();
        self.results
            .insert(id.clone(), execute(prepared, position.clone()));
        self.operations.insert(
            id,
            Operation {
                subscription,
                responded: false,
                resume: subscription.then_some(Resume { params, position }),
            },
        );
        Flow::Continue
    }

    /// Why a new operation may not start now: the socket started too many this second, or the
    /// principal's rate limit is spent.
    pub(super) fn rate_limited(&mut self, principal: &Principal) -> Option<String> {
        let now = self.door.app.clock.now();
        let (bucket, limit) = &mut self.started;
        let socket = take(bucket, limit, now);
        if !socket.allowed {
            refused("operation_rate");
            return Some(format!(
                "this socket starts at most {} operations per second; retry after {} s",
                socket.quota, socket.retry_after
            ));
        }
        let verdict = self.door.app.admission.rate(principal, self.address)?;
        (!verdict.allowed).then(|| {
            metrics::counter!(names::RATE_LIMITED, "door" => "websocket", "role" => role_label(principal))
                .increment(1);
            format!(
                "rate limit exceeded ({} operations, refilled over {} s); retry after {} s",
                verdict.quota, verdict.window, verdict.retry_after
            )
        })
    }

    pub(super) async fn on_complete(&mut self, message: &Map<String, Json>) -> Flow {
        let Some(id) = message.get("id").and_then(Json::as_str) else {
            return self.malformed("`complete` needs a string `id`").await;
        };
        // Unknown ids (operations that already ended) are ignored, as the protocol allows.
        if self.operations.remove(id).is_none() {
            return Flow::Continue;
        }
        self.results.remove(id);
        if self.protocol == Protocol::Legacy {
            return self.send_json(json!({"type": "complete", "id": id})).await;
        }
        Flow::Continue
    }

    pub(super) async fn on_result(&mut self, id: String, result: Option<Response>) -> Flow {
        if self
            .changes
            .as_ref()
            .is_some_and(|changes| changes.has_changed().unwrap_or(false))
        {
            // Credentials changed before this result was delivered: apply that first. A
            // subscription started again under another scope replays the result if it may still
            // see it (its position has not passed it), so this one, read with the old scope, goes.
            let scope = self.principal.as_ref().map(Principal::scope);
            let flow = self.recheck().await;
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
            let rescoped = self.principal.as_ref().map(Principal::scope) != scope;
            if rescoped
                && self
                    .operations
                    .get(&id)
                    .is_some_and(|operation| operation.resume.is_some())
            {
                return Flow::Continue;
            }
        }
        let Some(mut response) = result else {
            self.results.remove(&id);
            if self.operations.remove(&id).is_none() {
                return Flow::Continue;
            }
            return self.send_json(json!({"type": "complete", "id": id})).await;
        };
        if !response.errors.is_empty() {
            let request_id = request_id::new();
            for err in &mut response.errors {
                render::sanitize(err, &request_id);
            }
        }
        let Some(operation) = self.operations.get_mut(&id) else {
            return Flow::Continue;
        };
        let first = !operation.responded;
        operation.responded = true;
        // A request error (nothing executed), or a subscription whose source stream could not be
        // created (its first result has no data), ends the operation with `error`. A field error
        // in a later event is a normal result with `errors`.
        let failed = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && (response.errors.iter().all(|e| e.path.is_empty())
                || (first && operation.subscription));
        if failed {
            self.results.remove(&id);
            self.operations.remove(&id);
            let errors = response
                .errors
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Json::Null))
                .collect();
            return self.send_errors(&id, errors).await;
        }
        let mut payload = Map::new();
        payload.insert(
            "data".to_owned(),
            serde_json::to_value(&response.data).unwrap_or(Json::Null),
        );
        if !response.errors.is_empty() {
            payload.insert(
                "errors".to_owned(),
                serde_json::to_value(&response.errors).unwrap_or(Json::Null),
            );
        }
        let kind = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        };
        self.send_json(json!({"type": kind, "id": id, "payload": payload}))
            .await
    }

    /// Ends operation `id` with `errors`: a list under graphql-transport-ws, the first error under
    /// the legacy protocol (its `payload: Error`).
    pub(super) async fn send_errors(&mut self, id: &str, mut errors: Vec<Json>) -> Flow {
        let payload = match self.protocol {
            Protocol::TransportWs => Json::Array(errors),
            Protocol::Legacy => errors.drain(..).next().unwrap_or(Json::Null),
        };
        self.send_json(json!({"type": "error", "id": id, "payload": payload}))
            .await
    }
}

/// The results of a prepared operation, then `None`; a subscription follows `position`.
pub(super) fn execute(prepared: Prepared, position: Position) -> Results {
    let stream = prepared
        .schema
        .execute_stream(prepared.request.data(position));
    prepared
        .tick
        .drive_stream(stream)
        .map(Some)
        .chain(stream::once(async { None }))
        .boxed()
}
