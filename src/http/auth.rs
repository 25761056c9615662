//! Credentials and the principal, for every door: the one place that reads the `Authorization`
//! header ([`Credentials`]), and the [`Principal`] extractor built on it. `auth` parses the
//! scheme (`Bearer <token>` or NetBox's `Token <token>`) and decides anonymous access; a failure is
//! rendered by the door (401 with `WWW-Authenticate`, see [`super::failure`]).
//!
//! A handler that must authenticate at a later point than its extractors run (GraphQL over GET,
//! where a browser gets GraphiQL without credentials) extracts [`Credentials`] and calls
//! [`Credentials::authenticate`]; the websocket keeps the upgrade's credentials for a
//! `connection_init` that carries none.

use std::convert::Infallible;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};

use super::failure::Failure;
use crate::{app::App, auth::Principal, error::Error};

/// What a request presents as credentials: the value of its `Authorization` header, if any.
#[derive(Clone, Debug, Default)]
pub struct Credentials(Option<String>);

impl Credentials {
    /// The credentials of a request's headers.
    pub fn of(headers: &HeaderMap) -> Self {
        // A value that is not visible ASCII is kept (lossily) rather than dropped, so that it is
        // refused as bad credentials instead of passing for none (anonymous access).
        Credentials(
            headers
                .get(header::AUTHORIZATION)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        )
    }

    /// Credentials given some other way (a websocket's `connection_init` payload).
    pub fn new(authorization: Option<String>) -> Self {
        Credentials(authorization)
    }

    /// The principal they stand for: a user, anonymous when there are none and anonymous reading
    /// is enabled, else `UNAUTHENTICATED`.
    pub async fn authenticate(&self, app: &App) -> Result<Principal, Error> {
        app.auth
            .authenticate(self.0.as_deref(), app.config.anonymous_read)
            .await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Credentials::of(&parts.headers))
    }
}

/// The authenticated principal of a request; refused (401) when its credentials are missing or
/// bad.
impl<S> FromRequestParts<S> for Principal
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = App::from_ref(state);
        Ok(Credentials::of(&parts.headers).authenticate(&app).await?)
    }
}
