//! The axum extractor of the verified ASAP caller.

use asap_core::{Verified, VerifyError};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

/// The verified caller of a request that passed an [`AsapLayer`](crate::AsapLayer): the
/// [`Verified`] token the layer put into the request extensions.
///
/// Use `Option<Authenticated>` on routes where the layer allows anonymous requests. Extracting
/// `Authenticated` where no caller was verified (no layer, or an anonymous request) answers 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Verified);

impl std::ops::Deref for Authenticated {
    type Target = Verified;
    fn deref(&self) -> &Verified {
        &self.0
    }
}

/// The rejection when no verified caller is present: the same 401 the layer sends.
#[derive(Debug)]
pub struct NotAuthenticated;

impl IntoResponse for NotAuthenticated {
    fn into_response(self) -> Response {
        crate::default_response(&VerifyError::MissingToken).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = NotAuthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verified>()
            .cloned()
            .map(Authenticated)
            .ok_or(NotAuthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Verified>().cloned().map(Authenticated))
    }
}
