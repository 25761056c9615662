//! What the stream of a websocket operation yields: each result made safe to send and rendered
//! once ([`Rendered`]), however many subscribers it goes to, then the end — or, for a subscriber
//! of a shared execution ([`super::fanout`]) that lost its place, the word to go on alone.

use std::sync::Arc;

use async_graphql::{Response, ServerError, Value};
use futures_util::{
    StreamExt,
    stream::{self, BoxStream},
};
use serde_json::{Map, Value as Json};

use crate::{
    events::Position,
    graphql::{
        compat::{prepare::Prepared, render},
        subscriptions::Handed,
    },
    http::request_id,
};

/// The stream of one operation.
pub(super) type Results = BoxStream<'static, Delivery>;

/// One item of an operation's stream.
pub(super) enum Delivery {
    /// A result.
    Result(Arc<Rendered>),
    /// The operation is over.
    End,
    /// The shared execution this subscriber followed went on without it (it fell further behind
    /// than the buffer holds, or the execution ended before it got anything): it must go on
    /// alone, from where it stands.
    Lost,
}

/// A result, rendered once for every connection it is sent to.
pub(super) struct Rendered {
    /// `{"data": …, "errors": …}`: the payload of `next` (`data` under the legacy protocol).
    pub(super) payload: String,
    /// Its errors, internal ones replaced by a request id; what an `error` message carries when
    /// the result ends the operation.
    pub(super) errors: Vec<ServerError>,
    /// Whether its `data` is null.
    pub(super) no_data: bool,
    /// The id of the build event it answers (subscriptions of `buildStatusChanged`).
    pub(super) event: Option<i64>,
}

impl Rendered {
    /// Renders `response`, the answer to event `event`.
    pub(super) fn new(mut response: Response, event: Option<i64>) -> Rendered {
        if !response.errors.is_empty() {
            let request_id = request_id::new();
            for err in &mut response.errors {
                render::sanitize(err, &request_id);
            }
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
        Rendered {
            payload: Json::Object(payload).to_string(),
            no_data: response.data == Value::Null,
            errors: response.errors,
            event,
        }
    }

    /// Whether the result ends its operation with an `error` message: a request error (nothing
    /// executed), or — as the `first` result of a `subscription` — a source stream that could
    /// not be created (no data). A field error in a later event is a normal result.
    pub(super) fn fails(&self, first: bool, subscription: bool) -> bool {
        self.no_data
            && !self.errors.is_empty()
            && (self.errors.iter().all(|e| e.path.is_empty()) || (first && subscription))
    }

    /// The message of protocol `kind` (`next` or `data`) carrying this result for operation
    /// `id`, written around the payload rendered once.
    pub(super) fn message(&self, kind: &str, id: &str) -> String {
        // Written once per subscriber and event: pieces pushed into one allocation (no
        // formatting machinery), the id quoted as it is unless JSON needs it escaped.
        let mut message = String::with_capacity(self.payload.len() + id.len() + kind.len() + 32);
        message.push_str(r#"{"id":"#);
        if id.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            message.push('"');
            message.push_str(id);
            message.push('"');
        } else {
            message.push_str(&Json::from(id).to_string());
        }
        message.push_str(r#","payload":"#);
        message.push_str(&self.payload);
        message.push_str(r#","type":""#);
        message.push_str(kind);
        message.push_str(r#""}"#);
        message
    }
}

/// The results of `prepared` executed for one operation alone, then the end; a subscription
/// follows `position`.
pub(super) fn execute(prepared: Prepared, position: Position) -> Results {
    responses(prepared, position)
        .map(Delivery::Result)
        .chain(stream::once(async { Delivery::End }))
        .boxed()
}

/// The results of `prepared`, each rendered with the event it answers; a subscription follows
/// `position`.
pub(super) fn responses(
    prepared: Prepared,
    position: Position,
) -> BoxStream<'static, Arc<Rendered>> {
    let handed = Handed::default();
    let request = prepared.request.data(position).data(handed.clone());
    let stream = prepared.schema.execute_stream(request);
    prepared
        .tick
        .drive_stream(stream)
        .map(move |response| Arc::new(Rendered::new(response, handed.get())))
        .boxed()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use super::Rendered;

    #[test]
    fn a_message_wraps_the_payload_with_its_id_escaped_as_json_needs() {
        let rendered = Rendered {
            payload: r#"{"data":{"n":1}}"#.to_owned(),
            errors: Vec::new(),
            no_data: false,
            event: None,
        };
        for id in [
            "1",
            "an id",
            "é ✓",
            "quote\"back\\slash",
            "line\nbreak\u{1}",
        ] {
            let message: Json = serde_json::from_str(&rendered.message("next", id)).expect("JSON");
            assert_eq!(
                message,
                json!({"id": id, "payload": {"data": {"n": 1}}, "type": "next"})
            );
        }
    }
}
