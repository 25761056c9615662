//! Credentials and the principal, for every door: the one place that reads the `Authorization`
//! header ([`Credentials`]), and the [`Principal`] extractor built on it. `auth` parses the
//! scheme (`Bearer <token>` or NetBox's `Token <token>`) and decides anonymous access; a failure is
//! rendered by the door (401 with `WWW-Authenticate`, see [`super::failure`]).
//!
//! A handler that must authenticate at a later point than its extractors run (GraphQL over GET,
//! where a browser gets GraphiQL without credentials) extracts [`Credentials`] and calls
//! [`Credentials::principal`]; the websocket keeps the upgrade's credentials for a
//! `connection_init` that carries none, and authenticates them afresh
//! ([`Credentials::authenticate`]) at init and on every re-check.
//!
//! With rate limits on, the edge authenticates a request before its door
//! (`http::admission`) and leaves the principal in the request's extensions ([`Resolved`]); the
//! extractors take it from there, so a request is authenticated once.

use std::convert::Infallible;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};

use super::failure::Failure;
use crate::{app::App, auth::Principal, error::Error};

/// What a request presents as credentials: the value of its `Authorization` header, if any, and
/// the principal the edge already resolved from it ([`Resolved`]), if it did.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    authorization: Option<String>,
    resolved: Option<Principal>,
}

/// The principal the edge authenticated for a request (with rate limits on, before its door):
/// kept in the request's extensions so that the door does not authenticate it again.
#[derive(Clone, Debug)]
pub struct Resolved(pub Principal);

impl Credentials {
    /// The credentials of a request's headers.
    pub fn of(headers: &HeaderMap) -> Self {
        // A value that is not visible ASCII is kept (lossily) rather than dropped, so that it is
        // refused as bad credentials instead of passing for none (anonymous access).
        Credentials::new(
            headers
                .get(header::AUTHORIZATION)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        )
    }

    /// Credentials given some other way (a websocket's `connection_init` payload).
    pub fn new(authorization: Option<String>) -> Self {
        Credentials {
            authorization,
            resolved: None,
        }
    }

    /// The principal of the request they came with: the one the edge resolved, else
    /// [`Credentials::authenticate`].
    pub async fn principal(&self, app: &App) -> Result<Principal, Error> {
        match &self.resolved {
            Some(principal) => Ok(principal.clone()),
            None => self.authenticate(app).await,
        }
    }

    /// The principal they stand for now: a user, anonymous when there are none and anonymous
    /// reading is enabled, else `UNAUTHENTICATED`. Always asks the authenticator (a websocket
    /// re-checks its credentials this way).
    pub async fn authenticate(&self, app: &App) -> Result<Principal, Error> {
        app.auth
            .authenticate(self.authorization.as_deref(), app.config.anonymous_read)
            .await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Credentials {
            resolved: parts
                .extensions
                .get::<Resolved>()
                .map(|resolved| resolved.0.clone()),
            ..Credentials::of(&parts.headers)
        })
    }
}

/// The authenticated principal of a request (the edge's, when it resolved one); refused (401)
/// when its credentials are missing or bad.
impl<S> FromRequestParts<S> for Principal
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = App::from_ref(state);
        let Ok(credentials) = Credentials::from_request_parts(parts, state).await;
        Ok(credentials.principal(&app).await?)
    }
}
