//! The credentials of a websocket: `connection_init` authenticates them (and claims the
//! socket's place for its principal), and they are checked again whenever they may have changed.
//!
//! The connection keeps the credentials it was acknowledged with. When credentials change
//! anywhere (`auth::Authenticator::changes`, which ticks on every instance within the credentials
//! poll interval, at once on PostgreSQL) and when its token expires (a timer on the service's
//! clock), it authenticates them again, from memory: no longer valid, it closes with 4403 (the
//! legacy protocol gets its `connection_error` first); valid with another scope (role, tenants),
//! each running subscription starts again with the new principal from where the previous run
//! stood (`events::Position`), so events after the change are filtered — and their relations

use serde_json::{Map, Value as Json, json};
use tokio::sync::watch;

use super::{Connection, Flow, refused};
use crate::{
    auth::Principal,
    error::Error,
    graphql::compat::{
        prepare::prepare,
        render,
        ws::{Protocol, close},
    },
    http::{Credentials, request_id},
};

impl Connection {
    pub(super) async fn on_init(&mut self, payload: Option<&Json>) -> Flow {
        if self.init_received {
            return Flow::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".to_owned(),
            );
        }
        self.init_received = true;
        let empty = Map::new();
        let payload = match payload {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(payload)) => payload,
            Some(_) => {
                return self
                    .malformed("the `connection_init` payload must be an object")
                    .await;
            }
        };
        let credentials = match payload
            .get("authorization")
            .or_else(|| payload.get("Authorization"))
        {
            Some(Json::String(value)) => Credentials::new(Some(value.clone())),
            None | Some(Json::Null) => self.header_credentials.clone(),
            Some(_) => return self.forbidden(&Error::Unauthenticated).await,
        };
        // Watch before authenticating: a change applied in between is not missed.
        let changes = self.door.app.auth.changes();
        let authenticated = credentials.authenticate(&self.door.app).await;
        match authenticated {
            Ok(principal) => {
                let admission = &self.door.app.admission;
                if let Some(slot) = self.slot.as_mut()
                    && !admission.claim(slot, &principal, self.address)
                {
                    refused("sockets_per_principal");
                    return Flow::Close(
                        close::POLICY_VIOLATION,
                        "too many websockets open for these credentials".to_owned(),
                    );
                }
                if let Principal::User(_) = principal {
                    self.credentials = Some(credentials);
                    self.changes = Some(changes);
                }
                self.principal = Some(principal);
                match self.send_json(json!({"type": "connection_ack"})).await {
                    Flow::Continue if self.protocol == Protocol::Legacy => {
                        self.send_json(json!({"type": "ka"})).await
                    }
                    flow => flow,
                }
            }
            Err(Error::Internal(detail) | Error::DatabaseUnavailable(detail)) => {
                tracing::error!(request_id = %request_id::new(), %detail, "internal error");
                Flow::Close(close::INTERNAL, "internal server error".to_owned())
            }
            Err(err) => self.forbidden(&err).await,
        }
    }

    pub(super) async fn forbidden(&mut self, err: &Error) -> Flow {
        if self.protocol == Protocol::Legacy {
            let message =
                json!({"type": "connection_error", "payload": {"message": err.message()}});
            if let Flow::Drop = self.send_json(message).await {
                return Flow::Drop;
            }
        }
        Flow::Close(close::FORBIDDEN, "Forbidden".to_owned())
    }

    /// Whether the credentials changed since the connection last checked them.
    pub(super) fn credentials_changed(&self) -> bool {
        self.changes
            .as_ref()
            .is_some_and(|changes| changes.has_changed().unwrap_or(false))
    }

    /// Authenticates the connection's credentials again (they changed somewhere, or the token
    /// expired): refused, the socket closes with 4403; with another scope, the subscriptions
    /// start again under it. When the database cannot answer, the socket keeps what it has and
    /// is checked at the next change.
    pub(super) async fn recheck(&mut self) -> Flow {
        if let Some(changes) = self.changes.as_mut() {
            changes.borrow_and_update();
        }
        let Some(credentials) = self.credentials.clone() else {
            return Flow::Continue;
        };
        match credentials.authenticate(&self.door.app).await {
            Ok(principal) => {
                let rescoped = self
                    .principal
                    .as_ref()
                    .is_none_or(|current| current.scope() != principal.scope());
                self.principal = Some(principal);
                if rescoped {
                    return self.restart_subscriptions().await;
                }
                Flow::Continue
            }
            Err(Error::Unauthenticated) => self.forbidden(&Error::Unauthenticated).await,
            Err(_) => {
                tracing::warn!("cannot check a websocket's credentials again; keeping them");
                Flow::Continue
            }
        }
    }

    /// Starts every running subscription again with the current principal (see [`Self::restart`]).
    pub(super) async fn restart_subscriptions(&mut self) -> Flow {
        let running: Vec<String> = self
            .operations
            .iter()
            .filter(|(_, operation)| operation.resume.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in running {
            let flow = self.restart(&id).await;
            if !matches!(flow, Flow::Continue) {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Starts subscription `id` again with the current principal, from where it stood: no
    /// event is lost or repeated, and those after the change are read with the new scope.
    /// Refused now (e.g. its document is over the new principal's limits), it ends with an
    /// `error` message rather than going on with the old scope.
    pub(super) async fn restart(&mut self, id: &str) -> Flow {
        let Some(principal) = self.principal.clone() else {
            return Flow::Continue;
        };
        let Some(resume) = self.operations.get(id).and_then(|op| op.resume.as_ref()) else {
            return Flow::Continue;
        };
        match prepare(&self.door, principal.clone(), resume.params.clone()) {
            Ok(prepared) => {
                let results = self.start(&principal, prepared, &resume.position);
                self.results.insert(id.to_owned(), results);
                Flow::Continue
            }
            Err(refusal) => {
                self.results.remove(id);
                self.operations.remove(id);
                let error = render::error(&refusal.message, refusal.code);
                self.send_errors(id, vec![error]).await
            }
        }
    }
}

/// Waits for the next change of credentials on `changes`, a clone of the connection's watch
/// (false: there will be none again).
pub(super) async fn next_change(mut changes: watch::Receiver<i64>) -> bool {
    changes.changed().await.is_ok()
}
