//! The operations a websocket runs: `subscribe` (or `start`) prepared and executed under the
//! socket's and the principal's rate limits, `complete` (or `stop`), and each result sent in the
//! protocol's shape — an error ending the operation, a subscription's events as `next` (`data`).

use async_graphql::parser::types::OperationType;
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
            ws::{
                Protocol, close,
                fanout::Key,
                results::{Delivery, Results, execute},
            },
        },
        error::codes,
    },
    http::codes as edge_codes,
    telemetry::names,
};

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
        let prepared = match prepare(&self.door, principal.clone(), params.clone()) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                let error = render::error(&refusal.message, refusal.code);
                return self.send_errors(&id, vec![error]).await;
            }
        };
        let subscription = prepared.operation == Some(OperationType::Subscription);
        let position = Position::default();
        let results = self.start(&principal, prepared, &position);
        self.results.insert(id.clone(), results);
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

    pub(super) async fn on_result(&mut self, id: String, delivery: Delivery) -> Flow {
        if self.credentials_changed() {
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
        let result = match delivery {
            Delivery::Result(result) => result,
            Delivery::End => {
                self.results.remove(&id);
                if self.operations.remove(&id).is_none() {
                    return Flow::Continue;
                }
                return self.send_json(json!({"type": "complete", "id": id})).await;
            }
            Delivery::Lost => {
                metrics::counter!(names::SHARED_LOST).increment(1);
                return self.restart(&id).await;
            }
        };
        let Some(operation) = self.operations.get_mut(&id) else {
            return Flow::Continue;
        };
        let first = !operation.responded;
        operation.responded = true;
        if result.fails(first, operation.subscription) {
            self.results.remove(&id);
            self.operations.remove(&id);
            let errors = result
                .errors
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Json::Null))
                .collect();
            return self.send_errors(&id, errors).await;
        }
        if let (Some(resume), Some(event)) = (&operation.resume, result.event) {
            resume.position.advance(event);
        }
        let kind = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        };
        self.send_text(result.message(kind, &id)).await
    }

    /// The results of `prepared` for a new run of an operation of `principal` standing at
    /// `position`: a share of the execution that serves every subscriber of the same visibility
    /// asking the same (`ws::fanout`) when the operation is a subscription from now on that has
    /// not started yet; else an execution of its own.
    pub(super) fn start(
        &self,
        principal: &Principal,
        prepared: Prepared,
        position: &Position,
    ) -> Results {
        if prepared.shareable && position.get().is_none() {
            let key = Key::new(principal, &prepared.request);
            return self.door.fanout.join(key, prepared, position);
        }
        execute(prepared, position.clone())
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
